//! The room registry: rooms by stream key, joining and leaving, fan-out
//! into members' bounded queues, and the tick that tells rooms about the
//! stream's state.
//!
//! Lock order: the room map, then a room. Chat frames take only their
//! room's lock (a member holds its room's `Arc`), so rooms never wait for
//! each other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use weir_chat::{CloseCode, ConnId, IdSource, Now, Refusal, Room, Rules};
use weir_hub::Hub;
use weir_media::StreamKey;

use crate::metrics::ChatMetrics;
use crate::{Authorizer, Config};

/// A room behind its lock.
pub(crate) type RoomCell = Mutex<Room<Sink>>;

/// How the room reaches a member: its bounded queue, and the switch that
/// closes it.
pub(crate) struct Sink {
    pub(crate) tx: mpsc::Sender<Utf8Bytes>,
    pub(crate) kill: Arc<Kill>,
}

/// Closes a connection from anywhere: the first reason wins and is what
/// the client sees in the close frame.
#[derive(Default)]
pub(crate) struct Kill {
    pub(crate) token: CancellationToken,
    reason: OnceLock<CloseCode>,
}

impl Kill {
    /// Asks the connection to close with `code`; true the first time.
    pub(crate) fn close(&self, code: CloseCode) -> bool {
        let first = self.reason.set(code).is_ok();
        self.token.cancel();
        first
    }

    /// The reason given, if any (none: the peer left by itself).
    pub(crate) fn reason(&self) -> Option<CloseCode> {
        self.reason.get().copied()
    }
}

/// State every handler and the tick task share.
pub(crate) struct Shared {
    pub(crate) hub: Hub,
    pub(crate) rules: Arc<Rules>,
    pub(crate) config: Config,
    pub(crate) metrics: Arc<ChatMetrics>,
    pub(crate) authorize: Option<Authorizer>,
    pub(crate) shutdown: CancellationToken,
    ids: IdSource,
    next_conn: AtomicU64,
    rooms: Mutex<HashMap<StreamKey, Arc<RoomCell>>>,
    origin: Instant,
    limit_log: weir_hub::LogThrottle,
}

impl Shared {
    pub(crate) fn new(
        hub: Hub,
        rules: Rules,
        config: Config,
        shutdown: CancellationToken,
        authorize: Option<Authorizer>,
    ) -> Self {
        let origin = Instant::now();
        let start_ms = wall_ms();
        Shared {
            hub,
            rules: Arc::new(rules),
            config,
            metrics: Arc::new(ChatMetrics::default()),
            authorize,
            shutdown,
            // Larger than any id an earlier run handed out (see IdSource).
            ids: IdSource::new(start_ms.saturating_mul(1024)),
            next_conn: AtomicU64::new(1),
            rooms: Mutex::new(HashMap::new()),
            origin,
            limit_log: weir_hub::LogThrottle::default(),
        }
    }

