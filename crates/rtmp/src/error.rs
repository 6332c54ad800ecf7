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
    #[error(
        "chunk stream {csid} at byte {offset}: message length {len} exceeds the limit of {limit}"
    )]
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
    /// An RTMPE handshake was asked for with a C0 that is not one of its
    /// types (6, 8 or 9), or an RTMPE server answered with one the client
    /// does not speak (3: the server does not do RTMPE; 8 and 9: the
    /// Blowfish and XTEA signature variants).
    #[error("handshake type {version:#04x} is not RTMPE type 6 (6, 8 or 9 from a client)")]
    NotRtmpe {
        /// The type byte received.
        version: u8,
    },
    /// An RTMPE C1 or S1 carries no valid Flash handshake digest, so the
    /// position of its Diffie-Hellman key cannot be known.
    #[error("RTMPE handshake block carries no valid Flash digest")]
    MissingDigest,
    /// The peer's Diffie-Hellman public key is 0, 1, p-1 or not below the
    /// prime: such a key fixes the shared secret, so it is refused.
    #[error("RTMPE peer sent a weak Diffie-Hellman public key (must lie in 2..=p-2)")]
    BadPublicKey,
    /// The server's S2 does not carry the signature of our C1 digest.
    #[error("RTMPE S2 signature does not answer our C1 digest")]
    BadSignature,
}

/// A message whose payload does not fit its message type.
///
/// Raised while interpreting a complete message, so the chunk stream itself
/// is fine; [`SessionError::Message`] adds which message it was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    /// The payload is shorter than the fixed layout of its type.
    #[error("payload of {len} byte(s) is shorter than the {needed} its type needs")]
    TooShort {
        /// Payload length received.
        len: usize,
        /// Bytes the layout needs.
        needed: usize,
    },
    /// The type id is not the one the parser was asked for (a caller bug
    /// surfaced as an error rather than a panic).
    #[error("message type {type_id} is not a {expected}")]
    WrongType {
        /// The message's type id.
        type_id: u8,
        /// What the parser handles.
        expected: &'static str,
    },
    /// Set Peer Bandwidth with a limit type other than hard, soft or dynamic.
    #[error("invalid Set Peer Bandwidth limit type {limit_type}")]
    InvalidLimitType {
        /// The limit type byte.
        limit_type: u8,
    },
    /// The AMF body of a command or data message does not decode.
    #[error("AMF: {0}")]
    Amf(#[from] weir_amf0::Amf0Error),
    /// A command or data message that does not start with its name.
    #[error("AMF body does not start with a name string")]
    MissingName,
    /// An aggregate message whose sub-message headers run past its end.
    #[error("aggregate sub-message at offset {offset} runs past the end ({detail})")]
    BadAggregate {
        /// Offset of the sub-message header within the aggregate payload.
        offset: usize,
        /// What was cut short.
        detail: &'static str,
    },
}

/// Why a server or client session gave up on a connection.
///
/// Any of these ends the connection: the peer either is not speaking RTMP
/// or broke the protocol in a way we cannot recover from without guessing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The chunk stream is corrupt or exceeds our limits.
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    /// A complete message could not be interpreted.
    #[error("message type {type_id} on chunk stream {csid}, message stream {stream_id}: {source}")]
    Message {
        /// Message type id.
        type_id: u8,
        /// Chunk stream it arrived on.
        csid: u32,
        /// Message stream id.
        stream_id: u32,
        /// What was wrong with it.
        source: MessageError,
    },
    /// A command that needs an established `connect` arrived before it.
    #[error("command {command:?} before connect")]
    NotConnected {
        /// The command name.
        command: String,
    },
    /// A command whose arguments make no sense (e.g. `connect` without a
    /// command object), so no meaningful answer exists.
    #[error("command {command:?}: {detail}")]
    BadCommand {
        /// The command name.
        command: String,
        /// What was wrong.
        detail: &'static str,
    },
}

/// Why a string is not an RTMP URL we can connect to.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    /// Not `rtmp://`, `rtmps://`, `rtmpe://` or `rtmpt://`.
    #[error("unsupported scheme in {url:?}: expected rtmp://, rtmps://, rtmpe:// or rtmpt://")]
    Scheme {
        /// The URL given.
        url: String,
    },
    /// No host between `//` and the path.
    #[error("no host in {url:?}")]
    Host {
        /// The URL given.
        url: String,
    },
    /// The port is not a number in 1..=65535.
    #[error("invalid port {port:?}")]
    Port {
        /// The port text.
        port: String,
    },
    /// The path lacks the application or the stream name
    /// (`rtmp://host/app/stream`).
    #[error("{url:?} needs both an app and a stream name: rtmp://host[:port]/app/stream")]
    Path {
        /// The URL given.
        url: String,
    },
}

/// An RTMPT (RTMP over HTTP) request the tunnel refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtmptError {
    /// The path is none of `/fcs/ident2`, `/open/1`,
    /// `/{send|idle|close}/{session}/{seq}`.
    #[error("not an RTMPT path: {0:?}")]
    Path(String),
    /// The session id is empty, too long or not alphanumeric.
    #[error("bad RTMPT session id {0:?}")]
    SessionId(String),
    /// The sequence number is not a decimal number.
    #[error("bad RTMPT sequence number {0:?}")]
    SeqSyntax(String),
    /// The sequence number does not follow the last one accepted: a
    /// replayed or reordered request.
    #[error("RTMPT sequence number {got} after {last}: requests must be numbered upwards")]
    SeqOrder {
        /// The number of this request.
        got: u64,
        /// The last number accepted on the session.
        last: u64,
    },
}
