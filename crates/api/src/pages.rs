//! The pages: `/` (live streams), `/play/{app}/{stream}` (player) and
//! `/console` (operators), with their scripts and style under `/assets/`.
//!
//! Everything is embedded in the binary with `include_str!` and was
//! written for weir: no third-party script, no CDN, no build step, so the
//! pages work on a closed LAN. The HTML is static; scripts fill it from the
//! JSON API. A strict Content-Security-Policy allows only our own scripts
//! and styles, and media from this origin (`blob:` for MSE).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Scripts, style and media from this origin only; MSE plays `blob:` URLs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self' blob:; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// An embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/style.css"),
    },
    Asset {
        name: "common.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/common.js"),
    },
    Asset {
        name: "index.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/index.js"),
    },
    Asset {
        name: "play.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/play.js"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/console.js"),
    },
    Asset {
        name: "chart.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/chart.js"),
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
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}
