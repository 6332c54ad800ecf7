//! End-to-end RTMP tests: real third-party publishers and players (ffmpeg,
//! ffprobe, rtmpdump, GStreamer) and weir's own `publish`/`play` against a
//! `weir serve` started per test.
//!
//! Run everything with `bash scripts/test.sh` (it installs the clients), or
//! just these with `cargo test -p weir --release --test rtmp_e2e`.
//! Timing thresholds assume a release build; each test takes 8–20 s of wall
//! time, mostly waiting for real-time streams.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{
    ffmpeg_publisher, gst_decoded_frames, gst_player, gst_publisher, make_flv, require_ffmpeg,
    require_gst_elements, require_tool, rtmpdump, stalled_player, weir_play, weir_publish,
    GST_ELEMENTS, HIGH_BITRATE,
};
use common::probe::{self, Analysis, FirstFrame, FPS};
use common::server::Server;
use common::tcp;

/// How long a stream may take to become playable after its publisher starts.
const PLAYABLE: Duration = Duration::from_secs(20);

/// Extra time a client gets, beyond what it should need, before it counts as hung.
const SLACK: Duration = Duration::from_secs(20);

/// The time-to-first-frame budget when the publisher is already live.
const FIRST_FRAME_BUDGET: Duration = Duration::from_millis(500);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn sleep_until(when: Instant) {
    sleep(when.saturating_duration_since(Instant::now()));
}

/// ffmpeg publishes, ffprobe plays: every frame arrives in order, starting
/// with a keyframe, and a player joining a live stream decodes its first
/// frame within 0.5 s (the GOP cache, not the next keyframe, serves it).
#[test]
fn ffmpeg_publisher_ffprobe_player() {
    require_ffmpeg();
    let srv = Server::start();
    let dir = srv.dir();
    let url = srv.rtmp_url("ffmpeg");
    let mut publisher = ffmpeg_publisher(dir, "ffmpeg-publisher", &url, 15, &[]);
    probe::wait_until_playable(dir, &url, PLAYABLE);
    let live = Instant::now();
    let player = probe::spawn_player(dir, "ffprobe-player", &url, 6);

    // The publisher has been live >= 3 s, so its last keyframe is up to 2 s old.
    sleep_until(live + secs(3));
    let mut first_frame: Vec<FirstFrame> = (0..3)
        .map(|_| {
            probe::first_frame_time(dir, &url, secs(10))
                .unwrap_or_else(|e| panic!("first-frame player failed: {e}"))
        })
        .collect();
    first_frame.sort_by_key(|f| f.since_connect);
    let runs: Vec<String> = first_frame
        .iter()
        .map(|f| format!("{:?} ({:?} from spawn)", f.since_connect, f.since_spawn))
        .collect();
    eprintln!("time to first decoded frame: {runs:?}");

    let analysis = probe::finish_player(player, secs(6) + SLACK);
    publisher.assert_running("it publishes for 15 s");
    analysis.assert_clean("ffprobe player");
    analysis.assert_test_codecs("ffprobe player");
    analysis.assert_frames_delivered("ffprobe player", 4.0, 0.95);
    let median = first_frame[1].since_connect;
    assert!(
        median <= FIRST_FRAME_BUDGET,
        "median time from connecting to the first decoded frame {median:?} exceeds \
         {FIRST_FRAME_BUDGET:?} (runs: {runs:?})"
    );
}

