//! One timeline across a pull's sessions.
//!
//! A pull keeps its hub publisher while it reconnects, so its players stay
//! connected; but every new session's clock starts over (RTSP: the RTP
//! time since PLAY; RTMP: whatever the source server counts from). The
//! [`Timeline`] shifts each session's timestamps so that its first media
//! frame comes after the last frame of the previous session by the
//! wall-clock time that passed between them, and keeps every track's
//! decode time non-decreasing. Pure: the caller passes the time in.

use std::time::{Duration, Instant};

use weir_media::{Frame, TrackKind};

/// The least step between the last frame of one session and the first of
/// the next, whatever the clock says.
pub(crate) const MIN_STEP: Duration = Duration::from_millis(1);

/// Maps the decode times of successive sessions onto one timeline (µs).
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// The latest media DTS put on the timeline, and when it was.
    last: Option<(i64, Instant)>,
    /// Added to the current session's DTS; `None` until its first media
    /// frame (a session's headers come before it and carry no useful time).
    offset: Option<i64>,
    /// Last DTS per track (video, audio, data), kept across sessions.
    track_last: [Option<i64>; 3],
}

impl Timeline {
    /// A new session begins: its timestamps get an offset of their own.
    pub(crate) fn new_session(&mut self) {
        self.offset = None;
    }

