//! A time range of one or more indexed files as one fMP4 or MP4, cut at
//! keyframes: "the recording from T to T+D".

use bytes::Bytes;
use weir_media::{rescale, TrackKind, US_HZ};

use crate::write::{self, Out};
use crate::{Index, Track, VodError, Window};

/// One input file of a clip.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Its index.
    pub index: &'a Index,
    /// Its bytes (at least those of the samples in the range).
    pub data: Window<'a>,
    /// Added to the file's decode times (µs) to place it on the clip's
    /// timeline. 0 for weir's recordings, whose times continue the live
    /// stream's clock from one file to the next.
    pub shift_us: i64,
}

/// What a clip is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipFormat {
    /// Init segment then one `moof`+`mdat` per GOP (per second of audio
    /// without video).
    Fragmented,
    /// A plain MP4 with its `moov` first.
    Plain,
}

/// Writes the media of `sources` (in timeline order) from `from_us` to
/// `to_us` on the timeline as one file starting at time 0. The clip starts
/// at the last video keyframe at or before `from_us` (the first keyframe,
/// when `from_us` is before all of them) so that it decodes from its first
/// frame, and ends before the first sample at or after `to_us`.
///
/// Its tracks are the first source's first video and first audio track;
/// every source must carry the same codecs with the same configs.
pub fn clip(
    sources: &[Source<'_>],
    from_us: i64,
    to_us: i64,
    format: ClipFormat,
) -> Result<Bytes, VodError> {
    let first = sources.first().ok_or(VodError::EmptyRange)?;
    let kinds: Vec<TrackKind> = [TrackKind::Video, TrackKind::Audio]
        .into_iter()
        .filter(|k| first.index.tracks.iter().any(|t| t.kind == *k))
        .collect();
    let pick = |index: &'_ Index, kind: TrackKind| -> Option<usize> {
        index.tracks.iter().position(|t| t.kind == kind)
    };
    let out_tracks: Vec<&Track> = kinds
        .iter()
        .filter_map(|k| pick(first.index, *k).map(|i| &first.index.tracks[i]))
        .collect();
    for s in sources {
        for (k, out) in kinds.iter().zip(&out_tracks) {
            let t = pick(s.index, *k).map(|i| &s.index.tracks[i]);
            match t {
                Some(t) if t.codec == out.codec && t.config == out.config => {}
                _ => {
                    return Err(VodError::Incompatible(format!(
                        "every file needs the first file's {} track ({})",
                        if *k == TrackKind::Video {
                            "video"
                        } else {
                            "audio"
                        },
                        out.codec.name()
                    )))
                }
            }
        }
    }

    let end = sources
        .iter()
        .filter_map(|s| s.index.span_us().map(|(_, e)| e.saturating_add(s.shift_us)))
        .max()
        .unwrap_or(i64::MIN);
    if from_us >= end || to_us <= from_us {
        return Err(VodError::EmptyRange);
    }
    // Where the clip starts: a cut point of the first track kind.
    let cuts: Vec<i64> = sources
        .iter()
        .flat_map(|s| {
            s.index
                .cut_points_us()
                .into_iter()
                .map(move |c| c.saturating_add(s.shift_us))
        })
        .filter(|&c| c < to_us)
        .collect();
    let cut = cuts
        .iter()
        .copied()
        .filter(|&c| c <= from_us)
        .max()
        .or_else(|| cuts.iter().copied().min())
        .ok_or(VodError::EmptyRange)?;

    // Samples of each output track on the clip's timeline, in µs.
    let mut picked: Vec<(i64, Out<'_>)> = Vec::new();
    for (o, (k, out)) in kinds.iter().zip(&out_tracks).enumerate() {
        let start = picked.len();
        for s in sources {
            let Some(t) = pick(s.index, *k).map(|i| &s.index.tracks[i]) else {
                continue;
            };
            for sample in &t.samples {
                let at = t.dts_us(sample).saturating_add(s.shift_us);
                if at < cut || at >= to_us {
                    continue;
                }
                let us = at - cut;
                picked.push((
                    us,
                    Out {
                        track: o,
                        dts: u64::try_from(rescale(us, US_HZ, out.timescale)).unwrap_or(0),
                        duration: rescale(i64::from(sample.duration), t.timescale, out.timescale)
                            .clamp(0, i64::from(u32::MAX)) as u32,
                        cts: rescale(i64::from(sample.cts), t.timescale, out.timescale)
                            .clamp(i64::from(i32::MIN), i64::from(i32::MAX))
                            as i32,
                        key: sample.key || t.kind != TrackKind::Video,
                        data: s.data.sample(sample)?,
                    },
                ));
            }
        }
        // Durations from the next sample's time, so that files joined with
        // a gap or overlap leave none in the output.
        let run = &mut picked[start..];
        for i in 1..run.len() {
            let prev = run[i - 1].1.dts;
            let next = run[i].1.dts.max(prev);
            run[i].1.dts = next;
            run[i - 1].1.duration = u32::try_from(next - prev).unwrap_or(u32::MAX);
        }
    }
    if picked.is_empty() {
        return Err(VodError::EmptyRange);
    }
    let per_track_order: Vec<(i64, Out<'_>)> = picked.clone();
    // Interleave by time, video first on ties.
    picked.sort_by_key(|(us, o)| (*us, o.track));
    match format {
        ClipFormat::Plain => {
            let outs: Vec<Out<'_>> = picked.into_iter().map(|(_, o)| o).collect();
            write::plain(&out_tracks, &outs)
        }
        ClipFormat::Fragmented => {
            let mut buf = write::init_segment(&out_tracks)?.to_vec();
            let has_video = kinds.first() == Some(&TrackKind::Video);
            // Fragment starts: video keyframes, or every second.
            let mut starts: Vec<i64> = per_track_order
                .iter()
                .filter(|(_, o)| o.track == 0 && o.key)
                .map(|(us, _)| *us)
                .collect();
            if !has_video {
                starts.dedup_by(|b, a| *b - *a < 1_000_000);
            }
            starts.push(i64::MAX);
            if starts[0] > 0 {
                starts.insert(0, 0);
            }
            let mut seq = 1u32;
            for w in starts.windows(2) {
                let outs: Vec<Out<'_>> = per_track_order
                    .iter()
                    .filter(|(us, _)| *us >= w[0] && *us < w[1])
                    .map(|(_, o)| o.clone())
                    .collect();
                if outs.is_empty() {
                    continue;
                }
                buf.extend_from_slice(&write::fragment(seq, out_tracks.len(), &outs)?);
                seq += 1;
            }
            Ok(buf.into())
        }
    }
}
