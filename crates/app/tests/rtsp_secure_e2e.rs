//! End-to-end RTSPS and RTSP UDP multicast with real clients.
//!
//! RTSPS: weir with a self-signed certificate for 127.0.0.1 (rcgen) and
//! `[rtsp] tls_listen` on a free port; ffprobe plays `rtsps://` over TCP
//! interleaved (ffmpeg 5.1 does not verify an RTSPS certificate, not even
//! with `-tls_verify 1 -ca_file`), GStreamer's rtspsrc plays it with
//! `tls-validation-flags=0` (it refuses the self-signed certificate
//! otherwise), ffmpeg publishes over `rtsps://` for an RTMP and an RTSPS
//! player, and the API lists them as `rtsps`.
//!
//! Multicast: weir with `[rtsp] multicast` set to a random /24 of
//! 239.0.0.0/8; two ffprobe players with `-rtsp_transport udp_multicast`
//! (and GStreamer's rtspsrc with `protocols=udp-mcast`) play, a listener
//! of the test joins the groups too and sees every RTP packet once, and
//! the sender stops when the last player leaves. Loopback has to carry
//! multicast: the test turns it on (`ip link set lo multicast on`, `ip
//! route add 224.0.0.0/4 dev lo`, kept when a route exists), which needs root.
//!
//! Run with `cargo test -p weir --release --test rtsp_secure_e2e`.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use common::clients::{
    ffmpeg_publisher, ffmpeg_rtsp_publisher, gst_decoded_frames, require_ffmpeg,
    require_gst_elements, require_tool,
};
use common::http::{get, gst_launch};
use common::probe::{self, Analysis, Media};
use common::rtsp::{wait_playable, TCP};
use common::server::{free_port, Server};
use common::tls::write_cert;
use serde_json::Value;

/// Extra time a client gets, beyond what it should need, before it counts as hung.
const SLACK: Duration = Duration::from_secs(20);
const MULTICAST: &[&str] = &["-rtsp_transport", "udp_multicast"];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Waits (bounded) until `port` on 127.0.0.1 accepts TCP connections.
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        sleep(Duration::from_millis(50));
    }
}

fn clients(srv: &Server) -> Vec<Value> {
    let r = get(srv.http_port(), "/api/v1/clients?per_page=100");
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(&r.body).expect("clients JSON");
    v["clients"].as_array().cloned().unwrap_or_default()
}

/// A server with TLS on and RTSPS on its own free port.
struct RtspsServer {
    srv: Server,
    port: u16,
    certs: tempfile::TempDir,
}

impl RtspsServer {
    fn start() -> RtspsServer {
        let certs = tempfile::Builder::new()
            .prefix("weir-rtsps-e2e-")
            .tempdir()
            .expect("temp dir");
        write_cert(certs.path(), "weir-rtsps-test");
        let port = free_port();
        let config = format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[rtsp]\ntls_listen = \"127.0.0.1:{port}\"\n",
            certs.path().join("cert.pem").display(),
            certs.path().join("key.pem").display(),
        );
        let srv = Server::start_with_config(&config);
        wait_for_port(port);
        RtspsServer { srv, port, certs }
    }

    /// `/api/v1/clients` over HTTPS (with `[tls]` the HTTP listener speaks
    /// only HTTPS), by curl trusting the test certificate.
    fn clients(&self) -> Vec<Value> {
        let url = format!(
            "https://127.0.0.1:{}/api/v1/clients?per_page=100",
            self.srv.http_port()
        );
        let out = Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "--max-time", "20"])
            .arg("--cacert")
            .arg(self.certs.path().join("cert.pem"))
            .arg(&url)
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl {url} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("clients JSON");
        v["clients"].as_array().cloned().unwrap_or_default()
    }

    fn url(&self, key: &str) -> String {
        format!("rtsps://127.0.0.1:{}/live/{key}", self.port)
    }
}

