//! The index of one MP4 file: its tracks and every sample, whichever of the
//! two layouts (plain `moov` sample tables, or `moof`+`mdat` fragments) the
//! file uses.

use std::ops::Range;

use bytes::Bytes;
use mp4_atom::{Decode, Moov};
use weir_media::{rescale, Codec, TrackKind, US_HZ};

use crate::read::{next_box, BoxAt, Next, ReadAt};
use crate::{entry, fragments, plain, VodError};

/// Largest `moov` read (a plain MP4's sample tables: about 12 MB per hour
/// of 30 fps video with audio); bounds memory against a lying size field.
pub const MAX_MOOV_BYTES: u64 = 256 << 20;
/// Largest `moof` read.
pub const MAX_MOOF_BYTES: u64 = 16 << 20;

/// How the file stores its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One `moov` with complete sample tables (`stts`, `stsz`, `stco`...).
    Plain,
    /// An init segment (`ftyp` + `moov` with `mvex`) and `moof`+`mdat`
    /// fragments: what weir's recorder writes.
    Fragmented,
}

/// One sample (access unit) of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Offset of its bytes in the file.
    pub offset: u64,
    /// Its length in bytes.
    pub size: u32,
    /// Decode time, in the track's timescale.
    pub dts: u64,
    /// Duration, in the track's timescale.
    pub duration: u32,
    /// Composition offset (pts - dts), in the track's timescale.
    pub cts: i32,
    /// A sync sample: a video keyframe (every audio sample is one).
    pub key: bool,
}

/// One track of the file.
#[derive(Debug, Clone)]
pub struct Track {
    /// The file's track id.
    pub id: u32,
    /// Video or audio.
    pub kind: TrackKind,
    /// Its codec, as frames of the hub name it.
    pub codec: Codec,
    /// Ticks per second of its sample times.
    pub timescale: u32,
    /// The codec configuration as weir's config frames carry it: the
    /// `avcC`/`hvcC`/`av1C`/`vpcC` record, the AAC `AudioSpecificConfig`,
    /// an Opus `OpusHead`. `None` for codecs that have none (MP3, AC-3).
    pub config: Option<Bytes>,
    /// Picture width (video), from the sample entry.
    pub width: u16,
    /// Picture height (video).
    pub height: u16,
    /// Sampling rate in Hz (audio).
    pub sample_rate: u32,
    /// Channel count (audio).
    pub channels: u16,
    /// Every sample, in decode order.
    pub samples: Vec<Sample>,
    /// The sample entry as read, written again by the writers so that a
    /// clip or an HLS segment describes the codec exactly as the file did.
    pub(crate) entry: mp4_atom::Codec,
}

/// A complete `moof`+`mdat` pair of a fragmented file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Its bytes in the file, `moof` header to the end of its `mdat`.
    pub range: Range<u64>,
    /// Earliest decode time of its samples, µs.
    pub start_us: i64,
    /// It starts with a video keyframe (always true without video): a
    /// player can start here.
    pub key: bool,
    /// Its samples are addressed relative to its own `moof` (no absolute
    /// `base_data_offset`), so its bytes mean the same wherever they are
    /// appended: what Media Source Extensions (hls.js) need of a byte-range
    /// segment. ffmpeg's `frag_keyframe` without `default_base_moof` writes
    /// absolute offsets; weir's recordings never do.
    pub self_contained: bool,
}

/// Everything known about one file.
#[derive(Debug, Clone)]
pub struct Index {
    /// How the file stores its samples.
    pub layout: Layout,
    /// The tracks this crate can read, in file order. Tracks of other
    /// codecs (subtitles, timecode) are left out.
    pub tracks: Vec<Track>,
    /// Fragmented files: bytes of the init segment (`ftyp` ... end of
    /// `moov`).
    pub init: Option<Range<u64>>,
    /// Fragmented files: every complete fragment, in file order.
    pub fragments: Vec<Fragment>,
    /// Bytes of the file up to the end of the last complete box the index
    /// covers; less than the file's length when a torn tail was ignored.
    pub complete_len: u64,
    /// The file's length when it was indexed.
    pub file_len: u64,
}

impl Track {
    /// `ticks` of this track in µs.
    pub fn to_us(&self, ticks: i64) -> i64 {
        rescale(ticks, self.timescale, US_HZ)
    }

    /// Decode time of `sample`, µs.
    pub fn dts_us(&self, sample: &Sample) -> i64 {
        self.to_us(i64::try_from(sample.dts).unwrap_or(i64::MAX))
    }

    /// Decode time of the first sample and end of the last one, µs.
    pub fn span_us(&self) -> Option<(i64, i64)> {
        let first = self.samples.first()?;
        let last = self.samples.last()?;
        let end = last.dts.saturating_add(u64::from(last.duration));
        Some((
            self.dts_us(first),
            self.to_us(i64::try_from(end).unwrap_or(i64::MAX)),
        ))
    }
}

impl Index {
    /// Indexes a whole file held in memory.
    pub fn from_bytes(data: &[u8]) -> Result<Index, VodError> {
        Index::read(&mut &*data)
    }

