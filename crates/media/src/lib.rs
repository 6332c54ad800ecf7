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

mod key;
mod time;

pub use key::{StreamKey, StreamKeyError, MAX_NAME_LEN};
pub use time::Unwrapper;

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
    /// Opus. Payload: one Opus packet.
    Opus,
    /// AMF0-encoded script data: a name string followed by its values, e.g.
    /// `"onMetaData", {...}` (the `@setDataFrame` wrapper already removed).
    Amf0,
    /// A codec weir carries but does not interpret. `flv_header` is the
    /// first byte of the FLV/RTMP tag body it arrived with, so that FLV and
    /// RTMP egress can pass it on unchanged.
    Other {
        /// First byte of the original FLV/RTMP audio or video tag body.
        flv_header: u8,
    },
}

/// One media frame: an access unit of one track, or a codec configuration.
///
/// Timestamps are in milliseconds, the unit every ingest protocol we carry
/// agrees on (RTMP, FLV). `dts` is an `i64` so that the hub can make it
/// monotonic across 32-bit wraps and publisher changes without overflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Track kind.
    pub kind: TrackKind,
    /// Codec of [`Frame::data`].
    pub codec: Codec,
    /// Decode timestamp, milliseconds.
    pub dts: i64,
    /// Composition offset: `pts = dts + cts`, milliseconds.
    pub cts: i32,
    /// A video frame a decoder can start at (IDR). Always false for audio
    /// and data.
    pub key: bool,
    /// This frame is codec configuration (sequence header), not media.
    pub config: bool,
    /// The payload, shared by every subscriber.
    pub data: Bytes,
}

impl Frame {
    /// Presentation timestamp in milliseconds.
    pub fn pts(&self) -> i64 {
        self.dts + i64::from(self.cts)
    }

    /// True for codec configuration and script data: frames a new
    /// subscriber must receive before any media, and which a stream keeps
    /// the latest of.
    pub fn is_header(&self) -> bool {
        self.config || self.kind == TrackKind::Data
    }
}
