//! Fuzzes the RTMP chunk stream decoder, the first parser every RTMP peer's
//! bytes reach after the handshake.
//!
//! The first input byte seeds the sizes the rest is fed in (1..=64 bytes)
//! and, if its top bit is set, a small initial chunk size so that short
//! inputs already span many chunks. Limits are small so that the length and
//! chunk stream checks are reached. Decoded Set Chunk Size and Abort
//! messages are applied as a session would. Every decoded message is
//! re-encoded with both encoders and must decode back unchanged. Errors are
//! fine; panics, unbounded buffering and round-trip differences are bugs.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weir_rtmp::chunk::{
    encode_standalone, ChunkDecoder, ChunkEncoder, DecoderLimits, Message, MAX_HEADER_LEN,
};

const MAX_MESSAGE_LEN: u32 = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let mut dec = ChunkDecoder::new(DecoderLimits {
        max_message_len: MAX_MESSAGE_LEN,
        max_chunk_streams: 4,
    });
    if control & 0x80 != 0 {
        dec.set_chunk_size(u32::from(control & 0x7F) + 1).unwrap();
    }
    let mut msgs = Vec::new();
    let mut buf = BytesMut::new();
    let mut rest = input;
    let mut seed = u32::from(control) | 0x100;
    'feed: while !rest.is_empty() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed % 64 + 1) as usize;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(msg)) => {
                    assert!(msg.payload.len() <= MAX_MESSAGE_LEN as usize);
                    assert!((2..=65599).contains(&msg.csid));
                    let arg = msg
                        .payload
                        .get(..4)
                        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    match (msg.type_id, arg) {
                        (1, Some(size)) => {
                            if dec.set_chunk_size(size).is_err() {
                                break 'feed;
                            }
                        }
                        (2, Some(csid)) => dec.abort(csid),
                        _ => {}
                    }
                    msgs.push(msg);
                }
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
        assert!(
            buf.len() < MAX_HEADER_LEN,
            "decoder left {} bytes buffered",
            buf.len()
        );
    }
    round_trip(&msgs, u32::from(control % 200) + 1);
});

/// Re-encodes `msgs` with the stateful and the standalone encoder; a fresh
/// decoder must read both back unchanged.
fn round_trip(msgs: &[Message], chunk_size: u32) {
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(chunk_size);
    let (mut stateful, mut standalone) = (BytesMut::new(), BytesMut::new());
    for m in msgs {
        enc.encode(m, &mut stateful);
        encode_standalone(m, chunk_size, &mut standalone);
    }
    for mut wire in [stateful, standalone] {
        let mut dec = ChunkDecoder::new(DecoderLimits {
            max_message_len: MAX_MESSAGE_LEN,
            // The encoder never forgets a chunk stream, so neither may this.
            max_chunk_streams: usize::MAX,
        });
        dec.set_chunk_size(chunk_size).unwrap();
        let mut back = Vec::new();
        while let Some(m) = dec.decode(&mut wire).expect("own encoding decodes") {
            back.push(m);
        }
        assert!(wire.is_empty());
        assert_eq!(back, msgs);
    }
}
