//! End-to-end push (restream): weir A pushes what ffmpeg publishes to it
//! to nginx-rtmp (Debian's `nginx` with `libnginx-mod-rtmp`) and to a
//! second weir at once; nginx is killed mid-stream and restarted on the
//! same port while ffprobe players watch weir A and weir B. Then the bad
//! destinations (one that accepts TCP and never answers, one nothing
//! listens on, one that refuses the stream key) next to a good one, and
//! `/api/v1/pushes`.

#[allow(dead_code)]
mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg, require_tool, HIGH_BITRATE};
use common::http::{counter, request, Response};
use common::probe::{self, Analysis, Media};
use common::process::{Proc, Stdout};
use common::server::{free_port, Server};
use serde_json::Value;

const TOKEN: &str = "push-test-token";
/// Where Debian's `libnginx-mod-rtmp` puts the module.
const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Fails with an install hint unless nginx and its RTMP module are there.
fn require_nginx_rtmp() {
    require_tool("nginx");
    assert!(
        Path::new(NGINX_RTMP_MODULE).is_file(),
        "{NGINX_RTMP_MODULE} not found: install nginx-rtmp with \
         `apt-get install nginx libnginx-mod-rtmp` or run `bash scripts/test.sh`"
    );
}

/// nginx-rtmp on `127.0.0.1:{port}` with a `live` application, one
/// process (no daemon, no master) that the test kills; everything it
/// writes stays in the test's directory.
struct Nginx {
    proc: Proc,
    port: u16,
}

impl Nginx {
    /// Starts nginx and waits (bounded) until it accepts connections. A
    /// port a killed nginx just left is retried for a few seconds.
    fn start(dir: &Path, name: &str, port: u16) -> Nginx {
        let conf = dir.join(format!("{name}.conf"));
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "load_module {NGINX_RTMP_MODULE};\n\
                 daemon off;\nmaster_process off;\n\
                 pid {d}/{name}.pid;\nerror_log {d}/{name}.error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 rtmp {{\n  server {{\n    listen 127.0.0.1:{port};\n\
                 \x20   application live {{ live on; wait_key on; wait_video on; }}\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let deadline = Instant::now() + secs(20);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut cmd = Command::new("nginx");
            cmd.arg("-c").arg(&conf).arg("-p").arg(dir);
            cmd.arg("-e").arg(dir.join(format!("{name}.error.log")));
            let mut proc = Proc::spawn(&format!("{name}-{attempt}"), dir, cmd, Stdout::Null);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() && proc.is_running() {
                    return Nginx { proc, port };
                }
                if !proc.is_running() {
                    break;
                }
                if Instant::now() > deadline {
                    panic!(
                        "nginx did not listen on {port} within 20 s: {}",
                        std::fs::read_to_string(dir.join(format!("{name}.error.log")))
                            .unwrap_or_default()
                    );
                }
                sleep(Duration::from_millis(50));
            }
            assert!(
                Instant::now() < deadline,
                "nginx exited at start: {}",
                std::fs::read_to_string(dir.join(format!("{name}.error.log"))).unwrap_or_default()
            );
            sleep(Duration::from_millis(300));
        }
    }

    fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.port)
    }
}

fn api(srv: &Server, method: &str, path: &str, body: Option<&str>, token: bool) -> Response {
    api_with(srv, method, path, body, if token { TOKEN } else { "" }, "")
}

/// A request with `token` (none if empty) and extra header lines.
fn api_with(
    srv: &Server,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: &str,
    headers: &str,
) -> Response {
    let body = body.unwrap_or("");
    let auth = if token.is_empty() {
        String::new()
    } else {
        format!("Authorization: Bearer {token}\r\n")
    };
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{headers}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    request(srv.http_port(), raw.as_bytes(), true)
}

fn json(r: &Response) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&r.body)))
}

fn pushes(srv: &Server) -> Vec<Value> {
    let r = api(srv, "GET", "/api/v1/pushes", None, false);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json(&r)["pushes"].as_array().unwrap().clone()
}

/// The push whose URL goes to `port`.
fn push_to(srv: &Server, port: u16) -> Option<Value> {
    let marker = format!(":{port}/");
    pushes(srv)
        .into_iter()
        .find(|p| p["url"].as_str().unwrap().contains(&marker))
}

