//! A window of a file's bytes: what a caller read for the samples it
//! wants written.

use crate::{Sample, VodError};

/// The bytes of a file from offset `base` on (the whole file when `base`
/// is 0 and `bytes` all of it).
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// File offset of `bytes[0]`.
    pub base: u64,
    /// The bytes.
    pub bytes: &'a [u8],
}

impl<'a> Window<'a> {
    /// The whole file.
    pub fn whole(bytes: &'a [u8]) -> Self {
        Window { base: 0, bytes }
    }

    /// The bytes of `sample`, or an error when they are not all in the
    /// window.
    pub fn sample(&self, sample: &Sample) -> Result<&'a [u8], VodError> {
        sample
            .offset
            .checked_sub(self.base)
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| Some(o..o.checked_add(sample.size as usize)?))
            .and_then(|r| self.bytes.get(r))
            .ok_or(VodError::SampleOutside {
                offset: sample.offset,
                size: sample.size,
            })
    }
}
