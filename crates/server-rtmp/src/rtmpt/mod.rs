//! RTMPT: RTMP sessions tunnelled through HTTP POST requests, served as
//! routes the app merges into the HTTP listener.
//!
//! Each session is one more [`Transport`]: a bounded in-memory pipe
//! (`tokio::io::duplex`) whose one end the ordinary connection loop
//! (`conn::serve`) reads and writes as it would a socket — the same
//! session, admission, limits, callbacks and client list, with protocol
//! `"rtmpt"` (`"rtmpts"` on an HTTPS listener) — and whose other end the
//! handlers here feed with `send` bodies and drain into answers. The
//! rules without IO (paths, sequence numbers, the interval byte) are in
//! [`weir_rtmp::rtmpt`].
//!
//! Bounds: a session takes a place in the RTMP connection limits (total
//! and per address), so the table never holds more than
//! `max_connections` sessions; a session nobody polls for
//! `idle_timeout` closes (its connection ends, callbacks fire); the pipe
//! holds at most `buffer_bytes` each way, so a player whose client polls
//! too slowly stalls and is dropped by the write timeout like a slow TCP
//! player; a POST body over `max_body_bytes` is refused with 413 before
//! it is read.

mod tunnel;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tracing::{debug, warn};
use weir_netio::Slot;
use weir_rtmp::rtmpt::{parse_path, session_id, Command, CONTENT_TYPE};

use crate::transport::Transport;
use crate::Shared;
use tunnel::{Exchange, Tunnel};

/// The tunnel's state, shared by its routes.
pub(crate) struct Rtmpt {
    shared: Arc<Shared>,
    /// `"rtmpt"`, or `"rtmpts"` on an HTTPS listener.
    protocol: &'static str,
    sessions: Mutex<HashMap<String, Arc<Tunnel>>>,
    limits: tunnel::Limits,
}

/// Builds the routes (see [`crate::RtmpServer::rtmpt_routes`]).
pub(crate) fn routes(shared: Arc<Shared>, https: bool) -> Router {
    let cfg = &shared.config.rtmpt;
    let max_body = cfg.max_body_bytes;
    let state = Arc::new(Rtmpt {
        limits: tunnel::Limits {
            max_reply: cfg.buffer_bytes,
            hold: cfg.hold,
            write_timeout: shared.config.player_write_timeout,
        },
        protocol: if https { "rtmpts" } else { "rtmpt" },
        sessions: Mutex::default(),
        shared,
    });
    Router::new()
        .route("/fcs/ident2", post(request))
        .route("/open/1", post(request))
        .route("/send/{session}/{seq}", post(request))
        .route("/idle/{session}/{seq}", post(request))
        .route("/close/{session}/{seq}", post(request))
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
}

