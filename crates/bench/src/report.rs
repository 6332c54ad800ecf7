//! The numbers a run produces, the keep-up rule, and how they are printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Whether a player kept up: it received at least `ratio` of the bytes the
/// publisher sent over the same window. Wire overhead (chunk or tag
/// headers) only adds to what a player receives, so a player that got
/// everything is always above 1.0; one that is skipped ahead by its server
/// or stalls falls below. With nothing expected everyone keeps up.
pub(crate) fn keeps_up(received: u64, expected: u64, ratio: f64) -> bool {
    expected == 0 || received as f64 >= ratio * expected as f64
}

/// Nearest-rank percentile `p` (0..=100) of sorted samples.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Distribution of a set of durations, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Dist {
    pub(crate) samples: usize,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p95_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) max_ms: Option<f64>,
}

impl Dist {
    /// From samples in microseconds (sorted here).
    pub(crate) fn from_us(mut us: Vec<u64>) -> Dist {
        us.sort_unstable();
        let ms = |p| percentile(&us, p).map(|v| v as f64 / 1000.0);
        Dist {
            samples: us.len(),
            p50_ms: ms(50.0),
            p95_ms: ms(95.0),
            p99_ms: ms(99.0),
            max_ms: ms(100.0),
        }
    }
}

/// The server's cost over the window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServerCost {
    pub(crate) pid: u32,
    /// CPU seconds (utime + stime of the process tree) in the window.
    pub(crate) cpu_s: f64,
    /// Share of one core the server used, percent.
    pub(crate) cpu_busy_pct: f64,
    /// Server CPU milliseconds per player per second of playback.
    pub(crate) cpu_ms_per_player_s: f64,
    /// Resident memory with the publisher but no player, MiB.
    pub(crate) idle_rss_mib: f64,
    /// Highest resident memory sampled, MiB.
    pub(crate) peak_rss_mib: f64,
    /// (peak - idle) / players, KiB.
    pub(crate) rss_per_player_kib: f64,
}

/// What LL-HLS viewers measured (crates/bench/src/llhls/mod.rs says
/// exactly what each duration spans).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct LlhlsStats {
    /// Earliest blocking-reload answer listing a part, by any viewer →
    /// a measuring viewer has the part's last byte.
    pub(crate) part_delay: Dist,
    /// The viewer's own reload answer → the part's last byte.
    pub(crate) part_fetch: Dist,
    /// Blocking reload sent → playlist received (measuring viewers).
    pub(crate) reload_wait: Dist,
    /// Blocking reloads answered in the window, all viewers.
    pub(crate) reloads: u64,
    /// Of those, delta updates (with `#EXT-X-SKIP`).
    pub(crate) delta_reloads: u64,
    /// Parts received in the window, all viewers.
    pub(crate) parts: u64,
    pub(crate) parts_per_viewer_s: f64,
    /// Playlist bytes per viewer, kbit/s (not counted for keeping up).
    pub(crate) playlist_kbps_per_viewer: f64,
    /// Viewers that found their last part no longer listed and jumped to
    /// the newest.
    pub(crate) resyncs: u64,
    /// Connections reopened after the server closed one or a request
    /// failed.
    pub(crate) reconnects: u64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) label: String,
    pub(crate) protocol: String,
    pub(crate) play_url: String,
    /// The FLV file published (looped).
    pub(crate) source: String,
    /// Its average media bitrate, kbit/s.
    pub(crate) source_kbps: f64,
    pub(crate) players: usize,
    pub(crate) measuring_players: usize,
    /// Players that reached playback.
    pub(crate) playing: usize,
    /// Players that failed (refused, error, closed by the server).
    pub(crate) failed: usize,
    /// Players that received at least `keep_up_ratio` of the expected bytes.
    pub(crate) keeping_up: usize,
    pub(crate) keep_up_ratio: f64,
    pub(crate) window_s: f64,
    /// Publisher's media bitrate over the window, kbit/s.
    pub(crate) stream_kbps: f64,
    /// Bytes each player should have received over the window.
    pub(crate) expected_bytes_per_player: u64,
    /// Sum over players of bytes received, as Mbit/s.
    pub(crate) delivered_mbps: f64,
    /// Arrival minus send instant of live video frames (measuring players).
    pub(crate) latency: Dist,
    /// Video frames whose content the publisher never sent.
    pub(crate) unmatched_frames: u64,
    /// Arrival minus send instant of live AAC frames (measuring players).
    /// Absent from reports of older versions, which timed video only.
    #[serde(default)]
    pub(crate) latency_audio: Dist,
    /// AAC frames whose content the publisher never sent.
    #[serde(default)]
    pub(crate) unmatched_audio_frames: u64,
    /// Connect start to first coded video frame (measuring players).
    pub(crate) first_frame: Dist,
    pub(crate) server: Option<ServerCost>,
    /// This tool's CPU over the window, percent of one core: near 100 the
    /// tool, not the server, limits the run.
    pub(crate) tool_cpu_pct: f64,
    /// Worst lateness of the publisher behind its schedule, ms.
    pub(crate) publisher_max_late_ms: f64,
    pub(crate) errors: BTreeMap<String, u64>,
    /// LL-HLS runs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) llhls: Option<LlhlsStats>,
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

