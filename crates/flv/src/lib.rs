//! FLV tags and files: sans-IO demuxer and muxer, FLV tag body <-> Frame.
//!
//! FLV matters to weir twice over. Its tag bodies are exactly the payloads
//! of RTMP audio, video and data messages, so [`frame_from_tag`] and
//! [`tag_header`] are how RTMP ingest and egress convert to and from
//! [`weir_media::Frame`]. And FLV files and HTTP-FLV streams are a tag
//! stream behind a small header: [`Demuxer`] reads them from chunks the
//! caller supplies, [`file_header`] and [`write_frame_tag`] write them.
//!
//! Nothing here does IO or reads a clock, and no input can make it panic:
//! every length is checked, tag sizes are bounded by a configurable limit.
//!
//! The codec configurations that arrive in sequence headers are passed on
//! as config frames, not parsed here: `weir-codec` reads them for every
//! format that needs them.

#![warn(missing_docs, unreachable_pub)]

mod body;
mod demux;
mod error;
mod tag;

pub use body::{
    carries, frame_from_tag, is_on_metadata, tag_header, tag_timestamp, write_frame_tag,
    TagBodyHeader,
};
pub use demux::{Demuxer, DEFAULT_MAX_TAG_SIZE};
pub use error::{FlvError, UnsupportedCodec};
pub use tag::{
    file_header, write_tag, FileHeader, Tag, TagType, FLV_HEADER_AV, MAX_BODY_SIZE, TAG_HEADER_SIZE,
};
