//! The shared state behind a channel: the ring, the join snapshot (headers,
//! GOP cache, last reset) and the counters receivers and handles use.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use super::parking::Lot;
use super::{ChannelConfig, ChannelStats, Class, Entry, HEADER_SLOTS};

/// One ring slot. `seq` tells a reader whether the slot still holds the
/// entry it wants or was overwritten by a newer one.
pub(super) struct Slot<T> {
    pub(super) seq: u64,
    pub(super) class: Class,
    pub(super) entry: Option<T>,
}

/// The GOP cache, in the three states that decide how a receiver joins.
enum Gop<T> {
    /// No key since the start or the last reset: a joiner starts live (an
    /// audio-only or key-less stream can start anywhere).
    None,
    /// Everything since the last key, with sequence numbers so that a
    /// lagging receiver inside this GOP can continue exactly where it was.
    Cached {
        entries: VecDeque<(u64, T)>,
        bytes: usize,
    },
    /// The current GOP outgrew the limits: a joiner waits for the next key.
    Overflowed,
}

/// What only pushes and joins touch. Keeping the ring's `head` update under
/// the same lock as the GOP/header update is what makes a join snapshot
/// consistent with the cursor it starts at.
struct Meta<T> {
    head: u64,
    closed: bool,
    headers: [Option<(u64, T)>; HEADER_SLOTS],
    gop: Gop<T>,
    /// Reused GOP buffer so restarting the cache at a key does not allocate.
    spare: VecDeque<(u64, T)>,
    last_reset: Option<(u64, T)>,
}

/// How a receiver (re)starts, filled in by [`Shared::join`].
pub(super) struct Join {
    /// Next ring sequence to read.
    pub(super) cursor: u64,
    /// Skip deltas until the next key (the GOP cache had overflowed).
    pub(super) wait_key: bool,
    /// Entries in the lagged range the receiver will never see.
    pub(super) skipped: u64,
}

pub(super) struct Shared<T> {
    cfg: ChannelConfig,
    pub(super) slots: Box<[RwLock<Slot<T>>]>,
    /// Entries pushed; written under `meta` with Release, read lock-free.
    pub(super) head: AtomicU64,
    /// Set (Release) after the final `head` store.
    pub(super) closed: AtomicBool,
    meta: Mutex<Meta<T>>,
    /// Woken on every push and on close.
    pub(super) notify: Notify,
    pub(super) receivers: AtomicUsize,
    /// Woken when `receivers` drops to zero.
    pub(super) gone: Notify,
    /// `Channel` handles alive; the last one closes the channel.
    pub(super) handles: AtomicUsize,
    /// Parked receivers the waking task writes to (see `parking`).
    pub(super) lot: Mutex<Lot<T>>,
}

impl<T: Entry> Shared<T> {
    pub(super) fn new(mut cfg: ChannelConfig) -> Self {
        cfg.capacity = cfg.capacity.max(1);
        let slots = (0..cfg.capacity)
            .map(|_| {
                RwLock::new(Slot {
                    seq: u64::MAX,
                    class: Class::Delta,
                    entry: None,
                })
            })
            .collect();
        Shared {
            cfg,
            slots,
            head: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            meta: Mutex::new(Meta {
                head: 0,
                closed: false,
                headers: Default::default(),
                gop: Gop::None,
                spare: VecDeque::new(),
                last_reset: None,
            }),
            notify: Notify::new(),
            receivers: AtomicUsize::new(0),
            gone: Notify::new(),
            handles: AtomicUsize::new(1),
            lot: Mutex::new(Lot::default()),
        }
    }

