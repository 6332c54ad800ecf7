//! End-to-end RTMPE tests, and weir's own client over rtmps:// and
//! rtmpe://: the Flash-era encrypted handshake on the plain RTMP port,
//! with rtmpdump (librtmp), ffmpeg 9 (`rtmpe://`, its own implementation)
//! and `weir play`/`weir publish` (Enhanced RTMP too: HEVC + Opus);
//! ffmpeg 9 publishing over rtmpe://; RTMPE turned off; bad RTMPE handshakes
//! that must close only their own connection; and `weir publish`/`weir
//! play` over weir's RTMPS listener, checking its certificate.
//!
//! Run with `cargo test -p weir --release --test rtmpe_e2e`; a missing
//! client fails its test with an install hint.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{
    ffmpeg9, ffmpeg_publisher, make_flv, require_ffmpeg, require_tool, rtmpdump, weir_play,
    weir_publish,
};
use common::http::counter;
use common::probe;
use common::process::{Proc, Stdout};
use common::server::{free_port, Server};
use common::tls::write_cert;

/// How long a stream may take to become playable after its publisher starts.
const PLAYABLE: Duration = Duration::from_secs(20);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `rtmpe://127.0.0.1:PORT/live/{key}`: RTMPE on the plain RTMP port.
fn rtmpe_url(srv: &Server, key: &str) -> String {
    format!("rtmpe://127.0.0.1:{}/live/{key}", srv.rtmp_port())
}

/// Clients accepted over RTMPE so far (`/metrics`).
fn rtmpe_accepted(srv: &Server) -> u64 {
    counter(
        srv.http_port(),
        "weir_connections_accepted_total{protocol=\"rtmpe\"}",
    )
}

/// The `/metrics` count of RTMP connection errors of `kind`.
fn rtmp_errors(srv: &Server, kind: &str) -> u64 {
    counter(
        srv.http_port(),
        &format!("weir_connection_errors_total{{protocol=\"rtmp\",kind=\"{kind}\"}}"),
    )
}

/// Checks an FLV file a player wrote: clean, the test codecs, frames.
fn assert_played(dir: &Path, out: &Path, what: &str) {
    let analysis = probe::probe_file(dir, out);
    analysis.assert_clean(what);
    analysis.assert_test_codecs(what);
    analysis.assert_frames_delivered(what, 1.0, 0.9);
}

/// rtmpdump plays over rtmpe:// on the RTMP port; its output decodes, and
/// the server counts the client as RTMPE.
#[test]
fn rtmpdump_plays_over_rtmpe() {
    require_ffmpeg();
    require_tool("rtmpdump");
    let srv = Server::start();
    let dir = srv.dir();
    let _publisher = ffmpeg_publisher(dir, "ffmpeg-publisher", &srv.rtmp_url("e"), 20, &[]);
    probe::wait_until_playable(dir, &srv.rtmp_url("e"), PLAYABLE);
    let out = dir.join("rtmpdump.flv");
    let mut player = rtmpdump(dir, "rtmpdump", &rtmpe_url(&srv, "e"), &out, false);
    if player.wait_exit(secs(6)).is_none() {
        player.stop(secs(5));
    }
    let log = player.stderr_text();
    assert!(
        log.contains("Handshaking finished"),
        "rtmpdump's RTMPE handshake failed:\n{}",
        player.stderr_tail(30)
    );
    assert_played(dir, &out, "rtmpdump rtmpe output");
    let decoded = probe::decoded_video_frames(&out);
    assert!(decoded > 0, "no video frame of rtmpdump's output decodes");
    assert!(
        rtmpe_accepted(&srv) >= 1,
        "the server did not count an RTMPE client"
    );
}

/// ffmpeg 9 (its own RTMPE code, not librtmp) plays over rtmpe://.
#[test]
fn ffmpeg9_plays_over_rtmpe() {
    require_ffmpeg();
    let ffmpeg9 = ffmpeg9();
    let srv = Server::start();
    let dir = srv.dir();
    let _publisher = ffmpeg_publisher(dir, "ffmpeg-publisher", &srv.rtmp_url("f"), 20, &[]);
    probe::wait_until_playable(dir, &srv.rtmp_url("f"), PLAYABLE);
    let out = dir.join("ffmpeg9.flv");
    let mut cmd = Command::new(&ffmpeg9);
    cmd.args(["-hide_banner", "-rw_timeout", "10000000", "-i"])
        .arg(rtmpe_url(&srv, "f"))
        .args(["-t", "4", "-c", "copy", "-f", "flv", "-y"])
        .arg(&out);
    let mut player = Proc::spawn("ffmpeg9-rtmpe-player", dir, cmd, Stdout::Null);
    let status = player.expect_exit(secs(30));
    assert!(
        status.success(),
        "ffmpeg 9 could not play over rtmpe://:\n{}",
        player.stderr_tail(30)
    );
    assert_played(dir, &out, "ffmpeg 9 rtmpe output");
    assert!(rtmpe_accepted(&srv) >= 1);
}

