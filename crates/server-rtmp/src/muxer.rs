//! The per-stream RTMP muxer: chunks each message once for every player.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use weir_hub::{Class, Entry, Muxer, StreamEvent};
use weir_media::{Frame, TrackKind};
use weir_rtmp::chunk::{encode_standalone_parts, MessageHeader};
use weir_rtmp::message::{CSID_AUDIO, CSID_DATA, CSID_VIDEO};

/// Every player's media goes on message stream 1: the id `createStream`
/// hands out first, so that the same bytes serve every player. The media
/// chunk streams (`CSID_AUDIO`, `CSID_DATA`, `CSID_VIDEO`) are ones the
/// session never uses for its own messages, so the two byte streams
/// interleave at message boundaries without sharing header-compression
/// state.
pub(crate) const MEDIA_STREAM_ID: u32 = 1;

/// One entry of a stream's RTMP egress channel.
#[derive(Debug, Clone)]
pub(crate) enum Muxed {
    /// A complete RTMP message, chunked, ready for any player's socket.
    Media {
        /// Track the message belongs to (for receiveAudio/receiveVideo).
        kind: TrackKind,
        /// Fan-out class (header slot, keyframe, ...).
        class: Class,
        /// The frame's decode time on the hub's timeline, microseconds.
        dts_us: i64,
        /// The chunk bytes, shared by every player.
        bytes: Bytes,
        /// What a header message is made of, to re-chunk it for a joining
        /// player ([`Entry::restamped_to`]); `None` for other messages.
        header: Option<Arc<HeaderSource>>,
    },
    /// A publisher started (or took over): players get PublishNotify.
    Published,
    /// The publisher left: players get UnpublishNotify and StreamEOF.
    Unpublished,
    /// A new encoder took the stream over: the shared header slots reset,
    /// players just carry on with the new headers that follow.
    Replaced,
}

/// A header message's frame and the chunk size it was cut at.
#[derive(Debug)]
pub(crate) struct HeaderSource {
    frame: Frame,
    chunk_size: u32,
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

    /// A header message (metadata, codec configuration) re-chunked with
    /// the decode time of `first`, the first entry a joining player gets
    /// after the headers: otherwise it carries the time it arrived, which
    /// leads the player's first frame by up to a GOP (after a takeover, by
    /// the whole time since the new encoder's headers), and players and
    /// ffprobe see a gap or an extra data stream.
    fn restamped_to(&self, first: &Self) -> Option<Self> {
        let (
            Muxed::Media {
                kind,
                class,
                dts_us,
                header: Some(header),
                ..
            },
            Muxed::Media { dts_us: to, .. },
        ) = (self, first)
        else {
            return None;
        };
        if dts_us == to || weir_flv::is_on_metadata(&header.frame) {
            // `onMetaData` is written at 0 whatever its time.
            return None;
        }
        let frame = Frame {
            dts_us: *to,
            cts_us: 0,
            ..header.frame.clone()
        };
        let bytes = chunk(&frame, header.chunk_size, &mut BytesMut::new());
        Some(Muxed::Media {
            kind: *kind,
            class: *class,
            dts_us: *to,
            bytes,
            header: Some(Arc::new(HeaderSource {
                frame,
                chunk_size: header.chunk_size,
            })),
        })
    }
}

/// Turns hub events into shared RTMP chunk bytes.
pub(crate) struct RtmpMuxer {
    chunk_size: u32,
    scratch: BytesMut,
}

impl RtmpMuxer {
    /// A muxer chunking at `chunk_size` (what every player was told in
    /// Set Chunk Size).
    pub(crate) fn new(chunk_size: u32) -> Self {
        RtmpMuxer {
            chunk_size,
            scratch: BytesMut::new(),
        }
    }
}

/// Chunks `frame` as one standalone RTMP message on message stream 1
/// straight from its two parts (the tag-body header the FLV layer
/// derives, and the shared payload), so the payload is copied once, into
/// the chunk bytes every player shares, never into an intermediate joined
/// message. A payload RTMP cannot describe comes out empty.
pub(crate) fn chunk(frame: &Frame, chunk_size: u32, scratch: &mut BytesMut) -> Bytes {
    let (type_id, header) = weir_flv::tag_header(frame);
    let csid = match frame.kind {
        TrackKind::Audio => CSID_AUDIO,
        TrackKind::Video => CSID_VIDEO,
        TrackKind::Data => CSID_DATA,
    };
    let head = MessageHeader {
        csid,
        // RTMP carries 32-bit timestamps; the hub's timeline is 64-bit.
        timestamp: weir_flv::tag_timestamp(frame),
        type_id,
        stream_id: MEDIA_STREAM_ID,
    };
    encode_standalone_parts(
        &head,
        &[header.as_bytes(), &frame.data],
        chunk_size,
        scratch,
    );
    scratch.split().freeze()
}

impl Muxer for RtmpMuxer {
    type Out = Muxed;