    /// Entries pushed so far.
    pub(super) fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Appends clones of entries `from..to` to `out`; false (and nothing
    /// appended) if any of them was already overwritten.
    pub(super) fn read_range(&self, from: u64, to: u64, out: &mut Vec<T>) -> bool {
        if to.saturating_sub(from) > self.capacity() {
            return false;
        }
        for seq in from..to {
            let slot = self.slots[(seq % self.capacity()) as usize].read();
            match &slot.entry {
                Some(entry) if slot.seq == seq => out.push(entry.clone()),
                _ => {
                    out.clear();
                    return false;
                }
            }
        }
        true
    }

    pub(super) fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Appends one entry; false if the channel is closed. The caller wakes.
    pub(super) fn push(&self, entry: T, class: Class) -> bool {
        let mut meta = self.meta.lock();
        if meta.closed {
            return false;
        }
        // The overwritten entry is dropped after the locks are released:
        // freeing a payload is not work to do while holding them.
        let old = self.push_locked(&mut meta, entry, class);
        drop(meta);
        drop(old);
        true
    }

    pub(super) fn push_all(&self, entries: impl IntoIterator<Item = T>) -> bool {
        let mut meta = self.meta.lock();
        if meta.closed {
            return false;
        }
        let mut pushed = false;
        for entry in entries {
            let class = entry.class();
            drop(self.push_locked(&mut meta, entry, class));
            pushed = true;
        }
        pushed
    }

    fn push_locked(&self, meta: &mut Meta<T>, entry: T, class: Class) -> Option<T> {
        let seq = meta.head;
        let class = match class {
            Class::Header(i) if usize::from(i) >= HEADER_SLOTS => Class::Delta,
            c => c,
        };
        match class {
            Class::Header(i) => meta.headers[usize::from(i)] = Some((seq, entry.clone())),
            Class::Key => self.restart_gop(meta, seq, &entry),
            Class::Delta => self.extend_gop(meta, seq, &entry),
            Class::Reset => {
                meta.headers = Default::default();
                self.end_gop(meta, Gop::None);
                meta.last_reset = Some((seq, entry.clone()));
            }
        }
        let idx = (seq % self.capacity()) as usize;
        let old = {
            let mut slot = self.slots[idx].write();
            slot.seq = seq;
            slot.class = class;
            slot.entry.replace(entry)
        };
        meta.head = seq + 1;
        self.head.store(seq + 1, Ordering::Release);
        old
    }

    fn restart_gop(&self, meta: &mut Meta<T>, seq: u64, entry: &T) {
        let mut entries = std::mem::take(&mut meta.spare);
        entries.clear();
        let bytes = entry.byte_len();
        entries.push_back((seq, entry.clone()));
        self.end_gop(meta, Gop::Cached { entries, bytes });
        if bytes > self.cfg.gop_max_bytes || self.cfg.gop_max_entries == 0 {
            self.end_gop(meta, Gop::Overflowed);
        }
    }

    fn extend_gop(&self, meta: &mut Meta<T>, seq: u64, entry: &T) {
        let Gop::Cached { entries, bytes } = &mut meta.gop else {
            return;
        };
        let len = entry.byte_len();
        if entries.len() >= self.cfg.gop_max_entries
            || bytes.saturating_add(len) > self.cfg.gop_max_bytes
        {
            self.end_gop(meta, Gop::Overflowed);
            return;
        }
        *bytes += len;
        entries.push_back((seq, entry.clone()));
    }

    /// Replaces the GOP state, keeping the old buffer for reuse.
    fn end_gop(&self, meta: &mut Meta<T>, next: Gop<T>) {
        if let Gop::Cached { mut entries, .. } = std::mem::replace(&mut meta.gop, next) {
            entries.clear();
            meta.spare = entries;
        }
    }

    pub(super) fn close(&self) {
        let mut meta = self.meta.lock();
        if meta.closed {
            return;
        }
        meta.closed = true;
        self.closed.store(true, Ordering::Release);
        drop(meta);
        self.wake();
    }

    /// Wakes waiting receivers and writes to parked ones.
    pub(super) fn wake(&self) {
        self.notify.notify_waiters();
        self.write_pass();
    }

    /// Starts a receiver at `head`, filling `replay` with what it must get
    /// first. `lagged_at` is the cursor of a receiver that lost entries, or
    /// `None` for a new one.
    pub(super) fn join(&self, lagged_at: Option<u64>, replay: &mut VecDeque<T>) -> Join {
        let meta = self.meta.lock();
        let head = meta.head;
        let from = lagged_at.unwrap_or(head);
        let reset_skipped =
            lagged_at.is_some() && matches!(&meta.last_reset, Some((seq, _)) if *seq >= from);
        // A receiver still inside the cached GOP (and not behind a reset,
        // which would have emptied the cache) continues from the cache.
        let continues = lagged_at.is_some()
            && !reset_skipped
            && matches!(&meta.gop, Gop::Cached { entries, .. }
                if entries.front().is_some_and(|(seq, _)| *seq <= from));
        // Sequence numbers of what is replayed from the snapshot rather than
        // the ring, so that they do not count as lost.
        let mut replayed: Vec<u64> = Vec::new();
        if reset_skipped {
            if let Some((seq, reset)) = &meta.last_reset {
                replay.push_back(reset.clone());
                replayed.push(*seq);
            }
        }
        // Headers in the order they were pushed: metadata usually precedes
        // the codec configs and muxers may care.
        let mut headers: Vec<&(u64, T)> = meta
            .headers
            .iter()
            .flatten()
            .filter(|(seq, _)| !continues || *seq >= from)
            .collect();
        headers.sort_unstable_by_key(|(seq, _)| *seq);
        replayed.extend(headers.iter().map(|(seq, _)| *seq));
        // Stamped with the first GOP entry this receiver will get, so the
        // headers do not lead its first frame by up to a GOP.
        let first = match &meta.gop {
            Gop::Cached { entries, .. } if continues => entries
                .get(entries.partition_point(|(seq, _)| *seq < from))
                .map(|(_, e)| e),
            Gop::Cached { entries, .. } => entries.front().map(|(_, e)| e),
            Gop::None | Gop::Overflowed => None,
        };
        replay.extend(headers.into_iter().map(|(_, e)| {
            first
                .and_then(|first| e.restamped_to(first))
                .unwrap_or_else(|| e.clone())
        }));

        // Entries in `from..end` are neither read from the ring nor (unless
        // counted in `replayed`) replayed: those are lost.
        let (wait_key, end) = match &meta.gop {
            Gop::Cached { entries, .. } if continues => {
                let start = entries.partition_point(|(seq, _)| *seq < from);
                replay.extend(entries.range(start..).map(|(_, e)| e.clone()));
                (false, from)
            }
            Gop::Cached { entries, .. } => {
                replay.extend(entries.iter().map(|(_, e)| e.clone()));
                (
                    false,
                    entries.front().map_or(head, |(seq, _)| *seq).max(from),
                )
            }
            Gop::None => (false, head),
            Gop::Overflowed => (true, head),
        };
        let recovered = replayed
            .iter()
            .filter(|seq| (from..end).contains(*seq))
            .count();
        let skipped = (end - from).saturating_sub(recovered as u64);
        Join {
            cursor: head,
            wait_key,
            skipped,
        }
    }

    pub(super) fn stats(&self) -> ChannelStats {
        let meta = self.meta.lock();
        let (gop_entries, gop_bytes) = match &meta.gop {
            Gop::Cached { entries, bytes } => (entries.len(), *bytes),
            Gop::None | Gop::Overflowed => (0, 0),
        };
        ChannelStats {
            pushed: meta.head,
            receivers: self.receivers.load(Ordering::Acquire),
            gop_entries,
            gop_bytes,
            headers: meta.headers.iter().flatten().count(),
        }
    }
}
