//! The crate's single error type.

use std::fmt;

use thiserror::Error;

/// Everything that can go wrong reading FLV data.
///
/// Stream-level variants carry the absolute byte offset in the stream fed to
/// the [`Demuxer`](crate::Demuxer), so a broken file or connection can be
/// diagnosed with a hex dump; body-level variants carry the offset inside the
/// tag body, because a body arrives detached from its stream (e.g. as an
/// RTMP message).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlvError {
    /// The stream does not start with `"FLV"`.
    #[error("not an FLV stream: bad signature at byte {offset}")]
    Signature {
        /// Stream offset of the header.
        offset: u64,
    },
    /// The file header names a version other than 1, the only one defined.
    #[error("unsupported FLV version {version} at byte {offset}")]
    Version {
        /// The version byte found.
        version: u8,
        /// Stream offset of the version byte.
        offset: u64,
    },
    /// The header's DataOffset is smaller than the header itself.
    #[error("FLV header size {size} is smaller than 9 bytes, at byte {offset}")]
    HeaderSize {
        /// The DataOffset field.
        size: u32,
        /// Stream offset of the field.
        offset: u64,
    },
    /// A tag type other than audio (8), video (9) or script (18); also what
    /// a desynchronised or encrypted (filter bit set) stream looks like.
    #[error("tag at byte {offset}: unknown tag type {tag_type:#04x}")]
    TagType {
        /// The tag type byte found.
        tag_type: u8,
        /// Stream offset of the tag.
        offset: u64,
    },
    /// A tag announces a body larger than the configured limit.
    #[error("tag at byte {offset}: body of {size} bytes exceeds the {max}-byte limit")]
    TagTooLarge {
        /// The announced body size.
        size: u32,
        /// The configured limit.
        max: u32,
        /// Stream offset of the tag.
        offset: u64,
    },
    /// The input ended inside a header or tag.
    #[error("stream ends inside {what} at byte {offset} ({missing} more bytes needed)")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Stream offset where it started.
        offset: u64,
        /// How many more bytes it needed.
        missing: u64,
    },
    /// A tag body is shorter than its fields require.
    #[error("{what}: needs {needed} bytes at offset {offset}, only {len} available")]
    Short {
        /// The structure being read.
        what: &'static str,
        /// Offset inside the body where the read started.
        offset: usize,
        /// Bytes the read needed.
        needed: usize,
        /// Bytes the body has.
        len: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what} at offset {offset}: invalid value {value}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// Offset of the field inside the tag body.
        offset: usize,
        /// The value found.
        value: u64,
    },
    /// A payload's own header (e.g. an MP3 frame header after Enhanced
    /// RTMP's `.mp3` FourCC) could not be read.
    #[error("{what}: {reason}")]
    Codec {
        /// The structure.
        what: &'static str,
        /// Why it could not be read.
        reason: String,
    },
    /// An audio or video tag in a codec weir does not carry (legacy Flash
    /// codecs such as Sorenson H.263, VP6, Nellymoser, Speex, or an
    /// Enhanced RTMP FourCC weir has no [`Codec`](weir_media::Codec) for).
    /// Only FLV could carry such frames, so they are refused here rather
    /// than smuggled through the hub as opaque FLV bytes. The stream itself
    /// is fine: a caller should drop the tag, count it and go on.
    #[error("{0} is not supported: tag dropped")]
    UnsupportedCodec(UnsupportedCodec),
}

/// The codec of a tag [`FlvError::UnsupportedCodec`] refused, as the tag
/// named it, so that it can be logged by name and counted by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnsupportedCodec {
    /// A legacy video tag's CodecID (the low nibble of its first byte).
    Video(u8),
    /// A legacy audio tag's SoundFormat (the high nibble of its first byte).
    Audio(u8),
    /// An Enhanced RTMP video FourCC.
    VideoFourCc([u8; 4]),
    /// An Enhanced RTMP audio FourCC.
    AudioFourCc([u8; 4]),
}

impl fmt::Display for UnsupportedCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            UnsupportedCodec::Video(id) => {
                let name = match id {
                    1 => "JPEG",
                    2 => "Sorenson H.263",
                    3 => "Screen video",
                    4 => "On2 VP6",
                    5 => "On2 VP6 with alpha",
                    6 => "Screen video v2",
                    _ => "unknown",
                };
                write!(f, "FLV video codec {id} ({name})")
            }
            UnsupportedCodec::Audio(id) => {
                let name = match id {
                    0 => "linear PCM, platform endian",
                    1 => "ADPCM",
                    3 => "linear PCM, little endian",
                    4..=6 => "Nellymoser",
                    11 => "Speex",
                    15 => "device-specific",
                    _ => "unknown",
                };
                write!(f, "FLV sound format {id} ({name})")
            }
            UnsupportedCodec::VideoFourCc(cc) => {
                write!(
                    f,
                    "Enhanced RTMP video codec {:?}",
                    String::from_utf8_lossy(&cc)
                )
            }
            UnsupportedCodec::AudioFourCc(cc) => {
                write!(
                    f,
                    "Enhanced RTMP audio codec {:?}",
                    String::from_utf8_lossy(&cc)
                )
            }
        }
    }
}
