//! A/V sync of a publisher's tracks from its RTCP sender reports.
//!
//! Each RTP track starts at a random timestamp, so the tracks' timelines
//! say nothing of each other. A sender report maps one track's RTP clock
//! to the sender's wall clock (NTP); with a report for each track, every
//! RTP timestamp has a wall-clock time, and those are comparable across
//! tracks. Until a track's first report, the caller's own mapping (each
//! track from its first packet) is used.
//!
//! The common timeline is anchored so that it continues the caller's
//! mapping of the first track that gets a report: that track sees no jump.
//! A track whose first-packet mapping was off by the real A/V offset moves
//! by that offset once, when its own report arrives (what the caller keeps
//! monotonic). Later reports re-map each track, which follows any drift
//! between the sender's media clocks and its wall clock.

use crate::rtcp::SenderInfo;

/// The sender-report state of one publisher's tracks.
#[derive(Debug, Clone, Default)]
pub struct SenderSync {
    /// Latest report and clock rate per track (by SDP index).
    reports: Vec<Option<(SenderInfo, u32)>>,
    /// Wall-clock time (µs since the NTP epoch) of timeline time 0.
    anchor_us: Option<i64>,
}

/// Microseconds in an NTP 32.32 timestamp (exact to the microsecond; fits
/// an `i64` until the year 292,000).
fn ntp_to_us(ntp: u64) -> i64 {
    let secs = (ntp >> 32) as i64;
    let frac = ((ntp & 0xFFFF_FFFF) * 1_000_000) >> 32;
    secs * 1_000_000 + frac as i64
}

impl SenderSync {
    /// State for `tracks` tracks, none reported yet.
    pub fn new(tracks: usize) -> Self {
        SenderSync {
            reports: vec![None; tracks],
            anchor_us: None,
        }
    }

    /// Records a sender report about `track`, whose RTP clock runs at
    /// `clock_rate`. Reports for tracks out of range are ignored.
    pub fn on_sender_report(&mut self, track: usize, info: SenderInfo, clock_rate: u32) {
        if let Some(slot) = self.reports.get_mut(track) {
            *slot = Some((info, clock_rate.max(1)));
        }
    }

    /// Whether any track has been reported.
    pub fn is_synced(&self) -> bool {
        self.anchor_us.is_some()
    }

    /// The timeline time (µs) of RTP timestamp `rtp` on `track`: by the
    /// track's sender report when it has one, else `fallback_us` (the
    /// caller's own mapping of the same timestamp).
    pub fn time_us(&mut self, track: usize, rtp: u32, fallback_us: i64) -> i64 {
        let Some(Some((info, clock))) = self.reports.get(track) else {
            return fallback_us;
        };
        let wall_us = ntp_to_us(info.ntp_at(rtp, *clock));
        let anchor = *self
            .anchor_us
            .get_or_insert_with(|| wall_us.saturating_sub(fallback_us));
        wall_us.saturating_sub(anchor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NTP timestamp `ms` milliseconds after an arbitrary second.
    fn ntp(ms: u64) -> u64 {
        let secs = 3_900_000_000u64 + ms / 1000;
        let frac = ((ms % 1000) << 32) / 1000;
        (secs << 32) | frac
    }

    fn report(ntp: u64, rtp_timestamp: u32) -> SenderInfo {
        SenderInfo {
            ssrc: 1,
            ntp,
            rtp_timestamp,
            packets: 0,
            octets: 0,
        }
    }

    #[test]
    fn tracks_are_aligned_by_their_reports() {
        let mut sync = SenderSync::new(2);
        // Video (90 kHz) starts at RTP 1000 at wall time 0 ms; audio
        // (48 kHz) starts at RTP 5000 but was captured 250 ms later.
        sync.on_sender_report(0, report(ntp(0), 1000), 90_000);
        sync.on_sender_report(1, report(ntp(250), 5000), 48_000);
        // The caller's first-packet mapping puts both at 0 µs.
        assert_eq!(sync.time_us(0, 1000, 0), 0);
        assert_eq!(sync.time_us(1, 5000, 0), 250_000);
        // One second later on each clock.
        assert_eq!(sync.time_us(0, 91_000, 1_000_000), 1_000_000);
        assert_eq!(sync.time_us(1, 53_000, 1_000_000), 1_250_000);
        assert!(sync.is_synced());
    }

    #[test]
    fn unreported_tracks_keep_the_callers_mapping() {
        let mut sync = SenderSync::new(2);
        assert_eq!(sync.time_us(1, 77, 42), 42);
        sync.on_sender_report(0, report(ntp(0), 0), 90_000);
        // The first reported track continues the caller's timeline.
        assert_eq!(sync.time_us(0, 90_000, 3_000_000), 3_000_000);
        assert_eq!(sync.time_us(1, 77, 43), 43);
        // Out of range: ignored.
        sync.on_sender_report(9, report(ntp(0), 0), 90_000);
        assert_eq!(sync.time_us(9, 0, 5), 5);
    }

    #[test]
    fn wrapping_rtp_timestamps_stay_continuous() {
        let mut sync = SenderSync::new(1);
        sync.on_sender_report(0, report(ntp(0), u32::MAX - 899), 90_000);
        let before = sync.time_us(0, u32::MAX - 899, 0);
        let after = sync.time_us(0, 100, 0);
        assert!((after - before - 11_111).abs() <= 1, "{}", after - before);
    }
}
