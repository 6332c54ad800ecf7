//! End-to-end tests of the operations API, `/stat`, `/metrics` and the
//! web pages against a real `weir serve`, with ffmpeg publishing, ffprobe
//! playing over RTMP and HTTP-FLV, and headless Chromium using the pages.
//!
//! `cargo test -p weir --release --test api_e2e` (the browser test needs
//! `chromium`, `node` and `npm ci` in `tests/browser/`). The CPU cost of the
//! stats with 1000 idle clients is an ignored measurement:
//! `cargo test -p weir --release --test api_e2e -- --ignored --nocapture`.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{password_hash, require_ffmpeg};
use common::probe;
use common::process::{Proc, Stdout};
use common::server::Server;
use serde_json::Value;

/// Token the tests configure for `Authorization: Bearer`.
const TOKEN: &str = "e2e-token";
/// Console password the tests configure (hashed with `weir passwd`).
const PASSWORD: &str = "e2e-password";

/// An HTTP answer.
struct Resp {
    status: u16,
    headers: String,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        raw = &raw[eol + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
    out
}

/// One blocking HTTP/1.1 exchange (`Connection: close`) with the server's
/// HTTP listener, retrying the connect for a moment while it starts.
fn http(srv: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let addr = ("127.0.0.1", srv.http_port());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sock = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("cannot connect to the HTTP listener: {e}"),
        }
    };
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    sock.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    Resp {
        status,
        headers: head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(srv: &Server, path: &str) -> Resp {
    http(srv, "GET", path, &[], "")
}

fn config_with_credentials() -> String {
    format!(
        "[api]\nconsole_user = \"admin\"\nconsole_password_hash = \"{}\"\napi_token = \"{TOKEN}\"\n",
        password_hash(PASSWORD)
    )
}

/// ffmpeg publishing the test source (640x360 H.264 at 30 fps, AAC 44100 Hz
/// stereo) in real time for `secs`, printing its progress (bytes written)
/// to stdout every half second.
fn progress_publisher(dir: &Path, url: &str, secs: u32) -> Proc {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-pix_fmt", "yuv420p", "-g", "60"])
        .args(["-c:a", "aac", "-b:a", "64k", "-ac", "2"])
        .args(["-progress", "pipe:1", "-stats_period", "0.5"])
        .args(["-f", "flv", url]);
    Proc::spawn("ffmpeg-publisher", dir, cmd, Stdout::Lines)
}

/// What ffmpeg wrote over the last `window` of wall time, in bit/s, from
/// its `total_size=` progress lines.
fn ffmpeg_bitrate(publisher: &mut Proc, window: Duration) -> f64 {
    let sizes: Vec<(Instant, u64)> = publisher
        .lines()
        .into_iter()
        .filter_map(|(t, l)| Some((t, l.strip_prefix("total_size=")?.parse().ok()?)))
        .collect();
    let (t1, s1) = *sizes.last().expect("ffmpeg progress lines");
    let (t0, s0) = *sizes
        .iter()
        .find(|(t, _)| t1.duration_since(*t) <= window)
        .unwrap();
    (s1 - s0) as f64 * 8.0 / t1.duration_since(t0).as_secs_f64()
}

/// Polls `GET path` until `ready` accepts its JSON (bounded).
fn wait_json(srv: &Server, path: &str, timeout: Duration, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let r = get(srv, path);
        if r.status == 200 {
            let j = r.json();
            if ready(&j) {
                return j;
            }
            if Instant::now() >= deadline {
                panic!("{path} not as expected within {timeout:?}: {j:#}");
            }
        } else if Instant::now() >= deadline {
            panic!("{path}: {} {}", r.status, r.body);
        }
        sleep(Duration::from_millis(250));
    }
}

/// Every element path of an XML document (`rtmp/server/application/...`).
fn element_paths(xml: &str) -> BTreeSet<String> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("bad XML ({e}):\n{xml}"));
    doc.descendants()
        .filter(|n| n.is_element())
        .map(|node| {
            let mut names: Vec<&str> = node
                .ancestors()
                .filter(|n| n.is_element())
                .map(|n| n.tag_name().name())
                .collect();
            names.reverse();
            names.join("/")
        })
        .collect()
}

fn scrape(srv: &Server) -> prometheus_parse::Scrape {
    let text = get(srv, "/metrics").body;
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("/metrics does not parse ({e}):\n{text}"))
}

