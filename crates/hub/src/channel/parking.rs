//! Parking: the producer writes to caught-up viewers itself.
//!
//! The vocabulary, used the same way in every crate: a caught-up viewer
//! *parks* (hands its [`Receiver`] and its [`Sink`] to the channel); the
//! task that wakes the channel runs the *write pass*, which *offers* each
//! new run of entries to every parked sink; a sink is *returned* to its
//! task (socket full, an entry it cannot write alone), or its task
//! *reclaims* it (to write something of its own). Parking serves TCP
//! viewers that all get the same bytes; per-peer encryption (TLS, SRTP)
//! and datagram viewers use ordinary receivers.
//!
//! The normal path wakes every viewer's task on each push; each task then
//! takes its entries and writes them. With a thousand viewers that is a
//! thousand task wakeups, `Notify` registrations and cursor reads per frame
//! before any byte moves — a fifth of the server's CPU with a thousand
//! RTMP players (docs/benchmarks.md). A viewer that has caught up can instead *park*: it hands its
//! [`Receiver`] and a [`Sink`] (its socket writer) to the channel, and from
//! then on the task that wakes the channel offers each new run of entries
//! to every parked sink in one pass, the way nginx's event loop writes to
//! its players — no per-viewer wakeup at all.
//!
//! A sink that cannot take everything at once (its socket is full), or that
//! needs its own task (an entry it cannot write by itself), is handed back
//! through its [`Parking`] with the receiver positioned after what it took,
//! and its task carries on the normal way — with timeouts, waiting for the
//! socket, skipping ahead when it lags — until it has caught up and parks
//! again. So a slow viewer still never slows the producer or anyone else:
//! the pass only ever does non-blocking writes.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::receiver::Receiver;
use super::state::Shared;
use super::Entry;

/// What a parked sink did with the entries offered to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Written in full; stay parked.
    Taken,
    /// Taken (whatever did not fit is the sink's to keep), but hand me back
    /// to my task: the receiver resumes after these entries.
    Return,
    /// Nothing taken: hand me back, and the receiver resumes at the first of
    /// these entries, which the task then handles itself.
    Decline,
}

/// A viewer's writer that the producing task may call directly.
pub trait Sink<T>: Send + 'static {
    /// Offers the entries pushed since the previous offer — the same run
    /// to every parked sink of the channel. Must not block: it is called by
    /// the producer, once per sink, in one pass.
    fn offer(&mut self, entries: &[T]) -> Offer;
}

/// A parked receiver and its sink, as the channel holds them.
pub(super) trait Parked<T>: Send {
    fn id(&self) -> u64;
    fn offer(&mut self, entries: &[T]) -> Offer;
    /// Hands the receiver (now at `next`) and the sink back to the task.
    fn release(self: Box<Self>, next: u64);
}

struct Slot<T: Entry, S> {
    id: u64,
    rx: Receiver<T>,
    sink: S,
    back: oneshot::Sender<(Receiver<T>, S)>,
}

impl<T: Entry, S: Sink<T>> Parked<T> for Slot<T, S> {
    fn id(&self) -> u64 {
        self.id
    }

    fn offer(&mut self, entries: &[T]) -> Offer {
        self.sink.offer(entries)
    }

    fn release(self: Box<Self>, next: u64) {
        let Slot {
            mut rx, sink, back, ..
        } = *self;
        rx.resume_at(next);
        // The task may be gone (its `Parking` dropped): then so are these.
        let _ = back.send((rx, sink));
    }
}

/// The parking lot: the parked sinks of one channel, under its own lock.
pub(super) struct Lot<T> {
    pub(super) sinks: Vec<Box<dyn Parked<T>>>,
    /// Next sequence the pass will offer: every parked receiver is here.
    pub(super) cursor: u64,
    /// A pass is running (its sinks are out of `sinks`).
    pub(super) busy: bool,
    /// A wake came during the pass: run again before finishing.
    pub(super) again: bool,
    /// Sinks whose task asked for them back during a pass.
    pub(super) reclaim: Vec<u64>,
    /// Entries of the current pass, reused.
    pub(super) scratch: Vec<T>,
    next_id: u64,
}

impl<T> Default for Lot<T> {
    fn default() -> Self {
        Lot {
            sinks: Vec::new(),
            cursor: 0,
            busy: false,
            again: false,
            reclaim: Vec::new(),
            scratch: Vec::new(),
            next_id: 0,
        }
    }
}

/// A parked viewer's claim on its receiver and sink.
///
/// [`Parking::returned`] resolves when the producer hands them back;
/// [`Parking::reclaim`] asks for them (a task that must write something of
/// its own first takes its socket back). Dropping it unparks the sink.
pub struct Parking<T: Entry, S> {
    shared: Arc<Shared<T>>,
    id: u64,
    back: oneshot::Receiver<(Receiver<T>, S)>,
}

