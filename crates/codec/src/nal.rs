//! NAL units of H.264 and H.265 and the two ways of framing them:
//! length-prefixed (AVCC/HVCC: RTMP, FLV, MP4 and weir's own frames) and
//! Annex-B start codes (MPEG-TS, and what RTP depacketizers and encoders'
//! raw output give).
//!
//! Converting between the two is more than swapping prefixes: a stream
//! framed in band has no side channel, so a decoder that tunes in must find
//! the parameter sets in front of every random access point. [`NalConfig`]
//! holds them, taken from the decoder configuration record, and
//! [`access_unit`] puts them where they are missing.

use bytes::Bytes;

use crate::avc::AvcConfig;
use crate::hevc::HevcConfig;
use crate::CodecError;

/// The 4-byte start code written in front of every NAL unit.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Which NAL unit header syntax a video track uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NalSyntax {
    /// H.264: 1-byte NAL header, type in the low 5 bits.
    Avc,
    /// H.265: 2-byte NAL header, type in bits 1..7 of the first byte.
    Hevc,
}

impl NalSyntax {
    /// The `nal_unit_type` of a unit whose first byte is `first`.
    pub fn unit_type(self, first: u8) -> u8 {
        match self {
            NalSyntax::Avc => first & 0x1f,
            NalSyntax::Hevc => (first >> 1) & 0x3f,
        }
    }

    /// An access unit delimiter.
    pub fn is_aud(self, first: u8) -> bool {
        self.unit_type(first) == if self == NalSyntax::Avc { 9 } else { 35 }
    }

    /// A parameter set: SPS or PPS (H.264), VPS, SPS or PPS (H.265).
    pub fn is_parameter_set(self, first: u8) -> bool {
        match self {
            NalSyntax::Avc => matches!(self.unit_type(first), 7 | 8),
            NalSyntax::Hevc => matches!(self.unit_type(first), 32..=34),
        }
    }

    /// A slice a decoder can start at: IDR (H.264), IRAP (H.265).
    pub fn is_random_access(self, first: u8) -> bool {
        match self {
            NalSyntax::Avc => self.unit_type(first) == 5,
            NalSyntax::Hevc => matches!(self.unit_type(first), 16..=23),
        }
    }

    /// An access unit delimiter saying "any slice type may follow", for
    /// formats that require one at the start of each access unit.
    pub fn aud(self) -> &'static [u8] {
        match self {
            NalSyntax::Avc => &[0x09, 0xf0],
            NalSyntax::Hevc => &[0x46, 0x01, 0x50],
        }
    }
}

/// What a decoder configuration record says about a track's NAL units:
/// their header syntax, the size of their length prefixes, and the
/// parameter sets to repeat in front of every random access point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NalConfig {
    /// H.264 or H.265.
    pub syntax: NalSyntax,
    /// Bytes in each length prefix of the track's frames (1, 2 or 4).
    pub length_size: usize,
    /// The parameter sets, in decoding order.
    pub parameter_sets: Vec<Bytes>,
}

impl NalConfig {
    /// From an H.264 record: its SPS then its PPS.
    pub fn avc(c: AvcConfig) -> Self {
        NalConfig {
            syntax: NalSyntax::Avc,
            length_size: usize::from(c.nal_length_size),
            parameter_sets: [c.sps, c.pps].concat(),
        }
    }

    /// From an H.265 record: its VPS, SPS and PPS, in decoding order.
    pub fn hevc(c: HevcConfig) -> Self {
        NalConfig {
            syntax: NalSyntax::Hevc,
            length_size: usize::from(c.nal_length_size),
            parameter_sets: [c.vps, c.sps, c.pps].concat(),
        }
    }
}

