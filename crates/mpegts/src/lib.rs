//! A sans-IO MPEG-TS muxer for weir's HTTP egress (HLS segments, and any
//! continuous TS stream).
//!
//! [`TsMuxer`] turns [`weir_media::Frame`]s into 188-byte transport packets
//! appended to a [`bytes::BytesMut`]. It reads no clock and does no IO: all
//! timing comes from the frames' DTS/PTS, so the same input always gives the
//! same bytes, which is what makes it testable against independent readers.
//!
//! # Design decisions
//!
//! * **Our own muxer, one program, fixed PIDs.** PMT on 0x1000, video on
//!   0x100, audio on 0x101: the layout HLS players expect, with nothing to
//!   negotiate. Only PAT and PMT are written (no SDT): that is all HLS needs.
//! * **The muxer outlives segments.** Continuity counters, the PMT version
//!   and the PCR clock are muxer state, so HLS segments concatenate into one
//!   valid stream with no continuity errors. The segmenter asks for PAT/PMT
//!   at each segment start with [`TsMuxer::push_with_tables`].
//! * **Tracks are discovered, not declared.** A config or media frame of a
//!   codec registers its track; when a media frame arrives for a track the
//!   last PMT did not list, a new PMT version goes out before it. The hub
//!   sends config frames before media, so in practice the first PMT already
//!   lists both tracks.
//! * **Self-contained access units.** H.264/H.265 frames are converted from
//!   length-prefixed NAL units to Annex-B, get an access unit delimiter, and
//!   keyframes get the parameter sets from the last config frame in front
//!   (unless they carry their own), all by `weir_codec::nal`. AAC frames get
//!   an ADTS header (`weir_codec::aac`). A player
//!   can therefore start decoding at any keyframe, which HLS relies on.
//! * **Timestamps.** PTS/DTS are the frames' microseconds plus an offset,
//!   at 90 kHz (rounded to the nearest tick: exact for millisecond
//!   sources) modulo 2^33, the
//!   offset (1 s by default) keeping them positive; the PCR is the same
//!   clock without the offset, so it trails the DTS by a constant decoder
//!   buffer time. Every video PES carries a PCR (audio PES when there is no
//!   video); when the PCR PID is silent for longer than the interval,
//!   stand-alone PCR packets fill the gap, so PCRs are never more than
//!   100 ms apart. One frame is one PES (no audio batching): simpler, at
//!   the cost of some padding per audio frame.
//! * **Atomic pushes.** All validation (NAL lengths, AAC config) happens
//!   before anything is written: a bad frame returns an error and leaves
//!   the output and the muxer untouched.

#![warn(missing_docs, unreachable_pub)]

mod crc;
mod muxer;
mod packet;

pub use muxer::{TsConfig, TsMuxer};

use weir_media::Codec;

/// Size of every transport packet: output always comes in whole packets.
pub const PACKET_SIZE: usize = 188;
/// PID of the program map table.
pub const PMT_PID: u16 = 0x1000;
/// PID of the video elementary stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the audio elementary stream.
pub const AUDIO_PID: u16 = 0x101;

/// Why a frame could not be muxed. The frame is dropped; the muxer stays
/// usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// The codec has no mapping to MPEG-TS here (Opus, G.711).
    #[error("codec {0:?} cannot be carried in MPEG-TS")]
    Unsupported(Codec),
    /// A codec configuration (`avcC`, `hvcC`, `AudioSpecificConfig`) is
    /// malformed, a NAL unit length prefix runs past the end of its frame,
    /// or an AAC stream uses a feature ADTS cannot describe.
    #[error(transparent)]
    Codec(#[from] weir_codec::CodecError),
    /// AAC media arrived before any `AudioSpecificConfig`: without it no
    /// ADTS header can be written.
    #[error("AAC frame before its AudioSpecificConfig")]
    NoAacConfig,
}

/// An elementary stream type this muxer can carry, as written in the PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamType {
    /// H.264 (stream_type 0x1b).
    H264,
    /// H.265 (stream_type 0x24).
    H265,
    /// AAC in ADTS (stream_type 0x0f).
    Aac,
    /// MPEG-1 audio, MP3 at 32/44.1/48 kHz (stream_type 0x03).
    Mpeg1Audio,
    /// MPEG-2 low-sampling-rate audio, MP3 below 32 kHz (stream_type 0x04).
    Mpeg2Audio,
}

/// Whether MPEG-TS (and so the TS HLS playlist) carries `codec`.
pub fn carries(codec: Codec) -> bool {
    StreamType::of(&codec).is_some()
}

impl StreamType {
    /// The stream type for a codec, or `None` when MPEG-TS can't carry it
    /// here. Lets callers skip frames before muxing.
    pub fn of(codec: &Codec) -> Option<StreamType> {
        match codec {
            Codec::H264 => Some(StreamType::H264),
            Codec::H265 => Some(StreamType::H265),
            Codec::Aac => Some(StreamType::Aac),
            Codec::Mp3 { sample_rate, .. } if *sample_rate < 32_000 => Some(StreamType::Mpeg2Audio),
            Codec::Mp3 { .. } => Some(StreamType::Mpeg1Audio),
            // AV1 and VP9 have no MPEG-TS mapping players read; Opus,
            // AC-3, E-AC-3 and FLAC do on paper (private PES with
            // registration descriptors) but HLS players expect AAC or MP3
            // in TS: they go to fMP4 instead.
            Codec::Av1
            | Codec::Vp9
            | Codec::Opus
            | Codec::Ac3
            | Codec::Eac3
            | Codec::Flac
            | Codec::Pcma { .. }
            | Codec::Pcmu { .. }
            | Codec::Amf0 => None,
        }
    }

    /// The `stream_type` byte of the PMT.
    pub fn code(self) -> u8 {
        match self {
            StreamType::H264 => 0x1b,
            StreamType::H265 => 0x24,
            StreamType::Aac => 0x0f,
            StreamType::Mpeg1Audio => 0x03,
            StreamType::Mpeg2Audio => 0x04,
        }
    }

    /// Video streams go on [`VIDEO_PID`], the others on [`AUDIO_PID`].
    pub fn is_video(self) -> bool {
        matches!(self, StreamType::H264 | StreamType::H265)
    }
}

/// The program's tracks: what the PMT lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracks {
    /// The video track, if any.
    pub video: Option<StreamType>,
    /// The audio track, if any.
    pub audio: Option<StreamType>,
}
