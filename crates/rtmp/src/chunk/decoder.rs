//! Chunk stream decoder: received bytes in, complete messages out.

use bytes::{Buf, BytesMut};

use super::{Message, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP};
use crate::error::ChunkError;

/// Bounds on what a peer can make the decoder hold.
///
/// Memory per connection is bounded by roughly `max_chunk_streams` times
/// `max_message_len`, and a peer has to actually send those bytes: buffers
/// grow with what is received, not with what is declared.
#[derive(Clone, Debug)]
pub struct DecoderLimits {
    /// Longest message accepted (default 32 MiB, above the 16 MiB the wire
    /// format can express, i.e. no limit beyond the protocol's own; lower it
    /// to protect small deployments).
    pub max_message_len: u32,
    /// How many chunk streams the decoder tracks at once (default 64; real
    /// peers use fewer than ten). When a new stream arrives and the table is
    /// full, the least recently used stream without a partial message is
    /// forgotten (a compressed header on it later is an error); if every
    /// tracked stream has a message in flight, the new one is refused.
    pub max_chunk_streams: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        Self {
            max_message_len: 32 * 1024 * 1024,
            max_chunk_streams: 64,
        }
    }
}

/// First buffer allocated for a message: messages up to this size get one
/// buffer of exactly their length. Longer ones start here and grow by
/// [`GROWTH`] (capped at the declared length), so a peer that declares a huge
/// message and sends one byte of it costs us little.
const INITIAL_ALLOC: usize = 64 * 1024;

/// Growth factor of a message buffer past [`INITIAL_ALLOC`]: a large factor
/// keeps the extra copies of a multi-megabyte keyframe to a fraction of it.
const GROWTH: usize = 4;

/// What the decoder knows about one chunk stream.
#[derive(Debug)]
struct ChunkStream {
    csid: u32,
    /// Absolute timestamp of the message being received or last completed.
    timestamp: u32,
    /// Timestamp field of the last type 0/1/2 header (absolute for type 0, a
    /// delta otherwise). A type 3 chunk starting a new message adds it again,
    /// and it is the value expected in a type 3 extended timestamp.
    ts_field: u32,
    /// Whether that header carried its timestamp in the extended field, in
    /// which case type 3 chunks may repeat it.
    extended: bool,
    len: u32,
    type_id: u8,
    stream_id: u32,
    /// Payload received so far; `None` when no message is in flight.
    partial: Option<BytesMut>,
    /// Stream offset of the last chunk seen, for least-recently-used eviction.
    last_used: u64,
}

/// The chunk whose payload is being received.
#[derive(Debug, Clone, Copy)]
struct InChunk {
    /// Index into [`ChunkDecoder::streams`].
    idx: usize,
    /// Payload bytes of this chunk still to come.
    remaining: u32,
    /// The message was aborted mid-chunk: skip the rest of the chunk.
    discard: bool,
}

/// A parsed chunk header, before it is applied to the chunk stream state.
#[derive(Debug, Clone, Copy)]
struct Header {
    fmt: u8,
    /// Bytes of basic header, message header and extended timestamp.
    len: usize,
    /// Timestamp or delta, extended value already substituted (fmt 0..=2).
    ts: u32,
    /// The 24-bit timestamp field escaped to the extended timestamp.
    extended: bool,
    msg_len: u32,
    type_id: u8,
    stream_id: u32,
}

/// Decodes the chunk stream a peer sends after the handshake.
///
/// Sans-IO: feed whatever was read into a `BytesMut` and call
/// [`decode`](Self::decode) until it returns `Ok(None)`. Payload bytes are
/// copied once, into a buffer owned by their message; only an incomplete
/// chunk header (at most [`super::MAX_HEADER_LEN`] bytes) is left in the
/// caller's buffer between calls.
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: DecoderLimits,
    chunk_size: u32,
    streams: Vec<ChunkStream>,
    in_chunk: Option<InChunk>,
    /// Bytes consumed since creation, for error context.
    offset: u64,
}

