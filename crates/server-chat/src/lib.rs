//! The chat adapter: live chat (danmaku) rooms over WebSocket, one room per
//! stream, driving the sans-IO [`weir_chat::Room`].
//!
//! Routes ([`ChatServer::router`], merged by the app into the HTTP
//! listener):
//!
//! * `GET /chat/{app}/{stream}`: the WebSocket endpoint (protocol in
//!   `docs/chat.md`).
//! * `GET /api/v1/chat/endpoint?app=&stream=`: the WebSocket URL a client
//!   should use; on one node this server, as the request's `Host` names it.
//! * `GET /api/v1/chat`: rooms and counters.
//! * `POST /api/v1/chat/token` `{app, stream, user, ttl_secs}`: a join
//!   token, for rooms that need one (behind the app's [`Authorizer`]).
//! * `GET /api/v1/chat/{app}/{stream}`: a room's members; `POST .../mute`
//!   `{user, minutes}`, `POST .../kick` `{user}`, `DELETE
//!   .../messages/{id}`: moderation, behind the app's [`Authorizer`].
//! * `GET /chat.js`: the browser client (`WeirChat.attach({...})`), and
//!   `GET /chat.css`: its styles, which it links itself.
//!
//! # Design
//!
//! * **Serialize once, share the bytes.** A broadcast is one JSON encoding
//!   made by the room; it becomes one [`Utf8Bytes`](axum::extract::ws::Utf8Bytes)
//!   whose clones (reference counts) go to every member.
//! * **Bounded per-member queues, nobody waits.** Fan-out `try_send`s into
//!   each member's queue under the room lock (so every member sees one
//!   order); a full queue means the member cannot keep up, and it is closed
//!   with 4001 "too slow" instead of slowing the room. Each member's writer
//!   task drains its queue in batches and flushes once per batch.
//! * **Silence closes.** A connection that sends nothing (no `ping`, no
//!   WebSocket ping, no chat) for the heartbeat timeout is closed with
//!   4000; the client is expected to ping every 10 s.
//! * **Token rooms have a door.** With [`Config::tokens`], a connection is
//!   no member until a `join` with a valid token (a [`weir_chat::Gate`]
//!   checks it under the same rate limit members have); it gets no
//!   broadcasts and does not count.
//! * **Limit hits are logged, not flooded.** Rate-limit and length
//!   refusals and limit closes (room full, too big, too slow, flooding)
//!   are logged at most once per peer address per minute, with the count
//!   of the hits in between.
//! * **Clusters through a relay.** With a [`Relay`] attached
//!   ([`ChatServer::with_relay`]) the server shares its rooms with other
//!   nodes' chat servers: what it broadcasts (chat messages, joins and
//!   leaves, moderation) goes out as a [`RelayMsg`], what other nodes sent
//!   comes in through [`ChatServer::deliver`], member counts add the other
//!   nodes' members, and a room opening here first fills its history from
//!   the relay. The relay is the app's (Redis pub/sub); this crate never
//!   sees the transport, and without a relay nothing changes.
//! * **The hub is only asked.** A tick task polls [`weir_hub::Hub::is_live`]
//!   for each room once a second and broadcasts live/offline and member
//!   count changes; the hub knows nothing of chat.

#![warn(missing_docs, unreachable_pub)]

mod api;
mod conn;
mod metrics;
mod rooms;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::Router;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use weir_hub::Hub;
use weir_media::StreamKey;

pub use metrics::{ChatMetrics, MetricsSnapshot};
pub use weir_chat::{
    ChatConfig, ConfigError, RelayError, RelayEvent, RelayMsg, Rules, TokenKey, MAX_TOKEN_TTL_SECS,
};

