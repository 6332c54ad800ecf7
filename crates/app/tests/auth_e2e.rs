//! End-to-end access control: signed URLs, stream keys, IP lists and HTTP
//! callbacks, with ffmpeg/ffprobe as publisher and players over RTMP,
//! HTTP-FLV and HLS, and `weir sign` making the URLs.
//!
//! Run with `cargo test -p weir --release --test auth_e2e` (or the whole
//! suite with `bash scripts/test.sh`).

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg};
use common::hooks::Hooks;
use common::http::{get, send};
use common::probe::{self, Analysis};
use common::process::Proc;
use common::server::{self, Server};

const PLAYABLE: Duration = Duration::from_secs(20);
const PUBLISH_SECRET: &str = "publish-secret-0123456789";
const PLAY_SECRET: &str = "play-secret-0123456789ab";

/// `weir sign URL --secret S [--ttl-secs T]`, as a user would run it.
fn weir_sign(url: &str, secret: &str, ttl: u64) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args([
        "sign",
        url,
        "--secret",
        secret,
        "--ttl-secs",
        &ttl.to_string(),
    ]);
    let out = cmd.output().expect("run weir sign");
    assert!(out.status.success(), "weir sign failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs ffmpeg publishing to `url` and expects the server to refuse it:
/// ffmpeg ends with an error within a few seconds, naming the refusal.
fn assert_publish_refused(srv: &Server, name: &str, url: &str, why: &str) {
    let mut publisher = ffmpeg_publisher(srv.dir(), name, url, 10, &[]);
    let status = publisher.expect_exit(Duration::from_secs(15));
    assert!(
        !status.success(),
        "{name}: ffmpeg publish to {url} was accepted"
    );
    let log = srv.log();
    assert!(
        log.contains("access denied") && log.contains(why),
        "{name}: server log has no denial for {why:?}:\n{}",
        tail(&log)
    );
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// ffprobe reads `url` for `secs`; its analysis.
fn play(srv: &Server, name: &str, url: &str, secs: u32) -> Analysis {
    let player = probe::spawn_player(srv.dir(), name, url, secs);
    probe::finish_player(player, Duration::from_secs(secs as u64 + 20))
}

fn expect_play_refused(srv: &Server, name: &str, url: &str) {
    let player = probe::spawn_player(srv.dir(), name, url, 3);
    let mut player: Proc = player;
    let status = player.expect_exit(Duration::from_secs(15));
    let a = Analysis::of(&mut player);
    assert!(
        a.video_count() == 0,
        "{name}: {url} played {} frames though it should be refused ({status})",
        a.video_count()
    );
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    &rest[rest.find('/').unwrap()..]
}

/// Signed publish and play: no signature, a forged one and an expired one
/// are refused over RTMP (NetStream.Publish.BadName / Play.Failed),
/// HTTP-FLV and HLS (403); URLs from `weir sign` work with ffmpeg and
/// ffprobe.
#[test]
fn signed_urls_gate_publish_and_play_on_every_protocol() {
    require_ffmpeg();
    let srv = Server::start_with_config(&format!(
        r#"
[auth.apps.live.publish]
mode = "signed"
secret = "{PUBLISH_SECRET}"
[auth.apps.live.play]
mode = "signed"
secret = "{PLAY_SECRET}"
"#
    ));
    let url = srv.rtmp_url("cam");
    assert_publish_refused(&srv, "publish-unsigned", &url, "missing ?expires=");
    let forged = weir_sign(&url, "not-the-secret-0123456789", 600);
    assert_publish_refused(&srv, "publish-forged", &forged, "bad signature");
    // --ttl-secs 0 expires now; a second later it is past.
    let now_expiring = weir_sign(&url, PUBLISH_SECRET, 0);
    thread::sleep(Duration::from_millis(2100));
    assert_publish_refused(&srv, "publish-expired", &now_expiring, "expired");

    // The publisher's URL signed with the server's own config file, as an
    // operator would: `weir sign URL -c weir.toml` picks the app's secret.
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["sign", &url, "--for", "publish", "-c"])
        .arg(srv.dir().join("weir.toml"))
        .output()
        .expect("run weir sign -c");
    assert!(out.status.success(), "weir sign -c failed: {out:?}");
    let signed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &signed, 30, &[]);
    let play_rtmp = weir_sign(&url, PLAY_SECRET, 600);
    probe::wait_until_playable(srv.dir(), &play_rtmp, PLAYABLE);
    publisher.assert_running("a signed publish must be accepted");

    // RTMP play.
    expect_play_refused(&srv, "rtmp-unsigned", &url);
    let publish_signature_for_play = signed.clone();
    expect_play_refused(&srv, "rtmp-wrong-secret", &publish_signature_for_play);
    play(&srv, "rtmp-signed", &play_rtmp, 3).assert_frames_delivered("signed RTMP play", 1.5, 0.8);

    // HTTP-FLV and HLS.
    let port = srv.http_port();
    let flv = format!("{}/live/cam.flv", srv.http_base());
    assert_eq!(get(port, "/live/cam.m3u8").status, 403);
    assert_eq!(send(port, "GET", "/live/cam.flv", &[], false).status, 403);
    let bad = format!("/live/cam.flv?expires=9999999999&sign={}", "0".repeat(64));
    assert_eq!(send(port, "GET", &bad, &[], false).status, 403);
    let signed_flv = weir_sign(&flv, PLAY_SECRET, 600);
    assert_eq!(
        send(port, "GET", path_of(&signed_flv), &[], false).status,
        200
    );
    play(&srv, "flv-signed", &signed_flv, 3).assert_frames_delivered("signed HTTP-FLV", 1.5, 0.8);
    let signed_hls = weir_sign(
        &format!("{}/live/cam.m3u8", srv.http_base()),
        PLAY_SECRET,
        600,
    );
    let playlist = get(port, path_of(&signed_hls));
    assert_eq!(
        playlist.status,
        200,
        "{}",
        String::from_utf8_lossy(&playlist.body)
    );
    let segment = String::from_utf8_lossy(&playlist.body)
        .lines()
        .find(|l| l.ends_with(".ts"))
        .map(str::to_owned)
        .expect("a segment in the playlist");
    // The same viewer (address + User-Agent) fetches its segments without
    // signing each; the signature was checked with the playlist.
    assert_eq!(get(port, &format!("/live/{segment}")).status, 200);
    let denials = srv.log().matches("access denied").count();
    assert!(denials >= 7, "expected every refusal logged, saw {denials}");
    let metrics = String::from_utf8_lossy(&get(port, "/metrics").body).to_string();
    assert!(
        metrics.contains("kind=\"auth_denied\""),
        "refusals are counted in /metrics:\n{metrics}"
    );
    drop(publisher);
}

