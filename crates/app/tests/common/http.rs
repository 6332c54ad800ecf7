//! Clients for the HTTP delivery tests (`http_e2e.rs`): the server's HTTP
//! port, a raw HTTP/1.1 client (so odd requests can be sent byte for byte),
//! ffprobe fed by Python `websockets`, GStreamer over HTTP, headless
//! Chromium driven by `tests/browser/run.mjs`, and independent checks of
//! HLS playlists and MPEG-TS segments (the `mpeg2ts` crate, not weir's
//! muxer).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};

use super::clients::require_tool;
use super::process::{Proc, Stdout};
use super::server::Server;

/// The directory of the browser test runner, its page and its npm packages.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The server's HTTP port, once its listener accepts connections (the
/// harness waits for the RTMP listener only, which is bound first).
pub fn http_port(srv: &Server) -> u16 {
    let port = srv.http_port();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "weir's HTTP port {port} never accepted"
        );
        thread::sleep(Duration::from_millis(20));
    }
    port
}

/// A response read by [`request`].
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty when not read).
    pub body: Vec<u8>,
}

impl Response {
    /// Every value of header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of header `name`; fails the test if it is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(
            all.len() <= 1,
            "header {name} sent {} times: {:?}",
            all.len(),
            self.headers
        );
        all.first().copied()
    }
}

/// Sends `raw` (a whole request, sent byte for byte) to `port` and reads the
/// response head, and the body if `body` (by Content-Length or until the
/// server closes; `Connection: close` is up to the caller). Streaming
/// responses are read with `body = false`.
pub fn request(port: u16, raw: &[u8], body: bool) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to weir http");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(raw).expect("send request");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).expect("read response head");
        assert!(
            n > 0,
            "connection closed before a response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    if !body {
        resp.body.clear();
        return resp;
    }
    let want: Option<usize> = resp.header("content-length").and_then(|v| v.parse().ok());
    loop {
        if want.is_some_and(|w| resp.body.len() >= w) {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => resp.body.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading body: {e}"),
        }
    }
    resp
}

/// `METHOD path` with extra headers and `Connection: close`.
pub fn send(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: bool) -> Response {
    let mut raw =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (n, v) in headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    request(port, raw.as_bytes(), body && method != "HEAD")
}

/// `GET path`, whole body.
pub fn get(port: u16, path: &str) -> Response {
    send(port, "GET", path, &[], true)
}

/// Time to first decoded frame of `path` on the server's `port`: from the
/// moment the player's TCP connection is accepted until `ffmpeg
/// -fpsprobesize 0 -threads 1 -i URL -frames:v 1 -f null -` exits after
/// decoding one frame. ffmpeg connects through a one-connection relay in
/// this process, so the connection time is exact (polling /proc for the
/// socket misses it when the machine is loaded); process start-up, which
/// the server does not control, is left out as in the RTMP tests.
pub fn first_frame_time(
    dir: &Path,
    path: &str,
    port: u16,
    timeout: Duration,
) -> Result<Duration, String> {
    let relay = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let relay_port = relay.local_addr().unwrap().port();
    let (accepted_tx, accepted_rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok((client, _)) = relay.accept() else {
            return;
        };
        let _ = accepted_tx.send(Instant::now());
        let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        let (mut client, mut server) = (client, server);
        thread::spawn(move || {
            let _ = std::io::copy(&mut c2, &mut s2);
            let _ = s2.shutdown(std::net::Shutdown::Write);
        });
        // Ends when ffmpeg has gone and a write to it fails.
        let _ = std::io::copy(&mut server, &mut client);
    });
    let url = format!("http://127.0.0.1:{relay_port}{path}");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args(["-fpsprobesize", "0", "-threads", "1", "-i", &url])
        .args(["-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"]);
    let mut proc = Proc::spawn("ffmpeg-first-frame", dir, cmd, Stdout::Null);
    let status = proc.wait_exit(timeout);
    let exited = Instant::now();
    match status {
        Some(status) if status.success() => {
            let accepted = accepted_rx
                .try_recv()
                .map_err(|_| "ffmpeg never connected".to_string())?;
            Ok(exited - accepted)
        }
        Some(status) => Err(format!("{status}: {}", proc.stderr_tail(10))),
        None => Err(format!("no frame within {timeout:?}")),
    }
}

