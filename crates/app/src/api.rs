//! Wiring of the stats API, console and pages (`weir-api`) into the HTTP
//! listener: what only the app knows (its version, which playback formats
//! its adapters serve) goes in through [`weir_api::AppHooks`].

use std::sync::Arc;
use std::time::Instant;

use weir_api::{ApiContext, AppHooks, AuthConfig, Playback};
use weir_hub::Hub;
use weir_media::StreamKey;
use weir_server_http::HlsSegments;

use crate::config::Config;

/// The app's answers to the API.
struct Hooks {
    hls_segments: HlsSegments,
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
}

/// The API's routes, to pass to the HTTP server as its extra router.
/// `hls_segments` is the HTTP server's count of HLS segments, for
/// `/metrics`.
pub fn router(cfg: &Config, hub: Hub, started: Instant, hls_segments: HlsSegments) -> axum::Router {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    weir_api::router(ApiContext {
        hub,
        auth: AuthConfig {
            console_user: cfg.api.console_user.clone(),
            console_password_hash: non_empty(&cfg.api.console_password_hash),
            api_token: non_empty(&cfg.api.api_token),
        },
        started,
        app: Arc::new(Hooks { hls_segments }),
    })
}
