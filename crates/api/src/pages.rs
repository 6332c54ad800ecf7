//! The pages: `/` (live streams), `/play/{app}/{stream}` (player) and
//! `/console` (operators), with their scripts and style under `/assets/`.
//!
//! Everything is embedded in the binary with `include_str!`, so the pages
//! work on a closed LAN: no CDN, no build step. The pages and their
//! scripts were written for weir; the one third-party script is hls.js
//! (vendored in `assets/vendor/`, see its README), which the player loads
//! only to play HLS where the browser has no native HLS (Chromium, Firefox:
//! HLS there needs a player library over MSE). The HTML is static; scripts
//! fill it from the JSON API. A strict Content-Security-Policy allows only
//! our own scripts and styles, and media from this origin (`blob:` for MSE).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Scripts, style and media from this origin only; MSE plays `blob:` URLs.
/// hls.js runs its transmuxer in a worker it makes from its own code as a
/// `blob:` URL (only a script of this origin can make one): `worker-src`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self' blob:; connect-src 'self'; worker-src blob:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Our own files change with weir and are revalidated on every load.
const NO_CACHE: &str = "no-cache";
/// A vendored file's name carries its version: a new version is a new URL.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// hls.js (light build), vendored: see `assets/vendor/README.md`. Its
/// served name carries the version; `play.js` loads it by that name.
const HLS_JS: &str = "hls-1.7.4.light.min.js";

/// An embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        cache_control: NO_CACHE,
        body: include_str!("../assets/style.css"),
    },
    Asset {
        name: "common.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: NO_CACHE,
        body: include_str!("../assets/common.js"),
    },
    Asset {
        name: "index.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: NO_CACHE,
        body: include_str!("../assets/index.js"),
    },
    Asset {
        name: "play.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: NO_CACHE,
        body: include_str!("../assets/play.js"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: NO_CACHE,
        body: include_str!("../assets/console.js"),
    },
    Asset {
        name: "chart.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: NO_CACHE,
        body: include_str!("../assets/chart.js"),
    },
    Asset {
        name: HLS_JS,
        content_type: "text/javascript; charset=utf-8",
        cache_control: IMMUTABLE,
        body: include_str!("../assets/vendor/hls.light.min.js"),
    },
];

fn html(body: &'static str) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

/// `GET /`
pub(crate) async fn index() -> Response {
    html(include_str!("../assets/index.html"))
}

/// `GET /play/{app}/{stream}`: the script reads the key from the URL.
pub(crate) async fn play(Path(_key): Path<(String, String)>) -> Response {
    html(include_str!("../assets/play.html"))
}

/// `GET /console`
pub(crate) async fn console() -> Response {
    html(include_str!("../assets/console.html"))
}

/// `GET /assets/{file}`
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, a.cache_control),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The player asks for hls.js by the name it is served under, and that
    /// name's version is the vendored file's.
    #[test]
    fn hls_js_is_served_under_its_version() {
        let play = include_str!("../assets/play.js");
        assert!(play.contains(&format!("\"/assets/{HLS_JS}\"")), "{HLS_JS}");
        let version = HLS_JS
            .strip_prefix("hls-")
            .and_then(|v| v.strip_suffix(".light.min.js"))
            .unwrap();
        let readme = include_str!("../assets/vendor/README.md");
        assert!(readme.contains(&format!("hls.js {version}")), "{version}");
        let body = include_str!("../assets/vendor/hls.light.min.js");
        assert!(body.contains(&format!("\"{version}\"")), "{version}");
        let asset = ASSETS.iter().find(|a| a.name == HLS_JS).unwrap();
        assert_eq!(asset.cache_control, IMMUTABLE);
    }
}
