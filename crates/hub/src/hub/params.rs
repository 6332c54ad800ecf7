//! Codec parameters of a stream (picture size, profile, sample rate...),
//! read once from each codec configuration frame for the stats API.
//!
//! Parsing happens when a publisher sends a config frame, which is once per
//! publish (or per encoder reconfiguration), never per media frame. The
//! parsers are weir-codec's, the same ones the muxers use. A config the
//! parsers reject leaves the parameters unknown: stats must never refuse a
//! stream that the muxers carry.

use weir_media::{us_to_ms, Codec, Frame, TrackKind};

/// What the stats API shows about a video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoParams {
    /// `profile_idc` of the codec (H.264: 66 Baseline, 77 Main, 100
    /// High...; H.265: 1 Main, 2 Main 10...; AV1 `seq_profile`, VP9
    /// profile).
    pub profile: u8,
    /// `level_idc` as the codec signals it: ten times the level for H.264,
    /// thirty times for H.265.
    pub level: u8,
    /// H.264 `profile_compatibility` (the SPS constraint flags byte), which
    /// nginx-rtmp's `/stat` shows as `compat`; 0 for H.265.
    pub compat: u8,
    /// Displayed width in pixels (0: unknown, VP9).
    pub width: u32,
    /// Displayed height in pixels (0: unknown, VP9).
    pub height: u32,
    /// RFC 6381 codec string (e.g. `avc1.64001e`), what a browser's
    /// `MediaSource.isTypeSupported` wants to hear.
    pub codec_string: String,
}

/// What the stats API shows about an audio track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioParams {
    /// AAC audio object type (2 = LC, 5 = HE-AAC, 29 = HE-AACv2) as
    /// signalled; 0 for other codecs.
    pub object_type: u8,
    /// Output sample rate in Hz (after SBR for HE-AAC).
    pub sample_rate: u32,
    /// Channels (AAC `channelConfiguration`; 7 means 7.1, i.e. 8).
    pub channels: u8,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub codec_string: String,
}

/// The parameters a config frame describes, if it is one weir can read.
pub(super) enum Params {
    Video(VideoParams),
    Audio(AudioParams),
}

/// Per-publisher counters beyond bytes and frames, kept in the stream state
/// (whose lock `Publisher::send` holds anyway) and reset by each publish.
#[derive(Default)]
pub(super) struct PublishStats {
    pub(super) video_frames: u64,
    pub(super) audio_frames: u64,
    pub(super) video_bytes: u64,
    pub(super) audio_bytes: u64,
    /// DTS (µs) of the last video keyframe.
    last_key_dts: Option<i64>,
    pub(super) keyframe_interval_ms: Option<i64>,
    pub(super) video: Option<VideoParams>,
    pub(super) audio: Option<AudioParams>,
}

impl PublishStats {
    /// Counts one frame of `len` payload bytes: `key_dts` is its (rebased)
    /// DTS in µs if it is a keyframe, `params` what [`parse`] read from it.
    pub(super) fn count(
        &mut self,
        kind: TrackKind,
        len: u64,
        config: bool,
        key_dts: Option<i64>,
        params: Option<Params>,
    ) {
        match params {
            Some(Params::Video(v)) => self.video = Some(v),
            Some(Params::Audio(a)) => self.audio = Some(a),
            None => {}
        }
        if config {
            return;
        }
        match kind {
            TrackKind::Video => {
                self.video_frames += 1;
                self.video_bytes += len;
                if let Some(dts) = key_dts {
                    if let Some(last) = self.last_key_dts {
                        self.keyframe_interval_ms = Some(us_to_ms(dts.saturating_sub(last)));
                    }
                    self.last_key_dts = Some(dts);
                }
            }
            TrackKind::Audio => {
                self.audio_frames += 1;
                self.audio_bytes += len;
            }
            TrackKind::Data => {}
        }
    }
}