/// A future the relay answers later with, boxed so that [`Relay`] stays
/// object safe.
pub type RelayFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a chat server shares its rooms with other nodes' chat servers (the
/// app implements it over Redis pub/sub; tests over channels).
///
/// `open`, `close` and `send` are called with the server's room registry
/// or a room locked (that keeps one order per room): they must return at
/// once and must not call back into the [`ChatServer`].
pub trait Relay: Send + Sync + 'static {
    /// The node has a room now (a member is joining): start receiving its
    /// messages from other nodes, and hand them to
    /// [`ChatServer::deliver`]. Calls for one room alternate with
    /// [`Relay::close`].
    fn open(&self, room: &StreamKey);
    /// The node's last member of `room` left: stop receiving.
    fn close(&self, room: &StreamKey);
    /// Sends `msg` (a [`RelayMsg`]'s bytes) to the other nodes that have
    /// `room` open, in the order of the calls. Never blocks: queue or drop.
    fn send(&self, room: &StreamKey, msg: Bytes);
    /// Members of `room` on the other nodes, as last heard (from a
    /// snapshot of their [`ChatServer::room_counts`]; 0 when unknown).
    fn remote_members(&self, room: &StreamKey) -> usize;
    /// Whether the relay reaches the other nodes now (false: Redis is down;
    /// the API and the logs say so and local chat goes on).
    fn connected(&self) -> bool;
    /// The room's recent shared history, oldest first: the messages sent
    /// for it whose [`RelayMsg::kept`] is true (chat messages, deletes,
    /// mutes; keeping the last few hundred is plenty), for a room this
    /// node opens. The server waits for it at most [`HISTORY_WAIT`].
    fn history(&self, room: &StreamKey) -> RelayFuture<Vec<Bytes>>;
    /// For the endpoint API: the WebSocket base URL (`ws://10.0.0.2:8080`,
    /// `wss://chat-2.example.com`, optionally with a path prefix) of the
    /// least-loaded live node for `room`; `None`: this node.
    fn endpoint(&self, room: &StreamKey) -> Option<String>;
}

/// How long a room opening on this node waits for [`Relay::history`]
/// before its first member gets the history it has.
pub const HISTORY_WAIT: Duration = Duration::from_millis(500);

/// This node's share of message ids in a cluster: node `slot` of `slots`
/// hands out only ids equal to `slot` modulo `slots` (and guest names
/// `guest-{n}` likewise), so no two nodes with distinct slots ever use the
/// same id. Every node of a cluster must use the same `slots`. The default
/// (slot 0 of 1) is a server alone.
///
/// Ids start at the start time in ms × 1024 (so they grow across
/// restarts) and advance by `slots` per message: with 64 slots a restart
/// still gives larger ids unless the node accepted more than 16 messages
/// per millisecond on average since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSlot {
    /// This node's slot, below `slots`.
    pub slot: u32,
    /// Slots in the cluster, 1 to [`MAX_ID_SLOTS`].
    pub slots: u32,
}

/// Most id slots (nodes) a cluster can have.
pub const MAX_ID_SLOTS: u32 = 1024;

impl Default for IdSlot {
    fn default() -> Self {
        IdSlot { slot: 0, slots: 1 }
    }
}

/// Decides whether a request may moderate (mute, kick, delete): the app
/// supplies the same check its other mutating API calls use, so this crate
/// needs no knowledge of credentials.
pub type Authorizer = Arc<dyn Fn(&HeaderMap) -> bool + Send + Sync>;

/// Adapter settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Room rules: history, rate limit, text length, banned words, cap.
    pub chat: ChatConfig,
    /// A connection silent this long is closed (4000).
    pub heartbeat_timeout: Duration,
    /// Frames a member's queue holds; a member whose queue is full when a
    /// broadcast comes is closed as too slow (4001).
    pub send_queue: usize,
    /// How often rooms learn the stream's live state and announce member
    /// count changes.
    pub tick: Duration,
    /// Least time between two writes to one member: frames queued
    /// meanwhile go out together. Zero writes every frame at once; a few
    /// tens of ms cut the writes (and wakeups and packets) of a busy room
    /// several-fold for that much added latency. A frame after a quiet
    /// spell is never delayed.
    pub write_pacing: Duration,
    /// Join tokens: with a key, every room admits only connections that
    /// send a `join` with a token signed by it for their nickname
    /// (`docs/chat.md`); `None`: anyone may chat, as a guest or under a
    /// nickname of their choice.
    pub tokens: Option<TokenKey>,
    /// Base URL clients reach this server by (`https://chat.example.com`,
    /// optionally with a path prefix), from which the endpoint API builds
    /// the WebSocket URL (`wss://` for `https://`). `None`: the request's
    /// `Host`, checked to be a host name or address with an optional port,
    /// so a forged header can at most name another host, never inject a
    /// path, user info or a query into the URL.
    pub public_url: Option<String>,
    /// This node's share of message ids and guest names in a cluster (the
    /// app gets a distinct slot for each node); the default suits a server
    /// alone.
    pub id_slot: IdSlot,
}

