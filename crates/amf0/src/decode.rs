//! AMF0 decoding with a depth limit and length checks before allocation.

use crate::{amf3, marker, Amf0Error, Value};

/// Nesting limit used by [`decode`] and [`decode_all`]. Real commands and
/// metadata nest two or three levels; 64 leaves room for odd encoders while
/// keeping recursion far from the stack's end.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// A configurable AMF0 decoder.
///
/// The only knob is the nesting depth: everything else is bounded by the
/// input length, which the caller already bounds (e.g. the RTMP maximum
/// message size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_depth: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl Decoder {
    /// A decoder with [`DEFAULT_MAX_DEPTH`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how many containers (objects, arrays) may nest. A value is
    /// rejected with [`Amf0Error::TooDeep`] as soon as it opens one more.
    /// Each level costs one stack frame, so keep it modest.
    pub fn max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Decodes one value from the front of `buf` and advances `buf` past it.
    /// On error `buf` is left unchanged. Error offsets count from the start
    /// of `buf` as given.
    pub fn decode(&self, buf: &mut &[u8]) -> Result<Value, Amf0Error> {
        let mut r = Reader::new(buf);
        let v = self.value(&mut r, 0)?;
        *buf = r.rest();
        Ok(v)
    }

    /// Decodes values until `bytes` is used up, as command and data message
    /// bodies are laid out.
    pub fn decode_all(&self, bytes: &[u8]) -> Result<Vec<Value>, Amf0Error> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(self.value(&mut r, 0)?);
        }
        Ok(out)
    }

    fn value(&self, r: &mut Reader<'_>, depth: usize) -> Result<Value, Amf0Error> {
        let at = r.pos;
        let m = r.u8()?;
        Ok(match m {
            marker::NUMBER => Value::Number(r.f64()?),
            marker::BOOLEAN => Value::Boolean(r.u8()? != 0),
            marker::STRING => {
                let len = usize::from(r.u16()?);
                Value::String(r.utf8(len)?)
            }
            marker::OBJECT => {
                self.enter(depth, at)?;
                Value::Object(self.properties(r, depth + 1, None)?)
            }
            marker::NULL => Value::Null,
            marker::UNDEFINED => Value::Undefined,
            marker::REFERENCE => Value::Reference(r.u16()?),
            marker::ECMA_ARRAY => {
                self.enter(depth, at)?;
                let hint = r.u32()?;
                Value::EcmaArray(self.properties(r, depth + 1, Some(hint))?)
            }
            marker::OBJECT_END => return Err(Amf0Error::UnexpectedObjectEnd { offset: at }),
            marker::STRICT_ARRAY => {
                self.enter(depth, at)?;
                let count_at = r.pos;
                let count = r.u32()?;
                // Every element takes at least one byte, so a count larger
                // than what is left is a lie we can reject up front.
                if u64::from(count) > r.remaining() as u64 {
                    return Err(Amf0Error::LengthExceedsInput {
                        offset: count_at,
                        declared: u64::from(count),
                        remaining: r.remaining(),
                    });
                }
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(r, depth + 1)?);
                }
                Value::StrictArray(items)
            }
            marker::DATE => {
                let millis = r.f64()?;
                let tz = r.u16()? as i16;
                Value::Date { millis, tz }
            }
            marker::LONG_STRING => {
                let len = r.long_len()?;
                Value::LongString(r.utf8(len)?)
            }
            marker::UNSUPPORTED => Value::Unsupported,
            marker::XML_DOCUMENT => {
                let len = r.long_len()?;
                Value::XmlDocument(r.utf8(len)?)
            }
            marker::TYPED_OBJECT => {
                self.enter(depth, at)?;
                let len = usize::from(r.u16()?);
                let class = r.utf8(len)?;
                let props = self.properties(r, depth + 1, None)?;
                Value::TypedObject { class, props }
            }
            marker::AVMPLUS => Value::Avmplus(amf3::decode(r)?),
            _ => {
                return Err(Amf0Error::UnknownMarker {
                    marker: m,
                    offset: at,
                })
            }
        })
    }

    fn enter(&self, depth: usize, offset: usize) -> Result<(), Amf0Error> {
        if depth >= self.max_depth {
            return Err(Amf0Error::TooDeep {
                limit: self.max_depth,
                offset,
            });
        }
        Ok(())
    }

    /// Reads `key, value` pairs up to the empty key + object-end marker.
    ///
    /// `ecma_hint` is the count an ECMA array declared. Some encoders end
    /// ECMA arrays (notably `onMetaData`) without the end marker when the
    /// message ends right after the last property; we accept that, but only
    /// at the very end of the input and only once the declared count is met,
    /// so a truncated object is still an error.
    fn properties(
        &self,
        r: &mut Reader<'_>,
        depth: usize,
        ecma_hint: Option<u32>,
    ) -> Result<Vec<(String, Value)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            if let Some(hint) = ecma_hint {
                if r.is_empty() && props.len() as u64 >= u64::from(hint) {
                    return Ok(props);
                }
            }
            let len = usize::from(r.u16()?);
            let key = r.utf8(len)?;
            if key.is_empty() && r.peek() == Some(marker::OBJECT_END) {
                r.pos += 1;
                return Ok(props);
            }
            let v = self.value(r, depth)?;
            props.push((key, v));
        }
    }
}

/// Decodes one AMF0 value from the front of `buf` with the default depth
/// limit, advancing `buf` past it (left unchanged on error).
pub fn decode(buf: &mut &[u8]) -> Result<Value, Amf0Error> {
    Decoder::default().decode(buf)
}

/// Decodes every value in `bytes` with the default depth limit.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Value>, Amf0Error> {
    Decoder::default().decode_all(bytes)
}

/// A bounds-checked cursor: every read either succeeds or reports where and
/// how much input was missing.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let rest = self.rest();
        match rest.get(..n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(Amf0Error::Truncated {
                offset: self.pos,
                needed: n - rest.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Amf0Error> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, Amf0Error> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// Reads a 32-bit byte length and checks it against the input before
    /// anyone allocates for it.
    fn long_len(&mut self) -> Result<usize, Amf0Error> {
        let at = self.pos;
        let len = self.u32()?;
        self.check_len(at, u64::from(len))
    }

    /// Accepts `declared` bytes only if that many are left.
    pub(crate) fn check_len(&self, at: usize, declared: u64) -> Result<usize, Amf0Error> {
        if declared > self.remaining() as u64 {
            return Err(Amf0Error::LengthExceedsInput {
                offset: at,
                declared,
                remaining: self.remaining(),
            });
        }
        // Fits: it is at most the remaining length, itself a usize.
        Ok(declared as usize)
    }

    pub(crate) fn utf8(&mut self, len: usize) -> Result<String, Amf0Error> {
        let at = self.pos;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| Amf0Error::InvalidUtf8 { offset: at })
    }
}
