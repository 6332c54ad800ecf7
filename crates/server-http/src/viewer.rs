//! One viewer of a shared egress channel: turns queued entries into the
//! byte chunks its response or WebSocket sends, and drops a viewer that
//! cannot keep up.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_hub::{ClientHandle, Entry, Receiver};
use weir_media::TrackKind;

use crate::access::Admitted;

/// An entry that may carry bytes for the viewer.
pub(crate) trait Payload: Entry {
    /// The bytes to send, if any (markers such as "unpublished" have none).
    fn payload(&self) -> Option<&Bytes>;
    /// The media track the entry belongs to, when a viewer may skip it
    /// (`?only=audio`); `None` for entries every viewer needs.
    fn track(&self) -> Option<TrackKind> {
        None
    }
}

/// A viewer's side of a stream: its receiver, its counters, its lag clock.
pub(crate) struct Viewer<T: Payload> {
    rx: Receiver<T>,
    admitted: Admitted,
    batch: Vec<T>,
    pending: VecDeque<Bytes>,
    lag: Lag,
    /// Send only this track's media (and the entries of no track).
    only: Option<TrackKind>,
}

/// A viewer's lag clock: counts what it skipped, and ends a viewer that
/// keeps skipping for longer than `max_lag`.
pub(crate) struct Lag {
    max_lag: Duration,
    lagging_since: Option<Instant>,
    reported_dropped: u64,
}

impl Lag {
    /// A clock that gives up after `max_lag` of continuous lag.
    pub(crate) fn new(max_lag: Duration) -> Self {
        Lag {
            max_lag,
            lagging_since: None,
            reported_dropped: 0,
        }
    }

    /// Counts entries `rx` skipped into `client`; `None` once the viewer
    /// has kept skipping for longer than the limit.
    pub(crate) fn check<T: Entry>(
        &mut self,
        rx: &Receiver<T>,
        client: &ClientHandle,
    ) -> Option<()> {
        let dropped = rx.dropped();
        if dropped > self.reported_dropped {
            client.add_dropped(dropped - self.reported_dropped);
            self.reported_dropped = dropped;
            let since = *self.lagging_since.get_or_insert_with(Instant::now);
            if since.elapsed() > self.max_lag {
                return None;
            }
        } else if rx.lag() == 0 {
            self.lagging_since = None;
        }
        Some(())
    }
}

impl<T: Payload> Viewer<T> {
    /// A viewer the access check allowed, reading `rx`.
    pub(crate) fn new(rx: Receiver<T>, admitted: Admitted, max_lag: Duration) -> Self {
        Viewer {
            rx,
            admitted,
            batch: Vec::with_capacity(256),
            pending: VecDeque::new(),
            lag: Lag::new(max_lag),
            only: None,
        }
    }

    /// Keeps only `track`'s media entries from now on: the shared muxer
    /// still muxes both tracks once, this viewer skips the other's tags.
    pub(crate) fn only(mut self, track: Option<TrackKind>) -> Self {
        self.only = track;
        self
    }

    /// Queues entries received before the viewer was made (a handler that
    /// looked at the first entries to choose its response headers).
    pub(crate) fn queue(&mut self, entries: impl IntoIterator<Item = T>) {
        for entry in entries {
            if let Some(b) = payload_for(&entry, self.only) {
                self.pending.push_back(b.clone());
            }
        }
    }

    /// The streaming response body: `first` (a file header, if any), then
    /// every chunk the viewer gets, until its stream ends or `shutdown`.
    /// One shutdown future for the whole response, not one per chunk.
    pub(crate) fn into_body(self, first: Option<Bytes>, shutdown: CancellationToken) -> Body {
        let chunks = futures_util::stream::iter(first)
            .chain(futures_util::stream::unfold(self, |mut v| async move {
                v.next().await.map(|b| (b, v))
            }))
            .map(Ok::<_, std::convert::Infallible>)
            .take_until(shutdown.cancelled_owned());
        Body::from_stream(chunks)
    }

    /// The viewer's registry handle (for kick and counters).
    pub(crate) fn client(&self) -> &ClientHandle {
        &self.admitted.client
    }

    /// The next bytes to send; `None` when the stream is over for this
    /// viewer (channel closed, or it stayed too far behind too long).
    pub(crate) async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                self.admitted.client.add_out(b.len() as u64);
                return Some(b);
            }
            tokio::select! {
                r = self.rx.recv_batch(&mut self.batch, 256) => r.ok()?,
                _ = self.admitted.client.kicked() => return None,
            }
            self.lag.check(&self.rx, &self.admitted.client)?;
            for entry in self.batch.drain(..) {
                if let Some(b) = payload_for(&entry, self.only) {
                    self.pending.push_back(b.clone());
                }
            }
        }
    }
}

/// The bytes `entry` carries for a viewer of `only` (all tracks if
/// `None`): none for markers, nor for media of another track.
pub(crate) fn payload_for<T: Payload>(entry: &T, only: Option<TrackKind>) -> Option<&Bytes> {
    if let (Some(only), Some(track)) = (only, entry.track()) {
        if only != track {
            return None;
        }
    }
    entry.payload().filter(|b| !b.is_empty())
}
