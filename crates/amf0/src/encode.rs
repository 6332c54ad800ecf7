//! AMF0 encoding.
//!
//! Encoding cannot fail: every [`Value`] has a representation. The two
//! places where AMF0 has a hard size limit are handled without an error
//! type, because weir never produces such values itself:
//! strings over 65535 bytes are written as long strings, and object keys or
//! class names over 65535 bytes are truncated at a character boundary.

use bytes::BufMut;

use crate::{amf3, marker, Value};

/// Appends the encoding of `v` to `out` (a `Vec<u8>`, a `BytesMut`, ...).
pub fn encode<B: BufMut>(v: &Value, out: &mut B) {
    match v {
        Value::Number(n) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*n);
        }
        Value::Boolean(b) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Value::String(s) => match u16::try_from(s.len()) {
            Ok(len) => {
                out.put_u8(marker::STRING);
                out.put_u16(len);
                out.put_slice(s.as_bytes());
            }
            Err(_) => long_string(marker::LONG_STRING, s, out),
        },
        Value::Object(props) => {
            out.put_u8(marker::OBJECT);
            properties(props, out);
        }
        Value::Null => out.put_u8(marker::NULL),
        Value::Undefined => out.put_u8(marker::UNDEFINED),
        Value::Reference(i) => {
            out.put_u8(marker::REFERENCE);
            out.put_u16(*i);
        }
        Value::EcmaArray(props) => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            properties(props, out);
        }
        Value::StrictArray(items) => {
            out.put_u8(marker::STRICT_ARRAY);
            // A Vec longer than u32::MAX values cannot exist in practice
            // (it would need hundreds of GiB); clamp rather than wrap.
            let n = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.put_u32(n);
            for item in items.iter().take(n as usize) {
                encode(item, out);
            }
        }
        Value::Date { millis, tz } => {
            out.put_u8(marker::DATE);
            out.put_f64(*millis);
            out.put_i16(*tz);
        }
        Value::LongString(s) => long_string(marker::LONG_STRING, s, out),
        Value::Unsupported => out.put_u8(marker::UNSUPPORTED),
        Value::XmlDocument(s) => long_string(marker::XML_DOCUMENT, s, out),
        Value::TypedObject { class, props } => {
            out.put_u8(marker::TYPED_OBJECT);
            short_utf8(class, out);
            properties(props, out);
        }
        Value::Avmplus(v) => {
            out.put_u8(marker::AVMPLUS);
            amf3::encode(v, out);
        }
    }
}

/// Appends the encodings of all `values`, e.g. a command's name,
/// transaction id and arguments.
pub fn encode_all<'a, B: BufMut>(values: impl IntoIterator<Item = &'a Value>, out: &mut B) {
    for v in values {
        encode(v, out);
    }
}

fn long_string<B: BufMut>(m: u8, s: &str, out: &mut B) {
    let s = truncate_utf8(s, u32::MAX as usize);
    out.put_u8(m);
    out.put_u32(s.len() as u32);
    out.put_slice(s.as_bytes());
}

/// A key or class name: 16-bit length, no marker.
fn short_utf8<B: BufMut>(s: &str, out: &mut B) {
    let s = truncate_utf8(s, usize::from(u16::MAX));
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

fn properties<B: BufMut>(props: &[(String, Value)], out: &mut B) {
    for (k, v) in props {
        short_utf8(k, out);
        encode(v, out);
    }
    out.put_u16(0);
    out.put_u8(marker::OBJECT_END);
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }

    #[test]
    fn long_keys_are_truncated() {
        let key = "k".repeat(70_000);
        let mut out = Vec::new();
        encode(&Value::object([(key, Value::Null)]), &mut out);
        assert_eq!(&out[1..3], &[0xFF, 0xFF]);
        let back = crate::decode(&mut out.as_slice()).unwrap();
        let props = back.properties().unwrap();
        assert_eq!(props[0].0.len(), 65_535);
    }

    #[test]
    fn long_strings_switch_marker() {
        let s = "x".repeat(70_000);
        let mut out = Vec::new();
        encode(&Value::String(s.clone()), &mut out);
        assert_eq!(out[0], marker::LONG_STRING);
        assert_eq!(
            crate::decode(&mut out.as_slice()).unwrap(),
            Value::LongString(s)
        );
    }
}