impl ChunkDecoder {
    /// A decoder at the protocol's initial chunk size of 128.
    pub fn new(limits: DecoderLimits) -> Self {
        Self {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
            in_chunk: None,
            offset: 0,
        }
    }

    /// The chunk size currently expected from the peer.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Applies a Set Chunk Size received from the peer to the chunks that
    /// follow it.
    ///
    /// Sizes are 31-bit and non-zero; anything else is an error. A huge size
    /// costs nothing: buffers follow message lengths, never the chunk size.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > 0x7FFF_FFFF {
            return Err(ChunkError::InvalidChunkSize { size });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Handles an Abort Message: drops the partial message on `csid`, if any.
    /// Later chunks on that stream start a new message.
    pub fn abort(&mut self, csid: u32) {
        if let Some(idx) = self.find(csid) {
            self.streams[idx].partial = None;
            if let Some(cur) = self.in_chunk.as_mut() {
                if cur.idx == idx {
                    cur.discard = true;
                }
            }
        }
    }

    /// Consumes bytes from `buf` (advancing it) and returns the next complete
    /// message, if any. Call it again until it returns `Ok(None)`, which
    /// means more input is needed; bytes of an incomplete header stay in
    /// `buf`.
    ///
    /// After an error the stream is unusable: the caller should drop the
    /// connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ChunkError> {
        loop {
            let mut cur = match self.in_chunk.take() {
                Some(cur) => cur,
                None => match self.read_header(buf)? {
                    Some(cur) => cur,
                    None => return Ok(None),
                },
            };
            let n = buf.len().min(cur.remaining as usize);
            let stream = &mut self.streams[cur.idx];
            if !cur.discard {
                if let Some(partial) = stream.partial.as_mut() {
                    append(partial, stream.len, &buf[..n]);
                }
            }
            buf.advance(n);
            self.offset += n as u64;
            // n <= remaining, which is a u32.
            cur.remaining -= n as u32;
            if cur.remaining > 0 {
                self.in_chunk = Some(cur);
                return Ok(None);
            }
            if cur.discard {
                continue;
            }
            if let Some(msg) = stream.take_complete() {
                return Ok(Some(msg));
            }
        }
    }

    /// Parses and applies the next chunk header if `buf` holds all of it.
    fn read_header(&mut self, buf: &mut BytesMut) -> Result<Option<InChunk>, ChunkError> {
        let offset = self.offset;
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fmt = b0 >> 6;
        let (csid, basic_len) = match b0 & 0x3F {
            0 => match buf.get(1) {
                Some(&b1) => (64 + u32::from(b1), 2),
                None => return Ok(None),
            },
            1 => match buf.get(1..3) {
                Some(b) => (64 + u32::from(b[0]) + (u32::from(b[1]) << 8), 3),
                None => return Ok(None),
            },
            c => (u32::from(c), 1),
        };
        let idx = self.find(csid);
        let header = if fmt == 3 {
            let Some(i) = idx else {
                return Err(ChunkError::UnknownChunkStream { csid, offset, fmt });
            };
            match self.streams[i].fmt3_extended(&buf[basic_len..]) {
                Some(ext) => Header {
                    fmt,
                    len: basic_len + if ext { 4 } else { 0 },
                    ts: 0,
                    extended: false,
                    msg_len: 0,
                    type_id: 0,
                    stream_id: 0,
                },
                None => return Ok(None),
            }
        } else {
            match parse_message_header(fmt, basic_len, buf) {
                Some(h) => h,
                None => return Ok(None),
            }
        };
        if fmt != 0 && idx.is_none() {
            return Err(ChunkError::UnknownChunkStream { csid, offset, fmt });
        }
        if fmt <= 1 && header.msg_len > self.limits.max_message_len {
            return Err(ChunkError::MessageTooLong {
                csid,
                offset,
                len: header.msg_len,
                limit: self.limits.max_message_len,
            });
        }
        let idx = match idx {
            Some(i) => i,
            None => self.open(csid, offset)?,
        };
        let stream = &mut self.streams[idx];
        stream.last_used = offset;
        let remaining = stream.apply(&header, offset)?;
        buf.advance(header.len);
        self.offset += header.len as u64;
        Ok(Some(InChunk {
            idx,
            remaining: remaining.min(self.chunk_size),
            discard: false,
        }))
    }

    fn find(&self, csid: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.csid == csid)
    }

    /// Makes room for a new chunk stream, forgetting the least recently used
    /// idle one if the table is full.
    fn open(&mut self, csid: u32, offset: u64) -> Result<usize, ChunkError> {
        let fresh = ChunkStream {
            csid,
            timestamp: 0,
            ts_field: 0,
            extended: false,
            len: 0,
            type_id: 0,
            stream_id: 0,
            partial: None,
            last_used: offset,
        };
        if self.streams.len() < self.limits.max_chunk_streams {
            self.streams.push(fresh);
            return Ok(self.streams.len() - 1);
        }
        let idle = self
            .streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.partial.is_none())
            .min_by_key(|(_, s)| s.last_used)
            .map(|(i, _)| i);
        match idle {
            Some(i) => {
                self.streams[i] = fresh;
                Ok(i)
            }
            None => Err(ChunkError::TooManyChunkStreams {
                csid,
                offset,
                limit: self.limits.max_chunk_streams,
            }),
        }
    }
}

