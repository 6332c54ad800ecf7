//! End-to-end camera pull: a simulated IP camera (gst-rtsp-server, run by
//! `tests/cameras/rtsp_camera.py` with Debian's /usr/bin/python3) is pulled
//! by weir on demand and always-on, played with ffprobe over RTMP, RTSP
//! and HTTP-FLV, killed and restarted while players stay, and managed
//! through `/api/v1/pulls`; an RTMP source (ffmpeg publishing to weir
//! itself) is pulled over `rtmp://` the same way.

#[allow(dead_code)]
mod common;

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg, require_gst_elements};
use common::http::{request, Response};
use common::probe::{self, Analysis, Media};
use common::process::{Proc, Stdout};
use common::server::{free_port, Server};
use serde_json::Value;

const TOKEN: &str = "pull-test-token";
const PYTHON: &str = "/usr/bin/python3";
const TCP: &[&str] = &["-rtsp_transport", "tcp"];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Fails with an install hint unless the camera can run: Debian's python3
/// with GObject introspection for gst-rtsp-server, and the encoders and
/// payloaders of both camera kinds.
fn require_camera() {
    let ok = Command::new(PYTHON)
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); \
             from gi.repository import GstRtspServer",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the simulated camera needs {PYTHON} with gst-rtsp-server bindings: \
         `apt-get install python3-gi gir1.2-gst-rtsp-server-1.0` or run `bash scripts/test.sh`"
    );
    require_gst_elements(&[
        "x264enc",
        "x265enc",
        "avenc_aac",
        "alawenc",
        "rtph264pay",
        "rtph265pay",
        "rtpmp4gpay",
        "rtppcmapay",
    ]);
    require_ffmpeg();
}

/// A simulated camera at `rtsp://127.0.0.1:{port}/cam`, killed on drop.
struct Camera {
    proc: Proc,
    port: u16,
}

impl Camera {
    /// Starts `kind` (`h264-aac`, `h265-pcma`) on `port` and waits (bounded)
    /// until it listens. A port still held by a just-killed camera is
    /// retried for a few seconds.
    fn start(dir: &Path, name: &str, port: u16, kind: &str) -> Camera {
        Camera::start_with(dir, name, port, kind, &[])
    }

    /// Like [`Camera::start`]; `creds` (user, password) make the camera
    /// ask for Basic auth.
    fn start_with(dir: &Path, name: &str, port: u16, kind: &str, creds: &[&str]) -> Camera {
        Camera::start_env(dir, name, port, kind, creds, &[])
    }

    /// Like [`Camera::start_with`], with environment variables for the
    /// script: `CAMERA_TCP_ONLY=1` makes the camera refuse RTP over UDP
    /// (461), like one behind a firewall; `CAMERA_AUTH=digest` makes it ask
    /// for Digest only.
    fn start_env(
        dir: &Path,
        name: &str,
        port: u16,
        kind: &str,
        creds: &[&str],
        env: &[(&str, &str)],
    ) -> Camera {
        let deadline = Instant::now() + secs(30);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut cmd = Command::new(PYTHON);
            cmd.arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/cameras/rtsp_camera.py"
            ))
            .arg(port.to_string())
            .arg(kind)
            .args(creds)
            .envs(env.iter().copied());
            let mut proc = Proc::spawn(&format!("{name}-{attempt}"), dir, cmd, Stdout::Lines);
            loop {
                if proc.lines().iter().any(|(_, l)| l == "ready") {
                    return Camera { proc, port };
                }
                if !proc.is_running() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "camera {kind} did not listen on {port} within 30 s: {}",
                    proc.stderr_tail(20)
                );
                sleep(Duration::from_millis(50));
            }
            assert!(
                Instant::now() < deadline,
                "camera {kind} could not listen on {port}: {:?} {}",
                proc.lines(),
                proc.stderr_tail(20)
            );
            sleep(Duration::from_millis(300));
        }
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    /// RTSP clients that connected / went away so far.
    fn clients(&mut self) -> (usize, usize) {
        let lines = self.proc.lines();
        let count = |what: &str| lines.iter().filter(|(_, l)| l == what).count();
        (count("client"), count("client-closed"))
    }
}