impl Report {
    /// Human-readable summary.
    pub(crate) fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} {} players ({} measuring) of {:.0} kbit/s over {:.1} s — {}",
            self.players,
            self.protocol,
            self.measuring_players,
            self.stream_kbps,
            self.window_s,
            self.label
        );
        let _ = writeln!(
            s,
            "  source: {} ({:.0} kbit/s)",
            self.source, self.source_kbps
        );
        let _ = writeln!(
            s,
            "  keeping up (>= {:.0}% of bytes): {}/{}   playing: {}   failed: {}   delivered: {:.1} Mbit/s",
            self.keep_up_ratio * 100.0,
            self.keeping_up,
            self.players,
            self.playing,
            self.failed,
            self.delivered_mbps
        );
        for (what, l, unmatched) in [
            ("video", &self.latency, self.unmatched_frames),
            ("audio", &self.latency_audio, self.unmatched_audio_frames),
        ] {
            let _ = writeln!(
                s,
                "  {what} latency ms: p50 {} p95 {} p99 {} max {} ({} frames, {} unmatched)",
                opt(l.p50_ms),
                opt(l.p95_ms),
                opt(l.p99_ms),
                opt(l.max_ms),
                l.samples,
                unmatched
            );
        }
        if let Some(ll) = &self.llhls {
            for (what, d) in [
                ("part delivery delay", &ll.part_delay),
                ("part fetch", &ll.part_fetch),
                ("blocking reload wait", &ll.reload_wait),
            ] {
                let _ = writeln!(
                    s,
                    "  {what} ms: p50 {} p95 {} p99 {} max {} ({} samples)",
                    opt(d.p50_ms),
                    opt(d.p95_ms),
                    opt(d.p99_ms),
                    opt(d.max_ms),
                    d.samples
                );
            }
            let _ = writeln!(
                s,
                "  llhls: {} reloads ({} delta), {} parts ({:.2} per viewer-second), playlists {:.1} kbit/s per viewer, {} resyncs, {} reconnects",
                ll.reloads,
                ll.delta_reloads,
                ll.parts,
                ll.parts_per_viewer_s,
                ll.playlist_kbps_per_viewer,
                ll.resyncs,
                ll.reconnects
            );
        }
        let f = &self.first_frame;
        let _ = writeln!(
            s,
            "  first {} ms: p50 {} p99 {} max {} ({} players)",
            if self.llhls.is_some() {
                "part"
            } else {
                "frame"
            },
            opt(f.p50_ms),
            opt(f.p99_ms),
            opt(f.max_ms),
            f.samples
        );
        match &self.server {
            Some(c) => {
                let _ = writeln!(
                    s,
                    "  server pid {}: cpu {:.1}% of a core, {:.3} ms per player-second; rss idle {:.1} MiB, peak {:.1} MiB, {:.1} KiB per player",
                    c.pid, c.cpu_busy_pct, c.cpu_ms_per_player_s, c.idle_rss_mib, c.peak_rss_mib, c.rss_per_player_kib
                );
            }
            None => {
                let _ = writeln!(s, "  server: not measured (pass --server-pid)");
            }
        }
        let _ = writeln!(
            s,
            "  tool cpu {:.1}% of a core; publisher at most {:.1} ms late",
            self.tool_cpu_pct, self.publisher_max_late_ms
        );
        for (e, n) in &self.errors {
            let _ = writeln!(s, "  error x{n}: {e}");
        }
        s
    }
}

