//! Picture size from H.264 and H.265 sequence parameter sets.
//!
//! The visual sample entry and `tkhd` carry the picture size. Browsers take
//! the real size from the bitstream, but `tkhd` is what a player uses to lay
//! out the element before the first frame decodes, and tools such as
//! ffprobe report it, so it is read from the SPS rather than left at zero.
//! Only the fields up to the picture size and cropping are parsed.

/// Reads bits MSB-first from an RBSP (emulation prevention bytes removed).
struct BitReader {
    rbsp: Vec<u8>,
    pos: usize,
}

impl BitReader {
    /// Wraps a NAL unit body (without its header), removing the `0x03` of
    /// every `00 00 03` emulation prevention sequence.
    fn new(nal_body: &[u8]) -> Self {
        let mut rbsp = Vec::with_capacity(nal_body.len());
        let mut zeros = 0;
        for &b in nal_body {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            rbsp.push(b);
        }
        BitReader { rbsp, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.rbsp.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.pos = self.pos.checked_add(n)?;
        (self.pos <= self.rbsp.len() * 8).then_some(())
    }

    /// Unsigned Exp-Golomb; values past 32 bits are refused as malformed.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        let v = (1u64 << zeros) - 1 + u64::from(rest);
        u32::try_from(v).ok()
    }

    /// Signed Exp-Golomb.
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Display size (after cropping) from an H.264 SPS NAL unit, header byte
/// included. `None` if the SPS is truncated or inconsistent.
pub(crate) fn h264_size(sps: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(sps.get(1..)?);
    let profile_idc = r.bits(8)?;
    r.skip(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()? == 1;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut crop_x, mut crop_y) = (0u64, 0u64);
    if r.bit()? == 1 {
        let (left, right) = (u64::from(r.ue()?), u64::from(r.ue()?));
        let (top, bottom) = (u64::from(r.ue()?), u64::from(r.ue()?));
        let (unit_x, unit_y) = if separate_colour_plane || chroma_format_idc == 0 {
            (1, 2 - frame_mbs_only)
        } else {
            let sub_w = if chroma_format_idc == 3 { 1 } else { 2 };
            let sub_h = if chroma_format_idc == 1 { 2 } else { 1 };
            (sub_w, sub_h * (2 - frame_mbs_only))
        };
        crop_x = unit_x * (left + right);
        crop_y = unit_y * (top + bottom);
    }
    let width = (width_mbs * 16).checked_sub(crop_x)?;
    let height = ((2 - frame_mbs_only) * height_map_units * 16).checked_sub(crop_y)?;
    Some((u32::try_from(width).ok()?, u32::try_from(height).ok()?))
}

fn skip_scaling_list(r: &mut BitReader, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()?).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// Display size (after the conformance window) from an H.265 SPS NAL unit,
/// two header bytes included.
pub(crate) fn h265_size(sps: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(sps.get(2..)?);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    r.skip(1)?; // sps_temporal_id_nesting_flag
                // profile_tier_level: general profile (88 bits) and level (8 bits).
    r.skip(96)?;
    let mut present = [(false, false); 7];
    for p in present.iter_mut().take(max_sub_layers_minus1) {
        *p = (r.bit()? == 1, r.bit()? == 1);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?; // reserved_zero_2bits
    }
    for &(profile, level) in present.iter().take(max_sub_layers_minus1) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    let separate_colour_plane = chroma_format_idc == 3 && r.bit()? == 1;
    let width = u64::from(r.ue()?);
    let height = u64::from(r.ue()?);
    let (mut crop_x, mut crop_y) = (0u64, 0u64);
    if r.bit()? == 1 {
        let (left, right) = (u64::from(r.ue()?), u64::from(r.ue()?));
        let (top, bottom) = (u64::from(r.ue()?), u64::from(r.ue()?));
        let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_plane) {
            (1, _) => (2, 2),
            (2, _) => (2, 1),
            _ => (1, 1),
        };
        crop_x = sub_w * (left + right);
        crop_y = sub_h * (top + bottom);
    }
    let width = width.checked_sub(crop_x)?;
    let height = height.checked_sub(crop_y)?;
    Some((u32::try_from(width).ok()?, u32::try_from(height).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 640x360 High-profile SPS as x264 writes it: 40x23 macroblocks
    /// (368 lines) cropped by 8 lines at the bottom.
    const SPS_640X360: &[u8] = &[
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03,
        0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
    ];

    #[test]
    fn h264_size_applies_cropping() {
        assert_eq!(h264_size(SPS_640X360), Some((640, 360)));
    }

    #[test]
    fn truncated_sps_is_refused_not_panicking() {
        // The size and cropping fields end in the 11th byte; VUI follows.
        for n in 0..11 {
            assert_eq!(h264_size(&SPS_640X360[..n]), None, "prefix {n}");
        }
        for n in 0..40 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let _ = h264_size(&junk);
            let _ = h265_size(&junk);
        }
        assert_eq!(h265_size(&[0x42, 0x01, 0xff]), None);
    }

    #[test]
    fn exp_golomb_and_emulation_prevention() {
        // 00 00 03 01 -> RBSP 00 00 01.
        let mut r = BitReader::new(&[0x00, 0x00, 0x03, 0x01]);
        assert_eq!(r.bits(24), Some(1));
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3 (se: 0, 1, -1, 2)
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0000]);
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.se(), Some(1));
        assert_eq!(r.se(), Some(-1));
        assert_eq!(r.ue(), Some(3));
    }
}
