//! The little codec knowledge MPEG-TS needs: parameter sets out of
//! `avcC`/`hvcC` records, AVCC -> Annex-B conversion, and ADTS headers from
//! an `AudioSpecificConfig`.
//!
//! RTMP/FLV carry H.264/H.265 as length-prefixed NAL units with the
//! parameter sets out of band, and AAC as raw access units with the config
//! out of band. MPEG-TS has no out-of-band channel: a decoder that tunes in
//! must find everything in the stream, so parameter sets go in front of
//! every IDR and every AAC frame gets a self-describing ADTS header.
//!
//! Kept deliberately small and local (rather than shared with weir-flv) so
//! this crate has no dependency on another crate's parser; it reads only
//! the fields it needs, with checked reads throughout.

use bytes::Bytes;

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

/// A bounds-checked cursor over a config record.
struct Reader<'a> {
    data: &'a Bytes,
    pos: usize,
    what: &'static str,
}

impl Reader<'_> {
    fn err(&self) -> TsError {
        TsError::BadConfig {
            what: self.what,
            offset: self.pos,
        }
    }
    fn u8(&mut self) -> Result<u8, TsError> {
        let b = *self.data.get(self.pos).ok_or_else(|| self.err())?;
        self.pos += 1;
        Ok(b)
    }
    fn u16(&mut self) -> Result<usize, TsError> {
        Ok(usize::from(self.u8()?) << 8 | usize::from(self.u8()?))
    }
    fn take(&mut self, n: usize) -> Result<Bytes, TsError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| self.err())?;
        let out = self.data.slice(self.pos..end);
        self.pos = end;
        Ok(out)
    }
}

/// Reads an `AVCDecoderConfigurationRecord`: SPS list, then PPS list.
pub(crate) fn parse_avcc(data: &Bytes) -> Result<VideoConfig, TsError> {
    let mut r = Reader {
        data,
        pos: 0,
        what: "avcC",
    };
    let _version_profile_compat_level = r.take(4)?;
    let length_size = usize::from(r.u8()? & 3) + 1;
    let mut parameter_sets = Vec::new();
    for mask in [0x1f, 0xff] {
        let count = r.u8()? & mask;
        for _ in 0..count {
            let len = r.u16()?;
            parameter_sets.push(r.take(len)?);
        }
    }
    Ok(VideoConfig {
        nal: Nal::Avc,
        length_size,
        parameter_sets,
    })
}

/// Reads an `HEVCDecoderConfigurationRecord`, keeping VPS/SPS/PPS arrays.
pub(crate) fn parse_hvcc(data: &Bytes) -> Result<VideoConfig, TsError> {
    let mut r = Reader {
        data,
        pos: 0,
        what: "hvcC",
    };
    let _fixed = r.take(21)?;
    let length_size = usize::from(r.u8()? & 3) + 1;
    let arrays = r.u8()?;
    let mut parameter_sets = Vec::new();
    for _ in 0..arrays {
        let nal_type = r.u8()? & 0x3f;
        let count = r.u16()?;
        for _ in 0..count {
            let len = r.u16()?;
            let nalu = r.take(len)?;
            if matches!(nal_type, 32..=34) {
                parameter_sets.push(nalu);
            }
        }
    }
    Ok(VideoConfig {
        nal: Nal::Hevc,
        length_size,
        parameter_sets,
    })
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

/// The `AudioSpecificConfig` fields an ADTS header repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AacConfig {
    /// ADTS profile: audio object type - 1 (0 Main, 1 LC, 2 SSR, 3 LTP).
    pub(crate) profile: u8,
    pub(crate) rate_index: u8,
    pub(crate) channels: u8,
}

/// Reads the start of an `AudioSpecificConfig`. HE-AAC (SBR/PS) signalled
/// explicitly is described by its AAC core, which is what ADTS can express;
/// decoders find the SBR/PS data in the stream themselves.
pub(crate) fn parse_asc(data: &[u8]) -> Result<AacConfig, TsError> {
    let unsupported = |reason| TsError::UnsupportedAac { reason };
    let mut bits = Bits { data, pos: 0 };
    let object_type = |b: &mut Bits<'_>| -> Result<u32, TsError> {
        match b.read(5)? {
            31 => Ok(32 + b.read(6)?),
            ot => Ok(ot),
        }
    };
    let mut ot = object_type(&mut bits)?;
    let rate_index = bits.read(4)?;
    if rate_index == 15 {
        return Err(unsupported("explicit sampling frequency"));
    }
    let channels = bits.read(4)?;
    if ot == 5 || ot == 29 {
        if bits.read(4)? == 15 {
            bits.read(24)?;
        }
        ot = object_type(&mut bits)?;
    }
    if !(1..=4).contains(&ot) {
        return Err(unsupported("object type has no ADTS profile"));
    }
    if channels == 0 || channels > 7 {
        return Err(unsupported("channel configuration needs a PCE"));
    }
    Ok(AacConfig {
        profile: (ot - 1) as u8,
        rate_index: rate_index as u8,
        channels: channels as u8,
    })
}