/// ffmpeg 9 publishes over rtmpe:// (a file, `-c copy`), and a plain
/// player gets its frames. ffmpeg's RTMPE publisher mangles an echoed Set
/// Chunk Size, so this also checks that RTMPE sessions get none before
/// they play (`ServerConfig::defer_chunk_size`).
#[test]
fn ffmpeg9_publishes_over_rtmpe() {
    require_ffmpeg();
    let ffmpeg9 = ffmpeg9();
    let srv = Server::start();
    let dir = srv.dir();
    let file = dir.join("in.flv");
    make_flv(dir, &file, 15);
    let mut cmd = Command::new(&ffmpeg9);
    cmd.args(["-hide_banner", "-re", "-i"])
        .arg(&file)
        .args(["-c", "copy", "-f", "flv"])
        .arg(rtmpe_url(&srv, "p"));
    let mut publisher = Proc::spawn("ffmpeg9-rtmpe-publisher", dir, cmd, Stdout::Null);
    probe::wait_until_playable(dir, &srv.rtmp_url("p"), PLAYABLE);
    let player = probe::spawn_player(dir, "ffprobe-player", &srv.rtmp_url("p"), 5);
    let analysis = probe::finish_player(player, secs(30));
    analysis.assert_clean("plain player of an RTMPE publisher");
    analysis.assert_test_codecs("plain player of an RTMPE publisher");
    analysis.assert_frames_delivered("plain player of an RTMPE publisher", 3.0, 0.9);
    publisher.assert_running("ffmpeg 9 must still be publishing over rtmpe://");
    assert!(rtmpe_accepted(&srv) >= 1);
}

/// `weir publish` and `weir play` both over rtmpe://.
#[test]
fn weir_publishes_and_plays_over_rtmpe() {
    require_ffmpeg();
    let srv = Server::start();
    let dir = srv.dir();
    let file = dir.join("in.flv");
    make_flv(dir, &file, 12);
    let _publisher = weir_publish(dir, &file, &rtmpe_url(&srv, "w"));
    probe::wait_until_playable(dir, &srv.rtmp_url("w"), PLAYABLE);
    let out = dir.join("weir-play.flv");
    let mut player = weir_play(dir, &rtmpe_url(&srv, "w"), &out, 4);
    let status = player.expect_exit(secs(30));
    assert!(
        status.success(),
        "weir play over rtmpe:// failed:\n{}",
        player.stderr_tail(20)
    );
    assert_played(dir, &out, "weir play rtmpe output");
    assert!(
        rtmpe_accepted(&srv) >= 2,
        "publisher and player are RTMPE clients"
    );
}

/// Enhanced RTMP through weir's client: an HEVC + Opus FLV (written by
/// ffmpeg 9) published with `weir publish` and played with `weir play`,
/// both over rtmpe://; ffmpeg 9 decodes what `weir play` wrote.
#[test]
fn weir_carries_enhanced_rtmp_over_rtmpe() {
    let ffmpeg9 = ffmpeg9();
    let srv = Server::start();
    let dir = srv.dir();
    let file = dir.join("hevc.flv");
    let mut cmd = Command::new(&ffmpeg9);
    cmd.args([
        "-hide_banner",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
    ])
    .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
    .args([
        "-t",
        "12",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-g",
        "25",
    ])
    .args(["-c:a", "libopus", "-f", "flv", "-y"])
    .arg(&file);
    let mut make = Proc::spawn("ffmpeg9-make-hevc", dir, cmd, Stdout::Null);
    assert!(
        make.expect_exit(secs(60)).success(),
        "ffmpeg 9 could not write HEVC+Opus FLV"
    );
    let _publisher = weir_publish(dir, &file, &rtmpe_url(&srv, "h"));
    let out = dir.join("hevc-play.flv");
    // The stream is up once the publisher connected: wait for it by
    // retrying the player (ffprobe 5.1 cannot read enhanced FLV).
    let deadline = Instant::now() + PLAYABLE;
    loop {
        let mut player = weir_play(dir, &rtmpe_url(&srv, "h"), &out, 4);
        if player.expect_exit(secs(30)).success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "weir play never got the HEVC stream"
        );
        sleep(Duration::from_millis(300));
    }
    let decode = Command::new(&ffmpeg9)
        .args(["-hide_banner", "-i"])
        .arg(&out)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg 9 runs");
    let log = String::from_utf8_lossy(&decode.stderr);
    assert!(
        decode.status.success(),
        "ffmpeg 9 cannot decode weir play's output:\n{log}"
    );
    assert!(
        log.contains("hevc") && log.contains("opus"),
        "codecs lost:\n{log}"
    );
    let frames = log
        .rsplit("frame=")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        frames >= 75,
        "only {frames} HEVC frames decoded from 4 s of play:\n{log}"
    );
}

