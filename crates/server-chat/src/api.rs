//! The chat's HTTP API: where to connect, what rooms there are, moderation,
//! and the browser client (script and styles). Errors are the whole API's
//! [`ApiError`] (`{"error": "...", "status": N}`).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use weir_api_error::ApiError;
use weir_chat::{ModError, Room, MAX_TOKEN_TTL_SECS};
use weir_media::StreamKey;

use crate::rooms::{RoomCell, Shared, Sink};

/// The browser client, served at `/chat.js`.
const CHAT_JS: &str = include_str!("../assets/chat.js");
/// The client's styles, served at `/chat.css`: a file rather than an
/// injected `<style>`, which pages with `style-src 'self'` would block.
const CHAT_CSS: &str = include_str!("../assets/chat.css");

/// The HTTP answer to a refused moderation action: 404 for a user or
/// message the room does not have, 400 for anything else wrong with it.
fn mod_error(e: ModError) -> ApiError {
    let status = match e {
        ModError::NoSuchUser(_) | ModError::NoSuchMessage(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.to_string())
}

type St = State<Arc<Shared>>;

fn key(app: &str, stream: &str) -> Result<StreamKey, ApiError> {
    StreamKey::new(app, stream).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn existing_room(shared: &Shared, key: &StreamKey) -> Result<Arc<RoomCell>, ApiError> {
    shared.room(key).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("nobody is in chat room {key}"),
        )
    })
}

fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    match &shared.authorize {
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "chat moderation and tokens are off: configure API credentials \
             ([api] console_password_hash or api_token)",
        )),
        Some(check) if check(headers) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "log into the console or send Authorization: Bearer <api_token>",
        )),
    }
}

/// `GET /chat.js`.
pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CHAT_JS,
    )
        .into_response()
}

/// `GET /chat.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CHAT_CSS,
    )
        .into_response()
}

/// `GET /api/v1/chat`: counters and rooms.
pub(crate) async fn summary(State(shared): St) -> Response {
    let rooms: Vec<_> = shared
        .all_rooms()
        .into_iter()
        .map(|(key, cell)| {
            let room = cell.lock();
            json!({"room": key.to_string(), "members": room.len(), "live": room.live()})
        })
        .collect();
    Json(json!({"metrics": shared.metrics.snapshot(), "rooms": rooms})).into_response()
}

/// Query of the endpoint API.
#[derive(Deserialize)]
pub(crate) struct EndpointQuery {
    app: String,
    stream: String,
}

/// `GET /api/v1/chat/endpoint?app=&stream=`: the WebSocket URL to use. One
/// node answers itself, by the name the client reached it with; a cluster
/// would pick the least loaded node here.
pub(crate) async fn endpoint(
    State(shared): St,
    headers: HeaderMap,
    query: Result<Query<EndpointQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let key = key(&q.app, &q.stream)?;
    let base = match shared.config.public_url.as_deref().and_then(ws_base) {
        Some(base) => base,
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| valid_host(h))
                .ok_or_else(|| ApiError::bad_request("the request has no usable Host header"))?;
            let secure = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"));
            let scheme = if secure { "wss" } else { "ws" };
            format!("{scheme}://{host}")
        }
    };
    let members = shared.room(&key).map_or(0, |cell| cell.lock().len());
    let answer = Json(json!({
        "url": format!("{base}/chat/{}/{}", key.app(), key.stream()),
        "room": key.to_string(),
        "members": members,
        "heartbeat_secs": 10,
        "timeout_secs": shared.config.heartbeat_timeout.as_secs_f64(),
        "token_required": shared.config.tokens.is_some(),
    }));
    // The answer depends on the Host header: no cache may hand one
    // client's answer to another.
    Ok((
        [(header::CACHE_CONTROL, "no-store"), (header::VARY, "host")],
        answer,
    )
        .into_response())
}

/// The WebSocket base URL (scheme and authority, and any path prefix,
/// without a trailing `/`) for a configured public URL; `None` if it is
/// not an absolute http(s) or ws(s) URL with a valid host.
pub(crate) fn ws_base(public_url: &str) -> Option<String> {
    let (scheme, rest) = public_url.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return None,
    };
    let rest = rest.trim_end_matches('/');
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'\\'));
    (valid_host(host) && path_ok).then(|| format!("{scheme}://{host}{path}"))
}

/// Whether a `Host` value is a host name, IPv4 or bracketed IPv6 address,
/// with an optional port: nothing else may go into a URL built from it.
pub(crate) fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        // A bare IPv6 literal without a port is all colons: bracketed only.
        Some((name, port)) if !name.ends_with(':') && !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !name.is_empty()
                && name.len() <= 253
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
    };
    port_ok && name_ok
}

