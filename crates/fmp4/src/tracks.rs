//! Tracks described by codec configuration frames: their sample entry
//! (`avc1`/`hvc1`/`mp4a`), timescale and RFC 6381 codec name.
//!
//! Configs are parsed once, when they arrive, so that a malformed one is
//! refused there with a clear error instead of producing an init segment a
//! browser rejects later without saying why.

use bytes::Bytes;
use mp4_atom::{esds, Atom, Audio, Avc1, Avcc, Codec, Esds, Hvc1, Hvcc, Mp4a, Visual};

use crate::{sps, Fmp4Error};

/// Timescale of the video track. 90 kHz is what MPEG tooling expects and
/// expresses every millisecond timestamp exactly.
pub(crate) const VIDEO_TIMESCALE: u32 = 90_000;

/// The video track's configuration.
#[derive(Debug, Clone)]
pub(crate) struct VideoTrack {
    /// [`weir_media::Codec::H264`] or [`weir_media::Codec::H265`].
    pub(crate) codec: weir_media::Codec,
    /// The config frame's payload, to notice when a repeated config changes.
    pub(crate) config: Bytes,
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) entry: Codec,
    /// RFC 6381 name, e.g. `avc1.64001e`.
    pub(crate) codec_name: String,
}

/// The audio track's configuration.
#[derive(Debug, Clone)]
pub(crate) struct AudioTrack {
    pub(crate) config: Bytes,
    /// Sampling rate of the AAC core, also the track timescale.
    pub(crate) sample_rate: u32,
    /// Samples per AAC frame (1024, or 960 with `frameLengthFlag`).
    pub(crate) frame_samples: u32,
    pub(crate) entry: Codec,
    /// RFC 6381 name, e.g. `mp4a.40.2`.
    pub(crate) codec_name: String,
}

fn bad(codec: &'static str, config: &[u8], reason: impl Into<String>) -> Fmp4Error {
    Fmp4Error::BadConfig {
        codec,
        len: config.len(),
        reason: reason.into(),
    }
}

fn visual(width: u16, height: u16) -> Visual {
    Visual {
        data_reference_index: 1,
        width,
        height,
        ..Visual::default()
    }
}

/// Clamps a picture size to the 16-bit fields of the sample entry.
fn size16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

impl VideoTrack {
    /// Parses an `AVCDecoderConfigurationRecord`.
    pub(crate) fn h264(config: &Bytes) -> Result<Self, Fmp4Error> {
        const CODEC: weir_media::Codec = weir_media::Codec::H264;
        let avcc = Avcc::decode_body(&mut config.as_ref())
            .map_err(|e| bad("H.264", config, e.to_string()))?;
        let sps = avcc
            .sequence_parameter_sets
            .first()
            .ok_or_else(|| bad("H.264", config, "no SPS"))?;
        let (w, h) = sps::h264_size(sps).ok_or_else(|| bad("H.264", config, "unreadable SPS"))?;
        let codec_name = format!(
            "avc1.{:02x}{:02x}{:02x}",
            avcc.avc_profile_indication, avcc.profile_compatibility, avcc.avc_level_indication
        );
        let (width, height) = (size16(w), size16(h));
        let entry = Avc1 {
            visual: visual(width, height),
            avcc,
            ..Avc1::default()
        }
        .into();
        Ok(VideoTrack {
            codec: CODEC,
            config: config.clone(),
            width,
            height,
            entry,
            codec_name,
        })
    }