fn config(pulls: &str) -> String {
    format!("[api]\napi_token = \"{TOKEN}\"\n\n{pulls}")
}

fn api(srv: &Server, method: &str, path: &str, body: Option<&str>, token: bool) -> Response {
    let body = body.unwrap_or("");
    let auth = if token {
        format!("Authorization: Bearer {TOKEN}\r\n")
    } else {
        String::new()
    };
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    request(srv.http_port(), raw.as_bytes(), true)
}

/// The pull of `live/{stream}` as `GET /api/v1/pulls` shows it.
fn pull(srv: &Server, stream: &str) -> Option<Value> {
    let r = api(srv, "GET", "/api/v1/pulls", None, false);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).expect("pulls JSON");
    v["pulls"]
        .as_array()
        .expect("pulls array")
        .iter()
        .find(|p| p["app"] == "live" && p["stream"] == stream)
        .cloned()
}

/// Waits (bounded) until the pull of `live/{stream}` is in `state`.
fn wait_state(srv: &Server, stream: &str, state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let p = pull(srv, stream).unwrap_or_else(|| panic!("no pull of live/{stream}"));
        if p["state"] == state {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "pull of live/{stream} not {state} within {within:?}: {p}; server log:\n{}",
            srv.log()
        );
        sleep(Duration::from_millis(200));
    }
}

/// On demand: the camera is untouched until a viewer arrives; the viewer
/// gets H.264 + AAC from a keyframe at the camera's 30 fps; the pull stops
/// `close_after_secs` after the viewer left.
#[test]
fn on_demand_pull_starts_with_a_viewer_and_stops_when_idle() {
    require_camera();
    let dir = tempfile::tempdir().unwrap();
    let mut cam = Camera::start(dir.path(), "camera", free_port(), "h264-aac");
    let srv = Server::start_with_config(&config(&format!(
        "[[pull]]\nstream = \"live/door\"\nurl = \"{}\"\nclose_after_secs = 2\n",
        cam.url()
    )));
    let idle = pull(&srv, "door").expect("the [[pull]] entry is listed");
    assert_eq!(idle["state"], "idle", "{idle}");
    assert_eq!(idle["on_demand"], true);
    assert_eq!(idle["transport"], "tcp");
    sleep(secs(1));
    assert_eq!(
        cam.clients().0,
        0,
        "nobody watches: the camera is not pulled"
    );

    let mut player = probe::spawn_player(srv.dir(), "ffprobe-rtmp", &srv.rtmp_url("door"), 6);
    let running = wait_state(&srv, "door", "running", secs(20));
    assert_eq!(cam.clients().0, 1, "one camera session for the viewer");
    let status = player.wait_exit(secs(40)).expect("player finished");
    assert!(status.success(), "ffprobe: {}", player.stderr_tail(20));
    let a = Analysis::of(&mut player);
    a.assert_clean("rtmp player of an on-demand pull");
    let video = a.stream("video").expect("video stream");
    assert_eq!(
        (video.codec_name.as_str(), video.width, video.height),
        ("h264", Some(320), Some(240)),
        "{}",
        a.summary()
    );
    assert!(
        a.stream("audio").is_some_and(|s| s.codec_name == "aac") && a.audio_count() > 50,
        "{}",
        a.summary()
    );
    a.assert_frames_delivered("rtmp player of an on-demand pull", 5.0, 0.9);
    let running_kbps = pull(&srv, "door").unwrap()["bitrate_kbps"].clone();
    println!(
        "on demand: {} video / {} audio packets over {:.2} s; API {running}; {running_kbps} kbps",
        a.video_count(),
        a.audio_count(),
        a.video_dts_span()
    );

    // Nobody watches: stopped after close_after_secs (2 s), the camera sees its
    // client leave.
    let left = Instant::now();
    let stopped = wait_state(&srv, "door", "idle", secs(15));
    let took = left.elapsed();
    assert!(
        took >= secs(1),
        "stopped {took:?} after the viewer left, before close_after_secs"
    );
    let deadline = Instant::now() + secs(10);
    while cam.clients().1 < 1 {
        assert!(
            Instant::now() < deadline,
            "the camera never saw the pull leave"
        );
        sleep(Duration::from_millis(100));
    }
    println!("idle: stopped {took:?} after the viewer left: {stopped}");
    let gone = api(&srv, "GET", "/api/v1/streams/live/door", None, false);
    assert_eq!(gone.status, 404, "the stream is gone with its pull");

    // A second viewer, over RTSP this time: its DESCRIBE waits while the
    // pull starts again.
    let mut player =
        probe::spawn_player_with(srv.dir(), "ffprobe-rtsp", &srv.rtsp_url("door"), 3, TCP);
    let status = player.wait_exit(secs(40)).expect("player finished");
    assert!(status.success(), "ffprobe: {}", player.stderr_tail(20));
    let a = Analysis::of(&mut player);
    a.assert_clean("rtsp player of a restarted on-demand pull");
    assert!(
        a.stream("video").is_some_and(|s| s.codec_name == "h264")
            && a.stream("audio").is_some_and(|s| s.codec_name == "aac"),
        "{}",
        a.summary()
    );
    a.assert_frames_delivered("rtsp player of a restarted on-demand pull", 2.0, 0.8);
    assert_eq!(
        cam.clients().0,
        2,
        "a second camera session for the second viewer"
    );
    println!("second viewer over RTSP: {}", a.summary());
}

