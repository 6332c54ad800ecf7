//! When an egress muxer wakes its viewers: adaptive write coalescing.
//!
//! Every wakeup of a viewer costs one `writev` (and on the receiving side
//! one TCP input and one reader wakeup): on a busy stream that per-write
//! kernel work, not the bytes, is most of the server's CPU. A typical
//! stream pushes ~73 messages a second (30 video frames, 43 AAC frames),
//! so a viewer woken on every push writes 73 times a second.
//!
//! The rule: a muxer wakes its viewers at once for anything but audio
//! (video frames, script data, publisher boundaries). An audio-only push
//! on a stream that has video, watched by at least
//! [`Coalesce::min_viewers`], is not announced: it waits in the channel
//! for the next video frame, and goes out with it in the same `writev`,
//! or after [`Coalesce::max_hold`] if no video frame comes first. So a
//! busy audio+video stream costs one write per video frame, video is never
//! delayed, audio at most `max_hold` (less than one video frame interval
//! in practice), and a small audience or an audio-only stream sees no
//! delay at all.

use std::time::Duration;

use tokio::time::Instant;

use crate::hub::StreamEvent;
use weir_media::TrackKind;

/// Write-coalescing settings of an [`Egress`](crate::Egress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coalesce {
    /// Longest an audio entry waits for the next video frame before the
    /// viewers are woken anyway. Zero wakes viewers on every push.
    pub max_hold: Duration,
    /// Audio is held only while at least this many viewers share the
    /// stream: below that, the CPU saved is too small to be worth any delay.
    pub min_viewers: usize,
}

impl Coalesce {
    /// Wake on every push.
    pub const OFF: Coalesce = Coalesce {
        max_hold: Duration::ZERO,
        min_viewers: usize::MAX,
    };
}

/// On: audio waits up to 40 ms (one video frame at 25 fps) for the next
/// video frame once 100 viewers share a stream.
impl Default for Coalesce {
    fn default() -> Self {
        Coalesce {
            max_hold: Duration::from_millis(40),
            min_viewers: 100,
        }
    }
}

/// The decision state of one muxer task.
#[derive(Debug)]
pub(crate) struct Holder {
    cfg: Coalesce,
    /// The current publisher sent video: audio has something to wait for.
    has_video: bool,
    /// Viewers not yet woken for what was pushed; wake them by then.
    deadline: Option<Instant>,
}

/// What a muxer task does after pushing a batch of entries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Wake the viewers now.
    Now,
    /// Keep quiet; wake them at the deadline (or with a later push).
    Later,
}

impl Holder {
    pub(crate) fn new(cfg: Coalesce) -> Self {
        Holder {
            cfg,
            has_video: false,
            deadline: None,
        }
    }

    /// Notes an event on its way through the muxer; true if it must reach
    /// the viewers at once (anything but audio).
    pub(crate) fn urgent(&mut self, ev: &StreamEvent) -> bool {
        match ev {
            StreamEvent::Frame(f) => match f.kind {
                TrackKind::Audio => false,
                TrackKind::Video => {
                    self.has_video = true;
                    true
                }
                TrackKind::Data => true,
            },
            // A new publisher may not send video: learn it again.
            StreamEvent::Published | StreamEvent::Unpublished | StreamEvent::Replaced => {
                self.has_video = false;
                true
            }
        }
    }

    /// Decides after a push: `urgent` if any event of the batch was,
    /// `viewers` the channel's receiver count.
    pub(crate) fn after_push(&mut self, urgent: bool, viewers: usize, now: Instant) -> Wake {
        let hold = !urgent
            && self.has_video
            && !self.cfg.max_hold.is_zero()
            && viewers >= self.cfg.min_viewers;
        if !hold {
            self.deadline = None;
            return Wake::Now;
        }
        self.deadline.get_or_insert(now + self.cfg.max_hold);
        Wake::Later
    }

    /// When held entries must be announced at the latest.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The deadline passed and the viewers were woken.
    pub(crate) fn expired(&mut self) {
        self.deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use weir_media::{Codec, Frame};

    fn frame(kind: TrackKind) -> StreamEvent {
        let codec = match kind {
            TrackKind::Audio => Codec::Aac,
            _ => Codec::H264,
        };
        StreamEvent::Frame(Frame {
            kind,
            codec,
            dts_us: 0,
            cts_us: 0,
            key: false,
            config: false,
            data: Bytes::new(),
        })
    }

    const ON: Coalesce = Coalesce {
        max_hold: Duration::from_millis(40),
        min_viewers: 10,
    };

    #[test]
    fn audio_waits_for_video_on_a_busy_stream() {
        let now = Instant::now();
        let mut h = Holder::new(ON);
        assert!(h.urgent(&frame(TrackKind::Video)));
        assert_eq!(h.after_push(true, 100, now), Wake::Now);
        assert!(!h.urgent(&frame(TrackKind::Audio)));
        assert_eq!(h.after_push(false, 100, now), Wake::Later);
        let deadline = now + ON.max_hold;
        assert_eq!(h.deadline(), Some(deadline));
        // A second audio frame keeps the first one's deadline.
        let later = now + Duration::from_millis(20);
        assert_eq!(h.after_push(false, 100, later), Wake::Later);
        assert_eq!(h.deadline(), Some(deadline));
        // The video frame takes everything.
        assert_eq!(h.after_push(true, 100, later), Wake::Now);
        assert_eq!(h.deadline(), None);
        assert_eq!(h.after_push(false, 100, later), Wake::Later);
        h.expired();
        assert_eq!(h.deadline(), None);
    }

    #[test]
    fn no_hold_for_small_audiences_audio_only_streams_or_when_off() {
        let now = Instant::now();
        let mut h = Holder::new(ON);
        // No video yet: audio-only streams are never held.
        h.urgent(&frame(TrackKind::Audio));
        assert_eq!(h.after_push(false, 100, now), Wake::Now);
        h.urgent(&frame(TrackKind::Video));
        assert_eq!(h.after_push(false, 9, now), Wake::Now);
        // A publisher boundary forgets the video.
        assert!(h.urgent(&StreamEvent::Replaced));
        assert_eq!(h.after_push(false, 100, now), Wake::Now);
        let mut off = Holder::new(Coalesce::OFF);
        off.urgent(&frame(TrackKind::Video));
        assert_eq!(off.after_push(false, usize::MAX, now), Wake::Now);
    }
}