/// The 7-byte ADTS header (no CRC) for a raw AAC frame of `len` bytes.
pub(crate) fn adts_header(cfg: AacConfig, len: usize) -> Result<[u8; 7], TsError> {
    let total = len + 7;
    if total > 0x1fff {
        return Err(TsError::UnsupportedAac {
            reason: "frame longer than ADTS can describe",
        });
    }
    Ok([
        0xff,
        0xf1, // sync, MPEG-4, layer 0, no CRC
        (cfg.profile << 6) | (cfg.rate_index << 2) | ((cfg.channels >> 2) & 1),
        ((cfg.channels & 3) << 6) | (total >> 11) as u8,
        (total >> 3) as u8,
        (((total & 7) as u8) << 5) | 0x1f, // buffer fullness 0x7ff: VBR
        0xfc,                              // one raw data block
    ])
}

/// MSB-first bit reader for the `AudioSpecificConfig`.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: u32) -> Result<u32, TsError> {
        let mut v = 0;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).ok_or(TsError::BadConfig {
                what: "AudioSpecificConfig",
                offset: self.pos / 8,
            })?;
            v = v << 1 | u32::from(byte >> (7 - self.pos % 8) & 1);
            self.pos += 1;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avcc() -> Bytes {
        let mut v = vec![
            1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 9,
        ];
        v.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0]); // High profile tail, ignored
        Bytes::from(v)
    }

    #[test]
    fn avcc_parameter_sets() {
        let cfg = parse_avcc(&avcc()).unwrap();
        assert_eq!(cfg.length_size, 4);
        assert_eq!(
            cfg.parameter_sets,
            vec![
                Bytes::from_static(&[0x67, 1, 2]),
                Bytes::from_static(&[0x68, 9])
            ]
        );
        for cut in 0..16 {
            assert!(parse_avcc(&avcc().slice(..cut)).is_err(), "{cut}");
        }
    }

    #[test]
    fn hvcc_keeps_vps_sps_pps() {
        let mut v = vec![1; 21];
        v.extend_from_slice(&[0x03, 4]);
        for (t, nalu) in [
            (32u8, [0x40, 1]),
            (33, [0x42, 1]),
            (34, [0x44, 1]),
            (39, [0x4e, 1]),
        ] {
            v.extend_from_slice(&[0x80 | t, 0, 1, 0, 2]);
            v.extend_from_slice(&nalu);
        }
        let cfg = parse_hvcc(&Bytes::from(v)).unwrap();
        assert_eq!(cfg.nal, Nal::Hevc);
        assert_eq!(cfg.parameter_sets.len(), 3);
    }

    #[test]
    fn annex_b_adds_aud_and_parameter_sets_on_idr_only() {
        let cfg = parse_avcc(&avcc()).unwrap();
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
        let cfg = parse_avcc(&avcc()).unwrap();
        let mut out = Vec::new();
        assert!(to_annex_b(&cfg, &[0, 0, 0, 9, 0x65], false, &mut out).is_err());
        assert!(to_annex_b(&cfg, &[0, 0, 0, 1, 0x65, 0], false, &mut out).is_err());
        assert!(to_annex_b(&cfg, &[0xff, 0xff, 0xff, 0xff], false, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn asc_and_adts() {
        // AAC-LC, 44.1 kHz (index 4), stereo.
        let cfg = parse_asc(&[0x12, 0x10]).unwrap();
        assert_eq!(
            cfg,
            AacConfig {
                profile: 1,
                rate_index: 4,
                channels: 2
            }
        );
        assert_eq!(
            adts_header(cfg, 100).unwrap(),
            [0xff, 0xf1, 0x50, 0x80, 0x0d, 0x7f, 0xfc]
        );
        // HE-AAC v1 explicit: object type 5, 24 kHz core, ext 48 kHz, then LC.
        let he = parse_asc(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!(
            he,
            AacConfig {
                profile: 1,
                rate_index: 6,
                channels: 2
            }
        );
        assert!(parse_asc(&[0x12]).is_err());
        assert!(parse_asc(&[0x17, 0x80, 0, 0, 0]).is_err()); // explicit rate
        assert!(parse_asc(&[0x12, 0x00]).is_err()); // channel config 0
        assert!(adts_header(cfg, 9000).is_err());
    }
}
