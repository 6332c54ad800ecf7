//! Protocol-neutral media types.
//!
//! Every ingest adapter turns what it receives into [`Frame`]s and every
//! egress muxer turns [`Frame`]s into its own format. Nothing here knows
//! about RTMP, FLV, MPEG-TS or HTTP: that is what lets the hub fan frames out
//! without caring where they came from or where they go.
//!
//! Payloads are [`Bytes`], so cloning a frame for another subscriber copies a
//! reference count, never the media.

#![warn(missing_docs, unreachable_pub)]

pub mod dts;
mod key;
pub mod pattern;
mod time;

pub use dts::DtsDeriver;
pub use key::{StreamKey, StreamKeyError, MAX_NAME_LEN};
pub use time::{ms_to_us, rescale, us_to_ms, Unwrapper, US_HZ};

use bytes::Bytes;

/// What kind of track a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// Video: has keyframes, decoding starts at one.
    Video,
    /// Audio: every frame decodes on its own.
    Audio,
    /// Timed script data, e.g. `onMetaData`.
    Data,
}

/// The codec of a frame's payload, and so how to read [`Frame::data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC. Payload: length-prefixed NAL units (AVCC, 4-byte
    /// lengths); the config frame holds an `AVCDecoderConfigurationRecord`.
    H264,
    /// H.265 / HEVC. Payload: length-prefixed NAL units; the config frame
    /// holds an `HEVCDecoderConfigurationRecord`.
    H265,
    /// AV1. Payload: one temporal unit of OBUs in the low-overhead format
    /// (each with its size field), as MP4 and Enhanced RTMP carry it; the
    /// config frame holds an `AV1CodecConfigurationRecord` (`av1C`).
    Av1,
    /// VP9. Payload: one frame (or superframe); the config frame holds a
    /// `VPCodecConfigurationRecord` (`vpcC`) with its version and flags.
    Vp9,
    /// AAC. Payload: one raw access unit (no ADTS); the config frame holds
    /// the `AudioSpecificConfig`.
    Aac,
    /// MPEG-1/2 audio layer III. Payload: one or more MP3 frames with their
    /// headers. The fields are what FLV needs to describe the track.
    Mp3 {
        /// Sampling rate in Hz as signalled by the source (e.g. 44100).
        sample_rate: u32,
        /// Two channels.
        stereo: bool,
    },
    /// Opus. Payload: one Opus packet; the config frame, when the source
    /// has one, holds the Ogg `OpusHead` identification header (RFC 7845).
    Opus,
    /// AC-3 (Dolby Digital). Payload: one or more sync frames, which
    /// describe themselves; no config frame.
    Ac3,
    /// E-AC-3 (Dolby Digital Plus). Payload: one or more sync frames; no
    /// config frame.
    Eac3,
    /// FLAC. Payload: one FLAC frame; the config frame holds the stream's
    /// metadata blocks (`STREAMINFO` first), as Enhanced RTMP sends them.
    Flac,
    /// AMF0-encoded script data: a name string followed by its values, e.g.
    /// `"onMetaData", {...}` (the `@setDataFrame` wrapper already removed).
    Amf0,
    /// G.711 A-law (PCMA): one byte per sample, no configuration. RTP
    /// payload type 8 and FLV sound format 7, so a stream can cross
    /// protocols. The fields describe the track, since the payload cannot.
    Pcma {
        /// Sampling rate in Hz (8000 in nearly every source; FLV can only
        /// say 8000).
        sample_rate: u32,
        /// Interleaved channels (FLV can say 1 or 2).
        channels: u8,
    },
    /// G.711 µ-law (PCMU): like [`Codec::Pcma`] with the other companding
    /// curve. RTP payload type 0, FLV sound format 8.
    Pcmu {
        /// Sampling rate in Hz.
        sample_rate: u32,
        /// Interleaved channels.
        channels: u8,
    },
}

