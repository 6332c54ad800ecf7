//! Several weir nodes acting as one server, coordinated through Redis.
//!
//! - **Membership**: every node writes a heartbeat (its id, how to reach
//!   it, its load, the streams it publishes, its chat rooms) every
//!   `heartbeat_secs` with a TTL of `ttl_secs`; a node that dies vanishes
//!   when its heartbeat expires.
//! - **Stream directory**: a node with an encoder registers `stream →
//!   node` (same TTL, renewed by each beat). The later publisher of a key
//!   wins across nodes as takeover does on one: the loser finds its entry
//!   taken at its next beat and drops its publisher.
//! - **Edges pull on demand**: for every stream another node publishes,
//!   this node keeps an on-demand RTMP pull from that node (started by its
//!   first viewer, stopped after its last; the app runs it through
//!   `weir-pull`, [`Hooks::pull`]). When the stream moves to another
//!   node the pull is retargeted and its viewers stay.
//! - **Bus**: channels between nodes over Redis pub/sub, for chat rooms.
//! - **Endpoints and API**: `GET /api/v1/play/endpoint`, `GET
//!   /api/v1/cluster` ([`Cluster::viewer_routes`],
//!   [`Cluster::operator_routes`]).
//!
//! Redis is the only coordinator; nothing here votes or gossips. When
//! Redis is away each node serves what it has (local publishers and
//! viewers, pulls already running, local chat) and keeps trying; within
//! one beat of its return everything is registered again. What lives in
//! Redis is listed in [`store`](crate::store)'s documentation and in
//! `docs/cluster.md`.

#![warn(missing_docs, unreachable_pub)]

mod api;
mod bus;
mod config;
pub mod directory;
mod error;
mod load;
pub mod node;
mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use redis::aio::ConnectionManager;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use weir_hub::Hub;
use weir_media::StreamKey;

pub use bus::{BusStats, Deliver, MAX_MESSAGE};
pub use config::{redact, valid_authority, valid_node_id, ClusterConfig, MAX_NODE_ID};
use directory::{EdgePlan, Owner, PullAction};
pub use error::ClusterError;
use load::LoadMeter;
use node::{NodeInfo, OwnedStream, RoomLoad, BEAT_VERSION, MAX_LISTED};
use store::{Claim, Keys};

/// The hub client protocol of an RTMP pull (`weir_pull::RTMP_PROTOCOL`):
/// a stream published by one of this node's edge pulls is not an origin.
pub const PULL_PROTOCOL: &str = "rtmp-pull";

/// What the cluster asks of the rest of the server (the app implements it
/// over `weir-pull` and the chat server).
pub trait Hooks: Send + Sync + 'static {
    /// Pull `key` on demand from `url` (another node's RTMP URL), or pull
    /// it from `url` from now on if it is pulled already. False when it
    /// cannot (a configured pull of that stream exists).
    fn pull(&self, key: &StreamKey, url: &str) -> bool;
    /// Stop pulling `key` (its viewers see the stream end).
    fn unpull(&self, key: &StreamKey);
    /// Chat rooms with members on this node, and how many.
    fn chat_rooms(&self) -> Vec<(StreamKey, usize)>;
    /// A bus message another node sent on `channel`.
    fn deliver(&self, channel: &str, payload: Bytes);
}

/// How clients and other nodes reach this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// RTMP `host:port`.
    pub rtmp: String,
    /// HTTP `host:port`.
    pub http: String,
}

/// The cluster's figures, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Redis answered the last beat and the bus is subscribed.
    pub connected: bool,
    /// Live nodes at the last read, this one included.
    pub nodes: usize,
    /// Streams in the directory.
    pub streams: usize,
    /// Streams this node pulls from their origins.
    pub edge_pulls: usize,
    /// Heartbeats ignored at the last read because they were malformed.
    pub corrupt_heartbeats: usize,
    /// Bus messages published.
    pub bus_sent: u64,
    /// Bus messages received from other nodes.
    pub bus_received: u64,
    /// Bus messages dropped (queue full, Redis away, too large).
    pub bus_dropped: u64,
    /// Bus messages received malformed.
    pub bus_malformed: u64,
}

