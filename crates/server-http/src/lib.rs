//! The HTTP adapter: every live stream `{app}/{stream}` is playable as
//! HTTP-FLV (`/{app}/{stream}.flv`, also over WebSocket), HLS
//! (`/{app}/{stream}.m3u8` and its segments), low-latency HLS
//! (`/{app}/{stream}/llhls.m3u8`, fMP4 parts and segments) and live
//! fragmented MP4 (`/{app}/{stream}.mp4`, also over WebSocket), on one
//! listener that also carries the app's extra routes (API, pages).
//!
//! Like the RTMP adapter, viewers never get per-viewer muxing: one muxer per
//! stream and format produces the bytes once, and each response streams
//! those same `Bytes`. FLV and fMP4 are [`weir_hub::Egress`] muxers (their
//! viewers are channel receivers with the hub's join and lag rules); HLS is
//! a per-stream segmenter task that runs while anyone fetches the playlist
//! (see [`HlsSettings`]).

#![warn(missing_docs, unreachable_pub)]

mod access;
mod codecs;
mod cors;
mod error;
mod first_request;
mod flv;
mod flv_socket;
mod fmp4;
mod headers;
mod hls;
mod listener;
mod path;
mod phase;
mod range;
mod viewer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use weir_hub::{ChannelConfig, Coalesce, Egress, Hub};

pub use first_request::{classify as classify_first_request, FlvRequest};
pub use flv::{FlvEntry, FlvMuxer};
pub use fmp4::{Mp4Entry, Mp4Muxer};
pub use hls::{Renditions, RenditionsOf};
pub use path::{only_track, parse as parse_media_path, Asked as MediaPath};

/// Response header of `.mp4` responses naming the MIME type and codecs of
/// the stream (`video/mp4; codecs="avc1.64001f,mp4a.40.2"`), which a Media
/// Source Extensions page needs for `addSourceBuffer` before it can append
/// a single byte.
pub const CODECS_HEADER: &str = "x-codecs";

/// HTTP adapter settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `Access-Control-Allow-Origin` of media responses (and of the extra
    /// routes given to [`HttpServer::new`]); `None` sends no CORS headers.
    pub allow_origin: Option<String>,
    /// `Access-Control-Allow-Origin` of the operator routes
    /// ([`HttpServer::with_operator_routes`]: API, metrics, console);
    /// `None` (the default) sends no CORS headers, so only pages of the
    /// server's own origin can read them.
    pub api_allow_origin: Option<String>,
    /// How long a viewer of a stream that is not live waits for a
    /// publisher before getting 404. Zero answers 404 at once.
    pub play_wait: Duration,
    /// A viewer that keeps skipping frames (it cannot keep up) for this
    /// long is disconnected.
    pub max_lag: Duration,
    /// Queue and GOP cache settings of the per-stream muxer channels.
    pub channel: ChannelConfig,
    /// Most simultaneous HTTP connections; further clients wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// Most simultaneous connections from one IP address (0 = no limit);
    /// more are answered 429 and closed.
    pub max_connections_per_ip: usize,
    /// Largest message a viewer may send on a media WebSocket (WS-FLV,
    /// WS-fMP4), in bytes; a larger one closes the connection.
    pub max_ws_message_bytes: usize,
    /// Largest request head (request line and headers) accepted, in bytes;
    /// a larger one is refused with 431. At least 8192.
    pub max_header_bytes: usize,
    /// A request body must arrive in full within this of its head; later,
    /// the request fails and the connection closes.
    pub body_timeout: Duration,
    /// Most connections from one address that are sending a request (more
    /// are answered 429), and most that are idle between requests (more
    /// are closed); connections serving a response never count. 0 = no
    /// limit.
    pub max_idle_per_ip: usize,
    /// HLS settings.
    pub hls: HlsSettings,
    /// Adaptive write coalescing of HTTP-FLV and WS-FLV viewers, the rule
    /// RTMP players follow (see [`weir_hub::Coalesce`]).
    pub coalesce: Coalesce,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_origin: Some("*".into()),
            api_allow_origin: None,
            play_wait: Duration::ZERO,
            max_lag: Duration::from_secs(10),
            channel: ChannelConfig::default(),
            max_connections: 10_000,
            max_connections_per_ip: 0,
            max_ws_message_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            body_timeout: Duration::from_secs(10),
            max_idle_per_ip: 64,
            hls: HlsSettings::default(),
            coalesce: Coalesce::default(),
        }
    }
}

/// How HLS runs.
///
/// A stream's segmenter starts with the first playlist request (or when
/// the stream goes live, with `always_on`), and stops once nobody has
/// fetched its playlist or segments for `idle_timeout`: muxing TS for
/// nobody would cost CPU for every stream published.
#[derive(Debug, Clone)]
pub struct HlsSettings {
    /// Target segment length: segments are cut at the first keyframe after
    /// this much media time (TS and LL-HLS alike).
    pub fragment: Duration,
    /// LL-HLS part length (`PART-TARGET`): parts are fMP4 fragments of at
    /// most this much media time.
    pub part: Duration,
    /// Media time the playlist covers.
    pub window: Duration,
    /// A segmenter nobody has asked anything for this long stops.
    pub idle_timeout: Duration,
    /// Segment every live stream from the moment it is published, so the
    /// first viewer gets a full playlist at once (and the disk mirror is
    /// always up to date), at the price of muxing streams nobody watches.
    pub always_on: bool,
    /// Also write the playlist and segments below this directory, as
    /// `{dir}/{app}/{stream}/`, deleting segments that leave memory: for a
    /// CDN or a plain web server to serve. `None` keeps them in memory only.
    pub disk_dir: Option<PathBuf>,
    /// Counts the segments produced, for metrics.
    pub produced: HlsSegments,
    /// The renditions of a stream, for its multivariant playlists
    /// (`master.m3u8`, `llhls-master.m3u8`); `None` lists the stream alone.
    pub renditions: Option<Renditions>,
}

