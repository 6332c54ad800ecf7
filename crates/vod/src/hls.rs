//! HLS VOD playlists of an indexed file: fMP4 segments cut at keyframes,
//! byte ranges of the file itself when it is fragmented, segments written
//! from the sample tables when it is plain. No transcoding either way.

use std::fmt::Write as _;
use std::ops::Range;

use bytes::Bytes;

use crate::write::{self, Out};
use crate::{Index, Layout, Track, VodError, Window};

/// One media segment of a playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Decode time where it starts, µs (file timeline).
    pub start_us: i64,
    /// Where the next one starts (or the media ends), µs.
    pub end_us: i64,
    /// Fragmented files: the segment's bytes in the file. `None`: the
    /// segment is written by [`segment`] from the samples.
    pub bytes: Option<Range<u64>>,
}

impl Segment {
    /// Its length, µs.
    pub fn duration_us(&self) -> i64 {
        self.end_us.saturating_sub(self.start_us)
    }
}

/// Whether `index`'s segments can be byte ranges of the file itself: a
/// fragmented file with an init segment whose every fragment is
/// [self-contained](crate::Fragment::self_contained). Other files get
/// segments generated from their samples.
fn byte_ranges(index: &Index) -> bool {
    index.layout == Layout::Fragmented
        && index.init.is_some()
        && index.fragments.iter().all(|f| f.self_contained)
}

/// Cuts the file into segments that start at video keyframes (at any
/// sample without video) and last at least `target_us` where the
/// keyframes allow.
pub fn segments(index: &Index, target_us: i64) -> Vec<Segment> {
    let Some((start, end)) = index.span_us() else {
        return Vec::new();
    };
    let mut out: Vec<Segment> = Vec::new();
    match byte_ranges(index) {
        true => {
            for f in &index.fragments {
                let extend = match out.last() {
                    None => false,
                    Some(last) => !f.key || f.start_us - last.start_us < target_us,
                };
                if extend {
                    if let Some(last) = out.last_mut() {
                        if let Some(b) = &mut last.bytes {
                            b.end = f.range.end;
                        }
                    }
                } else {
                    if let Some(last) = out.last_mut() {
                        last.end_us = f.start_us;
                    }
                    out.push(Segment {
                        start_us: if out.is_empty() { start } else { f.start_us },
                        end_us: end,
                        bytes: Some(f.range.clone()),
                    });
                }
            }
        }
        false => {
            for cut in index.cut_points_us() {
                match out.last_mut() {
                    Some(last) if cut - last.start_us < target_us => {}
                    Some(last) => {
                        last.end_us = cut;
                        out.push(Segment {
                            start_us: cut,
                            end_us: end,
                            bytes: None,
                        });
                    }
                    None => out.push(Segment {
                        start_us: start,
                        end_us: end,
                        bytes: None,
                    }),
                }
            }
        }
    }
    out
}

/// The media playlist (`#EXT-X-VERSION:7`, `#EXT-X-PLAYLIST-TYPE:VOD`,
/// `#EXT-X-MAP`, `#EXT-X-ENDLIST`) of `segments` of `index`. `uri` is the
/// file's URI relative to the playlist (already percent-encoded; it may
/// carry a query, e.g. the player's key). Fragmented files point at byte
/// ranges of `uri`; plain ones at `{uri}?hls=init` and `{uri}?hls={n}`
/// (n from 0; `&hls=` after a query), which the server answers with
/// [`init_segment`] and [`segment`].
pub fn playlist(index: &Index, segments: &[Segment], uri: &str) -> String {
    let hls = if uri.contains('?') { '&' } else { '?' };
    let longest = segments.iter().map(Segment::duration_us).max().unwrap_or(0);
    // EXT-X-TARGETDURATION: no EXTINF, rounded to the nearest second, may
    // exceed it (RFC 8216 4.3.3.1).
    let target = longest.saturating_add(500_000) / 1_000_000;
    let mut p = String::new();
    let _ = writeln!(p, "#EXTM3U");
    let _ = writeln!(p, "#EXT-X-VERSION:7");
    let _ = writeln!(p, "#EXT-X-PLAYLIST-TYPE:VOD");
    let _ = writeln!(p, "#EXT-X-TARGETDURATION:{}", target.max(1));
    let _ = writeln!(p, "#EXT-X-MEDIA-SEQUENCE:0");
    let _ = writeln!(p, "#EXT-X-INDEPENDENT-SEGMENTS");
    match (byte_ranges(index), &index.init) {
        (true, Some(init)) => {
            let _ = writeln!(
                p,
                "#EXT-X-MAP:URI=\"{uri}\",BYTERANGE=\"{}@{}\"",
                init.end - init.start,
                init.start
            );
        }
        _ => {
            let _ = writeln!(p, "#EXT-X-MAP:URI=\"{uri}{hls}hls=init\"");
        }
    }
    for (n, s) in segments.iter().enumerate() {
        let secs = s.duration_us() as f64 / 1e6;
        let _ = writeln!(p, "#EXTINF:{secs:.6},");
        match &s.bytes {
            Some(b) => {
                let _ = writeln!(p, "#EXT-X-BYTERANGE:{}@{}", b.end - b.start, b.start);
                let _ = writeln!(p, "{uri}");
            }
            None => {
                let _ = writeln!(p, "{uri}{hls}hls={n}");
            }
        }
    }
    let _ = writeln!(p, "#EXT-X-ENDLIST");
    p
}

/// The init segment of generated segments: every track of `index`, with
/// the file's own sample entries.
pub fn init_segment(index: &Index) -> Result<Bytes, VodError> {
    let tracks: Vec<&Track> = index.tracks.iter().collect();
    write::init_segment(&tracks)
}

/// File bytes the samples of `segment` lie in: what a caller reads (as a
/// [`Window`]) before calling [`segment`].
pub fn segment_span(index: &Index, segment: &Segment) -> Option<Range<u64>> {
    let mut span: Option<Range<u64>> = None;
    for t in &index.tracks {
        for s in in_segment(t, segment) {
            let end = s.offset.saturating_add(u64::from(s.size));
            span = Some(match span {
                None => s.offset..end,
                Some(r) => r.start.min(s.offset)..r.end.max(end),
            });
        }
    }
    span
}

fn in_segment<'t>(t: &'t Track, seg: &Segment) -> impl Iterator<Item = &'t crate::Sample> {
    let (from, to) = (seg.start_us, seg.end_us);
    t.samples.iter().filter(move |s| {
        let us = t.dts_us(s);
        us >= from && us < to
    })
}

/// One generated segment (`moof` + `mdat`, sequence number `sequence`) of
/// `segment`: the samples whose decode time falls in it, times as in the
/// file so that segments follow each other on one timeline.
pub fn segment(
    index: &Index,
    data: Window<'_>,
    segment: &Segment,
    sequence: u32,
) -> Result<Bytes, VodError> {
    let mut outs = Vec::new();
    for (i, t) in index.tracks.iter().enumerate() {
        for s in in_segment(t, segment) {
            outs.push(Out {
                track: i,
                dts: s.dts,
                duration: s.duration,
                cts: s.cts,
                key: s.key,
                data: data.sample(s)?,
            });
        }
    }
    if outs.is_empty() {
        return Err(VodError::EmptyRange);
    }
    write::fragment(sequence, index.tracks.len(), &outs)
}
