//! CORS. Media has one setting (`allow_origin`) for both ways a response
//! leaves this listener: hyper's routes get a [`CorsLayer`], HTTP-FLV
//! served on the socket writes the same header lines itself. Both come
//! from [`Cors`], so a player on another origin sees the same answer on
//! either path (an origin that is not a valid header value is `*` on
//! both, not `*` on one and the raw text on the other). Operator routes
//! (API, metrics, console) have their own setting (`api_allow_origin`,
//! none by default): what a page may read about viewers is not what it may
//! play.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Response headers a page on another origin may read: players read
/// `Content-Range` (hls.js loads segments with ranges) and the codecs
/// header.
const EXPOSED: [HeaderName; 3] = [
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    HeaderName::from_static(crate::CODECS_HEADER),
];

/// The CORS answer of the listener.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    /// `Access-Control-Allow-Origin`: `*` or one origin.
    origin: HeaderValue,
}

impl Cors {
    /// CORS for `allow_origin`; `None` sends no CORS headers at all.
    pub(crate) fn new(allow_origin: Option<&str>) -> Option<Cors> {
        let origin = allow_origin?;
        // Only visible ASCII can be written back as text on the socket.
        let origin = HeaderValue::from_str(origin)
            .ok()
            .filter(|v| v.to_str().is_ok())
            .unwrap_or(HeaderValue::from_static("*"));
        Some(Cors { origin })
    }

    /// The layer of the media routes (one per route set, so the header is
    /// never sent twice): players only read.
    pub(crate) fn layer(&self) -> CorsLayer {
        self.layer_for([Method::GET, Method::HEAD, Method::OPTIONS])
    }

    /// The layer of the operator routes: a dashboard on the allowed origin
    /// also kicks and drops (`DELETE`, `POST`).
    pub(crate) fn operator_layer(&self) -> CorsLayer {
        self.layer_for([
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::POST,
            Method::DELETE,
        ])
    }

    fn layer_for<const N: usize>(&self, methods: [Method; N]) -> CorsLayer {
        let allow = if self.origin == "*" {
            AllowOrigin::any()
        } else {
            AllowOrigin::exact(self.origin.clone())
        };
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods(methods)
            .allow_headers(tower_http::cors::Any)
            .expose_headers(EXPOSED)
            .max_age(Duration::from_secs(86400))
    }

    /// The header lines the layer adds to a (non-preflight) response, for
    /// responses written on the socket; each line ends with CRLF.
    pub(crate) fn head_lines(&self) -> String {
        let join = |names: &mut dyn Iterator<Item = HeaderName>, sep: &str| {
            names
                .map(|n| n.as_str().to_owned())
                .collect::<Vec<_>>()
                .join(sep)
        };
        format!(
            "access-control-allow-origin: {}\r\naccess-control-expose-headers: {}\r\nvary: {}\r\n",
            self.origin.to_str().unwrap_or("*"),
            join(&mut EXPOSED.into_iter(), ","),
            join(&mut tower_http::cors::preflight_request_headers(), ", "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_origin_is_any_on_both_paths() {
        let cors = Cors::new(Some("bad\norigin")).unwrap();
        assert!(cors
            .head_lines()
            .starts_with("access-control-allow-origin: *\r\n"));
        assert!(Cors::new(None).is_none());
        let exact = Cors::new(Some("https://example.com")).unwrap();
        assert_eq!(
            exact.head_lines(),
            "access-control-allow-origin: https://example.com\r\n\
             access-control-expose-headers: content-length,content-range,x-codecs\r\n\
             vary: origin, access-control-request-method, access-control-request-headers\r\n"
        );
    }
}
