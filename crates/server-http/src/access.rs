//! Every HTTP viewer goes through the hub's access check
//! ([`weir_hub::Hub::admit`], which logs and counts refusals) before it is
//! served; a refused one gets 403.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weir_hub::{Action, Admission, ClientHandle, Hub};
use weir_media::StreamKey;

/// An allowed viewer: listed in the client registry, and holding the
/// admission to subscribe with, whose drop reports the end of its session
/// (`on_stop`).
pub(crate) struct Admitted {
    pub(crate) client: ClientHandle,
    pub(crate) admission: Admission,
}

/// Registers a viewer of `key` and asks the gate; the 403 response if it
/// is refused.
pub(crate) async fn admit(
    hub: &Hub,
    key: &StreamKey,
    peer: SocketAddr,
    protocol: &'static str,
    query: Option<&str>,
) -> Result<Admitted, Response> {
    let query = query.unwrap_or_default();
    match hub
        .admit_new_client(peer, protocol, Action::Play, key, query)
        .await
    {
        Ok((client, admission)) => Ok(Admitted { client, admission }),
        Err(denied) => {
            Err((StatusCode::FORBIDDEN, format!("access denied: {denied}\n")).into_response())
        }
    }
}
