//! The cluster bus: channels of opaque messages between nodes over Redis
//! pub/sub (the chat relays rooms through it). A node subscribes only to
//! the channels it has open; its own messages come back from Redis and are
//! dropped by the envelope's node id.
//!
//! Publishing goes through one bounded queue and one task that sends each
//! batch as one pipeline, so messages leave in the order they were queued
//! (per sender order holds) and a slow Redis never blocks a caller: when
//! the queue is full or Redis is down, messages are dropped and counted.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::Keys;

/// Messages waiting to be published; more are dropped.
const QUEUE: usize = 16_384;
/// Most messages sent in one pipeline.
const BATCH: usize = 512;
/// Longest message relayed.
pub const MAX_MESSAGE: usize = 64 << 10;
/// How long a history list lives after its last message.
const HISTORY_TTL_SECS: u64 = 86_400;
/// How long Redis may take to connect or answer.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(3);

/// Receives the messages of the open channels: `(channel, payload)`.
pub type Deliver = Arc<dyn Fn(&str, Bytes) + Send + Sync>;

struct Outgoing {
    channel: String,
    payload: Bytes,
    /// Also append to this capped list (name, most entries).
    keep: Option<(String, usize)>,
}

enum SubCmd {
    Subscribe(String),
    Unsubscribe(String),
}

/// Counters of the bus, for the API and `/metrics`.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Messages published.
    pub sent: AtomicU64,
    /// Messages received from other nodes.
    pub received: AtomicU64,
    /// Messages dropped: queue full, Redis down, or too large.
    pub dropped: AtomicU64,
    /// Messages received that were malformed (bad envelope).
    pub malformed: AtomicU64,
}

pub(crate) struct Bus {
    node: String,
    keys: Keys,
    out: mpsc::Sender<Outgoing>,
    subs: mpsc::UnboundedSender<SubCmd>,
    open: Arc<Mutex<HashSet<String>>>,
    subscribed: Arc<AtomicBool>,
    pub(crate) stats: Arc<BusStats>,
}

impl Bus {
    /// Starts the subscriber and publisher tasks on `client`.
    pub(crate) fn start(
        client: redis::Client,
        node: String,
        keys: Keys,
        deliver: Deliver,
        shutdown: CancellationToken,
    ) -> Bus {
        let (out, out_rx) = mpsc::channel(QUEUE);
        let (subs, subs_rx) = mpsc::unbounded_channel();
        let bus = Bus {
            node,
            keys,
            out,
            subs,
            open: Arc::default(),
            subscribed: Arc::default(),
            stats: Arc::default(),
        };
        tokio::spawn(subscriber(
            client.clone(),
            bus.node.clone(),
            bus.keys.clone(),
            bus.open.clone(),
            subs_rx,
            bus.subscribed.clone(),
            bus.stats.clone(),
            deliver,
            shutdown.clone(),
        ));
        tokio::spawn(publisher(client, out_rx, bus.stats.clone(), shutdown));
        bus
    }