/// `GET /api/v1/chat/{app}/{stream}`: the room's members and history ids.
pub(crate) async fn room(
    State(shared): St,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let key = key(&app, &stream)?;
    let cell = existing_room(&shared, &key)?;
    let now = shared.now();
    let room = cell.lock();
    Ok(Json(json!({
        "room": key.to_string(),
        "live": room.live(),
        "members": room.members(now),
        "history": room.history_ids().collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Body of `POST .../mute`.
#[derive(Deserialize)]
pub(crate) struct MuteBody {
    user: String,
    minutes: u64,
}

/// Body of `POST .../kick`.
#[derive(Deserialize)]
pub(crate) struct KickBody {
    user: String,
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// Runs a moderation action on an existing room (the caller has asked the
/// authorizer) and broadcasts what it produced.
fn moderate<R>(
    shared: &Shared,
    app: &str,
    stream: &str,
    act: impl FnOnce(&mut Room<Sink>, weir_chat::Now) -> Result<(bytes::Bytes, R), ModError>,
) -> Result<R, ApiError> {
    let key = key(app, stream)?;
    let cell = existing_room(shared, &key)?;
    let mut room = cell.lock();
    let (frame, out) = act(&mut room, shared.now()).map_err(mod_error)?;
    shared.fan_out(&room, frame);
    Ok(out)
}

/// `POST /api/v1/chat/{app}/{stream}/mute` `{"user": "...", "minutes": N}`.
pub(crate) async fn mute(
    State(shared): St,
    Path((app, stream)): Path<(String, String)>,
    headers: HeaderMap,
    b: Result<Json<MuteBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers)?;
    let b = body(b)?;
    let until = moderate(&shared, &app, &stream, |room, now| {
        let (until, frame) = room.mute(&b.user, b.minutes, now)?;
        Ok((frame, until))
    })?;
    tracing::info!(room = %format!("{app}/{stream}"), user = %b.user, minutes = b.minutes, "chat mute");
    Ok(Json(json!({"user": b.user, "until": until})).into_response())
}

/// `POST /api/v1/chat/{app}/{stream}/kick` `{"user": "..."}`.
pub(crate) async fn kick(
    State(shared): St,
    Path((app, stream)): Path<(String, String)>,
    headers: HeaderMap,
    b: Result<Json<KickBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers)?;
    let b = body(b)?;
    let conn = moderate(&shared, &app, &stream, |room, now| {
        let (conn, sink, leave) = room.kick(&b.user, now)?;
        sink.kill.close(weir_chat::CloseCode::Kicked);
        Ok((leave, conn))
    })?;
    shared.member_left();
    tracing::info!(room = %format!("{app}/{stream}"), user = %b.user, conn, "chat kick");
    Ok(Json(json!({"user": b.user, "kicked": conn})).into_response())
}

/// `DELETE /api/v1/chat/{app}/{stream}/messages/{id}`.
pub(crate) async fn delete_message(
    State(shared): St,
    Path((app, stream, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers)?;
    moderate(&shared, &app, &stream, |room, _now| {
        Ok((room.delete(id)?, ()))
    })?;
    tracing::info!(room = %format!("{app}/{stream}"), id, "chat message deleted");
    Ok(Json(json!({"deleted": id})).into_response())
}

/// Body of `POST /api/v1/chat/token`.
#[derive(Deserialize)]
pub(crate) struct TokenBody {
    app: String,
    stream: String,
    user: String,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// Lifetime of a token the API mints when the request names none.
const DEFAULT_TOKEN_TTL_SECS: u64 = 3600;

/// `POST /api/v1/chat/token` `{"app","stream","user","ttl_secs"}`: a join
/// token for `user` in the room, for a site's backend that would rather ask
/// weir than hold the secret itself.
pub(crate) async fn token(
    State(shared): St,
    headers: HeaderMap,
    b: Result<Json<TokenBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers)?;
    let b = body(b)?;
    let Some(tokens) = &shared.config.tokens else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "chat join tokens are off: set [chat] token_secret",
        ));
    };
    let key = key(&b.app, &b.stream)?;
    let user = shared
        .rules
        .check_nick(&b.user)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let ttl = b.ttl_secs.unwrap_or(DEFAULT_TOKEN_TTL_SECS);
    if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
        return Err(ApiError::bad_request(format!(
            "ttl_secs must be between 1 and {MAX_TOKEN_TTL_SECS}"
        )));
    }
    let expires = shared.now().wall_ms / 1000 + ttl;
    let room = key.to_string();
    let token = tokens.sign(&room, &user, expires);
    Ok(
        Json(json!({"token": token, "user": user, "room": room, "expires": expires}))
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_names_and_addresses_make_urls() {
        for ok in [
            "example.com",
            "a.b-c.d:8080",
            "10.0.0.1:1",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.com/x",
            "user@host",
            "host:",
            "host:123456",
            "host:80?x",
            "::1",
            "[::1",
            "[zz::1]:80",
            "host#frag",
            "a b",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn public_url_gives_the_websocket_base() {
        assert_eq!(
            ws_base("https://chat.example.com/").as_deref(),
            Some("wss://chat.example.com")
        );
        assert_eq!(
            ws_base("http://10.0.0.1:8080/weir").as_deref(),
            Some("ws://10.0.0.1:8080/weir")
        );
        for bad in [
            "chat.example.com",
            "ftp://x",
            "https://x/?q",
            "https://us@x/",
        ] {
            assert_eq!(ws_base(bad), None, "{bad}");
        }
    }
}
