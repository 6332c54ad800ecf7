//! Chunk stream encoder: messages in, chunk bytes out.

use bytes::{BufMut, BytesMut};

use super::{
    Message, MessageHeader, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CSID, MAX_MESSAGE_LEN,
    MIN_CSID,
};

/// What the encoder last sent on one chunk stream, i.e. what the peer's
/// decoder will assume for fields a compressed header leaves out.
#[derive(Debug, Clone, Copy)]
struct Sent {
    csid: u32,
    timestamp: u32,
    /// Delta of the last type 1/2 header; `None` after a type 0 header, so
    /// that a type 3 header never depends on how a peer interprets "the
    /// delta" of an absolute timestamp (implementations disagree).
    delta: Option<u32>,
    len: u32,
    type_id: u8,
    stream_id: u32,
}

/// The message header fields of a message's first chunk.
#[derive(Debug, Clone, Copy)]
struct FirstHeader {
    fmt: u8,
    /// Absolute timestamp for type 0, delta for types 1 and 2.
    ts_field: u32,
    len: u32,
    type_id: u8,
    stream_id: u32,
}

/// Chunks messages for one connection, compressing headers against the
/// previous message on the same chunk stream.
///
/// The peer's decoder mirrors this state, so every message this encoder
/// produces must actually be sent, in order.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    sent: Vec<Sent>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder at the protocol's initial chunk size of 128.
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            sent: Vec::new(),
        }
    }

    /// The chunk size outgoing messages are cut at.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Cuts later messages at `size` bytes. The caller must have queued the
    /// Set Chunk Size message announcing it first (encoded at the old size),
    /// or the peer will misread everything after it. Values outside the
    /// protocol's 1..=0x7fffffff are clamped into it.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, 0x7FFF_FFFF);
    }

    /// Appends the chunks of `msg` to `out`, reserving the space once.
    ///
    /// The first chunk uses the smallest header that the peer can expand
    /// from the previous message on the same chunk stream: type 1 when only
    /// length or type changed, type 2 when only the timestamp delta changed,
    /// type 3 when nothing did. A timestamp going backwards or a new message
    /// stream id gets a full type 0 header.
    ///
    /// A payload longer than [`MAX_MESSAGE_LEN`] cannot be expressed in RTMP
    /// and is not written at all; callers relaying foreign media should
    /// check it.
    ///
    /// # Panics
    ///
    /// If `msg.csid` is outside 2..=65599: chunk stream ids are chosen by our
    /// own code, never by a peer.
    pub fn encode(&mut self, msg: &Message, out: &mut BytesMut) {
        assert_csid(msg.csid);
        let Ok(len) = u32::try_from(msg.payload.len()) else {
            return;
        };
        if len > MAX_MESSAGE_LEN {
            return;
        }
        let idx = self.sent.iter().position(|s| s.csid == msg.csid);
        let prev = idx.map(|i| self.sent[i]);
        let delta = prev.map_or(0, |p| msg.timestamp.wrapping_sub(p.timestamp));
        let fmt = match prev {
            Some(p) if p.stream_id == msg.stream_id && delta < 0x8000_0000 => {
                if p.len != len || p.type_id != msg.type_id {
                    1
                } else if p.delta != Some(delta) || delta >= EXTENDED_TIMESTAMP {
                    2
                } else {
                    3
                }
            }
            _ => 0,
        };
        let first = FirstHeader {
            fmt,
            ts_field: if fmt == 0 { msg.timestamp } else { delta },
            len,
            type_id: msg.type_id,
            stream_id: msg.stream_id,
        };
        write_message(out, msg.csid, first, &[&msg.payload], self.chunk_size);
        let now = Sent {
            csid: msg.csid,
            timestamp: msg.timestamp,
            delta: (fmt != 0).then_some(delta),
            len,
            type_id: msg.type_id,
            stream_id: msg.stream_id,
        };
        match idx {
            Some(i) => self.sent[i] = now,
            None => self.sent.push(now),
        }
    }
}