/// rtmpdump (librtmp) plays into an FLV file that decodes; with `digest`
/// it uses and verifies the Flash Player 9 digest handshake.
fn rtmpdump_plays(digest: bool) {
    require_ffmpeg();
    require_tool("rtmpdump");
    let srv = Server::start();
    let dir = srv.dir();
    let url = srv.rtmp_url("rtmpdump");
    let _publisher = ffmpeg_publisher(dir, "ffmpeg-publisher", &url, 20, &[]);
    probe::wait_until_playable(dir, &url, PLAYABLE);
    let out = dir.join("rtmpdump.flv");
    let mut player = rtmpdump(dir, "rtmpdump", &url, &out, digest);
    // `-B 3` asks the server to stop after 3 s; live servers may ignore it.
    if player.wait_exit(secs(5)).is_none() {
        player.stop(secs(5));
    }

    let log = player.stderr_text();
    assert!(
        log.contains("Handshaking finished"),
        "rtmpdump handshake failed:\n{}",
        player.stderr_tail(30)
    );
    if digest {
        assert!(
            log.contains("Client digest offset")
                && log.contains("Genuine Adobe Flash Media Server"),
            "rtmpdump did not complete a verified digest handshake:\n{}",
            player.stderr_tail(30)
        );
    } else {
        assert!(
            !log.contains("Client digest offset"),
            "rtmpdump used the digest handshake where the plain one was meant"
        );
    }
    let analysis = probe::probe_file(dir, &out);
    analysis.assert_clean("rtmpdump output");
    analysis.assert_test_codecs("rtmpdump output");
    analysis.assert_frames_delivered("rtmpdump output", 1.0, 0.95);
    let decoded = probe::decoded_video_frames(&out);
    assert!(
        decoded as f64 >= 0.95 * analysis.video_count() as f64,
        "only {decoded} of {} video frames in rtmpdump's output decode",
        analysis.video_count()
    );
}

#[test]
fn rtmpdump_plays_with_plain_handshake() {
    rtmpdump_plays(false);
}

#[test]
fn rtmpdump_plays_with_digest_handshake() {
    rtmpdump_plays(true);
}

/// GStreamer's rtmp2sink publishes; GStreamer's rtmp2src and ffprobe play it.
#[test]
fn gstreamer_publisher_and_player() {
    require_ffmpeg();
    require_gst_elements(GST_ELEMENTS);
    let srv = Server::start();
    let dir = srv.dir();
    let url = srv.rtmp_url("gstreamer");
    let mut publisher = gst_publisher(dir, &url);
    probe::wait_until_playable(dir, &url, PLAYABLE);
    let ffprobe_player = probe::spawn_player(dir, "ffprobe-player", &url, 5);
    let mut player = gst_player(dir, &url);
    sleep(secs(6));
    player.assert_running("rtmp2src must keep playing a live stream");
    player.stop(secs(10));
    let analysis = probe::finish_player(ffprobe_player, secs(5) + SLACK);
    publisher.assert_running("rtmp2sink must stay connected");

    let (pts, size_ok) = gst_decoded_frames(&mut player);
    assert!(
        size_ok,
        "avdec_h264 did not output 640x360 video; gst-launch stderr:\n{}",
        player.stderr_tail(20)
    );
    let span = match (pts.first(), pts.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    };
    assert!(
        span >= 3.0,
        "GStreamer decoded {} frames spanning only {span:.3} s",
        pts.len()
    );
    let expected = (span * FPS).round() + 1.0;
    assert!(
        pts.len() as f64 >= 0.95 * expected,
        "GStreamer decoded {} frames over {span:.3} s, expected >= 95% of {expected}",
        pts.len()
    );
    analysis.assert_clean("ffprobe player of rtmp2sink");
    analysis.assert_test_codecs("ffprobe player of rtmp2sink");
    analysis.assert_frames_delivered("ffprobe player of rtmp2sink", 3.5, 0.95);
}

/// A second encoder on a live key takes over: the first is disconnected and
/// a player that was watching keeps receiving frames, with DTS still rising.
#[test]
fn encoder_takeover_keeps_players_playing() {
    require_ffmpeg();
    let mut srv = Server::start_with_config("[hub]\ntakeover = true\n");
    let dir = srv.dir().to_path_buf();
    let url = srv.rtmp_url("takeover");
    let mut first = ffmpeg_publisher(&dir, "ffmpeg-publisher-a", &url, 60, &[]);
    probe::wait_until_playable(&dir, &url, PLAYABLE);
    let mut player = probe::spawn_player(&dir, "ffprobe-player", &url, 60);
    sleep(secs(3));
    let mut second = ffmpeg_publisher(&dir, "ffmpeg-publisher-b", &url, 60, &[]);
    if first.wait_exit(secs(10)).is_none() {
        panic!("publisher A is still connected 10 s after publisher B took its key over");
    }
    let taken_over = Instant::now();
    sleep(secs(5));
    second.assert_running("publisher B must stay live after taking over");
    player.assert_running(
        "a player must survive an encoder takeover (ffmpeg ends playback when the server \
         sends NetStream.Play.UnpublishNotify, Play.Stop or Stream EOF)",
    );
    srv.assert_running();
    player.kill();
    let analysis = Analysis::of(&mut player);
    analysis.assert_clean("player across a takeover");
    analysis.assert_flowing(
        "player after the takeover",
        taken_over + secs(1),
        taken_over + secs(5),
        0.8,
    );
}