/// An RTMP publish plays over RTSPS with ffprobe (TCP interleaved in TLS)
/// and GStreamer's rtspsrc; the API lists both players as `rtsps`.
#[test]
fn rtmp_publish_plays_over_rtsps_with_ffprobe_and_gstreamer() {
    require_ffmpeg();
    require_tool("curl");
    require_gst_elements(&["rtspsrc", "rtph264depay", "avdec_h264", "fakesink"]);
    let tls = RtspsServer::start();
    let srv = &tls.srv;
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("sec"), 60, &[]);
    let url = tls.url("sec");
    wait_playable(srv, &url, TCP);

    let ffprobe = probe::spawn_player_with(srv.dir(), "rtsps-ffprobe", &url, 6, TCP);
    let pipeline = format!(
        "rtspsrc location={url} tls-validation-flags=0 protocols=tcp latency=200 ! application/x-rtp,media=video \
         ! rtph264depay ! h264parse ! avdec_h264 ! fakesink name=vsink silent=false"
    );
    let mut gst = gst_launch(srv.dir(), "rtsps-gst", &pipeline);
    // Both players connected: the API says how.
    let deadline = Instant::now() + secs(10);
    loop {
        let rtsps: Vec<Value> = tls
            .clients()
            .into_iter()
            .filter(|c| c["protocol"] == "rtsps" && c["role"] == "play")
            .collect();
        if rtsps.len() >= 2 {
            assert!(
                rtsps
                    .iter()
                    .all(|c| c["app"] == "live" && c["stream"] == "sec"),
                "{rtsps:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API never listed two rtsps players: {:?}",
            tls.clients()
        );
        sleep(Duration::from_millis(200));
    }

    let analysis = probe::finish_player(ffprobe, secs(6) + SLACK);
    analysis.assert_clean("rtsps ffprobe");
    analysis.assert_test_codecs("rtsps ffprobe");
    analysis.assert_frames_delivered("rtsps ffprobe", 4.0, 0.9);
    println!("rtsps ffprobe: {}", analysis.summary());

    sleep(secs(3));
    gst.assert_running("rtspsrc must keep playing over rtsps");
    gst.stop(secs(10));
    assert_gst_decoded("rtspsrc over rtsps", &mut gst, 4.0);
    publisher.assert_running("the RTMP publisher must stay connected");
}

/// ffmpeg publishes over RTSPS (RECORD, TCP interleaved in TLS); an RTMP
/// and an RTSPS player get both tracks.
#[test]
fn ffmpeg_publishes_over_rtsps() {
    require_ffmpeg();
    require_tool("curl");
    let tls = RtspsServer::start();
    let srv = &tls.srv;
    let url = tls.url("in");
    let mut publisher = ffmpeg_rtsp_publisher(srv.dir(), "rtsps-publisher", &url, 40, "tcp", &[]);
    wait_playable(srv, &url, TCP);
    let deadline = Instant::now() + secs(10);
    while !tls
        .clients()
        .iter()
        .any(|c| c["protocol"] == "rtsps" && c["role"] == "publish" && c["stream"] == "in")
    {
        assert!(
            Instant::now() < deadline,
            "no rtsps publisher listed: {:?}",
            tls.clients()
        );
        sleep(Duration::from_millis(200));
    }

    let rtmp = probe::spawn_player(srv.dir(), "rtmp-player", &srv.rtmp_url("in"), 6);
    let rtsps = probe::spawn_player_with(srv.dir(), "rtsps-player", &url, 6, TCP);
    for (what, player) in [("rtmp", rtmp), ("rtsps", rtsps)] {
        let analysis = probe::finish_player(player, secs(6) + SLACK);
        analysis.assert_clean(what);
        analysis.assert_test_codecs(what);
        analysis.assert_frames_delivered(what, 4.0, 0.9);
        println!("{what} of an rtsps publish: {}", analysis.summary());
    }
    publisher.assert_running("the RTSPS publisher must stay connected");
}

/// The packets from the first video keyframe on (audio before it too is
/// dropped), with the stream descriptions.
fn from_first_keyframe(a: &Analysis) -> Analysis {
    let start = a
        .packets
        .iter()
        .position(|p| p.media == Media::Video && p.key)
        .unwrap_or(a.packets.len());
    Analysis {
        packets: a.packets[start..].to_vec(),
        streams: a.streams.clone(),
    }
}

/// Asserts a GStreamer player decoded 640x360 video spanning at least
/// `min_span` seconds with at least 80 % of 30 fps over that span.
fn assert_gst_decoded(what: &str, gst: &mut common::process::Proc, min_span: f64) {
    let (pts, size_ok) = gst_decoded_frames(gst);
    let span = match (pts.first(), pts.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    };
    assert!(
        size_ok && span >= min_span && pts.len() as f64 >= 0.8 * 30.0 * span,
        "{what}: decoded {} frames spanning {span:.3} s (640x360: {size_ok}); stderr:\n{}",
        pts.len(),
        gst.stderr_tail(30)
    );
    println!("{what}: {} frames decoded over {span:.3} s", pts.len());
}