    fn mux(&mut self, ev: &StreamEvent, class: Class, out: &mut Vec<Muxed>) {
        match ev {
            StreamEvent::Frame(frame) => {
                let bytes = chunk(frame, self.chunk_size, &mut self.scratch);
                let header = matches!(class, Class::Header(_)).then(|| {
                    Arc::new(HeaderSource {
                        frame: frame.clone(),
                        chunk_size: self.chunk_size,
                    })
                });
                out.push(Muxed::Media {
                    kind: frame.kind,
                    class,
                    dts_us: frame.dts_us,
                    bytes,
                    header,
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
    use bytes::Bytes;
    use weir_hub::Classifier;
    use weir_media::Codec;
    use weir_rtmp::chunk::{ChunkDecoder, DecoderLimits, Message};
    use weir_rtmp::message::type_id;

    const CHUNK: u32 = 128;

    fn frame(kind: TrackKind, dts: i64, config: bool, key: bool, len: usize) -> Frame {
        Frame {
            kind,
            codec: match kind {
                TrackKind::Video => Codec::H264,
                TrackKind::Audio => Codec::Aac,
                TrackKind::Data => Codec::Amf0,
            },
            dts_us: dts * 1000,
            cts_us: if config { 0 } else { 40_000 },
            key,
            config,
            data: Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>()),
        }
    }

    /// Muxes `frames` as one stream, classified as the egress task does.
    fn mux(frames: &[Frame]) -> Vec<Muxed> {
        let mut muxer = RtmpMuxer::new(CHUNK);
        let mut classes = Classifier::default();
        let mut out = Vec::new();
        for f in frames {
            let ev = StreamEvent::Frame(f.clone());
            let class = classes.classify(&ev);
            muxer.mux(&ev, class, &mut out);
        }
        out
    }

    fn decode(entry: &Muxed) -> Message {
        let Muxed::Media { bytes, .. } = entry else {
            panic!("not media: {entry:?}");
        };
        let mut dec = ChunkDecoder::new(DecoderLimits::default());
        dec.set_chunk_size(CHUNK).unwrap();
        let mut buf = BytesMut::from(&bytes[..]);
        let msg = dec.decode(&mut buf).unwrap().expect("one whole message");
        assert!(buf.is_empty(), "exactly one message");
        msg
    }

    #[test]
    fn frames_are_chunked_as_standalone_tag_bodies_on_stream_one() {
        let entries = mux(&[frame(TrackKind::Video, 1_000, false, true, 300)]);
        let msg = decode(&entries[0]);
        assert_eq!(msg.csid, CSID_VIDEO);
        assert_eq!(msg.type_id, type_id::VIDEO);
        assert_eq!(msg.stream_id, MEDIA_STREAM_ID);
        assert_eq!(msg.timestamp, 1_000);
        // AVC NALU tag-body header (keyframe, cts 40), then the data.
        assert_eq!(&msg.payload[..5], &[0x17, 1, 0, 0, 40]);
        assert_eq!(
            &msg.payload[5..],
            &frame(TrackKind::Video, 0, false, true, 300).data[..]
        );
    }

    #[test]
    fn headers_are_rechunked_with_the_first_frames_time() {
        let entries = mux(&[
            frame(TrackKind::Data, 100, false, false, 20),
            frame(TrackKind::Video, 120, true, false, 40),
            frame(TrackKind::Audio, 130, true, false, 2),
            frame(TrackKind::Video, 29_100, false, true, 500),
        ]);
        let first = &entries[3];
        for header in &entries[..3] {
            let before = decode(header);
            let restamped = header.restamped_to(first).expect("a header is restamped");
            let after = decode(&restamped);
            assert_eq!(after.timestamp, 29_100);
            assert_eq!(
                (after.csid, after.type_id, after.stream_id, &after.payload),
                (
                    before.csid,
                    before.type_id,
                    before.stream_id,
                    &before.payload
                ),
                "only the timestamp changes"
            );
            assert_eq!(restamped.class(), header.class());
            let Muxed::Media { dts_us, .. } = restamped else {
                unreachable!()
            };
            assert_eq!(dts_us, 29_100_000);
        }
        assert!(
            first.restamped_to(&entries[0]).is_none(),
            "frames keep their time"
        );
        let at_first = &mux(&[
            frame(TrackKind::Video, 29_100, true, false, 40),
            frame(TrackKind::Video, 29_100, false, true, 50),
        ]);
        assert!(
            at_first[0].restamped_to(&at_first[1]).is_none(),
            "already on time"
        );
        assert!(entries[1].restamped_to(&Muxed::Published).is_none());
    }

    #[test]
    fn a_restamped_header_crosses_into_extended_timestamps() {
        let entries = mux(&[
            frame(TrackKind::Video, 10, true, false, 300),
            frame(TrackKind::Video, 0x100_0000, false, true, 10),
        ]);
        let restamped = entries[0].restamped_to(&entries[1]).unwrap();
        assert_eq!(decode(&restamped).timestamp, 0x100_0000);
        assert_eq!(decode(&restamped).payload, decode(&entries[0]).payload);
    }
}
