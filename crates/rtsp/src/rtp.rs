//! RTP packets (RFC 3550 §5.1) as the depacketizers see them, and the
//! wrap-safe extension of 16-bit sequence numbers and 32-bit timestamps.
//!
//! Parsing is `rtp-types`' (zero-copy, checks version, CSRC count, extension
//! and padding lengths); we keep the payload as a slice of the shared
//! `Bytes` so NAL units and audio frames reach the hub without a copy.

use bytes::Bytes;

use crate::error::RtspError;

/// A parsed RTP packet whose payload shares the received buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp in the track's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Marker bit: the last packet of a video access unit.
    pub marker: bool,
    /// The payload, without header, extension or padding.
    pub payload: Bytes,
}

impl Packet {
    /// Parses a received datagram or interleaved frame.
    pub fn parse(data: Bytes) -> Result<Packet, RtspError> {
        let p = rtp_types::RtpPacket::parse(&data[..]).map_err(|e| {
            RtspError::Rtp(match e {
                rtp_types::RtpParseError::UnsupportedVersion(_) => "version is not 2",
                rtp_types::RtpParseError::Truncated { .. } => "truncated",
                rtp_types::RtpParseError::PaddingInvalid(_) => "bad padding",
            })
        })?;
        let start = p.payload_offset();
        let end = start + p.payload_len();
        Ok(Packet {
            payload_type: p.payload_type(),
            seq: p.sequence_number(),
            timestamp: p.timestamp(),
            ssrc: p.ssrc(),
            marker: p.marker_bit(),
            payload: data.slice(start..end),
        })
    }

    /// Writes the packet (no CSRCs, no extension) with its payload made of
    /// `parts`, which avoids joining a header and a NAL unit first.
    pub fn write(
        payload_type: u8,
        seq: u16,
        timestamp: u32,
        ssrc: u32,
        marker: bool,
        parts: &[&[u8]],
    ) -> Result<Bytes, RtspError> {
        let mut b = rtp_types::RtpPacketBuilder::<&[u8], &[u8]>::new()
            .payload_type(payload_type)
            .sequence_number(seq)
            .timestamp(timestamp)
            .ssrc(ssrc)
            .marker_bit(marker);
        for p in parts {
            b = b.payload(p);
        }
        b.write_vec()
            .map(Bytes::from)
            .map_err(|_| RtspError::Write("RTP packet"))
    }
}

/// Extends a wrapping 32-bit RTP timestamp to 64 bits.
///
/// Each value is placed at the nearest position to the previous one (a step
/// of less than 2^31 either way), so wraps and small reorderings are both
/// handled. The first value is raised by 2^32 so that an early packet from
/// just before it cannot go below zero; callers rebase to their first
/// frame anyway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampExtender {
    last: Option<u64>,
}

impl TimestampExtender {
    /// A fresh extender.
    pub fn new() -> Self {
        Self::default()
    }

    /// The 64-bit form of `ts`.
    pub fn extend(&mut self, ts: u32) -> u64 {
        let ext = match self.last {
            None => (1u64 << 32) | u64::from(ts),
            Some(last) => {
                let delta = i64::from(ts.wrapping_sub(last as u32) as i32);
                last.saturating_add_signed(delta)
            }
        };
        self.last = Some(ext);
        ext
    }
}

/// The signed distance from sequence number `a` to `b` (positive when `b`
/// is later), valid for gaps under 2^15.
pub fn seq_delta(a: u16, b: u16) -> i16 {
    b.wrapping_sub(a) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_write_round_trip() {
        let bytes = Packet::write(96, 65535, 0xFFFF_FFF0, 7, true, &[b"ab", b"cd"]).unwrap();
        let p = Packet::parse(bytes).unwrap();
        assert_eq!(p.payload_type, 96);
        assert_eq!(p.seq, 65535);
        assert_eq!(p.timestamp, 0xFFFF_FFF0);
        assert_eq!(p.ssrc, 7);
        assert!(p.marker);
        assert_eq!(&p.payload[..], b"abcd");
        assert!(Packet::parse(Bytes::from_static(&[0x80, 96])).is_err());
        assert!(Packet::parse(Bytes::from_static(&[0x40; 12])).is_err());
    }

    #[test]
    fn timestamps_extend_across_wrap_and_reorder() {
        let mut e = TimestampExtender::new();
        let base = e.extend(0xFFFF_FF00);
        assert_eq!(e.extend(0x0000_0100), base + 0x200);
        assert_eq!(e.extend(0xFFFF_FF80), base + 0x80);
        assert_eq!(e.extend(0x0000_0200), base + 0x300);
        assert_eq!(seq_delta(65535, 1), 2);
        assert_eq!(seq_delta(1, 65535), -2);
    }
}