/// The cluster as this node sees it.
#[derive(Debug, Clone, Default)]
struct View {
    /// Live nodes from the last read, this one included once it beat.
    nodes: Vec<NodeInfo>,
    /// Stream → the node that publishes it.
    owners: HashMap<StreamKey, Owner>,
    /// This node's edge pulls: stream and origin URL.
    pulls: Vec<(StreamKey, String)>,
    /// The last beat and read reached Redis.
    connected: bool,
    /// Why the last one did not.
    last_error: Option<String>,
    /// Heartbeats that failed to parse at the last read.
    bad_beats: usize,
}

/// Handle to the node's cluster membership; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
}

struct Shared {
    cfg: ClusterConfig,
    node_id: String,
    advertised: Advertised,
    hub: Hub,
    keys: Keys,
    client: Option<redis::Client>,
    conn: Mutex<Option<ConnectionManager>>,
    hooks: OnceLock<Arc<dyn Hooks>>,
    bus: OnceLock<bus::Bus>,
    view: RwLock<View>,
    started_ms: u64,
    /// The chat id slot this node holds, once claimed.
    slot: OnceLock<u32>,
    beat_now: Notify,
    shutdown: CancellationToken,
    done: tokio_util::task::TaskTracker,
}

impl Cluster {
    /// Checks `cfg` and, with a Redis URL, starts beating (call inside a
    /// tokio runtime); without one the node is a cluster of one, for the
    /// endpoint API. Redis need not be up: the node keeps trying.
    pub fn start(
        hub: Hub,
        cfg: ClusterConfig,
        node_id: String,
        advertised: Advertised,
        shutdown: CancellationToken,
    ) -> Result<Cluster, ClusterError> {
        cfg.check()?;
        if !valid_node_id(&node_id) {
            return Err(ClusterError::BadSetting {
                field: "node_id",
                problem: format!("{node_id:?} is not a valid node id"),
            });
        }
        for (field, v) in [
            ("advertise_rtmp", &advertised.rtmp),
            ("advertise_http", &advertised.http),
        ] {
            if !valid_authority(v) {
                return Err(ClusterError::BadSetting {
                    field,
                    problem: format!("{v:?} is not host:port"),
                });
            }
        }
        let client = if cfg.enabled() {
            Some(redis::Client::open(cfg.redis.as_str())?)
        } else {
            None
        };
        let cluster = Cluster {
            shared: Arc::new(Shared {
                keys: Keys::new(&cfg.prefix),
                cfg,
                node_id,
                advertised,
                hub,
                client,
                conn: Mutex::new(None),
                hooks: OnceLock::new(),
                bus: OnceLock::new(),
                view: RwLock::new(View::default()),
                started_ms: unix_ms(),
                slot: OnceLock::new(),
                beat_now: Notify::new(),
                shutdown,
                done: tokio_util::task::TaskTracker::new(),
            }),
        };
        Ok(cluster)
    }

    /// Gives the cluster its hooks and starts its tasks (once; later calls
    /// do nothing).
    pub fn run(&self, hooks: Arc<dyn Hooks>) {
        if self.shared.hooks.set(hooks.clone()).is_err() {
            return;
        }
        let Some(client) = self.shared.client.clone() else {
            return;
        };
        let deliver: Deliver = Arc::new(move |ch: &str, payload: Bytes| hooks.deliver(ch, payload));
        let bus = bus::Bus::start(
            client,
            self.shared.node_id.clone(),
            self.shared.keys.clone(),
            deliver,
            self.shared.shutdown.clone(),
        );
        let _ = self.shared.bus.set(bus);
        tracing::info!(
            node = %self.shared.node_id,
            redis = %redact(&self.shared.cfg.redis),
            rtmp = %self.shared.advertised.rtmp,
            http = %self.shared.advertised.http,
            "cluster: joining"
        );
        self.shared.done.spawn(beats(self.shared.clone()));
    }