    /// Whether the subscriber connection is up.
    pub(crate) fn connected(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    pub(crate) fn open(&self, channel: &str) {
        if self.open.lock().insert(channel.to_owned()) {
            let _ = self.subs.send(SubCmd::Subscribe(channel.to_owned()));
        }
    }

    pub(crate) fn close(&self, channel: &str) {
        if self.open.lock().remove(channel) {
            let _ = self.subs.send(SubCmd::Unsubscribe(channel.to_owned()));
        }
    }

    pub(crate) fn publish(&self, channel: &str, payload: &[u8], keep: Option<(&str, usize)>) {
        if payload.len() > MAX_MESSAGE {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut framed = BytesMut::with_capacity(self.node.len() + 1 + payload.len());
        framed.extend_from_slice(self.node.as_bytes());
        framed.extend_from_slice(b"\n");
        framed.extend_from_slice(payload);
        let msg = Outgoing {
            channel: self.keys.channel(channel),
            payload: framed.freeze(),
            keep: keep.map(|(list, max)| (self.keys.list(list), max)),
        };
        if self.out.try_send(msg).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The entries of a capped list, oldest first, without their
    /// envelopes; empty when Redis does not answer in time.
    pub(crate) async fn list(
        &self,
        conn: Option<redis::aio::ConnectionManager>,
        name: &str,
    ) -> Vec<Bytes> {
        let Some(mut conn) = conn else {
            return Vec::new();
        };
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(self.keys.list(name)).arg(0).arg(-1);
        let read = cmd.query_async::<Vec<Vec<u8>>>(&mut conn);
        match tokio::time::timeout(IO_TIMEOUT, read).await {
            Ok(Ok(items)) => items
                .into_iter()
                .filter_map(|v| open_envelope(&v).map(|(_, p)| Bytes::copy_from_slice(p)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// How long the subscriber waits before connecting again: about a second
/// (jittered, so nodes do not come back in lockstep). Redis is the
/// cluster's own, near and cheap to ask, and chat between nodes is down
/// until it is back, so no longer backoff.
fn retry_delay() -> Duration {
    Duration::from_millis(500 + rand::random::<u64>() % 1000)
}

/// Splits `node\npayload`.
fn open_envelope(v: &[u8]) -> Option<(&str, &[u8])> {
    let nl = v.iter().position(|&b| b == b'\n')?;
    let node = std::str::from_utf8(&v[..nl]).ok()?;
    Some((node, &v[nl + 1..]))
}

#[allow(clippy::too_many_arguments)]
async fn subscriber(
    client: redis::Client,
    node: String,
    keys: Keys,
    open: Arc<Mutex<HashSet<String>>>,
    mut cmds: mpsc::UnboundedReceiver<SubCmd>,
    subscribed: Arc<AtomicBool>,
    stats: Arc<BusStats>,
    deliver: Deliver,
    shutdown: CancellationToken,
) {
    loop {
        let connect = tokio::time::timeout(IO_TIMEOUT, client.get_async_pubsub());
        let pubsub = tokio::select! {
            () = shutdown.cancelled() => return,
            r = connect => r,
        };
        let Ok(Ok(pubsub)) = pubsub else {
            subscribed.store(false, Ordering::Relaxed);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(retry_delay()) => continue,
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        // Everything opened so far, including while Redis was away.
        let wanted: Vec<String> = open.lock().iter().cloned().collect();
        let mut ok = true;
        for ch in wanted {
            if sink.subscribe(keys.channel(&ch)).await.is_err() {
                ok = false;
                break;
            }
        }
        if ok {
            subscribed.store(true, Ordering::Relaxed);
            tracing::info!("cluster bus subscribed");
        }
        while ok {
            tokio::select! {
                () = shutdown.cancelled() => return,
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    let Some(channel) = keys.channel_name(msg.get_channel_name()) else {
                        continue;
                    };
                    match open_envelope(msg.get_payload_bytes()) {
                        Some((from, _)) if from == node => {}
                        Some((_, payload)) => {
                            stats.received.fetch_add(1, Ordering::Relaxed);
                            deliver(channel, Bytes::copy_from_slice(payload));
                        }
                        None => {
                            stats.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                cmd = cmds.recv() => {
                    let r = match cmd {
                        None => return,
                        Some(SubCmd::Subscribe(ch)) => sink.subscribe(keys.channel(&ch)).await,
                        Some(SubCmd::Unsubscribe(ch)) => sink.unsubscribe(keys.channel(&ch)).await,
                    };
                    ok = r.is_ok();
                }
            }
        }
        subscribed.store(false, Ordering::Relaxed);
        tracing::warn!("cluster bus lost its Redis connection; reconnecting");
    }
}

async fn publisher(
    client: redis::Client,
    mut rx: mpsc::Receiver<Outgoing>,
    stats: Arc<BusStats>,
    shutdown: CancellationToken,
) {
    let mut conn: Option<redis::aio::ConnectionManager> = None;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        let n = tokio::select! {
            () = shutdown.cancelled() => return,
            n = rx.recv_many(&mut batch, BATCH) => n,
        };
        if n == 0 {
            return;
        }
        if conn.is_none() {
            conn = crate::connect(&client).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
            continue;
        };
        let mut pipe = redis::pipe();
        for m in &batch {
            pipe.cmd("PUBLISH")
                .arg(&m.channel)
                .arg(m.payload.as_ref())
                .ignore();
            if let Some((list, max)) = &m.keep {
                pipe.cmd("RPUSH").arg(list).arg(m.payload.as_ref()).ignore();
                pipe.cmd("LTRIM")
                    .arg(list)
                    .arg(-(i64::try_from(*max).unwrap_or(i64::MAX)))
                    .arg(-1)
                    .ignore();
                pipe.cmd("EXPIRE").arg(list).arg(HISTORY_TTL_SECS).ignore();
            }
        }
        match tokio::time::timeout(IO_TIMEOUT, pipe.query_async::<()>(c)).await {
            Ok(Ok(())) => {
                stats.sent.fetch_add(n as u64, Ordering::Relaxed);
            }
            _ => {
                stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}
