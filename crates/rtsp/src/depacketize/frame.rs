//! Payload formats where one packet is one frame: Opus (RFC 7587) and
//! G.711 (RFC 3551 PCMA/PCMU). Nothing to reassemble; losses are only
//! counted, since each frame decodes on its own.

use super::{AccessUnit, DepacketizerStats, MAX_AUDIO_FRAME};
use crate::error::RtspError;
use crate::rtp::{Packet, TimestampExtender};

/// Turns each packet into one frame.
#[derive(Debug, Default)]
pub struct FrameDepacketizer {
    last_seq: Option<u16>,
    ext: TimestampExtender,
    stats: DepacketizerStats,
}

impl FrameDepacketizer {
    /// A fresh depacketizer.
    pub fn new() -> Self {
        Self::default()
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
        if self
            .stats
            .sequence(&mut self.last_seq, packet.seq)
            .is_none()
        {
            return Ok(());
        }
        if packet.payload.is_empty() || packet.payload.len() > MAX_AUDIO_FRAME {
            self.stats.bad_packets += 1;
            return Err(RtspError::Rtp("empty or oversized audio frame"));
        }
        self.stats.units += 1;
        out.push(AccessUnit {
            timestamp: self.ext.extend(packet.timestamp),
            units: vec![packet.payload.clone()],
            keyframe: true,
        });
        Ok(())
    }
}
