//! One chat room: its members (each with the adapter's sink), the history
//! ring, mutes, and the rules applied to every frame a member sends.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use crate::config::Rules;
use crate::error::{ChatError, CloseCode, ModError};
use crate::limit::TokenBucket;
use crate::protocol::{parse_client, ClientMsg, ServerEvent};
use crate::relay::{RelayError, RelayEvent, MAX_RELAY_USER};
use crate::text::{name_key, normalize_text, validate_nick, GUEST_PREFIX};

/// Identifies a connection; the adapter allocates them, unique per server.
pub type ConnId = u64;

/// The current time, as the caller's clocks tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Wall clock, unix milliseconds: for timestamps users see and mutes.
    pub wall_ms: u64,
    /// Monotonic milliseconds (any origin): for rate limits, so a wall
    /// clock step cannot lock chat out or open the floodgates.
    pub mono_ms: u64,
}

/// Message ids, shared by every room of a server so that an id names one
/// message server-wide — and, with [`IdSource::for_node`], cluster-wide.
///
/// Start it at something larger than any id handed out before (e.g. the
/// start time in ms times 1024) so that a client that reconnects after a
/// restart never mistakes a new message for one it already has; ids stay
/// below 2^53 (exact in JavaScript) for centuries that way.
///
/// In a cluster every node takes its own slot out of the same number of
/// slots: node `slot` of `slots` hands out only ids `≡ slot (mod slots)`,
/// so two nodes never hand out the same id, whenever they started.
#[derive(Debug, Clone)]
pub struct IdSource {
    next: Arc<AtomicU64>,
    stride: u64,
}

impl IdSource {
    /// Ids from `first` on, one apart.
    pub fn new(first: u64) -> Self {
        IdSource {
            next: Arc::new(AtomicU64::new(first)),
            stride: 1,
        }
    }

    /// Node `slot` of `slots` (a cluster whose nodes have distinct slots):
    /// ids from about `first` on that are `slot` modulo `slots`, `slots`
    /// apart. `slots` 0 counts as 1 and `slot` is taken modulo `slots`;
    /// `for_node(first, 0, 1)` is [`IdSource::new`].
    pub fn for_node(first: u64, slot: u64, slots: u64) -> Self {
        let slots = slots.max(1);
        let base = first.div_ceil(slots).saturating_mul(slots);
        IdSource {
            next: Arc::new(AtomicU64::new(base.saturating_add(slot % slots))),
            stride: slots,
        }
    }

    /// The next id.
    pub fn next(&self) -> u64 {
        self.next.fetch_add(self.stride, Ordering::Relaxed)
    }
}

/// Most mutes a room remembers; mutes come from authorized moderators, but
/// memory stays bounded whatever they do. The soonest-ending go first.
const MAX_MUTES: usize = 10_000;
/// Longest mute, in minutes (a week).
pub const MAX_MUTE_MINUTES: u64 = 7 * 24 * 60;

/// The name a moderator means by `user`, trimmed; refused when it cannot
/// be anybody's (empty, longer than [`MAX_RELAY_USER`] characters, control
/// characters). For actions on a name that may be on another node.
pub fn moderated_name(user: &str) -> Result<&str, ModError> {
    let name = user.trim();
    if name.is_empty()
        || name.chars().nth(MAX_RELAY_USER).is_some()
        || name.chars().any(char::is_control)
    {
        return Err(ModError::BadName(user.to_owned()));
    }
    Ok(name)
}

/// The end of a mute of `minutes` from `now` (wall ms; 0 for 0 minutes,
/// which lifts a mute), refused beyond [`MAX_MUTE_MINUTES`].
pub fn mute_until(minutes: u64, now: Now) -> Result<u64, ModError> {
    if minutes > MAX_MUTE_MINUTES {
        return Err(ModError::MuteTooLong {
            minutes,
            max: MAX_MUTE_MINUTES,
        });
    }
    Ok(if minutes == 0 {
        0
    } else {
        now.wall_ms.saturating_add(minutes * 60_000)
    })
}

/// What the adapter must do after a member's frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    /// Send this to the member only.
    pub reply: Option<Bytes>,
    /// Send this to every member (the sender included).
    pub broadcast: Option<Bytes>,
    /// Close the member's connection with this code.
    pub close: Option<CloseCode>,
    /// The frame was refused with this error code (the reply is the
    /// `error` event), for the adapter's counters.
    pub refused: Option<&'static str>,
    /// The frame was a chat message, accepted under this id (the broadcast
    /// carries it).
    pub chat_id: Option<u64>,
}

