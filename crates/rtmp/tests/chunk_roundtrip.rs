//! Property tests: whatever the encoders write, the decoder reads back
//! exactly, however the bytes are split and however chunk streams
//! interleave.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use weir_rtmp::chunk::{
    encode_standalone, encode_standalone_parts, ChunkDecoder, ChunkEncoder, DecoderLimits, Message,
    MAX_HEADER_LEN,
};
use weir_rtmp::message::type_id::{AUDIO, COMMAND_AMF0, DATA_AMF0, VIDEO};

fn csid() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(2u32),
        Just(3),
        Just(63),
        Just(64),
        Just(319),
        Just(320),
        Just(65599),
        2u32..=65599,
    ]
}

fn delta() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        0u32..100,
        Just(0xFF_FFFE),
        Just(0xFF_FFFF),
        Just(0x100_0000),
        any::<u32>(),
    ]
}

fn chunk_size() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(1u32),
        Just(2),
        Just(3),
        Just(60),
        Just(128),
        Just(4096)
    ]
}

/// Messages on a few chunk streams, each stream's timestamps moving by the
/// generated deltas (wrapping), lengths repeating often enough that every
/// header type gets used.
fn messages() -> impl Strategy<Value = Vec<Message>> {
    let csids = prop::collection::vec(csid(), 1..5);
    let steps = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            delta(),
            0usize..4,
            0usize..3,
            0usize..6,
        ),
        1..40,
    );
    (csids, steps).prop_map(|(csids, steps)| {
        let mut clock: BTreeMap<u32, u32> = BTreeMap::new();
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (pick, dt, ty, sid, len))| {
                let csid = *pick.get(&csids);
                let ts = clock.entry(csid).or_insert(0);
                *ts = ts.wrapping_add(dt);
                let len = [0, 1, 100, 129, 300, 700][len];
                Message {
                    csid,
                    timestamp: *ts,
                    type_id: [AUDIO, VIDEO, COMMAND_AMF0, DATA_AMF0][ty],
                    stream_id: [0, 1, 7][sid],
                    payload: (0..len)
                        .map(|j| (i * 31 + j) as u8)
                        .collect::<Vec<_>>()
                        .into(),
                }
            })
            .collect()
    })
}

/// Feeds `bytes` to `dec` in pieces whose sizes cycle through `splits`.
fn decode_split(dec: &mut ChunkDecoder, bytes: &[u8], splits: &[usize]) -> Vec<Message> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    for &n in splits.iter().cycle() {
        if at == bytes.len() {
            break;
        }
        let end = (at + n.max(1)).min(bytes.len());
        buf.extend_from_slice(&bytes[at..end]);
        at = end;
        while let Some(msg) = dec.decode(&mut buf).unwrap() {
            out.push(msg);
        }
        assert!(buf.len() < MAX_HEADER_LEN);
    }
    assert!(buf.is_empty());
    out
}

fn decoder(chunk_size: u32) -> ChunkDecoder {
    let mut dec = ChunkDecoder::new(DecoderLimits::default());
    dec.set_chunk_size(chunk_size).unwrap();
    dec
}

/// Cuts one message's encoding into its chunks.
fn split_chunks(bytes: &Bytes, msg_len: usize, chunk_size: usize) -> Vec<Bytes> {
    let basic = match bytes[0] & 0x3F {
        0 => 2,
        1 => 3,
        _ => 1,
    };
    let fmt = bytes[0] >> 6;
    let mh = [11, 7, 3, 0][usize::from(fmt)];
    let ext = if fmt < 3 && bytes[basic..basic + 3] == [0xFF; 3] {
        4
    } else {
        0
    };
    let mut chunks = Vec::new();
    let mut at = 0;
    let mut left = msg_len;
    let mut header = basic + mh + ext;
    loop {
        let n = header + left.min(chunk_size);
        chunks.push(bytes.slice(at..at + n));
        at += n;
        left -= left.min(chunk_size);
        header = basic + ext;
        if left == 0 {
            break;
        }
    }
    assert_eq!(at, bytes.len());
    chunks
}

