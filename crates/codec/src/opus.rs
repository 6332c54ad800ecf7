//! Opus: the Ogg identification header (`OpusHead`, RFC 7845 5.1) that
//! Enhanced RTMP sends as the sequence start, and the duration of a packet
//! from its TOC byte (RFC 6716 3.1), which fragmented MP4 needs per sample
//! since Opus packets last 2.5 to 120 ms.

use bytes::Bytes;

use crate::error::CodecError;

/// Opus always decodes at 48 kHz: the timescale of its samples.
pub const OPUS_RATE: u32 = 48_000;

/// The `OpusHead` of a source that sends none (RTP's Opus is always
/// `opus/48000/2`): stereo, no pre-skip, 48 kHz, no gain, family 0.
pub const DEFAULT_HEAD: &[u8] = b"OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x00";

/// A parsed `OpusHead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channels.
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the decoder's output at the start.
    pub pre_skip: u16,
    /// The encoder's input rate, informational.
    pub input_sample_rate: u32,
    /// Output gain, Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family.
    pub mapping_family: u8,
    /// For family ≠ 0: stream count, coupled count and the mapping table.
    pub mapping: Option<(u8, u8, Bytes)>,
}

/// Parses an `OpusHead` packet (magic, version 1, fields little-endian).
pub fn parse_opus_head(head: &Bytes) -> Result<OpusHead, CodecError> {
    let short = |needed| CodecError::Short {
        what: "OpusHead",
        offset: 0,
        needed,
        len: head.len(),
    };
    if head.len() < 19 {
        return Err(short(19));
    }
    if &head[..8] != b"OpusHead" {
        return Err(CodecError::Invalid {
            what: "OpusHead magic",
            offset: 0,
            value: u64::from_be_bytes(head[..8].try_into().unwrap_or_default()),
        });
    }
    // Versions 0–15 are compatible with 1 (RFC 7845: the upper bits mark
    // incompatible ones).
    if head[8] >> 4 != 0 {
        return Err(CodecError::Invalid {
            what: "OpusHead version",
            offset: 8,
            value: u64::from(head[8]),
        });
    }
    let channels = head[9];
    if channels == 0 {
        return Err(CodecError::Invalid {
            what: "OpusHead channel count",
            offset: 9,
            value: 0,
        });
    }
    let mapping_family = head[18];
    let mapping = if mapping_family == 0 {
        None
    } else {
        let end = 21 + usize::from(channels);
        if head.len() < end {
            return Err(short(end));
        }
        Some((head[19], head[20], head.slice(21..end)))
    };
    Ok(OpusHead {
        channels,
        pre_skip: u16::from_le_bytes([head[10], head[11]]),
        input_sample_rate: u32::from_le_bytes([head[12], head[13], head[14], head[15]]),
        output_gain: i16::from_le_bytes([head[16], head[17]]),
        mapping_family,
        mapping,
    })
}

/// The samples (at 48 kHz) an Opus packet decodes to, from its TOC byte
/// and frame count; `None` for an empty packet or a code-3 packet without
/// its count byte.
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 48 kHz samples: SILK 10/20/40/60 ms, hybrid 10/20 ms,
    // CELT 2.5/5/10/20 ms.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3F),
    };
    Some(frame * frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sequence start ffmpeg 9 (libopus, stereo) sends.
    const HEAD: &[u8] = b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";

    #[test]
    fn reads_ffmpegs_opus_head() {
        let h = parse_opus_head(&Bytes::from_static(HEAD)).unwrap();
        assert_eq!(
            (h.channels, h.pre_skip, h.input_sample_rate),
            (2, 312, 48_000)
        );
        assert_eq!((h.mapping_family, h.mapping), (0, None));
        assert!(parse_opus_head(&Bytes::from_static(&HEAD[..18])).is_err());
        assert!(parse_opus_head(&Bytes::from_static(
            b"OpusHeaX\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
        ))
        .is_err());
        // Family 1 without its table.
        let mut h = HEAD.to_vec();
        h[18] = 1;
        assert!(parse_opus_head(&Bytes::from(h.clone())).is_err());
        h.extend_from_slice(&[1, 1, 0, 1]);
        let h = parse_opus_head(&Bytes::from(h)).unwrap();
        assert_eq!(h.mapping, Some((1, 1, Bytes::from_static(&[0, 1]))));
    }

    #[test]
    fn packet_durations() {
        assert_eq!(packet_samples(&[0xfc, 0x7e]), Some(960)); // CELT FB 20 ms
        assert_eq!(packet_samples(&[0x78]), Some(960)); // hybrid config 15: 20 ms
        assert_eq!(packet_samples(&[0x00]), Some(480)); // SILK 10 ms
        assert_eq!(packet_samples(&[0x19]), Some(2 * 2880)); // SILK 60 ms, two frames
        assert_eq!(packet_samples(&[0x83, 0x05]), Some(5 * 120)); // CELT 2.5 ms, five
        assert_eq!(packet_samples(&[0x83]), None);
        assert_eq!(packet_samples(&[]), None);
    }
}
