//! Length-prefixed NAL units (how RTMP/FLV and weir frames carry H.264 and
//! H.265) to Annex-B byte streams (how MPEG-TS carries them).
//!
//! MPEG-TS has no out-of-band channel: a decoder that tunes in must find
//! everything in the stream, so every access unit starts with a delimiter
//! and parameter sets go in front of every random access point. The
//! parameter sets come from the config record, parsed by `weir-codec`.

use bytes::Bytes;
use weir_codec::avc::AvcConfig;
use weir_codec::hevc::HevcConfig;

use crate::TsError;

/// Which NAL unit syntax a video track uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nal {
    /// H.264: 1-byte NAL header, type in the low 5 bits.
    Avc,
    /// H.265: 2-byte NAL header, type in bits 1..7 of the first byte.
    Hevc,
}

impl Nal {
    fn kind(self, first: u8) -> u8 {
        match self {
            Nal::Avc => first & 0x1f,
            Nal::Hevc => (first >> 1) & 0x3f,
        }
    }
    fn is_aud(self, first: u8) -> bool {
        self.kind(first) == if self == Nal::Avc { 9 } else { 35 }
    }
    fn is_parameter_set(self, first: u8) -> bool {
        match self {
            Nal::Avc => matches!(self.kind(first), 7 | 8),
            Nal::Hevc => matches!(self.kind(first), 32..=34),
        }
    }
    fn is_random_access(self, first: u8) -> bool {
        match self {
            Nal::Avc => self.kind(first) == 5,
            Nal::Hevc => matches!(self.kind(first), 16..=23),
        }
    }
    /// An access unit delimiter saying "any slice type may follow".
    fn aud(self) -> &'static [u8] {
        match self {
            Nal::Avc => &[0x09, 0xf0],
            Nal::Hevc => &[0x46, 0x01, 0x50],
        }
    }
}

/// What a video config record tells us: how long NAL length prefixes are
/// and the parameter sets to repeat in front of every IDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VideoConfig {
    pub(crate) nal: Nal,
    pub(crate) length_size: usize,
    pub(crate) parameter_sets: Vec<Bytes>,
}

impl VideoConfig {
    /// From an H.264 record: its SPS then its PPS.
    pub(crate) fn avc(c: AvcConfig) -> Self {
        VideoConfig {
            nal: Nal::Avc,
            length_size: usize::from(c.nal_length_size),
            parameter_sets: [c.sps, c.pps].concat(),
        }
    }

    /// From an H.265 record: its VPS, SPS and PPS, in decoding order.
    pub(crate) fn hevc(c: HevcConfig) -> Self {
        VideoConfig {
            nal: Nal::Hevc,
            length_size: usize::from(c.nal_length_size),
            parameter_sets: [c.vps, c.sps, c.pps].concat(),
        }
    }
}

/// Appends one access unit in Annex-B form to `out`: an AUD first (the
/// source's own or ours), then the parameter sets when this is a random
/// access point that lacks them, then the source's NAL units.
///
/// `key` is the container's keyframe flag; an IDR/IRAP NAL unit inside the
/// frame counts as well, since some encoders flag keyframes unreliably.
/// Nothing is appended when the payload is malformed.
pub(crate) fn to_annex_b(
    cfg: &VideoConfig,
    data: &[u8],
    key: bool,
    out: &mut Vec<u8>,
) -> Result<(), TsError> {
    const START: [u8; 4] = [0, 0, 0, 1];
    let nal = cfg.nal;
    let mut units: Vec<&[u8]> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let bad = TsError::BadNalLength {
            offset: pos,
            len: data.len(),
        };
        let body = pos.checked_add(cfg.length_size).ok_or(bad.clone())?;
        let prefix = data.get(pos..body).ok_or(bad.clone())?;
        let len = prefix.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
        let end = body.checked_add(len).ok_or(bad.clone())?;
        let unit = data.get(body..end).ok_or(bad)?;
        if !unit.is_empty() {
            units.push(unit);
        }
        pos = end;
    }
    let first_is_aud = units.first().is_some_and(|u| nal.is_aud(u[0]));
    let has_params = units.iter().any(|u| nal.is_parameter_set(u[0]));
    let random_access = key || units.iter().any(|u| nal.is_random_access(u[0]));

    let (aud, rest) = match units.split_first() {
        Some((first, rest)) if first_is_aud => (*first, rest),
        _ => (nal.aud(), units.as_slice()),
    };
    out.extend_from_slice(&START);
    out.extend_from_slice(aud);
    if random_access && !has_params {
        for ps in &cfg.parameter_sets {
            out.extend_from_slice(&START);
            out.extend_from_slice(ps);
        }
    }
    for unit in rest {
        out.extend_from_slice(&START);
        out.extend_from_slice(unit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use weir_codec::avc::parse_avc_config;
    use weir_codec::hevc::parse_hevc_config;

    use super::*;

    fn avcc() -> Bytes {
        let mut v = vec![
            1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 9,
        ];
        v.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0]); // High profile tail, ignored
        Bytes::from(v)
    }

    fn avc_config() -> VideoConfig {
        VideoConfig::avc(parse_avc_config(&avcc()).unwrap())
    }

    #[test]
    fn avc_parameter_sets() {
        let cfg = avc_config();
        assert_eq!((cfg.nal, cfg.length_size), (Nal::Avc, 4));
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
        let cfg = VideoConfig::hevc(parse_hevc_config(&Bytes::from(v)).unwrap());
        assert_eq!((cfg.nal, cfg.length_size), (Nal::Hevc, 2));
        let first: Vec<u8> = cfg.parameter_sets.iter().map(|p| p[0]).collect();
        assert_eq!(first, [0x40, 0x42, 0x44]);
    }

    #[test]
    fn annex_b_adds_aud_and_parameter_sets_on_idr_only() {
        let cfg = avc_config();
        let idr = [0, 0, 0, 2, 0x65, 0xaa];
        let mut out = Vec::new();
        to_annex_b(&cfg, &idr, false, &mut out).unwrap();
        let want = [
            0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 9, 0, 0, 0, 1, 0x65,
            0xaa,
        ];
        assert_eq!(out, want);

        out.clear();
        to_annex_b(&cfg, &[0, 0, 0, 2, 0x41, 0xbb], false, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x41, 0xbb]);

        // An AU that brings its own AUD and SPS is left as it is.
        out.clear();
        let own = [0, 0, 0, 2, 9, 0x10, 0, 0, 0, 1, 0x67, 0, 0, 0, 2, 0x65, 1];
        to_annex_b(&cfg, &own, true, &mut out).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 1, 9, 0x10, 0, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x65, 1]
        );
    }

    #[test]
    fn annex_b_refuses_bad_lengths() {
        let cfg = avc_config();
        let mut out = Vec::new();
        assert!(to_annex_b(&cfg, &[0, 0, 0, 9, 0x65], false, &mut out).is_err());
        assert!(to_annex_b(&cfg, &[0, 0, 0, 1, 0x65, 0], false, &mut out).is_err());
        assert!(to_annex_b(&cfg, &[0xff, 0xff, 0xff, 0xff], false, &mut out).is_err());
        assert!(out.is_empty());
    }
}
