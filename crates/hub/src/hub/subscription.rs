//! The watching side of a stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use weir_media::StreamKey;

use super::{HubInner, Stream, StreamEvent};
use crate::channel::{Closed, Receiver};

/// A subscriber to one stream key, live or not yet live.
///
/// It joins like any channel receiver: header frames, then the frames since
/// the last keyframe, then live frames. It survives publisher changes: it
/// sees `Unpublished`, and `Published` when somebody publishes again.
/// Dropping it frees the stream if nobody else uses it.
pub struct Subscription {
    hub: Arc<HubInner>,
    stream: Arc<Stream>,
    rx: Receiver<StreamEvent>,
}

impl Subscription {
    pub(super) fn new(hub: Arc<HubInner>, stream: Arc<Stream>, rx: Receiver<StreamEvent>) -> Self {
        Subscription { hub, stream, rx }
    }

    /// Waits for events, then appends all that are queued (up to `max`).
    /// See [`Receiver::recv_batch`]; cancel-safe. The hub never closes a
    /// stream that has subscribers, so `Closed` does not happen in practice.
    pub async fn recv_batch(
        &mut self,
        out: &mut Vec<StreamEvent>,
        max: usize,
    ) -> Result<(), Closed> {
        self.rx.recv_batch(out, max).await
    }

    /// Appends the events queued now (up to `max`); `Ok(0)` if none.
    pub fn try_recv_batch(
        &mut self,
        out: &mut Vec<StreamEvent>,
        max: usize,
    ) -> Result<usize, Closed> {
        self.rx.try_recv_batch(out, max)
    }

    /// Events this subscriber lost because it lagged.
    pub fn dropped(&self) -> u64 {
        self.rx.dropped()
    }

    /// Events queued for this subscriber now.
    pub fn lag(&self) -> usize {
        self.rx.lag()
    }

    /// A publisher is attached to the stream right now.
    pub fn is_live(&self) -> bool {
        self.stream.live.load(Ordering::Acquire)
    }

    /// The stream's key.
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    /// True as soon as the stream is live, false if it is not within
    /// `timeout`. For players that connect before the encoder does.
    pub async fn wait_live(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.stream.live_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_live() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_live();
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut streams = self.hub.streams.lock();
        if self.stream.subscribers.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.hub.report_demand(&self.stream.key, 0);
        }
        HubInner::remove_if_unused(&mut streams, &self.stream);
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.stream.key)
            .field("rx", &self.rx)
            .finish()
    }
}
