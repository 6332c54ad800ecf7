//! Chunk codec against hand-built byte vectors: what real peers send, every
//! header form, extended timestamps with and without repetition, and every
//! error the decoder reports.

use bytes::{Bytes, BytesMut};
use weir_rtmp::chunk::{ChunkDecoder, ChunkEncoder, DecoderLimits, Message, MAX_HEADER_LEN};
use weir_rtmp::error::ChunkError;

/// Decodes everything in `bytes`, applying Set Chunk Size messages as a
/// session would.
fn decode_all(dec: &mut ChunkDecoder, bytes: &[u8]) -> Result<Vec<Message>, ChunkError> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(msg) = dec.decode(&mut buf)? {
        if msg.type_id == 1 {
            let size = u32::from_be_bytes(msg.payload[..4].try_into().unwrap());
            dec.set_chunk_size(size)?;
        }
        out.push(msg);
    }
    assert!(buf.len() < MAX_HEADER_LEN, "only a partial header may stay");
    Ok(out)
}

/// Same, one byte at a time.
fn decode_bytewise(dec: &mut ChunkDecoder, bytes: &[u8]) -> Vec<Message> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for &b in bytes {
        buf.extend_from_slice(&[b]);
        while let Some(msg) = dec.decode(&mut buf).unwrap() {
            out.push(msg);
        }
        assert!(buf.len() < MAX_HEADER_LEN);
    }
    out
}

fn decoder() -> ChunkDecoder {
    ChunkDecoder::new(DecoderLimits::default())
}

fn be24(v: u32) -> [u8; 3] {
    let b = v.to_be_bytes();
    [b[1], b[2], b[3]]
}

fn fmt0(csid: u8, ts: u32, len: usize, type_id: u8, sid: u32) -> Vec<u8> {
    let mut v = vec![csid];
    v.extend_from_slice(&be24(ts));
    v.extend_from_slice(&be24(len as u32));
    v.push(type_id);
    v.extend_from_slice(&sid.to_le_bytes());
    v
}

fn fmt1(csid: u8, delta: u32, len: usize, type_id: u8) -> Vec<u8> {
    let mut v = vec![0x40 | csid];
    v.extend_from_slice(&be24(delta));
    v.extend_from_slice(&be24(len as u32));
    v.push(type_id);
    v
}

fn fmt2(csid: u8, delta: u32) -> Vec<u8> {
    let mut v = vec![0x80 | csid];
    v.extend_from_slice(&be24(delta));
    v
}