impl ChunkStream {
    /// Whether a type 3 chunk starting at `rest` (after its basic header)
    /// carries an extended timestamp; `None` if more bytes are needed to tell.
    ///
    /// The specification says it does whenever the stream's last full header
    /// used the extended field, and ffmpeg and librtmp send it so, but some
    /// peers leave it out. The four bytes are taken as a timestamp only if
    /// they equal the expected value (the header's field, or the message's
    /// absolute timestamp, which some peers put there instead); payload that
    /// happens to start with exactly that value is the only misreading, and
    /// it needs a peer that leaves the field out.
    fn fmt3_extended(&self, rest: &[u8]) -> Option<bool> {
        if !self.extended {
            return Some(false);
        }
        let absolute = if self.partial.is_some() {
            self.timestamp
        } else {
            self.timestamp.wrapping_add(self.ts_field)
        };
        let n = rest.len().min(4);
        let seen = &rest[..n];
        let matches = [self.ts_field, absolute]
            .iter()
            .any(|v| v.to_be_bytes()[..n] == *seen);
        match (matches, n) {
            (false, _) => Some(false),
            (true, 4) => Some(true),
            (true, _) => None,
        }
    }

    /// Applies a chunk header; returns the payload bytes the message still
    /// expects (the chunk carries at most the chunk size of them).
    fn apply(&mut self, h: &Header, offset: u64) -> Result<u32, ChunkError> {
        if let Some(partial) = &self.partial {
            // A continuation. Peers should use type 3 here; a full header
            // describing the same message is tolerated, one that changes it
            // is not.
            if h.fmt <= 1 && (h.msg_len != self.len || h.type_id != self.type_id) {
                return Err(ChunkError::HeaderChangedMidMessage {
                    csid: self.csid,
                    offset,
                    fmt: h.fmt,
                    old_len: self.len,
                    new_len: h.msg_len,
                    old_type: self.type_id,
                    new_type: h.type_id,
                });
            }
            // partial.len() < len, which is a u32.
            return Ok(self.len - partial.len() as u32);
        }
        match h.fmt {
            0 => {
                self.timestamp = h.ts;
                self.stream_id = h.stream_id;
            }
            1 | 2 => self.timestamp = self.timestamp.wrapping_add(h.ts),
            _ => self.timestamp = self.timestamp.wrapping_add(self.ts_field),
        }
        if h.fmt <= 2 {
            self.ts_field = h.ts;
            self.extended = h.extended;
        }
        if h.fmt <= 1 {
            self.len = h.msg_len;
            self.type_id = h.type_id;
        }
        self.partial = Some(BytesMut::with_capacity(
            (self.len as usize).min(INITIAL_ALLOC),
        ));
        Ok(self.len)
    }

