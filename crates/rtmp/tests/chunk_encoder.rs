//! Encoder output checked byte by byte: header compression choices,
//! extended timestamps on continuations, exact reservation.

use bytes::{Bytes, BytesMut};
use weir_rtmp::chunk::{
    encode_standalone, encode_standalone_parts, ChunkEncoder, Message, MAX_MESSAGE_LEN,
};

fn msg(csid: u32, timestamp: u32, len: usize, type_id: u8, stream_id: u32) -> Message {
    Message {
        csid,
        timestamp,
        type_id,
        stream_id,
        payload: (0..len).map(|i| i as u8).collect::<Vec<_>>().into(),
    }
}

#[test]
fn picks_the_smallest_header_the_peer_can_expand() {
    let mut enc = ChunkEncoder::new();
    let cases = [
        (msg(3, 0, 10, 9, 1), 0x03, 12 + 10),
        // After a type 0 header the delta is never implied: type 2.
        (msg(3, 33, 10, 9, 1), 0x83, 4 + 10),
        (msg(3, 66, 10, 9, 1), 0xC3, 1 + 10),
        (msg(3, 99, 20, 9, 1), 0x43, 8 + 20),
        (msg(3, 132, 20, 8, 1), 0x43, 8 + 20),
        (msg(3, 50, 20, 8, 1), 0x03, 12 + 20),
        (msg(3, 60, 20, 8, 2), 0x03, 12 + 20),
        // Another chunk stream has its own state.
        (msg(4, 60, 20, 8, 2), 0x04, 12 + 20),
    ];
    for (i, (m, first, len)) in cases.into_iter().enumerate() {
        let mut out = BytesMut::new();
        enc.encode(&m, &mut out);
        assert_eq!((out[0], out.len()), (first, len), "message {i}");
    }
}

#[test]
fn large_equal_deltas_are_not_implied() {
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    enc.encode(&msg(3, 0, 1, 9, 1), &mut out);
    for ts in [0x0100_0000, 0x0200_0000] {
        out.clear();
        enc.encode(&msg(3, ts, 1, 9, 1), &mut out);
        assert_eq!(&out[..], &[0x83, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 0]);
    }
}

#[test]
fn extended_timestamp_is_repeated_on_continuations() {
    let m = msg(3, 0x0100_0000, 200, 9, 1);
    let mut expected = vec![0x03, 0xFF, 0xFF, 0xFF, 0, 0, 200, 9, 1, 0, 0, 0, 1, 0, 0, 0];
    expected.extend_from_slice(&m.payload[..128]);
    expected.extend_from_slice(&[0xC3, 1, 0, 0, 0]);
    expected.extend_from_slice(&m.payload[128..]);

    let mut out = BytesMut::new();
    ChunkEncoder::new().encode(&m, &mut out);
    assert_eq!(&out[..], &expected[..]);
    let mut out = BytesMut::new();
    encode_standalone(&m, 128, &mut out);
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn standalone_always_starts_with_a_full_header() {
    let mut out = BytesMut::new();
    for ts in [0, 40, 80] {
        let start = out.len();
        encode_standalone(&msg(320, ts, 5, 8, 1), 2, &mut out);
        // 3-byte basic header, fmt 0; then two type 3 continuations.
        assert_eq!(&out[start..start + 3], &[0x01, 0x00, 0x01]);
        assert_eq!(out.len() - start, 3 + 11 + 2 + 3 + 2 + 3 + 1);
    }
}

#[test]
fn reserves_exactly_the_bytes_it_writes() {
    for (csid, ts, len, size) in [
        (3, 0, 0, 128),
        (3, 0x0100_0000, 1000, 128),
        (65599, 5, 4097, 4096),
    ] {
        let m = msg(csid, ts, len, 9, 1);
        let mut out = BytesMut::new();
        ChunkEncoder::new().encode(&m, &mut out);
        assert_eq!(out.capacity(), out.len());
        let mut out = BytesMut::new();
        encode_standalone(&m, size, &mut out);
        assert_eq!(out.capacity(), out.len());
    }
}

#[test]
fn chunk_size_is_applied_and_clamped() {
    let mut enc = ChunkEncoder::new();
    assert_eq!(enc.chunk_size(), 128);
    enc.set_chunk_size(0);
    assert_eq!(enc.chunk_size(), 1);
    enc.set_chunk_size(u32::MAX);
    assert_eq!(enc.chunk_size(), 0x7FFF_FFFF);
    enc.set_chunk_size(4);
    let mut out = BytesMut::new();
    enc.encode(&msg(2, 0, 6, 1, 0), &mut out);
    assert_eq!(&out[12..], &[0, 1, 2, 3, 0xC2, 4, 5]);
}

#[test]
fn payloads_rtmp_cannot_express_are_not_written() {
    let big = Message {
        payload: Bytes::from(vec![0; MAX_MESSAGE_LEN as usize + 1]),
        ..msg(3, 0, 0, 9, 1)
    };
    let mut out = BytesMut::new();
    let mut enc = ChunkEncoder::new();
    enc.encode(&big, &mut out);
    encode_standalone(&big, 128, &mut out);
    assert!(out.is_empty());
    // The skipped message left no state behind: the next one is type 0.
    enc.encode(&msg(3, 0, 1, 9, 1), &mut out);
    assert_eq!(out[0], 0x03);
}

#[test]
#[should_panic(expected = "chunk stream id 1")]
fn csid_below_two_is_a_programming_error() {
    ChunkEncoder::new().encode(&msg(1, 0, 0, 9, 1), &mut BytesMut::new());
}

#[test]
#[should_panic(expected = "chunk stream id 65600")]
fn csid_above_65599_is_a_programming_error() {
    encode_standalone(&msg(65600, 0, 0, 9, 1), 128, &mut BytesMut::new());
}

#[test]
fn payload_parts_are_cut_across_their_boundaries() {
    // A 2-byte tag header and 5 bytes of data at chunk size 3: the first
    // chunk takes both header bytes and one data byte.
    let header = Message {
        csid: 6,
        timestamp: 40,
        type_id: 9,
        stream_id: 1,
        payload: Bytes::new(),
    }
    .header();
    let mut out = BytesMut::new();
    encode_standalone_parts(&header, &[&[0xAF, 1], &[1, 2, 3, 4, 5]], 3, &mut out);
    let mut expected = vec![0x06, 0, 0, 40, 0, 0, 7, 9, 1, 0, 0, 0];
    expected.extend_from_slice(&[0xAF, 1, 1, 0xC6, 2, 3, 4, 0xC6, 5]);
    assert_eq!(&out[..], &expected[..]);
    assert_eq!(out.capacity(), out.len(), "reserved exactly");
}

#[test]
fn oversized_parts_are_skipped() {
    let header = msg(6, 0, 0, 9, 1).header();
    let big = vec![0u8; MAX_MESSAGE_LEN as usize];
    let mut out = BytesMut::new();
    encode_standalone_parts(&header, &[&[1], &big], 4096, &mut out);
    assert!(out.is_empty());
}
