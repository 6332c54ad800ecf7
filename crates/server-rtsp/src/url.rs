//! What an RTSP request URI names: `rtsp://host[:port]/{app}/{stream}`
//! (or `rtsps://`, the same over TLS),
//! optionally a track (`/trackID=N`, `/streamid=N`, `/stream=N`: each
//! client names the SDP controls its own way) and a query string (stream
//! keys, signed URLs) for the access check.

use weir_media::StreamKey;

/// A parsed request URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The stream.
    pub(crate) key: StreamKey,
    /// The track index, for SETUP.
    pub(crate) track: Option<usize>,
    /// The track segment as written (`stream=1`): what a publisher's SETUP
    /// is matched against its ANNOUNCE's `a=control` values by.
    pub(crate) track_name: Option<String>,
    /// The query string, without `?` (empty when none).
    pub(crate) query: String,
}

/// Parses `uri`; `None` when it names no valid stream.
pub(crate) fn parse(uri: &str) -> Option<Target> {
    let rest = strip_scheme(uri)?;
    // The authority ends at the first '/'.
    let path = &rest[rest.find('/')?..];
    let (path, mut query) = match path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path, ""),
    };
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // A client that resolves a relative control against a base with a
    // query puts the track after the query: `...?key=x/trackID=0`.
    if let Some((q, track)) = query.rsplit_once('/') {
        query = q;
        segments.push(track);
    }
    let (track, track_name) = match segments.len() {
        2 => (None, None),
        3 => (
            Some(track_index(segments[2])?),
            Some(segments[2].to_owned()),
        ),
        _ => return None,
    };
    let key = StreamKey::new(segments[0], segments[1]).ok()?;
    Some(Target {
        key,
        track,
        track_name,
        query: query.to_owned(),
    })
}

/// The URI after `rtsp://` or `rtsps://` (RTSPS clients name their
/// requests `rtsps://`; some send `rtsp://` on the TLS connection too).
fn strip_scheme(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    (scheme.eq_ignore_ascii_case("rtsp") || scheme.eq_ignore_ascii_case("rtsps")).then_some(rest)
}

/// The scheme our answers use: `rtsps` over TLS, else `rtsp`.
pub(crate) fn scheme(tls: bool) -> &'static str {
    if tls {
        "rtsps"
    } else {
        "rtsp"
    }
}

/// The number at the end of a track segment (`trackID=1` → 1).
fn track_index(segment: &str) -> Option<usize> {
    let digits = segment.trim_start_matches(|c: char| !c.is_ascii_digit());
    if digits.is_empty() || digits.len() > 3 {
        return None;
    }
    digits.parse().ok()
}

/// The URI without query and track: what our SDP's controls build on
/// (`scheme` is the connection's: see [`scheme`]).
pub(crate) fn stream_base(scheme: &str, host: &str, key: &StreamKey) -> String {
    format!("{scheme}://{host}/{}/{}", key.app(), key.stream())
}

/// The authority part of a URI (`host:port`), for the controls we write.
pub(crate) fn authority(uri: &str) -> Option<&str> {
    let rest = strip_scheme(uri)?;
    Some(rest.split(['/', '?']).next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_track_and_query() {
        let t = parse("rtsp://h:8554/live/cam?key=1").unwrap();
        assert_eq!(t.key.to_string(), "live/cam");
        assert_eq!((t.track, t.query.as_str()), (None, "key=1"));
        let t = parse("RTSP://h/live/cam/streamid=1").unwrap();
        assert_eq!(t.track, Some(1));
        let t = parse("rtsp://h/live/cam/trackID=0?sign=x").unwrap();
        assert_eq!((t.track, t.query.as_str()), (Some(0), "sign=x"));
        let t = parse("rtsp://h/live/cam?key=x/trackID=2").unwrap();
        assert_eq!((t.track, t.query.as_str()), (Some(2), "key=x"));
        assert_eq!(t.track_name.as_deref(), Some("trackID=2"));
        assert_eq!(authority("rtsp://h:1/live/cam?x"), Some("h:1"));
        let t = parse("rtsps://h:8322/live/cam/trackID=1?key=k").unwrap();
        assert_eq!((t.key.to_string(), t.track), ("live/cam".into(), Some(1)));
        assert_eq!(authority("RTSPS://h:8322/live/cam"), Some("h:8322"));
        assert_eq!(
            stream_base(scheme(true), "h:8322", &t.key),
            "rtsps://h:8322/live/cam"
        );
    }

    #[test]
    fn refuses_what_names_no_stream() {
        for bad in [
            "http://h/live/cam",
            "rtspu://h/live/cam",
            "rtsp://h/live",
            "rtsp://h",
            "rtsp://h/a/b/c/d",
            "rtsp://h/a/b/track",
            "rtsp://h/a/b/track=99999",
            "rtsp://h/a b/c",
            "*",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