impl Action {
    fn reply(b: Bytes) -> Self {
        Action {
            reply: Some(b),
            ..Action::default()
        }
    }
}

/// The first frames for a new member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The `welcome` event.
    pub welcome: Bytes,
    /// The `history` event (possibly with no messages).
    pub history: Bytes,
    /// For a connection admitted under a nickname
    /// ([`Room::connect_named`]): the `join` event to broadcast.
    pub joined: Option<Bytes>,
}

/// Why [`Room::connect_named`] did not admit a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Close the connection (the room is full).
    Close(CloseCode),
    /// The nickname is not acceptable (rules, taken): tell the client, who
    /// may try another.
    Nick(ChatError),
}

/// A member, as the moderation API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberInfo {
    /// Connection id.
    pub id: ConnId,
    /// Current name.
    pub user: String,
    /// Chose a nickname (false: still a guest).
    pub named: bool,
    /// When it connected, unix ms.
    pub joined: u64,
    /// Chat messages it got accepted.
    pub messages: u64,
    /// End of its mute, unix ms, if muted.
    pub muted_until: Option<u64>,
}

struct Member<T> {
    sink: T,
    nick: String,
    named: bool,
    spoke: bool,
    bucket: TokenBucket,
    /// Rate-limited frames since the last accepted one.
    strikes: u32,
    joined: u64,
    messages: u64,
}

/// One room: everyone connected to one stream's chat.
pub struct Room<T> {
    name: String,
    rules: Arc<Rules>,
    ids: IdSource,
    members: HashMap<ConnId, Member<T>>,
    /// Lowercased name → connection, guests included: names are unique.
    names: HashMap<String, ConnId>,
    /// Lowercased name → end of mute (wall ms).
    mutes: HashMap<String, u64>,
    history: VecDeque<(u64, Bytes)>,
    /// The `history` frame for joiners, built once per history change.
    history_frame: Option<Bytes>,
    live: bool,
    announced: usize,
    /// Members of this room on other nodes, as the adapter last heard.
    remote: usize,
}

/// What the adapter must do after a relayed event ([`Room::apply`]).
#[derive(Debug)]
pub struct Relayed<T> {
    /// Send this to every member here.
    pub broadcast: Option<Bytes>,
    /// A member here removed by a relayed kick: close its connection with
    /// [`CloseCode::Kicked`].
    pub kicked: Option<(ConnId, T)>,
    /// Relay this frame to the other nodes (the `leave` of a member kicked
    /// here).
    pub relay: Option<Bytes>,
}

impl<T> Default for Relayed<T> {
    fn default() -> Self {
        Relayed {
            broadcast: None,
            kicked: None,
            relay: None,
        }
    }
}

impl<T> Room<T> {
    /// An empty room named `name` (`app/stream`). `live` is the stream's
    /// state now; later changes come through [`Room::tick`].
    pub fn new(name: impl Into<String>, rules: Arc<Rules>, ids: IdSource, live: bool) -> Self {
        Room {
            name: name.into(),
            rules,
            ids,
            members: HashMap::new(),
            names: HashMap::new(),
            mutes: HashMap::new(),
            history: VecDeque::new(),
            history_frame: None,
            live,
            announced: 0,
            remote: 0,
        }
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connections in the room.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Nobody is connected; the adapter drops such rooms.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Sets how many members the room has on other nodes: `welcome` and
    /// `members` events count them with the local ones.
    pub fn set_remote_members(&mut self, n: usize) {
        self.remote = n;
    }

    /// Members on other nodes, as last set.
    pub fn remote_members(&self) -> usize {
        self.remote
    }

    /// Members here and on other nodes: the count members are told.
    pub fn cluster_len(&self) -> usize {
        self.members.len().saturating_add(self.remote)
    }

    /// The stream's state as last seen.
    pub fn live(&self) -> bool {
        self.live
    }

    /// Every member's sink, for fan-out.
    pub fn sinks(&self) -> impl Iterator<Item = (ConnId, &T)> + '_ {
        self.members.iter().map(|(id, m)| (*id, &m.sink))
    }

