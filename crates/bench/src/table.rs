//! Renders saved `--json` reports as one Markdown table, for
//! `bench/compare.sh` and docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use crate::report::{Dist, Report};

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
/// When any report is of LL-HLS viewers, two columns follow: part delivery
/// delay and blocking reload wait ("-" for other protocols).
pub(crate) fn render(reports: &[Report]) -> String {
    let ll = reports.iter().any(|r| r.llhls.is_some());
    let mut s = String::new();
    s.push_str("| server | proto | players | keeping up | Mbit/s out | server CPU % | CPU ms / player·s | vs nginx | latency p50 / p95 / p99 / max ms | audio latency p50 / p99 ms | first frame p50 / p99 ms | peak RSS MiB | KiB / player | tool CPU % |");
    s.push_str(if ll {
        " part delivery p50 / p95 / p99 / max ms | reload wait p50 / p99 ms |\n"
    } else {
        "\n"
    });
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|");
    s.push_str(if ll { "---|---|\n" } else { "\n" });
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
        let _ = write!(
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
        if ll {
            let none = Dist::default();
            let (d, w) = r
                .llhls
                .as_ref()
                .map_or((&none, &none), |l| (&l.part_delay, &l.reload_wait));
            let _ = write!(
                s,
                " {} / {} / {} / {} | {} / {} |",
                ms(d.p50_ms),
                ms(d.p95_ms),
                ms(d.p99_ms),
                ms(d.max_ms),
                ms(w.p50_ms),
                ms(w.p99_ms)
            );
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{test_report as report, LlhlsStats};

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
        assert!(!t.contains("part delivery"), "no LL-HLS columns");
    }

    #[test]
    fn llhls_columns_when_a_report_has_them() {
        let mut r = report("weir", 1000, 0.2);
        r.protocol = "llhls".into();
        r.llhls = Some(LlhlsStats {
            part_delay: Dist::from_us((1..=100).map(|ms| ms * 1000).collect()),
            reload_wait: Dist::from_us(vec![190_000, 200_000, 210_000]),
            ..Default::default()
        });
        let t = render(&[r, report("weir", 1000, 0.3)]);
        let lines: Vec<&str> = t.lines().collect();
        let cols = |l: &str| l.matches('|').count();
        assert!(lines.iter().all(|l| cols(l) == cols(lines[0])), "{t}");
        assert!(lines[0]
            .ends_with("| part delivery p50 / p95 / p99 / max ms | reload wait p50 / p99 ms |"));
        assert!(
            lines[2].ends_with("| 50 / 95 / 99 / 100 | 200 / 210 |"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].ends_with("| - / - / - / - | - / - |"),
            "{}",
            lines[3]
        );
    }
}
