//! Sans-IO MP4 reading for video on demand.
//!
//! [`Index::read`] (or [`Index::from_bytes`]) turns an MP4 into an
//! [`Index`]: its tracks (codec, timescale, the codec config as weir's
//! config frames carry it, picture size, sample rate and channels) and
//! every sample (file offset, size, decode time, composition offset,
//! keyframe flag). Both layouts are read:
//!
//! * **plain**: one `moov` with sample tables (`stts`, `ctts`, `stss`,
//!   `stsc`, `stsz`, `stco`/`co64`), wherever the `moov` is;
//! * **fragmented**: `ftyp` + `moov` (with `mvex`/`trex`), then
//!   `moof`+`mdat` pairs, maybe a trailing `mfra`: what weir's recorder
//!   writes. A recording cut off by a crash ends in a torn box: the
//!   complete fragments are indexed and the tail is ignored.
//!
//! From an index:
//!
//! * [`Index::frames`] yields weir [`weir_media::Frame`]s (config frames
//!   first, then the samples interleaved by decode time): a file played
//!   like a live stream (RTMP VOD);
//! * [`Playhead`] walks the samples for a player paced at real time,
//!   with seeks to keyframes, reading one bounded byte range at a time;
//! * [`clip`] writes a time range of one or more files as one fMP4 or MP4,
//!   cut at keyframes;
//! * [`hls`] makes HLS VOD playlists (`EXT-X-MAP` + fMP4 segments at
//!   keyframes): byte ranges of a fragmented file, generated segments for
//!   a plain one.
//!
//! Nothing here does IO: callers read the file ([`ReadAt`] for the index,
//! [`Window`] for sample bytes). Input is untrusted: every count read from
//! a file is capped by the file's size before anything is allocated for
//! it, and boxes are bounded ([`MAX_MOOV_BYTES`], [`MAX_MOOF_BYTES`]), so
//! a corrupt file costs an error, never a panic or unbounded memory.
//!
//! Edit lists (`elst`) are not applied: times are the sample tables' own.

#![warn(missing_docs, unreachable_pub)]

mod clip;
mod entry;
mod error;
mod fragments;
mod frames;
pub mod hls;
mod index;
mod plain;
mod playhead;
mod prune;
mod read;
mod window;
mod write;

pub use clip::{clip, ClipFormat, Source};
pub use error::VodError;
pub use frames::{frame, Frames};
pub use index::{Fragment, Index, Layout, Sample, Track, MAX_MOOF_BYTES, MAX_MOOV_BYTES};
pub use playhead::{Batch, Playhead};
pub use read::ReadAt;
pub use window::Window;
