//! The publishing side of a stream, and its timestamp rebasing.

use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use tokio::sync::Notify;
use weir_media::{ms_to_us, Frame, StreamKey, TrackKind};

use super::{params, Classifier, HubInner, Stream, StreamEvent, StreamState};

/// Why the hub ended a publisher's ownership of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Another publisher took the key over.
    TakenOver,
    /// [`Hub::kick_publisher`](super::Hub::kick_publisher) was called.
    Kicked,
}

/// The hub's side of a publisher: set once, awaited by [`Publisher::closed`].
#[derive(Default)]
pub(super) struct PubCtl {
    reason: Mutex<Option<CloseReason>>,
    notify: Notify,
}

impl PubCtl {
    pub(super) fn close(&self, reason: CloseReason) {
        self.reason.lock().get_or_insert(reason);
        self.notify.notify_waiters();
    }

    async fn wait(&self) -> CloseReason {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = *self.reason.lock() {
                return reason;
            }
            notified.await;
        }
    }
}

/// The publisher currently attached to a stream, kept in the stream state.
pub(super) struct Active {
    pub(super) gen: u64,
    pub(super) client_id: u64,
    pub(super) ctl: Arc<PubCtl>,
    pub(super) started_at: SystemTime,
    /// Decides which frames start a GOP (audio only until video shows up).
    pub(super) classifier: Classifier,
    /// Added to every incoming DTS (µs). `None` until the first media frame
    /// of a publisher that follows another one.
    pub(super) offset: Option<i64>,
}

/// Publishes one stream. Dropping it unpublishes (unless it was already
/// replaced or kicked) and frees the stream if nobody watches.
pub struct Publisher {
    hub: Arc<HubInner>,
    stream: Arc<Stream>,
    gen: u64,
    ctl: Arc<PubCtl>,
}

impl Publisher {
    pub(super) fn new(hub: Arc<HubInner>, stream: Arc<Stream>, gen: u64, ctl: Arc<PubCtl>) -> Self {
        Publisher {
            hub,
            stream,
            gen,
            ctl,
        }
    }

    /// Sends one frame to every subscriber. Never waits.
    ///
    /// Timestamps are rebased so that subscribers see a monotonic DTS per
    /// track: a publisher that follows another continues from the last DTS
    /// the stream carried (+1 ms) instead of jumping back to its own zero,
    /// and a backward step within one track is clamped to the previous DTS.
    /// Frames from a publisher that was replaced or kicked are ignored.
    pub fn send(&mut self, mut frame: Frame) {
        // Config frames are rare: parse them before taking the lock.
        let params = params::parse(&frame);
        let mut st = self.stream.state.lock();
        let StreamState {
            publisher: Some(active),
            last_dts,
            ..
        } = &mut *st
        else {
            return;
        };
        if active.gen != self.gen {
            return;
        }
        frame.dts_us = rebase(active, last_dts, &frame);
        let (kind, codec, len) = (frame.kind, frame.codec, frame.data.len() as u64);
        let (config, key_dts) = (frame.config, frame.key.then_some(frame.dts_us));
        let event = StreamEvent::Frame(frame);
        let class = active.classifier.classify(&event);
        match kind {
            TrackKind::Video => st.video_codec = Some(codec),
            TrackKind::Audio => st.audio_codec = Some(codec),
            TrackKind::Data => {}
        }
        st.frames_in += 1;
        st.bytes_in += len;
        st.stats.count(kind, len, config, key_dts, params);
        let pushed = self.stream.chan.push_quiet(event, class);
        drop(st);
        if pushed {
            self.stream.chan.wake();
        }
    }

    /// Resolves when the hub takes the stream away from this publisher; the
    /// connection should then close. Pending forever otherwise, so it is
    /// meant for a `select!` beside the connection's read loop.
    pub async fn closed(&self) -> CloseReason {
        self.ctl.wait().await
    }

    /// The stream being published.
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }
}

/// Maps a publisher's DTS onto the stream's timeline (µs both); see
/// [`Publisher::send`].
fn rebase(active: &mut Active, last_dts: &mut [Option<i64>; 3], frame: &Frame) -> i64 {
    let stream_last = last_dts.iter().flatten().max().copied();
    let dts = match (active.offset, stream_last) {
        (Some(offset), _) => frame.dts_us.saturating_add(offset),
        // Headers that precede the first media frame of a follow-up
        // publisher carry no useful time: place them at the current end.
        (None, Some(end)) if frame.is_header() => end,
        (None, end) => {
            let offset = end.map_or(0, |end| {
                end.saturating_add(ms_to_us(1)).saturating_sub(frame.dts_us)
            });
            active.offset = Some(offset);
            frame.dts_us.saturating_add(offset)
        }
    };
    let track = match frame.kind {
        TrackKind::Video => 0,
        TrackKind::Audio => 1,
        TrackKind::Data => 2,
    };
    let dts = last_dts[track].map_or(dts, |last| dts.max(last));
    last_dts[track] = Some(dts);
    dts
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut streams = self.hub.streams.lock();
        {
            let mut st = self.stream.state.lock();
            if st.publisher.as_ref().is_some_and(|p| p.gen == self.gen) {
                self.stream.detach(&mut st, None);
            }
        }
        HubInner::remove_if_unused(&mut streams, &self.stream);
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("key", &self.stream.key)
            .field("gen", &self.gen)
            .finish()
    }
}
