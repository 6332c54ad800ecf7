//! Tracks described by codec configuration frames: their sample entry
//! (`avc1`/`hvc1`/`mp4a`), timescale and RFC 6381 codec name.
//!
//! Configs are parsed once, when they arrive, so that a malformed one is
//! refused there with a clear error instead of producing an init segment a
//! browser rejects later without saying why.

use bytes::Bytes;
use mp4_atom::{esds, Atom, Audio, Avc1, Avcc, Codec, Esds, Hvc1, Hvcc, Mp4a, Visual};
use weir_codec::aac::parse_asc;
use weir_codec::avc::{parse_avc_config, parse_sps};
use weir_codec::hevc::{parse_hevc_config, parse_hevc_sps};

use crate::Fmp4Error;

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

fn bad(codec: &'static str, config: &[u8], reason: impl std::fmt::Display) -> Fmp4Error {
    Fmp4Error::BadConfig {
        codec,
        len: config.len(),
        reason: reason.to_string(),
    }
}

/// Clamps a picture size to the 16-bit fields of the sample entry.
fn size16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

impl VideoTrack {
    /// Parses an `AVCDecoderConfigurationRecord`. The picture size comes
    /// from the first SPS: the sample entry and `tkhd` carry it, players
    /// lay out the video element with it before the first frame decodes.
    pub(crate) fn h264(config: &Bytes) -> Result<Self, Fmp4Error> {
        let fail = |reason: &dyn std::fmt::Display| bad("H.264", config, reason);
        let avc = parse_avc_config(config).map_err(|e| fail(&e))?;
        let sps = avc.sps.first().ok_or_else(|| fail(&"no SPS"))?;
        let sps = parse_sps(sps).map_err(|e| fail(&e))?;
        // The sample entry keeps the record as it came, extensions included.
        let avcc = Avcc::decode_body(&mut config.as_ref()).map_err(|e| fail(&e))?;
        Ok(Self::new(
            weir_media::Codec::H264,
            config,
            (sps.width, sps.height),
            avc.codec_string(),
            |visual| {
                Avc1 {
                    visual,
                    avcc,
                    ..Avc1::default()
                }
                .into()
            },
        ))
    }

    /// Parses an `HEVCDecoderConfigurationRecord`. The sample entry is
    /// `hvc1` (parameter sets in `hvcC`), the one Safari accepts.
    pub(crate) fn h265(config: &Bytes) -> Result<Self, Fmp4Error> {
        let fail = |reason: &dyn std::fmt::Display| bad("H.265", config, reason);
        let hevc = parse_hevc_config(config).map_err(|e| fail(&e))?;
        let sps = hevc.sps.first().ok_or_else(|| fail(&"no SPS"))?;
        let sps = parse_hevc_sps(sps).map_err(|e| fail(&e))?;
        let hvcc = Hvcc::decode_body(&mut config.as_ref()).map_err(|e| fail(&e))?;
        Ok(Self::new(
            weir_media::Codec::H265,
            config,
            (sps.width, sps.height),
            hevc.codec_string(),
            |visual| {
                Hvc1 {
                    visual,
                    hvcc,
                    ..Hvc1::default()
                }
                .into()
            },
        ))
    }

    /// The track for a parsed config: `entry` builds the sample entry
    /// around the visual fields.
    fn new(
        codec: weir_media::Codec,
        config: &Bytes,
        (width, height): (u32, u32),
        codec_name: String,
        entry: impl FnOnce(Visual) -> Codec,
    ) -> Self {
        let (width, height) = (size16(width), size16(height));
        let visual = Visual {
            data_reference_index: 1,
            width,
            height,
            ..Visual::default()
        };
        VideoTrack {
            codec,
            config: config.clone(),
            width,
            height,
            entry: entry(visual),
            codec_name,
        }
    }
}

impl AudioTrack {
    /// Parses an AAC `AudioSpecificConfig`.
    pub(crate) fn aac(config: &Bytes, track_id: u32) -> Result<Self, Fmp4Error> {
        let asc = parse_asc(config).map_err(|e| bad("AAC", config, e))?;
        let es_id = u16::try_from(track_id).unwrap_or(0);
        let esds = Esds {
            es_desc: esds::EsDescriptor {
                es_id,
                dec_config: esds::DecoderConfig {
                    // MPEG-4 Audio, audio stream.
                    object_type_indication: 0x40,
                    stream_type: 5,
                    dec_specific: Some(esds::DecoderSpecific {
                        profile: asc.signalled_object_type,
                        freq_index: 0,
                        chan_conf: asc.channel_config,
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
                channel_count: if asc.channel_config == 0 {
                    2
                } else {
                    u16::from(asc.channel_config)
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
            codec_name: asc.codec_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
