//! Transcoding ladders (`[[transcode]]`, docs/hls.md) end to end: ffmpeg
//! publishes a 720p stream with 1 s GOPs, weir's ffmpeg child makes two
//! renditions that ffprobe plays over RTMP, HTTP-FLV and HLS at their
//! heights with the source's keyframe cadence; a killed ffmpeg is
//! restarted; the ladder ends with its source; an on-demand ladder starts
//! for its first viewer; a missing ffmpeg stops the start with a clear
//! error.
//!
//! Run: `nice -n 19 cargo test --release -p weir --test transcode_e2e`.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg};
use common::http::get;
use common::probe;
use common::server::Server;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The source: the test pattern scaled to 1280x720, a keyframe a second.
const HD_1S_GOP: &[&str] = &["-s", "1280x720", "-g", "30"];

const LADDER: &str = r#"
[[transcode]]
app = "live"
renditions = [
  { name = "low", height = 180, video_kbps = 300, audio_kbps = 48 },
  { name = "mid", height = 360, video_kbps = 700 },
]

[[transcode]]
app = "lazy"
on_demand = true
renditions = [ { name = "low", height = 180, video_kbps = 300 } ]
"#;

/// `GET /api/v1/transcodes`.
fn ladders(srv: &Server) -> Vec<serde_json::Value> {
    let resp = get(srv.http_port(), "/api/v1/transcodes");
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let json: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON");
    json["transcodes"].as_array().cloned().unwrap_or_default()
}

