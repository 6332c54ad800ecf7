//! RTCP (RFC 3550 §6) with `rtcp-types` for the wire format: sender
//! reports out (our NTP↔RTP mapping for players' A/V sync), receiver
//! statistics and reports for what we receive (loss, jitter), and incoming
//! reports read into plain values, including the sender-report mapping a
//! publisher's tracks are synchronised with.
//!
//! No clock is read: the caller passes its wall clock (as NTP) and arrival
//! times (any monotonic `Duration` origin).

use std::time::Duration;

use bytes::Bytes;
use rtcp_types::prelude::*;
use rtcp_types::{
    Compound, Packet as RtcpPacket, ReceiverReport, ReportBlock, SdesBuilder, SdesChunk, SdesItem,
    SenderReport,
};

use crate::error::RtspError;

/// Most RTCP packets read from one compound packet.
pub const MAX_RTCP_PACKETS: usize = 16;

/// Seconds from 1900 (NTP epoch) to 1970 (Unix epoch).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// The 64-bit NTP timestamp (32.32 fixed point seconds since 1900) of a
/// wall-clock time given as time since the Unix epoch.
pub fn ntp_from_unix(since_epoch: Duration) -> u64 {
    let secs = since_epoch.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp, as report blocks quote it.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// What a sender report says: at wall-clock `ntp` the sender's RTP clock
/// read `rtp_timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Wall clock, NTP format.
    pub ntp: u64,
    /// RTP timestamp at that instant.
    pub rtp_timestamp: u32,
    /// Packets sent so far.
    pub packets: u32,
    /// Payload octets sent so far.
    pub octets: u32,
}

impl SenderInfo {
    /// The wall-clock time (NTP) of RTP timestamp `rtp` in a track with
    /// `clock_rate`, by this report's mapping: tracks of one publisher are
    /// put on a common timeline this way. Wrap-safe for timestamps within
    /// 2^31 ticks of the report's.
    pub fn ntp_at(&self, rtp: u32, clock_rate: u32) -> u64 {
        let ticks = i128::from(rtp.wrapping_sub(self.rtp_timestamp) as i32);
        let delta = (ticks << 32) / i128::from(clock_rate.max(1));
        (i128::from(self.ntp) + delta).clamp(0, i128::from(u64::MAX)) as u64
    }
}

/// One report block: how a receiver sees one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportInfo {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, out of 256.
    pub fraction_lost: u8,
    /// Packets lost in total (24-bit signed on the wire).
    pub cumulative_lost: i32,
    /// Highest extended sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
}

/// What an incoming RTCP packet said that weir uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpEvent {
    /// A sender report (from a publisher or camera).
    Sender(SenderInfo),
    /// Report blocks (from a player's RR, or within an SR).
    Reports {
        /// Who reports.
        reporter: u32,
        /// One per source it receives.
        blocks: Vec<ReportInfo>,
    },
    /// The sources are leaving.
    Bye(Vec<u32>),
}

/// Reads a (compound) RTCP packet. Unknown packet types (SDES, APP,
/// feedback) are skipped; a malformed one is an error.
pub fn parse_rtcp(data: &[u8]) -> Result<Vec<RtcpEvent>, RtspError> {
    let compound =
        Compound::parse(data).map_err(|_| RtspError::Rtcp("malformed compound packet"))?;
    let mut events = Vec::new();
    for packet in compound.take(MAX_RTCP_PACKETS) {
        match packet.map_err(|_| RtspError::Rtcp("malformed packet"))? {
            RtcpPacket::Sr(sr) => {
                events.push(RtcpEvent::Sender(SenderInfo {
                    ssrc: sr.ssrc(),
                    ntp: sr.ntp_timestamp(),
                    rtp_timestamp: sr.rtp_timestamp(),
                    packets: sr.packet_count(),
                    octets: sr.octet_count(),
                }));
                let blocks: Vec<ReportInfo> = sr.report_blocks().map(|b| report_info(&b)).collect();
                if !blocks.is_empty() {
                    events.push(RtcpEvent::Reports {
                        reporter: sr.ssrc(),
                        blocks,
                    });
                }
            }
            RtcpPacket::Rr(rr) => events.push(RtcpEvent::Reports {
                reporter: rr.ssrc(),
                blocks: rr.report_blocks().map(|b| report_info(&b)).collect(),
            }),
            RtcpPacket::Bye(bye) => events.push(RtcpEvent::Bye(bye.ssrcs().collect())),
            _ => {}
        }
    }
    Ok(events)
}

