//! Enhanced RTMP end to end: ffmpeg 9 (the `imageio-ffmpeg` wheel; Debian's
//! 5.1 cannot) publishes HEVC, AV1 and H.264 + Opus over RTMP, and each
//! stream plays back on every output whose format carries its codecs:
//! RTMP and HTTP-FLV read by ffmpeg 9 (Enhanced FLV), fragmented MP4 and
//! HLS by the system ffprobe, AV1 + Opus fMP4 in headless Chromium (MSE,
//! dav1d). Each player must get a keyframe first and monotonic timestamps;
//! a format that can carry none of a stream's codecs refuses it with 415
//! and a reason. The API and `/stat` name the codecs.
//!
//! `cargo test -p weir --release --test enhanced_rtmp_e2e`.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::clients::{ffmpeg9, ffmpeg9_publisher, require_ffmpeg, weir_play, weir_publish};
use common::http;
use common::probe::{self, Analysis};
use common::process::{Proc, Stdout};
use common::server::Server;

/// How long a stream may take to become playable after its publisher starts.
const PLAYABLE: Duration = Duration::from_secs(30);
/// Seconds of stream time each player reads.
const PLAY_SECS: u32 = 5;

const HEVC: &[&str] = &[
    "-c:v",
    "libx265",
    "-preset",
    "ultrafast",
    "-tune",
    "zerolatency",
    "-x265-params",
    "log-level=error",
];
const AV1: &[&str] = &[
    "-c:v",
    "libsvtav1",
    "-preset",
    "12",
    "-svtav1-params",
    "loglevel=0",
];
const VP9: &[&str] = &[
    "-c:v",
    "libvpx-vp9",
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
    "-an",
];
const H264: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-tune",
    "zerolatency",
];
const AAC: &[&str] = &["-c:a", "aac", "-b:a", "64k"];
const OPUS: &[&str] = &["-c:a", "libopus", "-b:a", "64k", "-ac", "2"];

/// ffmpeg 9 reads `url` (RTMP or HTTP-FLV, so Enhanced FLV) for `secs`
/// seconds and copies the packets, untouched, into a Matroska file that
/// the system ffprobe can then analyse.
fn ffmpeg9_recorder(dir: &Path, name: &str, url: &str, secs: u32) -> (Proc, std::path::PathBuf) {
    ffmpeg9_recorder_with(dir, name, url, secs, &[])
}

/// [`ffmpeg9_recorder`] with input options (e.g. `-rtsp_transport tcp`).
fn ffmpeg9_recorder_with(
    dir: &Path,
    name: &str,
    url: &str,
    secs: u32,
    input: &[&str],
) -> (Proc, std::path::PathBuf) {
    let out = dir.join(format!("{name}.mkv"));
    let mut cmd = Command::new(ffmpeg9());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "warning", "-y"])
        .args(input)
        .args([
            "-i",
            url,
            "-t",
            &secs.to_string(),
            "-c",
            "copy",
            "-f",
            "matroska",
        ])
        .arg(&out);
    (Proc::spawn(name, dir, cmd, Stdout::Null), out)
}

/// Waits for a recorder and analyses what it wrote: ffmpeg 9 must not
/// have seen timestamps going backwards on the way in.
fn finish_recorder(dir: &Path, (mut rec, out): (Proc, std::path::PathBuf)) -> Analysis {
    let status = rec.expect_exit(Duration::from_secs(60));
    let stderr = rec.stderr_tail(40);
    assert!(
        status.success(),
        "ffmpeg 9 recorder failed ({status}):\n{stderr}"
    );
    assert!(
        !stderr.to_lowercase().contains("monoton"),
        "ffmpeg 9 saw non-monotonic timestamps:\n{stderr}"
    );
    probe::probe_file(dir, &out)
}

