//! Routing of `/{app}/{file}` to the format the file name asks for.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weir_media::StreamKey;

use crate::Shared;

/// What a media request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// `{stream}.flv`
    Flv(StreamKey),
}

/// Parses `app` and `file` from the URL path. Names are restricted to
/// `[A-Za-z0-9._~-]` by [`StreamKey`], so nothing odd ever reaches a file
/// system path or a log line.
pub(crate) fn parse(app: &str, file: &str) -> Result<Asked, StatusCode> {
    let (stream, ext) = file.rsplit_once('.').ok_or(StatusCode::NOT_FOUND)?;
    let key = StreamKey::new(app, stream).map_err(|_| StatusCode::BAD_REQUEST)?;
    match ext {
        "flv" => Ok(Asked::Flv(key)),
        _ => Err(StatusCode::NOT_FOUND),
    }
}

/// `GET /{app}/{file}`: dispatches on the extension, and on a WebSocket
/// upgrade for the streaming formats.
pub(crate) async fn media(
    State(shared): State<Arc<Shared>>,
    Path((app, file)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let asked = match parse(&app, &file) {
        Ok(a) => a,
        Err(status) => return (status, "no such stream or format\n").into_response(),
    };
    let wants_ws = req
        .headers()
        .get(axum::http::header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let head = req.method() == axum::http::Method::HEAD;
    match asked {
        Asked::Flv(key) => {
            if wants_ws {
                let (mut parts, _) = req.into_parts();
                match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                    Ok(ws) => crate::flv::websocket(shared, key, peer, ws).await,
                    Err(rejection) => rejection.into_response(),
                }
            } else {
                crate::flv::http(shared, key, peer, head).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats_and_refuses_odd_names() {
        assert_eq!(
            parse("live", "test.flv"),
            Ok(Asked::Flv(StreamKey::new("live", "test").unwrap()))
        );
        assert_eq!(parse("live", "test.xyz"), Err(StatusCode::NOT_FOUND));
        assert_eq!(parse("live", "test"), Err(StatusCode::NOT_FOUND));
        assert_eq!(parse("..", "x.flv"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(parse("live", "..%2f.flv"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(
            parse("live", &format!("{}.flv", "a".repeat(300))),
            Err(StatusCode::BAD_REQUEST)
        );
    }
}