    /// Indexes a file through positional reads: box headers, the `moov`
    /// and every `moof` are read, media never.
    pub fn read(input: &mut impl ReadAt) -> Result<Index, VodError> {
        let file_len = input.len();
        let mut at = 0u64;
        let mut moov: Option<(Moov, BoxAt)> = None;
        let mut frags = fragments::Collector::default();
        let mut complete_len = 0u64;
        let mut torn = false;
        loop {
            let b = match next_box(input, at)? {
                Next::End => break,
                Next::Torn => {
                    torn = true;
                    break;
                }
                Next::Box(b) => b,
            };
            match &b.kind {
                b"moov" => {
                    if moov.is_some() {
                        return Err(VodError::corrupt("moov", "two moov boxes"));
                    }
                    let mut bytes = read_box(input, &b, "moov", MAX_MOOV_BYTES)?;
                    crate::prune::prune(&mut bytes);
                    let parsed =
                        Moov::decode(&mut bytes.as_slice()).map_err(VodError::atom("moov"))?;
                    moov = Some((parsed, b));
                }
                b"moof" => {
                    let Some((m, _)) = &moov else {
                        return Err(VodError::corrupt("moof", "fragment before moov"));
                    };
                    let mut bytes = read_box(input, &b, "moof", MAX_MOOF_BYTES)?;
                    crate::prune::prune(&mut bytes);
                    frags.moof(m, &b, &bytes)?;
                }
                b"mdat" => frags.mdat(&b),
                _ => {}
            }
            complete_len = b.end;
            at = b.end;
        }
        let (moov, moov_at) = match moov {
            Some(m) => m,
            None if torn => {
                return Err(VodError::Truncated {
                    what: "file before moov",
                })
            }
            None => return Err(VodError::NoMoov),
        };
        let mut tracks = entry::tracks(&moov)?;
        let fragmented = moov.mvex.is_some() || frags.seen_any();
        let layout = if fragmented {
            Layout::Fragmented
        } else {
            Layout::Plain
        };
        let mut fragment_list = Vec::new();
        if fragmented {
            fragment_list = frags.finish(&moov, &mut tracks)?;
            // The last complete box may be a moof whose mdat was torn off:
            // the index ends with the last whole fragment (or the moov).
            complete_len = fragment_list
                .last()
                .map_or(moov_at.end, |f| f.range.end)
                .max(if torn { 0 } else { complete_len });
        } else {
            plain::fill(&moov, &mut tracks, file_len)?;
        }
        tracks.retain(|t| !t.samples.is_empty() || !fragmented);
        if tracks.is_empty() {
            return Err(VodError::NoTracks);
        }
        for t in &mut tracks {
            if t.kind != TrackKind::Video {
                for s in &mut t.samples {
                    s.key = true;
                }
            }
        }
        let mut index = Index {
            layout,
            init: fragmented.then_some(0..moov_at.end),
            tracks,
            fragments: fragment_list,
            complete_len,
            file_len,
        };
        index.mark_fragment_starts();
        Ok(index)
    }

    /// The first video track, if any.
    pub fn video(&self) -> Option<&Track> {
        self.tracks.iter().find(|t| t.kind == TrackKind::Video)
    }

    /// The first audio track, if any.
    pub fn audio(&self) -> Option<&Track> {
        self.tracks.iter().find(|t| t.kind == TrackKind::Audio)
    }

    /// Earliest decode time and latest end over all tracks, µs.
    pub fn span_us(&self) -> Option<(i64, i64)> {
        self.tracks
            .iter()
            .filter_map(Track::span_us)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    /// Media duration, µs.
    pub fn duration_us(&self) -> i64 {
        self.span_us().map_or(0, |(a, b)| b.saturating_sub(a))
    }

    /// Decode times (µs) of the video keyframes, or of every sample of the
    /// first track when there is no video: where a clip or a segment can
    /// start.
    pub fn cut_points_us(&self) -> Vec<i64> {
        let track = self.video().or_else(|| self.tracks.first());
        track.map_or_else(Vec::new, |t| {
            t.samples
                .iter()
                .filter(|s| s.key)
                .map(|s| t.dts_us(s))
                .collect()
        })
    }

    /// Fills each fragment's start time and key flag from the samples.
    fn mark_fragment_starts(&mut self) {
        if self.fragments.is_empty() {
            return;
        }
        let has_video = self.video().is_some();
        for f in &mut self.fragments {
            let mut start: Option<i64> = None;
            let mut key = !has_video;
            for t in &self.tracks {
                // Samples of a fragment lie inside its byte range.
                let from = t.samples.partition_point(|s| s.offset < f.range.start);
                if let Some(s) = t.samples.get(from).filter(|s| s.offset < f.range.end) {
                    let us = t.dts_us(s);
                    start = Some(start.map_or(us, |v: i64| v.min(us)));
                    if t.kind == TrackKind::Video {
                        key = s.key;
                    }
                }
            }
            f.start_us = start.unwrap_or(0);
            f.key = key;
        }
    }
}

/// The bytes of box `b`, at most `max` of them.
fn read_box(
    input: &mut impl ReadAt,
    b: &BoxAt,
    what: &'static str,
    max: u64,
) -> Result<Vec<u8>, VodError> {
    let len = b.end - b.start;
    if len > max {
        return Err(VodError::TooLarge { what, len, max });
    }
    // `len <= max`, which fits in usize on every target weir builds for.
    let len = usize::try_from(len).map_err(|_| VodError::TooLarge { what, len, max })?;
    input.read_at(b.start, len)
}