/// Waits (bounded) until `pred` holds for the ladder of `stream`.
fn wait_ladder(
    srv: &Server,
    stream: &str,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let list = ladders(srv);
        if let Some(l) = list.iter().find(|l| l["stream"] == stream && pred(l)) {
            return l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "ladder of {stream} not as expected: {list:#?}\n{}",
            srv.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// ffprobe plays `url` for `secs` s of stream time.
fn play(srv: &Server, name: &str, url: &str, secs_: u32) -> probe::Analysis {
    probe::finish_player(probe::spawn_player(srv.dir(), name, url, secs_), secs(60))
}

/// Keyframe decode times of what `a` received.
fn keyframes(a: &probe::Analysis) -> Vec<f64> {
    a.of_media(probe::Media::Video)
        .filter(|p| p.key)
        .filter_map(|p| p.dts)
        .collect()
}

#[test]
fn a_ladder_publishes_renditions_every_protocol_plays_and_survives_ffmpeg_dying() {
    require_ffmpeg();
    let srv = Server::start_with_config(LADDER);
    let url = srv.rtmp_url("x");
    let _publisher = ffmpeg_publisher(srv.dir(), "publisher", &url, 60, HD_1S_GOP);
    let ladder = wait_ladder(&srv, "live/x", secs(30), |l| l["state"] == "running");
    assert_eq!(
        ladder["renditions"],
        serde_json::json!(["live/x_low", "live/x_mid"])
    );
    assert_eq!(ladder["restarts"], 0);

    // Every protocol plays a rendition, at its height.
    let low = play(&srv, "low-rtmp", &srv.rtmp_url("x_low"), 5);
    low.assert_clean("x_low over RTMP");
    assert_eq!(low.stream("video").unwrap().height, Some(180));
    assert_eq!(low.stream("video").unwrap().width, Some(320));
    assert!(low.video_count() >= 120, "{}", low.summary());
    assert!(low.audio_count() > 0, "the rendition has audio");
    // The source's keyframes every second are kept, not x264's default
    // of one every 250 frames.
    let keys = keyframes(&low);
    assert!(keys.len() >= 4, "keyframes {keys:?}");
    assert!(
        keys.windows(2).all(|w| ((w[1] - w[0]) - 1.0).abs() < 0.1),
        "a keyframe a second, like the source: {keys:?}"
    );
    let mid = play(
        &srv,
        "mid-flv",
        &format!("{}/live/x_mid.flv", srv.http_base()),
        4,
    );
    assert_eq!(mid.stream("video").unwrap().height, Some(360));
    let hls = play(
        &srv,
        "low-hls",
        &format!("{}/live/x_low.m3u8", srv.http_base()),
        4,
    );
    assert_eq!(hls.stream("video").unwrap().height, Some(180));
    assert!(hls.video_count() > 60, "{}", hls.summary());

    // The multivariant playlists list the source and both renditions,
    // with what was measured of each.
    for (file, media) in [
        (
            "master.m3u8",
            ["../x.m3u8", "../x_low.m3u8", "../x_mid.m3u8"],
        ),
        (
            "llhls-master.m3u8",
            ["llhls.m3u8", "../x_low/llhls.m3u8", "../x_mid/llhls.m3u8"],
        ),
    ] {
        let resp = get(srv.http_port(), &format!("/live/x/{file}"));
        assert_eq!(resp.status, 200);
        let text = String::from_utf8(resp.body).unwrap();
        let infs: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("#EXT-X-STREAM-INF:"))
            .collect();
        let uris: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(uris, media, "{text}");
        for (inf, size) in infs.iter().zip(["1280x720", "320x180", "640x360"]) {
            assert!(inf.contains(&format!("RESOLUTION={size}")), "{inf}");
            assert!(inf.contains("CODECS=\"avc1."), "{inf}");
            assert!(inf.contains(",mp4a.40.2\""), "{inf}");
            assert!(inf.contains("AVERAGE-BANDWIDTH="), "{inf}");
            assert!(inf.contains("FRAME-RATE="), "{inf}");
        }
        let bandwidth = |inf: &str| -> u64 {
            inf.split("BANDWIDTH=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(
            bandwidth(infs[0]) > bandwidth(infs[2]) && bandwidth(infs[2]) > bandwidth(infs[1]),
            "the ladder's rates order the variants: {text}"
        );
        // A player of the multivariant playlist plays.
        let a = play(
            &srv,
            &format!("master-{file}"),
            &format!("{}/live/x/{file}", srv.http_base()),
            3,
        );
        assert!(a.video_count() > 30, "{file}: {}", a.summary());
    }

    // The LL-HLS playlists of a ladder report each other's newest part.
    let ll = |s: &str| {
        let r = get(srv.http_port(), &format!("/live/{s}/llhls.m3u8"));
        assert_eq!(r.status, 200);
        String::from_utf8(r.body).unwrap()
    };
    ll("x_low");
    let text = ll("x");
    assert!(
        text.contains("#EXT-X-RENDITION-REPORT:URI=\"../x_low/llhls.m3u8\",LAST-MSN="),
        "{text}"
    );
    let text = ll("x_low");
    assert!(
        text.contains("#EXT-X-RENDITION-REPORT:URI=\"../x/llhls.m3u8\",LAST-MSN="),
        "{text}"
    );

    // ffmpeg killed: restarted, renditions back.
    let pid = ladder["pid"].as_u64().expect("a pid while running");
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let again = wait_ladder(&srv, "live/x", secs(30), |l| {
        l["restarts"] == 1 && l["state"] == "running"
    });
    assert_ne!(again["pid"], ladder["pid"]);
    assert!(
        again["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{again:#}"
    );
    let low = play(&srv, "low-again", &srv.rtmp_url("x_low"), 3);
    assert!(low.video_count() > 60, "{}", low.summary());
}

#[test]
fn a_ladder_ends_with_its_source_and_an_on_demand_one_waits_for_a_viewer() {
    require_ffmpeg();
    let srv = Server::start_with_config(LADDER);
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("y"), 8, &[]);
    wait_ladder(&srv, "live/y", secs(30), |l| l["state"] == "running");
    publisher.expect_exit(secs(30));
    let deadline = Instant::now() + secs(15);
    while ladders(&srv).iter().any(|l| l["stream"] == "live/y") {
        assert!(Instant::now() < deadline, "the ladder outlived its source");
        thread::sleep(Duration::from_millis(200));
    }

    // On demand: no ffmpeg until a rendition has a viewer.
    let lazy = format!("rtmp://127.0.0.1:{}/lazy/z", srv.rtmp_port());
    let _source = ffmpeg_publisher(srv.dir(), "lazy-publisher", &lazy, 60, &[]);
    let idle = wait_ladder(&srv, "lazy/z", secs(30), |l| l["state"] == "idle");
    assert!(idle["pid"].is_null(), "{idle:#}");
    thread::sleep(secs(2));
    assert_eq!(
        wait_ladder(&srv, "lazy/z", secs(1), |_| true)["state"],
        "idle"
    );
    // A player of the rendition waits for it (play_wait) and gets it.
    let started = Instant::now();
    let a = play(
        &srv,
        "lazy-low",
        &format!("rtmp://127.0.0.1:{}/lazy/z_low", srv.rtmp_port()),
        3,
    );
    assert_eq!(a.stream("video").unwrap().height, Some(180));
    assert!(a.video_count() > 60, "{}", a.summary());
    assert!(started.elapsed() < secs(30));
    // And it goes idle again once nobody watches (10 s).
    wait_ladder(&srv, "lazy/z", secs(30), |l| l["state"] == "idle");
}

/// hls.js in Chromium plays the multivariant playlist from the source's
/// 720p variant (ABR on) and switches down to 180p once DevTools throttles
/// the page to 350 kbit/s.
#[test]
fn hls_js_plays_the_top_variant_and_switches_down_when_throttled() {
    require_ffmpeg();
    common::clients::require_tool("node");
    let srv = Server::start_with_config(LADDER);
    let _publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("abr"), 150, HD_1S_GOP);
    wait_ladder(&srv, "live/abr", secs(30), |l| l["state"] == "running");
    // A few seconds of measured rates before hls.js reads the playlist.
    thread::sleep(secs(3));
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", "150", "node"])
        .arg(common::http::browser_dir().join("abr.mjs"))
        .arg(format!("{}/live/abr/master.m3u8", srv.http_base()))
        .args(["350", "45", "60"]);
    let mut node = common::process::Proc::spawn(
        "browser-abr",
        srv.dir(),
        cmd,
        common::process::Stdout::Lines,
    );
    let status = node.expect_exit(secs(160));
    assert!(status.success(), "abr.mjs failed: {}", node.stderr_tail(30));
    let lines = node.lines();
    let last = &lines.last().expect("abr.mjs printed its result").1;
    let r: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    eprintln!("hls.js ABR: {r}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
    let mut levels: Vec<u64> = r["levels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    levels.sort_unstable();
    assert_eq!(
        levels,
        [180, 360, 720],
        "hls.js sees the three variants: {r:#}"
    );
    assert_eq!(
        r["up"]["height"], 720,
        "climbs to the source on loopback: {r:#}"
    );
    assert_eq!(
        r["down"]["height"], 180,
        "switches down when throttled: {r:#}"
    );
}

#[test]
fn a_missing_ffmpeg_is_a_clear_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        "[[transcode]]\nffmpeg = \"/nonexistent/ffmpeg\"\n\
         renditions = [ { name = \"low\", height = 180, video_kbps = 300 } ]\n",
    )
    .unwrap();
    let out = Command::new("timeout")
        .args(["-s", "KILL", "30"])
        .arg(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--config"])
        .arg(&config)
        .args([
            "--rtmp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "weir started without ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[[transcode]] needs ffmpeg") && stderr.contains("/nonexistent/ffmpeg"),
        "{stderr}"
    );
}
