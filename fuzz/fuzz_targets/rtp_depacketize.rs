//! Fuzzes every RTP depacketizer (H.264, H.265, AAC-hbr, MP4A-LATM, and
//! the one-frame-per-packet Opus/G.711), optionally behind the UDP reorder
//! buffer.
//!
//! Input: a control byte (bits 0–2 pick the codec, bit 3 the reorder
//! buffer, bits 4–7 vary the AAC header layout), then packets, each a
//! 2-byte big-endian length and that many bytes. Errors are fine; panics
//! are bugs, and so are empty units, oversized units or counters that
//! disagree with what came out.

#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir_rtsp::depacketize::{Depacketizer, MAX_AUDIO_FRAME, MAX_NALS, MAX_VIDEO_UNIT};
use weir_rtsp::reorder::ReorderBuffer;
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::{AacParams, Codec, H264Params, H265Params, LatmParams, Media, MediaKind};

fuzz_target!(|data: &[u8]| {
    let Some((&control, mut input)) = data.split_first() else {
        return;
    };
    let codec = match control & 7 {
        0 => Codec::H264(H264Params::default()),
        1 => Codec::H265(H265Params::default()),
        2 => Codec::Aac(AacParams {
            config: Bytes::from_static(&[0x12, 0x10]),
            size_length: 13 - (control >> 4) % 8,
            index_length: 3 - (control >> 6) % 4 % 3,
            index_delta_length: 3,
        }),
        3 => Codec::Latm(LatmParams {
            config: None,
            cpresent: false,
        }),
        4 => Codec::Opus,
        _ => Codec::Pcma,
    };
    let video = matches!(codec, Codec::H264(_) | Codec::H265(_));
    let media = Media {
        kind: MediaKind::Video,
        payload_type: 96,
        codec,
        clock_rate: 90000,
        channels: 1,
        control: None,
    };
    let mut d = Depacketizer::new(&media).expect("every codec here has a depacketizer");
    // Packets "arrive" 1 ms apart, so the reorder buffer's time bound
    // (5 ms) is exercised as well as its count bound.
    let mut reorder =
        (control & 8 != 0).then(|| ReorderBuffer::new(8, Duration::from_millis(5)));
    let start = Instant::now();
    let mut arrived = 0u64;
    let mut out = Vec::new();
    while input.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([input[0], input[1]])).min(input.len() - 2);
        let raw = Bytes::copy_from_slice(&input[2..2 + len]);
        input = &input[2 + len..];
        let Ok(packet) = Packet::parse(raw) else {
            continue;
        };
        match reorder.as_mut() {
            None => {
                let _ = d.handle_packet(&packet, &mut out);
            }
            Some(r) => {
                arrived += 1;
                let now = start + Duration::from_millis(arrived);
                r.push(now, packet);
                while let Some(p) = r.pop(now) {
                    let _ = d.handle_packet(&p, &mut out);
                }
            }
        }
    }
    if let Some(r) = reorder.as_mut() {
        while let Some(p) = r.pop_forced() {
            let _ = d.handle_packet(&p, &mut out);
        }
    }
    assert_eq!(d.stats().units, out.len() as u64);
    for u in &out {
        assert!(!u.units.is_empty() && u.units.iter().all(|n| !n.is_empty()));
        if video {
            assert!(u.units.len() <= MAX_NALS);
            assert!(u.units.iter().map(|n| n.len()).sum::<usize>() <= MAX_VIDEO_UNIT);
        } else {
            assert_eq!(u.units.len(), 1);
            assert!(u.units[0].len() <= MAX_AUDIO_FRAME);
        }
    }
    if video {
        if let Some(first) = out.first() {
            assert!(first.keyframe, "a video track starts at a keyframe");
        }
    }
});
