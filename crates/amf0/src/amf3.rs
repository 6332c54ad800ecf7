//! The AMF3 scalars that may follow an AMF0 avmplus marker.

use bytes::BufMut;

use crate::decode::Reader;
use crate::{Amf0Error, Amf3Value};

const UNDEFINED: u8 = 0x00;
const NULL: u8 = 0x01;
const FALSE: u8 = 0x02;
const TRUE: u8 = 0x03;
const INTEGER: u8 = 0x04;
const DOUBLE: u8 = 0x05;
const STRING: u8 = 0x06;

/// Largest and smallest values of AMF3's 29-bit signed integer.
const INT_MAX: i32 = (1 << 28) - 1;
const INT_MIN: i32 = -(1 << 28);

pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Amf3Value, Amf0Error> {
    let at = r.pos;
    let m = r.u8()?;
    Ok(match m {
        UNDEFINED => Amf3Value::Undefined,
        NULL => Amf3Value::Null,
        FALSE => Amf3Value::Boolean(false),
        TRUE => Amf3Value::Boolean(true),
        INTEGER => {
            let raw = u29(r)?;
            // Sign-extend from 29 bits.
            Amf3Value::Integer(((raw << 3) as i32) >> 3)
        }
        DOUBLE => Amf3Value::Double(r.f64()?),
        STRING => {
            let len_at = r.pos;
            let header = u29(r)?;
            if header & 1 == 0 {
                // A reference into the string table. A lone scalar has no
                // earlier strings to refer to, so this is unreadable.
                return Err(Amf0Error::UnsupportedAmf3 {
                    marker: m,
                    offset: at,
                    what: "string reference",
                });
            }
            let len = r.check_len(len_at, u64::from(header >> 1))?;
            Amf3Value::String(r.utf8(len)?)
        }
        _ => {
            return Err(Amf0Error::UnsupportedAmf3 {
                marker: m,
                offset: at,
                what: amf3_name(m),
            })
        }
    })
}

fn amf3_name(marker: u8) -> &'static str {
    match marker {
        0x07 => "XML document",
        0x08 => "date",
        0x09 => "array",
        0x0A => "object",
        0x0B => "XML",
        0x0C => "byte array",
        0x0D..=0x10 => "vector",
        0x11 => "dictionary",
        _ => "unknown marker",
    }
}

/// Reads AMF3's variable-length 29-bit unsigned integer: up to three bytes
/// of 7 bits with a continuation bit, then a full fourth byte.
fn u29(r: &mut Reader<'_>) -> Result<u32, Amf0Error> {
    let mut v: u32 = 0;
    for _ in 0..3 {
        let b = r.u8()?;
        v = (v << 7) | u32::from(b & 0x7F);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Ok((v << 8) | u32::from(r.u8()?))
}

fn put_u29<B: BufMut>(out: &mut B, v: u32) {
    let v = v & 0x1FFF_FFFF;
    if v < 0x80 {
        out.put_u8(v as u8);
    } else if v < 0x4000 {
        out.put_u8(((v >> 7) as u8) | 0x80);
        out.put_u8((v & 0x7F) as u8);
    } else if v < 0x20_0000 {
        out.put_u8(((v >> 14) as u8) | 0x80);
        out.put_u8((((v >> 7) & 0x7F) as u8) | 0x80);
        out.put_u8((v & 0x7F) as u8);
    } else {
        out.put_u8(((v >> 22) as u8) | 0x80);
        out.put_u8((((v >> 15) & 0x7F) as u8) | 0x80);
        out.put_u8((((v >> 8) & 0x7F) as u8) | 0x80);
        out.put_u8((v & 0xFF) as u8);
    }
}

/// Writes one AMF3 scalar (without the AMF0 avmplus marker).
///
/// Integers outside the 29-bit range and strings longer than AMF3's 28-bit
/// length are written as doubles / truncated at a character boundary, which
/// is what AMF3 itself prescribes for integers and the only option for
/// strings no peer would accept anyway.
pub(crate) fn encode<B: BufMut>(v: &Amf3Value, out: &mut B) {
    match v {
        Amf3Value::Undefined => out.put_u8(UNDEFINED),
        Amf3Value::Null => out.put_u8(NULL),
        Amf3Value::Boolean(false) => out.put_u8(FALSE),
        Amf3Value::Boolean(true) => out.put_u8(TRUE),
        Amf3Value::Integer(i) if (INT_MIN..=INT_MAX).contains(i) => {
            out.put_u8(INTEGER);
            put_u29(out, *i as u32);
        }
        Amf3Value::Integer(i) => {
            out.put_u8(DOUBLE);
            out.put_f64(f64::from(*i));
        }
        Amf3Value::Double(d) => {
            out.put_u8(DOUBLE);
            out.put_f64(*d);
        }
        Amf3Value::String(s) => {
            out.put_u8(STRING);
            let s = crate::encode::truncate_utf8(s, (1 << 28) - 1);
            put_u29(out, ((s.len() as u32) << 1) | 1);
            out.put_slice(s.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_u29(v: u32) {
        let mut out = Vec::new();
        put_u29(&mut out, v);
        let mut r = Reader::new(&out);
        assert_eq!(u29(&mut r).unwrap(), v, "value {v:#x} bytes {out:02x?}");
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn u29_boundaries() {
        for v in [
            0,
            1,
            0x7F,
            0x80,
            0x3FFF,
            0x4000,
            0x1F_FFFF,
            0x20_0000,
            0x1FFF_FFFF,
        ] {
            roundtrip_u29(v);
        }
    }

    #[test]
    fn u29_known_bytes() {
        let mut out = Vec::new();
        put_u29(&mut out, 0x1FFF_FFFF);
        assert_eq!(out, [0xFF, 0xFF, 0xFF, 0xFF]);
        out.clear();
        put_u29(&mut out, 0x80);
        assert_eq!(out, [0x81, 0x00]);
    }

    #[test]
    fn negative_integer_sign_extends() {
        let mut out = Vec::new();
        encode(&Amf3Value::Integer(-1), &mut out);
        assert_eq!(out, [INTEGER, 0xFF, 0xFF, 0xFF, 0xFF]);
        let mut r = Reader::new(&out);
        assert_eq!(decode(&mut r).unwrap(), Amf3Value::Integer(-1));
    }

    #[test]
    fn out_of_range_integer_becomes_double() {
        let mut out = Vec::new();
        encode(&Amf3Value::Integer(INT_MAX + 1), &mut out);
        let mut r = Reader::new(&out);
        assert_eq!(
            decode(&mut r).unwrap(),
            Amf3Value::Double(f64::from(INT_MAX + 1))
        );
    }
}