fn report_info(b: &ReportBlock<'_>) -> ReportInfo {
    // 24-bit two's complement.
    let lost = b.cumulative_lost() & 0x00FF_FFFF;
    let cumulative_lost = ((lost << 8) as i32) >> 8;
    ReportInfo {
        ssrc: b.ssrc(),
        fraction_lost: b.fraction_lost(),
        cumulative_lost,
        highest_seq: b.extended_sequence_number(),
        jitter: b.interarrival_jitter(),
    }
}

/// A sender report with an SDES CNAME (RFC 3550 §6.1 wants every compound
/// packet to carry one), for a track sent with `ssrc`.
///
/// `ntp` is the caller's wall clock now and `rtp_timestamp` the track's
/// RTP time at that instant; `packets`/`octets` come from
/// [`crate::packetize::Packetizer::counts`].
pub fn sender_report(
    ssrc: u32,
    ntp: u64,
    rtp_timestamp: u32,
    packets: u64,
    octets: u64,
    cname: &str,
) -> Result<Bytes, RtspError> {
    let sr = SenderReport::builder(ssrc)
        .ntp_timestamp(ntp)
        .rtp_timestamp(rtp_timestamp)
        .packet_count(packets as u32)
        .octet_count(octets as u32);
    write_compound(sr, ssrc, cname)
}

fn write_compound(
    first: impl RtcpPacketWriter + 'static,
    ssrc: u32,
    cname: &str,
) -> Result<Bytes, RtspError> {
    let sdes = SdesBuilder::default()
        .add_chunk(SdesChunk::builder(ssrc).add_item(SdesItem::builder(SdesItem::CNAME, cname)));
    let compound = Compound::builder().add_packet(first).add_packet(sdes);
    let size = compound
        .calculate_size()
        .map_err(|_| RtspError::Write("RTCP compound"))?;
    let mut buf = vec![0; size];
    compound
        .write_into(&mut buf)
        .map_err(|_| RtspError::Write("RTCP compound"))?;
    Ok(Bytes::from(buf))
}

/// Reception statistics of one incoming source (RFC 3550 §6.4.1, A.3,
/// A.8): what receiver reports say and what `/stat` shows.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    clock_rate: u32,
    base_seq: Option<u16>,
    max_seq: u64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    last_transit: Option<i64>,
    jitter: f64,
    last_sr: Option<(u32, Duration)>,
}

impl ReceiverStats {
    /// Statistics for a track with this RTP clock rate.
    pub fn new(clock_rate: u32) -> Self {
        ReceiverStats {
            clock_rate: clock_rate.max(1),
            base_seq: None,
            max_seq: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            last_transit: None,
            jitter: 0.0,
            last_sr: None,
        }
    }

