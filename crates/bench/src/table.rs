//! Renders saved `--json` reports as one Markdown table, for
//! `bench/compare.sh` and docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use crate::report::Report;

/// Label of the reference server whose CPU cost the others are compared
/// with (same protocol family does not matter: the cost of a viewer is).
const REFERENCE: &str = "nginx-rtmp";

/// Reads the reports in `files` and renders them, in the given order.
pub(crate) fn render_files(files: &[PathBuf]) -> anyhow::Result<String> {
    let mut reports = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let r: Report =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", f.display()))?;
        reports.push(r);
    }
    Ok(render(&reports))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

/// One row per report. "vs nginx" is the server CPU per player-second
/// relative to nginx-rtmp's RTMP run with the same number of players.
pub(crate) fn render(reports: &[Report]) -> String {
    let mut s = String::new();
    s.push_str("| server | proto | players | keeping up | Mbit/s out | server CPU % | CPU ms / player·s | vs nginx | latency p50 / p95 / p99 / max ms | audio latency p50 / p99 ms | first frame p50 / p99 ms | peak RSS MiB | KiB / player | tool CPU % |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|\n");
    for r in reports {
        let reference = reports
            .iter()
            .find(|o| o.label == REFERENCE && o.protocol == "rtmp" && o.players == r.players)
            .and_then(|o| o.server.as_ref())
            .map(|c| c.cpu_ms_per_player_s);
        let (cpu, per, vs, rss, kib) = match &r.server {
            Some(c) => (
                format!("{:.0}", c.cpu_busy_pct),
                format!("{:.3}", c.cpu_ms_per_player_s),
                reference.filter(|&x| x > 0.0).map_or_else(
                    || "-".into(),
                    |x| format!("{:.2}×", c.cpu_ms_per_player_s / x),
                ),
                format!("{:.0}", c.peak_rss_mib),
                format!("{:.1}", c.rss_per_player_kib),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        };
        let l = &r.latency;
        let a = &r.latency_audio;
        let f = &r.first_frame;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} / {} / {} / {} | {} / {} | {} / {} | {} | {} | {:.0} |",
            r.label,
            r.protocol,
            r.players,
            r.keeping_up,
            r.delivered_mbps,
            cpu,
            per,
            vs,
            ms(l.p50_ms),
            ms(l.p95_ms),
            ms(l.p99_ms),
            ms(l.max_ms),
            ms(a.p50_ms),
            ms(a.p99_ms),
            ms(f.p50_ms),
            ms(f.p99_ms),
            rss,
            kib,
            r.tool_cpu_pct,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{test_report as report, Dist};

    #[test]
    fn rows_compare_with_nginx_at_the_same_count() {
        let t = render(&[
            report("weir", 100, 0.1),
            report(REFERENCE, 100, 0.4),
            report("weir", 200, 0.1),
        ]);
        let rows: Vec<&str> = t.lines().skip(2).collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].contains("| 0.25× |"), "{}", rows[0]);
        assert!(rows[1].contains("| 1.00× |"));
        assert!(rows[2].contains("| - |"), "no reference at 200");
        assert!(rows[0].contains("| 1 / 2 / 2 / 2 | - / - |"), "{}", rows[0]);
    }

    #[test]
    fn audio_latency_follows_video_latency() {
        let mut r = report("weir", 150, 0.1);
        r.latency_audio = Dist::from_us((1..=100).map(|ms| ms * 1000).collect());
        let t = render(&[r]);
        let mut lines = t.lines();
        let head: Vec<&str> = lines.next().unwrap().split(" | ").collect();
        let row: Vec<&str> = lines.nth(1).unwrap().split(" | ").collect();
        assert_eq!(head.len(), row.len());
        let video = head.iter().position(|h| h.starts_with("latency")).unwrap();
        assert_eq!(head[video + 1], "audio latency p50 / p99 ms");
        assert!(head[video + 2].starts_with("first frame"));
        assert_eq!(row[video], "1 / 2 / 2 / 2");
        assert_eq!(row[video + 1], "50 / 99");
    }
}