impl Default for HlsSettings {
    fn default() -> Self {
        HlsSettings {
            fragment: Duration::from_secs(2),
            part: Duration::from_millis(200),
            window: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            always_on: false,
            disk_dir: None,
            produced: HlsSegments::default(),
            renditions: None,
        }
    }
}

/// State every handler shares.
pub(crate) struct Shared {
    pub(crate) hub: Hub,
    pub(crate) flv: Egress<FlvMuxer>,
    pub(crate) mp4: Egress<Mp4Muxer>,
    pub(crate) hls: hls::Hls,
    pub(crate) config: Config,
    /// CORS from `config.allow_origin`, for the media routes' layer and
    /// for HTTP-FLV served on the socket alike.
    pub(crate) cors: Option<cors::Cors>,
    /// CORS of the operator routes, from `config.api_allow_origin`.
    pub(crate) api_cors: Option<cors::Cors>,
    pub(crate) shutdown: CancellationToken,
}

/// The HTTP server.
pub struct HttpServer {
    shared: Arc<Shared>,
    extra: Router,
    operator: Router,
}

impl HttpServer {
    /// Builds the server. `extra` is merged into the router with the
    /// media's CORS: the app adds routes served by other crates for
    /// viewers (chat) without this crate knowing them.
    pub fn new(hub: Hub, config: Config, shutdown: CancellationToken, extra: Router) -> Self {
        let flv = Egress::with_coalesce(
            hub.clone(),
            config.channel.clone(),
            config.coalesce,
            |_key| FlvMuxer::new(),
        );
        let mp4 = Egress::new(hub.clone(), config.channel.clone(), |_key| Mp4Muxer::new());
        let hls = hls::Hls::new(hub.clone(), config.hls.clone(), shutdown.clone());
        HttpServer {
            shared: Arc::new(Shared {
                hub,
                flv,
                mp4,
                hls,
                cors: cors::Cors::new(config.allow_origin.as_deref()),
                api_cors: cors::Cors::new(config.api_allow_origin.as_deref()),
                config,
                shutdown,
            }),
            extra,
            operator: Router::new(),
        }
    }

    /// Adds routes for operators (API, metrics, console): merged into the
    /// router with their own CORS (`api_allow_origin`), so that a page a
    /// viewer opens on another origin can play media from this server but
    /// not read who is watching.
    pub fn with_operator_routes(mut self, operator: Router) -> Self {
        self.operator = operator;
        self
    }

    /// The router: media and extra routes with the media's CORS, operator
    /// routes with theirs, and the headers every response carries.
    pub fn router(&self) -> Router {
        let media = Router::new()
            .route("/{app}/{file}", get(path::media))
            .route("/{app}/{stream}/{file}", get(hls::ll::media))
            .with_state(self.shared.clone())
            .merge(self.extra.clone());
        let media = match &self.shared.cors {
            None => media,
            Some(cors) => media.layer(cors.layer()),
        };
        let operator = match &self.shared.api_cors {
            None => self.operator.clone(),
            Some(cors) => self.operator.clone().layer(cors.operator_layer()),
        };
        media
            .merge(operator)
            .layer(axum::middleware::map_response(headers::common))
    }

    /// HLS segmenters running now.
    pub fn hls_active(&self) -> usize {
        self.shared.hls.active()
    }

    /// Serves until shutdown; HTTPS (and WSS) when `tls` is given. The
    /// acceptor should offer ALPN `http/1.1` only: this listener speaks
    /// HTTP/1.1.
    pub async fn run(self, listener: TcpListener, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
        if self.shared.config.hls.always_on {
            tokio::spawn(hls::always_on(self.shared.clone()));
        }
        let limits = listener::Limits {
            max_connections: self.shared.config.max_connections,
            max_connections_per_ip: self.shared.config.max_connections_per_ip,
            max_header_bytes: self.shared.config.max_header_bytes,
            body_timeout: self.shared.config.body_timeout,
            max_idle_per_ip: self.shared.config.max_idle_per_ip,
            clients: self.shared.hub.clients().clone(),
        };
        listener::serve(listener, self.router(), limits, tls, self.shared.clone()).await
    }
}

/// Count of HLS segments produced since start, by every stream's
/// segmenter. Shared: the app makes one, puts a clone in
/// [`HlsSettings::produced`] and gives another to whatever reports metrics,
/// which is built before the server.
#[derive(Debug, Clone, Default)]
pub struct HlsSegments(Arc<AtomicU64>);

impl HlsSegments {
    /// Segments finished so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Peer address of a request, as the listener records it.
pub(crate) type Peer = axum::extract::ConnectInfo<SocketAddr>;