/// Waits until `path` plays over HTTP.
pub fn wait_until_playable(dir: &Path, path: &str, port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match first_frame_time(dir, path, port, left) {
            Ok(_) => return,
            Err(err) if Instant::now() >= deadline => {
                panic!("{path} did not become playable within {timeout:?}: {err}")
            }
            Err(_) => thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Fails the test unless Python can import `websockets`.
pub fn require_python_websockets() {
    require_tool("python3");
    let ok = Command::new("python3")
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 module websockets missing: `pip install websockets` or run `bash scripts/test.sh`"
    );
}

/// `python3 ws_dump.py URL SECS | ffprobe -i pipe:0`: the WebSocket stream
/// read by an independent client and analysed by ffprobe (same output as
/// [`super::probe::spawn_player`], parse with `Analysis::of`).
pub fn ws_ffprobe(dir: &Path, name: &str, url: &str, secs: u32) -> Proc {
    ws_ffprobe_trusting(dir, name, url, secs, None)
}

/// [`ws_ffprobe`] for `wss://` URLs: Python's ssl module then trusts only
/// the certificate authority in `ca` (when given).
pub fn ws_ffprobe_trusting(
    dir: &Path,
    name: &str,
    url: &str,
    secs: u32,
    ca: Option<&Path>,
) -> Proc {
    let script = browser_dir().join("ws_dump.py");
    let pipeline = format!(
        "set -o pipefail; python3 {} '{url}' {secs} | stdbuf -oL ffprobe -hide_banner -v error \
         -show_packets -show_streams \
         -show_entries packet=codec_type,dts_time,pts_time,flags:stream=codec_type,codec_name,width,height \
         -of compact -i pipe:0",
        script.display()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &pipeline]);
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    Proc::spawn(name, dir, cmd, Stdout::Lines)
}

/// `gst-launch-1.0 -e -v PIPELINE`, one line per decoded frame at the
/// fakesink named `vsink` (read them with `clients::gst_decoded_frames`).
pub fn gst_launch(dir: &Path, name: &str, pipeline: &str) -> Proc {
    let mut cmd = Command::new("stdbuf");
    cmd.args(["-oL", "gst-launch-1.0", "-e", "-v"]);
    cmd.args(pipeline.split_whitespace());
    Proc::spawn(name, dir, cmd, Stdout::Lines)
}

/// Fails the test unless node, Chromium and the npm packages are there.
pub fn require_browser() {
    require_tool("node");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} not found: `apt-get install chromium` or run `bash scripts/test.sh`"
    );
    for pkg in ["playwright-core", "hls.js", "mpegts.js"] {
        assert!(
            browser_dir().join("node_modules").join(pkg).is_dir(),
            "npm package {pkg} missing: run `npm ci --prefix crates/app/tests/browser` or `bash scripts/test.sh`"
        );
    }
}

/// What one browser case reported (see run.mjs).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BrowserResult {
    /// hls, llhls, flv, wsflv or mp4.
    pub kind: String,
    /// Seconds from opening the page to the first decoded frame.
    pub startup_s: f64,
    /// Wall seconds measured.
    pub seconds: f64,
    /// How far `currentTime` advanced meanwhile.
    pub advanced_s: f64,
    /// Growth of `totalVideoFrames` meanwhile.
    pub frames: i64,
    /// `frames / seconds`.
    pub fps: f64,
    /// `droppedVideoFrames` at the end.
    pub dropped: i64,
    /// How far behind the newest media it has the player shows (hls.js:
    /// behind the playlist's live edge; others: buffered ahead).
    pub latency_s: Option<f64>,
    /// The same, sampled every 500 ms while measuring.
    #[serde(default)]
    pub latencies: Vec<f64>,
    /// The MIME type the MSE page used (mp4 only).
    pub mime: Option<String>,
    /// Player and console errors.
    pub errors: Vec<String>,
}

