use super::*;

/// The sequence start ffmpeg 9 (libsvtav1, 320x240, 8-bit 4:2:0) sends
/// over Enhanced RTMP: an `av1C` with the sequence header OBU.
const AV1C: &[u8] = &[
    0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x61, 0xe7, 0xfd, 0xe0, 0x17, 0xc0,
    0x02,
];

#[test]
fn reads_ffmpegs_av1c() {
    let c = parse_av1_config(&Bytes::from_static(AV1C)).unwrap();
    assert_eq!((c.profile, c.level_idx, c.high_tier), (0, 0, false));
    assert_eq!(
        (c.bit_depth, c.monochrome, c.subsampling),
        (8, false, (true, true))
    );
    assert_eq!(c.codec_string(), "av01.0.00M.08");
    let seq = c.sequence_header().unwrap();
    assert_eq!((seq.width, seq.height, seq.profile), (320, 240, 0));
}

#[test]
fn bad_records_are_errors() {
    assert!(parse_av1_config(&Bytes::from_static(&[0x81, 0])).is_err());
    assert!(parse_av1_config(&Bytes::from_static(&[0x01, 0, 0, 0])).is_err());
    // No sequence header among the config OBUs.
    let c = parse_av1_config(&Bytes::from_static(&[0x81, 0, 0x0c, 0, 0x12, 0x00])).unwrap();
    assert!(c.sequence_header().is_err());
    // A sequence header OBU whose size field lies.
    let c = parse_av1_config(&Bytes::from_static(&[0x81, 0, 0x0c, 0, 0x0a, 0x7f, 0x02])).unwrap();
    assert!(c.sequence_header().is_err());
}

#[test]
fn obus_are_walked_and_garbage_ends_the_walk() {
    // Temporal delimiter, then a padding OBU (type 15) of 2 bytes.
    let tu = [0x12, 0x00, 0x7a, 0x02, 0xaa, 0xbb];
    let obus: Vec<_> = Obus::new(&tu).collect::<Result<_, _>>().unwrap();
    assert_eq!(obus.len(), 2);
    assert_eq!((obus[0].obu_type, obus[0].len), (2, 2));
    assert_eq!((obus[1].obu_type, obus[1].payload), (15, &[0xaa, 0xbb][..]));
    let bad = [0x12, 0x00, 0xfa];
    let got: Vec<_> = Obus::new(&bad).collect();
    assert!(got.len() == 2 && got[1].is_err());
    // An endless LEB128.
    let bad = [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(Obus::new(&bad).next().unwrap().is_err());
}

#[test]
fn temporal_delimiters_are_stripped_without_copying() {
    let tu = Bytes::from_static(&[0x12, 0x00, 0x32, 0x01, 0x00]);
    let s = strip_temporal_delimiter(&tu);
    assert_eq!(&s[..], &[0x32, 0x01, 0x00]);
    assert_eq!(s.as_ptr(), tu[2..].as_ptr());
    let frame = Bytes::from_static(&[0x32, 0x01, 0x00]);
    assert_eq!(strip_temporal_delimiter(&frame), frame);
}

#[test]
fn arbitrary_input_never_panics() {
    let mut seed = 0x1234_5678u32;
    for len in 0..64 {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        let _ = parse_sequence_header(&data);
        let _ = Obus::new(&data).count();
        let mut rec = vec![0x81, 0, 0x0c, 0];
        rec.extend_from_slice(&data);
        if let Ok(c) = parse_av1_config(&Bytes::from(rec)) {
            let _ = c.sequence_header();
        }
    }
}