/// Waits (bounded) until the push to `port` satisfies `ok`.
fn wait_push(
    srv: &Server,
    port: u16,
    what: &str,
    within: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let p = push_to(srv, port);
        if let Some(p) = p.as_ref().filter(|p| ok(p)) {
            return p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "push to port {port}: not {what} within {within:?}: {p:?}\n{}",
            srv.log()
        );
        sleep(Duration::from_millis(100));
    }
}

fn has_error(p: &Value, part: &str) -> bool {
    p["last_error"].as_str().is_some_and(|e| e.contains(part))
}

/// Longest time between two video packets that reached `player` within
/// `[from, to)`, and how many did.
fn longest_silence(a: &Analysis, from: Instant, to: Instant) -> (Duration, usize) {
    let arrivals: Vec<Instant> = a
        .of_media(Media::Video)
        .map(|p| p.arrived)
        .filter(|t| *t >= from && *t < to)
        .collect();
    let mut longest = arrivals.first().map_or(to - from, |t| *t - from);
    for w in arrivals.windows(2) {
        longest = longest.max(w[1] - w[0]);
    }
    (longest, arrivals.len())
}

/// ffprobe plays `url` for 3 s of stream time and decodes H.264 + AAC.
fn plays(dir: &Path, name: &str, url: &str) -> Analysis {
    let a = probe::finish_player(probe::spawn_player(dir, name, url, 3), secs(40));
    a.assert_test_codecs(name);
    a.assert_clean(name);
    a.assert_frames_delivered(name, 2.0, 0.8);
    a
}

