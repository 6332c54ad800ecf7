use super::*;

/// The `hvcC` fixed part written by x265 (through ffmpeg) for Main profile
/// 320x180 at level 2 (60), 4-byte NAL lengths, announcing four arrays.
const HEAD: &[u8] = &[
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc,
    0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x04,
];
const VPS: &[u8] = &[
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03,
    0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x90, 0x09,
];
/// 320x184 coded, with a conformance window cutting 4 rows.
const SPS_320X180: &[u8] = &[
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
    0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0b, 0x9f, 0x79, 0x65, 0x64, 0x92, 0x4c, 0xaf, 0x01, 0x68, 0x08,
    0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x40,
];
const PPS: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];
/// A prefix SEI NAL unit (type 39), as x265 puts its settings in `hvcC`.
const SEI: &[u8] = &[0x4e, 0x01, 0x05, 0x01, 0x80];

/// `head` followed by one array per `(type, units)`.
fn record(head: &[u8], arrays: &[(u8, &[&[u8]])]) -> Bytes {
    let mut r = head.to_vec();
    for (nal_type, units) in arrays {
        r.push(0x80 | nal_type);
        r.extend_from_slice(&(units.len() as u16).to_be_bytes());
        for u in *units {
            r.extend_from_slice(&(u.len() as u16).to_be_bytes());
            r.extend_from_slice(u);
        }
    }
    Bytes::from(r)
}

fn x265_record() -> Bytes {
    record(
        HEAD,
        &[
            (32, &[VPS]),
            (33, &[SPS_320X180]),
            (34, &[PPS]),
            (39, &[SEI]),
        ],
    )
}

#[test]
fn x265_config_record() {
    let data = x265_record();
    let c = parse_hevc_config(&data).unwrap();
    assert_eq!(
        (c.profile_space, c.high_tier, c.profile_idc, c.level_idc),
        (0, false, 1, 60)
    );
    assert_eq!(c.profile_compatibility, 0x6000_0000);
    assert_eq!(c.constraint_flags, [0x90, 0, 0, 0, 0, 0]);
    assert_eq!(c.nal_length_size, 4);
    assert_eq!(c.vps, [Bytes::from_static(VPS)]);
    assert_eq!(c.sps, [Bytes::from_static(SPS_320X180)]);
    assert_eq!(c.pps, [Bytes::from_static(PPS)]);
    assert_eq!(c.codec_string(), "hvc1.1.6.L60.90");
    // Parameter sets are slices of the record, not copies.
    assert_eq!(c.vps[0].as_ptr(), data[HEAD.len() + 5..].as_ptr());

    let sps = parse_hevc_sps(&c.sps[0]).unwrap();
    assert_eq!(
        (sps.width, sps.height, sps.chroma_format_idc),
        (320, 180, 1)
    );
}

#[test]
fn config_record_errors() {
    let data = x265_record();
    for len in 0..data.len() {
        assert!(
            parse_hevc_config(&data.slice(..len)).is_err(),
            "prefix {len}"
        );
    }
    let mut bad = data.to_vec();
    bad[21] = 0xFE;
    assert!(matches!(
        parse_hevc_config(&Bytes::from(bad)),
        Err(CodecError::Invalid { offset: 21, .. })
    ));
    // A pre-standard version 0 record reads the same.
    let mut v0 = data.to_vec();
    v0[0] = 0;
    assert_eq!(
        parse_hevc_config(&Bytes::from(v0)).unwrap().sps,
        [Bytes::from_static(SPS_320X180)]
    );
}

#[test]
fn arrays_keep_parameter_sets_only_in_order() {
    // Two-byte NAL lengths, several units per array, SEI first.
    let mut head = HEAD.to_vec();
    head[21] = 0x01;
    let data = record(
        &head,
        &[
            (39, &[SEI, SEI]),
            (32, &[VPS]),
            (33, &[SPS_320X180, &[0x42, 0x01, 7]]),
            (34, &[PPS]),
        ],
    );
    let c = parse_hevc_config(&data).unwrap();
    assert_eq!(c.nal_length_size, 2);
    assert_eq!((c.vps.len(), c.sps.len(), c.pps.len()), (1, 2, 1));
    assert_eq!(&c.sps[1][..], [0x42, 0x01, 7]);
    let mut head = HEAD.to_vec();
    head[22] = 0;
    let c = parse_hevc_config(&Bytes::from(head)).unwrap();
    assert!(c.vps.is_empty() && c.sps.is_empty() && c.pps.is_empty());
}

#[test]
fn codec_strings() {
    let mut c = parse_hevc_config(&x265_record()).unwrap();
    // Main profile, level 3.1, progressive/non-packed constraint bits set.
    c.level_idc = 93;
    c.constraint_flags = [0xb0, 0, 0, 0, 0, 0];
    assert_eq!(c.codec_string(), "hvc1.1.6.L93.B0");
    // Main 10, High tier, a constraint byte after a zero one.
    c.profile_idc = 2;
    c.profile_compatibility = 0x2000_0000;
    c.high_tier = true;
    c.level_idc = 120;
    c.constraint_flags = [0x90, 0, 0x01, 0, 0, 0];
    assert_eq!(c.codec_string(), "hvc1.2.4.H120.90.0.1");
    c.profile_space = 1;
    c.constraint_flags = [0; 6];
    assert_eq!(c.codec_string(), "hvc1.A2.4.H120");
}

