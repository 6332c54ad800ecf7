//! The FLV container layer: file header, tag types and the tag writer.
//!
//! An FLV file is a 9-byte header, a 4-byte zero `PreviousTagSize0`, then
//! tags, each an 11-byte header, a body and a 4-byte `PreviousTagSize`.
//! HTTP-FLV is the same byte stream sent over a socket.

use bytes::{BufMut, Bytes, BytesMut};

/// Size of a tag header: type, 24-bit body size, 24+8-bit timestamp,
/// 24-bit stream id.
pub const TAG_HEADER_SIZE: usize = 11;

/// Largest tag body FLV can describe: the body size field has 24 bits.
pub const MAX_BODY_SIZE: usize = 0xFF_FFFF;

/// The file header (including `PreviousTagSize0`) of a stream announcing
/// both audio and video: what weir writes when it does not know the tracks
/// in advance, since players tolerate an announced track that never comes.
pub const FLV_HEADER_AV: [u8; 13] = file_header(true, true);

/// What an FLV file header announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// The audio flag. Advisory only: players and weir go by the tags.
    pub has_audio: bool,
    /// The video flag. Advisory only, like `has_audio`.
    pub has_video: bool,
}

/// The 13 bytes that start an FLV file or HTTP-FLV response: signature,
/// version 1, track flags, header size 9 and `PreviousTagSize0`.
pub const fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let flags = (has_audio as u8) << 2 | has_video as u8;
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// The three tag types FLV defines. Anything else in the type byte (e.g.
/// the encryption filter bit) is rejected by the demuxer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TagType {
    /// Audio tag; its body is an RTMP audio message payload.
    Audio = 8,
    /// Video tag; its body is an RTMP video message payload.
    Video = 9,
    /// Script data (AMF0), e.g. `onMetaData`.
    Script = 18,
}

impl TagType {
    /// The type for a tag type byte, `None` for undefined values.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            8 => Some(Self::Audio),
            9 => Some(Self::Video),
            18 => Some(Self::Script),
            _ => None,
        }
    }
}

/// One demuxed FLV tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The tag type.
    pub tag_type: TagType,
    /// Timestamp in milliseconds, extended byte included. It wraps at 2^32
    /// like RTMP's; feed it through `weir_media::Unwrapper` for a timeline.
    pub timestamp: u32,
    /// The tag body, sharing the demuxer's buffer (no copy). A consumer
    /// that keeps a small body for long (a sequence header) may copy it, so
    /// as not to pin the larger buffer it was read into.
    pub body: Bytes,
}

/// Encodes one complete FLV tag (11-byte header + body + 4-byte
/// `PreviousTagSize`) into `out`. `timestamp` includes the extended byte.
///
/// The body is given in parts so a muxer can write a tag-body header and a
/// shared payload without first joining them.
///
/// A body longer than [`MAX_BODY_SIZE`] cannot be described by FLV; such a
/// tag is skipped and `out` left unchanged, so an oversized frame from a peer
/// is dropped instead of corrupting the output or panicking. Nothing weir
/// ingests over RTMP can be that large (its message length has 24 bits too).
pub fn write_tag(tag_type: u8, timestamp: u32, body_parts: &[&[u8]], out: &mut BytesMut) {
    let body_len: usize = body_parts.iter().map(|p| p.len()).sum();
    if body_len > MAX_BODY_SIZE {
        return;
    }
    let size = body_len as u32;
    out.reserve(TAG_HEADER_SIZE + body_len + 4);
    out.put_u8(tag_type);
    put_u24(out, size);
    put_u24(out, timestamp & 0xFF_FFFF);
    out.put_u8((timestamp >> 24) as u8);
    put_u24(out, 0);
    for part in body_parts {
        out.put_slice(part);
    }
    out.put_u32(size + TAG_HEADER_SIZE as u32);
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_flags() {
        assert_eq!(&FLV_HEADER_AV[..5], b"FLV\x01\x05");
        assert_eq!(file_header(true, false)[4], 4);
        assert_eq!(file_header(false, true)[4], 1);
        assert_eq!(&FLV_HEADER_AV[5..], &[0, 0, 0, 9, 0, 0, 0, 0]);
    }

    #[test]
    fn tag_layout_with_extended_timestamp() {
        let mut out = BytesMut::new();
        write_tag(9, 0x1234_5678, &[b"ab", b"", b"c"], &mut out);
        assert_eq!(
            &out[..],
            &[9, 0, 0, 3, 0x34, 0x56, 0x78, 0x12, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 14]
        );
    }

    #[test]
    fn oversized_body_is_skipped() {
        let big = vec![0u8; MAX_BODY_SIZE];
        let mut out = BytesMut::new();
        write_tag(8, 0, &[&big, b"x"], &mut out);
        assert!(out.is_empty());
        write_tag(8, 0, &[&big], &mut out);
        assert_eq!(out.len(), MAX_BODY_SIZE + 15);
    }

    #[test]
    fn tag_type_values() {
        for t in [TagType::Audio, TagType::Video, TagType::Script] {
            assert_eq!(TagType::from_u8(t as u8), Some(t));
        }
        assert_eq!(TagType::from_u8(0x28), None);
    }
}
