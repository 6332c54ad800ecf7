//! The receiving side: a cursor into the ring plus a replay queue.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::parking::{Parking, Sink};
use super::state::{Join, Shared};
use super::{Class, Closed, Entry};

/// One consumer of a [`Channel`](super::Channel).
///
/// It owns nothing but a cursor and the few entries it must replay on
/// (re)joining, so thousands of receivers cost the publisher nothing.
/// Dropping it is how a consumer leaves.
pub struct Receiver<T: Entry> {
    shared: Arc<Shared<T>>,
    cursor: Cursor<T>,
}

/// Everything but the shared part, so that the receive loop can hold a
/// borrow of the channel's `Notify` while it advances the cursor.
struct Cursor<T> {
    /// Next ring sequence to read.
    next: u64,
    /// Headers and GOP to deliver before ring entries.
    replay: VecDeque<T>,
    /// Skip deltas until a key: joined while the GOP cache had overflowed.
    wait_key: bool,
    /// Whether skipping while `wait_key` counts as loss (a lag re-join), or
    /// is just how a new receiver starts.
    count_waits: bool,
    dropped: u64,
}

impl<T: Entry> Receiver<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        shared.receivers.fetch_add(1, Ordering::AcqRel);
        let mut replay = VecDeque::new();
        let join = shared.join(None, &mut replay);
        Receiver {
            shared,
            cursor: Cursor {
                next: join.cursor,
                replay,
                wait_key: join.wait_key,
                count_waits: false,
                dropped: 0,
            },
        }
    }

    /// Waits until at least one entry is available, then appends every
    /// available entry (up to `max`, at least 1) to `out`. A writer drains
    /// all that is queued in one call and writes it with one vectored write.
    ///
    /// Cancel-safe: entries are only taken when the call returns `Ok`, so
    /// it can sit in a `select!`.
    pub async fn recv_batch(&mut self, out: &mut Vec<T>, max: usize) -> Result<(), Closed> {
        loop {
            // Look first: a receiver that was just woken (or is behind)
            // finds entries without registering with the `Notify`, whose
            // waiter list is a lock every receiver of the channel shares.
            if self.cursor.take(&self.shared, out, max)? > 0 {
                return Ok(());
            }
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Register for the wakeup before looking, so a push between the
            // look and the await is not missed.
            notified.as_mut().enable();
            if self.cursor.take(&self.shared, out, max)? > 0 {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Appends what is available now (up to `max`, at least 1) and returns
    /// how many entries were appended; `Ok(0)` if nothing is queued.
    pub fn try_recv_batch(&mut self, out: &mut Vec<T>, max: usize) -> Result<usize, Closed> {
        self.cursor.take(&self.shared, out, max)
    }

    /// Hands this receiver and `sink` to the channel, which then offers
    /// new entries to `sink` itself instead of waking a task for them (see
    /// [`Sink`]). Only a receiver that has read everything (headers, GOP
    /// replay and all pushed entries) can park; otherwise, or while the
    /// channel is running a write pass, both come straight back.
    pub fn park<S: Sink<T>>(self, sink: S) -> Result<Parking<T, S>, (Receiver<T>, S)> {
        let shared = self.shared.clone();
        Parking::park(&shared, self, sink)
    }

    /// The cursor, if nothing is pending besides ring entries from there.
    pub(super) fn parkable_at(&self) -> Option<u64> {
        (self.cursor.replay.is_empty() && !self.cursor.wait_key).then_some(self.cursor.next)
    }

    /// Moves the cursor of a receiver coming back from parking.
    pub(super) fn resume_at(&mut self, next: u64) {
        self.cursor.next = next;
    }

    /// Entries this receiver never got because it lagged.
    pub fn dropped(&self) -> u64 {
        self.cursor.dropped
    }

    /// Entries queued for this receiver right now (at most the ring
    /// capacity plus the replay).
    pub fn lag(&self) -> usize {
        let head = self.shared.head.load(Ordering::Acquire);
        let behind = head
            .saturating_sub(self.cursor.next)
            .min(self.shared.capacity());
        self.cursor.replay.len() + behind as usize
    }
}

impl<T> Cursor<T>
where
    T: Entry,
{
    fn take(&mut self, shared: &Shared<T>, out: &mut Vec<T>, max: usize) -> Result<usize, Closed> {
        let max = max.max(1);
        let mut n = 0;
        // Read `closed` before `head`: if closed, the head read after it is
        // final, so "closed and caught up" really means drained.
        let closed = shared.closed.load(Ordering::Acquire);
        while n < max {
            if let Some(entry) = self.replay.pop_front() {
                out.push(entry);
                n += 1;
                continue;
            }
            let head = shared.head.load(Ordering::Acquire);
            if self.next >= head {
                break;
            }
            if head - self.next > shared.capacity() {
                self.rejoin(shared);
                continue;
            }
            let idx = (self.next % shared.capacity()) as usize;
            let slot = shared.slots[idx].read();
            let (Some(entry), true) = (&slot.entry, slot.seq == self.next) else {
                // Overwritten between the head check and the read.
                drop(slot);
                self.rejoin(shared);
                continue;
            };
            self.next += 1;
            if self.wait_key {
                match slot.class {
                    Class::Key | Class::Reset => self.wait_key = false,
                    Class::Header(_) => {}
                    Class::Delta => {
                        if self.count_waits {
                            self.dropped += 1;
                        }
                        continue;
                    }
                }
            }
            out.push(entry.clone());
            n += 1;
        }
        if n == 0 && closed && self.next >= shared.head.load(Ordering::Acquire) {
            return Err(Closed);
        }
        Ok(n)
    }

    fn rejoin(&mut self, shared: &Shared<T>) {
        let Join {
            cursor,
            wait_key,
            skipped,
        } = shared.join(Some(self.next), &mut self.replay);
        self.next = cursor;
        self.wait_key = wait_key;
        self.count_waits = true;
        self.dropped += skipped;
    }
}

impl<T: Entry> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.gone.notify_waiters();
        }
    }
}

impl<T: Entry> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("next", &self.cursor.next)
            .field("lag", &self.lag())
            .field("dropped", &self.cursor.dropped)
            .finish()
    }
}