/// A report with round numbers, for tests of what reads reports.
#[cfg(test)]
pub(crate) fn test_report(label: &str, players: usize, per: f64) -> Report {
    Report {
        label: label.into(),
        protocol: "rtmp".into(),
        play_url: String::new(),
        source: String::new(),
        source_kbps: 1000.0,
        players,
        measuring_players: 50,
        playing: players,
        failed: 0,
        keeping_up: players,
        keep_up_ratio: 0.95,
        window_s: 10.0,
        stream_kbps: 1000.0,
        expected_bytes_per_player: 1,
        delivered_mbps: players as f64,
        latency: Dist::from_us(vec![1000, 2000]),
        unmatched_frames: 0,
        latency_audio: Dist::default(),
        unmatched_audio_frames: 0,
        first_frame: Dist::default(),
        server: Some(ServerCost {
            pid: 1,
            cpu_s: 1.0,
            cpu_busy_pct: 10.0,
            cpu_ms_per_player_s: per,
            idle_rss_mib: 1.0,
            peak_rss_mib: 2.0,
            rss_per_player_kib: 8.0,
        }),
        tool_cpu_pct: 5.0,
        publisher_max_late_ms: 0.0,
        errors: Default::default(),
        llhls: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_up_rule() {
        assert!(keeps_up(95, 100, 0.95));
        assert!(!keeps_up(94, 100, 0.95));
        assert!(keeps_up(130, 100, 0.95), "overhead only helps");
        assert!(keeps_up(0, 0, 0.95), "nothing expected");
        assert!(!keeps_up(0, 1, 0.95));
        // Large windows do not overflow.
        assert!(keeps_up(u64::MAX, u64::MAX, 0.95));
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
        let d = Dist::from_us(vec![3000, 1000, 2000]);
        assert_eq!((d.samples, d.p50_ms, d.max_ms), (3, Some(2.0), Some(3.0)));
    }

    #[test]
    fn audio_latency_is_reported_apart_from_video() {
        let mut r = test_report("weir", 150, 0.1);
        r.latency_audio = Dist::from_us((1..=100).rev().map(|ms| ms * 1000).collect());
        r.unmatched_audio_frames = 3;
        let a = &r.latency_audio;
        assert_eq!(
            (a.samples, a.p50_ms, a.p95_ms, a.p99_ms, a.max_ms),
            (100, Some(50.0), Some(95.0), Some(99.0), Some(100.0))
        );
        let text = r.summary();
        assert!(
            text.contains(
                "  video latency ms: p50 1.0 p95 2.0 p99 2.0 max 2.0 (2 frames, 0 unmatched)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  audio latency ms: p50 50.0 p95 95.0 p99 99.0 max 100.0 (100 frames, 3 unmatched)\n"),
            "{text}"
        );

        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["latency_audio"]["p50_ms"], 50.0);
        assert_eq!(json["latency_audio"]["p95_ms"], 95.0);
        assert_eq!(json["latency_audio"]["p99_ms"], 99.0);
        assert_eq!(json["latency_audio"]["max_ms"], 100.0);
        assert_eq!(json["latency"]["p99_ms"], 2.0);

        // Reports saved before audio was timed still load, with no samples.
        let mut old = json;
        let obj = old.as_object_mut().unwrap();
        obj.remove("latency_audio");
        obj.remove("unmatched_audio_frames");
        let back: Report = serde_json::from_value(old).unwrap();
        assert_eq!(back.latency_audio.samples, 0);
        assert_eq!(back.latency_audio.p99_ms, None);
    }
}
