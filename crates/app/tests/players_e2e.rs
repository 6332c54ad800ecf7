//! The players people try first, as real clients of a `weir serve` with an
//! ffmpeg publisher on RTMP (see docs/players.md for the whole matrix):
//!
//! * VLC 3 (Debian `vlc-bin` + `vlc-plugin-base`, its own demuxers rather
//!   than ffmpeg's) on RTMP, HTTP-FLV, HLS and live fMP4, remuxing what it
//!   demuxes to MPEG-TS for 8 s of stream time; ffprobe counts the frames.
//!   RTSP is not among them: Debian builds VLC without live555
//!   (`--disable-live555`), so its `rtsp://` support is missing altogether.
//! * Headless Chromium with the web players sites embed, from npm: Video.js
//!   8 (its VHS engine) and Shaka Player 5 on HLS, flv.js 1.6 on HTTP-FLV.
//!   (hls.js, mpegts.js and plain MSE on fMP4 are in http_e2e.rs.)
//!
//! Run with `bash scripts/test.sh` (it installs VLC, Chromium and the npm
//! packages) or `cargo test -p weir --release --test players_e2e`. A
//! missing client fails its test with an install hint.

#[allow(dead_code)]
mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg, vlc_frames};
use common::http;
use common::process::Proc;
use common::server::Server;

/// How long a stream may take to become playable after its publisher starts.
const PLAYABLE: Duration = Duration::from_secs(20);
/// Stream seconds each VLC run plays (`--run-time`).
const VLC_SECS: u32 = 8;
/// The source's frame rate.
const FPS: u32 = 30;

/// A server with an ffmpeg publisher on `live/{key}`, playable over HTTP.
struct Live {
    srv: Server,
    port: u16,
    key: String,
    started: Instant,
    _publisher: Proc,
}

impl Live {
    fn start(key: &str, publish_secs: u32) -> Live {
        require_ffmpeg();
        let srv = Server::start();
        let port = http::http_port(&srv);
        let started = Instant::now();
        let publisher = ffmpeg_publisher(
            srv.dir(),
            "ffmpeg-publisher",
            &srv.rtmp_url(key),
            publish_secs,
            &[],
        );
        http::wait_until_playable(srv.dir(), &format!("/live/{key}.flv"), port, PLAYABLE);
        Live {
            srv,
            port,
            key: key.to_string(),
            started,
            _publisher: publisher,
        }
    }

    fn url(&self, ext: &str) -> String {
        format!("http://127.0.0.1:{}/live/{}.{ext}", self.port, self.key)
    }
}

/// VLC plays every output weir has that its Debian build can read, at
/// nearly the full frame rate: at least 85 % of the 8 s × 30 fps. The
/// stream has been live for more than `--run-time` when VLC joins, so a
/// timeline that does not start at zero for the viewer (what stopped VLC
/// on live fMP4 before: it quit before the first frame) fails here.
#[test]
fn vlc_plays_rtmp_http_flv_hls_and_fmp4() {
    let mut live = Live::start("vlc", 90);
    // Long enough that the publisher's clock is past VLC's --run-time, and
    // the HLS playlist holds a few segments.
    sleep(Duration::from_secs(12).saturating_sub(live.started.elapsed()));
    let cases = [
        ("rtmp", live.srv.rtmp_url(&live.key)),
        ("http-flv", live.url("flv")),
        ("hls", live.url("m3u8")),
        ("fmp4", live.url("mp4")),
    ];
    let dir = live.srv.dir().to_path_buf();
    // VLC only remuxes, so all four run at once without competing for CPU.
    let frames: Vec<(&str, u64)> = std::thread::scope(|s| {
        let runs: Vec<_> = cases
            .iter()
            .map(|(name, url)| {
                let dir = &dir;
                s.spawn(move || {
                    (
                        *name,
                        vlc_frames(dir, &format!("vlc-{name}"), url, VLC_SECS),
                    )
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("VLC run panicked"))
            .collect()
    });
    let full = u64::from(VLC_SECS * FPS);
    for (name, n) in &frames {
        eprintln!("vlc {name}: {n} frames in {VLC_SECS} s (full rate: {full})");
    }
    for (name, n) in &frames {
        assert!(
            *n >= full * 85 / 100,
            "vlc {name}: {n} frames in {VLC_SECS} s, want at least 85 % of {full}"
        );
    }
    live.srv.assert_running();
}

/// Headless Chromium plays HLS with Video.js 8 (VHS) and Shaka Player 5,
/// and HTTP-FLV with flv.js 1.6: each must advance `currentTime` and
/// render at >= 20 fps with no player error.
#[test]
fn chromium_plays_videojs_shaka_and_flvjs() {
    http::require_browser();
    for pkg in ["video.js", "shaka-player", "flv.js"] {
        assert!(
            http::browser_dir().join("node_modules").join(pkg).is_dir(),
            "npm package {pkg} missing: run `npm ci --prefix crates/app/tests/browser` or `bash scripts/test.sh`"
        );
    }
    let live = Live::start("web", 90);
    // HLS players start a few segments behind the live edge: let the
    // playlist fill first.
    sleep(Duration::from_secs(8).saturating_sub(live.started.elapsed()));
    let cases = [
        ("videojs", live.url("m3u8")),
        ("shaka", live.url("m3u8")),
        ("flvjs", live.url("flv")),
    ];
    let results = http::run_browser(live.srv.dir(), 5, &cases, Duration::from_secs(150));
    assert_eq!(results.len(), cases.len(), "runner results: {results:?}");
    http::assert_browsers_played(&results);
}