    /// Parses an `HEVCDecoderConfigurationRecord`. The sample entry is
    /// `hvc1` (parameter sets in `hvcC`), the one Safari accepts.
    pub(crate) fn h265(config: &Bytes) -> Result<Self, Fmp4Error> {
        const CODEC: weir_media::Codec = weir_media::Codec::H265;
        let hvcc = Hvcc::decode_body(&mut config.as_ref())
            .map_err(|e| bad("H.265", config, e.to_string()))?;
        const SPS_NAL_TYPE: u8 = 33;
        let sps = hvcc
            .arrays
            .iter()
            .filter(|a| a.nal_unit_type == SPS_NAL_TYPE)
            .find_map(|a| a.nalus.first())
            .ok_or_else(|| bad("H.265", config, "no SPS"))?;
        let (w, h) = sps::h265_size(sps).ok_or_else(|| bad("H.265", config, "unreadable SPS"))?;
        let codec_name = hevc_codec_name(&hvcc);
        let (width, height) = (size16(w), size16(h));
        let entry = Hvc1 {
            visual: visual(width, height),
            hvcc,
            ..Hvc1::default()
        }
        .into();
        Ok(VideoTrack {
            codec: CODEC,
            config: config.clone(),
            width,
            height,
            entry,
            codec_name,
        })
    }
}

/// `hvc1.<space><profile>.<compat>.<tier><level>.<constraints>` as in
/// ISO/IEC 14496-15 annex E: compatibility flags bit-reversed in hex,
/// constraint bytes in hex with trailing zero bytes left out.
fn hevc_codec_name(h: &Hvcc) -> String {
    let space = match h.general_profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let compat = u32::from_be_bytes(h.general_profile_compatibility_flags).reverse_bits();
    let tier = if h.general_tier_flag { 'H' } else { 'L' };
    let mut name = format!(
        "hvc1.{space}{}.{compat:X}.{tier}{}",
        h.general_profile_idc, h.general_level_idc
    );
    let flags = &h.general_constraint_indicator_flags;
    let used = flags.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    for b in &flags[..used] {
        name.push_str(&format!(".{b:X}"));
    }
    name
}

/// Sampling rates by `samplingFrequencyIndex` (ISO/IEC 14496-3 1.6.3.4).
const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// What the muxer needs from an `AudioSpecificConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Asc {
    /// The first (signalled) audio object type: 2 = LC, 5 = HE-AAC, 29 = HE-AACv2.
    object_type: u8,
    sample_rate: u32,
    channels: u8,
    frame_samples: u32,
}

/// Reads bits MSB-first from a short byte string.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    fn object_type(&mut self) -> Option<u8> {
        let t = self.read(5)?;
        let t = if t == 31 { 32 + self.read(6)? } else { t };
        u8::try_from(t).ok()
    }

    fn rate(&mut self) -> Option<u32> {
        match self.read(4)? {
            15 => self.read(24),
            i => AAC_RATES.get(i as usize).copied(),
        }
    }
}

fn parse_asc(asc: &[u8]) -> Option<Asc> {
    let mut b = Bits { data: asc, pos: 0 };
    let object_type = b.object_type()?;
    let sample_rate = b.rate()?;
    let channels = u8::try_from(b.read(4)?).ok()?;
    let mut core_type = object_type;
    if object_type == 5 || object_type == 29 {
        b.rate()?; // extensionSamplingFrequency: the SBR output rate
        core_type = b.object_type()?;
    }
    // GASpecificConfig starts with frameLengthFlag for the AAC family.
    let ga = matches!(core_type, 1..=4 | 6 | 7 | 17 | 19..=23);
    let frame_samples = if ga && b.read(1)? == 1 { 960 } else { 1024 };
    (sample_rate > 0).then_some(Asc {
        object_type,
        sample_rate,
        channels,
        frame_samples,
    })
}