/// Prints what each page of [`run_browser`] measured and asserts that it
/// played: no error, at least 20 fps, `currentTime` advancing with the
/// wall clock.
pub fn assert_browsers_played(results: &[BrowserResult]) {
    for r in results {
        eprintln!(
            "chromium {}: first frame after {:.2} s, {:.1} fps, currentTime +{:.2} s in {:.2} s, \
             dropped {}, latency {:?} s",
            r.kind, r.startup_s, r.fps, r.advanced_s, r.seconds, r.dropped, r.latency_s
        );
    }
    for r in results {
        assert!(r.errors.is_empty(), "{}: errors {:?}", r.kind, r.errors);
        assert!(r.fps >= 20.0, "{}: {:.1} fps ({r:?})", r.kind, r.fps);
        assert!(
            r.advanced_s >= 0.8 * r.seconds,
            "{}: currentTime advanced {:.2} s in {:.2} s",
            r.kind,
            r.advanced_s,
            r.seconds
        );
    }
}

/// Runs `node run.mjs SECS kind=url...` and returns one result per case.
pub fn run_browser(
    dir: &Path,
    secs: u32,
    cases: &[(&str, String)],
    timeout: Duration,
) -> Vec<BrowserResult> {
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join("run.mjs")).arg(secs.to_string());
    for (kind, url) in cases {
        cmd.arg(format!("{kind}={url}"));
    }
    let mut proc = Proc::spawn("browser", dir, cmd, Stdout::Lines);
    let status = proc.expect_exit(timeout);
    assert!(
        status.success(),
        "browser runner failed ({status}):\n{}",
        proc.stderr_tail(30)
    );
    proc.lines()
        .iter()
        .filter(|(_, l)| l.starts_with('{'))
        .map(|(_, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("bad runner line {l}: {e}"))
        })
        .collect()
}

/// One media segment line of a playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistEntry {
    /// Media sequence number.
    pub seq: u64,
    /// Segment URI as written.
    pub uri: String,
    /// `#EXTINF` duration.
    pub duration: f64,
    /// Preceded by `#EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
}

/// A parsed live media playlist.
#[derive(Debug, Clone, Default)]
pub struct Playlist {
    /// `#EXT-X-TARGETDURATION`.
    pub target: u64,
    /// `#EXT-X-MEDIA-SEQUENCE`.
    pub media_sequence: u64,
    /// `#EXT-X-ENDLIST` present.
    pub ended: bool,
    /// The segments.
    pub entries: Vec<PlaylistEntry>,
}

/// Parses a playlist, failing the test on anything RFC 8216 forbids for a
/// live media playlist (missing header tags, EXTINF above the target).
pub fn parse_playlist(text: &str) -> Playlist {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("#EXTM3U"),
        "playlist must start with #EXTM3U:\n{text}"
    );
    let mut pl = Playlist::default();
    let (mut target, mut sequence) = (None, None);
    let mut pending: Option<(f64, bool)> = None;
    let mut discontinuity = false;
    for line in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            target = Some(v.parse().expect("integer target duration"));
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = Some(v.parse().expect("integer media sequence"));
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if line == "#EXT-X-ENDLIST" {
            pl.ended = true;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d: f64 = v
                .trim_end_matches(',')
                .split(',')
                .next()
                .unwrap()
                .parse()
                .expect("EXTINF");
            pending = Some((d, std::mem::take(&mut discontinuity)));
        } else if !line.starts_with('#') && !line.is_empty() {
            let (duration, disc) = pending
                .take()
                .unwrap_or_else(|| panic!("URI without EXTINF:\n{text}"));
            pl.entries.push(PlaylistEntry {
                seq: 0,
                uri: line.to_string(),
                duration,
                discontinuity: disc,
            });
        }
    }
    pl.target = target.unwrap_or_else(|| panic!("no #EXT-X-TARGETDURATION:\n{text}"));
    pl.media_sequence = sequence.unwrap_or(0);
    for (i, e) in pl.entries.iter_mut().enumerate() {
        e.seq = pl.media_sequence + i as u64;
        assert!(
            e.duration.round() as u64 <= pl.target,
            "EXTINF {} of {} rounds above the target duration {}:\n{text}",
            e.duration,
            e.uri,
            pl.target
        );
    }
    pl
}

/// What [`TsChecker::segment`] found in one segment.
#[derive(Debug, Clone, Default)]
pub struct SegmentInfo {
    /// Video PES DTS (or PTS), 90 kHz, in order.
    pub video_dts: Vec<u64>,
    /// Audio PES packets.
    pub audio_frames: usize,
}

