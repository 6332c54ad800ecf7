//! H.265 configuration: the `HEVCDecoderConfigurationRecord` carried by
//! HEVC sequence headers, and the picture size from its SPS.
//!
//! MPEG-TS muxing needs the VPS/SPS/PPS to put in front of every IRAP
//! picture, fragmented MP4 and HLS need the picture size and the codec
//! string.

use bytes::Bytes;

use crate::bits::{cropped, rbsp, BitReader};
use crate::error::CodecError;
use crate::record::{nal_length_size, Record};

/// NAL unit types of the parameter sets (H.265 table 7-1).
const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;

/// Size of the record's fixed part, up to and including `numOfArrays`.
const FIXED_SIZE: usize = 23;

/// A parsed `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 8.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// `general_profile_space` (0 in every deployed profile).
    pub profile_space: u8,
    /// `general_tier_flag`: High tier rather than Main tier.
    pub high_tier: bool,
    /// `general_profile_idc` (1 Main, 2 Main 10, ...).
    pub profile_idc: u8,
    /// `general_profile_compatibility_flags`, flag 0 in the top bit.
    pub profile_compatibility: u32,
    /// `general_constraint_indicator_flags`, 48 bits.
    pub constraint_flags: [u8; 6],
    /// `general_level_idc`, thirty times the level (e.g. 93 for 3.1).
    pub level_idc: u8,
    /// Size in bytes (1, 2 or 4) of the length prefix of every NAL unit in
    /// the stream's frames.
    pub nal_length_size: u8,
    /// Video parameter set NAL units, two header bytes included. Like the
    /// other lists, slices of the record, in record order.
    pub vps: Vec<Bytes>,
    /// Sequence parameter set NAL units.
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units.
    pub pps: Vec<Bytes>,
}

impl HevcConfig {
    /// The RFC 6381 codec string, e.g. `hvc1.1.6.L93.B0`, as HLS, DASH and
    /// MSE want it (ISO/IEC 14496-15 annex E): profile space letter and
    /// profile, compatibility flags bit-reversed in hex, tier and level,
    /// then the constraint bytes in hex without trailing zero bytes.
    pub fn codec_string(&self) -> String {
        let space = match self.profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let compat = self.profile_compatibility.reverse_bits();
        let tier = if self.high_tier { 'H' } else { 'L' };
        let mut name = format!(
            "hvc1.{space}{}.{compat:X}.{tier}{}",
            self.profile_idc, self.level_idc
        );
        let flags = &self.constraint_flags;
        let used = flags.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        for b in &flags[..used] {
            name.push_str(&format!(".{b:X}"));
        }
        name
    }
}

/// Parses an `HEVCDecoderConfigurationRecord` (an H.265 config frame's
/// data), keeping the VPS, SPS and PPS arrays; other arrays (SEI) are
/// skipped.
///
/// The version byte is not checked: writers that predate the final
/// standard put 0 there, and the layout is the same.
pub fn parse_hevc_config(data: &Bytes) -> Result<HevcConfig, CodecError> {
    let mut r = Record::new(data, "HEVCDecoderConfigurationRecord");
    let head: [u8; FIXED_SIZE] = r.array()?;
    let nal_length_size = nal_length_size(head[21], "HEVC NAL unit length size", 21)?;
    let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..head[22] {
        let nal_type = r.u8()? & 0x3F;
        let count = r.u16()?;
        let units = r.nal_units(usize::from(count))?;
        match nal_type {
            NAL_VPS => vps.extend(units),
            NAL_SPS => sps.extend(units),
            NAL_PPS => pps.extend(units),
            _ => {}
        }
    }
    // Fixed part: version, profile space/tier/idc, 4 bytes of
    // compatibility flags, 6 of constraint flags, level.
    let mut constraint_flags = [0; 6];
    constraint_flags.copy_from_slice(&head[6..12]);
    Ok(HevcConfig {
        profile_space: head[1] >> 6,
        high_tier: head[1] & 0x20 != 0,
        profile_idc: head[1] & 0x1F,
        profile_compatibility: u32::from_be_bytes([head[2], head[3], head[4], head[5]]),
        constraint_flags,
        level_idc: head[12],
        nal_length_size,
        vps,
        sps,
        pps,
    })
}

/// What weir reads from an H.265 sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSpsInfo {
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    /// Displayed width in pixels, after the conformance window.
    pub width: u32,
    /// Displayed height in pixels, after the conformance window.
    pub height: u32,
}

/// Parses a sequence parameter set NAL unit (two header bytes included,
/// with emulation prevention bytes, as stored in the config record) up to
/// the conformance window, which is all the picture size needs.
pub fn parse_hevc_sps(nal: &[u8]) -> Result<HevcSpsInfo, CodecError> {
    let Some(payload) = nal.get(2..) else {
        return Err(CodecError::Short {
            what: "HEVC SPS",
            offset: 0,
            needed: 2,
            len: nal.len(),
        });
    };
    let nal_type = nal[0] >> 1 & 0x3F;
    if nal_type != NAL_SPS {
        return Err(CodecError::Invalid {
            what: "HEVC SPS NAL unit type",
            offset: 0,
            value: u64::from(nal_type),
        });
    }
    let raw = rbsp(payload);
    let mut r = BitReader::new(&raw, "HEVC SPS");
    r.skip(4)?; // sps_video_parameter_set_id
    let at = r.position();
    let sub_layers = r.u8(3)?; // sps_max_sub_layers_minus1
    if sub_layers > 6 {
        return Err(r.invalid("HEVC SPS sps_max_sub_layers_minus1", at, sub_layers));
    }
    r.skip(1)?; // sps_temporal_id_nesting_flag
    skip_profile_tier_level(&mut r, usize::from(sub_layers))?;
    r.ue_max("HEVC SPS sps_seq_parameter_set_id", 15)?;
    let chroma_format_idc = r.ue_max("HEVC SPS chroma_format_idc", 3)? as u8;
    if chroma_format_idc == 3 {
        r.skip(1)?; // separate_colour_plane_flag
    }
    let full_w = u64::from(r.ue()?);
    let full_h = u64::from(r.ue()?);
    let crop_at = r.position();
    let [left, right, top, bottom] = if r.bit()? {
        [r.ue()?, r.ue()?, r.ue()?, r.ue()?].map(u64::from)
    } else {
        [0; 4]
    };
    // Offsets count chroma samples (H.265 table 6-1: SubWidthC, SubHeightC).
    let (unit_x, unit_y) = match chroma_format_idc {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    const WHAT: &str = "HEVC SPS conformance window";
    Ok(HevcSpsInfo {
        chroma_format_idc,
        width: cropped(full_w, (left + right) * unit_x, WHAT, crop_at)?,
        height: cropped(full_h, (top + bottom) * unit_y, WHAT, crop_at)?,
    })
}

/// Reads past `profile_tier_level(1, sub_layers)` (H.265 7.3.3): the
/// general profile (88 bits) and level (8 bits), then whatever each sub-layer
/// repeats of them.
fn skip_profile_tier_level(r: &mut BitReader<'_>, sub_layers: usize) -> Result<(), CodecError> {
    r.skip(96)?;
    let mut present = [(false, false); 6];
    for p in present.iter_mut().take(sub_layers) {
        *p = (r.bit()?, r.bit()?);
    }
    if sub_layers > 0 {
        r.skip(2 * (8 - sub_layers))?; // reserved_zero_2bits
    }
    for &(profile, level) in present.iter().take(sub_layers) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "hevc_tests.rs"]
mod tests;
