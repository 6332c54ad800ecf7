//! The GOP-aware broadcast channel: one publisher side, any number of
//! receivers, bounded memory, and a publisher that never waits.
//!
//! The hub uses it for each stream's events and every egress muxer uses it
//! for its muxed output, so the join/lag rules below hold for every viewer
//! whatever its protocol.
//!
//! # How it works
//!
//! * A ring of `capacity` slots holds the most recent entries. Slot `seq %
//!   capacity` holds entry number `seq`; each slot has its own small lock, so
//!   the publisher (writing the oldest slot) and receivers (reading recent
//!   ones) do not contend.
//! * An atomic `head` counts the entries pushed. A receiver is just a cursor
//!   into that sequence, so a push does no per-receiver work: it writes one
//!   slot, bumps `head` and wakes whoever waits on one [`tokio::sync::Notify`].
//! * Beside the ring, under one mutex that only pushes and joins take, sit
//!   the *header slots* (latest value per [`Class::Header`] slot), the *GOP
//!   cache* (every entry since the last [`Class::Key`]) and the last
//!   [`Class::Reset`]. A new receiver snapshots them under that mutex and sets
//!   its cursor to `head` at the same instant, so it sees headers, then the
//!   GOP, then live entries with nothing lost or repeated.
//! * A receiver that finds its next entry overwritten has lagged. It re-joins
//!   from the same snapshot: if it was inside the GOP still cached it simply
//!   continues from the cache (nothing lost); otherwise it gets the skipped
//!   `Reset` (if any), all headers and the whole cached GOP from its key, and
//!   [`Receiver::dropped`] grows by the entries it never saw. If the GOP
//!   cache overflowed its limits, the receiver waits for the next key
//!   instead, so it never starts decoding mid-GOP.

mod parking;
mod receiver;
mod state;

pub use parking::{Offer, Parking, Sink};
pub use receiver::Receiver;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use state::Shared;

/// How the channel treats an entry; see [`Entry::class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Sticky header in slot `0..HEADER_SLOTS`: the channel keeps the latest
    /// value of each slot and gives it to every new or re-joining receiver
    /// before any other entry (codec configuration, metadata). A slot number
    /// out of range is treated as [`Class::Delta`].
    Header(u8),
    /// Decoding can start here: the GOP cache restarts with this entry.
    Key,
    /// An entry that depends on the previous key.
    Delta,
    /// A publisher boundary: clears the header slots and the GOP cache, and is
    /// delivered even to a receiver that lagged past it, so it learns that
    /// the headers it holds are stale.
    Reset,
}

/// Number of sticky header slots per channel.
pub const HEADER_SLOTS: usize = 8;

/// Something a [`Channel`] can carry. Cloning must be cheap (a reference
/// count): every receiver gets its own clone.
pub trait Entry: Clone + Send + Sync + 'static {
    /// How the channel caches and replays this entry.
    fn class(&self) -> Class;
    /// Payload size counted against [`ChannelConfig::gop_max_bytes`].
    fn byte_len(&self) -> usize {
        0
    }
    /// This header entry, re-stamped with the timestamp of `first`, the
    /// entry a joining receiver gets right after the headers; `None` keeps
    /// it as it is (the default, for entries without timestamps).
    ///
    /// Headers keep the time they arrived, which can be a whole GOP (or,
    /// after a takeover, minutes) before the first frame a new receiver
    /// gets; players then see a gap, and ffprobe an extra data stream.
    /// Called only when a receiver joins, never per push.
    fn restamped_to(&self, first: &Self) -> Option<Self> {
        let _ = first;
        None
    }
}

/// Limits of one channel; they bound its memory whatever the receivers do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Ring size in entries: how far a receiver may fall behind before it
    /// loses entries. Values below 1 are taken as 1.
    pub capacity: usize,
    /// Most entries the GOP cache holds. A longer GOP is not cached: new
    /// receivers then wait for the next key.
    pub gop_max_entries: usize,
    /// Most payload bytes ([`Entry::byte_len`]) the GOP cache holds, with the
    /// same overflow rule as `gop_max_entries`.
    pub gop_max_bytes: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            capacity: 1024,
            gop_max_entries: 2048,
            gop_max_bytes: 32 << 20,
        }
    }
}

/// Returned by receive calls once the channel is closed and drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("channel closed")]
pub struct Closed;

/// A point-in-time view of a channel, for stats and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelStats {
    /// Entries pushed so far.
    pub pushed: u64,
    /// Receivers alive.
    pub receivers: usize,
    /// Entries in the GOP cache.
    pub gop_entries: usize,
    /// Payload bytes in the GOP cache.
    pub gop_bytes: usize,
    /// Header slots holding a value.
    pub headers: usize,
}

/// The sending side, and the factory of receivers.
///
/// `Clone` gives another handle to the same channel. When the last handle
/// is dropped the channel closes, so a producer task that ends lets its
/// receivers finish instead of waiting forever.
pub struct Channel<T: Entry> {
    shared: Arc<Shared<T>>,
}

impl<T: Entry> Channel<T> {
    /// An empty channel.
    pub fn new(cfg: ChannelConfig) -> Self {
        Channel {
            shared: Arc::new(Shared::new(cfg)),
        }
    }

    /// Appends an entry, classified by [`Entry::class`]. Never waits: a
    /// receiver that is too slow loses entries, not the publisher time.
    /// Ignored once the channel is closed.
    pub fn push(&self, entry: T) {
        let class = entry.class();
        self.push_class(entry, class);
    }

    /// Like [`Channel::push`] with a class chosen by the caller, for
    /// producers that know more than the entry does (the hub knows whether a
    /// stream has video, which decides whether audio frames are keys).
    pub fn push_class(&self, entry: T, class: Class) {
        if self.shared.push(entry, class) {
            self.shared.wake();
        }
    }

    /// Appends several entries with one lock and one wakeup: what a muxer
    /// that turned one frame into many messages should use.
    pub fn push_all(&self, entries: impl IntoIterator<Item = T>) {
        if self.shared.push_all(entries) {
            self.shared.wake();
        }
    }

    /// Pushes without waking receivers, for a caller that holds its own
    /// lock and wakes with [`Channel::wake`] after releasing it. False if
    /// closed.
    pub(crate) fn push_quiet(&self, entry: T, class: Class) -> bool {
        self.shared.push(entry, class)
    }

    /// Wakes receivers waiting for entries.
    pub(crate) fn wake(&self) {
        self.shared.wake();
    }

    /// Closes the channel: receivers get what is queued, then [`Closed`].
    pub fn close(&self) {
        self.shared.close();
    }

    /// A new receiver: header slots, then the GOP cache, then live entries.
    pub fn subscribe(&self) -> Receiver<T> {
        Receiver::new(self.shared.clone())
    }

    /// Receivers alive right now.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::Acquire)
    }

    /// Resolves once no receiver is left (at once if there is none). A
    /// producer task selects on this to stop when nobody listens.
    pub async fn receivers_gone(&self) {
        loop {
            let notified = self.shared.gone.notified();
            tokio::pin!(notified);
            // Register before checking so a drop between the check and the
            // await still wakes us.
            notified.as_mut().enable();
            if self.receiver_count() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Counters for stats and tests.
    pub fn stats(&self) -> ChannelStats {
        self.shared.stats()
    }
}

impl<T: Entry> Clone for Channel<T> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Channel {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Entry> Drop for Channel<T> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<T: Entry> std::fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("stats", &self.stats())
            .finish()
    }
}
