//! VP9 configuration: the `VPCodecConfigurationRecord` (`vpcC`) Enhanced
//! RTMP sends as the sequence start, and the picture size from a keyframe's
//! uncompressed header (the record does not carry it, fragmented MP4's
//! sample entry needs it).

use bytes::Bytes;

use crate::bits::BitReader;
use crate::error::CodecError;

/// A parsed `vpcC` body (VP Codec ISO Media File Format Binding 2.2): the
/// full-box version and flags, then the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp9Config {
    /// `profile` (0–3).
    pub profile: u8,
    /// `level` (e.g. 31 for level 3.1).
    pub level: u8,
    /// `bitDepth`: 8, 10 or 12.
    pub bit_depth: u8,
    /// `chromaSubsampling` (0 4:2:0 vertical, 1 4:2:0 colocated, 2 4:2:2,
    /// 3 4:4:4).
    pub chroma_subsampling: u8,
    /// `videoFullRangeFlag`.
    pub full_range: bool,
    /// `colourPrimaries`, `transferCharacteristics`, `matrixCoefficients`.
    pub colour: (u8, u8, u8),
}

/// Length of a `vpcC` body without codec initialization data: version and
/// flags (4), six fields (6), the data size (2).
const VPCC_LEN: usize = 12;

/// Parses a `vpcC` body as Enhanced RTMP carries it (version 1).
pub fn parse_vp9_config(record: &Bytes) -> Result<Vp9Config, CodecError> {
    if record.len() < VPCC_LEN {
        return Err(CodecError::Short {
            what: "VPCodecConfigurationRecord",
            offset: 0,
            needed: VPCC_LEN,
            len: record.len(),
        });
    }
    if record[0] != 1 {
        return Err(CodecError::Invalid {
            what: "vpcC version",
            offset: 0,
            value: u64::from(record[0]),
        });
    }
    let b = record[6];
    let bit_depth = b >> 4;
    if !matches!(bit_depth, 8 | 10 | 12) {
        return Err(CodecError::Invalid {
            what: "vpcC bitDepth",
            offset: 6,
            value: u64::from(bit_depth),
        });
    }
    Ok(Vp9Config {
        profile: record[4],
        level: record[5],
        bit_depth,
        chroma_subsampling: (b >> 1) & 7,
        full_range: b & 1 != 0,
        colour: (record[7], record[8], record[9]),
    })
}

impl Vp9Config {
    /// The RFC 6381 codec string in the short form the VP9 binding
    /// defines, `vp09.<profile>.<level>.<bitDepth>`, e.g. `vp09.00.31.08`.
    pub fn codec_string(&self) -> String {
        format!(
            "vp09.{:02}.{:02}.{:02}",
            self.profile, self.level, self.bit_depth
        )
    }
}

/// The frame size a VP9 keyframe's uncompressed header declares (VP9
/// bitstream spec 6.2), or `None` for an inter frame or a shown existing
/// frame. Errors for data that is no VP9 frame.
pub fn keyframe_size(frame: &[u8]) -> Result<Option<(u32, u32)>, CodecError> {
    let mut r = BitReader::new(frame, "VP9 uncompressed header");
    let marker = r.u8(2)?;
    if marker != 2 {
        return Err(r.invalid("VP9 frame_marker", 0, marker));
    }
    let low = r.u8(1)?;
    let profile = r.u8(1)? << 1 | low;
    if profile == 3 {
        r.bit()?;
    }
    if r.bit()? {
        return Ok(None); // show_existing_frame
    }
    let key = !r.bit()?;
    r.bit()?; // show_frame
    r.bit()?; // error_resilient_mode
    if !key {
        return Ok(None);
    }
    let at = r.position();
    let sync = r.bits(24)?;
    if sync != 0x49_83_42 {
        return Err(r.invalid("VP9 frame_sync_code", at, sync));
    }
    // color_config()
    if profile >= 2 {
        r.bit()?;
    }
    let color_space = r.u8(3)?;
    if color_space != 7 {
        r.bit()?;
        if profile == 1 || profile == 3 {
            r.bits(3)?;
        }
    } else if profile == 1 || profile == 3 {
        r.bit()?;
    }
    let width = r.bits(16)? + 1;
    let height = r.bits(16)? + 1;
    Ok(Some((width, height)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sequence start ffmpeg 9 (libvpx-vp9) sends over Enhanced RTMP.
    const VPCC: &[u8] = &[
        0x01, 0x00, 0x00, 0x00, 0x00, 0x14, 0x82, 0x02, 0x02, 0x02, 0x00, 0x00,
    ];
    /// The start of its first keyframe (320x240).
    const KEYFRAME: &[u8] = &[
        0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6, 0x04, 0x38, 0x24,
    ];

    #[test]
    fn reads_ffmpegs_vpcc_and_keyframe() {
        let c = parse_vp9_config(&Bytes::from_static(VPCC)).unwrap();
        assert_eq!((c.profile, c.level, c.bit_depth), (0, 20, 8));
        assert_eq!(c.chroma_subsampling, 1);
        assert_eq!(c.codec_string(), "vp09.00.20.08");
        assert_eq!(keyframe_size(KEYFRAME).unwrap(), Some((320, 240)));
        // An inter frame: frame_type 1.
        assert_eq!(keyframe_size(&[0x86, 0x00]).unwrap(), None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_vp9_config(&Bytes::from_static(&VPCC[..8])).is_err());
        let mut v = VPCC.to_vec();
        v[6] = 0x92;
        assert!(parse_vp9_config(&Bytes::from(v)).is_err());
        assert!(keyframe_size(&[0x00, 0x00]).is_err());
        assert!(keyframe_size(&[0x82, 0x49, 0x83, 0x43, 0, 0, 0, 0, 0]).is_err());
        assert!(keyframe_size(&KEYFRAME[..6]).is_err());
        assert!(keyframe_size(&[]).is_err());
    }
}
