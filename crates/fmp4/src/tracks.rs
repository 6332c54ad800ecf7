//! Tracks described by codec configuration frames: their sample entry
//! (`avc1`/`hvc1`/`av01`/`vp09`/`mp4a`/`Opus`), timescale and RFC 6381
//! codec name.
//!
//! Configs are parsed once, when they arrive, so that a malformed one is
//! refused there with a clear error instead of producing an init segment a
//! browser rejects later without saying why.

use bytes::Bytes;
use mp4_atom::{
    esds, Atom, Audio, Av01, Av1c, Avc1, Avcc, Codec, Dops, Esds, Hvc1, Hvcc, Mp4a, Opus,
    OpusChannelMapping, Visual, Vp09, VpcC,
};
use weir_codec::aac::parse_asc;
use weir_codec::av1::parse_av1_config;
use weir_codec::avc::{parse_avc_config, parse_sps};
use weir_codec::hevc::{parse_hevc_config, parse_hevc_sps};
use weir_codec::opus::{parse_opus_head, OPUS_RATE};
use weir_codec::vp9::{keyframe_size, parse_vp9_config};

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
    /// The config does not say the picture size (VP9's never does, AV1's
    /// may lack the sequence header): the first keyframe will.
    pub(crate) needs_size: bool,
}

/// The audio track's configuration.
#[derive(Debug, Clone)]
pub(crate) struct AudioTrack {
    /// [`weir_media::Codec::Aac`] or [`weir_media::Codec::Opus`].
    pub(crate) codec: weir_media::Codec,
    pub(crate) config: Bytes,
    /// Sampling rate of the AAC core, also the track timescale.
    pub(crate) sample_rate: u32,
    /// Samples per AAC frame (1024, or 960 with `frameLengthFlag`).
    pub(crate) frame_samples: u32,
    pub(crate) entry: Codec,
    /// RFC 6381 name, e.g. `mp4a.40.2`.
    pub(crate) codec_name: String,
    /// Opus: every packet says its own duration (2.5 to 120 ms), so
    /// `frame_samples` is only what a packet without a readable TOC counts.
    pub(crate) variable_frames: bool,
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

    /// Parses an `AV1CodecConfigurationRecord`; the picture size comes from
    /// its sequence header OBU, or from the first keyframe's when the record
    /// has none.
    pub(crate) fn av1(config: &Bytes) -> Result<Self, Fmp4Error> {
        let fail = |reason: &dyn std::fmt::Display| bad("AV1", config, reason);
        let av1 = parse_av1_config(config).map_err(|e| fail(&e))?;
        let size = av1.sequence_header().ok().map(|s| (s.width, s.height));
        let av1c = Av1c::decode_body(&mut config.as_ref()).map_err(|e| fail(&e))?;
        let mut track = Self::new(
            weir_media::Codec::Av1,
            config,
            size.unwrap_or((0, 0)),
            av1.codec_string(),
            |visual| {
                Av01 {
                    visual,
                    av1c,
                    ..Av01::default()
                }
                .into()
            },
        );
        track.needs_size = size.is_none();
        Ok(track)
    }

    /// Parses a `vpcC` body (version and flags first, as Enhanced RTMP sends
    /// it). VP9 configs carry no picture size: the first keyframe's header
    /// gives it ([`VideoTrack::size_from_keyframe`]).
    pub(crate) fn vp9(config: &Bytes) -> Result<Self, Fmp4Error> {
        let fail = |reason: &dyn std::fmt::Display| bad("VP9", config, reason);
        let vp9 = parse_vp9_config(config).map_err(|e| fail(&e))?;
        let vpcc = VpcC::decode_body(&mut config.as_ref()).map_err(|e| fail(&e))?;
        let mut track = Self::new(
            weir_media::Codec::Vp9,
            config,
            (0, 0),
            vp9.codec_string(),
            |visual| {
                Vp09 {
                    visual,
                    vpcc,
                    ..Vp09::default()
                }
                .into()
            },
        );
        track.needs_size = true;
        Ok(track)
    }

    /// For a track whose config lacks the picture size: reads it from a
    /// keyframe and writes it into the sample entry. False when the frame
    /// does not say (the track keeps waiting for one that does).
    pub(crate) fn size_from_keyframe(&mut self, frame: &[u8]) -> bool {
        let size = match self.codec {
            weir_media::Codec::Vp9 => keyframe_size(frame).ok().flatten(),
            weir_media::Codec::Av1 => weir_codec::av1::Obus::new(frame)
                .filter_map(Result::ok)
                .find(|obu| obu.obu_type == 1)
                .and_then(|obu| weir_codec::av1::parse_sequence_header(obu.payload).ok())
                .map(|s| (s.width, s.height)),
            _ => None,
        };
        let Some((width, height)) = size else {
            return false;
        };
        (self.width, self.height) = (size16(width), size16(height));
        let visual = match &mut self.entry {
            Codec::Av01(e) => &mut e.visual,
            Codec::Vp09(e) => &mut e.visual,
            _ => return false,
        };
        (visual.width, visual.height) = (self.width, self.height);
        self.needs_size = false;
        true
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
            needs_size: false,
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
            codec: weir_media::Codec::Aac,
            config: config.clone(),
            sample_rate: asc.sample_rate,
            frame_samples: asc.frame_samples,
            entry,
            codec_name: asc.codec_string(),
            variable_frames: false,
        })
    }

    /// Parses an `OpusHead` into an `Opus` sample entry with its `dOps`
    /// (Opus in ISOBMFF). The track counts 48 kHz samples.
    pub(crate) fn opus(config: &Bytes) -> Result<Self, Fmp4Error> {
        let head = parse_opus_head(config).map_err(|e| bad("Opus", config, e))?;
        let channel_mapping =
            head.mapping
                .as_ref()
                .map(|(streams, coupled, table)| OpusChannelMapping {
                    family: head.mapping_family,
                    stream_count: *streams,
                    coupled_count: *coupled,
                    channel_mapping: table.to_vec(),
                });
        let entry = Opus {
            audio: Audio {
                data_reference_index: 1,
                channel_count: u16::from(head.channels),
                sample_size: 16,
                sample_rate: 48_000u16.into(),
            },
            dops: Dops {
                output_channel_count: head.channels,
                pre_skip: head.pre_skip,
                input_sample_rate: head.input_sample_rate,
                output_gain: head.output_gain,
                channel_mapping,
            },
            btrt: None,
        }
        .into();
        Ok(AudioTrack {
            codec: weir_media::Codec::Opus,
            config: config.clone(),
            sample_rate: OPUS_RATE,
            frame_samples: 960,
            entry,
            codec_name: "opus".into(),
            variable_frames: true,
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
