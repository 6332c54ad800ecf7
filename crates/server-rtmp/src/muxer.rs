//! The per-stream RTMP muxer: chunks each message once for every player.

use bytes::{Bytes, BytesMut};
use weir_hub::{Class, Entry, Muxer, StreamEvent};
use weir_media::{Frame, TrackKind};
use weir_rtmp::chunk::{encode_standalone, Message};

/// Chunk stream ids the shared muxer sends media on. The session never
/// uses them for its own messages, so the two byte streams interleave at
/// message boundaries without sharing header-compression state.
const CSID_AUDIO: u32 = 4;
const CSID_DATA: u32 = 5;
const CSID_VIDEO: u32 = 6;

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
}

impl Entry for Muxed {
    fn class(&self) -> Class {
        match self {
            Muxed::Media { class, .. } => *class,
            Muxed::Published => Class::Delta,
            Muxed::Unpublished => Class::Reset,
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

    fn chunk(&mut self, frame: &Frame) -> Bytes {
        let (type_id, header) = weir_flv::tag_header(frame);
        let header = header.as_bytes();
        let mut payload = BytesMut::with_capacity(header.len() + frame.data.len());
        payload.extend_from_slice(header);
        payload.extend_from_slice(&frame.data);
        let csid = match frame.kind {
            TrackKind::Audio => CSID_AUDIO,
            TrackKind::Video => CSID_VIDEO,
            TrackKind::Data => CSID_DATA,
        };
        let msg = Message {
            csid,
            // RTMP carries 32-bit timestamps; the hub's timeline is 64-bit.
            timestamp: frame.dts as u32,
            type_id,
            stream_id: MEDIA_STREAM_ID,
            payload: payload.freeze(),
        };
        encode_standalone(&msg, self.chunk_size, &mut self.scratch);
        self.scratch.split().freeze()
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
        }
    }
}
