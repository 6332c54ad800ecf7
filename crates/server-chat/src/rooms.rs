//! The room registry: rooms by stream key, joining and leaving, fan-out
//! into members' bounded queues, and the tick that tells rooms about the
//! stream's state; with a relay, the cluster side: opening and closing
//! rooms on it, relaying broadcasts, applying what other nodes relayed.
//!
//! Lock order: the room map, then a room. Chat frames take only their
//! room's lock (a member holds its room's `Arc`), so rooms never wait for
//! each other.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use weir_chat::{
    CloseCode, ConnId, IdSource, Now, Refusal, RelayError, RelayEvent, RelayMsg, Room, Rules,
};
use weir_hub::Hub;
use weir_media::StreamKey;

use crate::metrics::ChatMetrics;
use crate::{Authorizer, Config, Relay, HISTORY_WAIT};

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

/// A room being opened: its cell, and the channel whose sender going
/// wakes the joiners waiting for its history.
type Opening = (Arc<RoomCell>, watch::Sender<()>);

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
    /// Connection ids advance by this (the id slot count), so that guest
    /// names are unique in a cluster too.
    conn_stride: u64,
    rooms: Mutex<HashMap<StreamKey, Arc<RoomCell>>>,
    origin: Instant,
    limit_log: weir_hub::LogThrottle,
    relay: OnceLock<Arc<dyn Relay>>,
    /// Rooms opened here whose first joiner still waits for the relay's
    /// history; later joiners wait for it too (the sender going wakes
    /// them). Locked after `rooms`.
    opening: Mutex<HashMap<StreamKey, Opening>>,
    /// The relay's state at the last tick, to log its changes.
    relay_up: AtomicBool,
    /// This instance's id in the relay messages it sends (random per run).
    pub(crate) instance: u64,
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
        let slot = config.id_slot;
        let conn_stride = u64::from(slot.slots.max(1));
        Shared {
            hub,
            rules: Arc::new(rules),
            config,
            metrics: Arc::new(ChatMetrics::default()),
            authorize,
            shutdown,
            // Larger than any id an earlier run handed out (see IdSource),
            // in this node's slot.
            ids: IdSource::for_node(
                start_ms.saturating_mul(1024),
                u64::from(slot.slot),
                u64::from(slot.slots),
            ),
            // slot + k × slots, from 1 on: `guest-1`, `guest-2`... alone.
            next_conn: AtomicU64::new(if slot.slot == 0 {
                conn_stride
            } else {
                u64::from(slot.slot)
            }),
            conn_stride,
            rooms: Mutex::new(HashMap::new()),
            origin,
            limit_log: weir_hub::LogThrottle::default(),
            relay: OnceLock::new(),
            opening: Mutex::new(HashMap::new()),
            relay_up: AtomicBool::new(true),
            instance: random_u64(),
        }
    }

    /// The relay, if one is attached.
    pub(crate) fn relay(&self) -> Option<&Arc<dyn Relay>> {
        self.relay.get()
    }

    /// Attaches the relay (once) and opens the rooms that exist already.
    pub(crate) fn attach(&self, relay: Arc<dyn Relay>) {
        let rooms = self.rooms.lock();
        if self.relay.set(relay.clone()).is_err() {
            tracing::warn!("chat: a relay is attached already; the second one is ignored");
            return;
        }
        if self.config.id_slot.slots == 1 {
            tracing::warn!(
                "chat relay attached without an id slot (config id_slot): \
                 message ids and guest names may collide between nodes"
            );
        }
        for key in rooms.keys() {
            relay.open(key);
        }
    }

    /// Relays a frame this node broadcast (chat, join, leave, mute,
    /// delete) to the other nodes. Called under the room's lock, so the
    /// relay gets one room's frames in the order members got them.
    pub(crate) fn relay_frame(&self, key: &StreamKey, frame: &Bytes) {
        if let Some(relay) = self.relay() {
            relay.send(key, RelayMsg::wrap(self.instance, frame));
            ChatMetrics::add(&self.metrics.relayed_out, 1);
        }
    }

    /// Sends a relay message made here (a kick, a mute of a name nobody
    /// here has) to the other nodes.
    pub(crate) fn relay_msg(&self, key: &StreamKey, event: RelayEvent) {
        if let Some(relay) = self.relay() {
            let msg = RelayMsg {
                from: self.instance,
                event,
            };
            relay.send(key, msg.encode());
            ChatMetrics::add(&self.metrics.relayed_out, 1);
        }
    }

    /// A new room for `key`, registered (the caller holds the registry)
    /// and opened on the relay.
    fn create_room(
        &self,
        rooms: &mut HashMap<StreamKey, Arc<RoomCell>>,
        key: &StreamKey,
    ) -> Arc<RoomCell> {
        let live = self.hub.is_live(key);
        let room = Room::new(key.to_string(), self.rules.clone(), self.ids.clone(), live);
        let cell = Arc::new(Mutex::new(room));
        rooms.insert(key.clone(), cell.clone());
        ChatMetrics::add(&self.metrics.rooms, 1);
        if let Some(relay) = self.relay() {
            relay.open(key);
        }
        cell
    }

    /// Drops the room of `key` from the registry (the caller holds it) and
    /// closes it on the relay.
    fn remove_room(&self, rooms: &mut HashMap<StreamKey, Arc<RoomCell>>, key: &StreamKey) {
        if rooms.remove(key).is_some() {
            ChatMetrics::sub(&self.metrics.rooms, 1);
            if let Some(relay) = self.relay() {
                relay.close(key);
            }
        }
    }

    /// [`Shared::join`], and with a relay, for a room not open here yet:
    /// open it first and wait (at most [`HISTORY_WAIT`]) for the history
    /// the other nodes published, so that the first member here gets it.
    /// Messages relayed meanwhile land in the (empty) room already; members
    /// arriving meanwhile wait for the history too.
    pub(crate) async fn enter(
        &self,
        key: &StreamKey,
        conn: ConnId,
        sink: Sink,
        nick: Option<&str>,
    ) -> Result<Arc<RoomCell>, Refusal> {
        let Some(relay) = self.relay().cloned() else {
            return self.join(key, conn, sink, nick, Vec::new());
        };
        let opened = {
            let mut rooms = self.rooms.lock();
            if rooms.contains_key(key) {
                Err(self.opening.lock().get(key).map(|(_, tx)| tx.subscribe()))
            } else {
                let cell = self.create_room(&mut rooms, key);
                let (tx, _) = watch::channel(());
                self.opening.lock().insert(key.clone(), (cell.clone(), tx));
                Ok(cell)
            }
        };
        let cell = match opened {
            Ok(cell) => cell,
            Err(None) => return self.join(key, conn, sink, nick, Vec::new()),
            Err(Some(mut seeding)) => {
                // Wakes when the opener has seeded the room (or gave up).
                let _ = tokio::time::timeout(HISTORY_WAIT, seeding.changed()).await;
                return self.join(key, conn, sink, nick, Vec::new());
            }
        };
        // Should this task end while it waits, the room it opened must not
        // stay open with nobody in it.
        let guard = EmptyRoomGuard {
            shared: self,
            key,
            cell: &cell,
        };
        let history = tokio::time::timeout(HISTORY_WAIT, relay.history(key))
            .await
            .unwrap_or_else(|_| {
                tracing::debug!(room = %key, "chat relay history: no answer in time");
                Vec::new()
            });
        let seed: Vec<RelayEvent> = history
            .iter()
            .filter_map(|m| match RelayMsg::decode(m) {
                Ok(m) => Some(m.event),
                Err(e) => {
                    ChatMetrics::add(&self.metrics.relay_errors, 1);
                    tracing::debug!(room = %key, error = %e, "chat relay history: bad entry skipped");
                    None
                }
            })
            .collect();
        let joined = self.join(key, conn, sink, nick, seed);
        drop(guard);
        joined
    }

    /// A message another node relayed for `key`.
    pub(crate) fn deliver(&self, key: &StreamKey, msg: &[u8]) -> Result<(), RelayError> {
        let msg = RelayMsg::decode(msg).inspect_err(|_| {
            ChatMetrics::add(&self.metrics.relay_errors, 1);
        })?;
        if msg.from == self.instance {
            return Ok(());
        }
        let Some(cell) = self.room(key) else {
            return Ok(());
        };
        let mut room = cell.lock();
        let out = room.apply(&msg.event, self.now()).inspect_err(|_| {
            ChatMetrics::add(&self.metrics.relay_errors, 1);
        })?;
        ChatMetrics::add(&self.metrics.relayed_in, 1);
        if let Some((conn, sink)) = out.kicked {
            sink.kill.close(CloseCode::Kicked);
            self.member_left();
            tracing::info!(room = %key, conn, "chat kick (relayed)");
        }
        if let Some(frame) = out.broadcast {
            self.fan_out(&room, frame);
        }
        if let Some(frame) = out.relay {
            self.relay_frame(key, &frame);
        }
        Ok(())
    }

    /// Rooms with members here, and how many.
    pub(crate) fn room_counts(&self) -> Vec<(StreamKey, usize)> {
        self.all_rooms()
            .into_iter()
            .filter_map(|(key, cell)| {
                let n = cell.lock().len();
                (n > 0).then_some((key, n))
            })
            .collect()
    }

    /// Members of `key` on the other nodes (0 without a relay).
    pub(crate) fn remote_members(&self, key: &StreamKey) -> usize {
        self.relay().map_or(0, |r| r.remote_members(key))
    }

    /// Both clocks, for the room.
    pub(crate) fn now(&self) -> Now {
        Now {
            wall_ms: wall_ms(),
            mono_ms: u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn next_conn(&self) -> ConnId {
        self.next_conn
            .fetch_add(self.conn_stride, Ordering::Relaxed)
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
        seed: Vec<RelayEvent>,
    ) -> Result<Arc<RoomCell>, Refusal> {
        let now = self.now();
        let remote = self.remote_members(key);
        let mut rooms = self.rooms.lock();
        let cell = match rooms.get(key) {
            Some(cell) => cell.clone(),
            None => self.create_room(&mut rooms, key),
        };
        let mut room = cell.lock();
        if !seed.is_empty() {
            room.seed(seed, now);
        }
        room.set_remote_members(remote);
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
                    self.relay_frame(key, &joined);
                    self.fan_out(&room, joined);
                }
                drop(room);
                Ok(cell)
            }
            Err(refusal) => {
                let empty = room.is_empty();
                drop(room);
                if empty {
                    self.remove_room(&mut rooms, key);
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
                self.relay_frame(key, &frame);
                self.fan_out(&room, frame);
            }
        }
        if room.is_empty() && rooms.get(key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            self.remove_room(&mut rooms, key);
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
        if let Some(relay) = self.relay() {
            let up = relay.connected();
            if self.relay_up.swap(up, Ordering::Relaxed) != up {
                if up {
                    tracing::info!(
                        "chat relay connected: rooms are shared with the other nodes again"
                    );
                } else {
                    tracing::warn!(
                        "chat relay disconnected: rooms serve this node's members only until it is back"
                    );
                }
            }
        }
        let now = self.now();
        for (key, cell) in self.all_rooms() {
            let live = self.hub.is_live(&key);
            let remote = self.remote_members(&key);
            let mut room = cell.lock();
            room.set_remote_members(remote);
            for frame in room.tick(live, now) {
                self.fan_out(&room, frame);
            }
        }
    }
}

/// Ends the opening of a room (waking the joiners that wait for its
/// history) and removes the room if it is still empty when the guard goes
/// (the joiner's task ended while it waited, or was refused).
struct EmptyRoomGuard<'a> {
    shared: &'a Shared,
    key: &'a StreamKey,
    cell: &'a Arc<RoomCell>,
}

impl Drop for EmptyRoomGuard<'_> {
    fn drop(&mut self) {
        let mut rooms = self.shared.rooms.lock();
        let current = rooms
            .get(self.key)
            .is_some_and(|c| Arc::ptr_eq(c, self.cell));
        if current && self.cell.lock().is_empty() {
            self.shared.remove_room(&mut rooms, self.key);
        }
        let mut opening = self.shared.opening.lock();
        if opening
            .get(self.key)
            .is_some_and(|(c, _)| Arc::ptr_eq(c, self.cell))
        {
            opening.remove(self.key);
        }
    }
}

/// A random number without a random-number crate: the standard library
/// seeds every `RandomState` from the OS.
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(wall_ms());
    h.finish()
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