    /// This node's chat id slot among `slots`: no two live nodes hold the
    /// same one, so their message ids never collide. Claimed in Redis
    /// (kept by the heartbeat), starting at a hash of the node id; when
    /// Redis does not answer within 3 s, that hash (and a warning: ids
    /// of two nodes may then meet). Call once, before the chat starts.
    pub async fn claim_slot(&self, slots: u32) -> u32 {
        let slots = slots.max(1);
        let first = fnv1a(self.shared.node_id.as_bytes()) % slots;
        let Some(client) = &self.shared.client else {
            return 0;
        };
        let ttl_ms = u64::try_from(self.shared.cfg.ttl().as_millis()).unwrap_or(u64::MAX);
        let claimed = async {
            let mut conn = connect(client).await?;
            let slot = store::claim_slot(
                &mut conn,
                &self.shared.keys,
                &self.shared.node_id,
                first,
                slots,
                ttl_ms,
            )
            .await?;
            *self.shared.conn.lock() = Some(conn);
            Ok::<_, ClusterError>(slot)
        };
        let slot = match tokio::time::timeout(bus::IO_TIMEOUT, claimed).await {
            Ok(Ok(Some(slot))) => slot,
            Ok(Ok(None)) => {
                tracing::warn!(
                    slots,
                    "cluster: every chat id slot is taken; using the node id's hash"
                );
                first
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cluster: Redis is not reachable at start; chat ids use the node id's hash slot");
                first
            }
            Err(_) => {
                tracing::warn!(
                    "cluster: Redis did not answer at start; chat ids use the node id's hash slot"
                );
                first
            }
        };
        let _ = self.shared.slot.set(slot);
        slot
    }

    /// Whether a Redis URL is configured.
    pub fn enabled(&self) -> bool {
        self.shared.client.is_some()
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    /// Whether Redis answered the last beat and the bus is subscribed.
    pub fn connected(&self) -> bool {
        self.enabled()
            && self.shared.view.read().connected
            && self.shared.bus.get().is_some_and(|b| b.connected())
    }

    /// Live nodes as of the last read (alone: this node only).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let view = self.shared.view.read();
        if view.nodes.iter().any(|n| n.node == self.shared.node_id) {
            view.nodes.clone()
        } else {
            let mut nodes = view.nodes.clone();
            nodes.push(self.local_info());
            nodes.sort_by(|a, b| a.node.cmp(&b.node));
            nodes
        }
    }

    /// The node that publishes `key`, if a live node does (this one
    /// included).
    pub fn owner(&self, key: &StreamKey) -> Option<String> {
        if self.is_local_origin(key) {
            return Some(self.shared.node_id.clone());
        }
        self.shared
            .view
            .read()
            .owners
            .get(key)
            .map(|o| o.node.clone())
    }

    fn is_local_origin(&self, key: &StreamKey) -> bool {
        let pulled = self.shared.view.read().pulls.iter().any(|(k, _)| k == key);
        local_origin(&self.shared.hub, key, pulled).is_some()
    }

    /// Members of chat room `key` on the other nodes, as their last beats
    /// said.
    pub fn room_members_elsewhere(&self, key: &StreamKey) -> usize {
        let room = key.to_string();
        self.shared
            .view
            .read()
            .nodes
            .iter()
            .filter(|n| n.node != self.shared.node_id)
            .map(|n| n.room_members(&room))
            .sum()
    }

    /// The WebSocket base (`ws://host:port`) of the node with the fewest
    /// chat members (then connections), or `None` when that is this node
    /// (or the node runs alone).
    pub fn chat_endpoint(&self) -> Option<String> {
        let view = self.shared.view.read();
        let best = view
            .nodes
            .iter()
            .min_by_key(|n| (n.chat_members, n.connections, n.node.clone()))?;
        (best.node != self.shared.node_id).then(|| format!("ws://{}", best.http))
    }

    /// Starts receiving `channel` from the other nodes.
    pub fn open(&self, channel: &str) {
        if let Some(bus) = self.shared.bus.get() {
            bus.open(channel);
        }
    }

    /// Stops receiving `channel`.
    pub fn close(&self, channel: &str) {
        if let Some(bus) = self.shared.bus.get() {
            bus.close(channel);
        }
    }

    /// Sends `payload` to the other nodes that have `channel` open (never
    /// waits; dropped and counted when Redis is away), and with `keep`,
    /// appends it to that capped list as well (for history).
    pub fn publish(&self, channel: &str, payload: &[u8], keep: Option<(&str, usize)>) {
        if let Some(bus) = self.shared.bus.get() {
            bus.publish(channel, payload, keep);
        }
    }

