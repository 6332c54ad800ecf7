//! A reading position in an indexed file, for players paced at real time
//! (RTMP VOD): which samples come next, and which bytes of the file to
//! read for them.
//!
//! A paced player never holds the whole file: it asks the playhead for the
//! samples due before some time ([`Playhead::take`]), reads the one byte
//! range that covers them, and turns them into frames
//! ([`Batch::frames`]). The range is bounded, so a badly interleaved file
//! (all audio after all video) costs more reads, never more memory.

use std::ops::Range;

use weir_media::Frame;

use crate::frames::frame_in;
use crate::{Index, VodError, Window};

/// The next sample of each track of one [`Index`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playhead {
    next: Vec<usize>,
}

/// Samples taken from a [`Playhead`], in decode order, and the bytes of the
/// file that hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// `(track, sample)` indexes into the [`Index`].
    pub samples: Vec<(usize, usize)>,
    /// The file bytes to read: every sample of the batch lies inside.
    pub range: Range<u64>,
}

impl Playhead {
    /// At the start of every track.
    pub fn new(index: &Index) -> Self {
        Playhead {
            next: vec![0; index.tracks.len()],
        }
    }

    /// Moves to the last cut point (video keyframe, see
    /// [`Index::cut_points_us`]) at or before `us`, or to the first one when
    /// `us` is before it; the other tracks go to their first sample at or
    /// after that time. Returns the time landed on, µs: where playback
    /// resumes, so that a player's first frame decodes. Past the end it
    /// lands on the last cut point.
    pub fn seek(&mut self, index: &Index, us: i64) -> i64 {
        let cuts = index.cut_points_us();
        let at = match cuts.partition_point(|&c| c <= us) {
            0 => cuts.first().copied().unwrap_or(0),
            n => cuts[n - 1],
        };
        for (next, t) in self.next.iter_mut().zip(&index.tracks) {
            *next = t.samples.partition_point(|s| t.dts_us(s) < at);
        }
        at
    }

    /// Decode time (µs) of the next sample, or `None` at the end.
    pub fn next_us(&self, index: &Index) -> Option<i64> {
        self.peek(index).map(|(_, us)| us)
    }

    /// The track whose next sample decodes first (ties: the track listed
    /// first), and that time.
    fn peek(&self, index: &Index) -> Option<(usize, i64)> {
        let mut best: Option<(usize, i64)> = None;
        for (i, t) in index.tracks.iter().enumerate() {
            if let Some(s) = self.next.get(i).and_then(|&n| t.samples.get(n)) {
                let us = t.dts_us(s);
                if best.is_none_or(|(_, b)| us < b) {
                    best = Some((i, us));
                }
            }
        }
        best
    }

    /// Takes the next samples, in decode order, that decode before
    /// `until_us`, as long as the byte range covering them stays within
    /// `max_span` bytes (a single sample is always taken, whatever its
    /// size, if it is due). Empty when nothing is due.
    pub fn take(&mut self, index: &Index, until_us: i64, max_span: u64) -> Batch {
        let mut batch = Batch::default();
        while let Some((t, us)) = self.peek(index) {
            if us >= until_us {
                break;
            }
            let track = &index.tracks[t];
            let s = &track.samples[self.next[t]];
            let end = s.offset.saturating_add(u64::from(s.size));
            let range = if batch.samples.is_empty() {
                s.offset..end
            } else {
                batch.range.start.min(s.offset)..batch.range.end.max(end)
            };
            if !batch.samples.is_empty() && range.end - range.start > max_span {
                break;
            }
            batch.range = range;
            batch.samples.push((t, self.next[t]));
            self.next[t] += 1;
        }
        batch
    }

    /// The config frames of every track (codec configuration a decoder
    /// needs before the samples), stamped `dts_us`: what a player gets at
    /// the start and again after a seek.
    pub fn configs(index: &Index, dts_us: i64) -> Vec<Frame> {
        index
            .tracks
            .iter()
            .filter_map(|t| {
                Some(Frame {
                    kind: t.kind,
                    codec: t.codec,
                    dts_us,
                    cts_us: 0,
                    key: false,
                    config: true,
                    data: t.config.clone()?,
                })
            })
            .collect()
    }
}

impl Batch {
    /// The batch's frames, their payloads sliced from `bytes`, which must be
    /// the file's bytes of [`Batch::range`] (read after [`Playhead::take`]).
    /// Fails when a sample is not inside them (the file shrank).
    pub fn frames(&self, index: &Index, bytes: &bytes::Bytes) -> Result<Vec<Frame>, VodError> {
        let window = Window {
            base: self.range.start,
            bytes,
        };
        self.samples
            .iter()
            .map(|&(t, s)| {
                let track = &index.tracks[t];
                frame_in(track, &track.samples[s], &window, bytes)
            })
            .collect()
    }
}
