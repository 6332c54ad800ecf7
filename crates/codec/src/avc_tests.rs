use super::*;

// SPS NAL units written by x264 (through ffmpeg) for the named settings.
const SPS_1080P: &[u8] = &[
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03,
    0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc6, 0x58,
];
const SPS_360P: &[u8] = &[
    0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00,
    0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2d, 0x96,
];
const SPS_444_322X242: &[u8] = &[
    0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x2a, 0x10, 0xf1, 0xf1, 0xf8, 0x08, 0x80, 0x00, 0x00,
    0x03, 0x00, 0x80, 0x00, 0x00, 0x19, 0x07, 0x8a, 0x14, 0xcb,
];
const SPS_422_10BIT_720P: &[u8] = &[
    0x67, 0x7a, 0x00, 0x1f, 0xb6, 0xcd, 0x94, 0x05, 0x00, 0x5b, 0xb0, 0x11, 0x00, 0x00, 0x03, 0x00,
    0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x18, 0x31, 0x96,
];
const SPS_1080I: &[u8] = &[
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x04, 0x4f, 0xde, 0x02, 0x20, 0x00, 0x00, 0x03,
    0x00, 0x20, 0x00, 0x00, 0x06, 0x43, 0xe2, 0xc5, 0xb2, 0xc0,
];
const SPS_GRAY_QCIF: &[u8] = &[
    0x67, 0x64, 0x00, 0x0b, 0xf3, 0x65, 0x0b, 0x13, 0xb0, 0x16, 0xc8, 0x00, 0x00, 0x03, 0x00, 0x08,
    0x00, 0x00, 0x03, 0x01, 0x90, 0x78, 0xa1, 0x4c, 0xb0,
];
const SPS_BASELINE_CIF: &[u8] = &[
    0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x60, 0x96, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00,
    0x00, 0x03, 0x00, 0xc8, 0x3c, 0x50, 0xa9, 0x20,
];
/// Hand-built (checked with ffmpeg's trace_headers): High profile 1280x720
/// with scaling lists 0 (ending early through a zero scale) and 6, and
/// pic_order_cnt_type 1 with a two-entry cycle.
const SPS_SCALING_POC1_720P: &[u8] = &[
    0x67, 0x64, 0x00, 0x1e, 0xad, 0x8a, 0x38, 0x54, 0x14, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3,
    0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d,
    0x35, 0x0a, 0x66, 0x20, 0x5a, 0x01, 0x40, 0x16, 0xe4,
];