    /// The entries of a capped list `publish` kept, oldest first (empty
    /// when alone or when Redis does not answer within 3 s).
    pub async fn list(&self, name: &str) -> Vec<Bytes> {
        let Some(bus) = self.shared.bus.get() else {
            return Vec::new();
        };
        let conn = self.shared.conn.lock().clone();
        bus.list(conn, name).await
    }

    /// Figures for `/metrics`.
    pub fn stats(&self) -> ClusterStats {
        let view = self.shared.view.read();
        let load = |f: fn(&BusStats) -> &std::sync::atomic::AtomicU64| {
            self.shared.bus.get().map_or(0, |b| {
                f(&b.stats).load(std::sync::atomic::Ordering::Relaxed)
            })
        };
        ClusterStats {
            connected: self.connected(),
            nodes: view.nodes.len(),
            streams: view.owners.len(),
            edge_pulls: view.pulls.len(),
            corrupt_heartbeats: view.bad_beats,
            bus_sent: load(|s| &s.sent),
            bus_received: load(|s| &s.received),
            bus_dropped: load(|s| &s.dropped),
            bus_malformed: load(|s| &s.malformed),
        }
    }

    /// The bus's counters (zero when alone).
    pub fn bus_stats(&self) -> Option<Arc<BusStats>> {
        self.shared.bus.get().map(|b| b.stats.clone())
    }

    /// Waits, after the shutdown token was cancelled, until the node left
    /// the cluster (heartbeat and directory entries removed, bounded).
    pub async fn wait(&self) {
        self.shared.done.close();
        self.shared.done.wait().await;
    }

    fn local_info(&self) -> NodeInfo {
        NodeInfo {
            v: BEAT_VERSION,
            node: self.shared.node_id.clone(),
            rtmp: self.shared.advertised.rtmp.clone(),
            http: self.shared.advertised.http.clone(),
            connections: self.shared.hub.clients().count(),
            viewers: 0,
            chat_members: 0,
            egress_mbps: 0.0,
            cpu: 0.0,
            started_ms: self.shared.started_ms,
            beat_ms: unix_ms(),
            streams: Vec::new(),
            rooms: Vec::new(),
        }
    }
}

/// When `key`'s publisher started (unix ms) if this node is its origin:
/// it is live here and not through one of this node's edge pulls.
fn local_origin(hub: &Hub, key: &StreamKey, pulled: bool) -> Option<u64> {
    let info = hub.stream(key)?;
    origin_since(hub, &info, pulled)
}

fn origin_since(hub: &Hub, info: &weir_hub::StreamInfo, pulled: bool) -> Option<u64> {
    if !info.live {
        return None;
    }
    let publisher = info.publisher?;
    if pulled
        && hub
            .clients()
            .get(publisher)
            .is_some_and(|c| c.protocol == PULL_PROTOCOL)
    {
        return None;
    }
    Some(info.started_at.map_or(0, system_ms))
}

/// FNV-1a: a stable hash of the node id (the same on every node and
/// every run, unlike std's).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn system_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unix_ms() -> u64 {
    store::unix_ms()
}

/// Connects a Redis connection manager (it reconnects by itself later).
pub(crate) async fn connect(client: &redis::Client) -> Result<ConnectionManager, ClusterError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(bus::IO_TIMEOUT))
        .set_response_timeout(Some(bus::IO_TIMEOUT))
        .set_number_of_retries(1);
    match tokio::time::timeout(
        bus::IO_TIMEOUT * 2,
        ConnectionManager::new_with_config(client.clone(), config),
    )
    .await
    {
        Ok(r) => Ok(r?),
        Err(_) => Err(ClusterError::Redis(redis::RedisError::from(
            std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting timed out"),
        ))),
    }
}

/// Logs Redis trouble at most once a minute, with how often it happened.
#[derive(Default)]
struct TroubleLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl TroubleLog {
    fn hit(&mut self, what: &str, error: &ClusterError) {
        let now = Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            tracing::warn!(
                error = %error,
                suppressed = self.suppressed,
                "cluster: {what} failed; serving local clients and retrying (one line a minute)"
            );
            self.last = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
    }
}

