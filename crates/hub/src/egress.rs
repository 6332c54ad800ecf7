//! Mux once per stream and format, whatever the number of viewers.
//!
//! An [`Egress`] belongs to one output format (RTMP messages, FLV tags...).
//! The first viewer of a stream key starts a muxer task: it is one hub
//! subscriber that turns [`StreamEvent`]s into the format's entries and
//! pushes them into a [`Channel`] that all viewers of that key and format
//! share. Because that channel is GOP-aware too, a viewer joining later
//! still starts with headers and a keyframe, and a slow viewer skips ahead
//! without slowing the muxer. The task ends, dropping its hub subscription,
//! when its last viewer leaves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use weir_media::StreamKey;

use crate::channel::{Channel, ChannelConfig, Class, Entry, Receiver};
use crate::coalesce::{Coalesce, Holder, Wake};
use crate::gate::Admission;
use crate::hub::{Classifier, Hub, StreamEvent, Subscription};

/// Turns stream events into one output format's entries.
pub trait Muxer: Send + 'static {
    /// What the format's viewers receive, e.g. one chunked RTMP message.
    /// Its [`Entry::class`] decides how late or slow viewers join.
    type Out: Entry;
    /// Appends the entries for `ev` (none, one or several) to `out`.
    /// `class` is the event's class in its stream (see [`Classifier`]);
    /// an entry that carries the event usually takes the same class.
    fn mux(&mut self, ev: &StreamEvent, class: Class, out: &mut Vec<Self::Out>);
}

/// Events taken from the hub per muxer wakeup: bounds the work done before
/// checking whether viewers are still there.
const BATCH: usize = 256;

type Factory<M> = dyn Fn(&StreamKey) -> M + Send + Sync;

/// A running muxer task's channel. The id tells a finishing task whether
/// the map entry is still its own or a successor's.
struct Running<O: Entry> {
    id: u64,
    chan: Channel<O>,
}

struct Inner<M: Muxer> {
    hub: Hub,
    cfg: ChannelConfig,
    coalesce: Coalesce,
    factory: Box<Factory<M>>,
    /// Running muxers by key.
    running: Mutex<HashMap<StreamKey, Running<M::Out>>>,
    next_id: AtomicU64,
}

/// The shared muxers of one output format. Cheap to clone.
pub struct Egress<M: Muxer> {
    inner: Arc<Inner<M>>,
}

impl<M: Muxer> Clone for Egress<M> {
    fn clone(&self) -> Self {
        Egress {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Muxer> Egress<M> {
    /// An egress whose muxers read from `hub`, push into channels with
    /// limits `cfg`, and are built by `factory` per stream key.
    pub fn new(
        hub: Hub,
        cfg: ChannelConfig,
        factory: impl Fn(&StreamKey) -> M + Send + Sync + 'static,
    ) -> Self {
        Self::with_coalesce(hub, cfg, Coalesce::OFF, factory)
    }

    /// Like [`Egress::new`], with muxers that hold back audio-only wakeups
    /// of busy streams as `coalesce` says (see [`Coalesce`]): what a format
    /// whose viewers write once per wakeup uses to write less often.
    pub fn with_coalesce(
        hub: Hub,
        cfg: ChannelConfig,
        coalesce: Coalesce,
        factory: impl Fn(&StreamKey) -> M + Send + Sync + 'static,
    ) -> Self {
        Egress {
            inner: Arc::new(Inner {
                hub,
                cfg,
                coalesce,
                factory: Box::new(factory),
                running: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// A viewer, in this format, of the stream `admission` is for. The
    /// first viewer of a key spawns its muxer task (so this must run inside
    /// a tokio runtime); later ones share it. The stream need not be live
    /// yet.
    pub fn subscribe(&self, admission: &Admission) -> Receiver<M::Out> {
        let key = admission.key();
        let mut running = self.inner.running.lock();
        if let Some(Running { chan, .. }) = running.get(key) {
            // Subscribing under the lock closes the race with a task that
            // is deciding to stop because its last viewer left.
            return chan.subscribe();
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let chan = Channel::new(self.inner.cfg.clone());
        let rx = chan.subscribe();
        let sub = self.inner.hub.subscribe_key(key);
        let muxer = (self.inner.factory)(key);
        running.insert(
            key.clone(),
            Running {
                id,
                chan: chan.clone(),
            },
        );
        tokio::spawn(run(self.inner.clone(), key.clone(), id, chan, sub, muxer));
        tracing::debug!(stream = %key, "muxer started");
        rx
    }

    /// Muxer tasks running.
    pub fn active(&self) -> usize {
        self.inner.running.lock().len()
    }
}

impl<M: Muxer> std::fmt::Debug for Egress<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("active", &self.active())
            .finish()
    }
}

impl<M: Muxer> Inner<M> {
    /// Removes the task's entry if no viewer is left; true if it did (the
    /// task must then stop).
    fn retire_if_unused(&self, key: &StreamKey, id: u64, chan: &Channel<M::Out>) -> bool {
        let mut running = self.running.lock();
        if chan.receiver_count() > 0 {
            return false;
        }
        if running.get(key).is_some_and(|r| r.id == id) {
            running.remove(key);
        }
        true
    }

    fn retire(&self, key: &StreamKey, id: u64) {
        let mut running = self.running.lock();
        if running.get(key).is_some_and(|r| r.id == id) {
            running.remove(key);
        }
    }
}

/// One muxer task: hub events in, muxed entries out, until nobody watches.
async fn run<M: Muxer>(
    inner: Arc<Inner<M>>,
    key: StreamKey,
    id: u64,
    chan: Channel<M::Out>,
    mut sub: Subscription,
    mut muxer: M,
) {
    let mut events = Vec::with_capacity(BATCH);
    let mut out = Vec::new();
    let mut classifier = Classifier::new();
    let mut holder = Holder::new(inner.coalesce);
    loop {
        let deadline = holder.deadline();
        tokio::select! {
            biased;
            () = chan.receivers_gone() => {
                if inner.retire_if_unused(&key, id, &chan) {
                    break;
                }
            }
            res = sub.recv_batch(&mut events, BATCH) => {
                if res.is_err() {
                    // Announce any held audio before the channel closes.
                    chan.wake();
                    inner.retire(&key, id);
                    break;
                }
                let mut urgent = false;
                for ev in events.drain(..) {
                    urgent |= holder.urgent(&ev);
                    let class = classifier.classify(&ev);
                    muxer.mux(&ev, class, &mut out);
                }
                if out.is_empty() {
                    continue;
                }
                // Entries are visible at once; only the wakeup may wait.
                for entry in out.drain(..) {
                    let class = entry.class();
                    chan.push_quiet(entry, class);
                }
                let now = tokio::time::Instant::now();
                if holder.after_push(urgent, chan.receiver_count(), now) == Wake::Now {
                    chan.wake();
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                holder.expired();
                chan.wake();
            }
        }
    }
    tracing::debug!(stream = %key, "muxer stopped");
}

/// Sleeps until `deadline`, or forever without one. Lazy: a disabled
/// `select!` branch builds no timer.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