/// Every RTMPT request: the path says what it is.
async fn request(
    State(rt): State<Arc<Rtmpt>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let req = match parse_path(uri.path()) {
        Ok(req) => req,
        // A malformed id names no session; a malformed number is a bad
        // request.
        Err(weir_rtmp::error::RtmptError::SessionId(_)) => return unknown(&rt, peer),
        Err(e) => return refuse(&rt, peer, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match req.command {
        // weir is no FCS edge; Flash goes on to open a session.
        Command::Ident => StatusCode::NOT_FOUND.into_response(),
        Command::Open => open(&rt, peer),
        Command::Send | Command::Idle => {
            let Some(tunnel) = rt.find(req.session) else {
                return unknown(&rt, peer);
            };
            let data: &[u8] = if req.command == Command::Send {
                &body
            } else {
                // An idle poll's one-byte body carries nothing.
                &[]
            };
            match tunnel.exchange(req.seq, data, &rt.limits).await {
                Exchange::Reply(bytes) => fcs(bytes),
                Exchange::OutOfOrder(e) => {
                    refuse(&rt, peer, StatusCode::BAD_REQUEST, &e.to_string())
                }
                Exchange::Gone => {
                    rt.forget(req.session, &tunnel);
                    unknown(&rt, peer)
                }
            }
        }
        Command::Close => {
            let Some(tunnel) = rt.find(req.session) else {
                return unknown(&rt, peer);
            };
            tunnel.close().await;
            rt.forget(req.session, &tunnel);
            fcs(vec![0])
        }
    }
}

impl Rtmpt {
    fn find(&self, id: &str) -> Option<Arc<Tunnel>> {
        self.sessions().get(id).cloned()
    }

    /// Removes `id` if it still names `tunnel`.
    fn forget(&self, id: &str, tunnel: &Arc<Tunnel>) {
        let mut sessions = self.sessions();
        if sessions.get(id).is_some_and(|t| Arc::ptr_eq(t, tunnel)) {
            sessions.remove(id);
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Tunnel>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `/open/1`: a place in the RTMP limits, a pipe, a connection task, and
/// the new id (the body, with a newline, and no interval byte).
fn open(rt: &Arc<Rtmpt>, peer: SocketAddr) -> Response {
    let slot = match rt.shared.limit.try_acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(hit) => {
            let clients = rt.shared.hub.clients();
            if clients.report(rt.protocol, hit.as_str(), peer.ip()) {
                warn!(%peer, limit = hit.as_str(), "{} session refused (logged once a minute per peer)", rt.protocol);
            }
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let (ours, theirs) = tokio::io::duplex(rt.shared.config.rtmpt.buffer_bytes);
    let tunnel = Arc::new(Tunnel::new(ours));
    let id = {
        let mut sessions = rt.sessions();
        loop {
            let id = session_id(rand::random());
            if !sessions.contains_key(&id) {
                sessions.insert(id.clone(), tunnel.clone());
                break id;
            }
        }
    };
    debug!(%peer, session = %id, protocol = rt.protocol, "rtmpt open");
    tokio::spawn(session(rt.clone(), id.clone(), tunnel, theirs, peer, slot));
    fcs(format!("{id}\n").into_bytes())
}

/// Runs a session's RTMP connection to its end, closing it when the
/// client stops polling, then removes it from the table.
async fn session(
    rt: Arc<Rtmpt>,
    id: String,
    tunnel: Arc<Tunnel>,
    pipe: tokio::io::DuplexStream,
    peer: SocketAddr,
    slot: Slot,
) {
    let idle = rt.shared.config.rtmpt.idle_timeout;
    let transport = Transport::Tunnel {
        pipe,
        protocol: rt.protocol,
    };
    // The RTMP handshake runs inside the tunnel, under the same deadline
    // as on a socket.
    let deadline = tokio::time::Instant::now() + rt.shared.config.handshake_timeout;
    let serve = crate::conn::serve(transport, peer, rt.shared.clone(), deadline);
    tokio::pin!(serve);
    loop {
        let at = tunnel.expires_at(idle);
        tokio::select! {
            () = &mut serve => break,
            () = tokio::time::sleep_until(at) => {
                if tunnel.expires_at(idle) > tokio::time::Instant::now() {
                    continue;
                }
                let clients = rt.shared.hub.clients();
                if clients.report(rt.protocol, "idle_timeout", peer.ip()) {
                    debug!(%peer, session = %id, "rtmpt session expired (logged once a minute per peer)");
                }
                tunnel.close().await;
                // The connection reads the end of its stream and ends.
                (&mut serve).await;
                break;
            }
        }
    }
    tunnel.closed.cancel();
    rt.forget(&id, &tunnel);
    drop(slot);
}

/// A 200 answer with an RTMPT body.
fn fcs(body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONNECTION, "Keep-Alive"),
        ],
        body,
    )
        .into_response()
}

/// 404 for a session id the table does not hold (never opened, closed or
/// expired), counted.
fn unknown(rt: &Rtmpt, peer: SocketAddr) -> Response {
    rt.shared
        .hub
        .clients()
        .report(rt.protocol, "unknown_session", peer.ip());
    StatusCode::NOT_FOUND.into_response()
}

/// A refused request, counted, logged once a minute per peer.
fn refuse(rt: &Rtmpt, peer: SocketAddr, status: StatusCode, why: &str) -> Response {
    if rt
        .shared
        .hub
        .clients()
        .report(rt.protocol, "bad_request", peer.ip())
    {
        warn!(%peer, error = %why, "{} request refused (logged once a minute per peer)", rt.protocol);
    }
    (status, why.to_owned()).into_response()
}
