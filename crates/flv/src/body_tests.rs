use super::*;

fn parse(tag_type: u8, body: &[u8]) -> Result<Option<Frame>, FlvError> {
    frame_from_tag(tag_type, 40, Bytes::copy_from_slice(body))
}

fn egress(frame: &Frame) -> Vec<u8> {
    let (_, h) = tag_header(frame);
    [h.as_bytes(), &frame.data].concat()
}

/// Parses `body`, checks the frame, and that egress gives `expect_out`.
fn check(tag_type: u8, body: &[u8], want: (Codec, i32, bool, bool, &[u8]), expect_out: &[u8]) {
    let f = parse(tag_type, body).unwrap().unwrap();
    assert_eq!(
        (f.codec, f.cts, f.key, f.config, &f.data[..]),
        want,
        "{body:02x?}"
    );
    assert_eq!(f.dts, 40);
    assert_eq!(tag_header(&f).0, tag_type);
    assert_eq!(egress(&f), expect_out);
}

#[test]
fn legacy_avc() {
    let cfg = [0x17, 0, 0, 0, 0, 1, 0x64];
    check(9, &cfg, (Codec::H264, 0, false, true, &[1, 0x64]), &cfg);
    // A composition time on a sequence header means nothing and is dropped.
    check(
        9,
        &[0x17, 0, 0, 0, 9, 1],
        (Codec::H264, 0, false, true, &[1]),
        &[0x17, 0, 0, 0, 0, 1],
    );
    let key = [0x17, 1, 0, 0, 0x50, 9, 9];
    check(9, &key, (Codec::H264, 80, true, false, &[9, 9]), &key);
    let inter = [0x27, 1, 0xFF, 0xFF, 0xD8, 7];
    check(9, &inter, (Codec::H264, -40, false, false, &[7]), &inter);
    // A disposable frame is an inter frame on egress.
    check(
        9,
        &[0x37, 1, 0, 0, 0, 7],
        (Codec::H264, 0, false, false, &[7]),
        &[0x27, 1, 0, 0, 0, 7],
    );
}

#[test]
fn legacy_hevc_comes_out_enhanced() {
    check(
        9,
        &[0x1C, 0, 0, 0, 0, 1],
        (Codec::H265, 0, false, true, &[1]),
        b"\x90hvc1\x01",
    );
    check(
        9,
        &[0x2C, 1, 0, 0, 0x28, 5],
        (Codec::H265, 40, false, false, &[5]),
        b"\xA1hvc1\x00\x00\x28\x05",
    );
}

#[test]
fn enhanced_hevc_round_trips() {
    for body in [
        &b"\x90hvc1\x01\x02"[..],
        b"\x91hvc1\x00\x00\x28\x05",
        b"\xA1hvc1\xFF\xFF\xD8\x05",
        b"\x93hvc1\x05",
        b"\xA3hvc1\x05",
    ] {
        let f = parse(9, body).unwrap().unwrap();
        assert_eq!(f.codec, Codec::H265);
        assert_eq!(egress(&f), body, "{f:?}");
    }
    let f = parse(9, b"\xA1hvc1\xFF\xFF\xD8\x05").unwrap().unwrap();
    assert_eq!((f.cts, f.key), (-40, false));
    let f = parse(9, b"\x93hvc1\x05").unwrap().unwrap();
    assert_eq!((f.cts, f.key, f.config), (0, true, false));
}

#[test]
fn enhanced_avc_comes_out_legacy() {
    check(
        9,
        b"\x91avc1\x00\x00\x28\x05",
        (Codec::H264, 40, true, false, &[5]),
        &[0x17, 1, 0, 0, 0x28, 5],
    );
}

#[test]
fn enhanced_mod_ex_is_skipped() {
    // ModEx (7) with 3 bytes of nanosecond offset, then CodedFramesX (3).
    let body = b"\x97\x02abc\x13hvc1\x05";
    check(
        9,
        body,
        (Codec::H265, 0, true, false, &[5]),
        b"\x93hvc1\x05",
    );
    // 256-byte form.
    let mut long = vec![0x97, 0xFF, 0x01, 0x00];
    long.extend_from_slice(&[0; 257]);
    long.extend_from_slice(b"\x00hvc1\x01");
    let f = parse(9, &long).unwrap().unwrap();
    assert!(f.config);
    assert!(matches!(
        parse(9, b"\x97\x05ab"),
        Err(FlvError::Short { .. })
    ));
}