/// (sps, profile, level, chroma format, bit depth, frame_mbs_only, width, height)
type Case = (&'static [u8], u8, u8, u8, u8, bool, u32, u32);

#[test]
fn sps_sizes_profiles_and_formats() {
    let cases: [Case; 8] = [
        (SPS_1080P, 100, 40, 1, 8, true, 1920, 1080),
        (SPS_360P, 100, 30, 1, 8, true, 640, 360),
        (SPS_444_322X242, 244, 13, 3, 8, true, 322, 242),
        (SPS_422_10BIT_720P, 122, 31, 2, 10, true, 1280, 720),
        (SPS_1080I, 100, 40, 1, 8, false, 1920, 1080),
        (SPS_GRAY_QCIF, 100, 11, 0, 8, true, 176, 144),
        (SPS_BASELINE_CIF, 66, 13, 1, 8, true, 352, 288),
        (SPS_SCALING_POC1_720P, 100, 30, 1, 8, true, 1280, 720),
    ];
    for (sps, profile, level, chroma, depth, progressive, w, h) in cases {
        let info = parse_sps(sps).unwrap();
        assert_eq!(
            (info.profile_idc, info.level_idc, info.chroma_format_idc),
            (profile, level, chroma),
            "{sps:02x?}"
        );
        assert_eq!((info.bit_depth_luma, info.bit_depth_chroma), (depth, depth));
        assert_eq!(info.frame_mbs_only, progressive);
        assert_eq!((info.width, info.height), (w, h), "{sps:02x?}");
    }
    assert_eq!(parse_sps(SPS_BASELINE_CIF).unwrap().constraint_flags, 0xc0);
}

#[test]
fn sps_errors() {
    assert!(matches!(parse_sps(&[]), Err(CodecError::Short { .. })));
    assert!(matches!(
        parse_sps(&[0x68, 0xeb]),
        Err(CodecError::Invalid {
            what: "SPS NAL unit type",
            value: 8,
            ..
        })
    ));
    for sps in [SPS_1080P, SPS_1080I, SPS_SCALING_POC1_720P, SPS_444_322X242] {
        // Cut before the cropping fields end: every prefix fails cleanly.
        let full = parse_sps(sps).unwrap();
        for len in 0..sps.len() {
            if let Ok(info) = parse_sps(&sps[..len]) {
                // Only cutting the trailing VUI/stop bits may still parse.
                assert_eq!(info, full, "prefix {len} of {sps:02x?}");
            }
        }
    }
    // Baseline 16x16 with a bottom crop of 8 rows (4 units of 2): fine;
    // 9 units eat the whole picture.
    let crop = |units: u8| {
        // profile 66, level 10, then: ue(0) sps_id, ue(0) frame_num, ue(2)
        // poc type 2, ue(0) refs, u1 gaps, ue(0) w, ue(0) h, u1 frame_mbs,
        // u1 direct8x8, u1 crop, ue(0) x3, ue(units) bottom.
        let mut bits = String::from("1 1 011 1 0 1 1 1 1 1 1 1 1");
        let v = u32::from(units) + 1;
        let n = 32 - v.leading_zeros();
        bits += &format!(" {}{:b} 1", "0".repeat(n as usize - 1), v);
        let bits: String = bits.split_whitespace().collect();
        let mut nal = vec![0x67, 66, 0, 10];
        for chunk in bits.as_bytes().chunks(8) {
            let s = format!("{:0<8}", std::str::from_utf8(chunk).unwrap());
            nal.push(u8::from_str_radix(&s, 2).unwrap());
        }
        parse_sps(&nal)
    };
    assert_eq!((crop(4).unwrap().width, crop(4).unwrap().height), (16, 8));
    assert!(matches!(
        crop(8),
        Err(CodecError::Invalid {
            what: "SPS frame cropping",
            ..
        })
    ));
}

fn record(sps: &[&[u8]], pps: &[&[u8]]) -> Vec<u8> {
    let mut r = vec![1, 0x64, 0x00, 0x28, 0xFF, 0xE0 | sps.len() as u8];
    for s in sps {
        r.extend_from_slice(&(s.len() as u16).to_be_bytes());
        r.extend_from_slice(s);
    }
    r.push(pps.len() as u8);
    for p in pps {
        r.extend_from_slice(&(p.len() as u16).to_be_bytes());
        r.extend_from_slice(p);
    }
    r
}

#[test]
fn config_record() {
    let pps: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
    let data = Bytes::from(record(&[SPS_1080P], &[pps, pps]));
    let c = parse_avc_config(&data).unwrap();
    assert_eq!(
        (c.profile, c.compatibility, c.level, c.nal_length_size),
        (100, 0, 40, 4)
    );
    assert_eq!(c.sps, vec![Bytes::from_static(SPS_1080P)]);
    assert_eq!(c.pps.len(), 2);
    assert_eq!(&c.pps[1][..], pps);
    assert_eq!(c.codec_string(), "avc1.640028");
    assert_eq!(parse_sps(&c.sps[0]).unwrap().width, 1920);
    // The SPS is a slice of the record, not a copy.
    assert_eq!(c.sps[0].as_ptr(), data[8..].as_ptr());

    for len in 0..data.len() {
        let cut = data.slice(..len);
        assert!(parse_avc_config(&cut).is_err(), "prefix {len}");
    }
    let mut bad = data.to_vec();
    bad[0] = 0;
    assert!(matches!(
        parse_avc_config(&Bytes::from(bad)),
        Err(CodecError::Invalid { offset: 0, .. })
    ));
    let mut bad = data.to_vec();
    bad[4] = 0xFE;
    assert!(matches!(
        parse_avc_config(&Bytes::from(bad)),
        Err(CodecError::Invalid { offset: 4, .. })
    ));
    // The High-profile extension after the PPS list is left unread.
    let mut tail = data.to_vec();
    tail.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0]);
    assert_eq!(parse_avc_config(&Bytes::from(tail)).unwrap(), c);
    let empty = Bytes::from(record(&[], &[]));
    let c = parse_avc_config(&empty).unwrap();
    assert!(c.sps.is_empty() && c.pps.is_empty());
}