impl Config {
    /// Checks the settings without starting anything (for `check-config`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        Rules::new(&self.chat)?;
        if self.heartbeat_timeout.is_zero() {
            return Err(ConfigError {
                field: "heartbeat_timeout_secs",
                problem: "must be positive",
            });
        }
        if let Some(url) = &self.public_url {
            if api::ws_base(url).is_none() {
                return Err(ConfigError {
                    field: "public_url",
                    problem: "must be http(s)://host[:port][/path] (or ws(s)://), without query or fragment",
                });
            }
        }
        if self.id_slot.slots == 0
            || self.id_slot.slots > MAX_ID_SLOTS
            || self.id_slot.slot >= self.id_slot.slots
        {
            return Err(ConfigError {
                field: "id_slot",
                problem: "slots must be 1 to 1024 and slot below slots",
            });
        }
        if self.send_queue < 4 {
            return Err(ConfigError {
                field: "send_queue",
                problem: "must be at least 4",
            });
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            chat: ChatConfig::default(),
            heartbeat_timeout: Duration::from_secs(30),
            send_queue: 256,
            tick: Duration::from_secs(1),
            write_pacing: Duration::from_millis(50),
            tokens: None,
            public_url: None,
            id_slot: IdSlot::default(),
        }
    }
}

/// The chat server: rooms, counters and the routes that serve them.
#[derive(Clone)]
pub struct ChatServer {
    shared: Arc<rooms::Shared>,
}

impl ChatServer {
    /// Builds the server and starts its tick task (so it must be called
    /// inside a tokio runtime); the task ends on `shutdown` or once the
    /// server and its routers are dropped. `authorize` guards moderation;
    /// `None` turns moderation off (403).
    pub fn new(
        hub: Hub,
        config: Config,
        shutdown: CancellationToken,
        authorize: Option<Authorizer>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let rules = Rules::new(&config.chat)?;
        let shared = Arc::new(rooms::Shared::new(hub, rules, config, shutdown, authorize));
        rooms::spawn_ticker(&shared);
        Ok(ChatServer { shared })
    }

    /// Attaches the relay that makes this server one of a cluster's chat
    /// servers (see [`Relay`]). Call it once, after [`ChatServer::new`] and
    /// before serving; rooms that exist already are opened on it. A second
    /// relay is ignored (and logged).
    pub fn with_relay(self, relay: Arc<dyn Relay>) -> Self {
        self.shared.attach(relay);
        self
    }

    /// A message another node sent for `room`: the bytes its server made
    /// ([`RelayMsg`]). Messages this server sent itself (echoed back by the
    /// transport) and messages for a room with nobody here are ignored.
    /// Corrupt, unknown or out-of-limits input is an `Err` (the app logs
    /// and counts it; nothing changed); never a panic.
    pub fn deliver(&self, room: &StreamKey, msg: &[u8]) -> Result<(), RelayError> {
        self.shared.deliver(room, msg)
    }

    /// Rooms with members on this node, and how many: what the app
    /// advertises to the other nodes so that their
    /// [`Relay::remote_members`] can answer.
    pub fn room_counts(&self) -> Vec<(StreamKey, usize)> {
        self.shared.room_counts()
    }

    /// Every room open on this node ([`Relay::open`] was called and not yet
    /// [`Relay::close`]): what the app subscribes again after the relay
    /// reconnects.
    pub fn open_rooms(&self) -> Vec<StreamKey> {
        self.shared
            .all_rooms()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }

    /// This server instance's relay id (random per run, in every
    /// [`RelayMsg::from`] it sends).
    pub fn relay_id(&self) -> u64 {
        self.shared.instance
    }

    /// Counters for `/metrics` and the API.
    pub fn metrics(&self) -> Arc<ChatMetrics> {
        self.shared.metrics.clone()
    }

    /// The routes, to merge into the HTTP listener's router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/chat/{app}/{stream}", get(conn::upgrade))
            .route("/chat.js", get(api::script))
            .route("/chat.css", get(api::stylesheet))
            .route("/api/v1/chat", get(api::summary))
            .route("/api/v1/chat/endpoint", get(api::endpoint))
            .route("/api/v1/chat/token", post(api::token))
            .route("/api/v1/chat/{app}/{stream}", get(api::room))
            .route("/api/v1/chat/{app}/{stream}/mute", post(api::mute))
            .route("/api/v1/chat/{app}/{stream}/kick", post(api::kick))
            .route(
                "/api/v1/chat/{app}/{stream}/messages/{id}",
                delete(api::delete_message),
            )
            .with_state(self.shared.clone())
    }
}
