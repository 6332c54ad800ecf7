//! The registry of connected clients, for stats, the API and kicking.
//!
//! Every connection registers itself whatever its protocol and keeps the
//! returned [`ClientHandle`] for its lifetime. Traffic counters are relaxed
//! atomics on the handle, so counting bytes costs a connection nothing on
//! its hot path and the registry lock is taken only to join, leave, list or
//! kick. A leaving client's counters are added to its protocol's totals, so
//! totals ([`Clients::totals`]) only grow, as Prometheus counters must.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use tokio::sync::Notify;
use weir_media::StreamKey;

use crate::gate::Action;
use crate::limits::LogThrottle;

/// What a client does with its stream: one of the two actions the gate
/// admits ([`Action::Publish`], [`Action::Play`]), under the name the API
/// shows.
pub type Role = Action;

/// What a connection tells the registry when it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Protocol name as shown by the API, e.g. `"rtmp"`.
    pub protocol: &'static str,
    /// Peer address.
    pub addr: SocketAddr,
    /// Known role, if any yet (RTMP learns it only after `publish`/`play`).
    pub role: Option<Role>,
}

/// A client as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSnapshot {
    /// Registry id, for [`Clients::kick`].
    pub id: u64,
    /// Protocol name.
    pub protocol: &'static str,
    /// Peer address.
    pub addr: SocketAddr,
    /// Role, once known.
    pub role: Option<Role>,
    /// Stream published or played, once known.
    pub stream: Option<StreamKey>,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Frames or messages the client missed because it was too slow.
    pub dropped: u64,
    /// When the client registered.
    pub connected_at: SystemTime,
    /// Packet-level quality, for clients that speak RTP.
    pub packets: Option<PacketStats>,
    /// How the media travels, where a protocol has several ways (RTSP:
    /// `"tcp"`, `"udp"`, `"multicast"`).
    pub transport: Option<&'static str>,
}

/// Packet-level quality of a client that speaks RTP (RTSP, and WebRTC
/// later): packets received from a publisher, or sent to a player; losses
/// as seen by the receiving side (for a player, what its receiver reports
/// say) and the interarrival jitter (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketStats {
    /// Packets received (publisher) or sent (player).
    pub packets: u64,
    /// Packets lost on the way.
    pub lost: u64,
    /// Interarrival jitter, the worst track's, in microseconds.
    pub jitter_us: u64,
}

/// Everything one protocol's clients did since the registry was created,
/// connected clients and gone ones alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolTotals {
    /// Protocol name.
    pub protocol: &'static str,
    /// Clients ever registered.
    pub accepted: u64,
    /// Clients registered now.
    pub connected: u64,
    /// Bytes received from all of them.
    pub bytes_in: u64,
    /// Bytes sent to all of them.
    pub bytes_out: u64,
    /// Frames or messages they missed.
    pub dropped: u64,
    /// RTP packets received from or sent to them.
    pub packets: u64,
    /// RTP packets lost on the way.
    pub packets_lost: u64,
}

/// How often connections of one protocol failed in one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCount {
    /// Protocol name.
    pub protocol: &'static str,
    /// What went wrong, a fixed word such as `"handshake"` (never peer
    /// text, so the set of kinds stays small).
    pub kind: &'static str,
    /// Occurrences since start.
    pub count: u64,
}

struct Client {
    id: u64,
    protocol: &'static str,
    addr: SocketAddr,
    connected_at: SystemTime,
    stream: Mutex<(Option<StreamKey>, Option<Role>)>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    dropped: AtomicU64,
    packets: Mutex<Option<PacketStats>>,
    transport: Mutex<Option<&'static str>>,
    kicked: AtomicBool,
    kick: Notify,
}

impl Client {
    fn snapshot(&self) -> ClientSnapshot {
        let (stream, role) = self.stream.lock().clone();
        ClientSnapshot {
            id: self.id,
            protocol: self.protocol,
            addr: self.addr,
            role,
            stream,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            connected_at: self.connected_at,
            packets: *self.packets.lock(),
            transport: *self.transport.lock(),
        }
    }
}

#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, Arc<Client>>>,
    /// Per protocol: clients accepted and the counters of those that left.
    /// Locked after `clients`, never before.
    gone: Mutex<HashMap<&'static str, ProtocolTotals>>,
    errors: Mutex<HashMap<(&'static str, &'static str), u64>>,
    throttle: LogThrottle,
}

/// The registry; cheap to clone, all clones share it.
#[derive(Clone, Default)]
pub struct Clients {
    inner: Arc<Registry>,
}