    /// Both clocks, for the room.
    pub(crate) fn now(&self) -> Now {
        Now {
            wall_ms: wall_ms(),
            mono_ms: u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn next_conn(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The room of `key`, if anyone is in it.
    pub(crate) fn room(&self, key: &StreamKey) -> Option<Arc<RoomCell>> {
        self.rooms.lock().get(key).cloned()
    }

    /// Every room, for the API and the tick.
    pub(crate) fn all_rooms(&self) -> Vec<(StreamKey, Arc<RoomCell>)> {
        let rooms = self.rooms.lock();
        rooms.iter().map(|(k, r)| (k.clone(), r.clone())).collect()
    }

    /// Logs that `peer` hit a limit (`what`: an error code or a close
    /// reason) in `room`, at most once per peer per minute.
    pub(crate) fn limit_hit(&self, peer: std::net::IpAddr, room: &StreamKey, what: &str) {
        if let Some(suppressed) = self.limit_log.hit(peer, "chat", "limit", Instant::now()) {
            tracing::info!(
                %peer,
                %room,
                limit = what,
                suppressed,
                "chat limit hit (one line per peer per minute; suppressed = hits since the last)"
            );
        }
    }

    /// Puts `conn` into the room of `key` (creating it), under a guest name
    /// or, for a connection with a join token, under `nick`, and queues its
    /// welcome and history before any broadcast can reach it.
    pub(crate) fn join(
        &self,
        key: &StreamKey,
        conn: ConnId,
        sink: Sink,
        nick: Option<&str>,
    ) -> Result<Arc<RoomCell>, Refusal> {
        let now = self.now();
        let mut rooms = self.rooms.lock();
        let cell = match rooms.get(key) {
            Some(cell) => cell.clone(),
            None => {
                let live = self.hub.is_live(key);
                let room = Room::new(key.to_string(), self.rules.clone(), self.ids.clone(), live);
                let cell = Arc::new(Mutex::new(room));
                rooms.insert(key.clone(), cell.clone());
                ChatMetrics::add(&self.metrics.rooms, 1);
                cell
            }
        };
        let mut room = cell.lock();
        let tx = sink.tx.clone();
        let result = match nick {
            None => room.connect(conn, sink, now).map_err(Refusal::Close),
            Some(nick) => room.connect_named(conn, sink, nick, now),
        };
        match result {
            Ok(greeting) => {
                // A fresh queue has room for both (Config::validate:
                // send_queue >= 4).
                for frame in [greeting.welcome, greeting.history] {
                    if let Some(text) = utf8(frame) {
                        let _ = tx.try_send(text);
                    }
                }
                ChatMetrics::add(&self.metrics.members, 1);
                ChatMetrics::add(&self.metrics.connections, 1);
                if let Some(joined) = greeting.joined {
                    self.fan_out(&room, joined);
                }
                drop(room);
                Ok(cell)
            }
            Err(refusal) => {
                let empty = room.is_empty();
                drop(room);
                if empty {
                    rooms.remove(key);
                    ChatMetrics::sub(&self.metrics.rooms, 1);
                }
                Err(refusal)
            }
        }
    }

    /// Takes `conn` out of its room (announcing a named member's leave) and
    /// drops the room once it is empty.
    pub(crate) fn leave(&self, key: &StreamKey, cell: &Arc<RoomCell>, conn: ConnId) {
        let now = self.now();
        let mut rooms = self.rooms.lock();
        let mut room = cell.lock();
        if let Some((_sink, leave)) = room.disconnect(conn, now) {
            ChatMetrics::sub(&self.metrics.members, 1);
            if let Some(frame) = leave {
                self.fan_out(&room, frame);
            }
        }
        if room.is_empty() && rooms.get(key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            rooms.remove(key);
            ChatMetrics::sub(&self.metrics.rooms, 1);
        }
    }

    /// Queues `frame` for every member of `room` (the caller holds its
    /// lock, which keeps one order for everyone). A member whose queue is
    /// full is closed as too slow; nobody waits.
    pub(crate) fn fan_out(&self, room: &Room<Sink>, frame: Bytes) {
        let Some(text) = utf8(frame) else { return };
        let mut sent = 0u64;
        let mut dropped = 0u64;
        for (_, sink) in room.sinks() {
            match sink.tx.try_send(text.clone()) {
                Ok(()) => sent += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if sink.kill.close(CloseCode::TooSlow) {
                        dropped += 1;
                    }
                }
                // The connection is ending; it leaves the room shortly.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        ChatMetrics::add(&self.metrics.messages_out, sent);
        if dropped > 0 {
            ChatMetrics::add(&self.metrics.dropped, dropped);
        }
    }

    /// A member left its room without [`Shared::leave`] (kicked).
    pub(crate) fn member_left(&self) {
        ChatMetrics::sub(&self.metrics.members, 1);
    }

    /// Tells every room the stream's state and lets it announce changes.
    fn tick(&self) {
        let now = self.now();
        for (key, cell) in self.all_rooms() {
            let live = self.hub.is_live(&key);
            let mut room = cell.lock();
            for frame in room.tick(live, now) {
                self.fan_out(&room, frame);
            }
        }
    }
}

/// Starts the task that ticks every room once per `config.tick`.
pub(crate) fn spawn_ticker(shared: &Arc<Shared>) {
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let period = shared.config.tick;
    let shutdown = shared.shutdown.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            match weak.upgrade() {
                Some(shared) => shared.tick(),
                None => return,
            }
        }
    });
}

/// A room's JSON frame as a WebSocket text payload (checked once here, then
/// shared by every recipient).
pub(crate) fn utf8(frame: Bytes) -> Option<Utf8Bytes> {
    Utf8Bytes::try_from(frame).ok()
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
