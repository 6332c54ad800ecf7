//! The HTTP adapter: every live stream `{app}/{stream}` is playable as
//! HTTP-FLV (`/{app}/{stream}.flv`, also over WebSocket), and the listener
//! leaves room for HLS, fMP4, the API and pages.
//!
//! Like the RTMP adapter, viewers never get per-viewer muxing: one muxer per
//! stream and format (a [`weir_hub::Egress`]) produces the bytes once, and
//! each response streams those same `Bytes`.

#![warn(missing_docs, unreachable_pub)]

mod flv;
mod path;
mod viewer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Method};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use weir_hub::{ChannelConfig, Egress, Hub};

pub use flv::{FlvEntry, FlvMuxer};

/// HTTP adapter settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `Access-Control-Allow-Origin` value; `None` sends no CORS headers.
    pub allow_origin: Option<String>,
    /// How long a viewer of a stream that is not live waits for a
    /// publisher before getting 404. Zero answers 404 at once.
    pub play_wait: Duration,
    /// A viewer that keeps skipping frames (it cannot keep up) for this
    /// long is disconnected.
    pub max_lag: Duration,
    /// Queue and GOP cache settings of the per-stream muxer channels.
    pub channel: ChannelConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_origin: Some("*".into()),
            play_wait: Duration::ZERO,
            max_lag: Duration::from_secs(10),
            channel: ChannelConfig::default(),
        }
    }
}

/// State every handler shares.
pub(crate) struct Shared {
    pub(crate) hub: Hub,
    pub(crate) flv: Egress<FlvMuxer>,
    pub(crate) config: Config,
    pub(crate) shutdown: CancellationToken,
}

/// The HTTP server.
pub struct HttpServer {
    shared: Arc<Shared>,
    extra: Router,
}

impl HttpServer {
    /// Builds the server. `extra` is merged into the router: the app adds
    /// routes served by other crates (API, pages) without this crate
    /// knowing them.
    pub fn new(hub: Hub, config: Config, shutdown: CancellationToken, extra: Router) -> Self {
        let flv = Egress::new(hub.clone(), config.channel.clone(), |_key| FlvMuxer::new());
        HttpServer {
            shared: Arc::new(Shared {
                hub,
                flv,
                config,
                shutdown,
            }),
            extra,
        }
    }

    /// The router: media routes, the extra routes and CORS.
    pub fn router(&self) -> Router {
        let media = Router::new()
            .route("/{app}/{file}", get(path::media))
            .with_state(self.shared.clone());
        let router = self.extra.clone().merge(media);
        match &self.shared.config.allow_origin {
            None => router,
            Some(origin) => {
                let allow = if origin == "*" {
                    AllowOrigin::any()
                } else {
                    match HeaderValue::from_str(origin) {
                        Ok(v) => AllowOrigin::exact(v),
                        Err(_) => AllowOrigin::any(),
                    }
                };
                router.layer(
                    CorsLayer::new()
                        .allow_origin(allow)
                        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
                        .allow_headers(tower_http::cors::Any)
                        .max_age(Duration::from_secs(86400)),
                )
            }
        }
    }

    /// Serves until shutdown.
    pub async fn run(self, listener: TcpListener) -> std::io::Result<()> {
        let shutdown = self.shared.shutdown.clone();
        let app = self.router();
        // Media is latency-sensitive: never let Nagle hold back a tag.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    }
}
