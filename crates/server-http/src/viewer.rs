//! One viewer of a shared egress channel: turns queued entries into the
//! byte chunks its socket, response or WebSocket sends, parks it with the
//! stream's write pass when it writes its own socket, and drops a viewer
//! that cannot keep up.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_hub::{ClientHandle, Entry, Receiver};
use weir_media::TrackKind;
use weir_netio::{Feed, Next, Pick, Picker, SharedTcp, SocketSink};

use crate::access::Admitted;
use crate::Shared;

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

/// Entries taken from the channel per wakeup.
const MAX_BATCH: usize = 256;

/// One viewer of a stream: the one loop every HTTP viewer (HTTP-FLV on
/// the socket or through hyper, WS-FLV, fMP4) goes through, so joining,
/// lag, kicks, shutdown and parking follow the same rules whatever writes
/// the bytes. [`Viewer::fill`] gives the next bytes; the writer (a socket,
/// a hyper body, a WebSocket) is the caller's.
pub(crate) struct Viewer<T: Payload> {
    /// No writer of its own (`()`): the caller writes what
    /// [`Viewer::fill`] gives, and an HTTP viewer has nothing to say
    /// besides the stream, so it never needs its socket back mid-stream.
    feed: Feed<T, Only, ()>,
    admitted: Admitted,
    batch: Vec<T>,
    /// Chunks for [`Viewer::next`], which hands them out one at a time.
    pending: VecDeque<Bytes>,
    /// [`Viewer::next`]'s buffer for [`Viewer::fill`], kept to reuse its
    /// allocation.
    spare: Vec<Bytes>,
    lag: Lag,
    /// Send only this track's media (and the entries of no track).
    only: Option<TrackKind>,
    /// The socket the stream's write pass writes to while the viewer is
    /// parked; `None` where hyper or a WebSocket owns the connection, and
    /// the viewer never parks.
    parks_on: Option<SharedTcp>,
    shutdown: CancellationToken,
}

/// A viewer's lag clock: counts what it skipped, and ends a viewer that
/// keeps skipping for longer than `max_lag`.
struct Lag {
    max_lag: Duration,
    lagging_since: Option<Instant>,
    reported_dropped: u64,
}

impl Lag {
    /// A clock that gives up after `max_lag` of continuous lag.
    fn new(max_lag: Duration) -> Self {
        Lag {
            max_lag,
            lagging_since: None,
            reported_dropped: 0,
        }
    }

    /// Counts entries `rx` skipped into `client`; `None` once the viewer
    /// has kept skipping for longer than the limit.
    fn check<T: Entry>(&mut self, rx: &Receiver<T>, client: &ClientHandle) -> Option<()> {
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
    /// A viewer the access check allowed, reading `rx`, with the server's
    /// lag limit and shutdown.
    pub(crate) fn new(rx: Receiver<T>, admitted: Admitted, shared: &Shared) -> Self {
        Viewer {
            feed: Feed::new((), Some(rx)),
            admitted,
            batch: Vec::with_capacity(MAX_BATCH),
            pending: VecDeque::new(),
            spare: Vec::new(),
            lag: Lag::new(shared.config.max_lag),
            only: None,
            parks_on: None,
            shutdown: shared.shutdown.clone(),
        }
    }

    /// Keeps only `track`'s media entries from now on: the shared muxer
    /// still muxes both tracks once, this viewer skips the other's tags.
    pub(crate) fn only(mut self, track: Option<TrackKind>) -> Self {
        self.only = track;
        self
    }

    /// Parks the viewer with its stream's write pass whenever it has
    /// caught up, the pass then writing to `socket`: only for a plain
    /// socket the viewer's own loop writes, and reads nothing else from.
    pub(crate) fn parks_on(mut self, socket: SharedTcp) -> Self {
        self.parks_on = Some(socket);
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
    /// every chunk the viewer gets, until its stream ends or the server
    /// shuts down.
    pub(crate) fn into_body(self, first: Option<Bytes>) -> Body {
        let chunks = futures_util::stream::iter(first)
            .chain(futures_util::stream::unfold(self, |mut v| async move {
                v.next().await.map(|b| (b, v))
            }))
            .map(Ok::<_, std::convert::Infallible>);
        Body::from_stream(chunks)
    }

    /// The viewer's registry handle (for kick and counters).
    pub(crate) fn client(&self) -> &ClientHandle {
        &self.admitted.client
    }

    /// The next chunk to send, for writers that send one at a time (a
    /// hyper body, WebSocket messages), counted as sent; `None` when the
    /// viewer is done (see [`Viewer::fill`]).
    pub(crate) async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                self.admitted.client.add_out(b.len() as u64);
                return Some(b);
            }
            let mut out = std::mem::take(&mut self.spare);
            let filled = self.fill(&mut out).await;
            self.pending.extend(out.drain(..));
            self.spare = out;
            filled.ok()?;
        }
    }

    /// Waits for the viewer's next bytes and appends them to `out` (at
    /// least one chunk); `Err` says why the viewer is done: the server
    /// shuts down, it was kicked, its stream ended, it kept lagging longer
    /// than allowed, or the write pass it was parked with failed. Bytes
    /// the write pass returned unwritten come first. While caught up, a
    /// viewer given [`Viewer::parks_on`] parks in here. Cancel-safe.
    pub(crate) async fn fill(&mut self, out: &mut Vec<Bytes>) -> Result<(), &'static str> {
        loop {
            let only = self.only;
            if let Some(socket) = &self.parks_on {
                let client = &self.admitted.client;
                self.feed.try_park(out, |()| {
                    Some(SocketSink::new(
                        socket.clone(),
                        Only(only),
                        client.out_counter(),
                    ))
                });
            }
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Err("server shutdown"),
                () = self.admitted.client.kicked() => return Err("kicked"),
                next = self.feed.next(&mut self.batch, MAX_BATCH) => match next {
                    Next::Batch => {
                        if let Some(rx) = self.feed.receiver() {
                            if self.lag.check(rx, &self.admitted.client).is_none() {
                                return Err("lagged too long");
                            }
                        }
                        out.extend(self.batch.drain(..).filter_map(|e| payload_for(&e, only).cloned()));
                    }
                    Next::Closed => return Err("stream ended"),
                    Next::Returned(pair) => {
                        if self.feed.returned(pair, out).is_err() {
                            return Err("write pass failed");
                        }
                    }
                },
            }
            if !out.is_empty() {
                return Ok(());
            }
        }
    }
}

/// What a viewer writes of an entry, the same whether its own loop or
/// the write pass writes: every payload, or with `?only=` one track's
/// and the track-less ones; markers carry no bytes.
pub(crate) struct Only(Option<TrackKind>);

impl<T: Payload> Picker<T> for Only {
    fn pick<'a>(&self, entry: &'a T) -> Pick<'a> {
        match payload_for(entry, self.0) {
            Some(bytes) => Pick::Write(bytes),
            None => Pick::Skip,
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