/// Always-on H.265 + G.711 A-law from a camera that asks for Digest auth:
/// pulled at start with no viewer, played out of weir over RTSP as hevc +
/// pcm_alaw.
#[test]
fn always_on_h265_and_g711_play_over_rtsp() {
    require_camera();
    let dir = tempfile::tempdir().unwrap();
    // A camera that asks for Digest only, credentials in the [[pull]] URL
    // (percent-encoded, as URLs want them).
    let mut cam = Camera::start_env(
        dir.path(),
        "camera",
        free_port(),
        "h265-pcma",
        &["admin", "p@ss word"],
        &[("CAMERA_AUTH", "digest")],
    );
    let srv = Server::start_with_config(&config(&format!(
        "[[pull]]\napp = \"live\"\nstream = \"yard\"\n\
         url = \"rtsp://admin:p%40ss%20word@127.0.0.1:{}/cam\"\non_demand = false\n",
        cam.port
    )));
    let running = wait_state(&srv, "yard", "running", secs(20));
    assert_eq!(running["on_demand"], false);
    assert_eq!(cam.clients().0, 1);
    let mut player =
        probe::spawn_player_with(srv.dir(), "ffprobe-rtsp", &srv.rtsp_url("yard"), 4, TCP);
    let status = player.wait_exit(secs(40)).expect("player finished");
    assert!(status.success(), "ffprobe: {}", player.stderr_tail(20));
    let a = Analysis::of(&mut player);
    assert!(
        a.stream("video").is_some_and(|s| s.codec_name == "hevc"),
        "{}",
        a.summary()
    );
    assert!(
        a.stream("audio")
            .is_some_and(|s| s.codec_name == "pcm_alaw"),
        "{}",
        a.summary()
    );
    assert!(a.audio_count() > 20, "{}", a.summary());
    a.assert_clean("rtsp player of an always-on H.265 pull");
    a.assert_frames_delivered("rtsp player of an always-on H.265 pull", 3.0, 0.8);
    println!(
        "always-on: {} hevc / {} pcm_alaw packets over {:.2} s",
        a.video_count(),
        a.audio_count(),
        a.video_dts_span()
    );
    // Always-on stays on with nobody watching.
    sleep(secs(3));
    let p = pull(&srv, "yard").unwrap();
    assert_eq!(p["state"], "running", "{p}");
    assert_eq!(cam.clients(), (1, 0), "one session all along");
}