/// A clean stream of `video` (640x360) and, when given, `audio`, with at
/// least 80 % of the source's frames over `PLAY_SECS - 1` seconds.
fn assert_plays(what: &str, a: &Analysis, video: &str, audio: Option<&str>) {
    a.assert_clean(what);
    let v = a
        .stream("video")
        .unwrap_or_else(|| panic!("{what}: no video ({})", a.summary()));
    assert_eq!(
        (v.codec_name.as_str(), v.width, v.height),
        (video, Some(640), Some(360)),
        "{what}: {}",
        a.summary()
    );
    match audio {
        Some(codec) => {
            assert!(
                a.stream("audio").is_some_and(|s| s.codec_name == codec),
                "{what}: expected {codec} audio: {}",
                a.summary()
            );
            assert!(a.audio_count() > 0, "{what}: no audio packets");
        }
        None => assert_eq!(a.audio_count(), 0, "{what}: {}", a.summary()),
    }
    a.assert_frames_delivered(what, f64::from(PLAY_SECS - 1), 0.8);
}

/// A live stream published by ffmpeg 9 with `codecs`.
struct Live {
    srv: Server,
    name: &'static str,
    _publisher: Proc,
}

impl Live {
    fn start(name: &'static str, codecs: &[&[&str]]) -> Live {
        require_ffmpeg();
        let srv = Server::start();
        let codecs: Vec<&str> = codecs.concat();
        let publisher = ffmpeg9_publisher(
            srv.dir(),
            "ffmpeg9-publisher",
            &srv.rtmp_url(name),
            60,
            &codecs,
        );
        let live = Live {
            srv,
            name,
            _publisher: publisher,
        };
        // The system ffprobe reads fMP4 of every codec here; it waits
        // until the stream carries media.
        let path = format!("/live/{name}.mp4");
        http::wait_until_playable(live.srv.dir(), &path, live.srv.http_port(), PLAYABLE);
        live
    }

    fn url(&self, ext: &str) -> String {
        format!("{}/live/{}.{ext}", self.srv.http_base(), self.name)
    }

    fn rtmp(&self) -> String {
        self.srv.rtmp_url(self.name)
    }

    fn dir(&self) -> &Path {
        self.srv.dir()
    }
}

/// The codec names `/api/v1/streams` gives the stream.
fn api_codecs(live: &Live) -> (String, String) {
    let resp = http::get(live.srv.http_port(), "/api/v1/streams");
    assert_eq!(resp.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&resp.body).expect("streams JSON");
    let s = v["streams"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["key"] == format!("live/{}", live.name)))
        .unwrap_or_else(|| panic!("stream missing from {v}"));
    (
        s["video"]["codec"].as_str().unwrap_or_default().to_owned(),
        s["audio"]["codec"].as_str().unwrap_or_default().to_owned(),
    )
}

/// HEVC + AAC: every output carries both, HLS as MPEG-TS stream type 0x24.
#[test]
fn hevc_plays_over_rtmp_flv_fmp4_and_hls() {
    let live = Live::start("hevc", &[HEVC, AAC]);
    let dir = live.dir();
    let rtmp = ffmpeg9_recorder(dir, "rtmp-hevc", &live.rtmp(), PLAY_SECS);
    let flv = ffmpeg9_recorder(dir, "flv-hevc", &live.url("flv"), PLAY_SECS);
    let mp4 = probe::spawn_player(dir, "ffprobe-mp4", &live.url("mp4"), PLAY_SECS);
    let hls = probe::spawn_player(dir, "ffprobe-hls", &live.url("m3u8"), PLAY_SECS);
    assert_plays("rtmp", &finish_recorder(dir, rtmp), "hevc", Some("aac"));
    assert_plays("http-flv", &finish_recorder(dir, flv), "hevc", Some("aac"));
    let timeout = Duration::from_secs(60);
    assert_plays(
        "fmp4",
        &probe::finish_player(mp4, timeout),
        "hevc",
        Some("aac"),
    );
    assert_plays(
        "hls",
        &probe::finish_player(hls, timeout),
        "hevc",
        Some("aac"),
    );
    assert_eq!(api_codecs(&live), ("h265".into(), "aac".into()));
    let stat = http::get(live.srv.http_port(), "/stat");
    let stat = String::from_utf8_lossy(&stat.body);
    assert!(stat.contains("<codec>HEVC</codec>"), "{stat}");
}

