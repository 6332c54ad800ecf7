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
//! * **The hub is only asked.** A tick task polls [`weir_hub::Hub::is_live`]
//!   for each room once a second and broadcasts live/offline and member
//!   count changes; the hub knows nothing of chat.

#![warn(missing_docs, unreachable_pub)]

mod api;
mod conn;
mod metrics;
mod rooms;

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;
use weir_hub::Hub;

pub use metrics::{ChatMetrics, MetricsSnapshot};
pub use weir_chat::{ChatConfig, ConfigError, Rules, TokenKey, MAX_TOKEN_TTL_SECS};

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