/// `ue(v)` as a bit string.
fn ue(v: u32) -> String {
    let code = u64::from(v) + 1;
    let n = 64 - code.leading_zeros() as usize;
    format!("{}{code:b}", "0".repeat(n - 1))
}

/// An SPS NAL unit from its bits after the header: stop bit added,
/// emulation prevention inserted.
fn sps_nal(bits: &str) -> Vec<u8> {
    let bits = format!("{bits}1");
    let mut nal = vec![0x42, 0x01];
    let mut zeros = 0;
    for chunk in bits.as_bytes().chunks(8) {
        let s = format!("{:0<8}", std::str::from_utf8(chunk).unwrap());
        let b = u8::from_str_radix(&s, 2).unwrap();
        if zeros >= 2 && b <= 3 {
            nal.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        nal.push(b);
    }
    nal
}

/// An SPS with three sub-layers (the first repeating profile and level, the
/// second only level), 4:2:2, `width`x`height` cropped by `crop_bottom`
/// chroma rows.
fn layered_sps(width: u32, height: u32, crop_bottom: u32) -> Vec<u8> {
    let mut b = String::from("0000 010 1"); // vps id, 3 sub-layers, nesting
    b += &"0".repeat(96); // general profile and level
    b += "11 01"; // profile/level present flags of sub-layers 0 and 1
    b += &"0".repeat(12); // reserved_zero_2bits for indices 2..8
    b += &"1".repeat(88 + 8); // sub-layer 0 profile and level
    b += &"1".repeat(8); // sub-layer 1 level
    b += &ue(0); // sps id
    b += &ue(2); // chroma_format_idc: 4:2:2
    b += &ue(width);
    b += &ue(height);
    b += "1"; // conformance_window_flag
    b += &[0, 0, 0, crop_bottom].map(ue).concat();
    sps_nal(&b.replace(' ', ""))
}

#[test]
fn sub_layers_and_cropping() {
    let sps = parse_hevc_sps(&layered_sps(1920, 1088, 8)).unwrap();
    assert_eq!(
        (sps.width, sps.height, sps.chroma_format_idc),
        (1920, 1080, 2)
    );
    assert!(matches!(
        parse_hevc_sps(&layered_sps(64, 64, 64)),
        Err(CodecError::Invalid {
            what: "HEVC SPS conformance window",
            value: 64,
            ..
        })
    ));
    assert!(parse_hevc_sps(&layered_sps(0, 64, 0)).is_err());
    // 4:4:4 with separate colour planes: offsets count luma samples.
    let mut b = String::from("0000 000 1");
    b += &"0".repeat(96);
    b += &[ue(0), ue(3), "1".into(), ue(64), ue(64), "1".into()].concat();
    b += &[1, 1, 0, 0].map(ue).concat();
    let sps = parse_hevc_sps(&sps_nal(&b.replace(' ', ""))).unwrap();
    assert_eq!((sps.width, sps.height, sps.chroma_format_idc), (62, 64, 3));
}

#[test]
fn sps_errors() {
    assert!(matches!(
        parse_hevc_sps(&[0x42]),
        Err(CodecError::Short { .. })
    ));
    assert!(matches!(
        parse_hevc_sps(VPS),
        Err(CodecError::Invalid {
            what: "HEVC SPS NAL unit type",
            value: 32,
            ..
        })
    ));
    assert!(parse_hevc_sps(&[0x42, 0x01, 0xff]).is_err());
    // Seven sub-layers: one more than H.265 allows.
    assert!(matches!(
        parse_hevc_sps(&sps_nal("00001111")),
        Err(CodecError::Invalid {
            offset: 4,
            value: 7,
            ..
        })
    ));
    let full = parse_hevc_sps(SPS_320X180).unwrap();
    for len in 0..SPS_320X180.len() {
        if let Ok(info) = parse_hevc_sps(&SPS_320X180[..len]) {
            // Only cutting what follows the conformance window may parse.
            assert_eq!(info, full, "prefix {len}");
        }
    }
}

#[test]
fn record_built_from_parameter_sets_matches_x265s_fixed_part() {
    let rec = crate::record_write::hevc_decoder_config(VPS, SPS_320X180, PPS).unwrap();
    // x265 writes avgFrameRate 0 and one temporal layer, nested; only the
    // array count differs (it adds an SEI array).
    assert_eq!(&rec[..22], &HEAD[..22]);
    assert_eq!(rec[22], 3);
    let c = parse_hevc_config(&rec).unwrap();
    assert_eq!(c.codec_string(), "hvc1.1.6.L60.90");
    assert_eq!(c.sps, [Bytes::from_static(SPS_320X180)]);
    assert_eq!(c.pps, [Bytes::from_static(PPS)]);
}