/// A player that joins well after an encoder takeover gets the new
/// encoder's sequence headers on its first frame's time and `onMetaData` at
/// 0: ffprobe sees exactly one video and one audio stream (no data stream)
/// and media within its first 4 s, over RTMP and HTTP-FLV. With the headers
/// on the time they arrived, `-read_intervals %+4` ended before the first
/// frame and reported an extra data stream.
#[test]
fn a_player_joining_after_a_takeover_gets_headers_on_its_first_frame() {
    require_ffmpeg();
    let mut srv = Server::start_with_config("[hub]\ntakeover = true\n");
    let dir = srv.dir().to_path_buf();
    let url = srv.rtmp_url("late");
    let mut first = ffmpeg_publisher(&dir, "ffmpeg-publisher-a", &url, 60, &[]);
    probe::wait_until_playable(&dir, &url, PLAYABLE);
    sleep(secs(3));
    let mut second = ffmpeg_publisher(&dir, "ffmpeg-publisher-b", &url, 60, &[]);
    if first.wait_exit(secs(10)).is_none() {
        panic!("publisher A is still connected 10 s after publisher B took its key over");
    }
    // Several GOPs of the second encoder: its headers are old news now.
    sleep(secs(6));
    let flv = format!("{}/live/late.flv", srv.http_base());
    for (what, url) in [("rtmp", url.as_str()), ("http-flv", flv.as_str())] {
        let player = probe::spawn_player(&dir, &format!("ffprobe-late-{what}"), url, 4);
        let analysis = probe::finish_player(player, secs(30));
        let mut kinds: Vec<&str> = analysis
            .streams
            .iter()
            .map(|s| s.codec_type.as_str())
            .collect();
        kinds.sort_unstable();
        assert_eq!(kinds, ["audio", "video"], "{what}: {}", analysis.summary());
        assert!(
            analysis.video_count() >= 60 && analysis.audio_count() >= 60,
            "{what}: media within the first 4 s: {}",
            analysis.summary()
        );
        analysis.assert_clean(what);
    }
    second.assert_running("publisher B must stay live");
    srv.assert_running();
}

/// With takeover off, a second encoder on a live key is refused and the
/// first one keeps streaming to its players.
#[test]
fn second_publisher_rejected_without_takeover() {
    require_ffmpeg();
    let srv = Server::start_with_config("[hub]\ntakeover = false\n");
    assert_second_publisher_rejected(srv);
}

/// `[rtmp] takeover`, where the setting lived before it moved to `[hub]`,
/// still works, and the server says once at start that it is deprecated.
#[test]
fn deprecated_rtmp_takeover_key_still_works() {
    require_ffmpeg();
    let srv = Server::start_with_config("[rtmp]\ntakeover = false\n");
    let log = srv.log();
    assert_eq!(
        log.matches("[rtmp] takeover is deprecated").count(),
        1,
        "one deprecation warning at start:\n{log}"
    );
    assert_second_publisher_rejected(srv);
}

/// A second encoder on a live key of `srv` (whose takeover is off) is
/// refused and the first one keeps streaming to its player.
fn assert_second_publisher_rejected(mut srv: Server) {
    let dir = srv.dir().to_path_buf();
    let url = srv.rtmp_url("notakeover");
    let mut first = ffmpeg_publisher(&dir, "ffmpeg-publisher-a", &url, 60, &[]);
    probe::wait_until_playable(&dir, &url, PLAYABLE);
    let mut player = probe::spawn_player(&dir, "ffprobe-player", &url, 60);
    sleep(secs(2));
    let mut second = ffmpeg_publisher(&dir, "ffmpeg-publisher-b", &url, 60, &[]);
    let status = second
        .wait_exit(secs(15))
        .unwrap_or_else(|| panic!("publisher B was not rejected within 15 s"));
    assert!(
        !status.success(),
        "publisher B exited successfully; it should have been refused"
    );
    let rejected = Instant::now();
    sleep(secs(4));
    first.assert_running("publisher A must keep its key when takeover is off");
    player.assert_running("the player must keep playing publisher A");
    srv.assert_running();
    player.kill();
    let analysis = Analysis::of(&mut player);
    analysis.assert_clean("player of publisher A");
    analysis.assert_flowing(
        "player after B was refused",
        rejected,
        rejected + secs(4),
        0.8,
    );
}