/// The demo of the issue: `[[push]]` to nginx-rtmp and to a second weir;
/// nginx dies mid-stream: weir B's player and A's local player go on
/// without a gap, the nginx push backs off with its error, and when nginx
/// comes back on the same port the push reconnects and nginx plays again.
#[test]
fn pushes_to_nginx_and_weir_and_reconnects_when_nginx_returns() {
    require_ffmpeg();
    require_nginx_rtmp();
    let dir = tempfile::Builder::new()
        .prefix("weir-push-")
        .tempdir()
        .unwrap();
    let b = Server::start();
    let nginx_port = free_port();
    let mut nginx = Nginx::start(dir.path(), "nginx-a", nginx_port);
    let a = Server::start_with_config(&format!(
        "[api]\napi_token = \"{TOKEN}\"\n\n\
         [[push]]\napp = \"live\"\nurl = \"rtmp://127.0.0.1:{nginx_port}/{{app}}/{{stream}}\"\n\n\
         [[push]]\nstreams = [\"live/*\"]\nurl = \"{}\"\n",
        b.rtmp_url("{stream}")
    ));
    let _publisher = ffmpeg_publisher(a.dir(), "publisher", &a.rtmp_url("x"), 120, &[]);
    let started = Instant::now();
    let to_nginx = wait_push(&a, nginx_port, "pushing", secs(20), |p| {
        p["state"] == "pushing"
    });
    let to_b = wait_push(&a, b.rtmp_port(), "pushing", secs(20), |p| {
        p["state"] == "pushing"
    });
    println!("both pushes up {:?} after the publish", started.elapsed());
    assert_eq!(
        to_nginx["url"],
        format!("rtmp://127.0.0.1:{nginx_port}/live/***"),
        "the stream name (key) is never shown"
    );
    assert_eq!(
        (to_nginx["from_api"].clone(), to_b["from_api"].clone()),
        (false.into(), false.into())
    );
    assert_ne!(to_nginx["id"], to_b["id"]);

    // A local viewer on A and one on B, for the whole test.
    let mut local = probe::spawn_player(a.dir(), "ffprobe-a", &a.rtmp_url("x"), 120);
    let mut remote = probe::spawn_player(b.dir(), "ffprobe-b", &b.rtmp_url("x"), 120);
    plays(dir.path(), "ffprobe-nginx-1", &nginx.url("x"));
    let deadline = Instant::now() + secs(20);
    for (player, name) in [(&mut local, "A's player"), (&mut remote, "B's player")] {
        while Analysis::of(player).video_count() < 30 {
            assert!(
                Instant::now() < deadline,
                "{name} got no frames: {}",
                player.stderr_tail(10)
            );
            sleep(Duration::from_millis(100));
        }
    }

    // nginx dies mid-stream.
    let killed = Instant::now();
    nginx.proc.kill();
    let down = wait_push(&a, nginx_port, "failing", secs(20), |p| {
        p["state"] != "pushing" && p["last_error"].is_string()
    });
    println!("nginx killed; {:?} later: {down}", killed.elapsed());
    // Down for a while: reconnect attempts fail (connection refused).
    let failing = wait_push(&a, nginx_port, "retrying", secs(20), |p| {
        p["reconnects"].as_u64() >= Some(1) && has_error(p, "connecting")
    });
    assert!(
        ["backoff", "connecting"].contains(&failing["state"].as_str().unwrap()),
        "{failing}"
    );
    // Several attempts fail while nginx stays down for 4 s.
    sleep(secs(4).saturating_sub(killed.elapsed()));
    let restarted = Instant::now();
    nginx = Nginx::start(dir.path(), "nginx-b", nginx_port);
    let back = wait_push(&a, nginx_port, "pushing again", secs(40), |p| {
        p["state"] == "pushing"
    });
    let outage_end = Instant::now();
    println!(
        "nginx down {:?}; push back {:?} after the restart: {back}",
        restarted - killed,
        outage_end - restarted
    );
    assert!(back["reconnects"].as_u64().unwrap() >= 1, "{back}");
    let to_b = push_to(&a, b.rtmp_port()).unwrap();
    assert_eq!(
        (
            to_b["state"].as_str(),
            to_b["reconnects"].as_u64(),
            to_b["last_error"].is_null()
        ),
        (Some("pushing"), Some(0), true),
        "the weir destination never noticed: {to_b}"
    );
    assert!(to_b["bitrate_kbps"].as_u64().unwrap() > 0, "{to_b}");

    // The players of A and B got frames all through the outage, with no
    // gap a viewer would see.
    for (player, name) in [(&mut local, "A's player"), (&mut remote, "B's player")] {
        player.assert_running(name);
        let a = Analysis::of(player);
        let (silence, frames) = longest_silence(&a, killed, outage_end);
        println!("{name}: {frames} frames during the outage, longest silence {silence:?}");
        assert!(
            silence < Duration::from_millis(1000),
            "{name}: {silence:?} without a frame ({})",
            a.summary()
        );
        a.assert_flowing(name, killed, outage_end, 0.7);
        assert!(
            a.dts_regression(Media::Video).is_none(),
            "{name}: {:?}",
            a.dts_regression(Media::Video)
        );
    }
    // nginx plays the stream again.
    plays(dir.path(), "ffprobe-nginx-2", &nginx.url("x"));

    let port = a.http_port();
    assert_eq!(counter(port, "weir_push_connected"), 2);
    assert_eq!(counter(port, "weir_push_active"), 2);
    assert!(counter(port, "weir_push_reconnects_total") >= 1);
    assert!(counter(port, "weir_push_bytes_total") > 100_000);
    let errors: u64 = ["io", "closed", "connect", "timeout", "protocol"]
        .iter()
        .map(|k| counter(port, &format!("weir_push_errors_total{{kind=\"{k}\"}}")))
        .sum();
    assert!(
        errors >= 2,
        "the lost connection and a refused reconnect are counted"
    );
    println!("whole test: {:?}", started.elapsed());
}