/// Chunks `msg` with no reference to earlier messages: a type 0 first chunk
/// (so a receiver can start at any message), type 3 continuations, and the
/// extended timestamp repeated on continuations when used.
///
/// This is what lets one per-stream muxer chunk each message once and send
/// the same bytes to every player, whatever each one saw before. The
/// receiver's chunk size must equal `chunk_size`. Oversized payloads are
/// skipped and invalid chunk stream ids panic as in [`ChunkEncoder::encode`];
/// a `chunk_size` of 0 is taken as 1.
pub fn encode_standalone(msg: &Message, chunk_size: u32, out: &mut BytesMut) {
    encode_standalone_parts(&msg.header(), &[&msg.payload], chunk_size, out);
}

/// [`encode_standalone`] for a message whose payload is `parts` joined:
/// the chunks are cut across the parts' boundaries as if they were one
/// buffer, and written straight from them.
///
/// A muxer that derives a few bytes of framing for a payload it shares
/// (an FLV tag-body header in front of a frame's data) thus copies the
/// payload once, into the chunk bytes, never into a joined message first.
/// Same rules as [`encode_standalone`] for sizes and chunk stream ids.
pub fn encode_standalone_parts(
    header: &MessageHeader,
    parts: &[&[u8]],
    chunk_size: u32,
    out: &mut BytesMut,
) {
    assert_csid(header.csid);
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let Ok(len) = u32::try_from(total) else {
        return;
    };
    if len > MAX_MESSAGE_LEN {
        return;
    }
    let first = FirstHeader {
        fmt: 0,
        ts_field: header.timestamp,
        len,
        type_id: header.type_id,
        stream_id: header.stream_id,
    };
    write_message(out, header.csid, first, parts, chunk_size.max(1));
}

fn assert_csid(csid: u32) {
    assert!(
        (MIN_CSID..=MAX_CSID).contains(&csid),
        "chunk stream id {csid} outside {MIN_CSID}..={MAX_CSID}"
    );
}

/// Bytes of the basic header for `csid`: the shortest form that holds it.
fn basic_len(csid: u32) -> usize {
    match csid {
        0..=63 => 1,
        64..=319 => 2,
        _ => 3,
    }
}

fn put_basic(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    match basic_len(csid) {
        // The casts keep the low bits of values checked to fit above.
        1 => out.put_u8(fmt | csid as u8),
        2 => out.put_slice(&[fmt, (csid - 64) as u8]),
        _ => {
            let id = csid - 64;
            out.put_slice(&[fmt | 1, id as u8, (id >> 8) as u8]);
        }
    }
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

/// Writes every chunk of one message whose payload is `parts` joined,
/// reserving the exact size first.
fn write_message(out: &mut BytesMut, csid: u32, h: FirstHeader, parts: &[&[u8]], chunk_size: u32) {
    let extended = h.fmt != 3 && h.ts_field >= EXTENDED_TIMESTAMP;
    let basic = basic_len(csid);
    let ext = if extended { 4 } else { 0 };
    let mh = match h.fmt {
        0 => 11,
        1 => 7,
        2 => 3,
        _ => 0,
    };
    let chunk = chunk_size as usize;
    let len = h.len as usize;
    let continuations = len.div_ceil(chunk).saturating_sub(1);
    out.reserve(basic + mh + ext + len + continuations * (basic + ext));

    put_basic(out, h.fmt, csid);
    if h.fmt <= 2 {
        put_u24(out, h.ts_field.min(EXTENDED_TIMESTAMP));
    }
    if h.fmt <= 1 {
        put_u24(out, h.len);
        out.put_u8(h.type_id);
    }
    if h.fmt == 0 {
        out.put_u32_le(h.stream_id);
    }
    if extended {
        out.put_u32(h.ts_field);
    }
    // Payload bytes the current chunk still takes; a continuation header
    // goes in front of the next byte once it is used up.
    let mut room = chunk;
    for part in parts {
        let mut part: &[u8] = part;
        while !part.is_empty() {
            if room == 0 {
                put_basic(out, 3, csid);
                if extended {
                    out.put_u32(h.ts_field);
                }
                room = chunk;
            }
            let (piece, rest) = part.split_at(room.min(part.len()));
            out.put_slice(piece);
            room -= piece.len();
            part = rest;
        }
    }
}
