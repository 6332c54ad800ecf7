//! Every HTTP viewer goes through the hub's access check
//! ([`weir_hub::Hub::admit`], which logs and counts refusals) before it is
//! served; a refused one gets 403.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weir_hub::{AccessRequest, Action, Admission, ClientHandle, ClientInfo, Hub, Role};
use weir_media::StreamKey;

/// An allowed viewer: listed in the client registry, and holding the
/// admission whose drop reports the end of its session (`on_stop`).
pub(crate) struct Admitted {
    pub(crate) client: ClientHandle,
    _admission: Admission,
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
    let client = hub.clients().register(ClientInfo {
        protocol,
        addr: peer,
        role: Some(Role::Play),
    });
    let req = AccessRequest {
        action: Action::Play,
        key: key.clone(),
        client_id: client.id(),
        addr: peer,
        protocol,
        query: query.unwrap_or_default().to_owned(),
    };
    match hub.admit(req).await {
        Ok(admission) => {
            client.set_stream(key.clone(), Role::Play);
            Ok(Admitted {
                client,
                _admission: admission,
            })
        }
        Err(denied) => {
            Err((StatusCode::FORBIDDEN, format!("access denied: {denied}\n")).into_response())
        }
    }
}