    /// Adds a connection under a generated guest name. Refused with
    /// [`CloseCode::RoomFull`] at `max_members` (the sink is dropped).
    pub fn connect(&mut self, conn: ConnId, sink: T, now: Now) -> Result<Greeting, CloseCode> {
        if self.members.len() >= self.rules.max_members {
            return Err(CloseCode::RoomFull);
        }
        let nick = format!("{GUEST_PREFIX}{conn}");
        if let Some(old) = self.members.remove(&conn) {
            self.names.remove(&name_key(&old.nick));
        }
        self.names.insert(name_key(&nick), conn);
        let r = &self.rules;
        self.members.insert(
            conn,
            Member {
                sink,
                nick,
                named: false,
                spoke: false,
                bucket: TokenBucket::new(r.rate_per_sec, r.burst, now.mono_ms),
                strikes: 0,
                joined: now.wall_ms,
                messages: 0,
            },
        );
        Ok(Greeting {
            welcome: self.welcome(conn),
            history: self.history_frame(),
            joined: None,
        })
    }

    /// Adds a connection under `nick` at once, as a named member: for rooms
    /// that admit only users with a join token, where the token names the
    /// user. The nickname rules and uniqueness apply as for `join`.
    pub fn connect_named(
        &mut self,
        conn: ConnId,
        sink: T,
        nick: &str,
        now: Now,
    ) -> Result<Greeting, Refusal> {
        let nick = validate_nick(nick, &self.rules.banned).map_err(Refusal::Nick)?;
        let key = name_key(&nick);
        if self.names.get(&key).is_some_and(|&other| other != conn) {
            return Err(Refusal::Nick(ChatError::NickTaken(nick)));
        }
        let mut greeting = self.connect(conn, sink, now).map_err(Refusal::Close)?;
        let joined = match self.join(conn, &nick, now) {
            Ok(joined) => joined,
            Err(e) => {
                self.disconnect(conn, now);
                return Err(Refusal::Nick(e));
            }
        };
        greeting.welcome = joined.reply.unwrap_or(greeting.welcome);
        greeting.joined = joined.broadcast;
        Ok(greeting)
    }

    /// Removes a connection. Returns its sink and, for a named member, the
    /// `leave` event to broadcast. `None` if it was not a member (kicked).
    pub fn disconnect(&mut self, conn: ConnId, now: Now) -> Option<(T, Option<Bytes>)> {
        let m = self.members.remove(&conn)?;
        self.names.remove(&name_key(&m.nick));
        let leave = m.named.then(|| {
            ServerEvent::Leave {
                user: &m.nick,
                reason: None,
                ts: now.wall_ms,
            }
            .encode()
        });
        Some((m.sink, leave))
    }

    /// Applies one frame from `conn`: the rules, then the message.
    pub fn handle(&mut self, conn: ConnId, frame: &[u8], now: Now) -> Action {
        if !self.members.contains_key(&conn) {
            return Action::default();
        }
        let parsed = parse_client(frame, self.rules.max_frame());
        // Everything but pings costs a token, refused frames included, so
        // that garbage cannot be sent faster than chat.
        if parsed != Ok(ClientMsg::Ping) {
            if let Some(refused) = self.charge(conn, now) {
                return refused;
            }
        }
        let result = match parsed {
            Ok(ClientMsg::Ping) => Ok(Action::reply(
                ServerEvent::Pong { ts: now.wall_ms }.encode(),
            )),
            Ok(ClientMsg::Chat { text }) => self.chat(conn, &text, now),
            Ok(ClientMsg::Join { nick, .. }) => self.join(conn, &nick, now),
            Err(e) => Err(e),
        };
        result.unwrap_or_else(|e| Action {
            refused: Some(e.code()),
            ..Action::reply(ServerEvent::error(&e))
        })
    }

    /// Takes a token from `conn`'s bucket; `Some` is the answer when there
    /// is none: an error event, or a close once the member keeps going.
    fn charge(&mut self, conn: ConnId, now: Now) -> Option<Action> {
        let flood_limit = self.rules.flood_limit();
        let m = self.members.get_mut(&conn)?;
        match m.bucket.try_take(now.mono_ms) {
            Ok(()) => {
                m.strikes = 0;
                None
            }
            Err(retry_ms) => {
                m.strikes = m.strikes.saturating_add(1);
                Some(if m.strikes >= flood_limit {
                    Action {
                        close: Some(CloseCode::Flooding),
                        ..Action::default()
                    }
                } else {
                    let err = ChatError::RateLimited { retry_ms };
                    Action {
                        refused: Some(err.code()),
                        ..Action::reply(ServerEvent::error(&err))
                    }
                })
            }
        }
    }

