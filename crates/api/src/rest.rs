//! `/api/v1/...`: JSON views of the server, its streams and clients, and
//! the two mutations (kick a client, drop a publisher). Every error is an
//! [`ApiError`]: a JSON object `{"error": "...", "status": N}` with the
//! matching status, the same as the chat's routes answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use weir_api_error::ApiError;
use weir_media::StreamKey;

use crate::views::{self, Snapshot};
use crate::{auth, State};

/// Largest page of `GET /api/v1/clients`.
const MAX_PER_PAGE: usize = 1000;
const DEFAULT_PER_PAGE: usize = 100;

type Shared = AxState<Arc<State>>;

/// Parses `{app}/{stream}` from a path, with a JSON 400 for odd names.
pub(crate) fn stream_key(app: &str, stream: &str) -> Result<StreamKey, ApiError> {
    StreamKey::new(app, stream).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid stream name {app}/{stream}: {e}"),
        )
    })
}

/// `GET /api/v1/summary`
pub(crate) async fn summary(AxState(state): Shared) -> Response {
    let snap = Snapshot::take(&state);
    Json(views::summary(&state, &snap)).into_response()
}

/// `GET /api/v1/streams`: every stream, live or with players waiting.
pub(crate) async fn streams(AxState(state): Shared) -> Response {
    let snap = Snapshot::take(&state);
    let list: Vec<_> = snap
        .streams
        .iter()
        .map(|s| views::stream_view(&state, &snap, s))
        .collect();
    Json(json!({ "streams": list })).into_response()
}

/// `GET /api/v1/streams/{app}/{stream}`
pub(crate) async fn stream(
    AxState(state): Shared,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let key = stream_key(&app, &stream)?;
    let snap = Snapshot::take(&state);
    let info = snap
        .streams
        .iter()
        .find(|s| s.key == key)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no stream {key}")))?;
    Ok(Json(views::stream_detail(&state, &snap, info)).into_response())
}

/// `DELETE /api/v1/streams/{app}/{stream}`: drops the publisher. Its
/// connection closes and players see the stream end.
pub(crate) async fn drop_stream(
    AxState(state): Shared,
    headers: HeaderMap,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers)?;
    let key = stream_key(&app, &stream)?;
    let publisher = state.ctx.hub.stream(&key).and_then(|s| s.publisher);
    if !state.ctx.hub.kick_publisher(&key) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("nobody publishes {key}"),
        ));
    }
    // The hub detached it; kicking its connection too ends it whatever
    // the protocol adapter does with the detach.
    if let Some(id) = publisher {
        state.ctx.hub.clients().kick(id);
    }
    tracing::info!(stream = %key, client = ?publisher, "publisher dropped via API");
    Ok(Json(json!({ "dropped": key.to_string(), "client": publisher })).into_response())
}

/// Reads a positive integer query parameter.
fn param(q: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{name} must be a positive integer, got {v:?}"),
            )
        }),
    }
}

/// `GET /api/v1/clients?page=1&per_page=100`: clients by id, one page.
pub(crate) async fn clients(
    AxState(state): Shared,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = param(&q, "page", 1)?;
    let per_page = param(&q, "per_page", DEFAULT_PER_PAGE)?;
    if per_page > MAX_PER_PAGE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("per_page must be at most {MAX_PER_PAGE}"),
        ));
    }
    let all = state.ctx.hub.clients().list();
    let total = all.len();
    let list: Vec<_> = all
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|c| views::client_view(&state, c))
        .collect();
    Ok(Json(json!({
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": total.div_ceil(per_page),
        "clients": list,
    }))
    .into_response())
}

fn client_id(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid client id {id:?}")))
}

/// `GET /api/v1/clients/{id}`
pub(crate) async fn client(
    AxState(state): Shared,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = client_id(&id)?;
    let c = state
        .ctx
        .hub
        .clients()
        .get(id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no client {id}")))?;
    Ok(Json(views::client_view(&state, &c)).into_response())
}

/// `DELETE /api/v1/clients/{id}`: disconnects one client.
pub(crate) async fn kick_client(
    AxState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers)?;
    let id = client_id(&id)?;
    let snapshot = state.ctx.hub.clients().get(id);
    if !state.ctx.hub.clients().kick(id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no client {id}"),
        ));
    }
    // A kicked publisher also gives its stream up at once.
    if let Some(c) = snapshot {
        if let Some(key) = &c.stream {
            if state.ctx.hub.stream(key).and_then(|s| s.publisher) == Some(id) {
                state.ctx.hub.kick_publisher(key);
            }
        }
    }
    tracing::info!(client = id, "client kicked via API");
    Ok(Json(json!({ "kicked": id })).into_response())
}

