//! Property tests: whatever is written is read back the same, however the
//! stream is split, and arbitrary input never panics.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use weir_flv::{
    file_header, frame_from_tag, write_frame_tag, write_tag, Demuxer, Tag, TagType,
    DEFAULT_MAX_TAG_SIZE,
};
use weir_media::{Codec, Frame, TrackKind};

/// `frame` written as a tag and read back as one.
fn remux(frame: &Frame) -> Tag {
    let mut out = BytesMut::new();
    write_frame_tag(frame, &mut out);
    let mut d = Demuxer::default();
    d.push(&file_header(true, true));
    d.push(&out);
    d.poll().unwrap().unwrap()
}

fn tag_type() -> impl Strategy<Value = TagType> {
    prop_oneof![
        Just(TagType::Audio),
        Just(TagType::Video),
        Just(TagType::Script)
    ]
}

/// Frames as ingest produces them: non-empty payloads, timestamps in whole
/// milliseconds (FLV's unit), composition times within what a frame's
/// `i32` of microseconds holds, keyframes only for video, never key and
/// config.
fn frame() -> impl Strategy<Value = Frame> {
    let codec = prop_oneof![
        Just((TrackKind::Video, Codec::H264)),
        Just((TrackKind::Video, Codec::H265)),
        Just((TrackKind::Audio, Codec::Aac)),
        Just((TrackKind::Video, Codec::Av1)),
        Just((TrackKind::Video, Codec::Vp9)),
        Just((TrackKind::Audio, Codec::Opus)),
        Just((TrackKind::Audio, Codec::Ac3)),
        Just((TrackKind::Audio, Codec::Eac3)),
        Just((TrackKind::Audio, Codec::Flac)),
        Just((TrackKind::Data, Codec::Amf0)),
        (0usize..5, any::<bool>()).prop_map(|(rate, stereo)| {
            let sample_rate = [5512, 11025, 22050, 44100, 8000][rate];
            (
                TrackKind::Audio,
                Codec::Mp3 {
                    sample_rate,
                    stereo,
                },
            )
        }),
        (1u8..3).prop_map(|channels| (
            TrackKind::Audio,
            Codec::Pcma {
                sample_rate: 8000,
                channels
            }
        )),
        (1u8..3).prop_map(|channels| (
            TrackKind::Audio,
            Codec::Pcmu {
                sample_rate: 8000,
                channels
            }
        )),
    ];
    (
        codec,
        any::<u32>(),
        -2_147_483i32..=2_147_483,
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 1..200),
    )
        .prop_map(|((kind, codec), dts, cts, key, config, mut data)| {
            // An MP3 payload that starts with a frame header has its rate
            // read from it; these frames take theirs from the strategy.
            if matches!(codec, Codec::Mp3 { .. }) && data[0] == 0xFF {
                data[0] = 0;
            }
            let config = config
                && matches!(
                    codec,
                    Codec::H264
                        | Codec::H265
                        | Codec::Av1
                        | Codec::Vp9
                        | Codec::Aac
                        | Codec::Opus
                        | Codec::Flac
                );
            let (cts, key) = match codec {
                Codec::H264 | Codec::H265 => (if config { 0 } else { cts }, key && !config),
                // No composition time in their Enhanced RTMP frames.
                Codec::Av1 | Codec::Vp9 => (0, key && !config),
                _ => (0, false),
            };
            Frame {
                kind,
                codec,
                dts_us: i64::from(dts) * 1000,
                cts_us: cts * 1000,
                key,
                config,
                data: Bytes::from(data),
            }
        })
}