    /// Hands out the message if all its bytes are in.
    fn take_complete(&mut self) -> Option<Message> {
        if self.partial.as_ref()?.len() != self.len as usize {
            return None;
        }
        let payload = self.partial.take()?.freeze();
        Some(Message {
            csid: self.csid,
            timestamp: self.timestamp,
            type_id: self.type_id,
            stream_id: self.stream_id,
            payload,
        })
    }
}

/// Parses the type 0/1/2 message header (and extended timestamp) following a
/// basic header of `basic_len` bytes; `None` if `buf` does not hold it all.
fn parse_message_header(fmt: u8, basic_len: usize, buf: &[u8]) -> Option<Header> {
    let mh_len = match fmt {
        0 => 11,
        1 => 7,
        _ => 3,
    };
    let mh = buf.get(basic_len..basic_len + mh_len)?;
    let field = be24(&mh[0..3]);
    let (msg_len, type_id) = if fmt <= 1 {
        (be24(&mh[3..6]), mh[6])
    } else {
        (0, 0)
    };
    let stream_id = if fmt == 0 {
        u32::from_le_bytes([mh[7], mh[8], mh[9], mh[10]])
    } else {
        0
    };
    let mut len = basic_len + mh_len;
    let extended = field == EXTENDED_TIMESTAMP;
    let ts = if extended {
        let ext = buf.get(len..len + 4)?;
        len += 4;
        u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]])
    } else {
        field
    };
    Some(Header {
        fmt,
        len,
        ts,
        extended,
        msg_len,
        type_id,
        stream_id,
    })
}

fn be24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

/// Appends chunk payload to a message buffer, growing it geometrically but
/// never past the declared message length.
fn append(partial: &mut BytesMut, msg_len: u32, data: &[u8]) {
    let needed = partial.len() + data.len();
    if needed > partial.capacity() {
        let cap = partial
            .capacity()
            .saturating_mul(GROWTH)
            .max(needed)
            .min(msg_len as usize);
        let mut grown = BytesMut::with_capacity(cap);
        grown.extend_from_slice(partial);
        *partial = grown;
    }
    partial.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial_capacity(dec: &ChunkDecoder, csid: u32) -> usize {
        let idx = dec.find(csid).unwrap();
        dec.streams[idx].partial.as_ref().unwrap().capacity()
    }

    #[test]
    fn buffers_follow_received_bytes_not_declared_lengths() {
        let mut dec = ChunkDecoder::new(DecoderLimits::default());
        dec.set_chunk_size(0x7FFF_FFFF).unwrap();
        // Declares 16 MiB - 1 on csid 3, 1000 bytes on csid 4; sends 10 of each.
        let mut wire = vec![3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0];
        wire.extend_from_slice(&[0; 10]);
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(partial_capacity(&dec, 3), INITIAL_ALLOC);
        let mut dec = ChunkDecoder::new(DecoderLimits::default());
        let mut wire = vec![4, 0, 0, 0, 0, 0x03, 0xE8, 9, 1, 0, 0, 0];
        wire.extend_from_slice(&[0; 10]);
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(partial_capacity(&dec, 4), 1000);
    }

    #[test]
    fn growth_is_geometric_and_capped_at_the_message_length() {
        let len = 1_000_000;
        let mut partial = BytesMut::with_capacity(INITIAL_ALLOC);
        let mut caps = Vec::new();
        while partial.len() < len as usize {
            let n = 4096.min(len as usize - partial.len());
            append(&mut partial, len, &vec![1; n]);
            if caps.last() != Some(&partial.capacity()) {
                caps.push(partial.capacity());
            }
        }
        assert_eq!(caps, vec![INITIAL_ALLOC, 4 * INITIAL_ALLOC, 1_000_000]);
        assert_eq!(partial.len(), 1_000_000);
    }
}