fn by_csid(msgs: &[Message]) -> BTreeMap<u32, Vec<Message>> {
    let mut map: BTreeMap<u32, Vec<Message>> = BTreeMap::new();
    for m in msgs {
        map.entry(m.csid).or_default().push(m.clone());
    }
    map
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn encoder_round_trips_under_any_split(
        msgs in messages(),
        size in chunk_size(),
        splits in prop::collection::vec(1usize..300, 1..20),
    ) {
        let mut enc = ChunkEncoder::new();
        enc.set_chunk_size(size);
        let mut wire = BytesMut::new();
        for m in &msgs {
            enc.encode(m, &mut wire);
        }
        prop_assert_eq!(&decode_split(&mut decoder(size), &wire, &splits), &msgs);
        prop_assert_eq!(&decode_split(&mut decoder(size), &wire, &[1]), &msgs);
    }

    #[test]
    fn interleaved_chunk_streams_round_trip(
        msgs in messages(),
        size in chunk_size(),
        schedule in prop::collection::vec(any::<usize>(), 1..64),
        splits in prop::collection::vec(1usize..64, 1..8),
    ) {
        // Encode in order, then interleave the chunks of different chunk
        // streams while keeping each stream's own order.
        let mut enc = ChunkEncoder::new();
        enc.set_chunk_size(size);
        let mut queues: BTreeMap<u32, VecDeque<Bytes>> = BTreeMap::new();
        for m in &msgs {
            let mut out = BytesMut::new();
            enc.encode(m, &mut out);
            let chunks = split_chunks(&out.freeze(), m.payload.len(), size as usize);
            queues.entry(m.csid).or_default().extend(chunks);
        }
        let mut wire = Vec::new();
        let mut turn = schedule.iter().cycle();
        while !queues.is_empty() {
            let keys: Vec<u32> = queues.keys().copied().collect();
            let csid = keys[turn.next().unwrap() % keys.len()];
            let queue = queues.get_mut(&csid).unwrap();
            wire.extend_from_slice(&queue.pop_front().unwrap());
            if queue.is_empty() {
                queues.remove(&csid);
            }
        }
        let decoded = decode_split(&mut decoder(size), &wire, &splits);
        prop_assert_eq!(by_csid(&decoded), by_csid(&msgs));
    }

    #[test]
    fn standalone_messages_decode_from_any_boundary(
        msgs in messages(),
        size in chunk_size(),
        start in any::<prop::sample::Index>(),
        splits in prop::collection::vec(1usize..300, 1..8),
    ) {
        let mut wire = BytesMut::new();
        let mut boundaries = Vec::new();
        for m in &msgs {
            boundaries.push(wire.len());
            encode_standalone(m, size, &mut wire);
        }
        let k = start.index(msgs.len());
        let decoded = decode_split(&mut decoder(size), &wire[boundaries[k]..], &splits);
        prop_assert_eq!(&decoded[..], &msgs[k..]);
    }

    #[test]
    fn payload_parts_chunk_like_the_joined_payload(
        msgs in messages(),
        size in chunk_size(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        // Each message's payload cut at arbitrary points (empty parts
        // included) chunks to the bytes of the whole payload, both from a
        // fresh connection encoder (whose first message on a chunk stream
        // is standalone too) and from `encode_standalone`, and decodes back.
        let mut wire = BytesMut::new();
        for m in &msgs {
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(m.payload.len() + 1)).collect();
            at.sort_unstable();
            let mut parts: Vec<&[u8]> = Vec::new();
            let mut from = 0;
            for to in at.into_iter().chain([m.payload.len()]) {
                parts.push(&m.payload[from..to]);
                from = to;
            }
            let mut ours = BytesMut::new();
            encode_standalone_parts(&m.header(), &parts, size, &mut ours);
            let mut fresh = ChunkEncoder::new();
            fresh.set_chunk_size(size);
            let mut theirs = BytesMut::new();
            fresh.encode(m, &mut theirs);
            prop_assert_eq!(&ours, &theirs);
            let mut joined = BytesMut::new();
            encode_standalone(m, size, &mut joined);
            prop_assert_eq!(&ours, &joined);
            wire.extend_from_slice(&ours);
        }
        prop_assert_eq!(&decode_split(&mut decoder(size), &wire, &[7]), &msgs);
    }
}
