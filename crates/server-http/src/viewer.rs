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
    max_lag: Duration,
    lagging_since: Option<Instant>,
    reported_dropped: u64,
    /// Send only this track's media (and the entries of no track).
    only: Option<TrackKind>,
}

impl<T: Payload> Viewer<T> {
    /// A viewer the access check allowed, reading `rx`.
    pub(crate) fn new(rx: Receiver<T>, admitted: Admitted, max_lag: Duration) -> Self {
        Viewer {
            rx,
            admitted,
            batch: Vec::with_capacity(256),
            pending: VecDeque::new(),
            max_lag,
            lagging_since: None,
            reported_dropped: 0,
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
            push_payload(&mut self.pending, &entry, self.only);
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
            self.account_lag()?;
            for entry in self.batch.drain(..) {
                push_payload(&mut self.pending, &entry, self.only);
            }
        }
    }

    /// Counts skipped entries; ends a viewer that has kept skipping for
    /// longer than `max_lag`.
    fn account_lag(&mut self) -> Option<()> {
        let dropped = self.rx.dropped();
        if dropped > self.reported_dropped {
            self.admitted
                .client
                .add_dropped(dropped - self.reported_dropped);
            self.reported_dropped = dropped;
            let since = *self.lagging_since.get_or_insert_with(Instant::now);
            if since.elapsed() > self.max_lag {
                return None;
            }
        } else if self.rx.lag() == 0 {
            self.lagging_since = None;
        }
        Some(())
    }
}

/// Queues the bytes `entry` carries, if any (markers carry none) and if
/// it is not media of a track other than `only`.
fn push_payload<T: Payload>(pending: &mut VecDeque<Bytes>, entry: &T, only: Option<TrackKind>) {
    if let (Some(only), Some(track)) = (only, entry.track()) {
        if only != track {
            return;
        }
    }
    if let Some(b) = entry.payload() {
        if !b.is_empty() {
            pending.push_back(b.clone());
        }
    }
}