proptest! {
    #[test]
    fn tags_survive_any_split(
        tags in proptest::collection::vec(
            (tag_type(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..300)),
            0..20,
        ),
        chunk in 1usize..64,
        has_audio in any::<bool>(),
        has_video in any::<bool>(),
    ) {
        let mut stream = BytesMut::from(&file_header(has_audio, has_video)[..]);
        for (t, ts, body) in &tags {
            write_tag(*t as u8, *ts, &[&body[..body.len() / 2], &body[body.len() / 2..]], &mut stream);
        }
        let mut d = Demuxer::default();
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            d.push(piece);
            while let Some(tag) = d.poll().unwrap() {
                out.push((tag.tag_type, tag.timestamp, tag.body.to_vec()));
            }
        }
        prop_assert_eq!(d.finish(), Ok(()));
        prop_assert_eq!(out, tags);
        let header = d.header().unwrap();
        prop_assert_eq!((header.has_audio, header.has_video), (has_audio, has_video));
    }

    #[test]
    fn frames_survive_mux_and_demux(frames in proptest::collection::vec(frame(), 1..10)) {
        let mut stream = BytesMut::from(&file_header(true, true)[..]);
        for f in &frames {
            write_frame_tag(f, &mut stream);
        }
        let mut d = Demuxer::default();
        d.push(&stream);
        let mut back = Vec::new();
        while let Some(tag) = d.poll().unwrap() {
            back.push(frame_from_tag(tag.tag_type as u8, i64::from(tag.timestamp), tag.body).unwrap().unwrap());
        }
        prop_assert_eq!(back, frames);
    }

    #[test]
    fn sub_millisecond_times_round_down(frame in frame(), dts_us in any::<i32>(), cts_us in any::<i32>()) {
        // A frame from a finer clock (RTP) leaves as FLV's whole ms,
        // rounded down on both sides of zero.
        let dts_us = i64::from(dts_us);
        let cts_us = if matches!(frame.codec, Codec::H264 | Codec::H265) && !frame.config { cts_us } else { 0 };
        let tag = remux(&Frame { dts_us, cts_us, ..frame });
        prop_assert_eq!(tag.timestamp, dts_us.div_euclid(1000) as u32);
        let back = frame_from_tag(tag.tag_type as u8, i64::from(tag.timestamp), tag.body).unwrap().unwrap();
        prop_assert_eq!(back.cts_us, cts_us.div_euclid(1000) * 1000);
    }

    #[test]
    fn arbitrary_input_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..50,
        max in 0u32..400,
    ) {
        // Start with a valid header most of the time, so tags get parsed.
        let mut input = file_header(true, true).to_vec();
        input.extend_from_slice(&data);
        let mut d = Demuxer::new(max);
        for piece in input.chunks(chunk) {
            d.push(piece);
            while let Ok(Some(tag)) = d.poll() {
                let _ = frame_from_tag(tag.tag_type as u8, 0, tag.body);
            }
        }
        let _ = d.finish();
        for t in [8u8, 9, 18] {
            if let Ok(Some(f)) = frame_from_tag(t, 7, Bytes::from(data.clone())) {
                // Whatever was accepted survives mux and demux unchanged.
                let mut out = BytesMut::new();
                write_frame_tag(&f, &mut out);
                let body = out.freeze().slice(11..);
                let body = body.slice(..body.len() - 4);
                prop_assert_eq!(frame_from_tag(t, 7, body), Ok(Some(f)));
            }
        }
    }
}

proptest! {
    #[test]
    fn accepted_bodies_survive_mux_and_demux(
        tag_type in prop_oneof![Just(8u8), Just(9u8), Just(18u8)],
        first in any::<u8>(),
        fourcc in prop_oneof![
            Just(&b""[..]), Just(&b"hvc1"[..]), Just(&b"avc1"[..]),
            Just(&b"Opus"[..]), Just(&b"mp4a"[..]), Just(&b"av01"[..]),
        ],
        rest in proptest::collection::vec(any::<u8>(), 0..40),
        timestamp in any::<u32>(),
    ) {
        // Bodies shaped like real headers (first byte, FourCC), so the
        // Enhanced RTMP paths are reached, not just rejected.
        let body = Bytes::from([&[first][..], fourcc, &rest].concat());
        if let Ok(Some(f)) = frame_from_tag(tag_type, i64::from(timestamp), body) {
            let tag = remux(&f);
            let back = frame_from_tag(tag.tag_type as u8, i64::from(tag.timestamp), tag.body);
            prop_assert_eq!(back, Ok(Some(f)));
        }
    }
}

#[test]
fn default_limit_admits_every_flv_tag() {
    const { assert!(DEFAULT_MAX_TAG_SIZE as usize > weir_flv::MAX_BODY_SIZE) };
}
