//! A checked MSB-first bit reader for codec configuration bitstreams (H.264
//! SPS, AAC AudioSpecificConfig): every read is bounds-checked and reports
//! the structure being read and where it ran out.

use crate::error::FlvError;

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

    pub(crate) fn bit(&mut self) -> Result<bool, FlvError> {
        let byte = *self.data.get(self.pos / 8).ok_or(FlvError::Short {
            what: self.what,
            offset: self.pos / 8,
            needed: 1,
            len: self.data.len(),
        })?;
        let bit = byte >> (7 - self.pos % 8) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` (at most 32) bits as an unsigned big-endian number.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, FlvError> {
        debug_assert!(n <= 32);
        let mut v = 0u64;
        for _ in 0..n {
            v = v << 1 | u64::from(self.bit()?);
        }
        Ok(v as u32)
    }

    pub(crate) fn u8(&mut self, n: u32) -> Result<u8, FlvError> {
        debug_assert!(n <= 8);
        Ok(self.bits(n)? as u8)
    }

    /// Unsigned Exp-Golomb code (H.264 `ue(v)`), up to 2^32 - 2.
    pub(crate) fn ue(&mut self) -> Result<u32, FlvError> {
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

    /// Signed Exp-Golomb code (H.264 `se(v)`).
    pub(crate) fn se(&mut self) -> Result<i64, FlvError> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }

    /// `ue(v)` that must not exceed `max`; `field` names it in the error.
    pub(crate) fn ue_max(&mut self, field: &'static str, max: u32) -> Result<u32, FlvError> {
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
    ) -> FlvError {
        FlvError::Invalid {
            what: field,
            offset: at,
            value: value.into(),
        }
    }
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
            Err(FlvError::Short {
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
            Err(FlvError::Invalid {
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
            Err(FlvError::Invalid {
                what: "f",
                value: 1,
                ..
            })
        ));
    }
}
