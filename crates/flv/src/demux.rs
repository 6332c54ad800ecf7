//! Streaming FLV demuxer: bytes in, tags out, no IO.

use bytes::{Buf, BytesMut};

use crate::error::FlvError;
use crate::tag::{FileHeader, Tag, TagType, TAG_HEADER_SIZE};

/// Default body size limit: larger than anything FLV's 24-bit size field can
/// express, so by default only the format itself limits tags. Lower it to
/// bound memory per connection.
pub const DEFAULT_MAX_TAG_SIZE: u32 = 32 << 20;

/// Size of the fixed part of the file header (signature to DataOffset).
const FILE_HEADER_SIZE: usize = 9;

/// Size of a `PreviousTagSize` field.
const PREV_TAG_SIZE: u64 = 4;

/// Splits an FLV byte stream, fed in chunks of any size, into tags.
///
/// The demuxer owns no IO: the caller pushes what it read (a file chunk, a
/// socket read) and polls until it gets `Ok(None)`. Bodies are split off the
/// internal buffer without copying. Memory is bounded by what the caller
/// pushes between polls plus one tag of at most `max_tag_size` bytes.
///
/// `PreviousTagSize` fields are skipped, not checked: writers disagree on
/// them in practice, and a desynchronised stream is caught by the tag type
/// check instead. The first error is sticky: every later poll returns it.
#[derive(Debug)]
pub struct Demuxer {
    buf: BytesMut,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Bytes still to discard before the next structure (header padding,
    /// `PreviousTagSize` fields).
    skip: u64,
    header: Option<FileHeader>,
    max_tag_size: u32,
    error: Option<FlvError>,
}

impl Default for Demuxer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_TAG_SIZE)
    }
}

impl Demuxer {
    /// A demuxer expecting a file header first, rejecting tag bodies larger
    /// than `max_tag_size` bytes.
    pub fn new(max_tag_size: u32) -> Self {
        Self {
            buf: BytesMut::new(),
            offset: 0,
            skip: 0,
            header: None,
            max_tag_size,
            error: None,
        }
    }

