use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::avc::parse_avc_config;
use crate::hevc::parse_hevc_config;

fn avc_config() -> NalConfig {
    let mut v = vec![
        1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 9,
    ];
    v.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0]); // High profile tail, ignored
    NalConfig::avc(parse_avc_config(&Bytes::from(v)).unwrap())
}

/// The Annex-B form of an access unit as MPEG-TS wants it.
fn ts_annex_b(cfg: &NalConfig, avcc: &[u8], key: bool) -> Result<Vec<u8>, CodecError> {
    let units = split_length_prefixed(avcc, cfg.length_size)?;
    let mut out = Vec::new();
    write_annex_b(&access_unit(cfg, &units, key, true), &mut out);
    Ok(out)
}

#[test]
fn avc_parameter_sets() {
    let cfg = avc_config();
    assert_eq!((cfg.syntax, cfg.length_size), (NalSyntax::Avc, 4));
    assert_eq!(
        cfg.parameter_sets,
        vec![
            Bytes::from_static(&[0x67, 1, 2]),
            Bytes::from_static(&[0x68, 9])
        ]
    );
}

#[test]
fn hevc_keeps_vps_sps_pps_in_decoding_order() {
    let mut v = vec![1; 21];
    v.extend_from_slice(&[0x01, 4]);
    for (t, nalu) in [
        (34u8, [0x44, 1]),
        (33, [0x42, 1]),
        (32, [0x40, 1]),
        (39, [0x4e, 1]),
    ] {
        v.extend_from_slice(&[0x80 | t, 0, 1, 0, 2]);
        v.extend_from_slice(&nalu);
    }
    let cfg = NalConfig::hevc(parse_hevc_config(&Bytes::from(v)).unwrap());
    assert_eq!((cfg.syntax, cfg.length_size), (NalSyntax::Hevc, 2));
    let first: Vec<u8> = cfg.parameter_sets.iter().map(|p| p[0]).collect();
    assert_eq!(first, [0x40, 0x42, 0x44]);
}

#[test]
fn parameter_sets_and_aud_go_in_front_of_idr_only() {
    let cfg = avc_config();
    let want = [
        0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 9, 0, 0, 0, 1, 0x65, 0xaa,
    ];
    assert_eq!(
        ts_annex_b(&cfg, &[0, 0, 0, 2, 0x65, 0xaa], false).unwrap(),
        want
    );
    assert_eq!(
        ts_annex_b(&cfg, &[0, 0, 0, 2, 0x41, 0xbb], false).unwrap(),
        [0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x41, 0xbb]
    );
    // The container's key flag counts too.
    assert_eq!(
        ts_annex_b(&cfg, &[0, 0, 0, 2, 0x41, 0xbb], true)
            .unwrap()
            .len(),
        want.len()
    );
    // An AU that brings its own AUD and SPS is left as it is.
    let own = [0, 0, 0, 2, 9, 0x10, 0, 0, 0, 1, 0x67, 0, 0, 0, 2, 0x65, 1];
    assert_eq!(
        ts_annex_b(&cfg, &own, true).unwrap(),
        [0, 0, 0, 1, 9, 0x10, 0, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x65, 1]
    );
}

#[test]
fn without_aud_none_is_added_and_the_sources_stays() {
    let cfg = avc_config();
    let idr: &[u8] = &[0x65, 1];
    let au = access_unit(&cfg, &[idr], false, false);
    assert_eq!(au, [&[0x67, 1, 2][..], &[0x68, 9], idr]);
    let aud: &[u8] = &[9, 0x10];
    let au = access_unit(&cfg, &[aud, idr], false, false);
    assert_eq!(au, [aud, &[0x67, 1, 2], &[0x68, 9], idr]);
    // Empty units from a careless caller do not panic.
    assert_eq!(access_unit(&cfg, &[&[]], false, false), [&[] as &[u8]]);
}

#[test]
fn bad_lengths_are_refused_whole() {
    for data in [
        &[0, 0, 0, 9, 0x65][..],
        &[0, 0, 0, 1, 0x65, 0],
        &[0xff, 0xff, 0xff, 0xff],
    ] {
        assert!(split_length_prefixed(data, 4).is_err(), "{data:02x?}");
    }
    // A zero-byte prefix would never advance.
    assert!(split_length_prefixed(&[1], 0).is_err());
    // Empty units are skipped, one-byte prefixes work.
    assert_eq!(
        split_length_prefixed(&[0, 1, 7, 2, 8, 9], 1).unwrap(),
        [&[7][..], &[8, 9]]
    );
}

#[test]
fn start_codes_of_both_lengths() {
    let stream = [
        0xAA, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 0, 1, 0x65, 3, 0, 0, 1, 0, 0, 1,
    ];
    assert_eq!(
        split_annex_b(&stream),
        [&[0x67, 1][..], &[0x68, 2], &[0x65, 3]]
    );
    assert!(split_annex_b(&[0, 0, 1]).is_empty());
    assert!(split_annex_b(&[0x65, 1, 2]).is_empty());
}

#[test]
fn length_prefixes_of_every_size() {
    let mut out = Vec::new();
    write_length_prefixed(&[&[7, 8], &[9]], 2, &mut out).unwrap();
    assert_eq!(out, [0, 2, 7, 8, 0, 1, 9]);
    out.clear();
    write_length_prefixed(&[&[7]], 3, &mut out).unwrap();
    assert_eq!(out, [0, 0, 1, 7]);
    let long = vec![1; 256];
    assert!(write_length_prefixed(&[&[7], &long], 1, &mut out).is_err());
    assert!(write_length_prefixed(&[&[7]], 0, &mut out).is_err());
    assert!(write_length_prefixed(&[&[7]], 5, &mut out).is_err());
    assert_eq!(out, [0, 0, 1, 7], "nothing appended on error");
}

/// A NAL unit as an encoder writes it: non-empty, no two zero bytes in a
/// row (emulation prevention sees to that), not ending in zero (the RBSP
/// stop bit).
fn unit() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((1u8..=255, any::<bool>()), 1..40).prop_map(|bytes| {
        let last = bytes.len() - 1;
        let mut unit = Vec::new();
        for (i, (b, zero)) in bytes.into_iter().enumerate() {
            unit.push(b);
            if zero && i != last {
                unit.push(0);
            }
        }
        unit
    })
}

proptest! {
    #[test]
    fn annex_b_to_avcc_and_back(units in proptest::collection::vec(unit(), 0..8), size in 2usize..=4) {
        let units: Vec<&[u8]> = units.iter().map(Vec::as_slice).collect();
        let mut annex_b = Vec::new();
        write_annex_b(&units, &mut annex_b);
        let split = split_annex_b(&annex_b);
        prop_assert_eq!(&split, &units);
        let mut avcc = Vec::new();
        write_length_prefixed(&split, size, &mut avcc).unwrap();
        let back = split_length_prefixed(&avcc, size).unwrap();
        let mut again = Vec::new();
        write_annex_b(&back, &mut again);
        prop_assert_eq!(again, annex_b);
    }

    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), size in 0usize..6) {
        let cfg = avc_config();
        if let Ok(units) = split_length_prefixed(&data, size) {
            let _ = access_unit(&cfg, &units, true, true);
        }
        let _ = split_annex_b(&data);
    }
}
