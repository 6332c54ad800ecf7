//! Codec configuration parsing shared by every weir muxer: the decoder
//! configuration records and parameter sets of H.264 ([`avc`]) and H.265
//! ([`hevc`]), AV1's `av1C` and OBUs ([`av1`]), VP9's `vpcC` and keyframe
//! header ([`vp9`]), AAC's `AudioSpecificConfig` and ADTS header ([`aac`]),
//! Opus's `OpusHead` and packet durations ([`opus`]), MP3 frame headers
//! ([`mp3`]), and NAL unit framing, length-prefixed and Annex-B ([`nal`]).
//!
//! Ingest delivers these structures as the payload of config frames
//! (`Frame::config`), and each egress format needs something different from
//! them: MPEG-TS repeats the parameter sets in band and frames AAC in ADTS,
//! fragmented MP4 needs the picture size and RFC 6381 codec strings, stream
//! statistics want profile and level. One parser per structure serves them
//! all, so a quirk fixed here is fixed for every format.
//!
//! Everything here is sans-IO and reads peer data: lengths are checked, no
//! input makes it panic, and errors say which structure broke and where.

#![warn(missing_docs, unreachable_pub)]

pub mod aac;
pub mod av1;
pub mod avc;
mod bits;
mod error;
pub mod hevc;
pub mod mp3;
pub mod nal;
pub mod opus;
mod record;
pub mod record_write;
pub mod vp9;

pub use error::CodecError;
