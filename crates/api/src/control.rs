//! `GET /control/drop/{publisher,subscriber,client}?app=&name=[&addr=][&clientid=]`:
//! nginx-rtmp's control module, for the scripts that already call it.
//!
//! Like nginx-rtmp it answers `200` with the number of dropped clients as
//! plain text (`0` when nothing matched). `addr` matches the client's IP
//! (as `/stat` shows it) or `IP:port`; `clientid` its id. Unlike
//! nginx-rtmp the call needs the same credential as the JSON API's
//! mutations, since it disconnects people: the API token (what scripts
//! send), or the console cookie from a page of this origin only. A `GET`
//! that changes state is what an `<img>` on any page can trigger, hence
//! the origin check; `HEAD` (which axum would otherwise run as the `GET`)
//! is refused.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use weir_api_error::ApiError;
use weir_hub::Role;

use crate::rest::stream_key;
use crate::{auth, State};

/// Which clients of the stream a drop may hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Publisher,
    Subscriber,
    Client,
}

/// `HEAD /control/drop/{what}`: `405`. A probe or prefetch must not
/// disconnect anyone.
pub(crate) async fn head() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")]).into_response()
}

/// `GET /control/drop/{what}`
pub(crate) async fn drop(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    Path(what): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let target = match what.as_str() {
        "publisher" => Target::Publisher,
        "subscriber" => Target::Subscriber,
        "client" => Target::Client,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "use /control/drop/publisher, /control/drop/subscriber or /control/drop/client",
            ))
        }
    };
    auth::authorize(&state, &headers)?;
    let (Some(app), Some(name)) = (q.get("app"), q.get("name")) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "app and name are required",
        ));
    };
    let key = stream_key(app, name)?;
    let addr = q.get("addr").map(String::as_str);
    let client_id: Option<u64> = match q.get("clientid") {
        None => None,
        Some(v) => Some(v.parse().map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("invalid clientid {v:?}"))
        })?),
    };
    let hub = &state.ctx.hub;
    let publisher = hub.stream(&key).and_then(|s| s.publisher);
    let mut dropped = 0u32;
    for c in hub.clients().list() {
        if c.stream.as_ref() != Some(&key) {
            continue;
        }
        let is_publisher = publisher == Some(c.id);
        let role_ok = match target {
            Target::Publisher => is_publisher,
            Target::Subscriber => c.role == Some(Role::Play),
            Target::Client => true,
        };
        let addr_ok = addr.is_none_or(|a| a == c.addr.ip().to_string() || a == c.addr.to_string());
        let id_ok = client_id.is_none_or(|id| id == c.id);
        if role_ok && addr_ok && id_ok && hub.clients().kick(c.id) {
            if is_publisher {
                hub.kick_publisher(&key);
            }
            dropped += 1;
        }
    }
    tracing::info!(stream = %key, ?target, dropped, "control drop");
    Ok(([(header::CONTENT_TYPE, "text/plain")], dropped.to_string()).into_response())
}
