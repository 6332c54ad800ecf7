//! RTMP VOD (`rtmp://HOST/vod/{path}`, docs/vod.md) with real clients:
//! a recording's `rtmp_url` plays in ffprobe (paced at real time) and in
//! rtmpdump from 10 s (`-A 10`), under its stream's play rules; a file of
//! the VOD root plays in ffmpeg, which seeks into it (`-ss`, the RTMP
//! `seek` command); bad paths and unreadable files are refused without
//! harming the server.
//!
//! Run: `nice -n 19 cargo test --release -p weir --test rtmp_vod_e2e`.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg, require_tool};
use common::http::get;
use common::probe;
use common::process::{Proc, Stdout};
use common::server::Server;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The finished recordings of `stream`, once there is one.
fn finished_recordings(srv: &Server, stream: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + secs(20);
    loop {
        let resp = get(
            srv.http_port(),
            &format!("/api/v1/recordings?stream={stream}"),
        );
        assert_eq!(resp.status, 200);
        let json: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON");
        let list = json["recordings"].as_array().cloned().unwrap_or_default();
        if !list.is_empty() && list.iter().all(|r| r["recording"] == false) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "no finished recording\n{}",
            srv.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// `rtmpdump -r URL -A START -o OUT` (a recorded stream: no `--live`).
fn rtmpdump_from(dir: &Path, url: &str, start: u32, out: &Path) -> Proc {
    require_tool("rtmpdump");
    let mut cmd = Command::new("rtmpdump");
    cmd.args(["-r", url, "-A", &start.to_string(), "-m", "30", "-o"])
        .arg(out);
    Proc::spawn("rtmpdump", dir, cmd, Stdout::Null)
}

/// A publish of 20 s recorded under a play key: its `rtmp_url` plays in
/// ffprobe from the start at real time and in rtmpdump from 10 s, and
/// without the key it does not play at all.
#[test]
fn a_recording_plays_over_rtmp_in_ffprobe_and_rtmpdump_from_10_s() {
    require_ffmpeg();
    let srv = Server::start_with_config(
        "[record]\nenabled = true\n[auth.apps.live.play]\nmode = \"keys\"\nkeys = [\"k1\"]\n",
    );
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("show"), 20, &[]);
    publisher.expect_exit(secs(60));
    let list = finished_recordings(&srv, "show");
    let rec = &list[0];
    let id = rec["id"].as_str().unwrap();
    let url = rec["rtmp_url"].as_str().expect("rtmp_url");
    assert_eq!(
        url,
        format!("rtmp://127.0.0.1:{}/vod/recordings/{id}", srv.rtmp_port()),
        "the host the client asked, RTMP's port"
    );

    // Without the key: refused like a live player of the stream.
    let denied = Command::new("timeout")
        .args(["-s", "KILL", "30", "ffprobe", "-v", "error", url])
        .output()
        .expect("run ffprobe");
    assert!(!denied.status.success(), "played without its key");

    let keyed = format!("{url}?key=k1");
    let started = Instant::now();
    let player = probe::spawn_player(srv.dir(), "ffprobe-vod", &keyed, 60);
    let out = srv.dir().join("from10.flv");
    let mut dump = rtmpdump_from(srv.dir(), &keyed, 10, &out);

    let a = probe::finish_player(player, secs(60));
    let took = started.elapsed();
    a.assert_clean("recording over RTMP");
    a.assert_frames_delivered("recording over RTMP", 19.0, 0.98);
    assert!(
        took >= secs(15),
        "20 s of media took {took:?}: not paced at real time"
    );

    let status = dump.expect_exit(secs(60));
    assert!(
        status.success(),
        "rtmpdump -A 10 failed ({status}): {}",
        dump.stderr_tail(10)
    );
    let from10 = probe::probe_file(srv.dir(), &out);
    let first = from10
        .of_media(probe::Media::Video)
        .next()
        .expect("video from 10 s");
    assert!(first.key, "starts at a keyframe: {}", from10.summary());
    let start = first.dts.expect("a decode time");
    assert!(
        (8.0..=10.5).contains(&start),
        "rtmpdump -A 10 starts at {start} s, not within a GOP of 10 s: {}",
        from10.summary()
    );
    let last = from10
        .of_media(probe::Media::Video)
        .filter_map(|p| p.dts)
        .last()
        .unwrap_or_default();
    assert!(last >= 19.0, "plays to the end: last frame at {last} s");
    // 30 fps from the keyframe at or before 10 s to the end, each once.
    let frames = from10.video_count() as f64;
    let expected = (last - start) * 30.0;
    assert!(
        (frames - expected).abs() <= 0.03 * expected + 2.0,
        "{frames} frames from {start} s to {last} s"
    );
}

/// 20 s of 25 fps video (a keyframe every 2 s) and AAC audio at `path`.
fn make_mp4(path: &Path) {
    let out = Command::new("timeout")
        .args(["-s", "KILL", "120", "ffmpeg", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-g", "50",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"])
        .args(["-movflags", "+faststart"])
        .arg(path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The decode time of the first video packet ffmpeg's demuxer reads from
/// `url` after seeking to `to` seconds (`-ss` before `-i`: the RTMP
/// `seek` command), from its `-debug_ts` log, and how long it took.
fn first_video_after_seek(url: &str, to: u32) -> (f64, Duration) {
    let started = Instant::now();
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60", "ffmpeg", "-hide_banner", "-debug_ts"])
        .args(["-ss", &to.to_string(), "-i", url])
        .args(["-t", "2", "-c", "copy", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let took = started.elapsed();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg -ss {to} failed: {log}");
    let dts = log
        .lines()
        .filter(|l| l.starts_with("demuxer -> ") && l.contains("type:video"))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("pkt_dts_time:"))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or_else(|| panic!("no video packet demuxed: {log}"));
    (dts, took)
}

/// A file of the VOD root over RTMP: ffmpeg's seek lands on the keyframe
/// before its target without playing what comes before; bad paths,
/// missing and unreadable files are refused and the server carries on.
#[test]
fn files_of_the_vod_root_seek_in_ffmpeg_and_bad_ones_are_refused() {
    require_ffmpeg();
    let srv = Server::start();
    let root = srv.dir().join("data/vod");
    make_mp4(&root.join("film.mp4"));
    std::fs::write(
        root.join("broken.mp4"),
        b"\0\0\0\x10ftypisom\0\0\0\0garbage",
    )
    .unwrap();
    let base = format!("rtmp://127.0.0.1:{}/vod", srv.rtmp_port());

    let (dts, took) = first_video_after_seek(&format!("{base}/film.mp4"), 12);
    assert!(
        (10.0..=12.0).contains(&dts),
        "a seek to 12 s starts at {dts} s, not the keyframe before"
    );
    assert!(
        took < secs(10),
        "the seek took {took:?}: were the first 12 s played?"
    );

    // Whole, in ffprobe, through the path without its extension.
    let a = probe::finish_player(
        probe::spawn_player(srv.dir(), "ffprobe-film", &format!("{base}/film"), 60),
        secs(60),
    );
    a.assert_clean("a VOD root file over RTMP");
    assert_eq!(a.video_count(), 500, "every frame of 20 s at 25 fps");
    assert!(a.audio_count() >= 930, "{}", a.summary());

    for bad in [
        "nope.mp4",
        "broken.mp4",
        "../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "recordings/../film.mp4",
    ] {
        let started = Instant::now();
        let out = Command::new("timeout")
            .args(["-s", "KILL", "30", "ffprobe", "-v", "error"])
            .arg(format!("{base}/{bad}"))
            .output()
            .expect("run ffprobe");
        assert!(!out.status.success(), "{bad} played");
        assert!(
            started.elapsed() < secs(10),
            "{bad}: refused only after {:?}",
            started.elapsed()
        );
    }
    assert!(
        srv.log().contains("rtmp vod: unplayable file"),
        "the unreadable file is logged: {}",
        srv.log()
    );
    // Still serving.
    let a = probe::finish_player(
        probe::spawn_player(srv.dir(), "ffprobe-after", &format!("{base}/film.mp4"), 3),
        secs(30),
    );
    assert!(a.video_count() > 50, "{}", a.summary());
}
