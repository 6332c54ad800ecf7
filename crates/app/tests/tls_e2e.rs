//! End-to-end TLS tests: RTMPS in and out, HTTPS delivery (HTTP-FLV, HLS,
//! API) and WSS, next to plain RTMP, and certificate hot reload, against a
//! `weir serve` started per test with a self-signed certificate for
//! 127.0.0.1 and localhost made here (rcgen).
//!
//! Clients verify that certificate where they can (curl, Python's ssl, and
//! openssl s_client read it as their trust store); ffmpeg and ffprobe do not
//! verify by default (`-tls_verify 0`). Run with
//! `cargo test -p weir --release --test tls_e2e`; a missing client fails
//! its test with an install hint.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg, require_tool};
use common::http;
use common::probe::{self, Analysis};
use common::server::{free_port, Server};
use common::tls::write_cert;

/// How long a stream may take to become playable after its publisher starts.
const PLAYABLE: Duration = Duration::from_secs(20);
/// Extra time a client gets, beyond what it should need, before it counts as hung.
const SLACK: Duration = Duration::from_secs(20);
/// How long a replaced certificate may take to be served (SIGHUP or poll).
const RELOAD: Duration = Duration::from_secs(10);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A server with TLS on: HTTPS on its HTTP port, RTMPS on `rtmps_port`,
/// plain RTMP as usual. The certificate files live in `certs`.
struct TlsServer {
    srv: Server,
    rtmps_port: u16,
    certs: tempfile::TempDir,
}

impl TlsServer {
    fn start(poll_secs: f64) -> TlsServer {
        let certs = tempfile::Builder::new()
            .prefix("weir-tls-e2e-")
            .tempdir()
            .expect("temp dir");
        write_cert(certs.path(), "weir-test-1");
        let rtmps_port = free_port();
        let config = format!(
            "[server]\nrtmps_listen = \"127.0.0.1:{rtmps_port}\"\n\n\
             [tls]\ncert = \"{}\"\nkey = \"{}\"\nreload_poll_secs = {poll_secs}\n",
            certs.path().join("cert.pem").display(),
            certs.path().join("key.pem").display(),
        );
        let srv = Server::start_with_config(&config);
        wait_for_port(rtmps_port);
        TlsServer {
            srv,
            rtmps_port,
            certs,
        }
    }

    fn dir(&self) -> &Path {
        self.srv.dir()
    }

    fn cert_path(&self) -> PathBuf {
        self.certs.path().join("cert.pem")
    }

    fn rtmps_url(&self, key: &str) -> String {
        format!("rtmps://127.0.0.1:{}/live/{key}", self.rtmps_port)
    }

    fn https_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.srv.http_port())
    }
}

/// Waits (bounded) until `port` on 127.0.0.1 accepts TCP connections.
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        sleep(Duration::from_millis(50));
    }
}

