//! AAC in `mpeg4-generic` (RFC 3640), mode AAC-hbr: an AU-headers section
//! (AU-size, AU-Index / AU-Index-delta per frame), then the frames. A
//! packet carries several whole frames, or one fragment of a frame too big
//! for the MTU (every fragment repeats the full AU-size).
//!
//! Interleaving (non-zero AU-Index-delta) is not used by encoders we meet;
//! frames are taken in packet order, each [`AAC_SAMPLES_PER_FRAME`] after
//! the previous.

use bytes::{Bytes, BytesMut};

use super::{AccessUnit, DepacketizerStats, AAC_SAMPLES_PER_FRAME, MAX_AUDIO_FRAME};
use crate::error::RtspError;
use crate::rtp::{Packet, TimestampExtender};
use crate::sdp::AacParams;

/// Most AU headers read from one packet.
const MAX_AUS_PER_PACKET: usize = 128;

/// Reassembles AAC frames.
#[derive(Debug)]
pub struct AacDepacketizer {
    size_length: u8,
    index_length: u8,
    index_delta_length: u8,
    last_seq: Option<u16>,
    /// A fragmented frame: its RTP timestamp, expected size, bytes so far.
    frag: Option<(u32, usize, BytesMut)>,
    ext: TimestampExtender,
    stats: DepacketizerStats,
}

impl AacDepacketizer {
    /// A depacketizer for the SDP's AU header layout.
    pub fn new(params: &AacParams) -> Self {
        AacDepacketizer {
            size_length: params.size_length,
            index_length: params.index_length,
            index_delta_length: params.index_delta_length,
            last_seq: None,
            frag: None,
            ext: TimestampExtender::new(),
            stats: DepacketizerStats::default(),
        }
    }

    /// What was counted so far.
    pub fn stats(&self) -> DepacketizerStats {
        self.stats
    }

    /// Feeds one packet (see [`super::Depacketizer::handle_packet`]).
    pub fn handle_packet(
        &mut self,
        packet: &Packet,
        out: &mut Vec<AccessUnit>,
    ) -> Result<(), RtspError> {
        let Some(gap) = self.stats.sequence(&mut self.last_seq, packet.seq) else {
            return Ok(());
        };
        if let Some((ts, _, _)) = &self.frag {
            if gap || *ts != packet.timestamp {
                self.frag = None;
                self.stats.dropped_units += 1;
            }
        }
        let result = self.parse(packet, out);
        if result.is_err() {
            self.stats.bad_packets += 1;
            if self.frag.take().is_some() {
                self.stats.dropped_units += 1;
            }
        }
        result
    }

    fn parse(&mut self, packet: &Packet, out: &mut Vec<AccessUnit>) -> Result<(), RtspError> {
        let p = &packet.payload;
        if p.len() < 2 {
            return Err(RtspError::Rtp("AAC payload without AU-headers-length"));
        }
        let header_bits = usize::from(u16::from_be_bytes([p[0], p[1]]));
        let header_bytes = header_bits.div_ceil(8);
        if 2 + header_bytes > p.len() {
            return Err(RtspError::Rtp("AU headers beyond the packet"));
        }
        let mut bits = BitReader::new(&p[2..2 + header_bytes], header_bits);
        let mut sizes = Vec::new();
        loop {
            let index_bits = if sizes.is_empty() {
                self.index_length
            } else {
                self.index_delta_length
            };
            let need = usize::from(self.size_length) + usize::from(index_bits);
            if bits.remaining() < need {
                break;
            }
            if sizes.len() == MAX_AUS_PER_PACKET {
                return Err(RtspError::Rtp("too many AU headers"));
            }
            let size = bits.read(self.size_length) as usize;
            bits.read(index_bits);
            sizes.push(size);
        }
        if sizes.is_empty() {
            return Err(RtspError::Rtp("no AU header"));
        }
        let data = p.slice(2 + header_bytes..);
        if let Some((ts, size, mut buf)) = self.frag.take() {
            // A continuation: same timestamp (checked), same AU-size.
            if sizes.len() != 1 || sizes[0] != size || buf.len() + data.len() > size {
                self.stats.dropped_units += 1;
                return Err(RtspError::Rtp("bad AAC fragment"));
            }
            buf.extend_from_slice(&data);
            if buf.len() == size {
                self.emit(ts, 0, buf.freeze(), out);
            } else if packet.marker {
                self.stats.dropped_units += 1;
                return Err(RtspError::Rtp("AAC fragment ended short"));
            } else {
                self.frag = Some((ts, size, buf));
            }
            return Ok(());
        }
        if sizes.len() == 1 && sizes[0] > data.len() {
            if sizes[0] > MAX_AUDIO_FRAME || packet.marker {
                return Err(RtspError::Rtp("AAC frame larger than its packet"));
            }
            let mut buf = BytesMut::with_capacity(sizes[0]);
            buf.extend_from_slice(&data);
            self.frag = Some((packet.timestamp, sizes[0], buf));
            return Ok(());
        }
        if sizes.iter().sum::<usize>() > data.len() {
            return Err(RtspError::Rtp("AU sizes beyond the packet"));
        }
        let mut at = 0;
        for (i, size) in sizes.into_iter().enumerate() {
            self.emit(packet.timestamp, i as u64, data.slice(at..at + size), out);
            at += size;
        }
        Ok(())
    }

    fn emit(&mut self, ts: u32, index: u64, frame: Bytes, out: &mut Vec<AccessUnit>) {
        let base = self.ext.extend(ts);
        if frame.is_empty() {
            return;
        }
        self.stats.units += 1;
        out.push(AccessUnit {
            timestamp: base + index * AAC_SAMPLES_PER_FRAME,
            units: vec![frame],
            keyframe: true,
        });
    }
}

/// MSB-first bit reader over at most `limit` bits of a slice.
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    limit: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8], limit: usize) -> Self {
        BitReader {
            data,
            pos: 0,
            limit: limit.min(data.len() * 8),
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.limit - self.pos
    }

    /// Reads `n` (≤ 32) bits; past the end reads zeros (callers check
    /// [`BitReader::remaining`] first).
    pub(super) fn read(&mut self, n: u8) -> u32 {
        let mut v = 0u32;
        for _ in 0..n {
            let bit = if self.pos < self.limit {
                (self.data[self.pos / 8] >> (7 - self.pos % 8)) & 1
            } else {
                0
            };
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        v
    }
}
