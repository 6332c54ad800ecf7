//! End-to-end RTSP with the clients rtsp_e2e.rs does not drive: GStreamer
//! publishing with `rtspclientsink` (played back over RTMP and HLS),
//! GStreamer's `rtspsrc` playing over UDP, and hostile input over raw TCP
//! (a huge request line, thousands of headers, an SDP of 1,000 media
//! sections, interleaved frames on channels nobody set up, garbage) while a
//! normal player watches: each is refused or dropped, counted in
//! `/metrics`, and the player never notices.

#[allow(dead_code)]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, gst_decoded_frames, require_ffmpeg, require_gst_elements};
use common::http::gst_launch;
use common::probe;
use common::process::rss_kib;
use common::rtsp::{rtsp_errors, wait_playable, wait_rtsp, TCP};
use common::server::Server;

/// Extra time a client gets, beyond what it should need, before it counts as hung.
const SLACK: Duration = Duration::from_secs(20);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Sends `raw` on a fresh connection (ignoring a write the server cut short
/// by closing) and reads until the server closes, for at most 10 s.
/// Returns what it answered, or panics if it kept the connection open.
fn send_and_read_until_closed(srv: &Server, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", srv.rtsp_port())).unwrap();
    s.set_read_timeout(Some(secs(10))).unwrap();
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server kept the connection open after {} bytes of bad input ({e}); it answered:\n{}",
                raw.len(),
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The session id a SETUP answer gives (without `;timeout=`).
fn session_id(setup: &str) -> String {
    setup
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .expect("Session header")
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

/// A hand-driven RTSP connection. Bytes read past one response (the start
/// of the interleaved frames a playing session receives) are kept for the
/// next exchange, so the reader never loses its place in the stream.
struct RtspConn {
    s: TcpStream,
    pending: Vec<u8>,
}

impl RtspConn {
    fn connect(srv: &Server) -> Self {
        let s = TcpStream::connect(("127.0.0.1", srv.rtsp_port())).unwrap();
        s.set_read_timeout(Some(secs(10))).unwrap();
        Self {
            s,
            pending: Vec::new(),
        }
    }

    /// One request and its response (bounded read of the head and any
    /// `Content-Length` body; interleaved frames before it are skipped).
    fn exchange(&mut self, raw: &str) -> String {
        self.s.write_all(raw.as_bytes()).unwrap();
        let deadline = Instant::now() + secs(10);
        let mut buf = [0u8; 4096];
        loop {
            assert!(Instant::now() < deadline, "no answer to:\n{raw}");
            let out = &mut self.pending;
            // Drop interleaved frames ($, channel, 16-bit length) in front.
            while out.first() == Some(&b'$') && out.len() >= 4 {
                let len = 4 + usize::from(u16::from_be_bytes([out[2], out[3]]));
                if out.len() < len {
                    break;
                }
                out.drain(..len);
            }
            if out.starts_with(b"RTSP/1.0") {
                let text = String::from_utf8_lossy(out).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if out.len() >= end + 4 + len {
                        let answer: Vec<u8> = out.drain(..end + 4 + len).collect();
                        return String::from_utf8_lossy(&answer).into_owned();
                    }
                }
            } else if !out.is_empty() && out[0] != b'$' && out[0] != b'R' {
                panic!(
                    "out of step: neither a response nor an interleaved frame before the answer to:\n{raw}"
                );
            }
            match self.s.read(&mut buf) {
                Ok(0) => panic!("connection closed before an answer to:\n{raw}"),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) => panic!("no answer to:\n{raw}\n({e})"),
            }
        }
    }
}

/// GStreamer publishes H.264 with `rtspclientsink` over RTSP (TCP
/// interleaved); ffprobe plays it back over RTMP and HLS: 640x360 H.264, a
/// keyframe first, monotonic DTS, 30 fps worth of frames.
#[test]
fn gstreamer_rtspclientsink_publishes_h264_and_plays_over_rtmp_and_hls() {
    rtspclientsink_publish(false);
}

/// The same with AAC audio beside the video: rtspclientsink sets up the
/// audio track (`stream=1`, interleaved 0-1) before the video (`stream=0`,
/// interleaved 2-3).
#[test]
fn gstreamer_rtspclientsink_publishes_h264_and_aac_and_plays_over_rtmp_and_hls() {
    rtspclientsink_publish(true);
}

fn rtspclientsink_publish(audio: bool) {
    require_ffmpeg();
    require_gst_elements(&[
        "rtspclientsink",
        "videotestsrc",
        "audiotestsrc",
        "x264enc",
        "avenc_aac",
    ]);
    let srv = Server::start();
    wait_rtsp(&srv);
    let url = srv.rtsp_url("gst");
    let mut pipeline = format!(
        "rtspclientsink name=s location={url} protocols=tcp latency=0 \
         videotestsrc is-live=true ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! s."
    );
    if audio {
        pipeline.push_str(
            " audiotestsrc is-live=true ! audioconvert ! audioresample ! avenc_aac ! aacparse ! s.",
        );
    }
    let mut publisher = gst_launch(srv.dir(), "gst-rtspclientsink", &pipeline);
    let rtmp = srv.rtmp_url("gst");
    wait_playable(&srv, &rtmp, &[]);

    let rtmp_player = probe::spawn_player(srv.dir(), "rtmp-player", &rtmp, 6);
    let hls = format!("{}/live/gst.m3u8", srv.http_base());
    let hls_player = probe::spawn_player(srv.dir(), "hls-player", &hls, 6);
    for (what, player, timeout) in [
        ("rtmp", rtmp_player, secs(6) + SLACK),
        // HLS starts a few segments behind live and reads them as they come.
        ("hls", hls_player, secs(20) + SLACK),
    ] {
        let analysis = probe::finish_player(player, timeout);
        analysis.assert_clean(what);
        if audio {
            analysis.assert_test_codecs(what);
        } else {
            assert!(
                analysis
                    .stream("video")
                    .is_some_and(|v| v.codec_name == "h264"
                        && v.width == Some(640)
                        && v.height == Some(360)),
                "{what}: expected h264 640x360: {}",
                analysis.summary()
            );
        }
        analysis.assert_frames_delivered(what, 4.0, 0.9);
    }
    publisher.assert_running("rtspclientsink must stay connected");
    publisher.stop(secs(10));
}

/// An RTMP publish plays over RTSP with RTP over UDP: GStreamer's rtspsrc
/// (UDP only) decodes 640x360 H.264 at the source's frame rate.
#[test]
fn rtmp_publish_plays_over_rtsp_udp_in_gstreamer() {
    require_ffmpeg();
    require_gst_elements(&["rtspsrc", "rtph264depay", "h264parse", "avdec_h264"]);
    let srv = Server::start();
    wait_rtsp(&srv);
    let mut publisher = ffmpeg_publisher(srv.dir(), "rtmp-publisher", &srv.rtmp_url("u"), 40, &[]);
    let url = srv.rtsp_url("u");
    wait_playable(&srv, &url, TCP);

    let pipeline = format!(
        "rtspsrc location={url} protocols=udp latency=200 ! application/x-rtp,media=video \
         ! rtph264depay ! h264parse ! avdec_h264 ! fakesink name=vsink silent=false"
    );
    let mut gst = gst_launch(srv.dir(), "gst-rtsp-udp-player", &pipeline);
    sleep(secs(8));
    gst.assert_running("rtspsrc over UDP must keep playing a live stream");
    gst.stop(secs(10));
    let (pts, size_ok) = gst_decoded_frames(&mut gst);
    assert!(
        size_ok,
        "avdec_h264 did not output 640x360 video; gst-launch stderr:\n{}",
        gst.stderr_tail(30)
    );
    let span = match (pts.first(), pts.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    };
    assert!(
        span >= 4.0 && pts.len() as f64 >= 0.8 * 30.0 * span,
        "GStreamer decoded {} frames spanning {span:.3} s over UDP",
        pts.len()
    );
    let log = gst.stderr_text();
    assert!(
        !log.contains("Could not receive any UDP packets"),
        "rtspsrc fell back from UDP: {log}"
    );
    publisher.assert_running("the RTMP publisher must stay connected");
}

/// Hostile input while an RTSP player watches: a 100 kB request line,
/// thousands of headers and garbage get 400 (or a closed connection), an
/// ANNOUNCE whose SDP has 1,000 media sections gets a 4xx, interleaved
/// frames on channels no SETUP gave are dropped (before a session, and in
/// a playing session, which goes on answering). Each is counted in
/// `/metrics`; the watching player keeps receiving every frame and a new
/// player starts cleanly afterwards.
#[test]
fn bad_input_is_refused_counted_and_harms_no_other_client() {
    require_ffmpeg();
    let mut srv = Server::start();
    wait_rtsp(&srv);
    let mut publisher = ffmpeg_publisher(srv.dir(), "rtmp-publisher", &srv.rtmp_url("b"), 40, &[]);
    let url = srv.rtsp_url("b");
    wait_playable(&srv, &url, TCP);
    let bad_request_before = rtsp_errors(&srv, "bad_request");

    let watcher = probe::spawn_player_with(srv.dir(), "watcher", &url, 10, TCP);
    let attack_start = Instant::now();
    sleep(secs(1));

    // A 100 kB request line.
    let long = format!(
        "OPTIONS rtsp://h/{} RTSP/1.0\r\nCSeq: 1\r\n\r\n",
        "a".repeat(100_000)
    );
    let answer = send_and_read_until_closed(&srv, long.as_bytes());
    assert!(
        answer.is_empty() || answer.starts_with("RTSP/1.0 400"),
        "100 kB request line: {answer}"
    );

    // Thousands of headers.
    let mut many = format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 2\r\n");
    for i in 0..5000 {
        many.push_str(&format!("X-Header-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let answer = send_and_read_until_closed(&srv, many.as_bytes());
    assert!(
        answer.is_empty() || answer.starts_with("RTSP/1.0 400"),
        "5000 headers: {answer}"
    );

    // Garbage.
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let answer = send_and_read_until_closed(&srv, &garbage);
    assert!(
        answer.is_empty() || answer.starts_with("RTSP/1.0 4"),
        "garbage: {answer}"
    );

    // An SDP with 1,000 media sections (22 kB: under the body limit, so
    // the SDP reader's own limit is what refuses it).
    let mut sdp = String::from("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n");
    for _ in 0..1000 {
        sdp.push_str("m=video 0 RTP/AVP 96\r\n");
    }
    let bad_sdp_before = rtsp_errors(&srv, "bad_sdp");
    let mut s = RtspConn::connect(&srv);
    let answer = s.exchange(&format!(
        "ANNOUNCE {} RTSP/1.0\r\nCSeq: 3\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
        srv.rtsp_url("many"),
        sdp.len()
    ));
    assert!(
        answer.starts_with("RTSP/1.0 4"),
        "ANNOUNCE with 1,000 media sections: {answer}"
    );
    drop(s);

    // Interleaved frames on channels nobody set up: before any session,
    // and in a playing session (channels 0-3 are its own).
    let unknown_before = rtsp_errors(&srv, "unknown_channel");
    let mut s = RtspConn::connect(&srv);
    let mut frames = Vec::new();
    for channel in [5u8, 17, 200] {
        frames.extend_from_slice(&[b'$', channel, 0, 12]);
        frames.extend_from_slice(&[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
    s.s.write_all(&frames).unwrap();
    let answer = s.exchange(&format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n"));
    assert!(
        answer.starts_with("RTSP/1.0 200"),
        "OPTIONS after junk frames: {answer}"
    );
    let describe = s.exchange(&format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\n\r\n"));
    assert!(describe.starts_with("RTSP/1.0 200"), "{describe}");
    let control = describe
        .lines()
        .filter_map(|l| l.strip_prefix("a=control:"))
        .find(|c| c.contains("trackID"))
        .unwrap_or_else(|| panic!("no track control in the DESCRIBE answer:\n{describe}"))
        .trim()
        .to_owned();
    let setup = s.exchange(
        &format!(
            "SETUP {control} RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
        ),
    );
    assert!(setup.starts_with("RTSP/1.0 200"), "{setup}");
    let session = session_id(&setup);
    let play = s.exchange(&format!(
        "PLAY {url} RTSP/1.0\r\nCSeq: 4\r\nSession: {session}\r\n\r\n"
    ));
    assert!(play.starts_with("RTSP/1.0 200"), "{play}");
    s.s.write_all(&frames).unwrap();
    let alive = s.exchange(&format!(
        "GET_PARAMETER {url} RTSP/1.0\r\nCSeq: 5\r\nSession: {session}\r\n\r\n"
    ));
    assert!(
        alive.starts_with("RTSP/1.0 200"),
        "the session must go on after frames on unknown channels: {alive}"
    );
    drop(s);
    // The attacks take milliseconds: watch the player a little longer.
    sleep(secs(2));
    let attack_end = Instant::now();

    let watched = probe::finish_player(watcher, secs(10) + SLACK);
    watched.assert_clean("player watching during the attacks");
    watched.assert_frames_delivered("player watching during the attacks", 8.0, 0.9);
    watched.assert_flowing(
        "player watching during the attacks",
        attack_start,
        attack_end,
        0.8,
    );
    let after = probe::spawn_player_with(srv.dir(), "after", &url, 4, TCP);
    let after = probe::finish_player(after, secs(4) + SLACK);
    after.assert_clean("player starting after the attacks");
    after.assert_test_codecs("player starting after the attacks");
    after.assert_frames_delivered("player starting after the attacks", 3.0, 0.9);

    assert!(
        rtsp_errors(&srv, "bad_request") >= bad_request_before + 2,
        "the long line and the 5000 headers are not counted as bad_request"
    );
    assert!(
        rtsp_errors(&srv, "bad_sdp") > bad_sdp_before,
        "the 1,000-section SDP is not counted as bad_sdp"
    );
    assert!(
        rtsp_errors(&srv, "unknown_channel") >= unknown_before + 6,
        "6 frames on unknown channels, counted {}",
        rtsp_errors(&srv, "unknown_channel") - unknown_before
    );
    srv.assert_running();
    publisher.assert_running("the RTMP publisher must not be affected");
}

/// A publisher that set up RTP over UDP sends ~100 Mbit/s of junk to the
/// server's RTP port for 3 s (bogus versions, lengths past the end, random
/// bytes, and RTP-looking packets whose FU-A fragments never end), and an
/// address nobody set up sends the same: the junk is dropped and counted
/// (`bad_rtp`, `udp_unknown_source`, or `udp_queue_full` when it comes
/// faster than the session reads), the server's memory stays bounded, the
/// publisher's session still answers, and a player of another stream
/// never notices.
#[test]
fn a_flood_of_junk_udp_harms_nobody() {
    require_ffmpeg();
    let mut srv = Server::start();
    wait_rtsp(&srv);
    let mut publisher = ffmpeg_publisher(srv.dir(), "rtmp-publisher", &srv.rtmp_url("f"), 40, &[]);
    let url = srv.rtsp_url("f");
    wait_playable(&srv, &url, TCP);
    let watcher = probe::spawn_player_with(srv.dir(), "watcher", &url, 8, TCP);

    // A UDP publisher of another stream, by hand: ANNOUNCE, SETUP, RECORD.
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtcp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a, b) = (
        rtp.local_addr().unwrap().port(),
        rtcp.local_addr().unwrap().port(),
    );
    let mut s = RtspConn::connect(&srv);
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n\
               m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
               a=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";
    let announce = s.exchange(&format!(
        "ANNOUNCE {} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        srv.rtsp_url("junk"),
        sdp.len()
    ));
    assert!(announce.starts_with("RTSP/1.0 200"), "{announce}");
    let setup = s.exchange(&format!(
        "SETUP {}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n\
         Transport: RTP/AVP;unicast;client_port={a}-{b};mode=record\r\n\r\n",
        srv.rtsp_url("junk")
    ));
    assert!(setup.starts_with("RTSP/1.0 200"), "{setup}");
    let session = session_id(&setup);
    let server_rtp: u16 = setup
        .split("server_port=")
        .nth(1)
        .and_then(|p| p.split(['-', ';', '\r']).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no server_port in {setup}"));
    let record = s.exchange(&format!(
        "RECORD {} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n",
        srv.rtsp_url("junk")
    ));
    assert!(record.starts_with("RTSP/1.0 200"), "{record}");

    let bad_rtp_before = rtsp_errors(&srv, "bad_rtp");
    let unknown_before = rtsp_errors(&srv, "udp_unknown_source");
    let rss_before = rss_kib(srv.pid());
    let stranger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = ("127.0.0.1", server_rtp);
    let attack_start = Instant::now();
    let (mut sent, mut i) = (0u64, 0u32);
    let mut junk = vec![0u8; 1400];
    while attack_start.elapsed() < secs(3) {
        i = i.wrapping_add(1);
        for (j, byte) in junk.iter_mut().enumerate() {
            *byte = (i.wrapping_mul(2_654_435_761) >> (j % 24)) as u8;
        }
        match i % 4 {
            // RTP version 2, FU-A start fragments that never end, each on
            // its own timestamp and growing sequence numbers.
            0 => {
                junk[0] = 0x80;
                junk[1] = 96;
                junk[2..4].copy_from_slice(&(i as u16).to_be_bytes());
                junk[4..8].copy_from_slice(&i.to_be_bytes());
                junk[12] = 28;
                junk[13] = 0x85;
            }
            // A CSRC count and an extension length past the end.
            1 => {
                junk[0] = 0x9F;
                junk.truncate(20);
            }
            // Version 0 garbage.
            _ => junk[0] &= 0x3F,
        }
        let _ = rtp.send_to(&junk, to);
        let _ = stranger.send_to(&junk, to);
        sent += 2 * junk.len() as u64;
        junk.resize(1400, 0);
        // Paced at about 100 Mbit/s (12.5 MB/s) in 10 ms steps.
        let due = Duration::from_secs_f64(sent as f64 / 12.5e6);
        if let Some(ahead) = due.checked_sub(attack_start.elapsed()) {
            if ahead > Duration::from_millis(10) {
                sleep(ahead);
            }
        }
    }
    let secs_taken = attack_start.elapsed().as_secs_f64();
    println!(
        "junk: {:.0} Mbit/s for {secs_taken:.1} s",
        sent as f64 * 8.0 / secs_taken / 1e6
    );
    sleep(secs(1));
    let rss_after = rss_kib(srv.pid());
    // The session still answers on its RTSP connection.
    let alive = s.exchange(&format!(
        "GET_PARAMETER {} RTSP/1.0\r\nCSeq: 4\r\nSession: {session}\r\n\r\n",
        srv.rtsp_url("junk")
    ));
    assert!(alive.starts_with("RTSP/1.0 200"), "{alive}");
    let attack_end = Instant::now();

    let watched = probe::finish_player(watcher, secs(8) + SLACK);
    watched.assert_clean("player watching during the flood");
    watched.assert_frames_delivered("player watching during the flood", 6.0, 0.9);
    watched.assert_flowing(
        "player watching during the flood",
        attack_start,
        attack_end,
        0.8,
    );
    let bad_rtp = rtsp_errors(&srv, "bad_rtp") - bad_rtp_before;
    let unknown = rtsp_errors(&srv, "udp_unknown_source") - unknown_before;
    let queue_full = rtsp_errors(&srv, "udp_queue_full");
    println!(
        "counted: bad_rtp {bad_rtp}, udp_unknown_source {unknown}, udp_queue_full {queue_full}; \
         RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(
        bad_rtp + queue_full > 1000,
        "the publisher's junk is not counted"
    );
    assert!(unknown > 1000, "the stranger's junk is not counted");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew from {rss_before} to {rss_after} KiB"
    );
    srv.assert_running();
    publisher.assert_running("the RTMP publisher must not be affected");
}