fn amf_string(out: &mut Vec<u8>, s: &str) {
    out.push(0x02);
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn amf_number(out: &mut Vec<u8>, n: f64) {
    out.push(0x00);
    out.extend_from_slice(&n.to_be_bytes());
}

/// An AMF0 command: name, transaction id, then an object of string
/// properties (or null).
fn command(name: &str, txn: f64, props: &[(&str, &str)]) -> Vec<u8> {
    let mut v = Vec::new();
    amf_string(&mut v, name);
    amf_number(&mut v, txn);
    if props.is_empty() {
        v.push(0x05);
    } else {
        v.push(0x03);
        for (k, val) in props {
            v.extend_from_slice(&(k.len() as u16).to_be_bytes());
            v.extend_from_slice(k.as_bytes());
            amf_string(&mut v, val);
        }
        v.extend_from_slice(&[0, 0, 9]);
    }
    v
}

/// Puts `payload` after `header`, cutting it every `chunk` bytes with the
/// one-byte type 3 header of `csid` (plus `ext` if given).
fn chunked(header: Vec<u8>, payload: &[u8], csid: u8, chunk: usize, ext: Option<u32>) -> Vec<u8> {
    let mut v = header;
    for (i, piece) in payload.chunks(chunk).enumerate() {
        if i > 0 {
            v.push(0xC0 | csid);
            if let Some(e) = ext {
                v.extend_from_slice(&e.to_be_bytes());
            }
        }
        v.extend_from_slice(piece);
    }
    v
}

#[test]
fn decodes_an_ffmpeg_style_publish_start() {
    let connect = command(
        "connect",
        1.0,
        &[
            ("app", "live"),
            ("type", "nonprivate"),
            ("flashVer", "FMLE/3.0 (compatible; Lavf61.7.100)"),
            ("tcUrl", "rtmp://127.0.0.1:1935/live"),
        ],
    );
    assert!(connect.len() > 128, "the connect spans two chunks");
    let release = command("releaseStream", 2.0, &[]);
    let fcpublish = command("FCPublish", 3.0, &[]);
    let video = vec![0x17; 300];

    let mut wire = chunked(fmt0(3, 0, connect.len(), 20, 0), &connect, 3, 128, None);
    wire.extend(fmt0(2, 0, 4, 1, 0));
    wire.extend_from_slice(&4096u32.to_be_bytes());
    wire.extend(fmt1(3, 0, release.len(), 20));
    wire.extend_from_slice(&release);
    wire.extend(fmt1(3, 0, fcpublish.len(), 20));
    wire.extend_from_slice(&fcpublish);
    wire.extend(fmt0(6, 0, video.len(), 9, 1));
    wire.extend_from_slice(&video);
    wire.extend(fmt2(6, 33));
    wire.extend_from_slice(&video);
    wire.push(0xC6);
    wire.extend_from_slice(&video);

    let msgs = decode_all(&mut decoder(), &wire).unwrap();
    let summary: Vec<_> = msgs
        .iter()
        .map(|m| (m.csid, m.timestamp, m.type_id, m.stream_id, m.payload.len()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (3, 0, 20, 0, connect.len()),
            (2, 0, 1, 0, 4),
            (3, 0, 20, 0, release.len()),
            (3, 0, 20, 0, fcpublish.len()),
            (6, 0, 9, 1, 300),
            (6, 33, 9, 1, 300),
            (6, 66, 9, 1, 300),
        ]
    );
    assert_eq!(msgs[0].payload, Bytes::from(connect));
    assert_eq!(msgs[2].payload, Bytes::from(release));
    assert_eq!(msgs[6].payload, Bytes::from(video));
}

#[test]
fn every_basic_header_form() {
    let forms: [(&[u8], u32); 7] = [
        (&[0x02], 2),
        (&[0x3F], 63),
        (&[0x00, 0x00], 64),
        (&[0x00, 0xFF], 319),
        (&[0x01, 0x00, 0x01], 320),
        (&[0x01, 0xFF, 0xFF], 65599),
        // Non-canonical but legal: 64 in the three-byte form.
        (&[0x01, 0x00, 0x00], 64),
    ];
    for (basic, csid) in forms {
        let mut wire = basic.to_vec();
        wire.extend_from_slice(&fmt0(0, 5, 3, 8, 1)[1..]);
        wire.extend_from_slice(b"abc");
        let msgs = decode_all(&mut decoder(), &wire).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!((msgs[0].csid, msgs[0].timestamp), (csid, 5));
        assert_eq!(decode_bytewise(&mut decoder(), &wire), msgs);
        if basic != [0x01, 0x00, 0x00] {
            let mut out = BytesMut::new();
            ChunkEncoder::new().encode(&msgs[0], &mut out);
            assert_eq!(&out[..], &wire[..], "canonical encoding of csid {csid}");
        }
    }
}

#[test]
fn compressed_headers_accumulate_deltas() {
    // The specification's audio example: one full header, then only deltas.
    let mut wire = fmt0(3, 1000, 32, 8, 12345);
    wire.extend_from_slice(&[1; 32]);
    wire.extend(fmt2(3, 20));
    wire.extend_from_slice(&[2; 32]);
    wire.push(0xC3);
    wire.extend_from_slice(&[3; 32]);
    wire.push(0xC3);
    wire.extend_from_slice(&[4; 32]);
    let msgs = decode_all(&mut decoder(), &wire).unwrap();
    let ts: Vec<_> = msgs
        .iter()
        .map(|m| (m.timestamp, m.stream_id, m.payload[0]))
        .collect();
    assert_eq!(
        ts,
        vec![
            (1000, 12345, 1),
            (1020, 12345, 2),
            (1040, 12345, 3),
            (1060, 12345, 4)
        ]
    );
}

#[test]
fn type3_after_type0_adds_the_type0_timestamp() {
    // As ffmpeg reads it: the "delta" of a type 0 header is its timestamp.
    let mut wire = fmt0(4, 40, 1, 8, 1);
    wire.push(0);
    wire.push(0xC4);
    wire.push(1);
    let msgs = decode_all(&mut decoder(), &wire).unwrap();
    assert_eq!((msgs[0].timestamp, msgs[1].timestamp), (40, 80));
}

#[test]
fn timestamps_wrap_at_32_bits() {
    let mut wire = fmt0(4, 0xFF_FFFF, 1, 8, 1);
    wire.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    wire.push(0);
    wire.extend(fmt2(4, 0x20));
    wire.push(1);
    let msgs = decode_all(&mut decoder(), &wire).unwrap();
    assert_eq!((msgs[0].timestamp, msgs[1].timestamp), (0xFFFF_FFF0, 0x10));
}

#[test]
fn extended_timestamp_with_and_without_repetition_on_continuations() {
    let ts = 0x0123_4567u32;
    let payload: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let mut header = fmt0(5, 0xFF_FFFF, payload.len(), 9, 1);
    header.extend_from_slice(&ts.to_be_bytes());
    let repeated = chunked(header.clone(), &payload, 5, 128, Some(ts));
    let omitted = chunked(header, &payload, 5, 128, None);
    for wire in [repeated, omitted] {
        let msgs = decode_all(&mut decoder(), &wire).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            (msgs[0].timestamp, &msgs[0].payload[..]),
            (ts, &payload[..])
        );
        assert_eq!(decode_bytewise(&mut decoder(), &wire), msgs);
    }
}

