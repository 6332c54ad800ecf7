//! Routing of `/{app}/{file}` to the format the file name asks for.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Request, State, WebSocketUpgrade};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use weir_media::{StreamKey, TrackKind};

use crate::access::admit;
use crate::{Peer, Shared};

/// What a media request asks for. Public (as [`crate::MediaPath`]) so the
/// path parsing, which every HTTP peer reaches, can be fuzzed on its own.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked {
    /// `{stream}.flv`
    Flv(StreamKey),
    /// `{stream}.mp4`
    Mp4(StreamKey),
    /// `{stream}.m3u8`
    Playlist(StreamKey),
    /// `{segment name}.ts`: the stream, and the segment's file name, which
    /// the stream's segmenter resolves.
    Segment(StreamKey, String),
}

/// Parses `app` and `file` from the URL path (already percent-decoded).
/// Names are restricted to `[A-Za-z0-9._~-]` by [`StreamKey`], so an
/// encoded slash, `..`, a long or non-ASCII name is a 400 and nothing odd
/// ever reaches a file system path or a log line.
///
/// Errors are the status to answer: 404 for an unknown extension or a
/// `.ts` name that is not a segment name, 400 for a refused name. Public
/// (as [`crate::parse_media_path`]) for the `http_path` fuzz target.
pub fn parse(app: &str, file: &str) -> Result<Asked, StatusCode> {
    let (stem, ext) = file.rsplit_once('.').ok_or(StatusCode::NOT_FOUND)?;
    let key = |stream: &str| StreamKey::new(app, stream).map_err(|_| StatusCode::BAD_REQUEST);
    match ext {
        "flv" => Ok(Asked::Flv(key(stem)?)),
        "mp4" => Ok(Asked::Mp4(key(stem)?)),
        "m3u8" => Ok(Asked::Playlist(key(stem)?)),
        "ts" => {
            let stream = crate::hls::stream_of_segment(stem).ok_or(StatusCode::NOT_FOUND)?;
            Ok(Asked::Segment(key(stream)?, stem.to_owned()))
        }
        _ => Err(StatusCode::NOT_FOUND),
    }
}

/// The track `?only=audio` / `?only=video` asks for; anything else means
/// both. `query` is the raw query string without `?`; public for the
/// `http_path` fuzz target.
pub fn only_track(query: Option<&str>) -> Option<TrackKind> {
    query?.split('&').find_map(|pair| match pair {
        "only=audio" => Some(TrackKind::Audio),
        "only=video" => Some(TrackKind::Video),
        _ => None,
    })
}

/// `GET /{app}/{file}`: dispatches on the extension, and on a WebSocket
/// upgrade for the streaming formats.
pub(crate) async fn media(
    State(shared): State<Arc<Shared>>,
    Path((app, file)): Path<(String, String)>,
    peer: Peer,
    req: Request,
) -> Response {
    let asked = match parse(&app, &file) {
        Ok(a) => a,
        Err(status) => return (status, "no such stream or format\n").into_response(),
    };
    let peer = peer.0;
    let wants_ws = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let head = req.method() == Method::HEAD;
    let only = only_track(req.uri().query());
    let query = req.uri().query().map(str::to_owned);
    // Viewers of a media WebSocket send nothing but control frames: a small
    // cap means a peer cannot make the server buffer a large message.
    let max_ws = shared.config.max_ws_message_bytes;
    let upgrade = |req: Request| async move {
        let (mut parts, _) = req.into_parts();
        WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .map(|ws| ws.max_message_size(max_ws).max_frame_size(max_ws))
    };
    let (key, mp4) = match asked {
        // HLS checks access per viewer session (its requests come and go).
        Asked::Playlist(key) => {
            return crate::hls::playlist(&shared, &key, peer, req.headers(), query.as_deref()).await
        }
        Asked::Segment(key, name) => {
            return crate::hls::segment(&shared, &key, &name, peer, req.headers(), query.as_deref())
                .await
        }
        Asked::Flv(key) => (key, false),
        Asked::Mp4(key) => (key, true),
    };
    // Streaming formats: one access check per viewer, before anything is
    // subscribed or upgraded.
    let protocol = match (mp4, wants_ws) {
        (false, false) => "http-flv",
        (false, true) => "ws-flv",
        (true, false) => "http-fmp4",
        (true, true) => "ws-fmp4",
    };
    let admitted = match admit(&shared.hub, &key, peer, protocol, query.as_deref()).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    if wants_ws {
        let ws = match upgrade(req).await {
            Ok(ws) => ws,
            Err(rejection) => return rejection.into_response(),
        };
        if mp4 {
            crate::fmp4::websocket(shared, key, peer, admitted, ws).await
        } else {
            crate::flv::websocket(shared, key, peer, admitted, only, ws).await
        }
    } else if mp4 {
        crate::fmp4::http(shared, key, peer, admitted, head).await
    } else {
        crate::flv::http(shared, key, peer, admitted, only, head).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stream: &str) -> StreamKey {
        StreamKey::new("live", stream).unwrap()
    }

    #[test]
    fn only_picks_a_track() {
        assert_eq!(only_track(Some("only=audio")), Some(TrackKind::Audio));
        assert_eq!(only_track(Some("x=1&only=video")), Some(TrackKind::Video));
        assert_eq!(only_track(Some("only=both")), None);
        assert_eq!(only_track(None), None);
    }

    #[test]
    fn parses_formats_and_refuses_odd_names() {
        assert_eq!(parse("live", "test.flv"), Ok(Asked::Flv(key("test"))));
        assert_eq!(parse("live", "te.st.mp4"), Ok(Asked::Mp4(key("te.st"))));
        assert_eq!(parse("live", "a-b.m3u8"), Ok(Asked::Playlist(key("a-b"))));
        assert_eq!(
            parse("live", "a-b-k2-17.ts"),
            Ok(Asked::Segment(key("a-b"), "a-b-k2-17".into()))
        );
        assert_eq!(parse("live", "a-17.ts"), Err(StatusCode::NOT_FOUND));
        assert_eq!(parse("live", "test.xyz"), Err(StatusCode::NOT_FOUND));
        assert_eq!(parse("live", "test"), Err(StatusCode::NOT_FOUND));
        assert_eq!(parse("..", "x.flv"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(parse("live", "...m3u8"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(parse("live", "../x.m3u8"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(parse("live", "..%2f.flv"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(parse("live", "é.flv"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(
            parse("live", &format!("{}.flv", "a".repeat(300))),
            Err(StatusCode::BAD_REQUEST)
        );
    }
}
