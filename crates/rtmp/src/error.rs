//! Errors of the RTMP crate, one enum per layer.
//!
//! Every variant that comes from peer input says where in the stream it went
//! wrong (chunk stream id, byte offset since the start of the chunk stream),
//! so a log line is enough to find the bad bytes in a capture.

use thiserror::Error;

/// The peer sent a chunk stream the decoder refuses.
///
/// Offsets count bytes handed to [`crate::chunk::ChunkDecoder::decode`]
/// since the decoder was created (the handshake is not included) and point
/// at the first byte of the offending chunk's basic header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChunkError {
    /// A message header declares more bytes than
    /// [`crate::chunk::DecoderLimits::max_message_len`] allows; accepting it
    /// would let a peer make us buffer arbitrarily much.
    #[error("chunk stream {csid} at byte {offset}: message length {len} exceeds the limit of {limit}")]
    MessageTooLong {
        /// Chunk stream id of the header.
        csid: u32,
        /// Stream offset of the chunk.
        offset: u64,
        /// Declared message length.
        len: u32,
        /// The configured limit.
        limit: u32,
    },
    /// A new chunk stream was opened while
    /// [`crate::chunk::DecoderLimits::max_chunk_streams`] streams already hold
    /// partial messages.
    #[error("chunk stream {csid} at byte {offset}: more than {limit} chunk streams in flight")]
    TooManyChunkStreams {
        /// Chunk stream id that could not be opened.
        csid: u32,
        /// Stream offset of the chunk.
        offset: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A type 0 or 1 header arrived while a message on the same chunk stream
    /// was still incomplete and declared a different length or type: the
    /// bytes already received can no longer be interpreted.
    #[error(
        "chunk stream {csid} at byte {offset}: fmt {fmt} header changes the message \
         (length {old_len} -> {new_len}, type {old_type} -> {new_type}) before it is complete"
    )]
    HeaderChangedMidMessage {
        /// Chunk stream id.
        csid: u32,
        /// Stream offset of the chunk.
        offset: u64,
        /// Chunk header format (0 or 1).
        fmt: u8,
        /// Length of the incomplete message.
        old_len: u32,
        /// Length declared by the new header.
        new_len: u32,
        /// Type of the incomplete message.
        old_type: u8,
        /// Type declared by the new header.
        new_type: u8,
    },
    /// A compressed header (fmt 1, 2 or 3) arrived on a chunk stream for
    /// which no full header was ever seen (or that was evicted): the fields
    /// it leaves out are unknown.
    #[error("chunk stream {csid} at byte {offset}: fmt {fmt} header on a chunk stream without a previous header")]
    UnknownChunkStream {
        /// Chunk stream id.
        csid: u32,
        /// Stream offset of the chunk.
        offset: u64,
        /// Chunk header format (1, 2 or 3).
        fmt: u8,
    },
    /// A Set Chunk Size value of 0 or with the top bit set (the protocol
    /// reserves it, sizes are 31 bits).
    #[error("invalid chunk size {size}: must be 1..=0x7fffffff")]
    InvalidChunkSize {
        /// The rejected size.
        size: u32,
    },
}

/// The peer's handshake bytes cannot be an RTMP handshake.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// The version byte (C0 or S0) is 32 or more. The protocol reserves those
    /// values precisely so that text protocols are told apart: 'G' (0x47)
    /// here is usually an HTTP request sent to the RTMP port.
    #[error("unsupported RTMP version byte {version:#04x} (a text protocol such as HTTP on the RTMP port?)")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
}