/// The camera dies while players watch over HTTP-FLV and RTMP and comes
/// back on the same port 2 s later: the pull reconnects (backoff) and keeps
/// its hub publisher meanwhile, so both players stay connected and get
/// frames again, every track's DTS non-decreasing across the outage.
#[test]
fn pull_reconnects_after_the_camera_restarts_and_the_players_see_frames_again() {
    require_camera();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cam = Camera::start(dir.path(), "camera-a", port, "h264-aac");
    // Default HTTP settings (no wait for publishers): the HTTP-FLV viewer
    // still waits for the on-demand pull its arrival starts.
    let srv = Server::start_with_config(&config(&format!(
        "[[pull]]\napp = \"live\"\nstream = \"gate\"\nurl = \"{}\"\n",
        cam.url()
    )));
    let flv = format!("{}/live/gate.flv", srv.http_base());
    let mut players = [
        probe::spawn_player(srv.dir(), "ffprobe-flv", &flv, 120),
        probe::spawn_player(srv.dir(), "ffprobe-rtmp", &srv.rtmp_url("gate"), 120),
    ];
    let names = ["HTTP-FLV", "RTMP"];
    wait_state(&srv, "gate", "running", secs(20));
    // Play for 6 s (a good session: the backoff starts over at 1 s).
    sleep(secs(6));
    let killed = Instant::now();
    drop(cam);
    let retrying = wait_state(&srv, "gate", "retrying", secs(10));
    println!("camera killed: {retrying}");
    // The pull still publishes while it retries: the stream stays live.
    let stream = api(&srv, "GET", "/api/v1/streams/live/gate", None, false);
    assert_eq!(
        stream.status, 200,
        "the stream stays while the pull retries"
    );
    sleep(secs(2).saturating_sub(killed.elapsed()));
    let mut cam = Camera::start(dir.path(), "camera-b", port, "h264-aac");
    let restarted = Instant::now();
    let back = wait_state(&srv, "gate", "running", secs(40));
    let reconnected = restarted.elapsed();
    assert!(back["retries"].as_u64().unwrap() >= 1, "{back}");
    assert!(
        back["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{back}"
    );
    assert!(cam.clients().0 >= 1);
    // The players stayed: count their frames that arrived after the restart.
    let deadline = Instant::now() + secs(30);
    for (player, name) in players.iter_mut().zip(names) {
        loop {
            assert!(
                player.is_running(),
                "the {name} player left across the restart: {}",
                player.stderr_tail(20)
            );
            let after = Analysis::of(player).video_arrivals(restarted, Instant::now());
            if after >= 90 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {after} frames reached the {name} player after the camera came back"
            );
            sleep(Duration::from_millis(200));
        }
    }
    for (player, name) in players.iter_mut().zip(names) {
        player.kill();
        let a = Analysis::of(player);
        a.assert_clean(&format!("{name} player across a camera restart"));
        let before = a.video_arrivals(killed - secs(6), killed);
        let after = a.video_arrivals(restarted, Instant::now());
        let steps: Vec<f64> = a
            .of_media(Media::Video)
            .filter_map(|p| p.dts)
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        let biggest = steps.iter().copied().fold(0.0, f64::max);
        // The timeline goes on by about the wall-clock outage, not back
        // to zero and not by nothing.
        assert!(
            biggest >= 1.0 && biggest <= killed.elapsed().as_secs_f64(),
            "{name}: largest DTS step {biggest:.3} s"
        );
        println!(
            "reconnect, {name} player: {before} frames in the 6 s before the kill, {after} after \
             the restart; running again {reconnected:?} after the camera restarted; largest \
             DTS step {biggest:.3} s; API {back}"
        );
    }
}

