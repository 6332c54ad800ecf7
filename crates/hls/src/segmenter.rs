//! [`Segmenter`]: frames in, segments and playlists out.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use weir_media::{Frame, TrackKind};
use weir_mpegts::{StreamType, TsError, TsMuxer};

use crate::playlist::{render, Header};
use crate::{HlsConfig, Segment, SegmentEvent};

/// The segment being written.
#[derive(Debug)]
struct Open {
    seq: u64,
    data: BytesMut,
    /// DTS of the first frame, µs.
    first_dts: i64,
    /// Highest DTS muxed so far, µs.
    last_dts: i64,
    /// DTS of the previous frame of the track that times the segment
    /// (video if any), and the step to it: the length of the last frame
    /// when the segment ends without a successor.
    clock_prev: Option<i64>,
    clock_step: i64,
    discontinuity: bool,
}

/// Live HLS for one stream: segments in memory plus the playlist.
///
/// Feed it every frame of the stream in order with [`Segmenter::push`];
/// call [`Segmenter::discontinuity`] when the publisher changes and
/// [`Segmenter::end`] when the stream stops.
#[derive(Debug)]
pub struct Segmenter {
    name: String,
    uri_prefix: String,
    fragment_us: i64,
    max_fragment_us: i64,
    window: Duration,
    max_kept: usize,
    muxer: TsMuxer,
    open: Option<Open>,
    done: VecDeque<Segment>,
    next_seq: u64,
    /// Ceiling of the longest segment ever finished, in seconds.
    target: u64,
    /// Discontinuity-marked segments evicted from memory.
    evicted_discontinuities: u64,
    pending_discontinuity: bool,
    /// A video keyframe has been muxed since the last (re)start; until then
    /// other video frames are useless to a player and are skipped.
    video_started: bool,
    ended: bool,
}

