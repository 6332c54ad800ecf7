//! H.264 configuration: the `AVCDecoderConfigurationRecord` carried by AVC
//! sequence headers, and the picture size and profile from its SPS.
//!
//! Stream statistics need the size and profile, HLS and MSE need the codec
//! string, fragmented MP4 the picture size, and MPEG-TS muxing the SPS/PPS
//! to put in front of every IDR.

use bytes::Bytes;

use crate::bits::{cropped, rbsp, BitReader};
use crate::error::CodecError;
use crate::record::{nal_length_size, Record};

/// A parsed `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// `AVCProfileIndication` (e.g. 66 Baseline, 77 Main, 100 High).
    pub profile: u8,
    /// `profile_compatibility`: the constraint flags byte of the SPS.
    pub compatibility: u8,
    /// `AVCLevelIndication`, ten times the level (e.g. 31 for 3.1).
    pub level: u8,
    /// Size in bytes (1, 2 or 4) of the length prefix of every NAL unit in
    /// the stream's frames.
    pub nal_length_size: u8,
    /// Sequence parameter set NAL units, header byte included. Slices of the
    /// record, so keeping them costs no copy.
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units, header byte included.
    pub pps: Vec<Bytes>,
}

impl AvcConfig {
    /// The RFC 6381 codec string, e.g. `avc1.64001f`, as HLS and DASH
    /// manifests want it.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile, self.compatibility, self.level
        )
    }
}

/// Parses an `AVCDecoderConfigurationRecord` (an H.264 config frame's data).
///
/// Trailing fields (the High-profile chroma format extension) are not
/// needed and not read; the SPS has the same information.
pub fn parse_avc_config(data: &Bytes) -> Result<AvcConfig, CodecError> {
    let mut r = Record::new(data, "AVCDecoderConfigurationRecord");
    let [version, profile, compatibility, level, length_size] = r.array()?;
    if version != 1 {
        return Err(CodecError::Invalid {
            what: "AVCDecoderConfigurationRecord version",
            offset: 0,
            value: u64::from(version),
        });
    }
    let nal_length_size = nal_length_size(length_size, "AVC NAL unit length size", 4)?;
    let count = r.u8()? & 0x1F;
    let sps = r.nal_units(usize::from(count))?;
    let count = r.u8()?;
    let pps = r.nal_units(usize::from(count))?;
    Ok(AvcConfig {
        profile,
        compatibility,
        level,
        nal_length_size,
        sps,
        pps,
    })
}

/// What weir reads from an H.264 sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// The constraint_set flags byte.
    pub constraint_flags: u8,
    /// `level_idc`, ten times the level.
    pub level_idc: u8,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    /// Luma sample bit depth (8 to 14).
    pub bit_depth_luma: u8,
    /// Chroma sample bit depth (8 to 14).
    pub bit_depth_chroma: u8,
    /// False for interlaced-capable streams (field or MBAFF coding).
    pub frame_mbs_only: bool,
    /// Displayed width in pixels, after cropping.
    pub width: u32,
    /// Displayed height in pixels, after cropping.
    pub height: u32,
}

/// Profiles whose SPS carries chroma format, bit depth and scaling lists.
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// Parses a sequence parameter set NAL unit (header byte included, with
/// emulation prevention bytes, as stored in the config record) up to the
/// frame cropping fields, which is all the picture size needs.
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, CodecError> {
    let Some((&header, payload)) = nal.split_first() else {
        return Err(CodecError::Short {
            what: "SPS",
            offset: 0,
            needed: 1,
            len: 0,
        });
    };
    if header & 0x1F != 7 {
        return Err(CodecError::Invalid {
            what: "SPS NAL unit type",
            offset: 0,
            value: u64::from(header & 0x1F),
        });
    }
    let raw = rbsp(payload);
    let mut r = BitReader::new(&raw, "SPS");
    let profile_idc = r.u8(8)?;
    let constraint_flags = r.u8(8)?;
    let level_idc = r.u8(8)?;
    r.ue_max("SPS seq_parameter_set_id", 31)?;
    let (mut chroma_format_idc, mut separate_planes) = (1, false);
    let (mut depth_luma, mut depth_chroma) = (8, 8);
    if HIGH_PROFILES.contains(&profile_idc) {
        chroma_format_idc = r.ue_max("SPS chroma_format_idc", 3)? as u8;
        if chroma_format_idc == 3 {
            separate_planes = r.bit()?;
        }
        depth_luma = 8 + r.ue_max("SPS bit_depth_luma_minus8", 6)? as u8;
        depth_chroma = 8 + r.ue_max("SPS bit_depth_chroma_minus8", 6)? as u8;
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue_max("SPS log2_max_frame_num_minus4", 12)?;
    match r.ue_max("SPS pic_order_cnt_type", 2)? {
        0 => {
            r.ue_max("SPS log2_max_pic_order_cnt_lsb_minus4", 12)?;
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue_max("SPS num_ref_frames_in_pic_order_cnt_cycle", 255)?;
            for _ in 0..cycle {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let crop_at = r.position();
    let [left, right, top, bottom] = if r.bit()? {
        [r.ue()?, r.ue()?, r.ue()?, r.ue()?].map(u64::from)
    } else {
        [0; 4]
    };
    // Crop units (H.264 7.4.2.1.1): chroma subsampling times field pairs.
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let (unit_x, unit_y) = match (separate_planes, chroma_format_idc) {
        (true, _) | (_, 0) => (1, field_factor),
        (_, 1) => (2, 2 * field_factor),
        (_, 2) => (2, field_factor),
        _ => (1, field_factor),
    };
    let full_w = width_mbs * 16;
    let full_h = height_units * 16 * field_factor;
    let crop_w = (left + right) * unit_x;
    let crop_h = (top + bottom) * unit_y;
    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        bit_depth_luma: depth_luma,
        bit_depth_chroma: depth_chroma,
        frame_mbs_only,
        width: cropped(full_w, crop_w, "SPS frame cropping", crop_at)?,
        height: cropped(full_h, crop_h, "SPS frame cropping", crop_at)?,
    })
}

/// Reads past one `scaling_list()` of `size` entries; the values only
/// matter to a decoder.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "avc_tests.rs"]
mod tests;