    fn chat(&mut self, conn: ConnId, text: &str, now: Now) -> Result<Action, ChatError> {
        let Some(m) = self.members.get_mut(&conn) else {
            return Ok(Action::default());
        };
        let key = name_key(&m.nick);
        if let Some(&until) = self.mutes.get(&key) {
            if until > now.wall_ms {
                return Err(ChatError::Muted { until_ms: until });
            }
            self.mutes.remove(&key);
        }
        let text = normalize_text(text, self.rules.max_text)?;
        if self.rules.banned.matches(&text) {
            return Err(ChatError::BannedWord);
        }
        let id = self.ids.next();
        let frame = ServerEvent::Chat {
            id,
            user: &m.nick,
            text: &text,
            ts: now.wall_ms,
        }
        .encode();
        m.spoke = true;
        m.messages += 1;
        if self.rules.history > 0 {
            if self.history.len() >= self.rules.history {
                self.history.pop_front();
            }
            self.history.push_back((id, frame.clone()));
            self.history_frame = None;
        }
        Ok(Action {
            broadcast: Some(frame),
            chat_id: Some(id),
            ..Action::default()
        })
    }

    fn join(&mut self, conn: ConnId, nick: &str, now: Now) -> Result<Action, ChatError> {
        let nick = validate_nick(nick, &self.rules.banned)?;
        let key = name_key(&nick);
        let Some(m) = self.members.get_mut(&conn) else {
            return Ok(Action::default());
        };
        if m.named || m.spoke {
            return Err(ChatError::AlreadyJoined(m.nick.clone()));
        }
        if self.names.get(&key).is_some_and(|&other| other != conn) {
            return Err(ChatError::NickTaken(nick));
        }
        self.names.remove(&name_key(&m.nick));
        self.names.insert(key, conn);
        m.nick = nick;
        m.named = true;
        let broadcast = ServerEvent::Join {
            user: &m.nick,
            ts: now.wall_ms,
        }
        .encode();
        Ok(Action {
            reply: Some(self.welcome(conn)),
            broadcast: Some(broadcast),
            ..Action::default()
        })
    }

    /// Once a second or so: the stream's live state (as the hub says) and
    /// the member count, as events to broadcast when they changed; expired
    /// mutes are forgotten.
    pub fn tick(&mut self, live: bool, now: Now) -> Vec<Bytes> {
        let mut out = Vec::new();
        if live != self.live {
            self.live = live;
            out.push(
                ServerEvent::Stream {
                    live,
                    ts: now.wall_ms,
                }
                .encode(),
            );
        }
        if self.cluster_len() != self.announced {
            self.announced = self.cluster_len();
            out.push(
                ServerEvent::Members {
                    count: self.announced,
                }
                .encode(),
            );
        }
        self.mutes.retain(|_, until| *until > now.wall_ms);
        out
    }

    /// Everyone in the room, by connection id.
    pub fn members(&self, now: Now) -> Vec<MemberInfo> {
        let mut list: Vec<MemberInfo> = self
            .members
            .iter()
            .map(|(id, m)| MemberInfo {
                id: *id,
                user: m.nick.clone(),
                named: m.named,
                joined: m.joined,
                messages: m.messages,
                muted_until: self
                    .mutes
                    .get(&name_key(&m.nick))
                    .copied()
                    .filter(|until| *until > now.wall_ms),
            })
            .collect();
        list.sort_by_key(|m| m.id);
        list
    }

    /// Mutes `user` (a name in the room) for `minutes`; 0 lifts a mute.
    /// The mute sticks to the name, so it outlives a reconnect under the
    /// same nickname. Returns the end of the mute (wall ms, 0 when lifted)
    /// and the `mute` event to broadcast.
    pub fn mute(&mut self, user: &str, minutes: u64, now: Now) -> Result<(u64, Bytes), ModError> {
        let key = name_key(user.trim());
        if !self
            .names
            .get(&key)
            .is_some_and(|c| self.members.contains_key(c))
        {
            return Err(ModError::NoSuchUser(user.to_owned()));
        }
        self.mute_name(user, minutes, now)
    }