/// The heartbeat task: beat, read the cluster, adjust the edge pulls.
async fn beats(shared: Arc<Shared>) {
    let Some(client) = shared.client.clone() else {
        return;
    };
    let Some(hooks) = shared.hooks.get().cloned() else {
        return;
    };
    let mut plan = EdgePlan::default();
    // Streams this node holds in the directory: key → publisher start.
    let mut claims: HashMap<StreamKey, u64> = HashMap::new();
    let mut meter = LoadMeter::default();
    let mut trouble = TroubleLog::default();
    let mut bad_log = TroubleLog::default();
    let mut was_connected = false;
    let mut publishes = shared.hub.watch_publish();
    let origin = Instant::now();
    let ttl_ms = u64::try_from(shared.cfg.ttl().as_millis()).unwrap_or(u64::MAX);
    let failover_ms = u64::try_from(shared.cfg.failover().as_millis()).unwrap_or(u64::MAX);
    loop {
        let conn = shared.conn.lock().clone();
        let mut conn = match conn {
            Some(c) => c,
            None => match connect(&client).await {
                Ok(c) => {
                    *shared.conn.lock() = Some(c.clone());
                    c
                }
                Err(e) => {
                    trouble.hit("connecting to Redis", &e);
                    set_disconnected(&shared, &e, &mut was_connected);
                    if wait_beat(&shared, &mut publishes).await {
                        break;
                    }
                    continue;
                }
            },
        };
        match beat_once(
            &shared,
            &hooks,
            &mut conn,
            &mut plan,
            &mut claims,
            &mut meter,
            ttl_ms,
        )
        .await
        {
            Ok(()) => {}
            Err(e) => {
                trouble.hit("heartbeat", &e);
                set_disconnected(&shared, &e, &mut was_connected);
                if wait_beat(&shared, &mut publishes).await {
                    break;
                }
                continue;
            }
        }
        match with_timeout(store::read_nodes(&mut conn, &shared.keys)).await {
            Ok((nodes, bad)) => {
                if !bad.is_empty() {
                    let e = ClusterError::BadSetting {
                        field: "heartbeat",
                        problem: bad.join("; "),
                    };
                    bad_log.hit("reading heartbeats (corrupt entries ignored)", &e);
                }
                let owners = directory::resolve(&nodes);
                let local: HashSet<StreamKey> = claims.keys().cloned().collect();
                let now_ms = u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
                let actions = plan.update(now_ms, &shared.node_id, &owners, &local, failover_ms);
                for action in actions {
                    match action {
                        PullAction::Start { key, url } | PullAction::Retarget { key, url } => {
                            tracing::info!(stream = %key, %url, "cluster: stream published on another node; pulling it on demand from there");
                            if !hooks.pull(&key, &url) {
                                tracing::warn!(stream = %key, "cluster: a configured pull of this stream exists; not pulling it from the cluster");
                            }
                        }
                        PullAction::Stop { key } => {
                            tracing::info!(stream = %key, "cluster: stream left the cluster (or is published here); edge pull stopped");
                            hooks.unpull(&key);
                        }
                    }
                }
                let mut view = shared.view.write();
                view.nodes = nodes;
                view.owners = owners;
                view.pulls = plan.list();
                view.connected = true;
                view.last_error = None;
                view.bad_beats = bad.len();
                if !was_connected {
                    was_connected = true;
                    tracing::info!(nodes = view.nodes.len(), "cluster: connected to Redis");
                }
            }
            Err(e) => {
                trouble.hit("reading the cluster", &e);
                set_disconnected(&shared, &e, &mut was_connected);
            }
        }
        if wait_beat(&shared, &mut publishes).await {
            break;
        }
    }
    // Leave: the others forget this node and its streams now rather than
    // after the TTL.
    let conn = shared.conn.lock().clone();
    if let Some(mut conn) = conn {
        for (key, since) in &claims {
            let value = store::claim_value(&shared.node_id, *since);
            let _ = with_timeout(store::release(&mut conn, &shared.keys, key, &value)).await;
        }
        let _ = with_timeout(store::leave(&mut conn, &shared.keys, &shared.node_id)).await;
    }
    tracing::info!(node = %shared.node_id, "cluster: left");
}

fn set_disconnected(shared: &Shared, e: &ClusterError, was_connected: &mut bool) {
    let mut view = shared.view.write();
    view.connected = false;
    view.last_error = Some(e.to_string());
    if *was_connected {
        *was_connected = false;
        tracing::warn!(error = %e, "cluster: lost Redis; serving local clients, retrying every beat");
    }
}

