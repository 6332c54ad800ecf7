//! AAC configuration: the `AudioSpecificConfig` carried by AAC sequence
//! headers, and the ADTS header that MPEG-TS needs in front of every raw
//! AAC frame (FLV and RTMP carry AAC without it).

use crate::bits::BitReader;
use crate::error::CodecError;

/// Sampling rates by `samplingFrequencyIndex` (ISO/IEC 14496-3 1.6.3.4).
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Audio object types that signal SBR (HE-AAC) or PS (HE-AACv2)
/// explicitly, followed by the core codec's object type.
const AOT_SBR: u8 = 5;
const AOT_PS: u8 = 29;

/// Core object types whose config continues with a `GASpecificConfig`
/// (AAC Main, LC, SSR, LTP, scalable, TwinVQ, and their ER variants), which
/// starts with `frameLengthFlag`.
const GA_OBJECT_TYPES: [u8; 12] = [1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23];

/// Largest ADTS frame: `aac_frame_length` has 13 bits.
const MAX_ADTS_FRAME: usize = 0x1FFF;

/// Size of an ADTS header without CRC.
pub const ADTS_HEADER_SIZE: usize = 7;

/// The parts of an `AudioSpecificConfig` that stream statistics, codec
/// strings, MP4 sample timing and ADTS framing need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Audio object type of the core codec (2 = AAC-LC). For explicitly
    /// signalled HE-AAC this is the core's type, not 5 or 29.
    pub object_type: u8,
    /// `samplingFrequencyIndex` of the core codec; 15 when the rate is not
    /// one of the table's.
    pub sample_rate_index: u8,
    /// Core sampling rate in Hz.
    pub sample_rate: u32,
    /// `channelConfiguration` (1 mono, 2 stereo, ... 0 = defined in-band).
    pub channel_config: u8,
    /// Output rate after SBR when HE-AAC is signalled explicitly (usually
    /// twice `sample_rate`), `None` otherwise.
    pub extension_sample_rate: Option<u32>,
    /// The object type as first signalled: 5 (SBR) or 29 (PS) for explicit
    /// HE-AAC, otherwise `object_type`. Players want this one in codec
    /// strings, to know to expect SBR.
    pub signalled_object_type: u8,
    /// Samples per frame at the core rate: 960 when the core's
    /// `GASpecificConfig` sets `frameLengthFlag`, else 1024. MP4 needs it to
    /// time audio samples; object types outside the AAC family, which weir
    /// does not carry as AAC, also report 1024.
    pub frame_samples: u32,
}

impl AudioSpecificConfig {
    /// The RFC 6381 codec string, e.g. `mp4a.40.2`, or `mp4a.40.5` for
    /// explicitly signalled HE-AAC.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.signalled_object_type)
    }
}

/// Parses an `AudioSpecificConfig` (an AAC config frame's data).
pub fn parse_asc(data: &[u8]) -> Result<AudioSpecificConfig, CodecError> {
    let mut r = BitReader::new(data, "AudioSpecificConfig");
    let signalled_object_type = read_object_type(&mut r)?;
    let mut object_type = signalled_object_type;
    let (sample_rate_index, sample_rate) = read_sample_rate(&mut r)?;
    let channel_config = r.u8(4)?;
    let mut extension_sample_rate = None;
    if object_type == AOT_SBR || object_type == AOT_PS {
        extension_sample_rate = Some(read_sample_rate(&mut r)?.1);
        object_type = read_object_type(&mut r)?;
    }
    let short_frames = GA_OBJECT_TYPES.contains(&object_type) && r.bit()?;
    Ok(AudioSpecificConfig {
        object_type,
        sample_rate_index,
        sample_rate,
        channel_config,
        extension_sample_rate,
        signalled_object_type,
        frame_samples: if short_frames { 960 } else { 1024 },
    })
}