/// AV1 + Opus: RTMP, HTTP-FLV, fMP4 and RTSP (the AOM RTP payload format,
/// read by ffmpeg 9) carry it; Chromium plays the fMP4 through MSE; HLS
/// (MPEG-TS) can carry neither codec and says so.
#[test]
fn av1_and_opus_play_over_rtmp_flv_fmp4_rtsp_and_in_chromium() {
    http::require_browser();
    let live = Live::start("av1", &[AV1, OPUS]);
    let dir = live.dir();
    let rtmp = ffmpeg9_recorder(dir, "rtmp-av1", &live.rtmp(), PLAY_SECS);
    let flv = ffmpeg9_recorder(dir, "flv-av1", &live.url("flv"), PLAY_SECS);
    // Interleaved TCP, not UDP: ffmpeg's AV1 depacketizer builds the frame
    // in the demuxer's output packet, so an Opus packet read from the other
    // UDP socket between two fragments of one OBU throws the frame away
    // ("Unexpected fragment continuation", then nothing until the next
    // keyframe). Over UDP that happens whenever the client's poll sees the
    // audio socket ready mid-frame, i.e. under load; over TCP weir writes a
    // frame's packets back to back. See docs/rtsp.md.
    let rtsp = ffmpeg9_recorder_with(
        dir,
        "rtsp-av1",
        &live.srv.rtsp_url(live.name),
        PLAY_SECS,
        &["-rtsp_transport", "tcp"],
    );
    let mp4 = probe::spawn_player(dir, "ffprobe-mp4", &live.url("mp4"), PLAY_SECS);
    assert_plays("rtmp", &finish_recorder(dir, rtmp), "av1", Some("opus"));
    assert_plays("http-flv", &finish_recorder(dir, flv), "av1", Some("opus"));
    assert_plays("rtsp", &finish_recorder(dir, rtsp), "av1", Some("opus"));
    let mp4 = probe::finish_player(mp4, Duration::from_secs(60));
    assert_plays("fmp4", &mp4, "av1", Some("opus"));

    let hls = http::get(live.srv.http_port(), &format!("/live/{}.m3u8", live.name));
    let body = String::from_utf8_lossy(&hls.body);
    assert_eq!(hls.status, 415, "{body}");
    assert!(
        body.contains("av1 + opus") && body.contains(".mp4"),
        "the refusal names the codecs and a format that plays them: {body}"
    );
    assert_eq!(api_codecs(&live), ("av1".into(), "opus".into()));

    let results = http::run_browser(
        dir,
        5,
        &[("mp4", live.url("mp4"))],
        Duration::from_secs(120),
    );
    assert_eq!(results.len(), 1, "runner results: {results:?}");
    http::assert_browsers_played(&results);
    assert!(
        results[0]
            .mime
            .as_deref()
            .is_some_and(|m| m.contains("av01.") && m.contains("opus")),
        "{results:?}"
    );
}

/// H.264 + Opus: RTMP, HTTP-FLV and fMP4 carry both; HLS carries the
/// video alone (MPEG-TS here takes AAC or MP3 audio).
#[test]
fn h264_and_opus_play_everywhere_the_format_allows() {
    let live = Live::start("opus", &[H264, OPUS]);
    let dir = live.dir();
    let rtmp = ffmpeg9_recorder(dir, "rtmp-opus", &live.rtmp(), PLAY_SECS);
    let flv = ffmpeg9_recorder(dir, "flv-opus", &live.url("flv"), PLAY_SECS);
    let mp4 = probe::spawn_player(dir, "ffprobe-mp4", &live.url("mp4"), PLAY_SECS);
    let hls = probe::spawn_player(dir, "ffprobe-hls", &live.url("m3u8"), PLAY_SECS);
    assert_plays("rtmp", &finish_recorder(dir, rtmp), "h264", Some("opus"));
    assert_plays("http-flv", &finish_recorder(dir, flv), "h264", Some("opus"));
    let timeout = Duration::from_secs(60);
    assert_plays(
        "fmp4",
        &probe::finish_player(mp4, timeout),
        "h264",
        Some("opus"),
    );
    assert_plays("hls", &probe::finish_player(hls, timeout), "h264", None);
    assert_eq!(api_codecs(&live), ("h264".into(), "opus".into()));
}

