//! A checked cursor over a decoder configuration record (`avcC`, `hvcC`):
//! every read is bounds-checked and reports the record and where it ran
//! out, and parameter sets come out as slices of the record, so keeping
//! them costs no copy.

use bytes::Bytes;

use crate::error::CodecError;

pub(crate) struct Record<'a> {
    data: &'a Bytes,
    pos: usize,
    what: &'static str,
}

impl<'a> Record<'a> {
    /// A cursor at the start of `data`; `what` names the record in errors.
    pub(crate) fn new(data: &'a Bytes, what: &'static str) -> Self {
        Self { data, pos: 0, what }
    }

    /// The byte range of the next `n` bytes, consumed.
    fn advance(&mut self, n: usize) -> Result<std::ops::Range<usize>, CodecError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or(CodecError::Short {
            what: self.what,
            offset: self.pos,
            needed: n,
            len: self.data.len(),
        })?;
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    /// The next `N` bytes, copied out: a record's fixed fields.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let range = self.advance(N)?;
        let mut out = [0; N];
        out.copy_from_slice(&self.data[range]);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        let [b] = self.array()?;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// `count` NAL units, each behind a 16-bit length: the layout of every
    /// parameter set list in both records.
    pub(crate) fn nal_units(&mut self, count: usize) -> Result<Vec<Bytes>, CodecError> {
        // No capacity from `count`: it is peer input, the record's length
        // is what bounds the list.
        let mut units = Vec::new();
        for _ in 0..count {
            let len = usize::from(self.u16()?);
            let range = self.advance(len)?;
            units.push(self.data.slice(range));
        }
        Ok(units)
    }
}

/// The NAL unit length size from the low two bits of `byte`
/// (`lengthSizeMinusOne`), found at `offset`: 1, 2 or 4 bytes, as both
/// records allow.
pub(crate) fn nal_length_size(
    byte: u8,
    what: &'static str,
    offset: usize,
) -> Result<u8, CodecError> {
    match (byte & 3) + 1 {
        3 => Err(CodecError::Invalid {
            what,
            offset,
            value: 3,
        }),
        size => Ok(size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked_and_slices_shared() {
        let data = Bytes::from_static(&[7, 0, 2, 0xAA, 0xBB, 0, 5, 1]);
        let mut r = Record::new(&data, "test");
        assert_eq!(r.u8().unwrap(), 7);
        let units = r.nal_units(1).unwrap();
        assert_eq!(&units[0][..], [0xAA, 0xBB]);
        assert_eq!(units[0].as_ptr(), data[3..].as_ptr());
        // A 5-byte unit with one byte left: the error names where it starts.
        assert_eq!(
            r.nal_units(1),
            Err(CodecError::Short {
                what: "test",
                offset: 7,
                needed: 5,
                len: 8
            })
        );
    }

    #[test]
    fn length_sizes() {
        let sizes: Vec<_> = (0..4).map(|b| nal_length_size(0xFC | b, "f", 4)).collect();
        assert_eq!(sizes[0], Ok(1));
        assert_eq!(sizes[1], Ok(2));
        assert_eq!(
            sizes[2],
            Err(CodecError::Invalid {
                what: "f",
                offset: 4,
                value: 3
            })
        );
        assert_eq!(sizes[3], Ok(4));
    }
}