/// Sends `signal` (`STOP`, `CONT`) to `pid` with bash's builtin kill.
fn signal(pid: u32, signal: &str) {
    let sent = Command::new("bash")
        .args(["-c", &format!("kill -{signal} {pid}")])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// nginx freezes mid-stream (SIGSTOP: its connections stay open and
/// nobody reads them): once the socket buffers are full the push's write
/// times out and it reconnects (connecting to a frozen nginx times out
/// too), while the push to weir B and A's local viewer go on; when nginx
/// thaws the push comes back.
#[test]
fn a_destination_that_stops_reading_times_out_alone_and_comes_back() {
    require_ffmpeg();
    require_nginx_rtmp();
    let dir = tempfile::Builder::new()
        .prefix("weir-push-")
        .tempdir()
        .unwrap();
    let b = Server::start();
    let nginx_port = free_port();
    let nginx = Nginx::start(dir.path(), "nginx", nginx_port);
    let a = Server::start_with_config(&format!(
        "[[push]]\napp = \"live\"\nurl = \"rtmp://127.0.0.1:{nginx_port}/{{app}}/{{stream}}\"\n\n\
         [[push]]\napp = \"live\"\nurl = \"{}\"\n",
        b.rtmp_url("{stream}")
    ));
    // 8 Mbit/s fills the socket buffers in seconds.
    let _publisher = ffmpeg_publisher(a.dir(), "publisher", &a.rtmp_url("s"), 120, HIGH_BITRATE);
    wait_push(&a, nginx_port, "pushing", secs(20), |p| {
        p["state"] == "pushing"
    });
    wait_push(&a, b.rtmp_port(), "pushing", secs(20), |p| {
        p["state"] == "pushing"
    });
    let mut local = probe::spawn_player(a.dir(), "ffprobe-a", &a.rtmp_url("s"), 120);
    let mut remote = probe::spawn_player(b.dir(), "ffprobe-b", &b.rtmp_url("s"), 120);
    sleep(secs(2));

    let frozen = Instant::now();
    signal(nginx.proc.pid(), "STOP");
    let timed_out = wait_push(&a, nginx_port, "timed out", secs(60), |p| {
        p["state"] != "pushing" && has_error(p, "timed out")
    });
    println!("nginx frozen; {:?} later: {timed_out}", frozen.elapsed());
    let thawed = Instant::now();
    signal(nginx.proc.pid(), "CONT");
    let back = wait_push(&a, nginx_port, "pushing again", secs(60), |p| {
        p["state"] == "pushing" && p["reconnects"].as_u64() >= Some(1)
    });
    let end = Instant::now();
    println!("nginx thawed; push back {:?} later: {back}", end - thawed);
    let to_b = push_to(&a, b.rtmp_port()).unwrap();
    assert_eq!(
        (to_b["state"].as_str(), to_b["reconnects"].as_u64()),
        (Some("pushing"), Some(0)),
        "{to_b}"
    );
    for (player, name) in [(&mut local, "A's player"), (&mut remote, "B's player")] {
        player.assert_running(name);
        let a = Analysis::of(player);
        let (silence, frames) = longest_silence(&a, frozen, end);
        println!("{name}: {frames} frames while nginx was frozen or coming back, longest silence {silence:?}");
        assert!(
            silence < Duration::from_millis(1000),
            "{name}: {silence:?} ({})",
            a.summary()
        );
        a.assert_flowing(name, frozen, end, 0.7);
    }
    assert!(counter(a.http_port(), "weir_push_errors_total{kind=\"timeout\"}") >= 1);
}

/// A destination that accepts TCP and never answers, one nothing listens
/// on, and one that refuses the stream key, next to a good one: each bad
/// one fails with its own error, counted by kind and logged once a minute,
/// while the good push and its viewer never notice.
#[test]
fn stalled_unreachable_and_refusing_destinations_fail_alone() {
    require_ffmpeg();
    let b = Server::start_with_config(
        "[auth.apps.live.publish]\nmode = \"keys\"\nkeys = [\"right\"]\n",
    );
    // Accepts connections and reads nothing, ever.
    let stall = TcpListener::bind("127.0.0.1:0").unwrap();
    let stall_port = stall.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in stall.incoming().flatten() {
            held.push(conn);
        }
    });
    let dead_port = free_port();
    let a = Server::start_with_config(&format!(
        "[[push]]\napp = \"live\"\nurl = \"rtmp://127.0.0.1:{stall_port}/live/{{stream}}\"\n\n\
         [[push]]\napp = \"live\"\nurl = \"rtmp://127.0.0.1:{dead_port}/live/{{stream}}\"\n\n\
         [[push]]\napp = \"live\"\nurl = \"{}\"\n\n\
         [[push]]\napp = \"live\"\nurl = \"{}\"\n",
        b.rtmp_url("{stream}-bad?key=wrong"),
        b.rtmp_url("{stream}?key=right"),
    ));
    let _publisher = ffmpeg_publisher(a.dir(), "publisher", &a.rtmp_url("y"), 90, &[]);
    let started = Instant::now();
    let good = |p: &Value| {
        p["url"]
            .as_str()
            .unwrap()
            .contains(&format!(":{}/", b.rtmp_port()))
    };
    let deadline = Instant::now() + secs(20);
    loop {
        let list = pushes(&a);
        if list.len() == 4
            && list
                .iter()
                .filter(|p| good(p))
                .any(|p| p["state"] == "pushing")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the good push never pushed: {list:?}"
        );
        sleep(Duration::from_millis(100));
    }
    let mut viewer = probe::spawn_player(b.dir(), "ffprobe-b", &b.rtmp_url("y?key=right"), 60);
    let watching = Instant::now();

    let deadline = Instant::now() + secs(15);
    let refused = loop {
        if let Some(p) = pushes(&a)
            .into_iter()
            .find(|p| good(p) && has_error(p, "refused"))
        {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "the wrong key was not refused: {:?}",
            pushes(&a)
        );
        sleep(Duration::from_millis(100));
    };
    println!("bad key: {refused}");
    let dead = wait_push(&a, dead_port, "refused twice", secs(15), |p| {
        p["reconnects"].as_u64() >= Some(2) && has_error(p, "connecting")
    });
    println!("nothing listening: {dead}");
    // Connecting to the stalled one times out after 10 s.
    let stalled = wait_push(&a, stall_port, "timed out", secs(30), |p| {
        has_error(p, "timed out")
    });
    println!(
        "stalled: {stalled} ({:?} after the publish)",
        started.elapsed()
    );
    assert!(
        ["backoff", "connecting"].contains(&stalled["state"].as_str().unwrap()),
        "{stalled}"
    );

    let port = a.http_port();
    for kind in ["timeout", "connect", "refused"] {
        let n = counter(port, &format!("weir_push_errors_total{{kind=\"{kind}\"}}"));
        assert!(n >= 1, "weir_push_errors_total{{kind=\"{kind}\"}} is {n}");
    }
    assert_eq!(counter(port, "weir_push_connected"), 1);
    assert_eq!(counter(port, "weir_push_active"), 4);
    // Failures are logged once a minute per push, however often they come.
    let log = a.log();
    let dead_shown = format!("127.0.0.1:{dead_port}/live/***");
    let lines = log
        .lines()
        .filter(|l| l.contains("push failed") && l.contains(&dead_shown))
        .count();
    assert_eq!(
        lines, 1,
        "{} failures, {lines} lines:\n{log}",
        dead["reconnects"]
    );
    assert!(
        !log.contains("key=wrong") && !log.contains("key=right"),
        "keys logged:\n{log}"
    );

    // The good push and B's viewer never noticed.
    let good_push = pushes(&a)
        .into_iter()
        .find(|p| good(p) && p["state"] == "pushing")
        .unwrap();
    assert_eq!(good_push["reconnects"], 0, "{good_push}");
    let now = Instant::now();
    let analysis = Analysis::of(&mut viewer);
    analysis.assert_clean("B's viewer");
    let from = watching + secs(5).min(now - watching);
    let (silence, frames) = longest_silence(&analysis, from, now);
    println!(
        "B's viewer: {frames} frames in {:?}, longest silence {silence:?}",
        now - from
    );
    assert!(
        silence < Duration::from_millis(1000),
        "{silence:?}: {}",
        analysis.summary()
    );
}