    /// Records a received RTP packet and its arrival time.
    pub fn on_rtp(&mut self, seq: u16, rtp_timestamp: u32, arrival: Duration) {
        match self.base_seq {
            None => {
                self.base_seq = Some(seq);
                self.max_seq = u64::from(seq);
            }
            Some(_) => {
                let d = crate::rtp::seq_delta(self.max_seq as u16, seq);
                if d > 0 {
                    self.max_seq += d as u64;
                }
            }
        }
        self.received += 1;
        let arrival_ticks =
            (arrival.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as i64;
        let transit = arrival_ticks.wrapping_sub(i64::from(rtp_timestamp));
        if let Some(last) = self.last_transit {
            // Transit differences wrap with the 32-bit RTP clock.
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// Records a sender report from this source (for LSR/DLSR).
    pub fn on_sender_report(&mut self, ntp: u64, arrival: Duration) {
        self.last_sr = Some((ntp_middle(ntp), arrival));
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> u64 {
        match self.base_seq {
            None => 0,
            Some(base) => self.max_seq - u64::from(base) + 1,
        }
    }

    /// Packets received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets lost (negative with duplicates, as RFC 3550 allows).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in RTP timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    /// A receiver report from `our_ssrc` about source `source_ssrc` at time
    /// `now` (same origin as the arrival times), which also starts the next
    /// fraction-lost interval.
    pub fn receiver_report(
        &mut self,
        our_ssrc: u32,
        source_ssrc: u32,
        now: Duration,
        cname: &str,
    ) -> Result<Bytes, RtspError> {
        let expected = self.expected();
        let interval_expected = expected - self.expected_prior;
        let interval_received = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let interval_lost = interval_expected.saturating_sub(interval_received);
        let fraction = (interval_lost << 8)
            .checked_div(interval_expected)
            .map_or(0, |f| f.min(255) as u8);
        let lost = self.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32;
        let (lsr, dlsr) = match self.last_sr {
            None => (0, 0),
            Some((mid, at)) => {
                let delay = now.saturating_sub(at);
                (
                    mid,
                    ((delay.as_nanos() << 16) / 1_000_000_000).min(u128::from(u32::MAX)) as u32,
                )
            }
        };
        let block = ReportBlock::builder(source_ssrc)
            .fraction_lost(fraction)
            .cumulative_lost((lost as u32) & 0x00FF_FFFF)
            .extended_sequence_number(self.max_seq as u32)
            .interarrival_jitter(self.jitter())
            .last_sender_report_timestamp(lsr)
            .delay_since_last_sender_report_timestamp(dlsr);
        write_compound(
            ReceiverReport::builder(our_ssrc).add_report_block(block),
            our_ssrc,
            cname,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_conversion() {
        let ntp = ntp_from_unix(Duration::new(1, 500_000_000));
        assert_eq!(ntp >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp as u32, 1 << 31);
    }

    #[test]
    fn sender_report_round_trip_and_sync_mapping() {
        let ntp = ntp_from_unix(Duration::from_secs(1_000_000));
        let sr = sender_report(0xABCD, ntp, 90_000, 10, 1000, "weir").unwrap();
        let events = parse_rtcp(&sr).unwrap();
        let [RtcpEvent::Sender(info)] = events.as_slice() else {
            panic!("unexpected {events:?}");
        };
        assert_eq!(
            (
                info.ssrc,
                info.ntp,
                info.rtp_timestamp,
                info.packets,
                info.octets
            ),
            (0xABCD, ntp, 90_000, 10, 1000)
        );
        // One second later in a 90 kHz clock, and half a second earlier.
        assert_eq!(info.ntp_at(180_000, 90_000), ntp + (1 << 32));
        assert_eq!(info.ntp_at(45_000, 90_000), ntp - (1 << 31));
        // Across the RTP wrap.
        let wrapped = SenderInfo {
            rtp_timestamp: u32::MAX - 44_999,
            ..*info
        };
        assert_eq!(wrapped.ntp_at(45_000, 90_000), ntp + (1 << 32));
    }

    #[test]
    fn receiver_stats_and_report() {
        let mut s = ReceiverStats::new(90_000);
        // Packets 100..=110 without 105, every 10 ms with matching timestamps,
        // except one arriving 10 ms late.
        for seq in 100u16..=110 {
            if seq == 105 {
                continue;
            }
            let i = u64::from(seq - 100);
            let late = if seq == 108 { 10 } else { 0 };
            s.on_rtp(seq, (i * 900) as u32, Duration::from_millis(i * 10 + late));
        }
        assert_eq!((s.expected(), s.received(), s.lost()), (11, 10, 1));
        assert!(s.jitter() > 0);
        s.on_sender_report(
            ntp_from_unix(Duration::from_secs(5)),
            Duration::from_millis(50),
        );
        let rr = s
            .receiver_report(1, 2, Duration::from_millis(1050), "weir")
            .unwrap();
        let events = parse_rtcp(&rr).unwrap();
        let [RtcpEvent::Reports {
            reporter: 1,
            blocks,
        }] = events.as_slice()
        else {
            panic!("unexpected {events:?}");
        };
        let b = blocks[0];
        assert_eq!((b.ssrc, b.cumulative_lost, b.highest_seq), (2, 1, 110));
        assert_eq!(b.fraction_lost, (256 / 11) as u8);
        assert_eq!(b.jitter, s.jitter());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_rtcp(&[0x80, 200, 0, 50]).is_err());
        assert!(parse_rtcp(&[]).is_err());
    }
}
