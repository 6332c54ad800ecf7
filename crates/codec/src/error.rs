//! The crate's single error type.

use thiserror::Error;

/// Why a codec structure could not be read or written.
///
/// Offsets are relative to the structure named in `what`: bytes for
/// records (`avcC`, `hvcC`), bits for bitstreams (SPS, `AudioSpecificConfig`)
/// in [`CodecError::Invalid`]. A config frame arrives detached from any
/// stream, so that is the only position that means something.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The structure is shorter than its fields require.
    #[error("{what}: needs {needed} bytes at offset {offset}, only {len} available")]
    Short {
        /// The structure being read.
        what: &'static str,
        /// Byte offset inside the structure where the read started (for
        /// bitstreams, after emulation prevention bytes are removed).
        offset: usize,
        /// Bytes the read needed.
        needed: usize,
        /// Bytes the structure has.
        len: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what} at offset {offset}: invalid value {value}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// Offset of the field inside its structure: bytes for records,
        /// bits for bitstreams.
        offset: usize,
        /// The value found.
        value: u64,
    },
    /// A valid AAC configuration or frame that an ADTS header has no way to
    /// describe (MPEG-TS can then not carry the stream).
    #[error("ADTS cannot express {what} {value}")]
    Adts {
        /// The property ADTS lacks room for.
        what: &'static str,
        /// Its value.
        value: u64,
    },
}