/// Sleeps until the next beat is due (or a stream was published here, so
/// that its directory entry appears at once); true on shutdown.
async fn wait_beat(
    shared: &Shared,
    publishes: &mut tokio::sync::broadcast::Receiver<StreamKey>,
) -> bool {
    tokio::select! {
        () = shared.shutdown.cancelled() => true,
        () = tokio::time::sleep(shared.cfg.heartbeat()) => false,
        () = shared.beat_now.notified() => false,
        r = publishes.recv() => {
            // Let the publisher's first frames in, so the stream is live.
            if !matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        }
    }
}

async fn with_timeout<T>(
    f: impl std::future::Future<Output = Result<T, ClusterError>>,
) -> Result<T, ClusterError> {
    match tokio::time::timeout(bus::IO_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(ClusterError::Redis(redis::RedisError::from(
            std::io::Error::new(std::io::ErrorKind::TimedOut, "Redis did not answer in time"),
        ))),
    }
}

/// One heartbeat: this node's load, its origin streams (claimed, renewed,
/// released), its chat rooms.
async fn beat_once(
    shared: &Shared,
    hooks: &Arc<dyn Hooks>,
    conn: &mut ConnectionManager,
    plan: &mut EdgePlan,
    claims: &mut HashMap<StreamKey, u64>,
    meter: &mut LoadMeter,
    ttl_ms: u64,
) -> Result<(), ClusterError> {
    let hub = &shared.hub;
    let mut origins: Vec<(StreamKey, u64)> = hub
        .streams()
        .iter()
        .filter_map(|s| origin_since(hub, s, plan.pulls(&s.key)).map(|t| (s.key.clone(), t)))
        .collect();
    origins.truncate(MAX_LISTED);
    let load = meter.sample(hub);
    let mut rooms = hooks.chat_rooms();
    rooms.truncate(MAX_LISTED);
    let info = NodeInfo {
        v: BEAT_VERSION,
        node: shared.node_id.clone(),
        rtmp: shared.advertised.rtmp.clone(),
        http: shared.advertised.http.clone(),
        connections: load.connections,
        viewers: load.viewers,
        chat_members: rooms.iter().map(|(_, n)| n).sum(),
        egress_mbps: load.egress_mbps,
        cpu: load.cpu,
        started_ms: shared.started_ms,
        beat_ms: unix_ms(),
        streams: origins
            .iter()
            .map(|(k, t)| OwnedStream {
                stream: k.to_string(),
                since_ms: *t,
            })
            .collect(),
        rooms: rooms
            .iter()
            .map(|(k, n)| RoomLoad {
                room: k.to_string(),
                members: *n,
            })
            .collect(),
    };
    let claim_list: Vec<Claim<'_>> = origins
        .iter()
        .map(|(key, since)| Claim {
            key,
            value: store::claim_value(&shared.node_id, *since),
            new: claims.get(key) != Some(since),
        })
        .collect();
    let slot = shared.slot.get().copied();
    let held = with_timeout(store::beat(
        conn,
        &shared.keys,
        &info,
        slot,
        &claim_list,
        ttl_ms,
    ))
    .await?;
    let now_origins: HashSet<&StreamKey> = origins.iter().map(|(k, _)| k).collect();
    // Streams no longer published here: their entries go.
    let gone: Vec<(StreamKey, u64)> = claims
        .iter()
        .filter(|(k, _)| !now_origins.contains(k))
        .map(|(k, t)| (k.clone(), *t))
        .collect();
    for (key, since) in gone {
        claims.remove(&key);
        let value = store::claim_value(&shared.node_id, since);
        with_timeout(store::release(conn, &shared.keys, &key, &value)).await?;
    }
    for ((key, since), held) in origins.iter().zip(held) {
        if held {
            if claims.insert(key.clone(), *since).is_none() {
                tracing::info!(stream = %key, "cluster: published here; registered in the directory");
            }
        } else {
            // Another node's publisher of this key started later: it
            // won, as a takeover on one node would.
            claims.remove(key);
            if local_origin(hub, key, plan.pulls(key)) == Some(*since) {
                tracing::info!(stream = %key, "cluster: a later publisher on another node took this stream over; dropping ours");
                hub.kick_publisher(key);
            }
        }
    }
    Ok(())
}
