use super::*;

fn parse(tag_type: u8, body: &[u8]) -> Result<Option<Frame>, FlvError> {
    frame_from_tag(tag_type, 40, Bytes::copy_from_slice(body))
}

fn egress(frame: &Frame) -> Vec<u8> {
    let (_, h) = tag_header(frame);
    [h.as_bytes(), &frame.data].concat()
}

/// Parses `body`, checks the frame (composition time given in ms, as the
/// tag has it), and that egress gives `expect_out`.
fn check(tag_type: u8, body: &[u8], want: (Codec, i32, bool, bool, &[u8]), expect_out: &[u8]) {
    let f = parse(tag_type, body).unwrap().unwrap();
    let want = (want.0, want.1 * 1000, want.2, want.3, want.4);
    assert_eq!(
        (f.codec, f.cts_us, f.key, f.config, &f.data[..]),
        want,
        "{body:02x?}"
    );
    assert_eq!(f.dts_us, 40_000);
    assert_eq!(tag_timestamp(&f), 40);
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
    assert_eq!((f.cts_us, f.key), (-40_000, false));
    let f = parse(9, b"\x93hvc1\x05").unwrap().unwrap();
    assert_eq!((f.cts_us, f.key, f.config), (0, true, false));
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
        &[0x17, 2, 0, 0, 0],                 // AVC end of sequence
        &[0x17, 1, 0, 0, 0],                 // empty NALU packet
        &[0x57, 0],                          // command frame
        &[0x52, 0],                          // command frame, other codec
        b"\x92hvc1",                         // sequence end
        b"\x94hvc1\x00",                     // metadata
        b"\xD0\x00",                         // enhanced command frame
        b"\x96\x10hvc1\x01\x00\x00\x01\x05", // multitrack without track 0
        b"\x95vp09\x00",                     // MPEG-2 TS sequence start
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
fn unsupported_video_is_refused_by_name() {
    // Sorenson H.263 keyframe, VP6 inter frame, screen video.
    for (body, id) in [(&[0x12, 1, 2][..], 2), (&[0x24, 1], 4), (&[0x13, 0], 3)] {
        assert_eq!(
            parse(9, body),
            Err(FlvError::UnsupportedCodec(UnsupportedCodec::Video(id)))
        );
    }
    // Enhanced H.266 sequence start and coded frame.
    for body in [&b"\x90vvc1\x81"[..], b"\x91vvc1\x00\x00\x00\x12"] {
        assert_eq!(
            parse(9, body),
            Err(FlvError::UnsupportedCodec(UnsupportedCodec::VideoFourCc(
                *b"vvc1"
            )))
        );
    }
    let e = parse(9, &[0x12, 1]).unwrap_err().to_string();
    assert!(e.contains("Sorenson H.263"), "{e}");
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
    // The 8-bit flag means nothing for MP3: egress writes the usual one.
    let mono_44 = Codec::Mp3 {
        sample_rate: 44100,
        stereo: true,
    };
    check(
        8,
        &[0x2D, 0xFF],
        (mono_44, 0, false, false, &[0xFF]),
        &[0x2F, 0xFF],
    );
    // Sound format 14, MP3 at 8 kHz.
    let mp3_8k = Codec::Mp3 {
        sample_rate: 8000,
        stereo: false,
    };
    check(
        8,
        &[0xE2, 0xFF],
        (mp3_8k, 0, false, false, &[0xFF]),
        &[0xE2, 0xFF],
    );
    let f = Frame {
        kind: TrackKind::Audio,
        codec: Codec::Mp3 {
            sample_rate: 48000,
            stereo: true,
        },
        dts_us: 0,
        cts_us: 0,
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
    assert_eq!(
        parse(8, b"\x90mp4sx"),
        Err(FlvError::UnsupportedCodec(UnsupportedCodec::AudioFourCc(
            *b"mp4s"
        )))
    );
    assert_eq!(parse(8, b"\x92Opus"), Ok(None));
    assert_eq!(parse(8, b"\x94Opus\x01\x02"), Ok(None));
    assert_eq!(parse(8, b"\x95\x00Opus"), Ok(None));
    assert!(matches!(parse(8, b"\x91Op"), Err(FlvError::Short { .. })));
}

#[test]
fn g711() {
    let alaw = |channels| Codec::Pcma {
        sample_rate: 8000,
        channels,
    };
    let mulaw = |channels| Codec::Pcmu {
        sample_rate: 8000,
        channels,
    };
    // The rate field is meaningless for G.711 (always 8 kHz): normalised.
    check(8, &[0x72, 5], (alaw(1), 0, false, false, &[5]), &[0x72, 5]);
    check(8, &[0x7F, 5], (alaw(2), 0, false, false, &[5]), &[0x73, 5]);
    check(8, &[0x82, 5], (mulaw(1), 0, false, false, &[5]), &[0x82, 5]);
    check(8, &[0x8B, 5], (mulaw(2), 0, false, false, &[5]), &[0x83, 5]);
    assert_eq!(parse(8, &[0x72]), Ok(None));
}

#[test]
fn unsupported_audio_is_refused_by_name() {
    for format in [0u8, 1, 3, 4, 5, 6, 11, 15] {
        assert_eq!(
            parse(8, &[format << 4 | 0xE, 5]),
            Err(FlvError::UnsupportedCodec(UnsupportedCodec::Audio(format))),
            "{format}"
        );
    }
    let e = parse(8, &[0xB6, 5]).unwrap_err().to_string();
    assert!(e.contains("Speex"), "{e}");
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
fn egress_rounds_down_to_ms_and_wraps_dts() {
    let mut f = Frame {
        kind: TrackKind::Video,
        codec: Codec::H264,
        dts_us: ((1 << 32) + 7) * 1000 + 999,
        cts_us: 40_999,
        key: false,
        config: false,
        data: Bytes::from_static(&[1]),
    };
    assert_eq!(egress(&f), [0x27, 1, 0, 0, 40, 1]);
    let mut out = BytesMut::new();
    write_frame_tag(&f, &mut out);
    assert_eq!(&out[4..8], &[0, 0, 7, 0]);
    assert_eq!(out.len(), 11 + 6 + 4);
    // Below zero, down is still down: -1 µs is -1 ms, not 0.
    (f.dts_us, f.cts_us) = (-1, -1);
    assert_eq!(tag_timestamp(&f), u32::MAX);
    assert_eq!(egress(&f), [0x27, 1, 0xFF, 0xFF, 0xFF, 1]);
    // The largest offset a frame holds fits FLV's 24 bits.
    f.cts_us = i32::MAX;
    assert_eq!(egress(&f), [0x27, 1, 0x20, 0xC4, 0x9B, 1]);
}

#[test]
fn huge_composition_times_clamp_to_whole_ms() {
    let f = parse(9, &[0x27, 1, 0x7F, 0xFF, 0xFF, 1]).unwrap().unwrap();
    assert_eq!(f.cts_us, 2_147_483_000);
    let f = parse(9, &[0x27, 1, 0x80, 0, 0, 1]).unwrap().unwrap();
    assert_eq!(f.cts_us, -2_147_483_000);
}

#[test]
fn on_metadata_is_always_at_time_zero() {
    let meta = Frame {
        kind: TrackKind::Data,
        codec: Codec::Amf0,
        dts_us: 29_100_000,
        cts_us: 0,
        key: false,
        config: false,
        data: Bytes::from_static(b"\x02\x00\x0aonMetaData\x05"),
    };
    assert_eq!(tag_timestamp(&meta), 0);
    let cue = Frame {
        data: Bytes::from_static(b"\x02\x00\x0aonCuePoint\x05"),
        ..meta
    };
    assert_eq!(tag_timestamp(&cue), 29_100);
}

#[test]
fn enhanced_av1_and_vp9_round_trip_without_composition_time() {
    // What ffmpeg 9 sends: a sequence start, a keyframe and an inter frame.
    check(
        9,
        b"\x90av01\x81\x00\x0c\x00",
        (Codec::Av1, 0, false, true, &[0x81, 0, 0x0c, 0]),
        b"\x90av01\x81\x00\x0c\x00",
    );
    check(
        9,
        b"\x91av01\x12\x00\x32",
        (Codec::Av1, 0, true, false, &[0x12, 0, 0x32]),
        b"\x91av01\x12\x00\x32",
    );
    check(
        9,
        b"\xA1vp09\x86\x00",
        (Codec::Vp9, 0, false, false, &[0x86, 0]),
        b"\xA1vp09\x86\x00",
    );
    // CodedFramesX means the same for them.
    check(
        9,
        b"\x93vp09\x82\x49",
        (Codec::Vp9, 0, true, false, &[0x82, 0x49]),
        b"\x91vp09\x82\x49",
    );
}

#[test]
fn enhanced_audio_codecs() {
    let head = b"\x90OpusOpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
    check(8, head, (Codec::Opus, 0, false, true, &head[5..]), head);
    for (cc, codec) in [
        (b"ac-3", Codec::Ac3),
        (b"ec-3", Codec::Eac3),
        (b"fLaC", Codec::Flac),
    ] {
        let body = [&[0x91][..], cc, &[0x0b, 0x77]].concat();
        check(8, &body, (codec, 0, false, false, &[0x0b, 0x77]), &body);
    }
    let flac_head = [&b"\x90fLaC"[..], b"\x00\x00\x00\x22"].concat();
    check(
        8,
        &flac_head,
        (Codec::Flac, 0, false, true, b"\x00\x00\x00\x22"),
        &flac_head,
    );
    // `.mp3` comes out as a legacy MP3 tag, described by the frame header.
    let f = parse(8, b"\x91.mp3\xff\xfb\x90\x44\x00").unwrap().unwrap();
    assert_eq!(
        f.codec,
        Codec::Mp3 {
            sample_rate: 44_100,
            stereo: true
        }
    );
    assert_eq!(egress(&f), b"\x2f\xff\xfb\x90\x44\x00");
    // 48 kHz, which the legacy byte cannot name, goes out legacy ("44.1")
    // and comes back at 48 kHz: ingest reads the frame header.
    let f = parse(8, b"\x91.mp3\xff\xfb\x94\x44\x00").unwrap().unwrap();
    let legacy = egress(&f);
    assert_eq!(legacy, b"\x2f\xff\xfb\x94\x44\x00");
    assert_eq!(parse(8, &legacy).unwrap().unwrap(), f);
    assert_eq!(parse(8, b"\x90.mp3"), Ok(None));
    assert!(matches!(
        parse(8, b"\x91.mp3\x00\x00\x00\x00"),
        Err(FlvError::Codec { .. })
    ));
    assert_eq!(parse(8, b"\x94Opus\x01\x02\x00\x00\x00\x03"), Ok(None));
    assert_eq!(
        parse(8, b"\x91mha1\x00"),
        Err(FlvError::UnsupportedCodec(UnsupportedCodec::AudioFourCc(
            *b"mha1"
        )))
    );
}

#[test]
fn multitrack_yields_the_default_track() {
    // One track (id 0), HEVC coded frames with a composition time.
    let f = parse(9, b"\x96\x01hvc1\x00\x00\x00\x28\x05")
        .unwrap()
        .unwrap();
    assert_eq!(
        (f.codec, f.cts_us, &f.data[..]),
        (Codec::H265, 40_000, &[5][..])
    );
    // Many tracks of one codec: track 1 first, then the default.
    let f = parse(
        9,
        b"\x96\x13av01\x01\x00\x00\x02\xaa\xbb\x00\x00\x00\x01\xcc",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (f.codec, f.key, &f.data[..]),
        (Codec::Av1, true, &[0xcc][..])
    );
    // Many tracks, many codecs: the default track is VP9.
    let f = parse(
        9,
        b"\x96\x21hvc1\x01\x00\x00\x04\x00\x00\x00\x05vp09\x00\x00\x00\x01\x86",
    )
    .unwrap()
    .unwrap();
    assert_eq!(f.codec, Codec::Vp9);
    // Audio: many tracks of Opus, the default one second.
    let f = parse(
        8,
        b"\x95\x11Opus\x02\x00\x00\x01\xfc\x00\x00\x00\x02\xfc\x01",
    )
    .unwrap()
    .unwrap();
    assert_eq!((f.codec, &f.data[..]), (Codec::Opus, &[0xfc, 1][..]));
}

#[test]
fn lying_multitracks_are_errors_not_panics() {
    for body in [
        &b"\x96"[..],                        // no multitrack byte
        b"\x96\x31hvc1\x00\x05",             // unknown layout
        b"\x96\x11hv",                       // short FourCC
        b"\x96\x11hvc1\x01\x00\x00",         // short size
        b"\x96\x11hvc1\x01\xff\xff\xff\x05", // size past the end
        b"\x96\x21hvc1\x01\x00\x00\x00vp",   // short per-track FourCC
    ] {
        assert!(
            matches!(
                parse(9, body),
                Err(FlvError::Short { .. } | FlvError::Invalid { .. })
            ),
            "{body:02x?}"
        );
    }
    // 255 tracks, none the default: ignored.
    let mut body = b"\x96\x11av01".to_vec();
    for id in 1..=255u8 {
        body.extend_from_slice(&[id, 0, 0, 1, 0x12]);
    }
    assert_eq!(parse(9, &body), Ok(None));
}