#[test]
fn extended_delta_continuations_may_carry_the_absolute_timestamp() {
    let payload = vec![0xAA; 200];
    let mut wire = fmt0(5, 10, 1, 9, 1);
    wire.push(0);
    let mut h = fmt1(5, 0xFF_FFFF, payload.len(), 9);
    h.extend_from_slice(&0x0100_0000u32.to_be_bytes());
    // Some peers put the message's absolute timestamp in continuations.
    wire.extend(chunked(h, &payload, 5, 128, Some(0x0100_000A)));
    let msgs = decode_all(&mut decoder(), &wire).unwrap();
    assert_eq!(msgs[1].timestamp, 0x0100_000A);
    assert_eq!(&msgs[1].payload[..], &payload[..]);
    assert_eq!(decode_bytewise(&mut decoder(), &wire), msgs);
}

#[test]
fn continuation_without_extended_timestamp_whose_payload_starts_like_one() {
    // The continuation omits the field and its payload shares the first two
    // bytes with the timestamp: the decoder must look further before
    // deciding, and then keep those bytes as payload.
    let ts = 0x0102_0304u32;
    let mut payload = vec![0u8; 130];
    payload[128..130].copy_from_slice(&[0x01, 0x02]);
    let mut header = fmt0(5, 0xFF_FFFF, payload.len(), 9, 1);
    header.extend_from_slice(&ts.to_be_bytes());
    let mut wire = chunked(header, &payload, 5, 128, None);
    wire.extend(fmt0(3, 0, 1, 20, 0));
    wire.push(7);
    let msgs = decode_bytewise(&mut decoder(), &wire);
    assert_eq!(msgs.len(), 2);
    assert_eq!(&msgs[0].payload[..], &payload[..]);
}

#[test]
fn type3_new_message_after_extended_header_carries_the_field() {
    let mut wire = fmt0(4, 0xFF_FFFF, 2, 8, 1);
    wire.extend_from_slice(&0x0100_0000u32.to_be_bytes());
    wire.extend_from_slice(b"ab");
    wire.push(0xC4);
    wire.extend_from_slice(&0x0100_0000u32.to_be_bytes());
    wire.extend_from_slice(b"cd");
    let msgs = decode_all(&mut decoder(), &wire).unwrap();
    assert_eq!(
        (msgs[1].timestamp, &msgs[1].payload[..]),
        (0x0200_0000, &b"cd"[..])
    );
}

#[test]
fn interleaved_chunk_streams() {
    let audio = vec![0xA0; 10];
    let video = [0x17; 200];
    let mut wire = fmt0(6, 0, video.len(), 9, 1);
    wire.extend_from_slice(&video[..128]);
    wire.extend(fmt0(4, 0, audio.len(), 8, 1));
    wire.extend_from_slice(&audio);
    wire.push(0xC6);
    wire.extend_from_slice(&video[128..]);
    let msgs = decode_all(&mut decoder(), &wire).unwrap();
    assert_eq!((msgs[0].csid, &msgs[0].payload[..]), (4, &audio[..]));
    assert_eq!((msgs[1].csid, &msgs[1].payload[..]), (6, &video[..]));
}

#[test]
fn zero_length_messages_and_huge_chunk_sizes() {
    let mut dec = decoder();
    dec.set_chunk_size(0x7FFF_FFFF).unwrap();
    let mut wire = fmt0(3, 1, 0, 20, 0);
    wire.extend(fmt0(3, 2, 1000, 9, 0));
    wire.extend_from_slice(&[9; 1000]);
    let msgs = decode_all(&mut dec, &wire).unwrap();
    assert_eq!(msgs.len(), 2);
    assert!(msgs[0].payload.is_empty());
    assert_eq!(msgs[1].payload.len(), 1000);
}

#[test]
fn abort_drops_the_partial_message() {
    let mut dec = decoder();
    let mut wire = fmt0(6, 0, 200, 9, 1);
    wire.extend_from_slice(&[1; 100]);
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(dec.decode(&mut buf).unwrap(), None);
    // Aborted in the middle of a chunk: its remaining 28 bytes are skipped.
    dec.abort(6);
    dec.abort(60);
    let mut rest = vec![2u8; 28];
    rest.extend(fmt0(6, 5, 3, 9, 1));
    rest.extend_from_slice(b"new");
    let msgs = decode_all(&mut dec, &rest).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].timestamp, &msgs[0].payload[..]), (5, &b"new"[..]));
}