/// `POST /api/v1/pulls` adds an always-on pull of a camera that asks for
/// credentials (201, 409 for a second, 401 without the token, 400 for a
/// bad URL), `DELETE` stops it (204, then 404) and the camera sees it
/// leave.
#[test]
fn pulls_api_adds_lists_and_removes() {
    require_camera();
    let dir = tempfile::tempdir().unwrap();
    let mut cam = Camera::start_with(
        dir.path(),
        "camera",
        free_port(),
        "h264-aac",
        &["admin", "secret"],
    );
    let srv = Server::start_with_config(&config(""));
    let body = format!(
        r#"{{"stream":"live/lobby","url":"rtsp://admin:secret@127.0.0.1:{}/cam","on_demand":false}}"#,
        cam.port
    );
    let r = api(&srv, "POST", "/api/v1/pulls", Some(&body), false);
    assert_eq!(r.status, 401, "no token");
    let r = api(&srv, "POST", "/api/v1/pulls", Some(&body), true);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = api(&srv, "POST", "/api/v1/pulls", Some(&body), true);
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let bad = r#"{"app":"live","stream":"x","url":"http://127.0.0.1/cam"}"#;
    assert_eq!(
        api(&srv, "POST", "/api/v1/pulls", Some(bad), true).status,
        400
    );
    let running = wait_state(&srv, "lobby", "running", secs(20));
    let url = running["url"].as_str().unwrap();
    assert!(!url.contains("secret") && url.contains("***"), "{running}");
    assert_eq!(running["from_api"], true);
    // The pull is a publisher the API lists like any other.
    let streams = api(&srv, "GET", "/api/v1/streams/live/lobby", None, false);
    assert_eq!(streams.status, 200);
    let metrics = api(&srv, "GET", "/metrics", None, false);
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("weir_pull_state{app=\"live\",stream=\"lobby\",state=\"running\"} 1"),
        "{text}"
    );
    // Kicking the publisher ends the session; the pull reconnects.
    let kicked = api(&srv, "DELETE", "/api/v1/streams/live/lobby", None, true);
    assert!(
        kicked.status < 300,
        "{}",
        String::from_utf8_lossy(&kicked.body)
    );
    let deadline = Instant::now() + secs(20);
    let again = loop {
        let p = pull(&srv, "lobby").unwrap();
        if p["state"] == "running" && p["retries"].as_u64() >= Some(1) {
            break p;
        }
        assert!(Instant::now() < deadline, "no reconnect after a kick: {p}");
        sleep(Duration::from_millis(200));
    };
    assert_eq!(again["last_error"], "publisher closed: kicked", "{again}");
    let r = api(&srv, "DELETE", "/api/v1/pulls/live/lobby", None, true);
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        api(&srv, "DELETE", "/api/v1/pulls/live/lobby", None, true).status,
        404
    );
    assert!(pull(&srv, "lobby").is_none());
    let deadline = Instant::now() + secs(10);
    // The kicked session and the deleted one both left.
    while cam.clients().1 < 2 {
        assert!(
            Instant::now() < deadline,
            "the camera never saw the pull leave"
        );
        sleep(Duration::from_millis(100));
    }
}

/// `transport = "udp"` pulls RTP over UDP; `transport = "auto"` tries UDP
/// first and, against a camera that refuses UDP (461), falls back to TCP
/// at once.
#[test]
fn udp_and_auto_transports() {
    require_camera();
    let dir = tempfile::tempdir().unwrap();
    let udp_cam = Camera::start(dir.path(), "camera-udp", free_port(), "h264-aac");
    let tcp_cam = Camera::start_env(
        dir.path(),
        "camera-tcp",
        free_port(),
        "h264-aac",
        &[],
        &[("CAMERA_TCP_ONLY", "1")],
    );
    let srv = Server::start_with_config(&config(&format!(
        "[[pull]]\napp = \"live\"\nstream = \"udp\"\nurl = \"{}\"\ntransport = \"udp\"\n\
         on_demand = false\n\n\
         [[pull]]\napp = \"live\"\nstream = \"auto\"\nurl = \"{}\"\ntransport = \"auto\"\n\
         on_demand = false\n",
        udp_cam.url(),
        tcp_cam.url()
    )));
    let udp = wait_state(&srv, "udp", "running", secs(20));
    assert_eq!(udp["retries"], 0, "{udp}");
    let auto = wait_state(&srv, "auto", "running", secs(20));
    let log = srv.log();
    let refused = log
        .lines()
        .find(|l| l.contains("stream=live/auto") && l.contains("udp=true"))
        .unwrap_or_else(|| panic!("no UDP attempt of live/auto logged:\n{log}"));
    assert!(refused.contains("461"), "the camera refused UDP: {refused}");
    assert!(
        log.contains("no media over UDP: switching to TCP stream=live/auto"),
        "{log}"
    );
    assert!(
        !log.lines()
            .skip_while(|l| !l.contains("switching to TCP"))
            .any(|l| l.contains("stream=live/auto") && l.contains("udp=true")),
        "after the switch, only TCP: {log}"
    );
    for stream in ["udp", "auto"] {
        let mut player = probe::spawn_player(
            srv.dir(),
            &format!("ffprobe-{stream}"),
            &srv.rtmp_url(stream),
            3,
        );
        let status = player.wait_exit(secs(30)).expect("player finished");
        assert!(status.success(), "ffprobe: {}", player.stderr_tail(20));
        let a = Analysis::of(&mut player);
        a.assert_clean(stream);
        a.assert_frames_delivered(stream, 2.0, 0.8);
        println!("{stream}: {}", a.summary());
    }
    println!("auto: {auto}");
}

