//! What players say of their reception: RTCP receiver reports (on the
//! interleaved RTCP channel or the shared UDP RTCP port) read into the
//! client's [`PacketStats`], so the API shows a UDP player's losses and
//! jitter as weir's own counters never could.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use weir_hub::PacketStats;
use weir_rtsp::rtcp::{parse_rtcp, ReportInfo, RtcpEvent};

/// The latest report block per described track, and the packets sent.
#[derive(Debug, Default)]
pub(crate) struct PlayerReports {
    /// By SDP index: the track's clock rate and its latest report.
    tracks: Vec<(u32, Option<ReportInfo>)>,
    /// RTP packets sent to this player, by its task or, while it is
    /// parked, by the stream's write pass.
    sent: Arc<AtomicU64>,
}

impl PlayerReports {
    /// Reports for a player of tracks with these clock rates (SDP order).
    pub(crate) fn new(clocks: impl IntoIterator<Item = u32>) -> Self {
        PlayerReports {
            tracks: clocks.into_iter().map(|c| (c.max(1), None)).collect(),
            sent: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts packets sent to the player.
    pub(crate) fn add_sent(&self, packets: u64) {
        self.sent.fetch_add(packets, Ordering::Relaxed);
    }

    /// The sent-packets counter, for the write pass of a parked player.
    pub(crate) fn sent_counter(&self) -> Arc<AtomicU64> {
        self.sent.clone()
    }

    /// An RTCP packet from the player on `track`'s channel. Returns
    /// whether it held a report (the stats changed); `Err` when it was
    /// malformed.
    pub(crate) fn on_rtcp(&mut self, track: usize, data: &[u8]) -> Result<bool, ()> {
        let events = parse_rtcp(data).map_err(|_| ())?;
        let Some((_, slot)) = self.tracks.get_mut(track) else {
            return Ok(false);
        };
        let mut changed = false;
        for event in events {
            if let RtcpEvent::Reports { blocks, .. } = event {
                // A player receives one source per track: ours.
                if let Some(block) = blocks.first() {
                    *slot = Some(*block);
                    changed = true;
                }
            }
        }
        Ok(changed)
    }

    /// Packets sent, lost by the players' account, and the worst track's
    /// jitter.
    pub(crate) fn stats(&self) -> PacketStats {
        let mut stats = PacketStats {
            packets: self.sent.load(Ordering::Relaxed),
            ..PacketStats::default()
        };
        for (clock, report) in &self.tracks {
            let Some(r) = report else { continue };
            stats.lost += u64::try_from(r.cumulative_lost).unwrap_or(0);
            let jitter_us = u64::from(r.jitter) * 1_000_000 / u64::from(*clock);
            stats.jitter_us = stats.jitter_us.max(jitter_us);
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weir_rtsp::rtcp::ReceiverStats;

    use super::*;

    #[test]
    fn receiver_reports_become_packet_stats() {
        // A player's view of our video: 10 packets expected, 8 received.
        let mut rx = ReceiverStats::new(90_000);
        for seq in [0u16, 1, 2, 4, 5, 6, 8, 9] {
            rx.on_rtp(
                seq,
                u32::from(seq) * 3000,
                Duration::from_millis(u64::from(seq) * 33),
            );
        }
        let rr = rx
            .receiver_report(7, 1, Duration::from_secs(1), "player")
            .unwrap();
        let reports = PlayerReports::new([90_000, 48_000]);
        let mut reports = reports;
        reports.add_sent(10);
        assert_eq!(reports.on_rtcp(0, &rr), Ok(true));
        assert_eq!(reports.on_rtcp(5, &rr), Ok(false));
        assert_eq!(reports.on_rtcp(0, b"junk"), Err(()));
        let stats = reports.stats();
        assert_eq!((stats.packets, stats.lost), (10, 2));
        assert_eq!(stats.jitter_us, u64::from(rx.jitter()) * 1_000_000 / 90_000);
    }
}