impl Segmenter {
    /// A segmenter for the stream `name`, whose segments are called
    /// `{name}-{seq}.ts`.
    pub fn new(cfg: HlsConfig, name: &str) -> Self {
        let us = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX).max(1);
        Segmenter {
            name: name.to_owned(),
            uri_prefix: cfg.uri_prefix,
            fragment_us: us(cfg.fragment),
            max_fragment_us: us(cfg.max_fragment).max(us(cfg.fragment)),
            window: cfg.window,
            max_kept: cfg.max_segments_kept.max(1),
            muxer: TsMuxer::new(cfg.ts),
            open: None,
            done: VecDeque::new(),
            next_seq: 0,
            target: 0,
            evicted_discontinuities: 0,
            pending_discontinuity: false,
            video_started: false,
            ended: false,
        }
    }

    /// Adds one frame, cutting a segment first when it is time to.
    ///
    /// Until the first video keyframe (when the stream has video), frames
    /// are skipped: a segment must start where a decoder can. Pushing after
    /// [`Segmenter::end`] resumes the stream after a discontinuity.
    pub fn push(&mut self, frame: &Frame) -> Vec<SegmentEvent> {
        let mut events = Vec::new();
        if frame.kind == TrackKind::Data {
            return events;
        }
        let Some(stream) = StreamType::of(&frame.codec) else {
            let error = TsError::Unsupported(frame.codec);
            events.push(SegmentEvent::FrameDropped {
                dts_us: frame.dts_us,
                error,
            });
            return events;
        };
        if self.ended {
            self.ended = false;
            events.extend(self.discontinuity());
        }
        if frame.config {
            // Config frames only update the muxer's state; they write nothing.
            if let Err(error) = self.muxer.push(frame, &mut BytesMut::new()) {
                events.push(SegmentEvent::FrameDropped {
                    dts_us: frame.dts_us,
                    error,
                });
            }
            return events;
        }
        if let Some(open) = &self.open {
            let step = frame.dts_us.saturating_sub(open.last_dts);
            if step > self.max_fragment_us || step < -self.fragment_us {
                events.extend(self.discontinuity());
            }
        }

        let is_video = stream.is_video();
        let is_key = is_video && frame.key;
        if is_video && !frame.key && !self.video_started {
            return events;
        }
        let video_mode = is_video || self.muxer.tracks().video.is_some();
        let cut = match &self.open {
            None => !video_mode || is_key,
            Some(open) => {
                let elapsed = frame.dts_us.saturating_sub(open.first_dts);
                if is_key && !self.video_started {
                    true // video joins an audio-only stream: start clean
                } else if is_key || !video_mode {
                    elapsed >= self.fragment_us
                } else {
                    elapsed >= self.max_fragment_us
                }
            }
        };
        if self.open.is_none() && !cut {
            return events; // waiting for a keyframe
        }

        let result = match self.open.as_mut() {
            Some(open) if !cut => self.muxer.push(frame, &mut open.data),
            _ => self.start_segment(frame, &mut events),
        };
        if let Err(error) = result {
            events.push(SegmentEvent::FrameDropped {
                dts_us: frame.dts_us,
                error,
            });
            return events;
        }

        self.video_started |= is_key;
        let video_mode = self.muxer.tracks().video.is_some();
        if let Some(open) = self.open.as_mut() {
            open.last_dts = open.last_dts.max(frame.dts_us);
            if is_video == video_mode {
                if let Some(prev) = open.clock_prev {
                    open.clock_step = frame.dts_us.saturating_sub(prev).max(0);
                }
                open.clock_prev = Some(frame.dts_us);
            }
        }
        events
    }

    /// Muxes `frame` with fresh tables into a new segment, finishing the
    /// open one. Nothing changes if the frame fails to mux.
    fn start_segment(
        &mut self,
        frame: &Frame,
        events: &mut Vec<SegmentEvent>,
    ) -> Result<(), TsError> {
        let capacity = self
            .done
            .back()
            .map_or(64 * 1024, |s| s.data.len() + s.data.len() / 4);
        let mut data = BytesMut::with_capacity(capacity);
        self.muxer.push_with_tables(frame, &mut data)?;
        if let Some(open) = self.open.take() {
            events.extend(self.finish(open, Some(frame.dts_us)));
        }
        self.open = Some(Open {
            seq: self.next_seq,
            data,
            first_dts: frame.dts_us,
            last_dts: frame.dts_us,
            clock_prev: None,
            clock_step: 0,
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
        });
        self.next_seq += 1;
        Ok(())
    }

    /// The publisher changed (or its timeline broke): finishes the current
    /// segment, marks the next one with `#EXT-X-DISCONTINUITY` and lets the
    /// timestamps start over. Sequence numbers and TS continuity counters
    /// carry on.
    pub fn discontinuity(&mut self) -> Vec<SegmentEvent> {
        let events = match self.open.take() {
            Some(open) => self.finish(open, None),
            None => Vec::new(),
        };
        if self.next_seq > 0 {
            self.pending_discontinuity = true;
        }
        self.muxer.restart();
        self.video_started = false;
        events
    }

    /// The stream stopped: finishes the current segment and ends the
    /// playlist with `#EXT-X-ENDLIST`.
    pub fn end(&mut self) -> Vec<SegmentEvent> {
        self.ended = true;
        match self.open.take() {
            Some(open) => self.finish(open, None),
            None => Vec::new(),
        }
    }

    /// The m3u8 media playlist as it stands.
    pub fn playlist(&self) -> String {
        let start = self.playlist_start();
        let slid_out = self
            .done
            .iter()
            .take(start)
            .filter(|s| s.discontinuity)
            .count() as u64;
        let media_sequence = match self.done.get(start) {
            Some(first) => first.seq,
            None => self.open.as_ref().map_or(self.next_seq, |o| o.seq),
        };
        let header = Header {
            target: self.target.max(1),
            media_sequence,
            discontinuity_sequence: self.evicted_discontinuities + slid_out,
            ended: self.ended,
        };
        render(&header, self.done.iter().skip(start), |seq| {
            format!("{}{}", self.uri_prefix, self.segment_name(seq))
        })
    }

    /// A finished segment's bytes, while it is held.
    pub fn segment(&self, seq: u64) -> Option<bytes::Bytes> {
        let first = self.done.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.done.get(index).map(|s| s.data.clone())
    }

    /// The file name of segment `seq`: `{name}-{seq}.ts`.
    pub fn segment_name(&self, seq: u64) -> String {
        format!("{}-{}.ts", self.name, seq)
    }

    /// Index in `done` of the first segment the playlist lists: the newest
    /// segments that together cover the window.
    fn playlist_start(&self) -> usize {
        let mut covered = Duration::ZERO;
        let mut start = self.done.len();
        while start > 0 && covered < self.window {
            start -= 1;
            covered += self.done[start].duration;
        }
        start
    }

    /// Closes `open`; `next_dts` is the first DTS (µs) of the segment after it,
    /// when there is one.
    fn finish(&mut self, open: Open, next_dts: Option<i64>) -> Vec<SegmentEvent> {
        let end = next_dts.unwrap_or(open.last_dts.saturating_add(open.clock_step));
        let us = u64::try_from(end.saturating_sub(open.first_dts)).unwrap_or(0);
        self.target = self.target.max(us.div_ceil(1_000_000));
        let segment = Segment {
            seq: open.seq,
            duration: Duration::from_micros(us),
            first_dts_us: open.first_dts,
            discontinuity: open.discontinuity,
            data: open.data.freeze(),
        };
        let mut events = vec![SegmentEvent::Finished(segment.clone())];
        self.done.push_back(segment);
        while self.done.len() > self.max_kept {
            if let Some(old) = self.done.pop_front() {
                self.evicted_discontinuities += u64::from(old.discontinuity);
                events.push(SegmentEvent::Evicted(old.seq));
            }
        }
        events
    }
}
