//! H.264 over RTP (RFC 6184): single NAL unit packets, STAP-A and FU-A
//! (packetization modes 0 and 1). STAP-B, MTAP and FU-B belong to the
//! interleaved mode 2, which no camera or encoder we meet uses; they are
//! refused as malformed.

use bytes::Bytes;

use super::video::{split_aggregate, Assembler, Piece};
use super::{AccessUnit, DepacketizerStats};
use crate::error::RtspError;
use crate::rtp::Packet;

/// Reassembles H.264 access units.
#[derive(Debug)]
pub struct H264Depacketizer {
    asm: Assembler,
}

impl Default for H264Depacketizer {
    fn default() -> Self {
        Self::new()
    }
}

impl H264Depacketizer {
    /// A depacketizer waiting for the first IDR.
    pub fn new() -> Self {
        H264Depacketizer {
            asm: Assembler::new(),
        }
    }

    /// Feeds one packet (see [`super::Depacketizer::handle_packet`]).
    pub fn handle_packet(
        &mut self,
        packet: &Packet,
        out: &mut Vec<AccessUnit>,
    ) -> Result<(), RtspError> {
        self.asm
            .handle(packet, out, split, |nal| nal[0] & 0x1f == 5)
    }

    /// What was counted so far.
    pub fn stats(&self) -> DepacketizerStats {
        self.asm.stats()
    }
}

fn split(p: &Bytes, pieces: &mut Vec<Piece>) -> Result<(), RtspError> {
    let Some(&first) = p.first() else {
        return Err(RtspError::Rtp("empty H.264 payload"));
    };
    match first & 0x1f {
        1..=23 => pieces.push(Piece::Whole(p.clone())),
        24 => split_aggregate(p.slice(1..), pieces)?,
        28 => {
            if p.len() < 3 {
                return Err(RtspError::Rtp("FU-A without data"));
            }
            let fu = p[1];
            let start = fu & 0x80 != 0;
            pieces.push(Piece::Fragment {
                start: start.then(|| Bytes::copy_from_slice(&[(first & 0xe0) | (fu & 0x1f)])),
                end: fu & 0x40 != 0,
                data: p.slice(2..),
            });
        }
        _ => return Err(RtspError::Rtp("unsupported H.264 packet type")),
    }
    Ok(())
}