/// A static stream key: `?key=` with one of the keys publishes, another
/// does not.
#[test]
fn stream_keys_gate_publishing() {
    require_ffmpeg();
    let srv = Server::start_with_config(
        r#"
[auth.apps.live.publish]
mode = "keys"
keys = ["k-one", "k-two"]
"#,
    );
    let url = srv.rtmp_url("cam");
    assert_publish_refused(
        &srv,
        "publish-wrong-key",
        &format!("{url}?key=k-three"),
        "wrong stream key",
    );
    let mut publisher =
        ffmpeg_publisher(srv.dir(), "publisher", &format!("{url}?key=k-two"), 20, &[]);
    probe::wait_until_playable(srv.dir(), &url, PLAYABLE);
    publisher.assert_running("the right key must be accepted");
}

/// Deny lists: a player from a denied network is refused over RTMP and
/// HTTP, a publisher too; and out of the box only this machine may publish
/// (ffmpeg through the machine's non-loopback address is refused).
#[test]
fn deny_lists_and_the_loopback_default() {
    require_ffmpeg();
    let outside = server::non_loopback_address();
    let srv = Server::start_on(
        "0.0.0.0",
        &format!(
            r#"
[auth.apps.tv.play]
deny = ["127.0.0.0/8"]
[auth.apps.tv.publish]
mode = "open"
deny = ["{outside}/32"]
"#
        ),
    );
    let port = srv.rtmp_port();
    // Default app rules: loopback may publish, another address may not, and
    // the server's first line says so.
    let first = srv.log().lines().next().unwrap_or_default().to_owned();
    assert!(
        first.contains("publishing: loopback clients only"),
        "first log line: {first}"
    );
    let outside_url = format!("rtmp://{outside}:{port}/live/cam");
    assert_publish_refused(
        &srv,
        "publish-from-outside",
        &outside_url,
        "only from this machine",
    );
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("cam"), 30, &[]);
    probe::wait_until_playable(srv.dir(), &srv.rtmp_url("cam"), PLAYABLE);
    // Playing from outside is open by default.
    play(&srv, "play-from-outside", &outside_url, 2).assert_frames_delivered("open play", 1.0, 0.7);

    // App tv: open publishing except from the outside address; loopback
    // may not play.
    let tv = format!("rtmp://{outside}:{port}/tv/cam");
    assert_publish_refused(&srv, "publish-denied-address", &tv, "is denied");
    let mut tv_publisher = ffmpeg_publisher(
        srv.dir(),
        "tv-publisher",
        &format!("rtmp://127.0.0.1:{port}/tv/cam"),
        30,
        &[],
    );
    let tv_outside = format!("rtmp://{outside}:{port}/tv/cam");
    probe::wait_until_playable(srv.dir(), &tv_outside, PLAYABLE);
    expect_play_refused(
        &srv,
        "play-denied-rtmp",
        &format!("rtmp://127.0.0.1:{port}/tv/cam"),
    );
    assert_eq!(
        send(srv.http_port(), "GET", "/tv/cam.flv", &[], false).status,
        403
    );
    publisher.assert_running("the loopback publisher keeps publishing");
    tv_publisher.assert_running("the tv publisher keeps publishing");
}