impl Clients {
    /// Adds a client; it stays listed until the handle is dropped.
    pub fn register(&self, info: ClientInfo) -> ClientHandle {
        // Ids start at 1 so that 0 never names a client.
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let client = Arc::new(Client {
            id,
            protocol: info.protocol,
            addr: info.addr,
            connected_at: SystemTime::now(),
            stream: Mutex::new((None, info.role)),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            packets: Mutex::new(None),
            transport: Mutex::new(None),
            kicked: AtomicBool::new(false),
            kick: Notify::new(),
        });
        let mut clients = self.inner.clients.lock();
        clients.insert(id, client.clone());
        self.inner
            .gone
            .lock()
            .entry(info.protocol)
            .or_insert_with(|| ProtocolTotals {
                protocol: info.protocol,
                ..ProtocolTotals::default()
            })
            .accepted += 1;
        drop(clients);
        ClientHandle {
            registry: self.inner.clone(),
            client,
        }
    }

    /// Every connected client, by id.
    pub fn list(&self) -> Vec<ClientSnapshot> {
        let clients: Vec<Arc<Client>> = self.inner.clients.lock().values().cloned().collect();
        let mut list: Vec<ClientSnapshot> = clients.iter().map(|c| c.snapshot()).collect();
        list.sort_by_key(|c| c.id);
        list
    }

    /// One client, if connected.
    pub fn get(&self, id: u64) -> Option<ClientSnapshot> {
        let client = self.inner.clients.lock().get(&id).cloned();
        client.map(|c| c.snapshot())
    }

    /// Asks client `id` to disconnect: its [`ClientHandle::kicked`]
    /// resolves. False if no such client.
    pub fn kick(&self, id: u64) -> bool {
        let Some(client) = self.inner.clients.lock().get(&id).cloned() else {
            return false;
        };
        client.kicked.store(true, Ordering::Release);
        client.kick.notify_waiters();
        true
    }

    /// Connected clients.
    pub fn count(&self) -> usize {
        self.inner.clients.lock().len()
    }

    /// Totals by protocol, sorted by name: connected clients' counters plus
    /// those of clients that left. Reads atomics only, allocates nothing per
    /// client.
    pub fn totals(&self) -> Vec<ProtocolTotals> {
        let clients = self.inner.clients.lock();
        let mut totals = self.inner.gone.lock().clone();
        for c in clients.values() {
            let t = totals.entry(c.protocol).or_insert_with(|| ProtocolTotals {
                protocol: c.protocol,
                ..ProtocolTotals::default()
            });
            t.connected += 1;
            t.bytes_in += c.bytes_in.load(Ordering::Relaxed);
            t.bytes_out += c.bytes_out.load(Ordering::Relaxed);
            t.dropped += c.dropped.load(Ordering::Relaxed);
            if let Some(p) = *c.packets.lock() {
                t.packets += p.packets;
                t.packets_lost += p.lost;
            }
        }
        drop(clients);
        let mut list: Vec<ProtocolTotals> = totals.into_values().collect();
        list.sort_by_key(|t| t.protocol);
        list
    }

    /// Counts a failed connection (handshake, protocol violation, timeout)
    /// by protocol and kind, for monitoring. Rare by nature, so a lock is
    /// fine.
    pub fn count_error(&self, protocol: &'static str, kind: &'static str) {
        *self
            .inner
            .errors
            .lock()
            .entry((protocol, kind))
            .or_insert(0) += 1;
    }

    /// Counts a failure or limit hit of `kind` by the peer at `ip`, like
    /// [`Clients::count_error`], and says whether to log it: at most once
    /// per peer, protocol and kind per [`crate::limits::LOG_EVERY`], so that a flood
    /// of bad connections is counted in full but logged sparingly.
    pub fn report(&self, protocol: &'static str, kind: &'static str, ip: IpAddr) -> bool {
        self.count_error(protocol, kind);
        self.inner
            .throttle
            .hit(ip, protocol, kind, std::time::Instant::now())
            .is_some()
    }

    /// Error counts, sorted by protocol and kind.
    pub fn errors(&self) -> Vec<ErrorCount> {
        let mut list: Vec<ErrorCount> = self
            .inner
            .errors
            .lock()
            .iter()
            .map(|(&(protocol, kind), &count)| ErrorCount {
                protocol,
                kind,
                count,
            })
            .collect();
        list.sort_by_key(|e| (e.protocol, e.kind));
        list
    }
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("count", &self.count())
            .finish()
    }
}