/// Makes loopback carry multicast (idempotent; needs root).
fn loopback_multicast() {
    let run = |args: &[&str]| {
        let out = Command::new("ip")
            .args(args)
            .output()
            .expect("ip (Debian package iproute2)");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), err)
    };
    let (ok, err) = run(&["link", "set", "lo", "multicast", "on"]);
    assert!(
        ok,
        "multicast tests need root to run `ip link set lo multicast on`: {err}"
    );
    let (ok, err) = run(&["route", "add", "224.0.0.0/4", "dev", "lo"]);
    assert!(
        ok || err.contains("File exists"),
        "multicast tests need root to run `ip route add 224.0.0.0/4 dev lo`: {err}"
    );
    let out = Command::new("ip")
        .args(["route", "get", "239.1.2.3"])
        .output()
        .expect("ip route get");
    let route = String::from_utf8_lossy(&out.stdout);
    assert!(
        route.contains("dev lo"),
        "multicast to 224.0.0.0/4 is routed elsewhere than lo: {route}"
    );
}

/// A random /24 of 239.0.0.0/8 (administratively scoped), so parallel
/// runs do not hear each other.
fn random_range() -> Ipv4Addr {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let seed = nanos ^ std::process::id().rotate_left(16);
    Ipv4Addr::new(239, (seed >> 8) as u8 | 1, (seed >> 16) as u8, 0)
}

/// What a listener of the test heard on the stream's groups.
#[derive(Default, Debug)]
struct Heard {
    /// RTP packets by (group's last octet, SSRC, sequence number): how often each came.
    rtp: HashMap<(u8, u32, u16), u32>,
    /// When the last datagram came.
    last: Option<Instant>,
}

/// Joins `groups` on `port` and counts what comes until `stop`: one
/// thread per group, each on a socket bound to its group address (it
/// hears that group only).
fn listen(groups: [Ipv4Addr; 2], port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<Heard> {
    let threads: Vec<thread::JoinHandle<Heard>> = groups
        .iter()
        .map(|g| {
            let s = bind_shared(*g, port);
            s.join_multicast_v4(g, &Ipv4Addr::UNSPECIFIED)
                .expect("join group");
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let octet = g.octets()[3];
            let stop = stop.clone();
            thread::spawn(move || {
                let mut heard = Heard::default();
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = s.recv(&mut buf) else { continue };
                    heard.last = Some(Instant::now());
                    // RTP (version 2, not an RTCP packet type).
                    if n >= 12 && buf[0] >> 6 == 2 && !(200..=204).contains(&buf[1]) {
                        let seq = u16::from_be_bytes([buf[2], buf[3]]);
                        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                        *heard.rtp.entry((octet, ssrc, seq)).or_default() += 1;
                    }
                }
                heard
            })
        })
        .collect();
    thread::spawn(move || {
        let mut all = Heard::default();
        for t in threads {
            let heard = t.join().expect("listener thread");
            all.rtp.extend(heard.rtp);
            all.last = all.last.max(heard.last);
        }
        all
    })
}

/// A UDP socket bound to `group:port` with SO_REUSEADDR, as players bind
/// theirs (the port is shared with them).
fn bind_shared(group: Ipv4Addr, port: u16) -> UdpSocket {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("udp socket");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    s.bind(&std::net::SocketAddr::from((group, port)).into())
        .unwrap_or_else(|e| panic!("bind {group}:{port}: {e}"));
    s.into()
}