#[test]
fn ignored_video() {
    for body in [
        &b""[..],
        &[0x17, 2, 0, 0, 0],     // AVC end of sequence
        &[0x17, 1, 0, 0, 0],     // empty NALU packet
        &[0x57, 0],              // command frame
        &[0x52, 0],              // command frame, other codec
        b"\x92hvc1",             // sequence end
        b"\x94hvc1\x00",         // metadata
        b"\xD0\x00",             // enhanced command frame
        b"\x96\x00hvc1\x00\x00", // multitrack
    ] {
        assert_eq!(parse(9, body), Ok(None), "{body:02x?}");
    }
}

#[test]
fn malformed_video() {
    assert!(matches!(
        parse(9, &[0x17, 1, 0]),
        Err(FlvError::Short { .. })
    ));
    assert!(matches!(parse(9, &[0x17]), Err(FlvError::Short { .. })));
    assert_eq!(
        parse(9, &[0x17, 3, 0, 0, 0, 1]),
        Err(FlvError::Invalid {
            what: "AVCPacketType",
            offset: 1,
            value: 3
        })
    );
    assert!(matches!(parse(9, b"\x91hv"), Err(FlvError::Short { .. })));
    assert!(matches!(
        parse(9, b"\x91hvc1\x00"),
        Err(FlvError::Short { .. })
    ));
    assert!(matches!(
        parse(7, b"x"),
        Err(FlvError::Invalid {
            what: "tag type",
            ..
        })
    ));
}

#[test]
fn other_video_passes_through() {
    // Sorenson H.263 keyframe, VP6 inter frame.
    check(
        9,
        &[0x12, 1, 2],
        (Codec::Other { flv_header: 0x12 }, 0, true, false, &[1, 2]),
        &[0x12, 1, 2],
    );
    check(
        9,
        &[0x24, 1],
        (Codec::Other { flv_header: 0x24 }, 0, false, false, &[1]),
        &[0x24, 1],
    );
    // Enhanced AV1: the whole extended header rides in the payload, and its
    // sequence start is a config frame.
    let start = b"\x90av01\x81";
    check(
        9,
        start,
        (
            Codec::Other { flv_header: 0x90 },
            0,
            false,
            true,
            b"av01\x81",
        ),
        start,
    );
    let coded = b"\x91av01\x12";
    check(
        9,
        coded,
        (
            Codec::Other { flv_header: 0x91 },
            0,
            true,
            false,
            b"av01\x12",
        ),
        coded,
    );
}

#[test]
fn aac() {
    let cfg = [0xAF, 0, 0x12, 0x10];
    check(8, &cfg, (Codec::Aac, 0, false, true, &[0x12, 0x10]), &cfg);
    let raw = [0xAF, 1, 0x21];
    check(8, &raw, (Codec::Aac, 0, false, false, &[0x21]), &raw);
    // A mono flag is normalised: the ASC is what decoders read.
    check(
        8,
        &[0xAE, 1, 0x21],
        (Codec::Aac, 0, false, false, &[0x21]),
        &raw,
    );
    assert_eq!(parse(8, &[0xAF, 1]), Ok(None));
    assert!(matches!(parse(8, &[0xAF]), Err(FlvError::Short { .. })));
    assert_eq!(
        parse(8, &[0xAF, 2, 1]),
        Err(FlvError::Invalid {
            what: "AACPacketType",
            offset: 1,
            value: 2
        })
    );
}