impl AudioTrack {
    /// Parses an AAC `AudioSpecificConfig`.
    pub(crate) fn aac(config: &Bytes, track_id: u32) -> Result<Self, Fmp4Error> {
        let asc = parse_asc(config)
            .ok_or_else(|| bad("AAC", config, "unreadable AudioSpecificConfig"))?;
        let es_id = u16::try_from(track_id).unwrap_or(0);
        let esds = Esds {
            es_desc: esds::EsDescriptor {
                es_id,
                dec_config: esds::DecoderConfig {
                    // MPEG-4 Audio, audio stream.
                    object_type_indication: 0x40,
                    stream_type: 5,
                    dec_specific: Some(esds::DecoderSpecific {
                        profile: asc.object_type,
                        freq_index: 0,
                        chan_conf: asc.channels,
                        raw: config.to_vec(),
                    }),
                    ..Default::default()
                },
                ..Default::default()
            },
        };
        let entry = Mp4a {
            audio: Audio {
                data_reference_index: 1,
                // 0 (program config element) means "see the config": say stereo.
                channel_count: if asc.channels == 0 {
                    2
                } else {
                    u16::from(asc.channels)
                },
                sample_size: 16,
                // A 16.16 field: rates past 65535 Hz cannot be written here;
                // decoders take the rate from the AudioSpecificConfig anyway.
                sample_rate: u16::try_from(asc.sample_rate).unwrap_or(0).into(),
            },
            esds,
            btrt: None,
            taic: None,
        }
        .into();
        Ok(AudioTrack {
            config: config.clone(),
            sample_rate: asc.sample_rate,
            frame_samples: asc.frame_samples,
            entry,
            codec_name: format!("mp4a.40.{}", asc.object_type),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_variants() {
        // AAC-LC 44.1 kHz stereo.
        let lc = parse_asc(&[0x12, 0x10]).unwrap();
        assert_eq!(
            (
                lc.object_type,
                lc.sample_rate,
                lc.channels,
                lc.frame_samples
            ),
            (2, 44100, 2, 1024)
        );
        // AAC-LC 48 kHz mono, 960-sample frames.
        let short = parse_asc(&[0x11, 0x8c]).unwrap();
        assert_eq!(
            (short.sample_rate, short.channels, short.frame_samples),
            (48000, 1, 960)
        );
        // Explicit HE-AAC: 24 kHz core, 48 kHz SBR, then the AAC-LC core.
        let he = parse_asc(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!((he.object_type, he.sample_rate, he.channels), (5, 24000, 2));
        assert_eq!(parse_asc(&[0x12]), None);
        assert_eq!(
            parse_asc(&[0x17, 0x90]),
            None,
            "reserved rate index 15 without its 24 bits"
        );
        assert_eq!(parse_asc(&[0x16, 0x90]), None, "reserved rate index 13");
    }

    #[test]
    fn codec_names() {
        let a = AudioTrack::aac(&Bytes::from_static(&[0x12, 0x10]), 2).unwrap();
        assert_eq!(a.codec_name, "mp4a.40.2");
        let avcc = Bytes::from_static(&[
            0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9,
            0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03,
            0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe1, 0x12, 0xc8,
            0xb0,
        ]);
        let v = VideoTrack::h264(&avcc).unwrap();
        assert_eq!(
            (v.codec_name.as_str(), v.width, v.height),
            ("avc1.64001e", 640, 360)
        );
        // Main profile, level 3.1, progressive/non-packed constraint bits set.
        let hvcc = Hvcc {
            configuration_version: 1,
            general_profile_idc: 1,
            general_profile_compatibility_flags: [0x60, 0, 0, 0],
            general_constraint_indicator_flags: [0xb0, 0, 0, 0, 0, 0],
            general_level_idc: 93,
            ..Hvcc::default()
        };
        assert_eq!(hevc_codec_name(&hvcc), "hvc1.1.6.L93.B0");
    }

    #[test]
    fn malformed_configs_are_errors() {
        for cfg in [
            &[][..],
            &[0x01],
            &[0x02, 0x64, 0, 0x1e, 0xff, 0xe0, 0],
            &[0x01, 0x64, 0, 0x1e, 0xff, 0xe1, 0x00, 0x40, 0x67],
        ] {
            assert!(
                VideoTrack::h264(&Bytes::copy_from_slice(cfg)).is_err(),
                "{cfg:?}"
            );
            assert!(
                VideoTrack::h265(&Bytes::copy_from_slice(cfg)).is_err(),
                "{cfg:?}"
            );
        }
        assert!(AudioTrack::aac(&Bytes::new(), 2).is_err());
    }
}