/// One ffmpeg publisher, an RTMP and an HTTP-FLV player: the API shows the
/// codecs, the bit rate ffmpeg sends, both viewers by protocol; `/stat` and
/// `/metrics` agree; mutations need credentials; dropping the publisher
/// through the API ends ffmpeg and every series of the stream.
#[test]
fn api_shows_a_live_stream_and_drops_its_publisher() {
    require_ffmpeg();
    let srv = Server::start_with_config(&config_with_credentials());
    let dir = srv.dir();
    let url = srv.rtmp_url("test");
    let mut publisher = progress_publisher(dir, &url, 60);
    probe::wait_until_playable(dir, &url, Duration::from_secs(20));
    let rtmp_player = probe::spawn_player(dir, "ffprobe-rtmp", &url, 40);
    let flv_url = format!("{}/live/test.flv", srv.http_base());
    let flv_player = probe::spawn_player(dir, "ffprobe-http-flv", &flv_url, 40);

    let path = "/api/v1/streams/live/test";
    wait_json(&srv, path, Duration::from_secs(20), |s| {
        s["viewers"]["by_protocol"]["rtmp"] == 1 && s["viewers"]["by_protocol"]["http-flv"] == 1
    });

    // Let the 10-s windows fill, then compare with what ffmpeg wrote.
    sleep(Duration::from_secs(11));
    let s = get(&srv, path).json();
    assert_eq!(s["viewers"]["total"], 2, "{s:#}");
    assert_eq!(s["viewers"]["by_protocol"]["rtmp"], 1, "{s:#}");
    assert_eq!(s["viewers"]["by_protocol"]["http-flv"], 1, "{s:#}");
    assert_eq!(s["video"]["codec"], "h264");
    assert_eq!(
        (s["video"]["width"].as_u64(), s["video"]["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert_eq!(s["audio"]["codec"], "aac");
    assert_eq!(s["audio"]["sample_rate"], 44100);
    assert_eq!(s["audio"]["channels"], 2);
    assert_eq!(s["publisher"]["protocol"], "rtmp");
    assert_eq!(s["keyframe_interval_ms"], 2000);
    // H.264 + AAC: every output carries both tracks.
    let outputs = s["outputs"].as_array().expect("outputs");
    let names: Vec<&str> = outputs.iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, ["rtmp", "http-flv", "ws-flv", "hls", "fmp4", "rtsp"]);
    assert!(
        outputs
            .iter()
            .all(|o| o["video"] == true && o["audio"] == true),
        "{outputs:?}"
    );
    let api_bps = s["bitrate_in_bps"].as_f64().unwrap();
    let sent_bps = ffmpeg_bitrate(&mut publisher, Duration::from_secs(10));
    let ratio = api_bps / sent_bps;
    println!("bitrate: API {api_bps:.0} bit/s, ffmpeg {sent_bps:.0} bit/s, ratio {ratio:.3}");
    assert!(
        (0.8..=1.2).contains(&ratio),
        "API {api_bps} vs ffmpeg {sent_bps} bit/s"
    );
    let fps = s["video"]["fps"].as_f64().unwrap();
    assert!((27.0..=33.0).contains(&fps), "fps {fps}");

    let summary = get(&srv, "/api/v1/summary").json();
    assert_eq!(summary["streams_live"], 1);
    assert_eq!(summary["connections"]["http-flv"], 1, "{summary:#}");
    assert!(summary["bandwidth_in_bps"].as_f64().unwrap() > 0.8 * sent_bps);
    let clients = get(&srv, "/api/v1/clients?per_page=10").json();
    assert!(clients["total"].as_u64().unwrap() >= 3, "{clients:#}");

    // /stat: nginx-rtmp's structure, this stream's numbers.
    let stat = get(&srv, "/stat");
    assert_eq!(stat.status, 200);
    let nginx = element_paths(include_str!("../../api/testdata/nginx-rtmp-stat.xml"));
    let ours = element_paths(&stat.body);
    let missing: Vec<_> = nginx.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "/stat lacks {missing:?}:\n{}",
        stat.body
    );
    assert!(
        stat.body.contains("<width>640</width><height>360</height>"),
        "{}",
        stat.body
    );

    // /metrics: viewers of the stream by protocol.
    let m = scrape(&srv);
    let viewers: Vec<_> = m
        .samples
        .iter()
        .filter(|s| s.metric == "weir_stream_viewers" && s.labels.get("stream") == Some("test"))
        .collect();
    assert_eq!(viewers.len(), 2, "{viewers:?}");
    // The HTTP server's HLS segment count is exported (no HLS viewer yet).
    assert!(
        m.samples
            .iter()
            .any(|s| s.metric.starts_with("weir_hls_segments")),
        "no weir_hls_segments_total"
    );

    // Mutations: 401 without or with a wrong credential, 2xx with one.
    let kick = "/api/v1/streams/live/test";
    assert_eq!(http(&srv, "DELETE", kick, &[], "").status, 401);
    let wrong = [("Authorization", "Bearer nope")];
    assert_eq!(http(&srv, "DELETE", kick, &wrong, "").status, 401);
    assert!(
        publisher.is_running(),
        "still publishing after refused kicks"
    );
    let bearer = format!("Bearer {TOKEN}");
    let r = http(&srv, "DELETE", kick, &[("Authorization", &bearer)], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let status = publisher.expect_exit(Duration::from_secs(10));
    println!("ffmpeg after the kick: {status}");

    // The players see the end of the stream; once they are gone nothing
    // in /metrics names it any more.
    let (mut rtmp_player, mut flv_player) = (rtmp_player, flv_player);
    // The RTMP player gets the unpublish and stops; HTTP-FLV has no such
    // message, so that viewer stays connected until it leaves.
    let exited = rtmp_player.wait_exit(Duration::from_secs(10));
    assert!(
        exited.is_some_and(|s| s.success()),
        "rtmp player after the kick: {exited:?}"
    );
    for (name, player) in [("rtmp", &mut rtmp_player), ("http-flv", &mut flv_player)] {
        assert!(
            probe::Analysis::of(player).video_count() > 0,
            "{name} player got video"
        );
        player.kill();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = scrape(&srv);
        let left: Vec<_> = m
            .samples
            .iter()
            .filter(|s| s.labels.get("stream").is_some())
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "series left after the stream ended: {left:?}"
        );
        sleep(Duration::from_millis(250));
    }
    let r = get(&srv, path);
    assert!(r.status == 404 || r.json()["live"] == false, "{}", r.body);
}

/// Headless Chromium uses the pages as a person would: logs into the
/// console, sees the stream with its viewers, plays `/play/live/test` (the
/// video's `currentTime` advances), previews it in the console and kicks
/// the publisher, which makes ffmpeg exit. Screenshots go to the test's
/// directory, or to `$WEIR_SCREENSHOT_DIR` (e.g. `docs/`).
#[test]
fn chromium_console_logs_in_kicks_and_player_plays() {
    require_ffmpeg();
    common::http::require_browser();
    let srv = Server::start_with_config(&config_with_credentials());
    let dir = srv.dir();
    let url = srv.rtmp_url("test");
    let mut publisher = progress_publisher(dir, &url, 120);
    probe::wait_until_playable(dir, &url, Duration::from_secs(20));
    let flv_url = format!("{}/live/test.flv", srv.http_base());
    let _flv_player = probe::spawn_player(dir, "ffprobe-http-flv", &flv_url, 110);
    // A push to a port nothing listens on: the console's pushes table
    // shows it failing.
    let dead = common::server::free_port();
    let body = format!(r#"{{"stream":"live/test","url":"rtmp://127.0.0.1:{dead}/live/KEY"}}"#);
    let r = http(
        &srv,
        "POST",
        "/api/v1/pushes",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // Let the chart collect a few points before the screenshot.
    sleep(Duration::from_secs(6));

    let shots = std::env::var_os("WEIR_SCREENSHOT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.to_path_buf());
    let mut cmd = Command::new("node");
    cmd.arg(common::http::browser_dir().join("console.mjs"))
        .arg(srv.http_base())
        .args(["admin", PASSWORD])
        .arg(&shots);
    let mut node = Proc::spawn("browser-console", dir, cmd, Stdout::Lines);
    let status = node.expect_exit(Duration::from_secs(150));
    assert!(
        status.success(),
        "console.mjs failed: {}",
        node.stderr_tail(30)
    );
    let lines = node.lines();
    let last = &lines.last().expect("console.mjs printed its result").1;
    let r: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    println!("browser: {r}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
    assert_eq!(r["logged_in"], true);
    // The HTTP-FLV player and the browser's fMP4 player.
    let viewers: u64 = r["viewers"]
        .as_str()
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(viewers >= 2, "console viewer cell: {}", r["viewers"]);
    let advanced = r["play_advanced_s"].as_f64().unwrap_or(0.0);
    assert!(
        advanced > 2.5,
        "player currentTime advanced {advanced} s in 4 s"
    );
    let pushes = r["pushes"].as_array().unwrap();
    assert_eq!(pushes.len(), 1, "console pushes table: {pushes:?}");
    let row: Vec<&str> = pushes[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(row[1], "live/test", "{row:?}");
    assert_eq!(
        row[2],
        format!("rtmp://127.0.0.1:{dead}/live/***"),
        "{row:?}"
    );
    assert!(["backoff", "connecting"].contains(&row[3]), "{row:?}");
    assert!(row[7].contains("Connection refused"), "{row:?}");
    assert_eq!(r["kicked"], true);
    publisher.expect_exit(Duration::from_secs(10));
    for shot in ["console.png", "player.png"] {
        let size = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{shot}: {size} bytes");
    }
}

/// With no password and no token configured, mutations are refused with
/// 403 and a hint, and the console says so.
#[test]
fn mutations_are_off_without_credentials() {
    let srv = Server::start();
    let r = http(&srv, "DELETE", "/api/v1/clients/1", &[], "");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("weir passwd"));
    let r = get(&srv, "/control/drop/publisher?app=live&name=test");
    assert_eq!(r.status, 403);
    assert_eq!(get(&srv, "/console/session").json()["login_enabled"], false);
    let page = get(&srv, "/console");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("weir passwd"));
    assert!(page
        .headers
        .to_ascii_lowercase()
        .contains("content-security-policy"));
}

/// User plus system CPU time of process `pid`, in seconds (Linux USER_HZ
/// is 100).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    let rest = stat.rsplit_once(')').expect("stat line").1;
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    (fields[0] + fields[1]) as f64 / 100.0
}

/// The server's CPU use over `secs` while `during` runs once per second.
fn cpu_percent(srv: &Server, secs: u64, mut during: impl FnMut()) -> f64 {
    let start = Instant::now();
    let before = cpu_secs(srv.pid());
    for i in 1..=secs {
        during();
        sleep((start + Duration::from_secs(i)).saturating_duration_since(Instant::now()));
    }
    (cpu_secs(srv.pid()) - before) * 100.0 / start.elapsed().as_secs_f64()
}

/// An RTMP client that completes the (plain) handshake and then stays
/// silent: an idle connection the server must list and sample.
fn idle_rtmp_client(port: u16) -> TcpStream {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut c0c1 = vec![0u8; 1537];
    c0c1[0] = 3;
    for (i, b) in c0c1[9..].iter_mut().enumerate() {
        *b = (i * 7 + 13) as u8;
    }
    sock.write_all(&c0c1).unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
    sock.read_exact(&mut s0s1s2).expect("S0 S1 S2");
    // C2 echoes S1.
    sock.write_all(&s0s1s2[1..1537]).unwrap();
    sock
}

/// The CPU cost of the stats with 1000 idle RTMP clients connected: server
/// CPU idle, with the clients (the sampler reads all of them every second),
/// and with a console, a Prometheus and a `/stat` dashboard each polling
/// every second. Prints the numbers for the closing note.
#[test]
#[ignore = "measurement (about 90 s), run with --ignored --nocapture"]
fn stats_cost_with_1000_idle_clients() {
    const CLIENTS: usize = 1000;
    const SECS: u64 = 20;
    let srv = Server::start_with_config("[rtmp]\nidle_timeout_secs = 600.0\n");
    sleep(Duration::from_secs(2));
    let baseline = cpu_percent(&srv, SECS, || {});
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| idle_rtmp_client(srv.rtmp_port()))
        .collect();
    let summary = wait_json(&srv, "/api/v1/summary", Duration::from_secs(20), |s| {
        s["connections_total"].as_u64() == Some(CLIENTS as u64)
    });
    assert_eq!(summary["connections"]["rtmp"], CLIENTS as u64);
    sleep(Duration::from_secs(2));
    let idle = cpu_percent(&srv, SECS, || {});
    let mut bytes = 0;
    let mut slowest = Duration::ZERO;
    let polled = cpu_percent(&srv, SECS, || {
        for path in [
            "/api/v1/summary",
            "/api/v1/streams",
            "/api/v1/clients?per_page=1000",
            "/metrics",
            "/stat",
        ] {
            let t = Instant::now();
            let r = get(&srv, path);
            slowest = slowest.max(t.elapsed());
            assert_eq!(r.status, 200, "{path}");
            bytes += r.body.len();
        }
    });
    println!("server CPU, {SECS} s each (percent of one core):");
    println!("  no clients:                          {baseline:.2} %");
    println!("  {CLIENTS} idle RTMP clients (sampler on): {idle:.2} %");
    println!(
        "  + API/metrics//stat polled every 1 s:  {polled:.2} % ({} kB per round, slowest answer {slowest:?})",
        bytes / SECS as usize / 1000
    );
    drop(clients);
}
