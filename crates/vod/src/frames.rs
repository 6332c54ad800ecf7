//! The file's samples as weir [`Frame`]s, tracks interleaved by decode
//! time, each track's config frame first: what a player of the hub gets.

use bytes::Bytes;
use weir_media::{Frame, TrackKind};

use crate::{Index, Sample, Track, VodError, Window};

/// Iterator over the frames of an indexed file (see [`Index::frames`]).
///
/// Yields an error (and then ends) for a sample whose bytes lie outside
/// the data given, e.g. when the file shrank after it was indexed.
pub struct Frames<'a> {
    index: &'a Index,
    data: Bytes,
    /// Next sample of each track.
    cursor: Vec<usize>,
    /// Config frames not yet yielded.
    configs: std::vec::IntoIter<Frame>,
    failed: bool,
}

impl Index {
    /// The frames of this file: every track's config frame, then every
    /// sample in decode-time order (ties: the track listed first). `data`
    /// is the whole file; frames share its buffer (no copy). Decode times
    /// are the file's own, in µs.
    pub fn frames(&self, data: Bytes) -> Frames<'_> {
        let configs: Vec<Frame> = self
            .tracks
            .iter()
            .filter_map(|t| {
                let config = t.config.clone()?;
                let dts_us = t.samples.first().map_or(0, |s| t.dts_us(s));
                Some(Frame {
                    kind: t.kind,
                    codec: t.codec,
                    dts_us,
                    cts_us: 0,
                    key: false,
                    config: true,
                    data: config,
                })
            })
            .collect();
        Frames {
            index: self,
            data,
            cursor: vec![0; self.tracks.len()],
            configs: configs.into_iter(),
            failed: false,
        }
    }
}

/// The frame of `sample` of `track`, its payload sliced from `data` (the
/// whole file).
pub fn frame(track: &Track, sample: &Sample, data: &Bytes) -> Result<Frame, VodError> {
    frame_in(track, sample, &Window::whole(data), data)
}

/// The frame of `sample` of `track`, its payload sliced (no copy) from
/// `data`, the buffer behind `window`.
pub(crate) fn frame_in(
    track: &Track,
    sample: &Sample,
    window: &Window<'_>,
    data: &Bytes,
) -> Result<Frame, VodError> {
    let bytes = window.sample(sample)?;
    Ok(Frame {
        kind: track.kind,
        codec: track.codec,
        dts_us: track.dts_us(sample),
        cts_us: i32::try_from(track.to_us(i64::from(sample.cts))).unwrap_or(0),
        key: track.kind == TrackKind::Video && sample.key,
        config: false,
        data: data.slice_ref(bytes),
    })
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, VodError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(c) = self.configs.next() {
            return Some(Ok(c));
        }
        if self.failed {
            return None;
        }
        let mut best: Option<(usize, i64)> = None;
        for (i, t) in self.index.tracks.iter().enumerate() {
            if let Some(s) = t.samples.get(self.cursor[i]) {
                let us = t.dts_us(s);
                if best.is_none_or(|(_, b)| us < b) {
                    best = Some((i, us));
                }
            }
        }
        let (i, _) = best?;
        let track = &self.index.tracks[i];
        let sample = &track.samples[self.cursor[i]];
        self.cursor[i] += 1;
        let f = frame(track, sample, &self.data);
        self.failed = f.is_err();
        Some(f)
    }
}
