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
use weir_chat::{moderated_name, mute_until, ModError, RelayEvent, Room, MAX_TOKEN_TTL_SECS};
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
        ModError::BadName(_) => StatusCode::BAD_REQUEST,
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

/// The relay's state for the API: `null` without one.
fn relay_state(shared: &Shared) -> serde_json::Value {
    shared.relay().map_or(
        serde_json::Value::Null,
        |r| json!({"connected": r.connected()}),
    )
}

/// `GET /api/v1/chat`: counters and rooms. `members` counts this node's
/// members, `remote_members` the other nodes', `cluster_members` both.
pub(crate) async fn summary(State(shared): St) -> Response {
    let rooms: Vec<_> = shared
        .all_rooms()
        .into_iter()
        .map(|(key, cell)| {
            let remote = shared.remote_members(&key);
            let room = cell.lock();
            json!({
                "room": key.to_string(),
                "members": room.len(),
                "remote_members": remote,
                "cluster_members": room.len().saturating_add(remote),
                "live": room.live(),
            })
        })
        .collect();
    Json(json!({
        "metrics": shared.metrics.snapshot(),
        "rooms": rooms,
        "relay": relay_state(&shared),
    }))
    .into_response()
}

/// Query of the endpoint API.
#[derive(Deserialize)]
pub(crate) struct EndpointQuery {
    app: String,
    stream: String,
}

