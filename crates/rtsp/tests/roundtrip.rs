//! Packetizer → (loss, reordering) → reorder buffer → depacketizer, for
//! every codec: with no loss every access unit comes back exactly; with
//! random loss and reordering nothing panics and every access unit that
//! comes out is exactly one that went in (never a corrupt one).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use weir_rtsp::depacketize::{AccessUnit, Depacketizer};
use weir_rtsp::packetize::Packetizer;
use weir_rtsp::reorder::ReorderBuffer;
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::{AacParams, Codec, H264Params, H265Params, Media, MediaKind};

fn media(codec: Codec, clock_rate: u32) -> Media {
    Media {
        kind: MediaKind::Video,
        payload_type: 96,
        codec,
        clock_rate,
        channels: 1,
        control: None,
    }
}

fn codecs() -> Vec<Codec> {
    vec![
        Codec::H264(H264Params::default()),
        Codec::H265(H265Params::default()),
        Codec::Aac(AacParams {
            config: Bytes::from_static(&[0x12, 0x10]),
            size_length: 13,
            index_length: 3,
            index_delta_length: 3,
        }),
        Codec::Opus,
        Codec::Pcma,
    ]
}

/// Builds access units for `codec` from random sizes and fill bytes.
fn units_for(codec: &Codec, shapes: &[(Vec<usize>, u8, bool)]) -> Vec<Vec<Bytes>> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, (sizes, fill, key))| {
            let key = i == 0 || *key;
            let nal = |header: &[u8], len: usize| {
                let mut v = header.to_vec();
                v.extend(std::iter::repeat_n(*fill, len));
                Bytes::from(v)
            };
            match codec {
                Codec::H264(_) => {
                    let mut u = Vec::new();
                    if key {
                        u.push(nal(&[0x67], 10));
                        u.push(nal(&[0x68], 4));
                    }
                    for (j, &s) in sizes.iter().enumerate() {
                        u.push(nal(&[if key && j == 0 { 0x65 } else { 0x41 }], s));
                    }
                    u
                }
                Codec::H265(_) => {
                    let mut u = Vec::new();
                    if key {
                        u.push(nal(&[32 << 1, 1], 8));
                        u.push(nal(&[33 << 1, 1], 10));
                        u.push(nal(&[34 << 1, 1], 4));
                    }
                    for (j, &s) in sizes.iter().enumerate() {
                        u.push(nal(&[if key && j == 0 { 19 << 1 } else { 1 << 1 }, 1], s));
                    }
                    u
                }
                // Audio: one frame of at least one byte, under the packet
                // size for the codecs that cannot fragment.
                Codec::Opus | Codec::Pcma => vec![nal(&[], 1 + sizes[0] % 250)],
                _ => vec![nal(&[], 1 + sizes[0])],
            }
        })
        .collect()
}

fn step(codec: &Codec) -> u64 {
    match codec {
        Codec::H264(_) | Codec::H265(_) => 3000,
        Codec::Aac(_) => 1024,
        _ => 960,
    }
}

fn run(
    codec: &Codec,
    aus: &[Vec<Bytes>],
    lose: &[bool],
    swap: &[bool],
) -> (Vec<AccessUnit>, HashMap<u32, Vec<Bytes>>) {
    let mut p = Packetizer::new(codec, 96, 0x1234, 65500, 0xFFFF_0000, 300).unwrap();
    let mut packets = Vec::new();
    let mut sent = HashMap::new();
    for (i, au) in aus.iter().enumerate() {
        let ts = i as u64 * step(codec);
        p.packetize(ts, au, &mut packets).unwrap();
        sent.insert(p.rtp_timestamp(ts), au.clone());
    }
    // Loss, then adjacent swaps. The first packet always arrives first: no
    // receiver can see a loss before the first packet it gets.
    let mut wire: Vec<Bytes> = packets
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || !lose.get(*i % lose.len().max(1)).copied().unwrap_or(false))
        .map(|(_, p)| p)
        .collect();
    for i in 1..wire.len().saturating_sub(1) {
        if swap.get(i % swap.len().max(1)).copied().unwrap_or(false) {
            wire.swap(i, i + 1);
        }
    }
    let mut d = Depacketizer::new(&media(codec.clone(), 90000)).unwrap();
    // Packets arrive 1 ms apart; a gap is given up after 4 waiting packets
    // or 3 ms, so both bounds are exercised.
    let mut reorder = ReorderBuffer::new(4, Duration::from_millis(3));
    let mut out = Vec::new();
    let start = Instant::now();
    for (i, bytes) in wire.into_iter().enumerate() {
        let now = start + Duration::from_millis(i as u64);
        reorder.push(now, Packet::parse(bytes).unwrap());
        while let Some(pkt) = reorder.pop(now) {
            let _ = d.handle_packet(&pkt, &mut out);
        }
    }
    while let Some(pkt) = reorder.pop_forced() {
        let _ = d.handle_packet(&pkt, &mut out);
    }
    (out, sent)
}

