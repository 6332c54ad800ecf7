//! AMF0 (and the AMF3 command switch) encoder and decoder, sans-IO.
//!
//! RTMP carries its commands (`connect`, `publish`, `onStatus`...) and its
//! script data (`onMetaData`) as sequences of AMF0 values. This crate turns
//! such bytes into [`Value`]s and back, and nothing else: it knows no RTMP.
//!
//! The decoder is fed by peers we do not trust, so it is written to be
//! boring under attack: it never panics, nesting is capped by
//! [`Decoder::max_depth`] (recursion depth is what an attacker would use to
//! overflow the stack), and it never allocates on the strength of a declared
//! length: a string or array claiming more than the remaining input is an
//! error before any memory is reserved.
//!
//! Flash Player and some encoders switch single values to AMF3 with the
//! "avmplus" marker (`0x11`). Commands only ever need AMF3 scalars, so
//! [`Amf3Value`] covers undefined/null/booleans/integers/doubles/strings and
//! the decoder reports anything richer as [`Amf0Error::UnsupportedAmf3`]
//! instead of guessing.

#![warn(missing_docs, unreachable_pub)]

mod amf3;
mod decode;
mod encode;
mod error;
mod value;

pub use decode::{decode, decode_all, Decoder, DEFAULT_MAX_DEPTH};
pub use encode::{encode, encode_all};
pub use error::Amf0Error;
pub use value::{Amf3Value, Value};

/// AMF0 type markers: the first byte of every encoded value.
///
/// Public so that callers that sniff payloads (e.g. telling an
/// `@setDataFrame` data message from a plain one) can name the byte instead
/// of writing a magic number.
pub mod marker {
    /// IEEE-754 double, 8 bytes big-endian.
    pub const NUMBER: u8 = 0x00;
    /// One byte, non-zero is true.
    pub const BOOLEAN: u8 = 0x01;
    /// UTF-8 string with a 16-bit length.
    pub const STRING: u8 = 0x02;
    /// Anonymous object: properties up to an empty key and [`OBJECT_END`].
    pub const OBJECT: u8 = 0x03;
    /// Reserved by the spec (Flash movie clips); never valid on the wire.
    pub const MOVIE_CLIP: u8 = 0x04;
    /// Null.
    pub const NULL: u8 = 0x05;
    /// Undefined.
    pub const UNDEFINED: u8 = 0x06;
    /// Reference to an earlier complex value, 16-bit index.
    pub const REFERENCE: u8 = 0x07;
    /// Associative array: 32-bit count hint, then object-style properties.
    pub const ECMA_ARRAY: u8 = 0x08;
    /// Terminates object, ECMA array and typed object property lists.
    pub const OBJECT_END: u8 = 0x09;
    /// Dense array: 32-bit count, then that many values.
    pub const STRICT_ARRAY: u8 = 0x0A;
    /// Milliseconds since the epoch as a double, plus a 16-bit time zone.
    pub const DATE: u8 = 0x0B;
    /// UTF-8 string with a 32-bit length.
    pub const LONG_STRING: u8 = 0x0C;
    /// Unsupported (a value the sender could not serialize).
    pub const UNSUPPORTED: u8 = 0x0D;
    /// Reserved by the spec (record sets); never valid on the wire.
    pub const RECORDSET: u8 = 0x0E;
    /// XML document as a long string.
    pub const XML_DOCUMENT: u8 = 0x0F;
    /// Object with a class name.
    pub const TYPED_OBJECT: u8 = 0x10;
    /// Switch to AMF3 for the next value.
    pub const AVMPLUS: u8 = 0x11;
}
