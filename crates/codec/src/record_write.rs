//! Decoder configuration records built from parameter sets: what an
//! ingest whose source sends bare SPS/PPS (RTP's `sprop-parameter-sets`,
//! in-band parameter sets) hands the rest of weir as a config frame, so
//! every egress format reads one structure whatever the source protocol.

use bytes::Bytes;

use crate::bits::rbsp;
use crate::error::CodecError;
use crate::hevc::parse_hevc_sps;

/// Length prefix written into the records: weir frames carry 4-byte NAL
/// unit lengths.
const LENGTH_SIZE_MINUS_ONE: u8 = 3;

fn nal_len(unit: &[u8], what: &'static str) -> Result<[u8; 2], CodecError> {
    let len = u16::try_from(unit.len()).map_err(|_| CodecError::Invalid {
        what,
        offset: 0,
        value: unit.len() as u64,
    })?;
    Ok(len.to_be_bytes())
}

/// An `AVCDecoderConfigurationRecord` holding one SPS and one PPS (NAL
/// header bytes included), with 4-byte NAL unit lengths. Profile and level
/// come from the SPS's first three payload bytes.
pub fn avc_decoder_config(sps: &[u8], pps: &[u8]) -> Result<Bytes, CodecError> {
    let [_, profile, compatibility, level, ..] = *sps else {
        return Err(CodecError::Short {
            what: "H.264 SPS",
            offset: 0,
            needed: 4,
            len: sps.len(),
        });
    };
    let mut out = vec![
        1,
        profile,
        compatibility,
        level,
        0xFC | LENGTH_SIZE_MINUS_ONE,
        0xE1,
    ];
    out.extend_from_slice(&nal_len(sps, "H.264 SPS length")?);
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&nal_len(pps, "H.264 PPS length")?);
    out.extend_from_slice(pps);
    Ok(Bytes::from(out))
}

/// An `HEVCDecoderConfigurationRecord` holding one VPS, SPS and PPS (two
/// NAL header bytes included), with 4-byte NAL unit lengths. The general
/// profile, tier and level are copied from the SPS's `profile_tier_level`
/// and the chroma format read from it; bit depths are written as 8 (the
/// decoders we feed read them from the SPS itself, which travels inside).
pub fn hevc_decoder_config(vps: &[u8], sps: &[u8], pps: &[u8]) -> Result<Bytes, CodecError> {
    let payload = rbsp(sps.get(2..).unwrap_or_default());
    // sps_video_parameter_set_id(4) max_sub_layers_minus1(3) nesting(1),
    // then the 12 bytes of the general profile_tier_level.
    let Some(ptl) = payload.get(1..13) else {
        return Err(CodecError::Short {
            what: "HEVC SPS profile_tier_level",
            offset: 1,
            needed: 12,
            len: payload.len(),
        });
    };
    let sub_layers = ((payload[0] >> 1) & 7) + 1;
    let nested = payload[0] & 1;
    let info = parse_hevc_sps(sps)?;
    let mut out = Vec::with_capacity(23 + 3 * 5 + vps.len() + sps.len() + pps.len());
    out.push(1);
    out.extend_from_slice(ptl);
    out.extend_from_slice(&[
        0xF0,
        0x00,
        0xFC,
        0xFC | (info.chroma_format_idc & 3),
        0xF8,
        0xF8,
        0,
        0,
        (sub_layers << 3) | (nested << 2) | LENGTH_SIZE_MINUS_ONE,
        3,
    ]);
    for (nal_type, unit) in [(32u8, vps), (33, sps), (34, pps)] {
        out.push(0x80 | nal_type);
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&nal_len(unit, "HEVC parameter set length")?);
        out.extend_from_slice(unit);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avc::parse_avc_config;

    #[test]
    fn avc_record_round_trips_through_the_parser() {
        let sps = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
        let pps = [0x68, 0xeb, 0xe3, 0xcb];
        let rec = avc_decoder_config(&sps, &pps).unwrap();
        let cfg = parse_avc_config(&rec).unwrap();
        assert_eq!((cfg.profile, cfg.compatibility, cfg.level), (0x64, 0, 0x1f));
        assert_eq!(cfg.nal_length_size, 4);
        assert_eq!(&cfg.sps[0][..], &sps);
        assert_eq!(&cfg.pps[0][..], &pps);
        assert!(avc_decoder_config(&[0x67], &pps).is_err());
    }

    #[test]
    fn hevc_record_refuses_a_short_sps() {
        assert!(hevc_decoder_config(&[0x40, 1], &[0x42, 1, 1], &[0x44, 1]).is_err());
        assert!(hevc_decoder_config(&[0x40, 1], &[], &[0x44, 1]).is_err());
    }
}