/// The 7-byte ADTS header (MPEG-4, no CRC) for one raw AAC frame of
/// `payload_len` bytes.
///
/// Fails for what ADTS cannot express: object types beyond 4 (ADTS has a
/// 2-bit profile), rates outside the index table, channel configuration 0
/// (its layout would have to be in the payload), and frames over 8191
/// bytes including the header.
pub fn adts_header(asc: &AudioSpecificConfig, payload_len: usize) -> Result<[u8; 7], CodecError> {
    let invalid = |what, value: u64| CodecError::Adts { what, value };
    if !(1..=4).contains(&asc.object_type) {
        return Err(invalid("audio object type", asc.object_type.into()));
    }
    let index = match asc.sample_rate_index {
        i @ 0..=12 => i,
        _ => SAMPLE_RATES
            .iter()
            .position(|&r| r == asc.sample_rate)
            .ok_or(invalid("sampling rate", asc.sample_rate.into()))? as u8,
    };
    if !(1..=7).contains(&asc.channel_config) {
        return Err(invalid("channel configuration", asc.channel_config.into()));
    }
    let len = payload_len
        .checked_add(ADTS_HEADER_SIZE)
        .filter(|&l| l <= MAX_ADTS_FRAME)
        .ok_or(invalid("a payload of length", payload_len as u64))?;
    let profile = asc.object_type - 1;
    let ch = asc.channel_config;
    Ok([
        0xFF,
        0xF1, // sync, MPEG-4, layer 0, no CRC
        profile << 6 | index << 2 | ch >> 2,
        (ch & 3) << 6 | (len >> 11) as u8,
        (len >> 3) as u8,
        ((len & 7) as u8) << 5 | 0x1F, // buffer fullness 0x7FF: VBR
        0xFC,
    ])
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, CodecError> {
    match r.u8(5)? {
        31 => Ok(32 + r.u8(6)?),
        t => Ok(t),
    }
}

fn read_sample_rate(r: &mut BitReader<'_>) -> Result<(u8, u32), CodecError> {
    let at = r.position();
    let index = r.u8(4)?;
    match index {
        15 => {
            let rate = r.bits(24)?;
            match SAMPLE_RATES.iter().position(|&s| s == rate) {
                Some(i) => Ok((i as u8, rate)),
                None if rate > 0 => Ok((15, rate)),
                None => Err(r.invalid("AAC sampling rate", at, 0u8)),
            }
        }
        i => SAMPLE_RATES
            .get(usize::from(i))
            .map(|&rate| (i, rate))
            .ok_or(r.invalid("AAC samplingFrequencyIndex", at, i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_configs() {
        // 44.1 kHz mono, 48 kHz stereo.
        let a = parse_asc(&[0x12, 0x08]).unwrap();
        assert_eq!(
            (
                a.object_type,
                a.sample_rate_index,
                a.sample_rate,
                a.channel_config
            ),
            (2, 4, 44100, 1)
        );
        assert_eq!(a.extension_sample_rate, None);
        assert_eq!(a.codec_string(), "mp4a.40.2");
        assert_eq!(a.frame_samples, 1024);
        let a = parse_asc(&[0x11, 0x90]).unwrap();
        assert_eq!((a.sample_rate, a.channel_config), (48000, 2));
        // 48 kHz mono with frameLengthFlag: 960-sample frames.
        let a = parse_asc(&[0x11, 0x8c]).unwrap();
        assert_eq!((a.sample_rate, a.channel_config), (48000, 1));
        assert_eq!(a.frame_samples, 960);
    }

    #[test]
    fn explicit_rates_and_escapes() {
        // Index 15 with 44100 explicitly: normalised to index 4.
        // 00010 1111 000000001010110001000100 0010 (LC, explicit, stereo)
        let a = parse_asc(&[0x17, 0x80, 0x56, 0x22, 0x10]).unwrap();
        assert_eq!(
            (a.sample_rate_index, a.sample_rate, a.channel_config),
            (4, 44100, 2)
        );
        // 37 kHz: kept as index 15, and ADTS cannot carry it.
        let a = parse_asc(&[0x17, 0x80, 0x48, 0x44, 0x10]).unwrap();
        assert_eq!((a.sample_rate_index, a.sample_rate), (15, 37000));
        assert!(adts_header(&a, 10).is_err());
        // Object type escape: 11111 000010 -> 34 (layer 3 in MPEG-4).
        let a = parse_asc(&[0xF8, 0x48, 0x40]).unwrap();
        assert_eq!((a.object_type, a.sample_rate_index), (34, 4));
        assert!(matches!(
            parse_asc(&[0x16, 0x80]),
            Err(CodecError::Invalid {
                what: "AAC samplingFrequencyIndex",
                offset: 5,
                value: 13
            })
        ));
        assert!(matches!(parse_asc(&[0x12]), Err(CodecError::Short { .. })));
        // Index 15 without the 24-bit rate it announces.
        assert!(matches!(
            parse_asc(&[0x17, 0x90]),
            Err(CodecError::Short { .. })
        ));
        assert!(parse_asc(&[]).is_err());
    }

    #[test]
    fn explicit_he_aac() {
        // SBR (5), 24 kHz core, stereo, extension 48 kHz, core LC (2).
        // 00101 0110 0010 0011 00010 -> 0x2B 0x11 0x88 (padded)
        let a = parse_asc(&[0x2B, 0x11, 0x88]).unwrap();
        assert_eq!(a.object_type, 2);
        assert_eq!(
            (a.sample_rate, a.extension_sample_rate),
            (24000, Some(48000))
        );
        assert_eq!(a.codec_string(), "mp4a.40.5");
        assert_eq!(a.signalled_object_type, 5);
        let h = adts_header(&a, 0).unwrap();
        assert_eq!(h[2] >> 6, 1, "ADTS carries the core LC profile");
        assert_eq!((h[2] >> 2) & 0xF, 6, "and the core rate");
    }

    #[test]
    fn adts_layout() {
        let asc = parse_asc(&[0x12, 0x10]).unwrap(); // LC 44.1 kHz stereo
        let h = adts_header(&asc, 371).unwrap();
        // Frame length 378 = 0b001_0111_1010.
        assert_eq!(h, [0xFF, 0xF1, 0x50, 0x80, 0x2F, 0x5F, 0xFC]);
        // Frame length 107.
        let h = adts_header(&asc, 100).unwrap();
        assert_eq!(h, [0xFF, 0xF1, 0x50, 0x80, 0x0D, 0x7F, 0xFC]);
        assert!(adts_header(&asc, MAX_ADTS_FRAME - 7).is_ok());
        assert!(adts_header(&asc, MAX_ADTS_FRAME - 6).is_err());
        assert_eq!(
            adts_header(&asc, usize::MAX),
            Err(CodecError::Adts {
                what: "a payload of length",
                value: u64::MAX
            })
        );
        let mut pce = asc;
        pce.channel_config = 0;
        assert!(adts_header(&pce, 1).is_err());
        let mut ld = asc;
        ld.object_type = 23;
        assert!(adts_header(&ld, 1).is_err());
        let mut eight = asc;
        eight.channel_config = 7;
        assert_eq!(adts_header(&eight, 0).unwrap()[2..4], [0x51, 0xC0]);
    }
}