/// The certificate `port` presents, as PEM, read by `openssl s_client`
/// (an independent TLS client).
fn served_cert(port: u16) -> String {
    let out = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "localhost"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    let begin = text.find("-----BEGIN CERTIFICATE-----");
    let end = text.find("-----END CERTIFICATE-----");
    match (begin, end) {
        (Some(b), Some(e)) => text[b..e + "-----END CERTIFICATE-----".len()].to_string(),
        _ => panic!(
            "openssl s_client got no certificate from port {port}: {}\n{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Whether two PEM texts hold the same certificate (line breaks aside).
fn same_pem(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<String>();
    norm(a) == norm(b)
}

/// Waits (bounded) until `port` serves `want`.
fn wait_for_cert(port: u16, want: &str, what: &str) {
    let deadline = Instant::now() + RELOAD;
    loop {
        if same_pem(&served_cert(port), want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: port {port} still serves the old certificate after {RELOAD:?}"
        );
        sleep(Duration::from_millis(200));
    }
}

/// `curl` verifying the server against the test certificate: the body.
fn curl(url: &str, ca: &Path) -> String {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "20"])
        .arg("--cacert")
        .arg(ca)
        .arg(url)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {url} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks and reports what a player received.
fn check(what: &str, analysis: &Analysis) {
    eprintln!("{what}: {}", analysis.summary());
    analysis.assert_clean(what);
    analysis.assert_test_codecs(what);
    analysis.assert_frames_delivered(what, 3.0, 0.95);
}

/// ffmpeg publishes over RTMPS; ffprobe plays it back over RTMPS, over
/// HTTPS-FLV and over plain RTMP at the same time, Python `websockets`
/// over WSS, and curl reads the HLS playlist and the API over HTTPS.
#[test]
fn rtmps_publish_plays_over_rtmps_https_wss_and_rtmp() {
    require_ffmpeg();
    require_tool("curl");
    http::require_python_websockets();
    let tls = TlsServer::start(2.0);
    let dir = tls.dir();
    let ca = tls.cert_path();
    let mut publisher =
        ffmpeg_publisher(dir, "ffmpeg-rtmps-publisher", &tls.rtmps_url("x"), 25, &[]);
    // Playable over plain RTMP: the RTMPS publisher feeds the same hub.
    probe::wait_until_playable(dir, &tls.srv.rtmp_url("x"), PLAYABLE);

    let rtmps = probe::spawn_player(dir, "ffprobe-rtmps", &tls.rtmps_url("x"), 5);
    let https = probe::spawn_player(dir, "ffprobe-https-flv", &tls.https_url("/live/x.flv"), 5);
    let rtmp = probe::spawn_player(dir, "ffprobe-rtmp", &tls.srv.rtmp_url("x"), 5);
    let wss_url = format!("wss://127.0.0.1:{}/live/x.flv", tls.srv.http_port());
    let wss = http::ws_ffprobe_trusting(dir, "wss-flv", &wss_url, 6, Some(&ca));

    let playlist = curl(&tls.https_url("/live/x.m3u8"), &ca);
    assert!(playlist.starts_with("#EXTM3U"), "playlist: {playlist}");
    let streams = curl(&tls.https_url("/api/v1/streams"), &ca);
    assert!(streams.contains("\"x\""), "api streams: {streams}");

    for (what, player, plays) in [
        ("rtmps player", rtmps, 5),
        ("https-flv player", https, 5),
        ("plain rtmp player", rtmp, 5),
        ("wss-flv player", wss, 6),
    ] {
        check(what, &probe::finish_player(player, secs(plays) + SLACK));
    }
    publisher.assert_running("it publishes for 25 s");
    let mut srv = tls.srv;
    srv.assert_running();
}

/// A renewed certificate reaches new connections without a restart: on
/// SIGHUP, and on its own when the files change; a broken one is refused
/// and the last good certificate stays in use.
#[test]
fn certificate_hot_reload() {
    require_tool("openssl");
    require_tool("timeout");
    // A long poll, so the SIGHUP step is not the poll's doing.
    let tls = TlsServer::start(3600.0);
    let http_port = tls.srv.http_port();
    let first = fs::read_to_string(tls.cert_path()).unwrap();
    assert!(same_pem(&served_cert(http_port), &first));
    assert!(same_pem(&served_cert(tls.rtmps_port), &first));

    let second = write_cert(tls.certs.path(), "weir-test-2");
    let hup = Command::new("bash")
        .args(["-c", &format!("kill -HUP {}", tls.srv.pid())])
        .status()
        .expect("send SIGHUP");
    assert!(hup.success());
    wait_for_cert(http_port, &second, "after SIGHUP (https)");
    wait_for_cert(tls.rtmps_port, &second, "after SIGHUP (rtmps)");

    // A truncated certificate: refused, the second one stays.
    fs::write(tls.cert_path(), &second[..second.len() / 2]).unwrap();
    Command::new("bash")
        .args(["-c", &format!("kill -HUP {}", tls.srv.pid())])
        .status()
        .expect("send SIGHUP");
    let deadline = Instant::now() + RELOAD;
    while !tls.srv.log().contains("tls certificate reload failed") {
        assert!(Instant::now() < deadline, "no reload error logged");
        sleep(Duration::from_millis(100));
    }
    assert!(same_pem(&served_cert(http_port), &second));
    assert!(same_pem(&served_cert(tls.rtmps_port), &second));
    let mut srv = tls.srv;
    srv.assert_running();
    drop(srv);
}

/// Without SIGHUP, a changed pair is picked up by the file poll.
#[test]
fn certificate_reload_by_file_poll() {
    require_tool("openssl");
    require_tool("timeout");
    let tls = TlsServer::start(0.5);
    let first = fs::read_to_string(tls.cert_path()).unwrap();
    assert!(same_pem(&served_cert(tls.rtmps_port), &first));
    let second = write_cert(tls.certs.path(), "weir-test-2");
    wait_for_cert(tls.rtmps_port, &second, "after a file change (rtmps)");
    wait_for_cert(tls.srv.http_port(), &second, "after a file change (https)");
}

/// RTMPS without a certificate, or a certificate file that does not exist,
/// stops `weir serve` at startup with an error that says what to fix.
#[test]
fn tls_misconfiguration_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = Command::new("timeout");
        cmd.args(["20", env!("CARGO_BIN_EXE_weir"), "serve"])
            .args([
                "--rtmp-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra);
        let out = cmd.output().expect("run weir serve");
        assert!(!out.status.success(), "weir serve {extra:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--rtmps-listen", "127.0.0.1:0"]);
    assert!(err.contains("needs a TLS certificate"), "{err}");
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let err = run(&["--tls-cert", missing, "--tls-key", missing]);
    assert!(err.contains("missing.pem"), "{err}");
    let err = run(&["--tls-cert", missing]);
    assert!(err.contains("both a certificate and a key"), "{err}");
}