    /// Mutes the name `user` for `minutes` (0 lifts a mute) whether or not
    /// anyone here has it: in a cluster the user may be on another node,
    /// and the mute must stop them here too should they come. Like
    /// [`Room::mute`] otherwise; the event names the member's nickname if
    /// one here has the name, else `user` trimmed.
    pub fn mute_name(
        &mut self,
        user: &str,
        minutes: u64,
        now: Now,
    ) -> Result<(u64, Bytes), ModError> {
        let until = mute_until(minutes, now)?;
        let name = moderated_name(user)?;
        let key = name_key(name);
        let nick = self
            .names
            .get(&key)
            .and_then(|c| self.members.get(c))
            .map_or_else(|| name.to_owned(), |m| m.nick.clone());
        self.set_mute(key, until);
        Ok((until, ServerEvent::Mute { user: &nick, until }.encode()))
    }

    /// Records a mute of the name with `key` until `until` (0: lifted),
    /// forgetting the soonest-ending mute when the table is full.
    fn set_mute(&mut self, key: String, until: u64) {
        if until == 0 {
            self.mutes.remove(&key);
            return;
        }
        if self.mutes.len() >= MAX_MUTES && !self.mutes.contains_key(&key) {
            let soonest = self
                .mutes
                .iter()
                .min_by_key(|(_, u)| **u)
                .map(|(k, _)| k.clone());
            if let Some(k) = soonest {
                self.mutes.remove(&k);
            }
        }
        self.mutes.insert(key, until);
    }

    /// Removes `user` from the room. Returns its connection id and sink
    /// (the adapter closes it with [`CloseCode::Kicked`]) and the `leave`
    /// event to broadcast.
    pub fn kick(&mut self, user: &str, now: Now) -> Result<(ConnId, T, Bytes), ModError> {
        let key = name_key(user.trim());
        let Some(&conn) = self.names.get(&key) else {
            return Err(ModError::NoSuchUser(user.to_owned()));
        };
        let Some(m) = self.members.remove(&conn) else {
            return Err(ModError::NoSuchUser(user.to_owned()));
        };
        self.names.remove(&key);
        let leave = ServerEvent::Leave {
            user: &m.nick,
            reason: Some("kicked"),
            ts: now.wall_ms,
        }
        .encode();
        Ok((conn, m.sink, leave))
    }

    /// Deletes message `id` from the history. Returns the `delete` event to
    /// broadcast (clients that show it remove it).
    pub fn delete(&mut self, id: u64) -> Result<Bytes, ModError> {
        let Some(pos) = self.history.iter().position(|(i, _)| *i == id) else {
            return Err(ModError::NoSuchMessage(id));
        };
        self.history.remove(pos);
        self.history_frame = None;
        Ok(ServerEvent::Delete { id }.encode())
    }

    /// Applies an event another node relayed (see [`crate::RelayMsg`]):
    /// a chat message joins the history (once: an id already there is
    /// ignored) and goes to every member; joins, leaves, mutes and deletes
    /// act here as they did there; a kick closes the member here that has
    /// the name, if any, and its `leave` is to be relayed back. `Err` for
    /// an event this room's rules refuse (a text longer than `max_text`);
    /// nothing has changed then.
    pub fn apply(&mut self, event: &RelayEvent, now: Now) -> Result<Relayed<T>, RelayError> {
        let broadcast = |b: Bytes| Relayed {
            broadcast: Some(b),
            ..Relayed::default()
        };
        Ok(match event {
            RelayEvent::Chat { id, user, text, ts } => match self.remember(*id, user, text, *ts)? {
                Some(frame) => broadcast(frame),
                None => Relayed::default(),
            },
            RelayEvent::Join { user, ts } => {
                broadcast(ServerEvent::Join { user, ts: *ts }.encode())
            }
            RelayEvent::Leave { user, kicked, ts } => broadcast(
                ServerEvent::Leave {
                    user,
                    reason: kicked.then_some("kicked"),
                    ts: *ts,
                }
                .encode(),
            ),
            RelayEvent::Mute { user, until } => {
                let until = self.relayed_mute(user, *until, now);
                broadcast(ServerEvent::Mute { user, until }.encode())
            }
            RelayEvent::Kick { user } => match self.kick(user, now) {
                Ok((conn, sink, leave)) => Relayed {
                    broadcast: Some(leave.clone()),
                    kicked: Some((conn, sink)),
                    relay: Some(leave),
                },
                Err(_) => Relayed::default(),
            },
            RelayEvent::Delete { id } => {
                if let Some(pos) = self.history.iter().position(|(i, _)| i == id) {
                    self.history.remove(pos);
                    self.history_frame = None;
                }
                // Members may show it even when the history no longer has
                // it: tell them anyway.
                broadcast(ServerEvent::Delete { id: *id }.encode())
            }
        })
    }