impl<T: Entry, S: Sink<T>> Parking<T, S> {
    /// Parks `rx` with `sink` if `rx` has caught up with the channel (no
    /// replay pending, nothing unread); otherwise gives both back.
    pub(super) fn park(
        shared: &Arc<Shared<T>>,
        rx: Receiver<T>,
        sink: S,
    ) -> Result<Self, (Receiver<T>, S)> {
        let mut d = shared.lot.lock();
        let next = match rx.parkable_at() {
            Some(next) if !d.busy && !shared.is_closed() => next,
            _ => return Err((rx, sink)),
        };
        if d.sinks.is_empty() {
            // Nobody else parked: the pass starts where this receiver is,
            // provided it has read everything pushed (anything it has not
            // would wait for the next wake).
            if next != shared.head() {
                return Err((rx, sink));
            }
            d.cursor = next;
        } else if next != d.cursor {
            return Err((rx, sink));
        }
        let id = d.next_id;
        d.next_id += 1;
        let (tx, back) = oneshot::channel();
        d.sinks.push(Box::new(Slot {
            id,
            rx,
            sink,
            back: tx,
        }));
        drop(d);
        Ok(Parking {
            shared: shared.clone(),
            id,
            back,
        })
    }

    /// Resolves when the producer hands the receiver and sink back (the
    /// sink returned or declined an offer, or the channel closed).
    /// Cancel-safe. `None` only if a sink panicked during a pass, which
    /// drops the sinks of that pass unreleased.
    pub async fn returned(&mut self) -> Option<(Receiver<T>, S)> {
        (&mut self.back).await.ok()
    }

    /// Takes the receiver and sink back: at once if no pass is running,
    /// else as soon as the running pass ends.
    pub async fn reclaim(mut self) -> Option<(Receiver<T>, S)> {
        if let Some((slot, cursor)) = self.detach() {
            slot.release(cursor);
        }
        let pair = self.returned().await;
        // Released: nothing left for Drop to unpark.
        self.id = u64::MAX;
        pair
    }
}

impl<T: Entry, S> Parking<T, S> {
    /// Takes this sink out of the channel's list now (with the cursor its
    /// receiver is at), or, while a pass runs, asks the pass to release it
    /// when it ends.
    fn detach(&self) -> Option<(Box<dyn Parked<T>>, u64)> {
        let mut d = self.shared.lot.lock();
        if d.busy {
            d.reclaim.push(self.id);
            return None;
        }
        let cursor = d.cursor;
        take(&mut d.sinks, self.id).map(|s| (s, cursor))
    }
}

impl<T: Entry, S> Drop for Parking<T, S> {
    fn drop(&mut self) {
        if self.id == u64::MAX {
            return;
        }
        // Dropped outside the lock: the receiver's drop may wake the
        // producer's "receivers gone" wait.
        drop(self.detach());
    }
}

/// Removes the sink `id` from `sinks`.
pub(super) fn take<T>(sinks: &mut Vec<Box<dyn Parked<T>>>, id: u64) -> Option<Box<dyn Parked<T>>> {
    let at = sinks.iter().position(|s| s.id() == id)?;
    Some(sinks.swap_remove(at))
}

impl<T: Entry> Shared<T> {
    /// Offers what was pushed since the last pass to every parked sink,
    /// handing back those that return or decline. Runs on the waking task;
    /// a wake during a pass makes the running pass go round once more.
    pub(super) fn write_pass(&self) {
        let (mut sinks, mut scratch, mut from) = {
            let mut d = self.lot.lock();
            if d.busy {
                d.again = true;
                return;
            }
            if d.sinks.is_empty() {
                return;
            }
            d.busy = true;
            (
                std::mem::take(&mut d.sinks),
                std::mem::take(&mut d.scratch),
                d.cursor,
            )
        };
        let mut released: Vec<(Box<dyn Parked<T>>, u64)> = Vec::new();
        loop {
            let head = self.head();
            if !self.read_range(from, head, &mut scratch) {
                // Overwritten before we got to it (cannot happen with a
                // ring larger than one wake's worth): let every receiver
                // re-join on its own.
                released.extend(sinks.drain(..).map(|s| (s, from)));
            }
            if !scratch.is_empty() {
                let mut i = 0;
                while i < sinks.len() {
                    let next = match sinks[i].offer(&scratch) {
                        Offer::Taken => {
                            i += 1;
                            continue;
                        }
                        Offer::Return => head,
                        Offer::Decline => from,
                    };
                    released.push((sinks.swap_remove(i), next));
                }
            }
            scratch.clear();
            let mut d = self.lot.lock();
            for id in std::mem::take(&mut d.reclaim) {
                if let Some(s) = take(&mut sinks, id) {
                    released.push((s, head));
                }
            }
            d.cursor = head;
            if d.again {
                d.again = false;
                from = head;
                continue;
            }
            if self.is_closed() && head == self.head() {
                released.extend(sinks.drain(..).map(|s| (s, head)));
            }
            d.sinks = sinks;
            d.scratch = scratch;
            d.busy = false;
            break;
        }
        for (slot, next) in released {
            slot.release(next);
        }
    }
}
