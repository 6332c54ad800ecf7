//! The RTMP chunk stream: how messages are cut into chunks on the wire.
//!
//! Every RTMP message travels as one or more chunks. A chunk starts with a
//! basic header (format 0..=3 and a chunk stream id, 1 to 3 bytes), then a
//! message header whose size depends on the format (11, 7, 3 or 0 bytes:
//! later formats leave out fields equal to the previous message on the same
//! chunk stream), an optional 4-byte extended timestamp, and at most
//! "chunk size" payload bytes. Chunks of different chunk streams may
//! interleave, so audio is not stuck behind a large video frame.
//!
//! [`ChunkDecoder`] turns received bytes into [`Message`]s; [`ChunkEncoder`]
//! does the reverse for one connection; [`encode_standalone`] chunks a
//! message without any per-connection state, so the same bytes can be sent
//! to every player of a stream, and [`encode_standalone_parts`] does so
//! for a payload given in pieces.

mod decoder;
mod encoder;

pub use decoder::{ChunkDecoder, DecoderLimits};
pub use encoder::{encode_standalone, encode_standalone_parts, ChunkEncoder};

use bytes::Bytes;

/// One complete RTMP message with the chunk stream it travels on.
///
/// The chunk stream id is kept because the protocol lets a peer choose it
/// freely and some replies are expected on the same one; `timestamp` is the
/// absolute 32-bit message timestamp (deltas already applied, wrapping at
/// 2^32 ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Chunk stream id, 2..=65599 (0 and 1 are basic header escapes, not ids).
    pub csid: u32,
    /// Absolute message timestamp in milliseconds, wrapping at 2^32.
    pub timestamp: u32,
    /// Message type id (1 = Set Chunk Size, 8 = audio, 9 = video, 20 = AMF0 command...).
    pub type_id: u8,
    /// Message stream id (0 for connection-level messages).
    pub stream_id: u32,
    /// Message payload; cloning it is a reference count increment.
    pub payload: Bytes,
}

impl Message {
    /// The message's header fields, without the payload.
    pub fn header(&self) -> MessageHeader {
        MessageHeader {
            csid: self.csid,
            timestamp: self.timestamp,
            type_id: self.type_id,
            stream_id: self.stream_id,
        }
    }
}

/// The header fields of a [`Message`], for encoders that take the payload
/// separately ([`encode_standalone_parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// Chunk stream id, 2..=65599.
    pub csid: u32,
    /// Absolute message timestamp in milliseconds, wrapping at 2^32.
    pub timestamp: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
}

/// RTMP's initial chunk size in both directions until a Set Chunk Size
/// message changes it.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;

/// Largest message payload the 24-bit length field of a message header can
/// express; longer messages do not exist in RTMP.
pub const MAX_MESSAGE_LEN: u32 = 0xFF_FFFF;

/// Smallest chunk stream id that is a real id (0 and 1 in the basic header
/// announce the 2- and 3-byte forms).
pub const MIN_CSID: u32 = 2;

/// Largest chunk stream id the 3-byte basic header can express.
pub const MAX_CSID: u32 = 64 + 0xFFFF;

/// A timestamp field of this value means "read the real one from the 4-byte
/// extended timestamp that follows the message header".
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

/// Longest chunk header: 3-byte basic header, 11-byte type 0 message header
/// and a 4-byte extended timestamp. The decoder never keeps more than this in
/// the caller's buffer.
pub const MAX_HEADER_LEN: usize = 3 + 11 + 4;
