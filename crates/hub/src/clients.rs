//! The registry of connected clients, for stats, the API and kicking.
//!
//! Every connection registers itself whatever its protocol and keeps the
//! returned [`ClientHandle`] for its lifetime. Traffic counters are relaxed
//! atomics on the handle, so counting bytes costs a connection nothing on
//! its hot path and the registry lock is taken only to join, leave, list or
//! kick.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use tokio::sync::Notify;
use weir_media::StreamKey;

/// What a client does with its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends a stream in.
    Publish,
    /// Watches a stream.
    Play,
}

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
        }
    }
}

#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, Arc<Client>>>,
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
            kicked: AtomicBool::new(false),
            kick: Notify::new(),
        });
        self.inner.clients.lock().insert(id, client.clone());
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
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("count", &self.count())
            .finish()
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

    /// Counts frames or messages the client missed.
    pub fn add_dropped(&self, n: u64) {
        self.client.dropped.fetch_add(n, Ordering::Relaxed);
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
        self.registry.clients.lock().remove(&self.client.id);
    }
}

impl std::fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandle")
            .field("id", &self.client.id)
            .finish()
    }
}