/// Counts bytes sent to one client; see [`ClientHandle::out_counter`].
#[derive(Clone)]
pub struct OutCounter(Arc<Client>);

impl OutCounter {
    /// Counts bytes sent to the client.
    pub fn add(&self, bytes: u64) {
        self.0.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for OutCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OutCounter").field(&self.0.id).finish()
    }
}

/// A connection's entry in the registry. Dropping it unregisters.
pub struct ClientHandle {
    registry: Arc<Registry>,
    client: Arc<Client>,
}

impl ClientHandle {
    /// Registry id.
    pub fn id(&self) -> u64 {
        self.client.id
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.client.addr
    }

    /// The protocol it registered with.
    pub fn protocol(&self) -> &'static str {
        self.client.protocol
    }

    /// Records which stream the client publishes or plays.
    pub fn set_stream(&self, key: StreamKey, role: Role) {
        *self.client.stream.lock() = (Some(key), Some(role));
    }

    /// Counts bytes received from the client.
    pub fn add_in(&self, bytes: u64) {
        self.client.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts bytes sent to the client.
    pub fn add_out(&self, bytes: u64) {
        self.client.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A handle on the bytes-sent counter, for a writer other than the
    /// connection's own task (a parked player's sink).
    pub fn out_counter(&self) -> OutCounter {
        OutCounter(self.client.clone())
    }

    /// Counts frames or messages the client missed.
    pub fn add_dropped(&self, n: u64) {
        self.client.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Records the client's latest packet statistics (cumulative figures:
    /// each call replaces the last). Callers update it about once a second
    /// or per receiver report, not per packet.
    pub fn set_packets(&self, stats: PacketStats) {
        *self.client.packets.lock() = Some(stats);
    }

    /// Records how the client's media travels (RTSP: `"tcp"`, `"udp"` or
    /// `"multicast"`).
    pub fn set_transport(&self, transport: &'static str) {
        *self.client.transport.lock() = Some(transport);
    }

    /// Resolves once [`Clients::kick`] names this client (at once if it
    /// already did). Meant for a `select!` in the connection task.
    pub async fn kicked(&self) {
        loop {
            let notified = self.client.kick.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.client.kicked.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        let mut clients = self.registry.clients.lock();
        clients.remove(&self.client.id);
        // Under the clients lock, so `totals` never sees the client both
        // connected and gone, nor neither.
        let c = &self.client;
        let mut gone = self.registry.gone.lock();
        let t = gone.entry(c.protocol).or_insert_with(|| ProtocolTotals {
            protocol: c.protocol,
            ..ProtocolTotals::default()
        });
        t.bytes_in += c.bytes_in.load(Ordering::Relaxed);
        t.bytes_out += c.bytes_out.load(Ordering::Relaxed);
        t.dropped += c.dropped.load(Ordering::Relaxed);
        if let Some(p) = *c.packets.lock() {
            t.packets += p.packets;
            t.packets_lost += p.lost;
        }
    }
}

impl std::fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandle")
            .field("id", &self.client.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(protocol: &'static str) -> ClientInfo {
        ClientInfo {
            protocol,
            addr: ([127, 0, 0, 1], 1).into(),
            role: None,
        }
    }

    #[test]
    fn totals_keep_the_traffic_of_clients_that_left() {
        let clients = Clients::default();
        let a = clients.register(info("rtmp"));
        let b = clients.register(info("rtmp"));
        let c = clients.register(info("http-flv"));
        a.add_in(100);
        b.add_out(50);
        b.add_dropped(2);
        c.add_out(7);
        let stats = |packets, lost| PacketStats {
            packets,
            lost,
            jitter_us: 0,
        };
        a.set_packets(stats(10, 1));
        b.set_packets(stats(5, 0));
        b.set_packets(stats(20, 3));
        drop(b);
        let totals = clients.totals();
        assert_eq!(totals.len(), 2);
        assert_eq!(
            totals[1],
            ProtocolTotals {
                protocol: "rtmp",
                accepted: 2,
                connected: 1,
                bytes_in: 100,
                bytes_out: 50,
                dropped: 2,
                packets: 30,
                packets_lost: 4,
            }
        );
        assert_eq!((totals[0].protocol, totals[0].bytes_out), ("http-flv", 7));
        clients.count_error("rtmp", "handshake");
        clients.count_error("rtmp", "handshake");
        assert_eq!(
            clients.errors(),
            [ErrorCount {
                protocol: "rtmp",
                kind: "handshake",
                count: 2
            }]
        );
    }
}