fn shapes() -> impl Strategy<Value = Vec<(Vec<usize>, u8, bool)>> {
    prop::collection::vec(
        (
            prop::collection::vec(1usize..2000, 1..4),
            any::<u8>(),
            prop::bool::weighted(0.2),
        ),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn lossless_round_trip(shapes in shapes()) {
        for codec in codecs() {
            let aus = units_for(&codec, &shapes);
            let (out, sent) = run(&codec, &aus, &[], &[]);
            let is_video = matches!(codec, Codec::H264(_) | Codec::H265(_));
            // The last video unit's marker is its end; all come out.
            prop_assert_eq!(out.len(), aus.len(), "{:?}", codec);
            for (o, a) in out.iter().zip(&aus) {
                prop_assert_eq!(&o.units, a);
                prop_assert_eq!(sent.get(&(o.timestamp as u32)), Some(a));
                if !is_video {
                    prop_assert!(o.keyframe);
                }
            }
            prop_assert!(out[0].keyframe);
            // Timestamps rise by the step, wrap included (offset is near 2^32).
            for w in out.windows(2) {
                prop_assert_eq!(w[1].timestamp - w[0].timestamp, step(&codec));
            }
        }
    }

    #[test]
    fn lossy_never_corrupt(shapes in shapes(),
                           lose in prop::collection::vec(prop::bool::weighted(0.1), 1..40),
                           swap in prop::collection::vec(prop::bool::weighted(0.1), 1..40)) {
        for codec in codecs() {
            let aus = units_for(&codec, &shapes);
            let (out, sent) = run(&codec, &aus, &lose, &swap);
            for o in &out {
                let original = sent.get(&(o.timestamp as u32));
                prop_assert_eq!(original, Some(&o.units), "{:?}: corrupt unit at {}", codec, o.timestamp);
            }
            let mut ts: Vec<u64> = out.iter().map(|o| o.timestamp).collect();
            ts.dedup();
            prop_assert_eq!(ts.len(), out.len(), "a unit came out twice");
        }
    }

    #[test]
    fn garbage_never_panics(packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..32)) {
        for codec in codecs() {
            let mut d = Depacketizer::new(&media(codec, 90000)).unwrap();
            let mut out = Vec::new();
            for (i, mut p) in packets.clone().into_iter().enumerate() {
                let mut raw = vec![0x80, if i % 3 == 0 { 0xE0 } else { 0x60 }, 0, i as u8, 0, 0, (i / 4) as u8, 0, 0, 0, 0, 1];
                raw.append(&mut p);
                if let Ok(pkt) = Packet::parse(Bytes::from(raw)) {
                    let _ = d.handle_packet(&pkt, &mut out);
                }
            }
        }
    }
}

#[test]
fn g711_splits_large_frames_with_advancing_timestamps() {
    let mut p = Packetizer::new(&Codec::Pcmu, 0, 1, 0, 0, 112).unwrap();
    let mut out = Vec::new();
    p.packetize(8000, &[Bytes::from(vec![0x55; 250])], &mut out)
        .unwrap();
    let pk: Vec<Packet> = out.into_iter().map(|b| Packet::parse(b).unwrap()).collect();
    assert_eq!(
        pk.iter().map(|p| p.payload.len()).collect::<Vec<_>>(),
        vec![100, 100, 50]
    );
    assert_eq!(
        pk.iter().map(|p| p.timestamp).collect::<Vec<_>>(),
        vec![8000, 8100, 8200]
    );
    assert_eq!(p.counts(), (3, 250));
}