/// Any other `/api/v1/...` path.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such API endpoint; see docs/api.md",
    )
}

/// `GET /api/v1/pulls`: the camera pulls and what each is doing.
pub(crate) async fn pulls(AxState(state): Shared) -> Result<Response, ApiError> {
    let pulls = state.ctx.app.pulls().ok_or_else(no_pulls)?;
    Ok(Json(json!({ "pulls": pulls })).into_response())
}

/// `GET /api/v1/transcodes`: the transcoding ladders and their ffmpeg.
pub(crate) async fn transcodes(AxState(state): Shared) -> Result<Response, ApiError> {
    let ladders =
        state.ctx.app.transcodes().ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "this server runs no transcoding")
        })?;
    Ok(Json(json!({ "transcodes": ladders })).into_response())
}

fn no_pulls() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "this server runs no camera pulls")
}

/// `POST /api/v1/pulls` with a JSON [`crate::NewPull`]: adds a camera pull
/// until it is deleted or the server restarts. 201, 400 for a bad field,
/// 409 if the stream already has a pull.
pub(crate) async fn add_pull(
    AxState(state): Shared,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers)?;
    let new: crate::NewPull = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad pull JSON: {e}")))?;
    // `"stream": "live/cam"`, or `app` and `stream` apart.
    let key = match (new.app.as_str(), new.stream.split_once('/')) {
        ("", Some((app, stream))) => stream_key(app, stream)?,
        (app, _) => stream_key(app, &new.stream)?,
    };
    match state.ctx.app.add_pull(new) {
        Ok(()) => {
            tracing::info!(stream = %key, "camera pull added through the API");
            let view = state
                .ctx
                .app
                .pulls()
                .unwrap_or_default()
                .into_iter()
                .find(|p| p.app == key.app() && p.stream == key.stream());
            Ok((StatusCode::CREATED, Json(json!({ "pull": view }))).into_response())
        }
        Err(crate::PullRefusal::Unsupported) => Err(no_pulls()),
        Err(crate::PullRefusal::Exists(m)) => Err(ApiError::new(StatusCode::CONFLICT, m)),
        Err(crate::PullRefusal::Invalid(m)) => Err(ApiError::new(StatusCode::BAD_REQUEST, m)),
    }
}

/// `DELETE /api/v1/pulls/{app}/{stream}`: stops the pull and forgets it
/// (a `[[pull]]` entry comes back at the next start). 204 or 404.
pub(crate) async fn remove_pull(
    AxState(state): Shared,
    headers: HeaderMap,
    Path((app, stream)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers)?;
    let key = stream_key(&app, &stream)?;
    if state.ctx.app.remove_pull(&key) {
        tracing::info!(stream = %key, "camera pull removed through the API");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no pull of {key}"),
        ))
    }
}

/// `GET /api/v1/pushes`: the pushes and what each is doing.
pub(crate) async fn pushes(AxState(state): Shared) -> Result<Response, ApiError> {
    let pushes = state.ctx.app.pushes().ok_or_else(no_pushes)?;
    Ok(Json(json!({ "pushes": pushes })).into_response())
}

fn no_pushes() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "this server runs no pushes")
}

fn push_refused(refusal: crate::PushRefusal) -> ApiError {
    match refusal {
        crate::PushRefusal::Unsupported => no_pushes(),
        crate::PushRefusal::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
        crate::PushRefusal::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
    }
}

/// `POST /api/v1/pushes` with a JSON [`crate::NewPush`]: pushes the
/// stream to the URL at every publish (the current one, if live) until
/// the push is deleted or the server restarts. 201 with the push (its
/// `id`), 400 for a bad field, 409 if the same push exists.
pub(crate) async fn add_push(
    AxState(state): Shared,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers)?;
    let new: crate::NewPush = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad push JSON: {e}")))?;
    // `"stream": "live/x"`, or `app` and `stream` apart.
    let key = match (new.app.as_str(), new.stream.split_once('/')) {
        ("", Some((app, stream))) => stream_key(app, stream)?,
        (app, _) => stream_key(app, &new.stream)?,
    };
    let id = state
        .ctx
        .app
        .add_push(key, &new.url)
        .map_err(push_refused)?;
    let view = state
        .ctx
        .app
        .pushes()
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.id == id);
    Ok((StatusCode::CREATED, Json(json!({ "push": view }))).into_response())
}

/// `DELETE /api/v1/pushes/{id}`: stops the push and forgets it. 204, 404,
/// or 409 for a push of `[[push]]` (the configuration owns it).
pub(crate) async fn remove_push(
    AxState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no push {id}"));
    let Ok(n) = id.parse::<u64>() else {
        return Err(not_found());
    };
    match state.ctx.app.remove_push(n).map_err(push_refused)? {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(not_found()),
    }
}