    /// Fills the history of a room this node just opened with what the
    /// other nodes published (oldest first, as [`crate::RelayMsg::kept`]
    /// selects them): chat messages, and the deletes and mutes that came
    /// after them. They go before anything relayed since the room opened
    /// (which is newer), ids already here are skipped, the history keeps
    /// its limit, and nothing is broadcast. Events the rules refuse are
    /// skipped; joins, leaves and kicks are ignored.
    pub fn seed(&mut self, events: impl IntoIterator<Item = RelayEvent>, now: Now) {
        let mut newer = std::mem::take(&mut self.history);
        for event in events {
            match event {
                RelayEvent::Chat { id, user, text, ts } => {
                    if !newer.iter().any(|(i, _)| *i == id) {
                        let _ = self.remember(id, &user, &text, ts);
                    }
                }
                RelayEvent::Delete { id } => {
                    self.history.retain(|(i, _)| *i != id);
                    newer.retain(|(i, _)| *i != id);
                }
                RelayEvent::Mute { user, until } => {
                    self.relayed_mute(&user, until, now);
                }
                RelayEvent::Join { .. } | RelayEvent::Leave { .. } | RelayEvent::Kick { .. } => {}
            }
        }
        self.history.extend(newer);
        while self.history.len() > self.rules.history {
            self.history.pop_front();
        }
        self.history_frame = None;
    }

    /// Puts a chat message from another node into the history; returns its
    /// frame, or `None` if the id is already there.
    fn remember(
        &mut self,
        id: u64,
        user: &str,
        text: &str,
        ts: u64,
    ) -> Result<Option<Bytes>, RelayError> {
        if text.chars().nth(self.rules.max_text).is_some() {
            return Err(RelayError::Field {
                field: "text",
                problem: "longer than this node's max_text",
            });
        }
        if self.history.iter().any(|(i, _)| *i == id) {
            return Ok(None);
        }
        let frame = ServerEvent::Chat { id, user, text, ts }.encode();
        if self.rules.history > 0 {
            if self.history.len() >= self.rules.history {
                self.history.pop_front();
            }
            self.history.push_back((id, frame.clone()));
            self.history_frame = None;
        }
        Ok(Some(frame))
    }

    /// Applies a mute another node decided: at most a week from now (a
    /// node with a clock ahead cannot mute for longer); an end already
    /// passed lifts it. Returns the end recorded (0: none).
    fn relayed_mute(&mut self, user: &str, until: u64, now: Now) -> u64 {
        let longest = now.wall_ms.saturating_add(MAX_MUTE_MINUTES * 60_000);
        let until = if until > now.wall_ms {
            until.min(longest)
        } else {
            0
        };
        self.set_mute(name_key(user), until);
        until
    }

    /// Ids of the messages in the history, oldest first.
    pub fn history_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.history.iter().map(|(id, _)| *id)
    }

    fn welcome(&self, conn: ConnId) -> Bytes {
        let user = self.members.get(&conn).map_or("", |m| m.nick.as_str());
        ServerEvent::Welcome {
            user,
            room: &self.name,
            members: self.cluster_len(),
            live: self.live,
            max_text: self.rules.max_text,
        }
        .encode()
    }

    /// `{"type":"history","messages":[...]}` from the stored chat frames,
    /// by concatenation (they are already JSON objects).
    fn history_frame(&mut self) -> Bytes {
        if let Some(frame) = &self.history_frame {
            return frame.clone();
        }
        const HEAD: &[u8] = br#"{"type":"history","messages":["#;
        let body: usize = self.history.iter().map(|(_, b)| b.len() + 1).sum();
        let mut v = Vec::with_capacity(HEAD.len() + body + 2);
        v.extend_from_slice(HEAD);
        for (i, (_, b)) in self.history.iter().enumerate() {
            if i > 0 {
                v.push(b',');
            }
            v.extend_from_slice(b);
        }
        v.extend_from_slice(b"]}");
        let frame = Bytes::from(v);
        self.history_frame = Some(frame.clone());
        frame
    }
}