/// Two ffprobe multicast players of an RTMP publish: both get clean
/// H.264+AAC, keyframe first; the test's own listener hears each RTP
/// packet once (one sender, however many players); GStreamer's rtspsrc
/// joins too; the sender stops when the last player leaves.
#[test]
fn two_players_share_one_multicast_sender() {
    require_ffmpeg();
    loopback_multicast();
    let first = random_range();
    let mport = {
        let (rtp, _) = common::server::free_udp_pair();
        rtp
    };
    let config = format!(
        "[rtsp]\nmulticast = \"{first}/24\"\nmulticast_port = {mport}\nmulticast_ttl = 1\n"
    );
    let srv = Server::start_with_config(&config);
    wait_for_port(srv.rtsp_port());
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("mc"), 60, &[]);
    let url = srv.rtsp_url("mc");
    wait_playable(&srv, &url, TCP);

    // The stream's first slot: video on .0, audio on .1.
    let o = first.octets();
    let groups = [first, Ipv4Addr::new(o[0], o[1], o[2], 1)];
    let stop = Arc::new(AtomicBool::new(false));
    let listener = listen(groups, mport, stop.clone());

    let a = probe::spawn_player_with(srv.dir(), "mc-player-a", &url, 8, MULTICAST);
    sleep(secs(1));
    let b = probe::spawn_player_with(srv.dir(), "mc-player-b", &url, 6, MULTICAST);
    // Both play: the API lists them, and their connections carry only
    // RTSP (the media goes to the groups, once).
    sleep(secs(3));
    let players: Vec<Value> = clients(&srv)
        .into_iter()
        .filter(|c| c["protocol"] == "rtsp" && c["role"] == "play" && c["stream"] == "mc")
        .collect();
    assert_eq!(
        players.len(),
        2,
        "two multicast players listed: {players:?}"
    );
    for p in &players {
        let out = p["bytes_out"].as_u64().unwrap_or(u64::MAX);
        assert!(
            out < 16_384,
            "a multicast player's connection carried media: {p}"
        );
    }
    println!(
        "API: 2 rtsp players, bytes_out {:?}",
        players.iter().map(|p| &p["bytes_out"]).collect::<Vec<_>>()
    );
    // The first player starts the sender, which begins with the stream's
    // GOP cache: a keyframe first. The second joins a running group
    // mid-GOP, as any multicast receiver does: what it gets before the
    // next keyframe (the source has one every 2 s) is counted, what
    // follows must be clean.
    let a = probe::finish_player(a, secs(8) + SLACK);
    a.assert_clean("multicast a");
    a.assert_test_codecs("multicast a");
    a.assert_frames_delivered("multicast a", 6.0, 0.9);
    println!("multicast a: {}", a.summary());
    let b = probe::finish_player(b, secs(8) + SLACK);
    let before_key = b
        .of_media(Media::Video)
        .position(|p| p.key)
        .expect("multicast b: no keyframe");
    assert!(
        before_key <= 61,
        "multicast b: {before_key} video packets before the first keyframe, more than one GOP"
    );
    let b = from_first_keyframe(&b);
    b.assert_clean("multicast b");
    b.assert_test_codecs("multicast b");
    b.assert_frames_delivered("multicast b", 3.0, 0.9);
    println!(
        "multicast b (joined a running sender; {before_key} frames before its first keyframe): {}",
        b.summary()
    );
    // Both players gone: the sender stops, the groups fall silent.
    let deadline = Instant::now() + secs(10);
    while !srv.log().contains("rtsp multicast sender stopped") {
        assert!(
            Instant::now() < deadline,
            "the multicast sender did not stop after its last player left; log:\n{}",
            srv.log()
        );
        sleep(Duration::from_millis(100));
    }
    sleep(secs(2));
    stop.store(true, Ordering::Relaxed);
    let heard = listener.join().expect("listener");
    let quiet = heard.last.map(|t| t.elapsed());
    assert!(
        quiet.is_some_and(|q| q >= Duration::from_millis(1500)),
        "datagrams still came after the sender stopped (last {quiet:?} ago)"
    );
    let dups = heard.rtp.values().filter(|&&n| n > 1).count();
    let video = heard.rtp.keys().filter(|k| k.0 == 0).count();
    let audio = heard.rtp.keys().filter(|k| k.0 == 1).count();
    println!(
        "listener heard {} RTP packets ({video} video, {audio} audio), {dups} more than once",
        heard.rtp.len()
    );
    assert!(
        video > 240 && audio > 300,
        "too few packets heard: {video} video, {audio} audio"
    );
    assert_eq!(dups, 0, "packets sent more than once to the group");
    let log = srv.log();
    assert_eq!(
        log.matches("rtsp multicast sender started").count(),
        1,
        "one sender for both players; log:\n{log}"
    );
    publisher.assert_running("the RTMP publisher must stay connected");
}

/// GStreamer's rtspsrc with `protocols=udp-mcast` plays a multicast
/// stream.
#[test]
fn gstreamer_plays_multicast() {
    require_ffmpeg();
    require_gst_elements(&["rtspsrc", "rtph264depay", "avdec_h264", "fakesink"]);
    loopback_multicast();
    let first = random_range();
    let (mport, _) = common::server::free_udp_pair();
    let config = format!("[rtsp]\nmulticast = \"{first}/24\"\nmulticast_port = {mport}\n");
    let srv = Server::start_with_config(&config);
    wait_for_port(srv.rtsp_port());
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("gmc"), 60, &[]);
    let url = srv.rtsp_url("gmc");
    wait_playable(&srv, &url, TCP);
    let pipeline = format!(
        "rtspsrc location={url} protocols=udp-mcast latency=200 ! application/x-rtp,media=video \
         ! rtph264depay ! h264parse ! avdec_h264 ! fakesink name=vsink silent=false"
    );
    let mut gst = gst_launch(srv.dir(), "mc-gst", &pipeline);
    sleep(secs(8));
    gst.assert_running("rtspsrc must keep playing over multicast");
    gst.stop(secs(10));
    assert_gst_decoded("rtspsrc over multicast", &mut gst, 5.0);
    publisher.assert_running("the RTMP publisher must stay connected");
}
