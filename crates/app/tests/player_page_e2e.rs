//! The player page's LL-HLS and ABR in headless Chromium: ffmpeg publishes
//! a 720p stream that a `[[transcode]]` ladder turns into 180p and 360p
//! renditions; `/play/live/x` starts on LL-HLS by itself (the stream has a
//! ladder), plays its multivariant playlist through the hls.js weir serves
//! itself (no request leaves weir's origin), shows hls.js's latency,
//! lists the three renditions and plays the highest, then the lowest,
//! once each is pinned.
//!
//! Run: `nice -n 19 cargo test --release -p weir --test player_page_e2e`
//! (needs ffmpeg, `chromium`, `node` and `npm ci` in `tests/browser/`).

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg};
use common::http::get;
use common::process::{Proc, Stdout};
use common::server::Server;
use serde_json::Value;

/// The source: the test pattern scaled to 1280x720, a keyframe a second
/// (short LL-HLS segments, quick rendition switches).
const HD_1S_GOP: &[&str] = &["-s", "1280x720", "-g", "30"];

const LADDER: &str = r#"
[[transcode]]
app = "live"
renditions = [
  { name = "low", height = 180, video_kbps = 300, audio_kbps = 48 },
  { name = "mid", height = 360, video_kbps = 700 },
]
"#;

/// Polls `path` (JSON or text) until `ready` holds; bounded.
fn wait_for(srv: &Server, path: &str, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let resp = get(srv.http_port(), path);
        let body = String::from_utf8_lossy(&resp.body).into_owned();
        if resp.status == 200 && ready(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} not ready: {} {body}\n{}",
            resp.status,
            srv.log()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn player_page_plays_llhls_with_renditions_through_its_own_hls_js() {
    require_ffmpeg();
    common::http::require_browser();
    let started = Instant::now();
    let srv = Server::start_with_config(LADDER);
    let _publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("x"), 90, HD_1S_GOP);

    // The stream API names the LL-HLS playlist among the ways to play.
    let stream = wait_for(
        &srv,
        "/api/v1/streams/live/x",
        Duration::from_secs(20),
        |b| b.contains("\"live\":true"),
    );
    let stream: Value = serde_json::from_str(&stream).unwrap();
    let playback: Vec<(&str, &str)> = stream["playback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["format"].as_str().unwrap(), p["url"].as_str().unwrap()))
        .collect();
    assert_eq!(
        playback,
        [
            ("fmp4", "/live/x.mp4"),
            ("hls", "/live/x.m3u8"),
            ("llhls", "/live/x/llhls.m3u8"),
            ("flv", "/live/x.flv"),
        ]
    );
    // Both renditions live: the multivariant playlist lists three variants.
    wait_for(
        &srv,
        "/live/x/llhls-master.m3u8",
        Duration::from_secs(30),
        |text| text.matches("#EXT-X-STREAM-INF:").count() == 3,
    );
    println!("ladder up after {:?}", started.elapsed());

    let mut cmd = Command::new("node");
    cmd.arg(common::http::browser_dir().join("player_page.mjs"))
        .arg(srv.http_base())
        .arg("live/x")
        .arg(srv.dir());
    let browser_start = Instant::now();
    let mut node = Proc::spawn("browser-player", srv.dir(), cmd, Stdout::Lines);
    let status = node.expect_exit(Duration::from_secs(90));
    assert!(
        status.success(),
        "player_page.mjs failed: {}",
        node.stderr_tail(30)
    );
    let lines = node.lines();
    let last = &lines.last().expect("player_page.mjs printed its result").1;
    let r: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    println!(
        "browser ({:?}, test {:?}): {r}",
        browser_start.elapsed(),
        started.elapsed()
    );
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");

    // LL-HLS was chosen by itself (a ladder) and plays.
    assert_eq!(r["format"], "llhls", "{r:#}");
    assert!(r["advanced_s"].as_f64().unwrap() > 2.0, "{r:#}");
    // hls.js came from weir, and nothing else was asked of another origin.
    let script = r["hls_script"].as_str().unwrap_or_default();
    assert_eq!(
        script,
        format!("{}/assets/hls-1.7.4.light.min.js", srv.http_base()),
        "{r:#}"
    );
    assert_eq!(r["hls_loaded"], true, "{r:#}");
    assert_eq!(r["foreign"], serde_json::json!([]), "{r:#}");

    // The page shows hls.js's latency: numeric, small, and hls.latency's.
    let samples = r["latencies"].as_array().unwrap();
    let shown: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| {
            let page: f64 = s["page"].as_str()?.strip_suffix(" s")?.parse().ok()?;
            Some((page, s["hls"].as_f64()?))
        })
        .collect();
    assert!(
        shown.len() >= 4,
        "the page showed a latency in {} of {} samples: {samples:?}",
        shown.len(),
        samples.len()
    );
    for (page, _) in &shown {
        assert!(*page > 0.0 && *page < 5.0, "latency {page} s: {samples:?}");
    }
    // The page refreshes its value every 500 ms, so a sample can be one
    // refresh old (at start, hls.latency still moves): most must agree.
    let agree = shown
        .iter()
        .filter(|(page, hls)| (page - hls).abs() < 0.25)
        .count();
    assert!(
        agree * 3 >= shown.len() * 2,
        "the page's latency is hls.latency in {agree} of {} samples: {samples:?}",
        shown.len()
    );

    // ABR over the three variants; the lowest pinned plays at 180p.
    assert_eq!(r["levels"], 3, "{r:#}");
    let options = r["options"].as_array().unwrap();
    let heights: Vec<u64> = options
        .iter()
        .filter_map(|o| o["height"].as_u64())
        .collect();
    assert_eq!(heights, [720, 360, 180], "{r:#}");
    assert_eq!(options[0]["text"], "Auto", "{r:#}");
    let auto = r["rendition_auto"].as_str().unwrap();
    assert!(
        ["720p", "360p", "180p"].iter().any(|h| auto.starts_with(h)) && auto.ends_with("(auto)"),
        "{auto}"
    );
    // Pinned to the highest, then to the lowest: each plays and is shown.
    let highest = r["rendition_highest"].as_str().unwrap_or_default();
    assert!(
        highest.starts_with("720p") && !highest.contains("auto"),
        "{r:#}"
    );
    assert!(
        r["pinned_to"].as_str().unwrap().starts_with("180p"),
        "{r:#}"
    );
    let pinned = r["rendition_pinned"].as_str().unwrap();
    assert!(
        pinned.starts_with("180p") && !pinned.contains("auto"),
        "{pinned}"
    );
    assert_eq!(r["video_height"], 180, "{r:#}");
    let shot = std::fs::metadata(srv.dir().join("player-llhls.png"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(shot > 10_000, "screenshot: {shot} bytes");
}