/// `GET /api/v1/chat/endpoint?app=&stream=`: the WebSocket URL to use. One
/// node answers itself, by the name the client reached it with; with a
/// relay, the node it names ([`crate::Relay::endpoint`]: the least loaded),
/// and `members` counts the whole room.
pub(crate) async fn endpoint(
    State(shared): St,
    headers: HeaderMap,
    query: Result<Query<EndpointQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let key = key(&q.app, &q.stream)?;
    let elsewhere = shared.relay().and_then(|r| r.endpoint(&key));
    let base = match elsewhere.or_else(|| shared.config.public_url.as_deref().and_then(ws_base)) {
        Some(base) => base.trim_end_matches('/').to_owned(),
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
    let members = shared
        .room(&key)
        .map_or(0, |cell| cell.lock().len())
        .saturating_add(shared.remote_members(&key));
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

/// `GET /api/v1/chat/{app}/{stream}`: the room's members here and history
/// ids, with the counts of members here (`local_members`), on the other
/// nodes (`remote_members`) and both (`cluster_members`). 404 when nobody
/// is in the room, here or (with a relay) elsewhere.
pub(crate) async fn room(
    State(shared): St,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let key = key(&app, &stream)?;
    let remote = shared.remote_members(&key);
    let cell = match shared.room(&key) {
        Some(cell) => Some(cell),
        None if remote > 0 => None,
        None => existing_room(&shared, &key).map(Some)?,
    };
    let now = shared.now();
    let (live, members, history) = match &cell {
        Some(cell) => {
            let room = cell.lock();
            (
                room.live(),
                room.members(now),
                room.history_ids().collect::<Vec<_>>(),
            )
        }
        None => (shared.hub.is_live(&key), Vec::new(), Vec::new()),
    };
    Ok(Json(json!({
        "room": key.to_string(),
        "live": live,
        "local_members": members.len(),
        "remote_members": remote,
        "cluster_members": members.len().saturating_add(remote),
        "members": members,
        "history": history,
        "relay": relay_state(&shared),
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
/// authorizer), broadcasts what it produced and relays it to the other
/// nodes.
fn moderate<R>(
    shared: &Shared,
    key: &StreamKey,
    act: impl FnOnce(&mut Room<Sink>, weir_chat::Now) -> Result<(bytes::Bytes, R), ModError>,
) -> Result<R, ApiError> {
    let cell = existing_room(shared, key)?;
    let mut room = cell.lock();
    let (frame, out) = act(&mut room, shared.now()).map_err(mod_error)?;
    shared.relay_frame(key, &frame);
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
    let key = key(&app, &stream)?;
    if shared.relay().is_none() {
        let until = moderate(&shared, &key, |room, now| {
            let (until, frame) = room.mute(&b.user, b.minutes, now)?;
            Ok((frame, until))
        })?;
        tracing::info!(room = %key, user = %b.user, minutes = b.minutes, "chat mute");
        return Ok(Json(json!({"user": b.user, "until": until})).into_response());
    }
    // In a cluster the name may be on any node, or none yet: it is muted
    // here (if the room is open here) and on every node, whoever has it.
    let until = match shared.room(&key) {
        Some(cell) => {
            let mut room = cell.lock();
            let (until, frame) = room
                .mute_name(&b.user, b.minutes, shared.now())
                .map_err(mod_error)?;
            shared.relay_frame(&key, &frame);
            shared.fan_out(&room, frame);
            until
        }
        None => {
            let user = moderated_name(&b.user).map_err(mod_error)?;
            let until = mute_until(b.minutes, shared.now()).map_err(mod_error)?;
            shared.relay_msg(
                &key,
                RelayEvent::Mute {
                    user: user.to_owned(),
                    until,
                },
            );
            until
        }
    };
    tracing::info!(room = %key, user = %b.user, minutes = b.minutes, "chat mute (relayed to the cluster)");
    Ok(Json(json!({"user": b.user, "until": until, "relayed": true})).into_response())
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
    let key = key(&app, &stream)?;
    let kick_here = |shared: &Shared| {
        moderate(shared, &key, |room, now| {
            let (conn, sink, leave) = room.kick(&b.user, now)?;
            sink.kill.close(weir_chat::CloseCode::Kicked);
            Ok((leave, conn))
        })
    };
    if shared.relay().is_none() {
        let conn = kick_here(&shared)?;
        shared.member_left();
        tracing::info!(room = %key, user = %b.user, conn, "chat kick");
        return Ok(Json(json!({"user": b.user, "kicked": conn})).into_response());
    }
    // In a cluster: kicked here if here, and the kick goes to every node
    // (the one that has the name closes it and relays its leave).
    let user = moderated_name(&b.user).map_err(mod_error)?.to_owned();
    let here = shared.room(&key).and_then(|cell| {
        let mut room = cell.lock();
        let (conn, sink, leave) = room.kick(&user, shared.now()).ok()?;
        sink.kill.close(weir_chat::CloseCode::Kicked);
        shared.relay_frame(&key, &leave);
        shared.fan_out(&room, leave);
        Some(conn)
    });
    if here.is_some() {
        shared.member_left();
    }
    shared.relay_msg(&key, RelayEvent::Kick { user });
    tracing::info!(room = %key, user = %b.user, conn = ?here, "chat kick (relayed to the cluster)");
    let status = if here.is_some() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({"user": b.user, "kicked": here, "relayed": true})),
    )
        .into_response())
}

/// `DELETE /api/v1/chat/{app}/{stream}/messages/{id}`.
pub(crate) async fn delete_message(
    State(shared): St,
    Path((app, stream, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers)?;
    let key = key(&app, &stream)?;
    if shared.relay().is_none() {
        moderate(&shared, &key, |room, _now| Ok((room.delete(id)?, ())))?;
        tracing::info!(room = %key, id, "chat message deleted");
        return Ok(Json(json!({"deleted": id})).into_response());
    }
    // In a cluster the message may be in other nodes' histories only (or
    // shown by their members): every node removes it and tells its members.
    let event = RelayEvent::Delete { id };
    let Some(cell) = shared.room(&key) else {
        shared.relay_msg(&key, event);
        tracing::info!(room = %key, id, "chat message deleted (relayed to the cluster)");
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"deleted": id, "found": false, "relayed": true})),
        )
            .into_response());
    };
    let found = {
        let mut room = cell.lock();
        let found = room.history_ids().any(|i| i == id);
        // Removes it if the history has it, and tells the members either
        // way (they may show it still).
        if let Ok(out) = room.apply(&event, shared.now()) {
            if let Some(frame) = out.broadcast {
                shared.relay_frame(&key, &frame);
                shared.fan_out(&room, frame);
            }
        }
        found
    };
    tracing::info!(room = %key, id, found, "chat message deleted (relayed to the cluster)");
    let status = if found {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({"deleted": id, "found": found, "relayed": true})),
    )
        .into_response())
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
