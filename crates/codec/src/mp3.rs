//! MPEG audio (MP3) frame headers: what Enhanced RTMP's `.mp3` FourCC
//! leaves to the payload (sampling rate, channels), which FLV's legacy
//! header states in its own byte.

use crate::error::CodecError;

/// Sampling rate (Hz) and whether the stream is stereo (any mode but
/// single channel), from the first MPEG audio frame header of `frame`.
pub fn frame_format(frame: &[u8]) -> Result<(u32, bool), CodecError> {
    if frame.len() < 4 {
        return Err(CodecError::Short {
            what: "MPEG audio frame header",
            offset: 0,
            needed: 4,
            len: frame.len(),
        });
    }
    if frame[0] != 0xFF || frame[1] & 0xE0 != 0xE0 {
        return Err(CodecError::Invalid {
            what: "MPEG audio sync word",
            offset: 0,
            value: u64::from(u16::from_be_bytes([frame[0], frame[1]])),
        });
    }
    let version = (frame[1] >> 3) & 3;
    let index = usize::from((frame[2] >> 2) & 3);
    if version == 1 || index == 3 {
        return Err(CodecError::Invalid {
            what: "MPEG audio version or sampling rate index",
            offset: 1,
            value: u64::from(u16::from_be_bytes([frame[1], frame[2]])),
        });
    }
    let base = [44_100, 48_000, 32_000][index];
    let rate = match version {
        3 => base,     // MPEG-1
        2 => base / 2, // MPEG-2
        _ => base / 4, // MPEG-2.5
    };
    Ok((rate, frame[3] >> 6 != 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        // MPEG-1 layer III, 44.1 kHz, joint stereo.
        assert_eq!(
            frame_format(&[0xff, 0xfb, 0x90, 0x44]).unwrap(),
            (44_100, true)
        );
        // MPEG-2 layer III, 24 kHz, mono.
        assert_eq!(
            frame_format(&[0xff, 0xf3, 0x84, 0xc4]).unwrap(),
            (24_000, false)
        );
        // MPEG-2.5, 8 kHz.
        assert_eq!(
            frame_format(&[0xff, 0xe3, 0x88, 0x00]).unwrap(),
            (8_000, true)
        );
        assert!(frame_format(&[0xff, 0xfb, 0x9c, 0x44]).is_err());
        assert!(frame_format(&[0x00, 0xfb, 0x90, 0x44]).is_err());
        assert!(frame_format(&[0xff]).is_err());
    }
}
