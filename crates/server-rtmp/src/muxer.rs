//! The per-stream RTMP muxer: chunks each message once for every player.

use bytes::{BufMut, Bytes, BytesMut};
use weir_hub::{Class, Entry, Muxer, StreamEvent};
use weir_media::{Frame, TrackKind};

/// Chunk stream ids the shared muxer sends media on. The session never
/// uses them for its own messages, so the two byte streams interleave at
/// message boundaries without sharing header-compression state.
const CSID_AUDIO: u8 = 4;
const CSID_DATA: u8 = 5;
const CSID_VIDEO: u8 = 6;

/// Every player's media goes on message stream 1: the id `createStream`
/// hands out first, so that the same bytes serve every player.
pub(crate) const MEDIA_STREAM_ID: u32 = 1;

/// One entry of a stream's RTMP egress channel.
#[derive(Debug, Clone)]
pub enum Muxed {
    /// A complete RTMP message, chunked, ready for any player's socket.
    Media {
        /// Track the message belongs to (for receiveAudio/receiveVideo).
        kind: TrackKind,
        /// Fan-out class (header slot, keyframe, ...).
        class: Class,
        /// The chunk bytes, shared by every player.
        bytes: Bytes,
    },
    /// A publisher started (or took over): players get PublishNotify.
    Published,
    /// The publisher left: players get UnpublishNotify and StreamEOF.
    Unpublished,
    /// A new encoder took the stream over: the shared header slots reset,
    /// players just carry on with the new headers that follow.
    Replaced,
}

impl Entry for Muxed {
    fn class(&self) -> Class {
        match self {
            Muxed::Media { class, .. } => *class,
            Muxed::Published => Class::Delta,
            Muxed::Unpublished | Muxed::Replaced => Class::Reset,
        }
    }

    fn byte_len(&self) -> usize {
        match self {
            Muxed::Media { bytes, .. } => bytes.len(),
            _ => 0,
        }
    }
}

/// Turns hub events into shared RTMP chunk bytes.
pub struct RtmpMuxer {
    chunk_size: u32,
    scratch: BytesMut,
}

impl RtmpMuxer {
    /// A muxer chunking at `chunk_size` (what every player was told in
    /// Set Chunk Size).
    pub fn new(chunk_size: u32) -> Self {
        RtmpMuxer {
            chunk_size,
            scratch: BytesMut::new(),
        }
    }

    /// Chunks `frame` as one RTMP message straight from its two parts (the
    /// tag-body header the FLV layer derives, and the shared payload), so
    /// the payload is copied once, into the chunk bytes every player
    /// shares, never into an intermediate joined message.
    fn chunk(&mut self, frame: &Frame) -> Bytes {
        let (type_id, header) = weir_flv::tag_header(frame);
        let csid = match frame.kind {
            TrackKind::Audio => CSID_AUDIO,
            TrackKind::Video => CSID_VIDEO,
            TrackKind::Data => CSID_DATA,
        };
        // RTMP carries 32-bit timestamps; the hub's timeline is 64-bit.
        let head = MessageHead {
            csid,
            timestamp: weir_flv::tag_timestamp(frame),
            type_id,
            stream_id: MEDIA_STREAM_ID,
        };
        chunk_parts(
            &head,
            [header.as_bytes(), &frame.data],
            self.chunk_size,
            &mut self.scratch,
        );
        self.scratch.split().freeze()
    }
}

/// The header fields of one standalone message.
struct MessageHead {
    /// A one-byte-basic-header chunk stream id (2..=63).
    csid: u8,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
}

/// Timestamp field value announcing a 4-byte extended timestamp.
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

/// Largest message the 24-bit length field can describe.
const MAX_MESSAGE_LEN: usize = 0xFF_FFFF;

/// Writes the chunks of one message whose payload is `parts` joined: a
/// type 0 first chunk and type 3 continuations (repeating the extended
/// timestamp when there is one), the same bytes
/// `weir_rtmp::chunk::encode_standalone` makes of the joined payload. A
/// payload RTMP cannot describe is skipped.
fn chunk_parts(head: &MessageHead, parts: [&[u8]; 2], chunk_size: u32, out: &mut BytesMut) {
    let len = parts[0].len() + parts[1].len();
    if len > MAX_MESSAGE_LEN {
        return;
    }
    let chunk = chunk_size.max(1) as usize;
    let extended = head.timestamp >= EXTENDED_TIMESTAMP;
    let ext = if extended { 4 } else { 0 };
    let continuations = len.div_ceil(chunk).saturating_sub(1);
    out.reserve(12 + ext + len + continuations * (1 + ext));
    out.put_u8(head.csid);
    out.put_slice(&head.timestamp.min(EXTENDED_TIMESTAMP).to_be_bytes()[1..]);
    out.put_slice(&(len as u32).to_be_bytes()[1..]);
    out.put_u8(head.type_id);
    out.put_u32_le(head.stream_id);
    if extended {
        out.put_u32(head.timestamp);
    }
    // Bytes still allowed in the current chunk.
    let mut room = chunk;
    for mut part in parts {
        while !part.is_empty() {
            if room == 0 {
                out.put_u8(0xC0 | head.csid);
                if extended {
                    out.put_u32(head.timestamp);
                }
                room = chunk;
            }
            let n = room.min(part.len());
            out.put_slice(&part[..n]);
            part = &part[n..];
            room -= n;
        }
    }
}

impl Muxer for RtmpMuxer {
    type Out = Muxed;

    fn mux(&mut self, ev: &StreamEvent, class: Class, out: &mut Vec<Muxed>) {
        match ev {
            StreamEvent::Frame(frame) => {
                let bytes = self.chunk(frame);
                out.push(Muxed::Media {
                    kind: frame.kind,
                    class,
                    bytes,
                });
            }
            StreamEvent::Published => out.push(Muxed::Published),
            StreamEvent::Unpublished => out.push(Muxed::Unpublished),
            StreamEvent::Replaced => out.push(Muxed::Replaced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_rtmp::chunk::{encode_standalone, Message};

    #[test]
    fn chunks_like_the_standalone_encoder() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        for chunk_size in [1, 5, 128, 4096, 20_000] {
            for timestamp in [0, 40, EXTENDED_TIMESTAMP - 1, EXTENDED_TIMESTAMP, u32::MAX] {
                for (h, d) in [
                    (&[0x27, 1, 0, 0, 0][..], &data[..]),
                    (&[0xaf, 1], &data[..3]),
                    (&[], &data[..0]),
                    (&[1, 2], &data[..0]),
                ] {
                    let head = MessageHead {
                        csid: CSID_VIDEO,
                        timestamp,
                        type_id: 9,
                        stream_id: MEDIA_STREAM_ID,
                    };
                    let mut ours = BytesMut::new();
                    chunk_parts(&head, [h, d], chunk_size, &mut ours);
                    let mut joined = h.to_vec();
                    joined.extend_from_slice(d);
                    let msg = Message {
                        csid: u32::from(CSID_VIDEO),
                        timestamp,
                        type_id: 9,
                        stream_id: MEDIA_STREAM_ID,
                        payload: joined.into(),
                    };
                    let mut theirs = BytesMut::new();
                    encode_standalone(&msg, chunk_size, &mut theirs);
                    assert_eq!(
                        ours,
                        theirs,
                        "chunk {chunk_size} ts {timestamp} len {}",
                        h.len() + d.len()
                    );
                }
            }
        }
    }
}
