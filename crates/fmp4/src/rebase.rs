//! Per-viewer timelines that start at zero.
//!
//! The muxer writes one stream's fragments once for every viewer, on the
//! stream's own timeline: decode times continue the publisher's clock, so a
//! viewer who joins a stream that has been live for an hour gets a first
//! `tfdt` of an hour. MSE players do not mind (they seek to
//! `buffered.start(0)`), but players that treat the fragments as a file
//! do: VLC 3 reports its position from the fragments' decode times, so its
//! time display starts at the publisher's clock and `--run-time` (a limit
//! on that position) ends playback before the first frame. [`Rebaser`]
//! shifts one viewer's fragments so that its first one starts at zero, as
//! every other output does in such players.
//!
//! Only the `tfdt` fields change: the moof is copied (a few hundred bytes)
//! and patched in place, the `mdat` stays shared with the other viewers.
//! Box sizes and data offsets are untouched.

use bytes::{Bytes, BytesMut};
use weir_media::{rescale, US_HZ};

/// The boxes a rebase walks through, with their header sizes: a plain box
/// header is 8 bytes; `tfhd` and `tfdt` are full boxes (4 more bytes).
const HEADER: usize = 8;
const FULL_HEADER: usize = 12;

/// Shifts one viewer's fragments onto a timeline that starts at zero. Feed
/// it every init segment and fragment the viewer gets, in order.
#[derive(Debug, Default)]
pub struct Rebaser {
    /// Timescale of each track id, from the latest init segment.
    timescales: Vec<(u32, u32)>,
    /// Output time (µs) of the viewer's first fragment: subtracted from
    /// every track, so that audio and video stay in sync.
    origin_us: Option<i64>,
}

impl Rebaser {
    /// A rebaser for a viewer that has seen nothing yet.
    pub fn new() -> Self {
        Rebaser::default()
    }

    /// Rebases one chunk of the stream: an init segment passes unchanged
    /// (its track timescales are noted), a `moof` + `mdat` fragment comes
    /// back as a patched copy of its `moof` followed by the shared rest.
    /// Bytes that are neither pass unchanged.
    pub fn rebase(&mut self, chunk: &Bytes) -> Vec<Bytes> {
        match box_type(chunk) {
            Some(b"ftyp") => {
                self.timescales = init_timescales(chunk);
                vec![chunk.clone()]
            }
            Some(b"moof") => self.fragment(chunk),
            _ => vec![chunk.clone()],
        }
    }

    fn fragment(&mut self, chunk: &Bytes) -> Vec<Bytes> {
        let Some(moof_len) = box_len(chunk, 0).filter(|&l| l <= chunk.len()) else {
            return vec![chunk.clone()];
        };
        let mut moof = BytesMut::from(&chunk[..moof_len]);
        let fields = tfdt_fields(&moof);
        if self.origin_us.is_none() {
            // The earliest track of the first fragment becomes zero.
            self.origin_us = fields
                .iter()
                .filter_map(|f| Some(rescale(to_i64(f.value), self.timescale(f.track)?, US_HZ)))
                .min();
        }
        let origin = self.origin_us.unwrap_or(0);
        for f in &fields {
            let Some(scale) = self.timescale(f.track) else {
                continue;
            };
            let shift = u64::try_from(rescale(origin, US_HZ, scale)).unwrap_or(0);
            f.write(&mut moof, f.value.saturating_sub(shift));
        }
        vec![moof.freeze(), chunk.slice(moof_len..)]
    }

    fn timescale(&self, track: u32) -> Option<u32> {
        self.timescales
            .iter()
            .find(|(id, _)| *id == track)
            .map(|&(_, scale)| scale)
            .filter(|&s| s > 0)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Length of the box at `at` (32-bit sizes only: weir writes no others).
fn box_len(b: &[u8], at: usize) -> Option<usize> {
    let len = usize::try_from(be32(b, at)?).ok()?;
    (len >= HEADER).then_some(len)
}

fn box_type(b: &[u8]) -> Option<&[u8; 4]> {
    b.get(4..8)?.try_into().ok()
}

/// The children of the box body `start..end`: (type, start, end).
fn children(b: &[u8], start: usize, end: usize) -> Vec<(&[u8], usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while let Some(len) = box_len(b, at) {
        let Some(stop) = at.checked_add(len).filter(|&s| s <= end) else {
            break;
        };
        out.push((&b[at + 4..at + 8], at, stop));
        at = stop;
    }
    out
}

/// One `tfdt` decode time in a moof: where it is and how wide.
struct TfdtField {
    track: u32,
    at: usize,
    wide: bool,
    value: u64,
}

impl TfdtField {
    fn write(&self, moof: &mut [u8], value: u64) {
        if self.wide {
            moof[self.at..self.at + 8].copy_from_slice(&value.to_be_bytes());
        } else {
            let v = u32::try_from(value).unwrap_or(u32::MAX);
            moof[self.at..self.at + 4].copy_from_slice(&v.to_be_bytes());
        }
    }
}

/// Every `traf`'s track id and `tfdt` field in `moof`.
fn tfdt_fields(moof: &[u8]) -> Vec<TfdtField> {
    let mut out = Vec::new();
    for (kind, start, end) in children(moof, HEADER, moof.len()) {
        if kind != b"traf" {
            continue;
        }
        let mut track = None;
        let mut field = None;
        for (kind, start, _) in children(moof, start + HEADER, end) {
            match kind {
                b"tfhd" => track = be32(moof, start + FULL_HEADER),
                b"tfdt" => {
                    let at = start + FULL_HEADER;
                    let wide = moof.get(start + HEADER) == Some(&1);
                    let value = if wide {
                        be64(moof, at)
                    } else {
                        be32(moof, at).map(u64::from)
                    };
                    field = value.map(|value| (at, wide, value));
                }
                _ => {}
            }
        }
        if let (Some(track), Some((at, wide, value))) = (track, field) {
            out.push(TfdtField {
                track,
                at,
                wide,
                value,
            });
        }
    }
    out
}

/// (track id, media timescale) of every `trak` in an init segment.
fn init_timescales(init: &[u8]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for (kind, start, end) in children(init, 0, init.len()) {
        if kind != b"moov" {
            continue;
        }
        for (kind, start, end) in children(init, start + HEADER, end) {
            if kind != b"trak" {
                continue;
            }
            let mut track = None;
            let mut scale = None;
            for (kind, start, end) in children(init, start + HEADER, end) {
                match kind {
                    // tkhd: version 1 puts the track id after two 64-bit times.
                    b"tkhd" => {
                        let skip = if init.get(start + HEADER) == Some(&1) {
                            16
                        } else {
                            8
                        };
                        track = be32(init, start + FULL_HEADER + skip);
                    }
                    b"mdia" => {
                        for (kind, start, _) in children(init, start + HEADER, end) {
                            if kind == b"mdhd" {
                                let skip = if init.get(start + HEADER) == Some(&1) {
                                    16
                                } else {
                                    8
                                };
                                scale = be32(init, start + FULL_HEADER + skip);
                            }
                        }
                    }
                    _ => {}
                }
            }
            if let (Some(t), Some(s)) = (track, scale) {
                out.push((t, s));
            }
        }
    }
    out
}
