//! End-to-end RTSP credentials: `[auth]` stream keys double as RTSP
//! passwords (user name free). ffmpeg publishes and ffprobe plays with
//! `rtsp://user:KEY@…` (Digest, after a 401), GStreamer's rtspsrc plays
//! with `user-id`/`user-pw`, and a wrong password is asked again (401),
//! then refused (403, connection closed) and counted as `auth_denied`.

#[allow(dead_code)]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;

use common::clients::{
    ffmpeg_rtsp_publisher, gst_decoded_frames, require_ffmpeg, require_gst_elements,
};
use common::http::gst_launch;
use common::probe;
use common::rtsp::{wait_playable, TCP};
use common::server::Server;

/// Extra time a client gets, beyond what it should need, before it counts as hung.
const SLACK: Duration = Duration::from_secs(20);
const CONFIG: &str = r#"
[auth.apps.live.publish]
mode = "keys"
keys = ["pub-key"]

[auth.apps.live.play]
mode = "keys"
keys = ["play-key", "other-key"]
"#;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `rtsp://{user}:{password}@127.0.0.1:PORT/live/{key}`.
fn url_with(srv: &Server, user: &str, password: &str, key: &str) -> String {
    format!(
        "rtsp://{user}:{password}@127.0.0.1:{}/live/{key}",
        srv.rtsp_port()
    )
}

/// ffmpeg publishes and ffprobe plays with passwords in the URL (Digest);
/// GStreamer's rtspsrc plays with `user-id`/`user-pw`.
#[test]
fn digest_credentials_publish_and_play() {
    require_ffmpeg();
    require_gst_elements(&["rtspsrc", "rtph264depay", "h264parse", "avdec_h264"]);
    let srv = Server::start_with_config(CONFIG);
    let mut publisher = ffmpeg_rtsp_publisher(
        srv.dir(),
        "rtsp-digest-publisher",
        &url_with(&srv, "cam", "pub-key", "sec"),
        40,
        "tcp",
        &[],
    );
    let play_url = url_with(&srv, "viewer", "other-key", "sec");
    wait_playable(&srv, &play_url, TCP);

    let ffprobe = probe::spawn_player_with(srv.dir(), "rtsp-digest-player", &play_url, 5, TCP);
    let pipeline = format!(
        "rtspsrc location={} user-id=anyone user-pw=play-key protocols=tcp latency=0 \
         ! application/x-rtp,media=video ! rtph264depay ! h264parse ! avdec_h264 \
         ! fakesink name=vsink silent=false",
        srv.rtsp_url("sec")
    );
    let mut gst = gst_launch(srv.dir(), "gst-rtsp-digest-player", &pipeline);
    sleep(secs(6));
    gst.assert_running("rtspsrc with credentials must keep playing");
    gst.stop(secs(10));
    let analysis = probe::finish_player(ffprobe, secs(5) + SLACK);
    analysis.assert_clean("rtsp digest player");
    analysis.assert_test_codecs("rtsp digest player");
    analysis.assert_frames_delivered("rtsp digest player", 3.0, 0.9);
    let (pts, size_ok) = gst_decoded_frames(&mut gst);
    assert!(
        size_ok && pts.len() > 30,
        "rtspsrc decoded {} frames (640x360: {size_ok}); stderr:\n{}",
        pts.len(),
        gst.stderr_tail(30)
    );
    publisher.assert_running("the RTSP publisher with credentials must stay connected");
    let log = srv.log();
    assert!(
        !log.contains("play-key") && !log.contains("pub-key"),
        "a password reached the log:\n{log}"
    );
}

/// A connection that sends `requests` one after the other and returns each
/// response head (empty once the server has closed).
fn exchange(srv: &Server, requests: &[String]) -> Vec<String> {
    let mut s = TcpStream::connect(("127.0.0.1", srv.rtsp_port())).unwrap();
    s.set_read_timeout(Some(secs(10))).unwrap();
    let mut out = Vec::new();
    for req in requests {
        if s.write_all(req.as_bytes()).is_err() {
            out.push(String::new());
            continue;
        }
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        out.push(String::from_utf8_lossy(&head).into_owned());
    }
    out
}

/// Wrong passwords: asked again once (401 with fresh challenges), then
/// refused with 403 and the connection closed; ffprobe with a wrong
/// password plays nothing; every refusal is counted.
#[test]
fn wrong_password_is_asked_again_then_refused() {
    require_ffmpeg();
    let srv = Server::start_with_config(CONFIG);
    let url = srv.rtsp_url("x");
    let describe =
        |cseq: u32, auth: &str| format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: {cseq}\r\n{auth}\r\n");
    // Basic "u:wrong".
    let wrong = "Authorization: Basic dTp3cm9uZw==\r\n";
    let answers = exchange(
        &srv,
        &[
            describe(1, ""),
            describe(2, wrong),
            describe(3, wrong),
            describe(4, ""),
        ],
    );
    assert!(answers[0].starts_with("RTSP/1.0 401"), "{answers:?}");
    for scheme in [
        "WWW-Authenticate: Digest realm=\"weir\"",
        "algorithm=MD5",
        "algorithm=SHA-256",
        "WWW-Authenticate: Basic realm=\"weir\"",
    ] {
        assert!(answers[0].contains(scheme), "{scheme}: {}", answers[0]);
    }
    assert!(answers[1].starts_with("RTSP/1.0 401"), "{answers:?}");
    assert!(answers[2].starts_with("RTSP/1.0 403"), "{answers:?}");
    assert!(answers[2].contains("CSeq: 3"), "{answers:?}");
    assert!(
        answers[3].is_empty(),
        "the connection stays open: {answers:?}"
    );

    // A key in the query is final: 403 at once, no challenge.
    let answers = exchange(
        &srv,
        &[format!(
            "DESCRIBE {url}?key=bad RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        )],
    );
    assert!(answers[0].starts_with("RTSP/1.0 403"), "{answers:?}");

    let mut player = probe::spawn_player_with(
        srv.dir(),
        "rtsp-wrong-password",
        &url_with(&srv, "u", "not-a-key", "x"),
        2,
        TCP,
    );
    let status = player.expect_exit(secs(20));
    assert!(!status.success(), "ffprobe played with a wrong password");
    let metrics = common::http::get(srv.http_port(), "/metrics");
    let metrics = String::from_utf8_lossy(&metrics.body);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("weir_connection_errors_total")
                && l.contains("protocol=\"rtsp\"")
                && l.contains("kind=\"auth_denied\"")),
        "refusals are not counted:\n{metrics}"
    );
}
