//! A checked MSB-first bit reader for codec bitstreams (H.264 and H.265
//! SPS, AAC `AudioSpecificConfig`): every read is bounds-checked and reports
//! the structure being read and where it ran out.

use crate::error::CodecError;

pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// A reader over `data`; `what` names the structure in errors.
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, pos: 0, what }
    }

    fn short(&self, needed_bits: usize) -> CodecError {
        CodecError::Short {
            what: self.what,
            offset: self.pos / 8,
            needed: needed_bits.div_ceil(8),
            len: self.data.len(),
        }
    }

    pub(crate) fn bit(&mut self) -> Result<bool, CodecError> {
        let byte = *self.data.get(self.pos / 8).ok_or(self.short(1))?;
        let bit = byte >> (7 - self.pos % 8) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` (at most 32) bits as an unsigned big-endian number.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, CodecError> {
        debug_assert!(n <= 32);
        let mut v = 0u64;
        for _ in 0..n {
            v = v << 1 | u64::from(self.bit()?);
        }
        Ok(v as u32)
    }

    pub(crate) fn u8(&mut self, n: u32) -> Result<u8, CodecError> {
        debug_assert!(n <= 8);
        Ok(self.bits(n)? as u8)
    }

    /// Skips `n` bits that only a decoder needs. Fails, without moving,
    /// when fewer remain.
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len() * 8);
        self.pos = end.ok_or(self.short(n))?;
        Ok(())
    }

    /// Unsigned Exp-Golomb code (H.264/H.265 `ue(v)`), up to 2^32 - 2.
    pub(crate) fn ue(&mut self) -> Result<u32, CodecError> {
        let start = self.pos;
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(self.invalid("Exp-Golomb prefix length", start, zeros));
            }
        }
        let suffix = u64::from(self.bits(zeros)?);
        Ok(((1u64 << zeros) - 1 + suffix) as u32)
    }

    /// Signed Exp-Golomb code (`se(v)`).
    pub(crate) fn se(&mut self) -> Result<i64, CodecError> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }

    /// `ue(v)` that must not exceed `max`; `field` names it in the error.
    pub(crate) fn ue_max(&mut self, field: &'static str, max: u32) -> Result<u32, CodecError> {
        let start = self.pos;
        let v = self.ue()?;
        if v > max {
            return Err(self.invalid(field, start, u64::from(v)));
        }
        Ok(v)
    }

    /// Current position in bits, for error offsets.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// An invalid-value error for the field read at bit `at`.
    pub(crate) fn invalid(
        &self,
        field: &'static str,
        at: usize,
        value: impl Into<u64>,
    ) -> CodecError {
        CodecError::Invalid {
            what: field,
            offset: at,
            value: value.into(),
        }
    }
}

/// The raw bitstream (RBSP) of a NAL unit payload: emulation prevention
/// bytes removed (`00 00 03` -> `00 00`). H.264 and H.265 escape the same
/// way.
pub(crate) fn rbsp(nal_payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal_payload.len());
    let mut zeros = 0;
    for &b in nal_payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Crops `crop` samples off a `full`-sample dimension: what is left must be
/// a non-empty picture that fits a `u32`. `at` is the bit offset of the
/// cropping fields, for the error.
pub(crate) fn cropped(
    full: u64,
    crop: u64,
    what: &'static str,
    at: usize,
) -> Result<u32, CodecError> {
    full.checked_sub(crop)
        .filter(|&d| d > 0)
        .and_then(|d| u32::try_from(d).ok())
        .ok_or(CodecError::Invalid {
            what,
            offset: at,
            value: crop,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_and_exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 | 0001000 ...
        let data = [0b1010_0110, 0b0100_0010, 0b1000_1000, 0];
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.ue().unwrap(), 0);
        assert_eq!(r.ue().unwrap(), 1);
        assert_eq!(r.ue().unwrap(), 2);
        assert_eq!(r.se().unwrap(), 2);
        assert_eq!(r.se().unwrap(), -2);
        assert_eq!(r.ue().unwrap(), 7);
        assert_eq!(r.position(), 24);
        assert_eq!(r.bits(8).unwrap(), 0);
        assert!(matches!(
            r.bit(),
            Err(CodecError::Short {
                what: "test",
                offset: 4,
                ..
            })
        ));
    }

    #[test]
    fn rejects_overlong_codes() {
        let data = [0u8; 8];
        let mut r = BitReader::new(&data, "test");
        assert!(matches!(
            r.ue(),
            Err(CodecError::Invalid {
                offset: 0,
                value: 32,
                ..
            })
        ));
        let max = [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF];
        let mut r = BitReader::new(&max, "test");
        assert_eq!(r.ue().unwrap(), u32::MAX - 1);
        let mut r = BitReader::new(&[0b0100_0000], "test");
        assert!(matches!(
            r.ue_max("f", 0),
            Err(CodecError::Invalid {
                what: "f",
                value: 1,
                ..
            })
        ));
    }

    #[test]
    fn skip_stays_in_bounds() {
        let mut r = BitReader::new(&[0x00, 0x01], "test");
        r.skip(15).unwrap();
        assert!(r.bit().unwrap());
        r.skip(0).unwrap();
        assert!(matches!(
            r.skip(1),
            Err(CodecError::Short {
                offset: 2,
                needed: 1,
                ..
            })
        ));
        let mut r = BitReader::new(&[0xFF], "test");
        assert!(r.skip(usize::MAX).is_err());
        assert_eq!(r.position(), 0, "a failed skip does not move");
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 0, 3]), [0, 0, 1, 0, 0, 0, 0]);
        // Only after two zeros, and the zero count restarts after a removal.
        assert_eq!(rbsp(&[0, 3, 0, 0, 3, 3]), [0, 3, 0, 0, 3]);
    }
}