/// With `[rtmp] rtmpe = false` an RTMPE client is refused (counted and
/// logged) while plain RTMP on the same port plays.
#[test]
fn rtmpe_off_refuses_rtmpe_clients_only() {
    require_ffmpeg();
    let srv = Server::start_with_config("[rtmp]\nrtmpe = false\n");
    let dir = srv.dir();
    let _publisher = ffmpeg_publisher(dir, "ffmpeg-publisher", &srv.rtmp_url("off"), 20, &[]);
    probe::wait_until_playable(dir, &srv.rtmp_url("off"), PLAYABLE);
    let out = dir.join("refused.flv");
    let mut player = weir_play(dir, &rtmpe_url(&srv, "off"), &out, 3);
    let status = player.expect_exit(secs(20));
    assert!(!status.success(), "an RTMPE player must be refused");
    assert!(rtmp_errors(&srv, "rtmpe_disabled") >= 1);
    assert!(
        srv.log().contains("RTMPE client refused"),
        "the refusal must be logged"
    );
    assert_eq!(rtmpe_accepted(&srv), 0);
    probe::wait_until_playable(dir, &srv.rtmp_url("off"), PLAYABLE);
}

/// Reads until the server closes the connection; false if it is still
/// open after `timeout`.
fn closed_within(s: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// rtmpdump's captured C0+C1 (type 6) with its DH public key replaced by
/// `key_hex` and the digest recomputed, so that only the key is wrong
/// (built by Python's `hmac`, independently of weir).
fn c0c1_with_key(key_hex: &str) -> Vec<u8> {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rtmp/src/handshake/rtmpe/rtmpdump-c0c1.bin"
    );
    let script = r#"
import hmac, hashlib, sys
d = bytearray(open(sys.argv[1], 'rb').read())
c1 = d[1:]
key = bytes.fromhex(sys.argv[2]).rjust(128, b'\0')
at = sum(c1[768:772]) % 632 + 8
c1[at:at + 128] = key
pos = sum(c1[772:776]) % 728 + 776
m = hmac.new(b'Genuine Adobe Flash Player 001', bytes(c1[:pos] + c1[pos + 32:]), hashlib.sha256)
c1[pos:pos + 32] = m.digest()
sys.stdout.buffer.write(bytes([6]) + bytes(c1))
"#;
    let out = Command::new("python3")
        .args(["-c", script, fixture, key_hex])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 1537);
    out.stdout
}

/// Garbage type-6 handshakes, truncated ones and C1s with weak DH keys
/// (0, 1, p-1) close their own connection, are counted, and the server
/// goes on serving a player.
#[test]
fn bad_rtmpe_handshakes_close_only_their_connection() {
    require_ffmpeg();
    require_tool("python3");
    let srv = Server::start_with_config("[rtmp]\nhandshake_timeout_secs = 3\n");
    let dir = srv.dir();
    let _publisher = ffmpeg_publisher(dir, "ffmpeg-publisher", &srv.rtmp_url("bad"), 25, &[]);
    probe::wait_until_playable(dir, &srv.rtmp_url("bad"), PLAYABLE);

    let p_minus_1 = "ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74\
                     020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f1437\
                     4fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed\
                     ee386bfb5a899fa5ae9f24117c4b1fe649286651ece65381fffffffffffffffe";
    let mut garbage = vec![6u8];
    garbage.extend((0..1536u32).map(|i| (i * 37 + 11) as u8));
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("garbage type 6", garbage.clone(), true),
        ("truncated type 6", garbage[..700].to_vec(), false),
        ("DH key 0", c0c1_with_key("00"), true),
        ("DH key 1", c0c1_with_key("01"), true),
        ("DH key p-1", c0c1_with_key(p_minus_1), true),
    ];
    for (what, bytes, complete) in &cases {
        let mut s = TcpStream::connect(("127.0.0.1", srv.rtmp_port())).unwrap();
        s.write_all(bytes).unwrap();
        if !complete {
            // A truncated handshake that stays open: the handshake
            // timeout (3 s) must close it.
            assert!(closed_within(&mut s, secs(8)), "{what}: left open");
            continue;
        }
        let mut answer = [0u8; 1];
        s.set_read_timeout(Some(secs(8))).unwrap();
        let got = s.read(&mut answer).unwrap_or(0);
        assert_eq!(got, 0, "{what}: the server answered instead of closing");
        let _ = s.shutdown(Shutdown::Both);
    }
    assert!(
        rtmp_errors(&srv, "rtmpe_handshake") >= 4,
        "bad RTMPE handshakes must be counted"
    );
    assert!(rtmp_errors(&srv, "handshake_timeout") >= 1);
    let log = srv.log();
    assert!(
        log.contains("weak Diffie-Hellman public key") || log.contains("no valid Flash digest"),
        "the first bad handshake must be logged"
    );
    probe::wait_until_playable(dir, &srv.rtmp_url("bad"), PLAYABLE);
    let out = dir.join("after.flv");
    let mut player = weir_play(dir, &rtmpe_url(&srv, "bad"), &out, 3);
    assert!(
        player.expect_exit(secs(20)).success(),
        "RTMPE still works afterwards"
    );
    assert_played(dir, &out, "rtmpe player after bad handshakes");
}

