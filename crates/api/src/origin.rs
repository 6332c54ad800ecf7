//! Where a browser request comes from, for the CSRF check.
//!
//! A cookie is sent with every request to this host, whichever page made
//! it; `SameSite=Strict` only stops other *sites*, not another port of
//! this host or a sibling subdomain. Browsers say where a request comes
//! from in `Sec-Fetch-Site` (all current ones) and, on anything but a
//! plain `GET`/`HEAD`, in `Origin`. A call that relies on the cookie must
//! have one of them vouch for this origin; a request with neither (a
//! script, `curl`, a very old browser's `<img>`) gets no cookie powers.

use axum::http::{header, HeaderMap};

/// What the browser says about a request's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// A page of this origin, or the user themself (typed URL, bookmark).
    Same,
    /// A page of another origin, or an opaque one (`Origin: null`).
    Other,
    /// No browser context headers: not a browser, or an old one.
    Unknown,
}

/// Reads `Sec-Fetch-Site`, else compares `Origin` with `Host`.
pub(crate) fn site(headers: &HeaderMap) -> Site {
    if let Some(fetch) = headers.get("sec-fetch-site") {
        return match fetch.as_bytes() {
            b"same-origin" | b"none" => Site::Same,
            _ => Site::Other,
        };
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Site::Unknown;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    // Compared by host and port: behind a TLS-terminating proxy the
    // scheme the browser used differs from ours, the authority does not.
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match (authority, host) {
        (Some(a), Some(h)) if a.eq_ignore_ascii_case(h.trim()) => Site::Same,
        _ => Site::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn fetch_metadata_decides_first() {
        assert_eq!(
            site(&headers(&[("sec-fetch-site", "same-origin")])),
            Site::Same
        );
        assert_eq!(site(&headers(&[("sec-fetch-site", "none")])), Site::Same);
        assert_eq!(
            site(&headers(&[("sec-fetch-site", "same-site")])),
            Site::Other
        );
        assert_eq!(
            site(&headers(&[("sec-fetch-site", "cross-site")])),
            Site::Other
        );
        assert_eq!(
            site(&headers(&[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://h:8080"),
                ("host", "h:8080")
            ])),
            Site::Other
        );
    }

    #[test]
    fn origin_must_name_this_host_and_port() {
        let h = |o| headers(&[("origin", o), ("host", "tv.example:8080")]);
        assert_eq!(site(&h("http://tv.example:8080")), Site::Same);
        assert_eq!(site(&h("https://TV.example:8080")), Site::Same);
        assert_eq!(site(&h("http://tv.example:9090")), Site::Other);
        assert_eq!(site(&h("http://chat.tv.example:8080")), Site::Other);
        assert_eq!(site(&h("null")), Site::Other);
        assert_eq!(site(&headers(&[("origin", "http://x")])), Site::Other);
        assert_eq!(site(&HeaderMap::new()), Site::Unknown);
    }
}
