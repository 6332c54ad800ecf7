//! H.265 over RTP (RFC 7798): single NAL unit packets, aggregation packets
//! (AP) and fragmentation units (FU), without DONL (`sprop-max-don-diff`
//! 0, what every encoder sends). PACI packets are refused as malformed.

use bytes::Bytes;

use super::video::{split_aggregate, Assembler, Piece};
use super::{AccessUnit, DepacketizerStats};
use crate::error::RtspError;
use crate::rtp::Packet;

/// Reassembles H.265 access units.
#[derive(Debug)]
pub struct H265Depacketizer {
    asm: Assembler,
}

impl Default for H265Depacketizer {
    fn default() -> Self {
        Self::new()
    }
}

impl H265Depacketizer {
    /// A depacketizer waiting for the first IRAP picture.
    pub fn new() -> Self {
        H265Depacketizer {
            asm: Assembler::new(),
        }
    }

    /// Feeds one packet (see [`super::Depacketizer::handle_packet`]).
    pub fn handle_packet(
        &mut self,
        packet: &Packet,
        out: &mut Vec<AccessUnit>,
    ) -> Result<(), RtspError> {
        self.asm.handle(packet, out, split, is_irap)
    }

    /// What was counted so far.
    pub fn stats(&self) -> DepacketizerStats {
        self.asm.stats()
    }
}

/// BLA, IDR and CRA pictures (types 16–21): where decoding can start.
fn is_irap(nal: &[u8]) -> bool {
    (16..=21).contains(&((nal[0] >> 1) & 0x3f))
}

fn split(p: &Bytes, pieces: &mut Vec<Piece>) -> Result<(), RtspError> {
    if p.len() < 3 {
        return Err(RtspError::Rtp("H.265 payload shorter than 3 bytes"));
    }
    match (p[0] >> 1) & 0x3f {
        0..=47 => pieces.push(Piece::Whole(p.clone())),
        48 => split_aggregate(p.slice(2..), pieces)?,
        49 => {
            if p.len() < 4 {
                return Err(RtspError::Rtp("FU without data"));
            }
            let fu = p[2];
            let start = fu & 0x80 != 0;
            pieces.push(Piece::Fragment {
                start: start
                    .then(|| Bytes::copy_from_slice(&[(p[0] & 0x81) | ((fu & 0x3f) << 1), p[1]])),
                end: fu & 0x40 != 0,
                data: p.slice(3..),
            });
        }
        _ => return Err(RtspError::Rtp("unsupported H.265 packet type")),
    }
    Ok(())
}