/// `weir publish` and `weir play` over weir's RTMPS listener, and `weir
/// play` over RTMPTS (RTMPT on the HTTPS listener), trusting its
/// self-signed certificate with `--tls-ca`; without it the certificate is
/// refused.
#[test]
fn weir_publishes_and_plays_over_rtmps() {
    require_ffmpeg();
    let certs = tempfile::Builder::new()
        .prefix("weir-rtmpe-e2e-")
        .tempdir()
        .expect("temp dir");
    write_cert(certs.path(), "weir-rtmps-client");
    let ca = certs.path().join("cert.pem");
    let rtmps_port = free_port();
    let srv = Server::start_with_config(&format!(
        "[server]\nrtmps_listen = \"127.0.0.1:{rtmps_port}\"\n\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        ca.display(),
        certs.path().join("key.pem").display(),
    ));
    let dir = srv.dir();
    let deadline = Instant::now() + secs(20);
    while TcpStream::connect(("127.0.0.1", rtmps_port)).is_err() {
        assert!(Instant::now() < deadline, "RTMPS listener never came up");
        sleep(Duration::from_millis(50));
    }
    let url = format!("rtmps://127.0.0.1:{rtmps_port}/live/s");
    let file = dir.join("in.flv");
    make_flv(dir, &file, 12);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.arg("publish")
        .arg(&file)
        .arg(&url)
        .arg("--tls-ca")
        .arg(&ca);
    let _publisher = Proc::spawn("weir-publish-rtmps", dir, cmd, Stdout::Null);
    probe::wait_until_playable(dir, &srv.rtmp_url("s"), PLAYABLE);

    let out = dir.join("rtmps.flv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args(["play", &url, "--duration", "4", "--tls-ca"])
        .arg(&ca)
        .arg("-o")
        .arg(&out);
    let mut player = Proc::spawn("weir-play-rtmps", dir, cmd, Stdout::Null);
    let status = player.expect_exit(secs(30));
    assert!(
        status.success(),
        "weir play over rtmps:// failed:\n{}",
        player.stderr_tail(20)
    );
    assert_played(dir, &out, "weir play rtmps output");

    // RTMPTS: the RTMPT routes on the listener that [tls] made HTTPS.
    let tunnel = format!("rtmpts://127.0.0.1:{}/live/s", srv.http_port());
    let out = dir.join("rtmpts.flv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args(["play", &tunnel, "--duration", "4", "--tls-ca"])
        .arg(&ca)
        .arg("-o")
        .arg(&out);
    let mut player = Proc::spawn("weir-play-rtmpts", dir, cmd, Stdout::Null);
    let status = player.expect_exit(secs(30));
    assert!(
        status.success(),
        "weir play over rtmpts:// failed:\n{}",
        player.stderr_tail(20)
    );
    assert_played(dir, &out, "weir play rtmpts output");
    let mut untrusting = weir_play(dir, &url, &dir.join("untrusted.flv"), 2);
    let status = untrusting.expect_exit(secs(20));
    assert!(
        !status.success(),
        "a self-signed server must not be trusted by default"
    );
    let err = untrusting.stderr_text();
    assert!(
        err.contains("certificate") || err.contains("Certificate"),
        "the refusal should name the certificate:\n{}",
        untrusting.stderr_tail(10)
    );
}
