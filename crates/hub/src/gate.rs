//! Who may publish and play: the one access check every adapter goes
//! through.
//!
//! The hub does not know the policy (stream keys, signed URLs, IP lists,
//! HTTP callbacks live in the app's `weir-access`); it only defines the
//! question and holds the [`Gate`] that answers it, so RTMP, HTTP-FLV, HLS,
//! fMP4 and every later protocol ask the same thing the same way:
//! [`crate::Hub::admit`] before publishing or playing, and keep the returned
//! [`Admission`] for as long as the client publishes or plays. Dropping it
//! tells the gate the session ended (the `on_unpublish` / `on_stop`
//! notifications).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use weir_media::StreamKey;

/// What a client asks to do with a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send a stream in.
    Publish,
    /// Watch a stream.
    Play,
}

impl Action {
    /// `"publish"` or `"play"`, for logs and callback bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Play => "play",
        }
    }
}

/// Everything a policy may look at to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// Publish or play.
    pub action: Action,
    /// The stream.
    pub key: StreamKey,
    /// The client's id in the hub's client registry.
    pub client_id: u64,
    /// The peer's address.
    pub addr: SocketAddr,
    /// `"rtmp"`, `"http-flv"`, `"hls"`...
    pub protocol: &'static str,
    /// The raw query string the client gave with the stream name
    /// (`expires=...&sign=...`), without the `?`; empty if none.
    pub query: String,
}

/// A refusal, with the reason logged and (for HTTP) sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Denied {
    /// Why, in a few words ("bad signature", "callback said 403").
    pub reason: String,
}

impl Denied {
    /// A refusal for `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Denied {
            reason: reason.into(),
        }
    }
}

/// The future a [`Gate`] answers with.
pub type Verdict = Pin<Box<dyn Future<Output = Result<(), Denied>> + Send>>;

/// A connection-level event (RTMP `connect`), for the `on_connect`
/// notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectInfo {
    /// The client's id in the hub's client registry.
    pub client_id: u64,
    /// The peer's address.
    pub addr: SocketAddr,
    /// The protocol of the connection.
    pub protocol: &'static str,
    /// The application the client connected to.
    pub app: String,
    /// The URL the client says it connected to, if its protocol has one
    /// (RTMP's `tcUrl`, an RTSP request URL).
    pub url: Option<String>,
}

/// Decides publish and play requests and hears when sessions start and
/// end. Implementations must answer within a bounded time: a connection
/// waits for the verdict.
pub trait Gate: Send + Sync + 'static {
    /// Allows or refuses `req`.
    fn check(&self, req: &AccessRequest) -> Verdict;
    /// A client connected (fire and forget).
    fn connected(&self, info: &ConnectInfo);
    /// A session [`Gate::check`] allowed has ended (fire and forget).
    fn ended(&self, req: &AccessRequest);
    /// The stream keys that would let `req` through, for protocols whose
    /// credentials prove a password without sending it (RTSP Digest): the
    /// adapter finds the one a response proves and asks [`Gate::check`]
    /// with it as `key=`. None by default (Digest then cannot succeed;
    /// Basic, which sends the password, still can).
    fn password_keys(&self, _req: &AccessRequest) -> Vec<String> {
        Vec::new()
    }
}

/// The gate of a hub built without a policy: everything is allowed, no
/// notifications. Tests and embedders that do their own checks use it.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenGate;

impl Gate for OpenGate {
    fn check(&self, _req: &AccessRequest) -> Verdict {
        Box::pin(std::future::ready(Ok(())))
    }

    fn connected(&self, _info: &ConnectInfo) {}

    fn ended(&self, _req: &AccessRequest) {}
}

/// Proof that a publish or play was allowed; dropping it reports the end of
/// the session to the gate. Keep it as long as the client publishes or
/// plays.
///
/// Only [`crate::Hub::admit`] makes one, and [`crate::Hub::publish`],
/// [`crate::Hub::subscribe`] and [`crate::Egress::subscribe`] take one, so
/// an adapter that skips the access check does not compile.
pub struct Admission {
    /// The gate to tell when the session ends; `None` for the server's own
    /// readers, which the gate never saw.
    gate: Option<Arc<dyn Gate>>,
    req: AccessRequest,
}

impl Admission {
    pub(crate) fn new(gate: Arc<dyn Gate>, req: AccessRequest) -> Self {
        Admission {
            gate: Some(gate),
            req,
        }
    }

    /// An admission the gate never decided, for a reader inside the server.
    pub(crate) fn internal(req: AccessRequest) -> Self {
        Admission { gate: None, req }
    }

    /// The request that was allowed.
    pub fn request(&self) -> &AccessRequest {
        &self.req
    }

    /// The stream it admits to.
    pub fn key(&self) -> &StreamKey {
        &self.req.key
    }

    /// What it allows: publishing or playing.
    pub fn action(&self) -> Action {
        self.req.action
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(gate) = &self.gate {
            gate.ended(&self.req);
        }
    }
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission").field("req", &self.req).finish()
    }
}