/// Transport-level checks over consecutive HLS segments, with the
/// independent `mpeg2ts` reader: tables first, a keyframe first, no
/// continuity-counter errors (across segment boundaries too, since a player
/// reads them as one stream), PCR gaps within 100 ms.
#[derive(Debug, Default)]
pub struct TsChecker {
    cc: HashMap<u16, u8>,
    last_pcr: Option<u64>,
    /// Largest PCR gap seen, in 27 MHz ticks.
    pub max_pcr_gap: u64,
    /// PCRs seen.
    pub pcrs: usize,
    /// Continuity errors, described.
    pub cc_errors: Vec<String>,
}

/// PID of weir's video elementary stream.
const VIDEO_PID: u16 = 0x100;

impl TsChecker {
    /// Checks segment `name`. `follows` says it comes right after the
    /// previously checked one in the playlist (so counters and PCR carry on).
    pub fn segment(&mut self, name: &str, data: &[u8], follows: bool) -> SegmentInfo {
        assert!(
            !data.is_empty() && data.len().is_multiple_of(188),
            "{name}: {} bytes is not whole TS packets",
            data.len()
        );
        if !follows {
            self.cc.clear();
            self.last_pcr = None;
        }
        let mut reader = TsPacketReader::new(data);
        let mut index = 0;
        while let Some(p) = reader
            .read_ts_packet()
            .unwrap_or_else(|e| panic!("{name}: bad TS packet {index}: {e}"))
        {
            let pid = p.header.pid.as_u16();
            match (index, &p.payload) {
                (0, Some(TsPayload::Pat(_))) | (1, Some(TsPayload::Pmt(_))) => {}
                (0, _) => panic!("{name}: first packet is not a PAT"),
                (1, _) => panic!("{name}: second packet is not a PMT"),
                _ => {}
            }
            let disc = p
                .adaptation_field
                .as_ref()
                .is_some_and(|a| a.discontinuity_indicator);
            let cc = p.header.continuity_counter.as_u8();
            if p.payload.is_some() {
                if let Some(&prev) = self.cc.get(&pid) {
                    if cc != (prev + 1) % 16 && !disc {
                        self.cc_errors.push(format!(
                            "{name}: pid {pid:#x} cc {prev} -> {cc} at packet {index}"
                        ));
                    }
                }
                self.cc.insert(pid, cc);
            }
            if let Some(pcr) = p.adaptation_field.as_ref().and_then(|a| a.pcr) {
                let pcr = pcr.as_u64();
                if let Some(last) = self.last_pcr.filter(|_| !disc) {
                    self.max_pcr_gap = self.max_pcr_gap.max(pcr.saturating_sub(last));
                }
                self.last_pcr = Some(pcr);
                self.pcrs += 1;
            }
            index += 1;
        }
        let mut info = SegmentInfo::default();
        let mut pes_reader = PesPacketReader::new(TsPacketReader::new(data));
        while let Some(pes) = pes_reader
            .read_pes_packet()
            .unwrap_or_else(|e| panic!("{name}: bad PES: {e}"))
        {
            match pes.header.stream_id.as_u8() {
                0xe0 => {
                    if info.video_dts.is_empty() {
                        assert!(
                            starts_with_idr(&pes.data),
                            "{name}: first video access unit is not an IDR picture"
                        );
                    }
                    let ts = pes
                        .header
                        .dts
                        .or(pes.header.pts)
                        .expect("video PES without timestamps");
                    info.video_dts.push(ts.as_u64());
                }
                0xc0 => info.audio_frames += 1,
                other => panic!("{name}: unexpected stream id {other:#x}"),
            }
        }
        assert!(!info.video_dts.is_empty(), "{name}: no video");
        info
    }
}

/// Whether an Annex-B access unit has an IDR slice (NAL type 5) before any
/// non-IDR slice (type 1).
fn starts_with_idr(au: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            match au[i + 3] & 0x1f {
                5 => return true,
                1 => return false,
                _ => {}
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

/// The value of the `/metrics` sample `series` (name and labels exactly as
/// printed, e.g. `weir_rtp_packets_total{protocol="rtsp"}`); 0 when absent.
pub fn counter(port: u16, series: &str) -> u64 {
    let r = get(port, "/metrics");
    assert_eq!(r.status, 200, "/metrics answered {}", r.status);
    let prefix = format!("{series} ");
    String::from_utf8_lossy(&r.body)
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |v| v.trim().parse::<f64>().expect("sample value") as u64)
}