    /// Puts `frame` (of the current session) on the timeline at `now`.
    pub(crate) fn place(&mut self, frame: &mut Frame, now: Instant) {
        let header = frame.is_header();
        let dts = match (self.offset, self.last) {
            (Some(offset), _) => frame.dts_us.saturating_add(offset),
            // The first session keeps its own time.
            (None, None) => {
                if !header {
                    self.offset = Some(0);
                }
                frame.dts_us
            }
            (None, Some((last, at))) => {
                let gap = now.saturating_duration_since(at).max(MIN_STEP);
                let target =
                    last.saturating_add(i64::try_from(gap.as_micros()).unwrap_or(i64::MAX));
                if !header {
                    self.offset = Some(target.saturating_sub(frame.dts_us));
                }
                target
            }
        };
        let track = match frame.kind {
            TrackKind::Video => 0,
            TrackKind::Audio => 1,
            TrackKind::Data => 2,
        };
        let dts = self.track_last[track].map_or(dts, |last| dts.max(last));
        self.track_last[track] = Some(dts);
        if !header {
            let latest = self.last.map_or(dts, |(last, _)| last.max(dts));
            self.last = Some((latest, now));
        }
        frame.dts_us = dts;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use weir_media::Codec;

    use super::*;

    fn frame(kind: TrackKind, dts_ms: i64, config: bool) -> Frame {
        Frame {
            kind,
            codec: match kind {
                TrackKind::Video => Codec::H264,
                TrackKind::Audio => Codec::Aac,
                TrackKind::Data => Codec::Amf0,
            },
            dts_us: dts_ms * 1000,
            cts_us: 0,
            key: kind == TrackKind::Video && (config || dts_ms % 1000 == 0),
            config,
            data: Bytes::from_static(b"x"),
        }
    }

    /// Feeds one session: headers at 0, then 30 fps video and ~47 Hz
    /// audio from `start_ms` for `ms`, the wall clock advancing with the
    /// stream. Returns the frames as placed and the clock at the end.
    fn session(tl: &mut Timeline, t0: Instant, start_ms: i64, ms: i64) -> (Vec<Frame>, Instant) {
        tl.new_session();
        let mut out = Vec::new();
        for mut f in [
            frame(TrackKind::Video, 0, true),
            frame(TrackKind::Audio, 0, true),
            frame(TrackKind::Data, 0, false),
        ] {
            tl.place(&mut f, t0);
            out.push(f);
        }
        let mut now = t0;
        let mut media: Vec<Frame> = (0..ms / 33)
            .map(|i| frame(TrackKind::Video, start_ms + i * 33, false))
            .chain((0..ms / 21).map(|i| frame(TrackKind::Audio, start_ms + 5 + i * 21, false)))
            .collect();
        media.sort_by_key(|f| f.dts_us);
        for mut f in media {
            now = t0 + Duration::from_micros((f.dts_us / 1000 - start_ms) as u64 * 1000);
            tl.place(&mut f, now);
            out.push(f);
        }
        (out, now)
    }

    fn media_dts(frames: &[Frame], kind: TrackKind) -> Vec<i64> {
        frames
            .iter()
            .filter(|f| f.kind == kind && !f.config)
            .map(|f| f.dts_us)
            .collect()
    }

    #[test]
    fn the_first_session_keeps_its_time() {
        let mut tl = Timeline::default();
        let (frames, _) = session(&mut tl, Instant::now(), 200, 1000);
        let video = media_dts(&frames, TrackKind::Video);
        assert_eq!(video[0], 200_000);
        assert_eq!(video[1], 233_000);
        assert_eq!(media_dts(&frames, TrackKind::Audio)[0], 205_000);
    }

    #[test]
    fn a_new_session_continues_after_the_wall_clock_gap() {
        let mut tl = Timeline::default();
        let t0 = Instant::now();
        let (first, end) = session(&mut tl, t0, 200, 3000);
        let last_old = first.iter().map(|f| f.dts_us).max().unwrap();
        // The camera comes back 2.5 s later, its clock starting over.
        let t1 = end + Duration::from_millis(2500);
        let (second, _) = session(&mut tl, t1, 200, 2000);
        // Its headers come first, at the continued time.
        assert!(second[..3].iter().all(|f| f.dts_us == last_old + 2_500_000));
        let new_video = media_dts(&second, TrackKind::Video);
        assert_eq!(new_video[0], last_old + 2_500_000);
        // The session's own spacing is kept.
        assert_eq!(new_video[1] - new_video[0], 33_000);
        let new_audio = media_dts(&second, TrackKind::Audio);
        assert_eq!(new_audio[0], last_old + 2_505_000);
        // Every track is monotonic across both sessions.
        let all: Vec<Frame> = first.into_iter().chain(second).collect();
        for kind in [TrackKind::Video, TrackKind::Audio, TrackKind::Data] {
            let dts: Vec<i64> = all
                .iter()
                .filter(|f| f.kind == kind)
                .map(|f| f.dts_us)
                .collect();
            assert!(dts.windows(2).all(|w| w[0] <= w[1]), "{kind:?}: {dts:?}");
        }
    }

    #[test]
    fn a_source_whose_clock_runs_ahead_or_behind_still_continues() {
        let mut tl = Timeline::default();
        let t0 = Instant::now();
        let (first, end) = session(&mut tl, t0, 0, 2000);
        let last_old = first.iter().map(|f| f.dts_us).max().unwrap();
        // An RTMP source that was playing for an hour.
        let (second, end) = session(&mut tl, end + Duration::from_secs(1), 3_600_000, 1000);
        assert_eq!(
            media_dts(&second, TrackKind::Video)[0],
            last_old + 1_000_000
        );
        let last_second = second.iter().map(|f| f.dts_us).max().unwrap();
        // Then one that starts at 0 again, with no time between.
        let (third, _) = session(&mut tl, end, 0, 1000);
        assert_eq!(
            media_dts(&third, TrackKind::Video)[0],
            last_second + MIN_STEP.as_micros() as i64
        );
    }

    #[test]
    fn a_track_that_starts_behind_the_other_is_clamped_not_sent_back() {
        let mut tl = Timeline::default();
        let t0 = Instant::now();
        let mut v = frame(TrackKind::Video, 1000, false);
        tl.place(&mut v, t0);
        let mut a = frame(TrackKind::Audio, 1000, false);
        tl.place(&mut a, t0);
        tl.new_session();
        let t1 = t0 + Duration::from_millis(10);
        // The new session's video comes first, its audio 50 ms earlier on
        // the session's clock: more than the 10 ms gap.
        let mut v = frame(TrackKind::Video, 500, false);
        tl.place(&mut v, t1);
        assert_eq!(v.dts_us, 1_010_000);
        let mut a = frame(TrackKind::Audio, 450, false);
        tl.place(&mut a, t1);
        assert_eq!(a.dts_us, 1_000_000, "clamped to the track's last DTS");
        let mut a = frame(TrackKind::Audio, 471, false);
        tl.place(&mut a, t1);
        assert_eq!(a.dts_us, 1_000_000);
        let mut a = frame(TrackKind::Audio, 492, false);
        tl.place(&mut a, t1);
        assert_eq!(a.dts_us, 1_002_000);
    }
}