/// A player that asks for a stream before it is live waits for the publisher.
#[test]
fn player_waits_for_late_publisher() {
    require_ffmpeg();
    let srv = Server::start_with_config("[rtmp]\nplay_wait_secs = 10\n");
    let dir = srv.dir();
    let url = srv.rtmp_url("late");
    let mut player = probe::spawn_player(dir, "ffprobe-player", &url, 4);
    sleep(secs(2));
    player.assert_running("a player of a stream that is not live yet must wait for it");
    let _publisher = ffmpeg_publisher(dir, "ffmpeg-publisher", &url, 15, &[]);
    let analysis = probe::finish_player(player, secs(4) + SLACK);
    analysis.assert_clean("late player");
    analysis.assert_test_codecs("late player");
    analysis.assert_frames_delivered("late player", 3.0, 0.95);
}

/// A player that stops reading (without disconnecting) must not slow down
/// the publisher or other players. The test first proves the stall reached
/// the server (its socket to the stalled player stopped draining, or it
/// dropped that player), then measures the healthy player.
#[test]
fn stalled_player_does_not_slow_others() {
    require_ffmpeg();
    let mut srv = Server::start();
    let dir = srv.dir().to_path_buf();
    let url = srv.rtmp_url("stall");
    let mut publisher = ffmpeg_publisher(&dir, "ffmpeg-publisher", &url, 60, HIGH_BITRATE);
    probe::wait_until_playable(&dir, &url, PLAYABLE);
    let stalled = stalled_player(&dir, &url);
    let mut player = probe::spawn_player(&dir, "ffprobe-player", &url, 60);
    let stall = tcp::wait_for_stall(srv.rtmp_port(), stalled.pid(), secs(40));
    eprintln!("the stall reached the server: {stall:?}");
    let from = Instant::now();
    sleep(secs(6));
    let to = Instant::now();
    publisher.assert_running("the publisher must not be blocked by a stalled player");
    player.assert_running("the healthy player must keep playing");
    srv.assert_running();
    player.kill();
    let analysis = Analysis::of(&mut player);
    analysis.assert_clean("player beside a stalled player");
    analysis.assert_flowing(
        &format!("player beside a stalled player ({stall:?})"),
        from,
        to,
        0.9,
    );
}

/// `weir publish FILE` then `weir play -o out.flv`: the played file holds the
/// source's frames and decodes.
#[test]
fn weir_publish_and_play_round_trip() {
    require_ffmpeg();
    let srv = Server::start();
    let dir = srv.dir();
    let source = dir.join("source.flv");
    make_flv(dir, &source, 12);
    let url = srv.rtmp_url("roundtrip");
    let mut publisher = weir_publish(dir, &source, &url);
    probe::wait_until_playable(dir, &url, PLAYABLE);
    let out = dir.join("played.flv");
    let mut player = weir_play(dir, &url, &out, 5);
    let status = player.expect_exit(secs(5) + SLACK);
    assert!(
        status.success(),
        "weir play failed ({status}):\n{}",
        player.stderr_tail(30)
    );
    if let Some(status) = publisher.try_status() {
        assert!(
            status.success(),
            "weir publish failed ({status}):\n{}",
            publisher.stderr_tail(30)
        );
    }
    let analysis = probe::probe_file(dir, &out);
    analysis.assert_clean("weir play output");
    analysis.assert_test_codecs("weir play output");
    analysis.assert_frames_delivered("weir play output", 3.5, 0.95);
    let decoded = probe::decoded_video_frames(&out);
    assert!(
        decoded as f64 >= 0.95 * analysis.video_count() as f64,
        "only {decoded} of {} video frames in weir play's output decode",
        analysis.video_count()
    );
}
