//! The recordings API: `GET /api/v1/recordings` (filters `app`, `stream`,
//! `from`, `to`), `DELETE /api/v1/recordings/{id}` and
//! `POST /api/v1/streams/{app}/{stream}/record` with
//! `{"action":"start"|"stop"}`. The recorder itself is the app's
//! ([`crate::AppHooks::recordings`] and friends).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use weir_api_error::ApiError;

use crate::rest::stream_key;
use crate::{auth, RecordRefusal, RecordingQuery, State};

type Shared = AxState<Arc<State>>;

fn no_recorder() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "this server records nothing")
}

fn time_param(
    q: &HashMap<String, String>,
    name: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    q.get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.to_utc())
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("{name} must be an RFC 3339 time like 2026-12-03T10:00:00Z: {e}"),
                    )
                })
        })
        .transpose()
}

/// `GET /api/v1/recordings`
pub(crate) async fn list(
    AxState(state): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = RecordingQuery {
        app: q.get("app").filter(|v| !v.is_empty()).cloned(),
        stream: q.get("stream").filter(|v| !v.is_empty()).cloned(),
        from: time_param(&q, "from")?,
        to: time_param(&q, "to")?,
        host: host_name(&headers),
    };
    let list = state.ctx.app.recordings(&query).ok_or_else(no_recorder)?;
    Ok(Json(json!({ "recordings": list })).into_response())
}

/// The host name of the request's `Host` header, without its port
/// (`[::1]:8080` gives `[::1]`); `None` when absent or not a plain host
/// name, so that no header can inject text into a URL.
fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let name = match host.strip_prefix('[') {
        Some(v6) => &host[..v6.find(']')? + 2],
        None => host.split(':').next()?,
    };
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    (plain && !name.is_empty()).then(|| name.to_owned())
}

/// `DELETE /api/v1/recordings/{id}`: 204, 404, 409 while it is recorded.
pub(crate) async fn delete(
    AxState(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers)?;
    match state.ctx.app.delete_recording(&id) {
        Ok(true) => {
            tracing::info!(recording = %id, "recording deleted through the API");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Ok(false) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no recording {id}"),
        )),
        Err(RecordRefusal::Unsupported) => Err(no_recorder()),
        Err(RecordRefusal::Conflict(m)) => Err(ApiError::new(StatusCode::CONFLICT, m)),
        Err(RecordRefusal::Failed(m)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)),
    }
}

/// The body of `POST .../record`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Control {
    action: String,
}

/// `POST /api/v1/streams/{app}/{stream}/record`: 200 with
/// `{"recording": bool}`; 409 if the stream is not live.
pub(crate) async fn control(
    AxState(state): Shared,
    headers: HeaderMap,
    Path((app, stream)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers)?;
    let key = stream_key(&app, &stream)?;
    let control: Control = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("expected {{\"action\":\"start\"|\"stop\"}}: {e}"),
        )
    })?;
    let start = match control.action.as_str() {
        "start" => true,
        "stop" => false,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("action must be \"start\" or \"stop\", not {other:?}"),
            ))
        }
    };
    match state.ctx.app.record(&key, start) {
        Ok(recording) => {
            tracing::info!(stream = %key, action = %control.action, "recording control");
            Ok(Json(json!({ "stream": key.to_string(), "recording": recording })).into_response())
        }
        Err(RecordRefusal::Unsupported) => Err(no_recorder()),
        Err(RecordRefusal::Conflict(m)) => Err(ApiError::new(StatusCode::CONFLICT, m)),
        Err(RecordRefusal::Failed(m)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(v: &str) -> Option<String> {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::HOST, v.parse().unwrap());
        host_name(&h)
    }

    #[test]
    fn the_host_name_comes_without_port_and_only_when_plain() {
        assert_eq!(host("example.com:8080").as_deref(), Some("example.com"));
        assert_eq!(host("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(host("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(host("a/b@c"), None);
        assert_eq!(host("[::1"), None);
        assert_eq!(host(":80"), None);
        assert_eq!(host_name(&HeaderMap::new()), None);
    }
}
