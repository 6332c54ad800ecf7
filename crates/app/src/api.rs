//! Wiring of the stats API, console and pages (`weir-api`) and of the chat
//! (`weir-server-chat`) into the HTTP listener: what only the app knows
//! (its version, which playback formats its adapters serve, the chat's
//! counters) goes in through [`weir_api::AppHooks`], and one
//! [`weir_api::ApiAuth`] guards both, so a console login or the API token
//! works for chat moderation as for every other mutating call.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use weir_api::{ApiAuth, ApiContext, AppHooks, AuthConfig, ChatStats, Playback};
use weir_hub::Hub;
use weir_media::StreamKey;
use weir_server_chat::ChatMetrics;
use weir_server_http::HlsSegments;

use crate::config::Config;

/// The app's answers to the API.
struct Hooks {
    hls_segments: HlsSegments,
    chat: Arc<ChatMetrics>,
}

impl AppHooks for Hooks {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// What `weir-server-http` serves for every live stream: live fMP4 (for
    /// MSE, lowest latency), HLS, HTTP-FLV.
    fn playback(&self, key: &StreamKey) -> Vec<Playback> {
        [("fmp4", "mp4"), ("hls", "m3u8"), ("flv", "flv")]
            .into_iter()
            .map(|(format, ext)| Playback {
                format,
                url: format!("/{}/{}.{ext}", key.app(), key.stream()),
            })
            .collect()
    }

    fn hls_segments(&self) -> Option<u64> {
        Some(self.hls_segments.get())
    }

    fn chat(&self) -> Option<ChatStats> {
        let m = self.chat.snapshot();
        Some(ChatStats {
            rooms: m.rooms,
            members: m.members,
            connections: m.connections,
            messages_in: m.messages_in,
            messages_out: m.messages_out,
            rate_limited: m.rate_limited,
            refused: m.refused,
            dropped: m.dropped,
            timeouts: m.timeouts,
        })
    }
}

/// The routes the app adds to the HTTP server, by audience: each gets
/// its own CORS there.
pub struct Routes {
    /// The API, `/stat`, `/metrics`, the console and pages.
    pub operator: axum::Router,
    /// The chat (WebSocket, endpoint, scripts): for viewers' pages on any
    /// origin the media is allowed to.
    pub viewer: axum::Router,
}

/// The API's and the chat's routes. `hls_segments` is the HTTP server's
/// count of HLS segments, for `/metrics`; `shutdown` ends the chat's
/// connections.
pub fn routes(
    cfg: &Config,
    hub: Hub,
    started: Instant,
    hls_segments: HlsSegments,
    shutdown: CancellationToken,
) -> anyhow::Result<Routes> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let auth = ApiAuth::new(AuthConfig {
        console_user: cfg.api.console_user.clone(),
        console_password_hash: non_empty(&cfg.api.console_password_hash),
        api_token: non_empty(&cfg.api.api_token),
    });
    let chat = crate::chat::server(cfg, hub.clone(), shutdown, &auth)?;
    let api = weir_api::router(ApiContext {
        hub,
        auth,
        started,
        app: Arc::new(Hooks {
            hls_segments,
            chat: chat.metrics(),
        }),
    });
    Ok(Routes {
        operator: api,
        viewer: chat.router(),
    })
}
