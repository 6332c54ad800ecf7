//! AV1 configuration: the `AV1CodecConfigurationRecord` (`av1C`) that
//! Enhanced RTMP sends as the sequence start and MP4 stores in the sample
//! entry, the picture size from its sequence header OBU, and the OBU
//! framing of a temporal unit.
//!
//! Fragmented MP4 needs the size and the RFC 6381 codec string
//! (`av01.0.04M.08`); samples go into MP4 without temporal delimiters.

use bytes::Bytes;

use crate::bits::BitReader;
use crate::error::CodecError;

/// OBU types (AV1 spec 6.2.2).
const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;

/// A parsed `AV1CodecConfigurationRecord` (AV1-ISOBMFF 2.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    /// `seq_profile` (0 Main, 1 High, 2 Professional).
    pub profile: u8,
    /// `seq_level_idx_0` (e.g. 8 for level 4.0).
    pub level_idx: u8,
    /// `seq_tier_0`: High tier.
    pub high_tier: bool,
    /// Bits per sample: 8, 10 or 12.
    pub bit_depth: u8,
    /// `mono_chrome`.
    pub monochrome: bool,
    /// `chroma_subsampling_x`, `chroma_subsampling_y`.
    pub subsampling: (bool, bool),
    /// `chroma_sample_position`.
    pub chroma_sample_position: u8,
    /// The configuration OBUs after the 4 fixed bytes (the sequence header
    /// OBU, normally): a slice of the record.
    pub config_obus: Bytes,
}

impl Av1Config {
    /// The RFC 6381 codec string as AV1-ISOBMFF's codecs parameter defines
    /// it: `av01.<profile>.<level><tier>.<bitdepth>`, e.g. `av01.0.04M.08`.
    pub fn codec_string(&self) -> String {
        format!(
            "av01.{}.{:02}{}.{:02}",
            self.profile,
            self.level_idx,
            if self.high_tier { 'H' } else { 'M' },
            self.bit_depth
        )
    }

    /// The sequence header OBU among the configuration OBUs, parsed.
    pub fn sequence_header(&self) -> Result<SequenceHeader, CodecError> {
        for obu in Obus::new(&self.config_obus) {
            let obu = obu?;
            if obu.obu_type == OBU_SEQUENCE_HEADER {
                return parse_sequence_header(obu.payload);
            }
        }
        Err(CodecError::Invalid {
            what: "av1C configOBUs: no sequence header OBU",
            offset: 4,
            value: self.config_obus.len() as u64,
        })
    }
}

/// Parses an `AV1CodecConfigurationRecord`: marker and version 1, then the
/// sequence's profile, level, tier and colour format.
pub fn parse_av1_config(record: &Bytes) -> Result<Av1Config, CodecError> {
    if record.len() < 4 {
        return Err(CodecError::Short {
            what: "AV1CodecConfigurationRecord",
            offset: 0,
            needed: 4,
            len: record.len(),
        });
    }
    if record[0] != 0x81 {
        return Err(CodecError::Invalid {
            what: "av1C marker and version",
            offset: 0,
            value: u64::from(record[0]),
        });
    }
    let b2 = record[2];
    let high_bitdepth = b2 & 0x40 != 0;
    let twelve_bit = b2 & 0x20 != 0;
    Ok(Av1Config {
        profile: record[1] >> 5,
        level_idx: record[1] & 0x1F,
        high_tier: b2 & 0x80 != 0,
        bit_depth: match (high_bitdepth, twelve_bit) {
            (true, true) => 12,
            (true, false) => 10,
            _ => 8,
        },
        monochrome: b2 & 0x10 != 0,
        subsampling: (b2 & 0x08 != 0, b2 & 0x04 != 0),
        chroma_sample_position: b2 & 0x03,
        config_obus: record.slice(4..),
    })
}

/// What fragmented MP4 needs of a sequence header OBU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceHeader {
    /// `seq_profile`.
    pub profile: u8,
    /// `seq_level_idx[0]`.
    pub level_idx: u8,
    /// `max_frame_width_minus_1 + 1`.
    pub width: u32,
    /// `max_frame_height_minus_1 + 1`.
    pub height: u32,
}

