//! End-to-end RTMPT tests (RTMP tunnelled over HTTP POSTs on the HTTP
//! port): rtmpdump and Debian's ffmpeg 5.1 play over `rtmpt://`, ffmpeg 9
//! publishes over it, and the tunnel's bad input — unknown sessions,
//! oversize bodies, thousands of sessions opened and never polled,
//! garbage RTMP inside one tunnel — costs only what it must.
//!
//! `cargo test -p weir --release --test rtmpt_e2e`; `bash scripts/test.sh`
//! installs the clients.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{
    ffmpeg9, ffmpeg9_publisher, ffmpeg_publisher, make_flv, require_ffmpeg, require_tool,
    weir_play, weir_publish, ENCODE,
};
use common::http::{counter, get};
use common::probe;
use common::process::{rss_kib, Proc, Stdout};
use common::server::Server;

/// How long a stream may take to become playable after its publisher starts.
const PLAYABLE: Duration = Duration::from_secs(20);

/// `rtmpt://127.0.0.1:HTTPPORT/live/{key}`.
fn rtmpt_url(srv: &Server, key: &str) -> String {
    format!("rtmpt://127.0.0.1:{}/live/{key}", srv.http_port())
}

/// Sessions the server counts as open RTMPT connections.
fn open_sessions(srv: &Server) -> u64 {
    counter(srv.http_port(), "weir_connections{protocol=\"rtmpt\"}")
}

/// ffmpeg 5.1 publishes over RTMP; rtmpdump and Debian's ffprobe (ffmpeg
/// 5.1) play it over `rtmpt://` on the HTTP port, with audio and video;
/// the client list shows them with protocol `rtmpt`.
#[test]
fn rtmpdump_and_ffmpeg51_play_over_rtmpt() {
    require_ffmpeg();
    require_tool("rtmpdump");
    let srv = Server::start();
    let dir = srv.dir();
    let mut publisher = ffmpeg_publisher(dir, "ffmpeg-publisher", &srv.rtmp_url("t"), 30, &[]);
    probe::wait_until_playable(dir, &srv.rtmp_url("t"), PLAYABLE);
    let url = rtmpt_url(&srv, "t");

    let out = dir.join("rtmpdump.flv");
    let mut cmd = Command::new("rtmpdump");
    cmd.args(["-V", "-r", &url, "--live", "--stop", "6", "-o"])
        .arg(&out);
    let mut dump = Proc::spawn("rtmpdump-rtmpt", dir, cmd, Stdout::Null);
    let player = probe::spawn_player(dir, "ffprobe-rtmpt", &url, 5);

    // While both play, the API lists two RTMPT players.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let clients =
            String::from_utf8_lossy(&get(srv.http_port(), "/api/v1/clients").body).to_string();
        let players = clients.matches("\"protocol\":\"rtmpt\"").count();
        if players >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client list never showed two rtmpt clients: {clients}"
        );
        sleep(Duration::from_millis(200));
    }
    assert!(
        open_sessions(&srv) >= 2,
        "/metrics counts rtmpt connections"
    );

    let analysis = probe::finish_player(player, Duration::from_secs(40));
    analysis.assert_test_codecs("ffprobe (ffmpeg 5.1) over rtmpt");
    analysis.assert_frames_delivered("ffprobe (ffmpeg 5.1) over rtmpt", 4.0, 0.8);

    let status = dump.expect_exit(Duration::from_secs(40));
    assert!(
        out.metadata().map(|m| m.len()).unwrap_or(0) > 100_000,
        "rtmpdump ({status}) saved too little; stderr:\n{}",
        dump.stderr_tail(20)
    );
    let file = probe::probe_file(dir, &out);
    file.assert_test_codecs("rtmpdump over rtmpt");
    assert!(file.video_count() >= 90, "rtmpdump: {}", file.summary());
    publisher.kill();
}

/// ffmpeg 9 publishes over `rtmpt://`; ffprobe plays the stream over RTMP
/// and over HTTP-FLV, and the publisher is listed with protocol `rtmpt`.
#[test]
fn ffmpeg9_publishes_over_rtmpt() {
    require_ffmpeg();
    ffmpeg9();
    let srv = Server::start();
    let dir = srv.dir();
    let mut publisher = ffmpeg9_publisher(dir, "ffmpeg9-rtmpt", &rtmpt_url(&srv, "p"), 30, ENCODE);
    probe::wait_until_playable(dir, &srv.rtmp_url("p"), PLAYABLE);
    let clients =
        String::from_utf8_lossy(&get(srv.http_port(), "/api/v1/clients").body).to_string();
    assert!(
        clients.contains("\"protocol\":\"rtmpt\"") && clients.contains("\"role\":\"publish\""),
        "the publisher is listed as rtmpt: {clients}"
    );
    let rtmp = probe::spawn_player(dir, "ffprobe-rtmp", &srv.rtmp_url("p"), 4);
    let flv_url = format!("{}/live/p.flv", srv.http_base());
    let flv = probe::spawn_player(dir, "ffprobe-flv", &flv_url, 4);
    for (what, player) in [("rtmp", rtmp), ("http-flv", flv)] {
        let a = probe::finish_player(player, Duration::from_secs(40));
        a.assert_test_codecs(what);
        a.assert_frames_delivered(what, 3.0, 0.8);
    }
    publisher.kill();
}