/// Reads a config frame; `None` for media frames, unknown codecs and
/// configs that do not parse.
pub(super) fn parse(frame: &Frame) -> Option<Params> {
    if !frame.config {
        return None;
    }
    match (frame.kind, frame.codec) {
        (TrackKind::Video, Codec::H264) => {
            let cfg = weir_codec::avc::parse_avc_config(&frame.data).ok()?;
            let sps = weir_codec::avc::parse_sps(cfg.sps.first()?).ok()?;
            Some(Params::Video(VideoParams {
                profile: sps.profile_idc,
                level: sps.level_idc,
                compat: sps.constraint_flags,
                width: sps.width,
                height: sps.height,
                codec_string: cfg.codec_string(),
            }))
        }
        (TrackKind::Video, Codec::H265) => {
            let cfg = weir_codec::hevc::parse_hevc_config(&frame.data).ok()?;
            let sps = weir_codec::hevc::parse_hevc_sps(cfg.sps.first()?).ok()?;
            Some(Params::Video(VideoParams {
                profile: cfg.profile_idc,
                level: cfg.level_idc,
                compat: 0,
                width: sps.width,
                height: sps.height,
                codec_string: cfg.codec_string(),
            }))
        }
        (TrackKind::Video, Codec::Av1) => {
            let cfg = weir_codec::av1::parse_av1_config(&frame.data).ok()?;
            let seq = cfg.sequence_header().ok()?;
            Some(Params::Video(VideoParams {
                profile: cfg.profile,
                level: cfg.level_idx,
                compat: 0,
                width: seq.width,
                height: seq.height,
                codec_string: cfg.codec_string(),
            }))
        }
        // VP9's record has no picture size: 0 × 0 says unknown.
        (TrackKind::Video, Codec::Vp9) => {
            let cfg = weir_codec::vp9::parse_vp9_config(&frame.data).ok()?;
            Some(Params::Video(VideoParams {
                profile: cfg.profile,
                level: cfg.level,
                compat: 0,
                width: 0,
                height: 0,
                codec_string: cfg.codec_string(),
            }))
        }
        (TrackKind::Audio, Codec::Opus) => {
            let head = weir_codec::opus::parse_opus_head(&frame.data).ok()?;
            Some(Params::Audio(AudioParams {
                object_type: 0,
                sample_rate: weir_codec::opus::OPUS_RATE,
                channels: head.channels,
                codec_string: "opus".into(),
            }))
        }
        (TrackKind::Audio, Codec::Aac) => {
            let asc = weir_codec::aac::parse_asc(&frame.data).ok()?;
            Some(Params::Audio(AudioParams {
                object_type: asc.signalled_object_type,
                sample_rate: asc.extension_sample_rate.unwrap_or(asc.sample_rate),
                channels: match asc.channel_config {
                    7 => 8,
                    n => n,
                },
                codec_string: asc.codec_string(),
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn config(kind: TrackKind, codec: Codec, data: &'static [u8]) -> Frame {
        Frame {
            kind,
            codec,
            dts_us: 0,
            cts_us: 0,
            key: kind == TrackKind::Video,
            config: true,
            data: Bytes::from_static(data),
        }
    }

    /// The record ffmpeg's libx264 (`-preset ultrafast`) sends for 640x360:
    /// Constrained Baseline, level 3.0.
    const AVC_640X360: &[u8] = &[
        0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80,
        0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf2, 0x3c,
        0x58, 0xba, 0x80, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8,
    ];

    #[test]
    fn reads_h264_size_profile_and_level() {
        let Some(Params::Video(v)) = parse(&config(TrackKind::Video, Codec::H264, AVC_640X360))
        else {
            panic!("no video params");
        };
        assert_eq!((v.width, v.height), (640, 360));
        assert_eq!((v.profile, v.level, v.compat), (66, 30, 0xc0));
        assert_eq!(v.codec_string, "avc1.42c01e");
    }

    #[test]
    fn reads_av1_and_opus() {
        const AV1C: &[u8] = &[
            0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x61, 0xe7, 0xfd, 0xe0,
            0x17, 0xc0, 0x02,
        ];
        let Some(Params::Video(v)) = parse(&config(TrackKind::Video, Codec::Av1, AV1C)) else {
            panic!("no video params");
        };
        assert_eq!(
            (v.width, v.height, v.codec_string.as_str()),
            (320, 240, "av01.0.00M.08")
        );
        let head = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        let Some(Params::Audio(a)) = parse(&config(TrackKind::Audio, Codec::Opus, head)) else {
            panic!("no audio params");
        };
        assert_eq!(
            (a.sample_rate, a.channels, a.codec_string.as_str()),
            (48_000, 2, "opus")
        );
    }

    #[test]
    fn reads_aac_rate_and_channels() {
        // AAC-LC, 44100 Hz (index 4), stereo.
        let Some(Params::Audio(a)) = parse(&config(TrackKind::Audio, Codec::Aac, &[0x12, 0x10]))
        else {
            panic!("no audio params");
        };
        assert_eq!((a.object_type, a.sample_rate, a.channels), (2, 44100, 2));
        assert_eq!(a.codec_string, "mp4a.40.2");
    }

    #[test]
    fn counts_frames_and_keyframe_interval() {
        let mut stats = PublishStats::default();
        stats.count(TrackKind::Video, 40, true, Some(0), None);
        stats.count(TrackKind::Video, 1000, false, Some(0), None);
        stats.count(TrackKind::Audio, 10, false, None, None);
        stats.count(TrackKind::Video, 100, false, None, None);
        assert_eq!(stats.keyframe_interval_ms, None);
        stats.count(TrackKind::Video, 1000, false, Some(2_002_000), None);
        assert_eq!(stats.keyframe_interval_ms, Some(2002));
        assert_eq!((stats.video_frames, stats.audio_frames), (3, 1));
        assert_eq!((stats.video_bytes, stats.audio_bytes), (2100, 10));
    }

    #[test]
    fn garbage_and_media_frames_give_nothing() {
        assert!(parse(&config(TrackKind::Video, Codec::H264, b"\x01\x64")).is_none());
        assert!(parse(&config(TrackKind::Audio, Codec::Aac, b"")).is_none());
        let mut media = config(TrackKind::Audio, Codec::Aac, &[0x12, 0x10]);
        media.config = false;
        assert!(parse(&media).is_none());
    }
}
