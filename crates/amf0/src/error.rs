//! The one error type of this crate.

/// Why a byte sequence is not valid AMF0 (or not AMF3 we can read).
///
/// Every variant carries the byte offset, counted from the start of the
/// slice given to the decoder, so that a log line points at the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    /// The input ended inside a value.
    #[error("truncated AMF data: needed {needed} more byte(s) at offset {offset}")]
    Truncated {
        /// Where the missing bytes should have started.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A string or array declared more content than the input holds. Checked
    /// before allocating, so a forged length cannot exhaust memory.
    #[error("declared length {declared} at offset {offset} exceeds the {remaining} byte(s) left")]
    LengthExceedsInput {
        /// Offset of the length field.
        offset: usize,
        /// Length (in bytes, or in elements for arrays) the input declared.
        declared: u64,
        /// Bytes actually left after the length field.
        remaining: usize,
    },
    /// A type marker that AMF0 does not define, or that is reserved.
    #[error("unknown or reserved AMF0 marker 0x{marker:02x} at offset {offset}")]
    UnknownMarker {
        /// The marker byte.
        marker: u8,
        /// Its offset.
        offset: usize,
    },
    /// An object-end marker where a value was expected.
    #[error("unexpected AMF0 object-end marker at offset {offset}")]
    UnexpectedObjectEnd {
        /// Offset of the marker.
        offset: usize,
    },
    /// Containers nested deeper than [`crate::Decoder::max_depth`].
    #[error("AMF nesting deeper than the limit of {limit} at offset {offset}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
        /// Offset of the container that crossed it.
        offset: usize,
    },
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in AMF string at offset {offset}")]
    InvalidUtf8 {
        /// Offset of the string's first byte.
        offset: usize,
    },
    /// An AMF3 value beyond the scalars that commands use (arrays, objects,
    /// dates, XML, byte arrays...), or an AMF3 string reference.
    #[error("unsupported AMF3 {what} (marker 0x{marker:02x}) at offset {offset}")]
    UnsupportedAmf3 {
        /// The AMF3 marker byte.
        marker: u8,
        /// Offset of the marker.
        offset: usize,
        /// Human-readable name of what was found.
        what: &'static str,
    },
}
