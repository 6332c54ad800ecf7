//! One stream's HLS session: the segmenter, the task that feeds it from the
//! hub, and what requests read.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;
use weir_hls::{HlsConfig, SegmentEvent, Segmenter};
use weir_hub::{StreamEvent, Subscription};
use weir_media::StreamKey;

use super::disk::Disk;
use super::Inner;
use crate::HlsSettings;

/// Hub events taken per wakeup.
const BATCH: usize = 256;
/// How often the task checks for idleness and for a stream gone off air.
const TICK: Duration = Duration::from_secs(1);

/// What requests read, under one short lock.
struct State {
    segmenter: Segmenter,
    /// The rendered playlist, refreshed when it changes rather than per
    /// request: many viewers poll it every few seconds.
    playlist: Bytes,
    /// A segment has been finished: the playlist lists something.
    has_segment: bool,
}

/// A stream's HLS session.
pub(super) struct Session {
    key: StreamKey,
    /// `{stream}-{sid}-`: every segment name of this session starts so.
    prefix: String,
    state: Mutex<State>,
    /// Signalled whenever the playlist changes.
    changed: watch::Sender<()>,
    /// When a request last touched the session.
    last_access: Mutex<Instant>,
}

impl Session {
    pub(super) fn new(key: StreamKey, sid: &str, cfg: &HlsSettings) -> Self {
        let name = format!("{}-{sid}", key.stream());
        let seg_cfg = HlsConfig {
            fragment: cfg.fragment,
            // A stream whose keyframes are rarer than this gets segments
            // cut mid-GOP; keep the segmenter's 10 s unless the fragment
            // itself is long.
            max_fragment: (cfg.fragment * 5).max(Duration::from_secs(10)),
            window: cfg.window,
            ..HlsConfig::default()
        };
        let segmenter = Segmenter::new(seg_cfg, &name);
        let playlist = Bytes::from(segmenter.playlist());
        Session {
            prefix: format!("{name}-"),
            key,
            state: Mutex::new(State {
                segmenter,
                playlist,
                has_segment: false,
            }),
            changed: watch::Sender::new(()),
            last_access: Mutex::new(Instant::now()),
        }
    }

    pub(super) fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Records a request: keeps the session alive.
    pub(super) fn touch(&self) {
        *self.last_access.lock() = Instant::now();
    }

    /// The playlist once it lists a segment, or as it stands at `deadline`.
    pub(super) async fn playlist_after_first(&self, deadline: Instant) -> Bytes {
        let mut changed = self.changed.subscribe();
        loop {
            {
                let st = self.state.lock();
                if st.has_segment {
                    return st.playlist.clone();
                }
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return self.state.lock().playlist.clone(),
            }
        }
    }

    /// The segment called `{stem}.ts`, while it is held in memory.
    pub(super) fn segment(&self, stem: &str) -> Option<Bytes> {
        let seq = stem.strip_prefix(&self.prefix)?.parse().ok()?;
        self.state.lock().segmenter.segment(seq)
    }
}

impl State {
    /// Renders the playlist again after segments changed.
    fn refresh(&mut self) {
        self.playlist = Bytes::from(self.segmenter.playlist());
    }
}

/// Applies one hub event to the segmenter.
fn apply(seg: &mut Segmenter, ev: &StreamEvent, out: &mut Vec<SegmentEvent>) {
    match ev {
        StreamEvent::Frame(frame) => out.extend(seg.push(frame)),
        // Finish the last segment now (players get the tail of the stream)
        // and mark the next publisher's first segment as a discontinuity.
        StreamEvent::Unpublished | StreamEvent::Replaced => out.extend(seg.discontinuity()),
        StreamEvent::Published => {}
    }
}

/// The session task: hub events into the segmenter until the session has
/// been idle for `idle_timeout` (or the server stops). A stream that stays
/// off air for `window` gets `#EXT-X-ENDLIST`, so players stop polling; a
/// publisher that comes back later resumes it after a discontinuity.
pub(super) async fn run(hls: Arc<Inner>, session: Arc<Session>, mut sub: Subscription) {
    let cfg = &hls.cfg;
    let mut disk = cfg
        .disk_dir
        .as_deref()
        .map(|d| Disk::new(d, &session.key, &session.prefix));
    let mut events = Vec::with_capacity(BATCH);
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut offline_since = (!sub.is_live()).then(Instant::now);
    let mut ended = false;
    let mut refused = 0u64;
    loop {
        tokio::select! {
            biased;
            () = hls.shutdown.cancelled() => break,
            res = sub.recv_batch(&mut events, BATCH) => {
                if res.is_err() {
                    break;
                }
                for ev in &events {
                    match ev {
                        StreamEvent::Published => offline_since = None,
                        StreamEvent::Unpublished => offline_since = Some(Instant::now()),
                        StreamEvent::Frame(_) | StreamEvent::Replaced => ended = false,
                    }
                }
                let playlist = {
                    let mut st = session.state.lock();
                    for ev in events.drain(..) {
                        apply(&mut st.segmenter, &ev, &mut out);
                    }
                    let changed = out.iter().any(|e| !matches!(e, SegmentEvent::FrameDropped { .. }));
                    if changed {
                        st.refresh();
                        st.has_segment |= out.iter().any(|e| matches!(e, SegmentEvent::Finished(_)));
                    }
                    changed.then(|| st.playlist.clone())
                };
                for ev in out.drain(..) {
                    match ev {
                        SegmentEvent::Finished(seg) => {
                            cfg.produced.add();
                            if let Some(d) = disk.as_mut() {
                                d.write_segment(seg.seq, &seg.data).await;
                            }
                        }
                        SegmentEvent::Evicted(seq) => {
                            if let Some(d) = disk.as_mut() {
                                d.remove_segment(seq).await;
                            }
                        }
                        SegmentEvent::FrameDropped { dts_us, error } => {
                            if refused == 0 {
                                tracing::warn!(stream = %session.key, dts_us, %error, "hls: frame dropped");
                            }
                            refused += 1;
                        }
                    }
                }
                if let Some(playlist) = playlist {
                    if let Some(d) = disk.as_mut() {
                        d.write_playlist(&playlist).await;
                    }
                    session.changed.send_replace(());
                }
            }
            _ = tick.tick() => {
                hls.viewers.sweep();
                let idle = session.last_access.lock().elapsed();
                if idle >= cfg.idle_timeout && !(cfg.always_on && sub.is_live()) {
                    break;
                }
                if !ended && offline_since.is_some_and(|t| t.elapsed() >= cfg.window) {
                    ended = true;
                    let playlist = {
                        let mut st = session.state.lock();
                        // `Unpublished` already finished the open segment:
                        // ending only adds the tag, there is nothing to mirror.
                        let _ = st.segmenter.end();
                        st.refresh();
                        st.playlist.clone()
                    };
                    if let Some(d) = disk.as_mut() {
                        d.write_playlist(&playlist).await;
                    }
                    session.changed.send_replace(());
                }
            }
        }
    }
    hls.retire(&session);
    tracing::info!(stream = %session.key, refused, "hls stopped");
    if let Some(d) = disk {
        d.remove_all().await;
    }
}