/// `weir publish` and `weir play` over `rtmpt://`: the file published
/// through one tunnel comes back whole through another, and both are
/// listed as rtmpt clients meanwhile.
#[test]
fn weir_publish_and_play_over_rtmpt() {
    require_ffmpeg();
    let srv = Server::start();
    let dir = srv.dir();
    let source = dir.join("source.flv");
    make_flv(dir, &source, 12);
    let url = rtmpt_url(&srv, "tunnel");
    let _publisher = weir_publish(dir, &source, &url);
    probe::wait_until_playable(dir, &srv.rtmp_url("tunnel"), PLAYABLE);
    let out = dir.join("played.flv");
    let mut player = weir_play(dir, &url, &out, 5);
    sleep(Duration::from_secs(2));
    let clients: serde_json::Value =
        serde_json::from_slice(&get(srv.http_port(), "/api/v1/clients").body)
            .expect("clients JSON");
    for role in ["publish", "play"] {
        assert!(
            clients["clients"].as_array().is_some_and(|all| all
                .iter()
                .any(|c| c["protocol"] == "rtmpt" && c["role"] == role)),
            "an rtmpt {role} client: {clients}"
        );
    }
    let status = player.expect_exit(Duration::from_secs(30));
    assert!(
        status.success(),
        "weir play failed ({status}):\n{}",
        player.stderr_tail(30)
    );
    let analysis = probe::probe_file(dir, &out);
    analysis.assert_clean("weir play over rtmpt");
    analysis.assert_test_codecs("weir play over rtmpt");
    analysis.assert_frames_delivered("weir play over rtmpt", 3.5, 0.9);
}

/// One kept-alive HTTP connection for raw RTMPT requests.
struct Http {
    tcp: TcpStream,
    port: u16,
}

impl Http {
    fn connect(port: u16) -> Http {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp.set_nodelay(true).unwrap();
        Http { tcp, port }
    }

    /// POSTs `body`; the status and the body of the answer.
    fn post(&mut self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-fcs\r\n\
             Content-Length: {}\r\n\r\n",
            self.port,
            body.len()
        );
        // One write: a head and a body in two would wait for a delayed ACK.
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        // A refused body may be left unread: the answer is what matters.
        let _ = self.tcp.write_all(&request);
        let mut buf = Vec::new();
        let mut piece = [0u8; 16384];
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.tcp.read(&mut piece).expect("read answer");
            assert!(n > 0, "closed before an answer to {path}");
            buf.extend_from_slice(&piece[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let status: u16 = head[9..12].parse().expect("status");
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = buf[end..].to_vec();
        while body.len() < len {
            let n = self.tcp.read(&mut piece).expect("read body");
            assert!(n > 0, "closed inside an answer");
            body.extend_from_slice(&piece[..n]);
        }
        (status, body)
    }

    fn open(&mut self) -> String {
        let (status, body) = self.post("/open/1", &[0]);
        assert_eq!(status, 200, "open");
        String::from_utf8(body).unwrap().trim().to_owned()
    }
}

/// Unknown sessions get 404, a body over the limit 413, a replayed
/// sequence number 400; garbage RTMP inside one tunnel ends that session
/// only; 2,000 sessions opened and never polled expire after the idle
/// timeout, and the server's memory comes back down.
#[test]
fn bad_input() {
    let srv = Server::start_with_config(
        "[rtmp]\nrtmpt_idle_timeout_secs = 2\nrtmpt_max_body_bytes = 65536\n\
         handshake_timeout_secs = 60\n",
    );
    let port = srv.http_port();
    let mut http = Http::connect(port);
    assert_eq!(http.post("/idle/0123456789abcdef/1", &[0]).0, 404);
    assert_eq!(http.post("/send/nosuchsession/1", b"x").0, 404);

    let id = http.open();
    let other = http.open();
    assert_eq!(
        Http::connect(port)
            .post(&format!("/send/{id}/1"), &vec![3u8; 70_000])
            .0,
        413
    );
    // C0 C1: answered with S0 S1 S2 over the next polls.
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0u8; 1536]);
    let (status, _) = http.post(&format!("/send/{id}/2"), &c0c1);
    assert_eq!(status, 200);
    assert_eq!(http.post(&format!("/idle/{id}/2"), &[0]).0, 400, "replayed");
    // C2 and garbage: this session ends, the other goes on.
    let mut garbage = vec![0u8; 1536];
    garbage.extend_from_slice(&[0xC7; 4096]);
    http.post(&format!("/send/{id}/3"), &garbage);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seq = 4;
    while http.post(&format!("/idle/{id}/{seq}"), &[0]).0 != 404 {
        assert!(Instant::now() < deadline, "the garbage session lives on");
        seq += 1;
    }
    assert_eq!(http.post(&format!("/idle/{other}/1"), &[0]).0, 200);

    // 2,000 sessions nobody polls.
    let rss_before = rss_kib(srv.pid());
    for _ in 0..2_000 {
        http.open();
    }
    let opened = open_sessions(&srv);
    assert!(opened >= 1_900, "{opened} sessions open");
    let rss_peak = rss_kib(srv.pid());
    let deadline = Instant::now() + Duration::from_secs(30);
    while open_sessions(&srv) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} sessions still open 30 s later",
            open_sessions(&srv)
        );
        sleep(Duration::from_millis(250));
    }
    let rss_after = rss_kib(srv.pid());
    eprintln!(
        "rss: before {rss_before} KiB, 2,000 sessions {rss_peak} KiB, expired {rss_after} KiB"
    );
    assert!(
        rss_peak.saturating_sub(rss_before) < 100 * 1024,
        "2,000 idle sessions cost {} KiB",
        rss_peak - rss_before
    );
    let expired = counter(
        port,
        "weir_connection_errors_total{protocol=\"rtmpt\",kind=\"idle_timeout\"}",
    );
    assert!(expired >= 2_000, "{expired} sessions counted as expired");
    // The server still opens sessions.
    Http::connect(port).open();
    let mut srv = srv;
    srv.assert_running();
}
