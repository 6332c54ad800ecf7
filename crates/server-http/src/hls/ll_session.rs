//! One stream's LL-HLS session: a live fMP4 muxer cutting parts of at most
//! `part_ms`, the [`LowLatency`] playlist state they feed, and the task
//! that drives both from the hub.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;
use weir_fmp4::{Fmp4Config, Fmp4Muxer, Fmp4Output};
use weir_hls::{LlConfig, LowLatency, PartIn};
use weir_hub::{StreamEvent, Subscription};
use weir_media::StreamKey;

use super::Inner;
use crate::HlsSettings;

/// Hub events taken per wakeup.
const BATCH: usize = 256;
/// How often the task checks for idleness.
const TICK: Duration = Duration::from_secs(1);

/// What requests read, under one short lock.
pub(super) struct LlState {
    pub(super) ll: LowLatency,
    /// The playlist in full and as a delta update, rendered once per
    /// change rather than per request: every viewer reloads it each part.
    pub(super) full: Bytes,
    pub(super) delta: Bytes,
}

impl LlState {
    fn refresh(&mut self) {
        self.full = Bytes::from(self.ll.playlist(false));
        self.delta = Bytes::from(self.ll.playlist(true));
    }
}

/// A stream's LL-HLS session.
pub(super) struct LlSession {
    key: StreamKey,
    /// `{sid}-`: every media file name of this session starts so.
    pub(super) prefix: String,
    pub(super) state: Mutex<LlState>,
    /// Signalled whenever a part, segment or the end is added.
    pub(super) changed: watch::Sender<()>,
    last_access: Mutex<Instant>,
    /// Requests of this stream held now (blocking reloads, preload hints).
    pub(super) blocked: AtomicUsize,
}

impl LlSession {
    pub(super) fn new(key: StreamKey, sid: &str, cfg: &HlsSettings) -> Self {
        let prefix = format!("{sid}-");
        let ll = LowLatency::new(LlConfig {
            part_target: cfg.part,
            segment: cfg.fragment,
            // As for TS: a stream whose keyframes are rarer than this gets
            // segments cut mid-GOP (parts flow regardless).
            max_segment: (cfg.fragment * 5).max(Duration::from_secs(10)),
            // Long enough that delta updates (which skip what is older than
            // six target durations) have something to skip.
            window: cfg.window.max(cfg.fragment * 12),
            extra_kept: 3,
            prefix: prefix.clone(),
        });
        let mut state = LlState {
            ll,
            full: Bytes::new(),
            delta: Bytes::new(),
        };
        state.refresh();
        LlSession {
            key,
            prefix,
            state: Mutex::new(state),
            changed: watch::Sender::new(()),
            last_access: Mutex::new(Instant::now()),
            blocked: AtomicUsize::new(0),
        }
    }

    pub(super) fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Records a request: keeps the session alive.
    pub(super) fn touch(&self) {
        *self.last_access.lock() = Instant::now();
    }

    /// Takes one of the stream's places for a held request, if one is free.
    pub(super) fn hold(self: &Arc<Self>, max: usize) -> Option<HeldHere> {
        let prev = self.blocked.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            self.blocked.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(HeldHere(self.clone()))
    }
}

/// A held request's place in its stream's count; freed on drop.
pub(super) struct HeldHere(Arc<LlSession>);

impl Drop for HeldHere {
    fn drop(&mut self) {
        self.0.blocked.fetch_sub(1, Ordering::AcqRel);
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Feeds the muxer's outputs to the playlist; whether anything changed.
fn apply(ll: &mut LowLatency, outputs: Vec<Fmp4Output>) -> bool {
    let mut changed = false;
    for o in outputs {
        match o {
            Fmp4Output::Init(data) => ll.set_init(data),
            Fmp4Output::Fragment {
                data,
                key,
                dts_us,
                duration_us,
            } => {
                ll.push_part(PartIn {
                    data,
                    dts_us,
                    duration_us,
                    independent: key,
                    // The fragment was cut as the frame after it arrived:
                    // it began about its duration ago.
                    wall_ms: wall_ms() - duration_us / 1000,
                });
                changed = true;
            }
        }
    }
    changed
}

/// The session task: hub events into the muxer and the playlist until the
/// session has been idle for `idle_timeout` or the server stops. A stream
/// that ends gets `#EXT-X-ENDLIST` at once, which answers every held
/// request; a publisher that comes back resumes after a discontinuity.
pub(super) async fn run(hls: Arc<Inner>, session: Arc<LlSession>, mut sub: Subscription) {
    let cfg = &hls.cfg;
    let mut muxer = Fmp4Muxer::new(Fmp4Config {
        max_fragment_ms: u32::try_from(cfg.part.as_millis()).unwrap_or(u32::MAX),
        cap_at_max: true,
        ..Fmp4Config::default()
    });
    let mut events = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refused = 0u64;
    loop {
        tokio::select! {
            biased;
            () = hls.shutdown.cancelled() => break,
            res = sub.recv_batch(&mut events, BATCH) => {
                if res.is_err() {
                    break;
                }
                let mut st = session.state.lock();
                let mut changed = false;
                for ev in events.drain(..) {
                    let (outputs, end) = match &ev {
                        StreamEvent::Frame(frame) => (muxer.push(frame), None),
                        // Publish the tail at once; a takeover continues the
                        // playlist after a discontinuity, an unpublish ends it.
                        StreamEvent::Unpublished => (muxer.finish(), Some(true)),
                        StreamEvent::Replaced => (muxer.finish(), Some(false)),
                        StreamEvent::Published => continue,
                    };
                    match outputs {
                        Ok(outputs) => changed |= apply(&mut st.ll, outputs),
                        Err(error) => {
                            if refused == 0 {
                                tracing::warn!(stream = %session.key, %error, "llhls: frame refused");
                            }
                            refused += 1;
                        }
                    }
                    match end {
                        Some(true) => st.ll.end(),
                        Some(false) => st.ll.discontinuity(),
                        None => {}
                    }
                    changed |= end.is_some();
                }
                if changed {
                    st.refresh();
                    drop(st);
                    session.changed.send_replace(());
                }
            }
            _ = tick.tick() => {
                let idle = session.last_access.lock().elapsed();
                if idle >= cfg.idle_timeout && session.blocked.load(Ordering::Acquire) == 0 {
                    break;
                }
            }
        }
    }
    hls.retire_ll(&session);
    // Whoever still holds the session (a request racing the stop) gets an
    // ended playlist rather than waiting for parts that will not come.
    {
        let mut st = session.state.lock();
        st.ll.end();
        st.refresh();
    }
    session.changed.send_replace(());
    tracing::info!(stream = %session.key, refused, "llhls stopped");
}