/// Callbacks: a web application that says yes lets ffmpeg publish and
/// ffprobe play (and hears on_connect, on_publish, on_play, on_stop and
/// on_unpublish with the stream and client), one that says no or does not
/// answer in time refuses.
#[test]
fn http_callbacks_decide_and_are_notified() {
    require_ffmpeg();
    let hooks = Hooks::start();
    let b = &hooks.base;
    let srv = Server::start_with_config(&format!(
        r#"
[auth]
hook_timeout_secs = 1.0
[auth.apps.yes]
on_connect = "{b}/yes"
on_publish = "{b}/yes"
on_unpublish = "{b}/yes"
on_play = "{b}/yes"
on_stop = "{b}/yes"
[auth.apps.no]
on_publish = "{b}/no"
[auth.apps.slow]
on_publish = "{b}/slow"
[auth.apps.noplay]
on_play = "{b}/no"
"#
    ));
    let port = srv.rtmp_port();
    let url = |app: &str| format!("rtmp://127.0.0.1:{port}/{app}/cam");
    assert_publish_refused(
        &srv,
        "publish-callback-no",
        &url("no"),
        "on_publish callback answered 403",
    );
    let started = Instant::now();
    assert_publish_refused(&srv, "publish-callback-slow", &url("slow"), "timed out");
    assert!(started.elapsed() < Duration::from_secs(12));

    let mut publisher = ffmpeg_publisher(
        srv.dir(),
        "publisher",
        &format!("{}?token=t1", url("yes")),
        30,
        &[],
    );
    probe::wait_until_playable(srv.dir(), &url("yes"), PLAYABLE);
    publisher.assert_running("a yes from on_publish must let the publisher in");
    play(&srv, "player", &url("yes"), 2).assert_frames_delivered("callback-allowed play", 1.0, 0.7);
    hooks.wait_for("on_stop:yes", Duration::from_secs(10));
    drop(publisher);
    hooks.wait_for("on_unpublish:yes", Duration::from_secs(10));
    let calls = hooks.calls.lock().unwrap().clone();
    let publish = calls
        .iter()
        .find(|(_, b)| b["action"] == "on_publish" && b["app"] == "yes")
        .map(|(_, b)| b.clone())
        .unwrap();
    assert_eq!(publish["stream"], "cam");
    assert_eq!(publish["protocol"], "rtmp");
    assert_eq!(publish["ip"], "127.0.0.1");
    assert_eq!(publish["params"]["token"], "t1");
    assert!(publish["client_id"].as_u64().is_some());
    assert!(hooks.actions().contains(&"on_connect:yes".to_owned()));

    // A refusing on_play: 403 over HTTP too.
    let mut other = ffmpeg_publisher(srv.dir(), "noplay-publisher", &url("noplay"), 30, &[]);
    let deadline = Instant::now() + PLAYABLE;
    while get(srv.http_port(), "/api/v1/streams")
        .body
        .windows(6)
        .all(|w| w != b"noplay")
    {
        assert!(Instant::now() < deadline, "noplay never went live");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        send(srv.http_port(), "GET", "/noplay/cam.flv", &[], false).status,
        403
    );
    expect_play_refused(&srv, "rtmp-noplay", &url("noplay"));
    other.assert_running("publishing is not affected by on_play");
}