/// `transport = "auto"` against a camera whose network loses 5 % of its
/// video packets: the UDP session is given up after
/// `weir_pull::LOSS_LIMIT` losses and the pull goes on over TCP (where
/// this camera still drops packets, so players see what they would with
/// a bad camera: the stream keeps flowing).
#[test]
fn auto_transport_moves_from_a_lossy_udp_session_to_tcp() {
    require_camera();
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start_env(
        dir.path(),
        "camera-lossy",
        free_port(),
        "h264-aac",
        &[],
        &[("CAMERA_LOSS", "0.05")],
    );
    let srv = Server::start_with_config(&config(&format!(
        "[[pull]]\napp = \"live\"\nstream = \"lossy\"\nurl = \"{}\"\ntransport = \"auto\"\n\
         on_demand = false\n",
        cam.url()
    )));
    let deadline = Instant::now() + secs(30);
    while !srv
        .log()
        .contains("packet loss over UDP: switching to TCP stream=live/lossy")
    {
        assert!(
            Instant::now() < deadline,
            "no switch to TCP within 30 s: {}",
            srv.log()
        );
        sleep(Duration::from_millis(200));
    }
    let p = wait_state(&srv, "lossy", "running", secs(20));
    assert!(
        p["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("lost over UDP")),
        "{p}"
    );
    let log = srv.log();
    let after: Vec<&str> = log
        .lines()
        .skip_while(|l| !l.contains("switching to TCP"))
        .filter(|l| l.contains("camera pull running"))
        .collect();
    assert!(
        after.iter().all(|l| l.contains("udp=false")) && !after.is_empty(),
        "after the switch, TCP: {log}"
    );
    println!("lossy: {p}");
}

/// `rtmp://` pull: ffmpeg publishes `live/src` to weir over RTMP and a
/// pull added through the API plays it into `live/copy` with weir's RTMP
/// client: on demand (untouched until a viewer comes, stopped
/// `close_after_secs` after it left), listed as `rtmp-pull`, H.264 + AAC
/// from a keyframe at 30 fps; the source publisher killed and restarted
/// while an RTMP player of the copy stays: the pull reconnects and the
/// player gets frames again with non-decreasing DTS.
#[test]
fn rtmp_pull_on_demand_and_across_a_source_restart() {
    require_ffmpeg();
    let srv = Server::start_with_config(&config(""));
    let src = srv.rtmp_url("src");
    let mut publisher = ffmpeg_publisher(srv.dir(), "ffmpeg-src-a", &src, 300, &[]);
    probe::wait_until_playable(srv.dir(), &src, secs(20));

    let srt = r#"{"stream":"live/x","url":"srt://127.0.0.1/live/src"}"#;
    let r = api(&srv, "POST", "/api/v1/pulls", Some(srt), true);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let body = format!(r#"{{"stream":"live/copy","url":"{src}","close_after_secs":2}}"#);
    let r = api(&srv, "POST", "/api/v1/pulls", Some(&body), true);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    sleep(secs(1));
    let idle = pull(&srv, "copy").expect("the pull is listed");
    assert_eq!(idle["state"], "idle", "{idle}");
    let clients = |srv: &Server| {
        let r = api(srv, "GET", "/api/v1/clients?per_page=100", None, false);
        String::from_utf8_lossy(&r.body).into_owned()
    };
    assert!(
        !clients(&srv).contains("rtmp-pull"),
        "nobody watches: not pulled"
    );

    // A viewer over HTTP-FLV starts it.
    let flv = format!("{}/live/copy.flv", srv.http_base());
    let mut player = probe::spawn_player(srv.dir(), "ffprobe-flv", &flv, 6);
    let running = wait_state(&srv, "copy", "running", secs(20));
    assert!(clients(&srv).contains("\"rtmp-pull\""), "{}", clients(&srv));
    let status = player.wait_exit(secs(40)).expect("player finished");
    assert!(status.success(), "ffprobe: {}", player.stderr_tail(20));
    let a = Analysis::of(&mut player);
    a.assert_clean("HTTP-FLV player of an RTMP pull");
    a.assert_test_codecs("HTTP-FLV player of an RTMP pull");
    assert!(a.audio_count() > 50, "{}", a.summary());
    a.assert_frames_delivered("HTTP-FLV player of an RTMP pull", 5.0, 0.9);
    println!("rtmp pull on demand: {}; API {running}", a.summary());

    let left = Instant::now();
    let stopped = wait_state(&srv, "copy", "idle", secs(15));
    let took = left.elapsed();
    assert!(
        took >= secs(1),
        "stopped {took:?} after the viewer left, before close_after_secs"
    );
    println!("rtmp pull idle {took:?} after the viewer left: {stopped}");

    // An RTMP viewer starts it again and stays while the source restarts.
    let mut player = probe::spawn_player(srv.dir(), "ffprobe-rtmp", &srv.rtmp_url("copy"), 120);
    wait_state(&srv, "copy", "running", secs(20));
    sleep(secs(6));
    let killed = Instant::now();
    publisher.kill();
    let retrying = wait_state(&srv, "copy", "retrying", secs(10));
    println!("source killed: {retrying}");
    sleep(secs(2).saturating_sub(killed.elapsed()));
    let _publisher = ffmpeg_publisher(srv.dir(), "ffmpeg-src-b", &src, 300, &[]);
    let restarted = Instant::now();
    let deadline = Instant::now() + secs(40);
    let back = loop {
        let p = pull(&srv, "copy").unwrap();
        if p["state"] == "running" && p["retries"].as_u64() >= Some(1) {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no reconnect after the source came back: {p}; log:\n{}",
            srv.log()
        );
        sleep(Duration::from_millis(200));
    };
    let reconnected = restarted.elapsed();
    let deadline = Instant::now() + secs(30);
    loop {
        assert!(
            player.is_running(),
            "the RTMP player left across the source restart: {}",
            player.stderr_tail(20)
        );
        let after = Analysis::of(&mut player).video_arrivals(restarted, Instant::now());
        if after >= 90 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {after} frames reached the RTMP player after the source came back"
        );
        sleep(Duration::from_millis(200));
    }
    player.kill();
    let a = Analysis::of(&mut player);
    a.assert_clean("RTMP player of an RTMP pull across a source restart");
    assert!(a.audio_count() > 0, "{}", a.summary());
    println!(
        "rtmp pull reconnect: running again {reconnected:?} after the source restarted; {}; API {back}",
        a.summary()
    );

    // The pull speaks the RTMP client's schemes: RTMPE to the same server.
    let rtmpe = src.replacen("rtmp://", "rtmpe://", 1);
    let body = format!(r#"{{"stream":"live/scrambled","url":"{rtmpe}"}}"#);
    let r = api(&srv, "POST", "/api/v1/pulls", Some(&body), true);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let scrambled = srv.rtmp_url("scrambled");
    probe::finish_player(
        probe::spawn_player(srv.dir(), "ffprobe-scrambled", &scrambled, 3),
        secs(40),
    )
    .assert_frames_delivered("rtmpe pull", 2.0, 0.8);
}