    /// Appends input. Bytes to be skipped are dropped here, so padding and
    /// trailer fields never accumulate.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if self.buf.is_empty() && self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            data = &data[n..];
            self.skip -= n as u64;
            self.offset += n as u64;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete tag, `Ok(None)` if more input is needed.
    pub fn poll(&mut self) -> Result<Option<Tag>, FlvError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.step();
        if let Err(e) = &result {
            self.error = Some(e.clone());
        }
        result
    }

    /// The file header, once it has been read.
    pub fn header(&self) -> Option<FileHeader> {
        self.header
    }

    /// Stream offset of the next byte the demuxer will look at: how far the
    /// input has been consumed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Checks that the input ended cleanly, at a tag boundary. Call it at end
    /// of file, after polling until `Ok(None)`: a file cut off inside a tag
    /// (or its trailing `PreviousTagSize`) is reported as truncated.
    pub fn finish(&self) -> Result<(), FlvError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let (what, need) = if self.header.is_none() {
            ("the file header", FILE_HEADER_SIZE as u64 + PREV_TAG_SIZE)
        } else if self.skip > 0 {
            ("a PreviousTagSize field", self.skip)
        } else if self.buf.is_empty() {
            return Ok(());
        } else {
            ("a tag", self.tag_len().unwrap_or(TAG_HEADER_SIZE as u64))
        };
        Err(FlvError::Truncated {
            what,
            offset: self.offset,
            missing: need.saturating_sub(self.buf.len() as u64),
        })
    }

    fn step(&mut self) -> Result<Option<Tag>, FlvError> {
        if self.header.is_none() && !self.read_header()? {
            return Ok(None);
        }
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            self.consume(n);
            self.skip -= n as u64;
            if self.skip > 0 {
                return Ok(None);
            }
        }
        if self.buf.len() < TAG_HEADER_SIZE {
            return Ok(None);
        }
        let h = &self.buf[..TAG_HEADER_SIZE];
        let Some(tag_type) = TagType::from_u8(h[0]) else {
            return Err(FlvError::TagType {
                tag_type: h[0],
                offset: self.offset,
            });
        };
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        if size > self.max_tag_size {
            return Err(FlvError::TagTooLarge {
                size,
                max: self.max_tag_size,
                offset: self.offset,
            });
        }
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let total = TAG_HEADER_SIZE + size as usize;
        if self.buf.len() < total {
            // No reserving `total` up front: memory follows the bytes that
            // actually arrived, not what a peer announced.
            return Ok(None);
        }
        self.consume(TAG_HEADER_SIZE);
        let body = self.buf.split_to(size as usize).freeze();
        self.offset += u64::from(size);
        self.skip = PREV_TAG_SIZE;
        let n = self.buf.len().min(PREV_TAG_SIZE as usize);
        self.consume(n);
        self.skip -= n as u64;
        Ok(Some(Tag {
            tag_type,
            timestamp,
            body,
        }))
    }

    /// Parses the file header if it is all there; `Ok(false)` if not yet.
    fn read_header(&mut self) -> Result<bool, FlvError> {
        // Check the signature as soon as its bytes arrive, so that a
        // non-FLV peer is rejected without waiting for nine bytes.
        let sig_len = self.buf.len().min(3);
        if self.buf[..sig_len] != b"FLV"[..sig_len] {
            return Err(FlvError::Signature {
                offset: self.offset,
            });
        }
        if self.buf.len() < FILE_HEADER_SIZE {
            return Ok(false);
        }
        let version = self.buf[3];
        if version != 1 {
            return Err(FlvError::Version {
                version,
                offset: self.offset + 3,
            });
        }
        let flags = self.buf[4];
        let size = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]);
        if (size as usize) < FILE_HEADER_SIZE {
            return Err(FlvError::HeaderSize {
                size,
                offset: self.offset + 5,
            });
        }
        self.header = Some(FileHeader {
            has_audio: flags & 4 != 0,
            has_video: flags & 1 != 0,
        });
        self.consume(FILE_HEADER_SIZE);
        self.skip = u64::from(size) - FILE_HEADER_SIZE as u64 + PREV_TAG_SIZE;
        Ok(true)
    }

    /// Full size (header + body) of the tag at the front of the buffer, if
    /// its header is complete.
    fn tag_len(&self) -> Option<u64> {
        let h = self.buf.get(..TAG_HEADER_SIZE)?;
        Some(TAG_HEADER_SIZE as u64 + u64::from(u32::from_be_bytes([0, h[1], h[2], h[3]])))
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag::{write_tag, FLV_HEADER_AV};

    fn stream(tags: &[(u8, u32, &[u8])]) -> BytesMut {
        let mut out = BytesMut::from(&FLV_HEADER_AV[..]);
        for (t, ts, body) in tags {
            write_tag(*t, *ts, &[body], &mut out);
        }
        out
    }

    #[test]
    fn reads_header_and_tags() {
        let data = stream(&[(8, 1, b"a"), (9, 0x0100_0002, b"bc"), (18, 3, b"")]);
        let mut d = Demuxer::default();
        d.push(&data);
        assert_eq!(d.header(), None, "header is parsed on poll, not on push");
        let t = d.poll().unwrap().unwrap();
        assert_eq!(
            (t.tag_type, t.timestamp, &t.body[..]),
            (TagType::Audio, 1, &b"a"[..])
        );
        assert_eq!(
            d.header(),
            Some(FileHeader {
                has_audio: true,
                has_video: true
            })
        );
        let t = d.poll().unwrap().unwrap();
        assert_eq!(
            (t.tag_type, t.timestamp, &t.body[..]),
            (TagType::Video, 0x0100_0002, &b"bc"[..])
        );
        let t = d.poll().unwrap().unwrap();
        assert_eq!((t.tag_type, t.body.len()), (TagType::Script, 0));
        assert_eq!(d.poll(), Ok(None));
        assert_eq!(d.finish(), Ok(()));
        assert_eq!(d.offset(), data.len() as u64);
    }

    #[test]
    fn skips_header_padding() {
        let mut data = vec![b'F', b'L', b'V', 1, 1, 0, 0, 0, 12, 7, 7, 7, 0, 0, 0, 0];
        let mut tail = BytesMut::new();
        write_tag(9, 5, &[b"xyz"], &mut tail);
        data.extend_from_slice(&tail);
        for chunk in [1, 2, 5, 100] {
            let mut d = Demuxer::default();
            let mut tags = Vec::new();
            for c in data.chunks(chunk) {
                d.push(c);
                while let Some(t) = d.poll().unwrap() {
                    tags.push(t);
                }
            }
            assert_eq!(tags.len(), 1);
            assert_eq!(&tags[0].body[..], b"xyz");
            assert_eq!(d.finish(), Ok(()));
        }
    }

    #[test]
    fn rejects_bad_headers_with_offsets() {
        let mut d = Demuxer::default();
        d.push(b"FLX");
        assert_eq!(d.poll(), Err(FlvError::Signature { offset: 0 }));
        // Sticky, and further input is ignored.
        d.push(&FLV_HEADER_AV);
        assert_eq!(d.poll(), Err(FlvError::Signature { offset: 0 }));
        assert!(d.finish().is_err());

        let mut d = Demuxer::default();
        d.push(b"G");
        assert!(d.poll().is_err(), "signature checked byte by byte");

        let mut d = Demuxer::default();
        d.push(b"FLV\x02\x05\0\0\0\x09");
        assert_eq!(
            d.poll(),
            Err(FlvError::Version {
                version: 2,
                offset: 3
            })
        );

        let mut d = Demuxer::default();
        d.push(b"FLV\x01\x05\0\0\0\x08");
        assert_eq!(d.poll(), Err(FlvError::HeaderSize { size: 8, offset: 5 }));
    }

    #[test]
    fn rejects_unknown_tag_type_and_oversized_tags() {
        let data = stream(&[(8, 0, b"a"), (0x28, 0, b"b")]);
        let mut d = Demuxer::default();
        d.push(&data);
        assert!(d.poll().unwrap().is_some());
        assert_eq!(
            d.poll(),
            Err(FlvError::TagType {
                tag_type: 0x28,
                offset: 13 + 16
            })
        );

        let data = stream(&[(9, 0, &[0u8; 100])]);
        let mut d = Demuxer::new(99);
        d.push(&data[..13 + 11]);
        assert_eq!(
            d.poll(),
            Err(FlvError::TagTooLarge {
                size: 100,
                max: 99,
                offset: 13
            })
        );
        let mut d = Demuxer::new(100);
        d.push(&data);
        assert_eq!(d.poll().unwrap().unwrap().body.len(), 100);
    }

    #[test]
    fn finish_reports_truncation() {
        let data = stream(&[(8, 0, b"abc")]);
        let mut d = Demuxer::default();
        d.push(&data[..data.len() - 1]);
        assert!(d.poll().unwrap().is_some());
        assert_eq!(
            d.finish(),
            Err(FlvError::Truncated {
                what: "a PreviousTagSize field",
                offset: 13 + 14 + 3,
                missing: 1
            })
        );
        let mut d = Demuxer::default();
        d.push(&data[..20]);
        assert_eq!(d.poll(), Ok(None));
        assert_eq!(
            d.finish(),
            Err(FlvError::Truncated {
                what: "a tag",
                offset: 13,
                missing: 4
            })
        );
        let d = Demuxer::default();
        assert!(matches!(
            d.finish(),
            Err(FlvError::Truncated {
                what: "the file header",
                ..
            })
        ));
    }
}
