//! Fuzzes the parsing of HTTP media paths, `/{app}/{file}?{query}`, which
//! every HTTP and WebSocket viewer's request line reaches before any access
//! check: the stream key, the format (`.flv`, `.mp4`, `.m3u8`, segment
//! names `{stream}-{sid}-{seq}.ts`) and `?only=audio|video`.
//!
//! Each input is read twice. As a request target, the way hyper and axum
//! see it: parsed as a URI, routed only if the path has exactly two
//! non-empty segments, each percent-decoded to UTF-8 (else axum answers
//! 400 before weir sees it). And as already-decoded text split at the first
//! `/` and `?`, so that names with any characters reach the parser. Errors
//! are fine; panics are bugs, and so is a key or segment name that does not
//! spell out the path it came from, a status other than 400/404, or an
//! `?only=` answer that the query does not say.

#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use weir_media::{StreamKey, TrackKind};
use weir_server_http::{only_track, parse_media_path, MediaPath};

fuzz_target!(|data: &[u8]| {
    if let Ok(uri) = http::Uri::try_from(data) {
        let query = uri.query();
        check_only(query);
        let segments: Vec<&str> = uri.path().split('/').skip(1).collect();
        if let [app, file] = segments[..] {
            if app.is_empty() || file.is_empty() {
                return;
            }
            let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
            if let (Ok(app), Ok(file)) = (decode(app), decode(file)) {
                check_path(&app, &file);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let text = text.strip_prefix('/').unwrap_or(text);
        let (path, query) = match text.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (text, None),
        };
        check_only(query);
        let (app, file) = path.split_once('/').unwrap_or(("live", path));
        check_path(app, file);
    }
});

/// Parses `app`/`file` and checks the answer against the input.
fn check_path(app: &str, file: &str) {
    let named = |key: &StreamKey, ext: &str| {
        assert_eq!(key.app(), app);
        assert_eq!(format!("{}.{ext}", key.stream()), file);
        assert_eq!(StreamKey::new(key.app(), key.stream()).as_ref(), Ok(key));
    };
    match parse_media_path(app, file) {
        Ok(MediaPath::Flv(key)) => named(&key, "flv"),
        Ok(MediaPath::Mp4(key)) => named(&key, "mp4"),
        Ok(MediaPath::Playlist(key)) => named(&key, "m3u8"),
        Ok(MediaPath::Segment(key, name)) => {
            assert_eq!(key.app(), app);
            assert_eq!(format!("{name}.ts"), file);
            let rest = name
                .strip_prefix(key.stream())
                .and_then(|r| r.strip_prefix('-'))
                .expect("segment name starts with its stream");
            let (sid, seq) = rest.split_once('-').expect("segment name has an id");
            assert!(!sid.is_empty() && sid.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(!seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()));
        }
        Err(status) => assert!(
            status.as_u16() == 400 || status.as_u16() == 404,
            "status {status}"
        ),
    }
}

/// `?only=` must name the track of the first `only=audio|video` pair.
fn check_only(query: Option<&str>) {
    let first = query.and_then(|q| {
        q.split('&')
            .find(|p| *p == "only=audio" || *p == "only=video")
    });
    let expected = first.map(|p| {
        if p == "only=audio" {
            TrackKind::Audio
        } else {
            TrackKind::Video
        }
    });
    assert_eq!(only_track(query), expected);
}
