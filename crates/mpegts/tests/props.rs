//! Property: whatever frames come in, in whatever order, the output is a
//! well-formed transport stream: whole 188-byte packets with sync bytes,
//! continuous counters per PID, PCRs never more than 100 ms apart, and a
//! failed push writes nothing.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use weir_media::{Codec, Frame, TrackKind};
use weir_mpegts::{TsConfig, TsMuxer, PACKET_SIZE};

/// A frame description proptest can generate and shrink.
#[derive(Debug, Clone)]
enum Input {
    AvcConfig(Vec<u8>),
    Avc { key: bool, nals: Vec<Vec<u8>> },
    AvcGarbage(Vec<u8>),
    AacConfig,
    Aac(Vec<u8>),
    Mp3(Vec<u8>),
    Opus,
    Script,
}

fn input() -> impl Strategy<Value = Input> {
    let bytes = |max| proptest::collection::vec(any::<u8>(), 0..max);
    prop_oneof![
        bytes(40).prop_map(Input::AvcConfig),
        (any::<bool>(), proptest::collection::vec(bytes(700), 0..4))
            .prop_map(|(key, nals)| Input::Avc { key, nals }),
        bytes(300).prop_map(Input::AvcGarbage),
        Just(Input::AacConfig),
        bytes(900).prop_map(Input::Aac),
        bytes(900).prop_map(Input::Mp3),
        Just(Input::Opus),
        Just(Input::Script),
    ]
}

/// A frame at `dts` and `cts` microseconds.
fn to_frame(input: Input, dts: i64, cts: i32) -> Frame {
    let video = |key, config, data: Vec<u8>| Frame {
        kind: TrackKind::Video,
        codec: Codec::H264,
        dts_us: dts,
        cts_us: cts,
        key,
        config,
        data: Bytes::from(data),
    };
    let audio = |codec, config, data: Vec<u8>| Frame {
        kind: TrackKind::Audio,
        codec,
        dts_us: dts,
        cts_us: 0,
        key: false,
        config,
        data: Bytes::from(data),
    };
    match input {
        Input::AvcConfig(sps) => {
            let mut v = vec![1, 0x64, 0, 0x1f, 0xff, 0xe1];
            v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
            v.extend_from_slice(&sps);
            v.extend_from_slice(&[1, 0, 1, 0x68]);
            video(false, true, v)
        }
        Input::Avc { key, nals } => {
            let mut v = Vec::new();
            for nal in nals {
                v.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                v.extend_from_slice(&nal);
            }
            video(key, false, v)
        }
        Input::AvcGarbage(data) => video(false, false, data),
        Input::AacConfig => audio(Codec::Aac, true, vec![0x12, 0x10]),
        Input::Aac(data) => audio(Codec::Aac, false, data),
        Input::Mp3(data) => audio(
            Codec::Mp3 {
                sample_rate: 44_100,
                stereo: true,
            },
            false,
            data,
        ),
        Input::Opus => audio(Codec::Opus, false, vec![1, 2]),
        Input::Script => Frame {
            kind: TrackKind::Data,
            ..audio(Codec::Amf0, false, vec![2, 0, 0])
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_frames_give_a_well_formed_stream(
        steps in proptest::collection::vec((input(), 0i64..150_000, -50_000i32..200_000, any::<bool>()), 1..60),
        start in -5_000_000i64..100_000_000,
    ) {
        let mut muxer = TsMuxer::new(TsConfig::default());
        let mut out = BytesMut::new();
        let mut dts = start;
        for (input, step, cts, tables) in steps {
            dts += step;
            let before = out.len();
            let frame = to_frame(input, dts, cts);
            let result = if tables {
                muxer.push_with_tables(&frame, &mut out)
            } else {
                muxer.push(&frame, &mut out)
            };
            if result.is_err() {
                prop_assert_eq!(out.len(), before, "a failed push wrote something");
            }
        }
        prop_assert_eq!(out.len() % PACKET_SIZE, 0);
        let mut counters: HashMap<u16, u8> = HashMap::new();
        let mut last_pcr: Option<u64> = None;
        for p in out.chunks(PACKET_SIZE) {
            prop_assert_eq!(p[0], 0x47);
            let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
            let cc = p[3] & 0x0f;
            let payload = p[3] & 0x10 != 0;
            if let Some(&prev) = counters.get(&pid) {
                prop_assert_eq!(cc, if payload { (prev + 1) % 16 } else { prev }, "CC on {:#x}", pid);
            }
            if payload {
                counters.insert(pid, cc);
            }
            if p[3] & 0x20 != 0 {
                prop_assert!(usize::from(p[4]) <= 183 - usize::from(payload));
                if p[4] >= 7 && p[5] & 0x10 != 0 {
                    let pcr = (u64::from_be_bytes([0, 0, 0, p[6], p[7], p[8], p[9], 0]) >> 7) | u64::from(p[10] >> 7);
                    if let Some(last) = last_pcr {
                        // 33-bit clock: negative stream times wrap.
                        let gap = pcr.wrapping_sub(last) & ((1 << 33) - 1);
                        prop_assert!(gap <= 9000, "PCR {} after {}", pcr, last);
                    }
                    last_pcr = Some(pcr);
                }
            }
        }
    }
}