/// `/api/v1/pushes`: credentials, validation, a push added before its
/// stream is live (idle), pushing at each publish until deleted; `[[push]]`
/// pushes are listed, end with their publish and cannot be deleted.
#[test]
fn pushes_api_adds_lists_and_removes() {
    require_ffmpeg();
    let b = Server::start();
    let a = Server::start_with_config(&format!(
        "[api]\napi_token = \"{TOKEN}\"\n\n\
         [[push]]\nstreams = [\"live/z\"]\nurl = \"{}\"\n",
        b.rtmp_url("from-config")
    ));
    let body = format!(
        r#"{{"stream":"live/z","url":"{}"}}"#,
        b.rtmp_url("from-api")
    );
    let r = api(&a, "POST", "/api/v1/pushes", Some(&body), false);
    assert_eq!(
        r.status,
        401,
        "no credentials: {}",
        String::from_utf8_lossy(&r.body)
    );
    let r = api_with(&a, "POST", "/api/v1/pushes", Some(&body), "wrong", "");
    assert_eq!(r.status, 401, "a wrong token");
    // A browser on another origin gets no CORS grant on the operator API.
    let r = api_with(
        &a,
        "POST",
        "/api/v1/pushes",
        Some(&body),
        "",
        "Origin: http://evil.example\r\n",
    );
    assert!(
        r.status == 401 || r.status == 403,
        "cross-origin: {}",
        r.status
    );
    assert!(r.header("access-control-allow-origin").is_none());
    for bad in [
        r#"{"stream":"live/z"}"#.to_owned(),
        r#"{"stream":"live/z","url":"rtsp://127.0.0.1/live/z"}"#.to_owned(),
        r#"{"stream":"live/z","url":"rtmp://127.0.0.1/live/{key}"}"#.to_owned(),
        r#"{"stream":"../z","url":"rtmp://127.0.0.1/live/z"}"#.to_owned(),
        format!(r#"{{"stream":"live/z","url":"{}","x":1}}"#, b.rtmp_url("a")),
    ] {
        let r = api(&a, "POST", "/api/v1/pushes", Some(&bad), true);
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    let r = api(&a, "POST", "/api/v1/pushes", Some(&body), true);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let added = json(&r)["push"].clone();
    let id = added["id"].as_u64().unwrap();
    assert_eq!(added["state"], "idle", "not live yet: {added}");
    assert_eq!(added["from_api"], true);
    assert_eq!(
        added["url"],
        format!("rtmp://127.0.0.1:{}/live/***", b.rtmp_port())
    );

    let pushing_both = |what: &str| {
        let deadline = Instant::now() + secs(20);
        loop {
            let list = pushes(&a);
            let api_push = list.iter().find(|p| p["id"] == id).cloned();
            let cfg_push = list.iter().find(|p| p["from_api"] == false).cloned();
            if let (Some(p), Some(c)) = (&api_push, &cfg_push) {
                if p["state"] == "pushing" && c["state"] == "pushing" {
                    return c["id"].as_u64().unwrap();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not both pushing: {list:?}"
            );
            sleep(Duration::from_millis(100));
        }
    };
    let mut publisher = ffmpeg_publisher(a.dir(), "publisher-1", &a.rtmp_url("z"), 60, &[]);
    let cfg_id = pushing_both("first publish");
    plays(b.dir(), "ffprobe-from-api", &b.rtmp_url("from-api"));
    plays(b.dir(), "ffprobe-from-config", &b.rtmp_url("from-config"));
    let r = api(
        &a,
        "DELETE",
        &format!("/api/v1/pushes/{cfg_id}"),
        None,
        true,
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));

    // The publish ends: the API push waits for the next one, the
    // `[[push]]` push ends with it.
    publisher.kill();
    let deadline = Instant::now() + secs(15);
    loop {
        let list = pushes(&a);
        if list.len() == 1 && list[0]["id"] == id && list[0]["state"] == "idle" {
            break;
        }
        assert!(Instant::now() < deadline, "after the publish: {list:?}");
        sleep(Duration::from_millis(100));
    }
    let mut publisher = ffmpeg_publisher(a.dir(), "publisher-2", &a.rtmp_url("z"), 60, &[]);
    let cfg_id_2 = pushing_both("second publish");
    assert_ne!(cfg_id_2, cfg_id, "a new publish, a new [[push]] push");
    plays(b.dir(), "ffprobe-from-api-2", &b.rtmp_url("from-api"));

    // A takeover (the encoder reconnects while the old connection lingers)
    // is no end: both pushes go on, on their connections, with the new
    // publisher's frames.
    let _publisher = ffmpeg_publisher(a.dir(), "publisher-3", &a.rtmp_url("z"), 60, &[]);
    publisher.expect_exit(secs(15));
    assert_eq!(pushing_both("after the takeover"), cfg_id_2);
    plays(b.dir(), "ffprobe-from-api-3", &b.rtmp_url("from-api"));
    plays(b.dir(), "ffprobe-from-config-3", &b.rtmp_url("from-config"));
    for p in pushes(&a) {
        assert_eq!(p["reconnects"], 0, "{p}");
        assert!(p["last_error"].is_null(), "{p}");
    }

    let path = format!("/api/v1/pushes/{id}");
    assert_eq!(api(&a, "DELETE", &path, None, false).status, 401);
    let r = api(&a, "DELETE", &path, None, true);
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(api(&a, "DELETE", &path, None, true).status, 404);
    assert_eq!(
        api(&a, "DELETE", "/api/v1/pushes/nope", None, true).status,
        404
    );
    // B's stream of the deleted push ends; the configured one goes on.
    let deadline = Instant::now() + secs(10);
    while api(&b, "GET", "/api/v1/streams/live/from-api", None, false).status != 404 {
        assert!(
            Instant::now() < deadline,
            "the deleted push still publishes to B"
        );
        sleep(Duration::from_millis(100));
    }
    let list = pushes(&a);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["state"], "pushing", "{list:?}");
}