/// Splits length-prefixed NAL units (`length_size` bytes each, big-endian,
/// 1 to 4), skipping empty ones. A prefix that runs past the end of `data` is an
/// error, and then nothing is returned: a peer's bad length never yields a
/// partial access unit.
pub fn split_length_prefixed(data: &[u8], length_size: usize) -> Result<Vec<&[u8]>, CodecError> {
    check_length_size(length_size)?;
    let mut units = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let short = |needed| CodecError::Short {
            what: "length-prefixed NAL unit",
            offset: pos,
            needed,
            len: data.len(),
        };
        let body = pos.checked_add(length_size).ok_or(short(length_size))?;
        let prefix = data.get(pos..body).ok_or(short(length_size))?;
        let len = prefix.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
        let end = body.checked_add(len).ok_or(short(len))?;
        let unit = data.get(body..end).ok_or(short(length_size + len))?;
        if !unit.is_empty() {
            units.push(unit);
        }
        pos = end;
    }
    Ok(units)
}

/// Splits an Annex-B byte stream at its start codes (`00 00 01`, with any
/// leading zero bytes). Bytes before the first start code and the zero
/// bytes that trail each unit (`trailing_zero_8bits`, the fourth byte of a
/// 4-byte start code) are not part of any unit; empty units are skipped.
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                push_trimmed(&mut units, &data[s..i]);
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        push_trimmed(&mut units, &data[s..]);
    }
    units
}

fn push_trimmed<'a>(units: &mut Vec<&'a [u8]>, unit: &'a [u8]) {
    let end = unit.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    if end > 0 {
        units.push(&unit[..end]);
    }
}

/// Appends `units` with `length_size`-byte big-endian length prefixes.
/// A unit too long for the prefix (or a size other than 1 to 4) is an
/// error, and then nothing is appended.
pub fn write_length_prefixed(
    units: &[&[u8]],
    length_size: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    check_length_size(length_size)?;
    let max = (1u64 << (8 * length_size)) - 1;
    if let Some(long) = units.iter().find(|u| u.len() as u64 > max) {
        return Err(CodecError::Invalid {
            what: "NAL unit length",
            offset: 0,
            value: long.len() as u64,
        });
    }
    for unit in units {
        let len = (unit.len() as u32).to_be_bytes();
        out.extend_from_slice(&len[4 - length_size..]);
        out.extend_from_slice(unit);
    }
    Ok(())
}

/// Length prefixes are 1, 2 or 4 bytes in the records (3 is unused but
/// harmless); anything else would loop or overflow.
fn check_length_size(length_size: usize) -> Result<(), CodecError> {
    if !(1..=4).contains(&length_size) {
        return Err(CodecError::Invalid {
            what: "NAL length size",
            offset: 0,
            value: length_size as u64,
        });
    }
    Ok(())
}

/// Appends `units`, each behind a 4-byte [`START_CODE`].
pub fn write_annex_b(units: &[&[u8]], out: &mut Vec<u8>) {
    for unit in units {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(unit);
    }
}

/// The NAL units of one access unit, made self-contained: the parameter
/// sets of `cfg` go in front of the slices when this is a random access
/// point that lacks them, and with `aud` an access unit delimiter comes
/// first (the source's own if it has one, else a generic one). Without
/// `aud` the source's delimiter, if any, is kept where it is.
///
/// `key` is the container's keyframe flag; an IDR/IRAP unit inside counts
/// as well, since some encoders flag keyframes unreliably.
pub fn access_unit<'a>(
    cfg: &'a NalConfig,
    units: &[&'a [u8]],
    key: bool,
    aud: bool,
) -> Vec<&'a [u8]> {
    let syntax = cfg.syntax;
    let is = |unit: &[u8], test: fn(NalSyntax, u8) -> bool| {
        unit.first().is_some_and(|&b| test(syntax, b))
    };
    let has_params = units.iter().any(|u| is(u, NalSyntax::is_parameter_set));
    let random_access = key || units.iter().any(|u| is(u, NalSyntax::is_random_access));
    let mut out = Vec::with_capacity(units.len() + cfg.parameter_sets.len() + 1);
    let mut rest = units;
    match units.split_first() {
        Some((first, tail)) if is(first, NalSyntax::is_aud) => {
            out.push(*first);
            rest = tail;
        }
        _ if aud => out.push(syntax.aud()),
        _ => {}
    }
    if random_access && !has_params {
        out.extend(cfg.parameter_sets.iter().map(|p| &p[..]));
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
#[path = "nal_tests.rs"]
mod tests;