/// `weir publish` sends an HEVC + Opus FLV file's Enhanced RTMP tags as
/// they are, and `weir play` writes them back: ffmpeg 9 reads the played
/// file as HEVC + Opus with every frame of the span decodable.
#[test]
fn weir_publish_and_play_carry_enhanced_rtmp() {
    require_ffmpeg();
    let srv = Server::start();
    let dir = srv.dir();
    let file = dir.join("hevc-opus.flv");
    let mut make = Command::new(ffmpeg9());
    make.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "12", "-g", "30", "-pix_fmt", "yuv420p"])
        .args(HEVC)
        .args(OPUS)
        .args(["-f", "flv"])
        .arg(&file);
    let status = make.status().expect("run ffmpeg 9");
    assert!(
        status.success(),
        "ffmpeg 9 could not make {}",
        file.display()
    );

    let url = srv.rtmp_url("weir-hevc");
    let _publisher = weir_publish(dir, &file, &url);
    let played = dir.join("played.flv");
    let mut player = weir_play(dir, &url, &played, 6);
    let status = player.expect_exit(Duration::from_secs(40));
    assert!(
        status.success(),
        "weir play failed: {}",
        player.stderr_tail(20)
    );

    let out = Command::new(ffmpeg9())
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(&played)
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("run ffmpeg 9");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ffmpeg 9 could not read the played file: {stderr}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let video = text.lines().filter(|l| l.starts_with("0,")).count();
    let audio = text.lines().filter(|l| l.starts_with("1,")).count();
    assert!(
        text.contains("#codec_id 0: rawvideo") && text.contains("#dimensions 0: 640x360"),
        "{}",
        &text[..text.len().min(600)]
    );
    // 6 s of 30 fps video (a GOP of slack) and 20 ms Opus packets.
    assert!(video >= 120, "{video} decoded video frames");
    assert!(audio >= 200, "{audio} decoded audio frames");
    let probe = Command::new(ffmpeg9())
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(&played)
        .output()
        .expect("run ffmpeg 9");
    let info = String::from_utf8_lossy(&probe.stderr);
    assert!(
        info.contains("Video: hevc") && info.contains("Audio: opus"),
        "{info}"
    );
}

/// VP9 alone: RTMP and fMP4 carry it; HLS (MPEG-TS) and RTSP cannot carry
/// VP9 here, and say so with 415 rather than a playlist that never fills
/// or a "not found".
#[test]
fn vp9_plays_where_its_format_allows_and_is_refused_elsewhere() {
    let live = Live::start("vp9", &[VP9]);
    let dir = live.dir();
    let rtmp = ffmpeg9_recorder(dir, "rtmp-vp9", &live.rtmp(), PLAY_SECS);
    let mp4 = probe::spawn_player(dir, "ffprobe-mp4", &live.url("mp4"), PLAY_SECS);
    assert_plays("rtmp", &finish_recorder(dir, rtmp), "vp9", None);
    assert_plays(
        "fmp4",
        &probe::finish_player(mp4, Duration::from_secs(60)),
        "vp9",
        None,
    );
    let hls = http::get(live.srv.http_port(), "/live/vp9.m3u8");
    let body = String::from_utf8_lossy(&hls.body);
    assert_eq!(hls.status, 415, "{body}");
    assert!(body.contains("vp9") && body.contains(".mp4"), "{body}");

    let mut rtsp = TcpStream::connect(("127.0.0.1", live.srv.rtsp_port())).expect("connect rtsp");
    rtsp.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let url = live.srv.rtsp_url("vp9");
    write!(
        rtsp,
        "DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
    )
    .unwrap();
    let mut answer = [0u8; 512];
    let n = rtsp.read(&mut answer).expect("an RTSP answer");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(
        answer.starts_with("RTSP/1.0 415 Unsupported Media Type"),
        "{answer}"
    );
    assert_eq!(api_codecs(&live).0, "vp9");
}
