//! Where a viewer's entries come from: its own receiver, or the stream's
//! write pass while it is parked. One home for the park / return / reclaim
//! dance that every adapter with parked viewers goes through.

use bytes::Bytes;
use weir_hub::{Entry, Parking, Receiver};

use crate::sink::{Picker, SocketSink};

/// A viewer's source of entries.
pub enum Feed<T: Entry, P> {
    /// Paused: no queue at all (an RTMP player that paused resumes at the
    /// latest keyframe like a new viewer).
    Paused,
    /// The viewer's task takes entries from its receiver.
    Own(Receiver<T>),
    /// Parked: the stream's write pass writes for the viewer.
    Parked(Parking<T, SocketSink<P>>),
}

/// What [`Feed::next`] found.
pub enum Next<T: Entry, P> {
    /// Entries were appended to the batch.
    Batch,
    /// The stream's channel closed.
    Closed,
    /// The write pass handed the viewer back; give it to
    /// [`Feed::returned`]. `None` if the pass failed.
    Returned(Option<(Receiver<T>, SocketSink<P>)>),
}

impl<T: Entry, P: Picker<T>> Feed<T, P> {
    /// Waits for entries (appending up to `max` to `batch`), for a parked
    /// viewer to be handed back, or forever while paused. Cancel-safe.
    pub async fn next(&mut self, batch: &mut Vec<T>, max: usize) -> Next<T, P> {
        match self {
            Feed::Paused => std::future::pending().await,
            Feed::Parked(parking) => Next::Returned(parking.returned().await),
            Feed::Own(rx) => match rx.recv_batch(batch, max).await {
                Ok(()) => Next::Batch,
                Err(_) => Next::Closed,
            },
        }
    }

    /// The receiver, when the task holds it.
    pub fn receiver(&self) -> Option<&Receiver<T>> {
        match self {
            Feed::Own(rx) => Some(rx),
            _ => None,
        }
    }

    /// True while parked.
    pub fn is_parked(&self) -> bool {
        matches!(self, Feed::Parked(_))
    }

    /// Parks a caught-up receiver with the sink `sink` makes; stays as it
    /// is when the receiver has entries left or the channel is running a
    /// pass (the next batch tries again).
    pub fn try_park(&mut self, sink: impl FnOnce() -> SocketSink<P>) {
        let rx = match std::mem::replace(self, Feed::Paused) {
            Feed::Own(rx) => rx,
            other => {
                *self = other;
                return;
            }
        };
        *self = match rx.park(sink()) {
            Ok(parking) => Feed::Parked(parking),
            Err((rx, _)) => Feed::Own(rx),
        };
    }

    /// Takes a parked viewer back (at once, or after the pass running
    /// now) before its task writes or changes anything itself. Returns
    /// what the pass could not write, which goes out first; `Err` if the
    /// pass failed.
    pub async fn unpark(&mut self) -> Result<Vec<Bytes>, PassFailed> {
        let parking = match std::mem::replace(self, Feed::Paused) {
            Feed::Parked(parking) => parking,
            other => {
                *self = other;
                return Ok(Vec::new());
            }
        };
        let pair = parking.reclaim().await;
        self.returned(pair)
    }

    /// Takes back a viewer the pass handed back: the receiver resumes, and
    /// the returned bytes must be written before anything else.
    pub fn returned(
        &mut self,
        pair: Option<(Receiver<T>, SocketSink<P>)>,
    ) -> Result<Vec<Bytes>, PassFailed> {
        let (rx, sink) = pair.ok_or(PassFailed)?;
        *self = Feed::Own(rx);
        Ok(sink.rest)
    }
}

/// A sink was lost in a write pass that panicked; its viewer must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassFailed;

impl std::fmt::Display for PassFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream's write pass failed")
    }
}

impl std::error::Error for PassFailed {}