/// Reads a sequence header OBU's payload (AV1 spec 5.5.1) up to the
/// maximum frame size.
pub fn parse_sequence_header(payload: &[u8]) -> Result<SequenceHeader, CodecError> {
    let mut r = BitReader::new(payload, "AV1 sequence header");
    let profile = r.u8(3)?;
    let _still_picture = r.bit()?;
    let reduced_still_picture_header = r.bit()?;
    let level_idx;
    if reduced_still_picture_header {
        level_idx = r.u8(5)?;
    } else {
        let mut buffer_delay_length = 0;
        let mut decoder_model_info_present = false;
        if r.bit()? {
            // timing_info()
            r.bits(32)?;
            r.bits(32)?;
            if r.bit()? {
                uvlc(&mut r)?;
            }
            decoder_model_info_present = r.bit()?;
            if decoder_model_info_present {
                buffer_delay_length = r.bits(5)? + 1;
                r.bits(32)?;
                r.bits(5)?;
                r.bits(5)?;
            }
        }
        let initial_display_delay_present = r.bit()?;
        let operating_points = r.u8(5)? + 1;
        let mut first_level = 0;
        for i in 0..operating_points {
            r.bits(12)?;
            let level = r.u8(5)?;
            if i == 0 {
                first_level = level;
            }
            if level > 7 {
                r.bit()?;
            }
            if decoder_model_info_present && r.bit()? {
                r.bits(buffer_delay_length)?;
                r.bits(buffer_delay_length)?;
                r.bit()?;
            }
            if initial_display_delay_present && r.bit()? {
                r.bits(4)?;
            }
        }
        level_idx = first_level;
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    let width = r.bits(width_bits)? as u64 + 1;
    let height = r.bits(height_bits)? as u64 + 1;
    Ok(SequenceHeader {
        profile,
        level_idx,
        width: u32::try_from(width).unwrap_or(u32::MAX),
        height: u32::try_from(height).unwrap_or(u32::MAX),
    })
}

/// AV1's `uvlc()`: leading zeros, then that many bits.
fn uvlc(r: &mut BitReader<'_>) -> Result<u32, CodecError> {
    let mut zeros = 0;
    while !r.bit()? {
        zeros += 1;
        if zeros >= 32 {
            return Ok(u32::MAX);
        }
    }
    Ok(r.bits(zeros)?.saturating_add((1u32 << zeros) - 1))
}

/// One OBU of a temporal unit in the low-overhead format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obu<'a> {
    /// `obu_type`.
    pub obu_type: u8,
    /// The header byte as it came (type, extension and size flags).
    pub header: u8,
    /// The extension byte (temporal and spatial ids), when the header says
    /// there is one.
    pub extension: Option<u8>,
    /// The payload after the header (and extension byte and size field).
    pub payload: &'a [u8],
    /// Header, size field and payload: the whole OBU.
    pub len: usize,
}

/// Iterates over the OBUs of a temporal unit whose OBUs all carry a size
/// field (the low-overhead format MP4 and Enhanced RTMP use). An OBU without
/// one extends to the end of the data, as the spec allows for the last.
#[derive(Debug, Clone)]
pub struct Obus<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Obus<'a> {
    /// The OBUs of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Obus {
            data,
            pos: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for Obus<'a> {
    type Item = Result<Obu<'a>, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let result = read_obu(&self.data[self.pos..]).map_err(|e| match e {
            CodecError::Short { needed, len, .. } => CodecError::Short {
                what: "AV1 OBU",
                offset: self.pos,
                needed,
                len,
            },
            e => e,
        });
        match result {
            Ok(obu) => {
                self.pos += obu.len;
                Some(Ok(obu))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn read_obu(data: &[u8]) -> Result<Obu<'_>, CodecError> {
    let short = |needed| CodecError::Short {
        what: "AV1 OBU",
        offset: 0,
        needed,
        len: data.len(),
    };
    let header = *data.first().ok_or(short(1))?;
    if header & 0x80 != 0 {
        return Err(CodecError::Invalid {
            what: "AV1 OBU forbidden bit",
            offset: 0,
            value: u64::from(header),
        });
    }
    let obu_type = (header >> 3) & 0xF;
    let mut pos = 1 + usize::from(header & 0x04 != 0);
    if data.len() < pos {
        return Err(short(pos));
    }
    let extension = (pos == 2).then(|| data[1]);
    let size = if header & 0x02 != 0 {
        let (size, n) = leb128(&data[pos..]).ok_or(short(pos + 1))?;
        pos += n;
        usize::try_from(size).map_err(|_| short(usize::MAX))?
    } else {
        data.len() - pos
    };
    let end = pos.checked_add(size).ok_or(short(usize::MAX))?;
    if end > data.len() {
        return Err(short(end));
    }
    Ok(Obu {
        obu_type,
        header,
        extension,
        payload: &data[pos..end],
        len: end,
    })
}

/// An unsigned LEB128 value of at most 8 bytes, and its length.
fn leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// `temporal_unit` without its leading temporal delimiter OBU, which
/// AV1-ISOBMFF says samples should not carry (Enhanced RTMP publishers such
/// as ffmpeg send one). A slice: no copy.
pub fn strip_temporal_delimiter(temporal_unit: &Bytes) -> Bytes {
    match read_obu(temporal_unit) {
        Ok(obu) if obu.obu_type == OBU_TEMPORAL_DELIMITER => temporal_unit.slice(obu.len..),
        _ => temporal_unit.clone(),
    }
}

#[cfg(test)]
#[path = "av1_tests.rs"]
mod tests;
