//! Static in-memory responses (playlists, segments) with HEAD and single
//! byte ranges, which some players use to fetch segments in pieces.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// A byte range resolved against a body length: `start..end`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// No (usable) `Range` header: the whole body.
    Full,
    /// One satisfiable range.
    Part(usize, usize),
    /// The range lies outside the body.
    Unsatisfiable,
}

/// Resolves a `Range` header value for a body of `len` bytes. Several
/// ranges, other units and malformed values are ignored (RFC 9110 lets a
/// server answer them with the whole body).
pub(crate) fn resolve(value: Option<&[u8]>, len: usize) -> Ranged {
    let Some(spec) = value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ranged::Full;
    };
    if spec.contains(',') {
        return Ranged::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| {
        s.parse::<u64>()
            .ok()
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    match (first.is_empty(), last.is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match num(last) {
            Some(0) => Ranged::Unsatisfiable,
            Some(n) if len > 0 => Ranged::Part(len - n.min(len), len),
            Some(_) => Ranged::Unsatisfiable,
            None => Ranged::Full,
        },
        (false, _) => {
            let Some(start) = num(first) else {
                return Ranged::Full;
            };
            let end = if last.is_empty() {
                Some(len)
            } else {
                num(last).map(|l| l.saturating_add(1).min(len))
            };
            match end {
                None => Ranged::Full,
                Some(_) if start >= len => Ranged::Unsatisfiable,
                Some(end) if end <= start => Ranged::Full,
                Some(end) => Ranged::Part(start, end),
            }
        }
        (true, true) => Ranged::Full,
    }
}

/// A complete in-memory body: 200, or 206/416 when the request asked for a
/// byte range. HEAD gets the same headers (axum drops the body and keeps
/// its length).
pub(crate) fn respond(
    req: &HeaderMap,
    body: Bytes,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let len = body.len();
    let range = req.get(header::RANGE).map(HeaderValue::as_bytes);
    match resolve(range, len) {
        Ranged::Full => (StatusCode::OK, headers, Body::from(body)).into_response(),
        Ranged::Part(start, end) => {
            let value = format!("bytes {start}-{}/{len}", end - 1);
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            let part = body.slice(start..end);
            (StatusCode::PARTIAL_CONTENT, headers, Body::from(part)).into_response()
        }
        Ranged::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, len: usize) -> Ranged {
        resolve(Some(v.as_bytes()), len)
    }

    #[test]
    fn resolves_single_ranges() {
        assert_eq!(resolve(None, 10), Ranged::Full);
        assert_eq!(r("bytes=0-3", 10), Ranged::Part(0, 4));
        assert_eq!(r("bytes=4-", 10), Ranged::Part(4, 10));
        assert_eq!(r("bytes=4-100", 10), Ranged::Part(4, 10));
        assert_eq!(r("bytes=-3", 10), Ranged::Part(7, 10));
        assert_eq!(r("bytes=-30", 10), Ranged::Part(0, 10));
        assert_eq!(r("bytes=10-", 10), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-0", 10), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=5-2", 10), Ranged::Full);
        assert_eq!(r("bytes=99-", 10), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=0-1,4-5", 10), Ranged::Full);
        assert_eq!(r("items=0-1", 10), Ranged::Full);
        assert_eq!(r("bytes=x-1", 10), Ranged::Full);
        assert_eq!(r("bytes=99999999999999999999999-", 10), Ranged::Full);
    }
}