/// One media frame: an access unit of one track, or a codec configuration.
///
/// Timestamps are in microseconds: fine enough that the 90 kHz and audio
/// sample clocks of RTP and MPEG-TS, and the milliseconds of RTMP and FLV,
/// all map onto it and back without drift (see [`rescale`]). `dts_us` is an
/// `i64` so that the hub can make it monotonic across 32-bit wraps and
/// publisher changes without overflow; the composition offset is small
/// (±35 minutes fit in an `i32`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Track kind.
    pub kind: TrackKind,
    /// Codec of [`Frame::data`].
    pub codec: Codec,
    /// Decode timestamp, microseconds.
    pub dts_us: i64,
    /// Composition offset, microseconds: `pts = dts + cts`.
    pub cts_us: i32,
    /// A video frame a decoder can start at (IDR). Always false for audio
    /// and data.
    pub key: bool,
    /// This frame is codec configuration (sequence header), not media.
    pub config: bool,
    /// The payload, shared by every subscriber.
    pub data: Bytes,
}

impl Codec {
    /// The codec's short lowercase name, as the API and error messages
    /// give it: `h264`, `h265`, `av1`, `vp9`, `aac`, `mp3`, `opus`, `ac3`,
    /// `eac3`, `flac`, `pcma`, `pcmu`, `amf0`.
    pub fn name(&self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
            Codec::Av1 => "av1",
            Codec::Vp9 => "vp9",
            Codec::Aac => "aac",
            Codec::Mp3 { .. } => "mp3",
            Codec::Opus => "opus",
            Codec::Ac3 => "ac3",
            Codec::Eac3 => "eac3",
            Codec::Flac => "flac",
            Codec::Pcma { .. } => "pcma",
            Codec::Pcmu { .. } => "pcmu",
            Codec::Amf0 => "amf0",
        }
    }

    /// G.711 at `sample_rate` Hz with `channels`: A-law (PCMA) when `alaw`,
    /// else µ-law (PCMU).
    pub fn g711(alaw: bool, sample_rate: u32, channels: u8) -> Codec {
        if alaw {
            Codec::Pcma {
                sample_rate,
                channels,
            }
        } else {
            Codec::Pcmu {
                sample_rate,
                channels,
            }
        }
    }

    /// Sampling rate (Hz) and channel count, for the audio codecs whose
    /// payload has no configuration record to read them from (MP3, G.711);
    /// `None` for the others, whose config frame or payload says it (AAC,
    /// Opus, FLAC, AC-3), and
    /// for video and data.
    pub fn audio_format(&self) -> Option<(u32, u8)> {
        match *self {
            Codec::Mp3 {
                sample_rate,
                stereo,
            } => Some((sample_rate, 1 + u8::from(stereo))),
            Codec::Pcma {
                sample_rate,
                channels,
            }
            | Codec::Pcmu {
                sample_rate,
                channels,
            } => Some((sample_rate, channels)),
            Codec::H264
            | Codec::H265
            | Codec::Av1
            | Codec::Vp9
            | Codec::Aac
            | Codec::Opus
            | Codec::Ac3
            | Codec::Eac3
            | Codec::Flac
            | Codec::Amf0 => None,
        }
    }
}

impl Frame {
    /// Presentation timestamp in microseconds.
    pub fn pts_us(&self) -> i64 {
        self.dts_us.saturating_add(i64::from(self.cts_us))
    }

    /// True for codec configuration and script data: frames a new
    /// subscriber must receive before any media, and which a stream keeps
    /// the latest of.
    pub fn is_header(&self) -> bool {
        self.config || self.kind == TrackKind::Data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_format_is_what_the_codec_carries() {
        let mp3 = Codec::Mp3 {
            sample_rate: 44100,
            stereo: true,
        };
        assert_eq!(mp3.audio_format(), Some((44100, 2)));
        let pcmu = Codec::Pcmu {
            sample_rate: 8000,
            channels: 1,
        };
        assert_eq!(pcmu.audio_format(), Some((8000, 1)));
        assert_eq!(Codec::Aac.audio_format(), None);
    }

    #[test]
    fn pts_saturates() {
        let f = Frame {
            kind: TrackKind::Video,
            codec: Codec::H264,
            dts_us: i64::MAX - 1,
            cts_us: 40_000,
            key: false,
            config: false,
            data: Bytes::new(),
        };
        assert_eq!(f.pts_us(), i64::MAX);
    }
}