#[test]
fn mp3() {
    let stereo = Codec::Mp3 {
        sample_rate: 44100,
        stereo: true,
    };
    check(
        8,
        &[0x2F, 0xFF, 0xFB],
        (stereo, 0, false, false, &[0xFF, 0xFB]),
        &[0x2F, 0xFF, 0xFB],
    );
    let mono = Codec::Mp3 {
        sample_rate: 22050,
        stereo: false,
    };
    check(
        8,
        &[0x2A, 0xFF],
        (mono, 0, false, false, &[0xFF]),
        &[0x2A, 0xFF],
    );
    // 8-bit flag: not what egress would write, so passed through as is.
    check(
        8,
        &[0x2D, 0xFF],
        (Codec::Other { flv_header: 0x2D }, 0, false, false, &[0xFF]),
        &[0x2D, 0xFF],
    );
    let f = Frame {
        kind: TrackKind::Audio,
        codec: Codec::Mp3 {
            sample_rate: 48000,
            stereo: true,
        },
        dts: 0,
        cts: 0,
        key: false,
        config: false,
        data: Bytes::from_static(&[1]),
    };
    assert_eq!(egress(&f), [0x2F, 1]);
}

#[test]
fn enhanced_audio() {
    check(
        8,
        b"\x90OpusHead",
        (Codec::Opus, 0, false, true, b"Head"),
        b"\x90OpusHead",
    );
    check(
        8,
        b"\x91Opus\x01",
        (Codec::Opus, 0, false, false, &[1]),
        b"\x91Opus\x01",
    );
    check(
        8,
        b"\x90mp4a\x12\x10",
        (Codec::Aac, 0, false, true, &[0x12, 0x10]),
        &[0xAF, 0, 0x12, 0x10],
    );
    check(
        8,
        b"\x97\x01xz\x91Opus\x01",
        (Codec::Opus, 0, false, false, &[1]),
        b"\x91Opus\x01",
    );
    check(
        8,
        b"\x90fLaCx",
        (Codec::Other { flv_header: 0x90 }, 0, false, true, b"fLaCx"),
        b"\x90fLaCx",
    );
    assert_eq!(parse(8, b"\x92Opus"), Ok(None));
    assert_eq!(parse(8, b"\x94Opus\x01\x02"), Ok(None));
    assert_eq!(parse(8, b"\x95\x00Opus"), Ok(None));
    assert!(matches!(parse(8, b"\x91Op"), Err(FlvError::Short { .. })));
}

#[test]
fn other_audio_passes_through() {
    check(
        8,
        &[0x7E, 5],
        (Codec::Other { flv_header: 0x7E }, 0, false, false, &[5]),
        &[0x7E, 5],
    );
}

#[test]
fn script_strips_set_data_frame() {
    let meta = b"\x02\x00\x0aonMetaData\x05";
    let mut wrapped = SET_DATA_FRAME.to_vec();
    wrapped.extend_from_slice(meta);
    for body in [&meta[..], &wrapped] {
        let f = parse(18, body).unwrap().unwrap();
        assert_eq!(
            (f.kind, f.codec, f.key, f.config),
            (TrackKind::Data, Codec::Amf0, false, false)
        );
        assert_eq!(&f.data[..], meta);
        assert_eq!(egress(&f), meta);
        assert!(f.is_header());
    }
    let twice = [SET_DATA_FRAME, &wrapped].concat();
    assert_eq!(&parse(18, &twice).unwrap().unwrap().data[..], meta);
    assert_eq!(parse(18, SET_DATA_FRAME), Ok(None));
    assert_eq!(parse(18, b""), Ok(None));
}

#[test]
fn payload_shares_the_body() {
    let body = Bytes::from_static(&[0x17, 1, 0, 0, 0, 9, 9, 9]);
    let f = frame_from_tag(9, 0, body.clone()).unwrap().unwrap();
    assert_eq!(f.data.as_ptr(), body[5..].as_ptr());
}

#[test]
fn egress_clamps_cts_and_wraps_dts() {
    let f = Frame {
        kind: TrackKind::Video,
        codec: Codec::H264,
        dts: (1 << 32) + 7,
        cts: 1 << 30,
        key: false,
        config: false,
        data: Bytes::from_static(&[1]),
    };
    assert_eq!(egress(&f), [0x27, 1, 0x7F, 0xFF, 0xFF, 1]);
    let mut out = BytesMut::new();
    write_frame_tag(&f, &mut out);
    assert_eq!(&out[4..8], &[0, 0, 7, 0]);
    assert_eq!(out.len(), 11 + 6 + 4);
}
