//! Positional reads and the top-level box walk.
//!
//! The walk is written here rather than with `mp4-atom`'s decoders because
//! it must work on headers alone: an `mdat` of gigabytes is skipped, not
//! read, and a box that runs past the end of the input (a recording cut off
//! by a crash) must be reported as torn, where `mp4-atom` would only say
//! "short read" after having been handed the whole box.

use crate::VodError;

/// Random access to the input, so that a caller can index a file of any
/// size without reading its media: only box headers, `moov` and `moof`
/// boxes are read. Implemented for byte slices; a caller with a file
/// implements it with `pread` (this crate does no IO of its own).
pub trait ReadAt {
    /// Total length of the input in bytes.
    fn len(&self) -> u64;
    /// Whether the input is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Exactly `len` bytes from `offset` (the walk never asks past
    /// [`ReadAt::len`]).
    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, VodError>;
}

impl ReadAt for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, VodError> {
        let start = usize::try_from(offset).ok();
        start
            .and_then(|s| Some(s..s.checked_add(len)?))
            .and_then(|r| self.get(r))
            .map(<[u8]>::to_vec)
            .ok_or(VodError::Read {
                offset,
                len,
                reason: "past the end of the input".into(),
            })
    }
}

/// One top-level box as the walk found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoxAt {
    pub(crate) kind: [u8; 4],
    /// Offset of its header.
    pub(crate) start: u64,
    /// Length of its header (8, or 16 with a 64-bit size).
    pub(crate) header: u64,
    /// One past its last byte. For a box whose size field is 0 ("to the
    /// end of the file") that is the input's end.
    pub(crate) end: u64,
}

/// What reading the header at an offset gave.
pub(crate) enum Next {
    /// A complete box.
    Box(BoxAt),
    /// The input ends inside this box or its header.
    Torn,
    /// Clean end of input.
    End,
}

/// Reads the box header at `at`.
pub(crate) fn next_box(input: &mut impl ReadAt, at: u64) -> Result<Next, VodError> {
    let len = input.len();
    if at >= len {
        return Ok(Next::End);
    }
    if len - at < 8 {
        return Ok(Next::Torn);
    }
    let head = input.read_at(at, 8)?;
    let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let kind = [head[4], head[5], head[6], head[7]];
    let (size, header) = match size32 {
        0 => (len - at, 8),
        1 => {
            if len - at < 16 {
                return Ok(Next::Torn);
            }
            let ext = input.read_at(at + 8, 8)?;
            let mut b = [0u8; 8];
            b.copy_from_slice(&ext);
            (u64::from_be_bytes(b), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header {
        return Err(VodError::corrupt(
            "box header",
            format!("box {} at {at} has size {size}", fourcc(kind)),
        ));
    }
    match at.checked_add(size) {
        Some(end) if end <= len => Ok(Next::Box(BoxAt {
            kind,
            start: at,
            header,
            end,
        })),
        _ => Ok(Next::Torn),
    }
}

/// A box type for messages.
pub(crate) fn fourcc(kind: [u8; 4]) -> String {
    kind.iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}