#[test]
fn message_longer_than_the_limit() {
    let mut dec = ChunkDecoder::new(DecoderLimits {
        max_message_len: 1000,
        ..DecoderLimits::default()
    });
    let mut wire = chunked(fmt0(3, 0, 1000, 20, 0), &[0; 1000], 3, 128, None);
    let start = wire.len() as u64;
    wire.extend(fmt1(3, 0, 1001, 20));
    let err = decode_all(&mut dec, &wire).unwrap_err();
    assert_eq!(
        err,
        ChunkError::MessageTooLong {
            csid: 3,
            offset: start,
            len: 1001,
            limit: 1000
        }
    );
    assert!(err.to_string().contains(&format!("at byte {start}")));
}

#[test]
fn too_many_chunk_streams_in_flight() {
    let mut dec = ChunkDecoder::new(DecoderLimits {
        max_chunk_streams: 2,
        ..DecoderLimits::default()
    });
    // Two complete messages: idle streams are forgotten to make room.
    let mut wire = Vec::new();
    for csid in 3..10 {
        wire.extend(fmt0(csid, 0, 1, 8, 1));
        wire.push(0);
    }
    assert_eq!(decode_all(&mut dec, &wire).unwrap().len(), 7);
    // Two partial messages: a third stream cannot open.
    let mut wire = fmt0(10, 0, 200, 9, 1);
    wire.extend_from_slice(&[0; 128]);
    wire.extend(fmt0(11, 0, 200, 9, 1));
    wire.extend_from_slice(&[0; 128]);
    let at = wire.len() as u64;
    wire.extend(fmt0(12, 0, 1, 9, 1));
    assert!(matches!(
        decode_all(&mut dec, &wire),
        Err(ChunkError::TooManyChunkStreams { csid: 12, offset, limit: 2 }) if offset == 7 * 13 + at
    ));
}

#[test]
fn forgotten_stream_is_unknown_again() {
    let mut dec = ChunkDecoder::new(DecoderLimits {
        max_chunk_streams: 1,
        ..DecoderLimits::default()
    });
    let mut wire = fmt0(3, 0, 1, 8, 1);
    wire.push(0);
    wire.extend(fmt0(4, 0, 1, 8, 1));
    wire.push(0);
    wire.push(0xC3);
    assert!(matches!(
        decode_all(&mut dec, &wire),
        Err(ChunkError::UnknownChunkStream {
            csid: 3,
            offset: 26,
            fmt: 3
        })
    ));
}

#[test]
fn header_changing_the_message_midway() {
    for changed in [
        fmt0(3, 0, 201, 9, 1),
        fmt1(3, 0, 201, 9),
        fmt1(3, 0, 200, 8),
    ] {
        let mut wire = fmt0(3, 0, 200, 9, 1);
        wire.extend_from_slice(&[0; 128]);
        wire.extend(changed);
        let err = decode_all(&mut decoder(), &wire).unwrap_err();
        assert!(
            matches!(
                err,
                ChunkError::HeaderChangedMidMessage {
                    csid: 3,
                    offset: 140,
                    old_len: 200,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn full_header_repeating_the_message_midway_is_tolerated() {
    let mut wire = fmt0(3, 7, 200, 9, 1);
    wire.extend_from_slice(&[1; 128]);
    wire.extend(fmt0(3, 7, 200, 9, 1));
    wire.extend_from_slice(&[2; 72]);
    let msgs = decode_all(&mut decoder(), &wire).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].timestamp, 7);
    assert_eq!(&msgs[0].payload[128..], &[2; 72][..]);
}

#[test]
fn compressed_header_on_an_unknown_chunk_stream() {
    for (wire, fmt) in [(fmt1(9, 0, 1, 8), 1), (fmt2(9, 0), 2), (vec![0xC9], 3)] {
        let mut dec = decoder();
        let mut prefix = fmt0(3, 0, 1, 8, 1);
        prefix.push(0);
        prefix.extend(wire);
        assert_eq!(
            decode_all(&mut dec, &prefix),
            Err(ChunkError::UnknownChunkStream {
                csid: 9,
                offset: 13,
                fmt
            })
        );
    }
}

#[test]
fn invalid_chunk_sizes() {
    let mut dec = decoder();
    for size in [0, 0x8000_0000, u32::MAX] {
        assert_eq!(
            dec.set_chunk_size(size),
            Err(ChunkError::InvalidChunkSize { size })
        );
    }
    assert_eq!(dec.chunk_size(), 128);
    dec.set_chunk_size(1).unwrap();
    let mut wire = fmt0(3, 0, 3, 8, 1);
    wire.extend_from_slice(&[b'x', 0xC3, b'y', 0xC3, b'z']);
    assert_eq!(&decode_all(&mut dec, &wire).unwrap()[0].payload[..], b"xyz");
}
