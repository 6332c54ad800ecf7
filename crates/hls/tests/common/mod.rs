//! Test helpers: a synthetic live stream and a tiny TS packet inspector.

#![allow(dead_code)] // each test binary uses a different subset

use bytes::Bytes;
use weir_media::{Codec, Frame, TrackKind};

pub const AVCC: &[u8] = &[
    1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 2, 0x67, 1, 1, 0, 2, 0x68, 2,
];
pub const ASC: &[u8] = &[0x12, 0x10];

/// A video frame at `dts` ms.
pub fn video(dts: i64, key: bool) -> Frame {
    let nal: &'static [u8] = if key {
        &[0, 0, 0, 3, 0x65, 0x88, 0x80]
    } else {
        &[0, 0, 0, 3, 0x41, 0x9a, 0x00]
    };
    Frame {
        kind: TrackKind::Video,
        codec: Codec::H264,
        dts_us: dts * 1000,
        cts_us: 0,
        key,
        config: false,
        data: Bytes::from_static(nal),
    }
}

/// An audio frame at `dts` ms.
pub fn audio(dts: i64) -> Frame {
    Frame {
        kind: TrackKind::Audio,
        codec: Codec::Aac,
        dts_us: dts * 1000,
        cts_us: 0,
        key: false,
        config: false,
        data: Bytes::from_static(&[0x21, 0x10, 0x04, 0x60]),
    }
}

pub fn config(kind: TrackKind) -> Frame {
    let (codec, data) = match kind {
        TrackKind::Video => (Codec::H264, AVCC),
        _ => (Codec::Aac, ASC),
    };
    Frame {
        kind,
        codec,
        dts_us: 0,
        cts_us: 0,
        key: false,
        config: true,
        data: Bytes::from_static(data),
    }
}

/// `seconds` of 30 fps video with a keyframe every `gop` frames and AAC
/// every 23 ms, interleaved by DTS, starting at `start` ms. Headers first.
pub fn stream(start: i64, seconds: i64, gop: i64) -> Vec<Frame> {
    let mut frames = vec![config(TrackKind::Video), config(TrackKind::Audio)];
    let end = start + seconds * 1000;
    let (mut v, mut a) = (0i64, 0i64);
    loop {
        let vd = start + v * 1000 / 30;
        let ad = start + a * 23;
        if vd >= end && ad >= end {
            break;
        }
        if vd <= ad {
            frames.push(video(vd, v % gop == 0));
            v += 1;
        } else {
            frames.push(audio(ad));
            a += 1;
        }
    }
    frames
}

/// PID of a packet.
pub fn pid(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[1] & 0x1f, p[2]])
}

/// Payload of a packet after any adaptation field.
pub fn payload(p: &[u8]) -> &[u8] {
    if p[3] & 0x20 != 0 {
        &p[5 + usize::from(p[4])..]
    } else {
        &p[4..]
    }
}

/// Checks 188-byte alignment, sync bytes and continuity across `data`.
pub fn assert_clean_ts(data: &[u8]) {
    assert_eq!(data.len() % 188, 0);
    let mut counters = std::collections::HashMap::new();
    for (i, p) in data.chunks(188).enumerate() {
        assert_eq!(p[0], 0x47, "sync at packet {i}");
        let cc = p[3] & 0x0f;
        let has_payload = p[3] & 0x10 != 0;
        if let Some(&prev) = counters.get(&pid(p)) {
            let want = if has_payload { (prev + 1) % 16 } else { prev };
            assert_eq!(cc, want, "CC on PID {:#x} at packet {i}", pid(p));
        }
        if has_payload {
            counters.insert(pid(p), cc);
        }
    }
}
