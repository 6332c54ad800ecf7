//! Time-range playback of recordings (#16) end to end: ffmpeg publishes
//! with `segment_secs = 5`, `GET /api/v1/recordings/get` stitches a range
//! that crosses a segment boundary into one MP4, and ffprobe/ffmpeg decode
//! it whole with timestamps that never jump; bad parameters are 400, a
//! range nobody recorded 404, a keyed stream's range needs its key. Then
//! headless Chromium plays a recording from the player page (and seeks in
//! it), and deletes one from the console.

#[allow(dead_code)]
mod common;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, password_hash, require_ffmpeg};
use common::http::{get, request, Response};
use common::process::{Proc, Stdout};
use common::server::Server;
use serde_json::Value;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `GET /api/v1/recordings?{query}`.
fn recordings(srv: &Server, query: &str) -> Vec<Value> {
    let resp = get(srv.http_port(), &format!("/api/v1/recordings?{query}"));
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let json: Value = serde_json::from_slice(&resp.body).expect("JSON");
    json["recordings"].as_array().cloned().unwrap_or_default()
}

/// Waits (bounded) until `app/stream` has at least `n` recordings and none
/// is still being written.
fn wait_finished(srv: &Server, app: &str, stream: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + secs(30);
    loop {
        let list = recordings(srv, &format!("app={app}&stream={stream}"));
        if list.len() >= n && list.iter().all(|r| r["recording"] == false) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "recordings of {app}/{stream} not finished: {list:#?}\n{}",
            srv.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

fn time_of(rec: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rec["start"].as_str().expect("start"))
        .expect("RFC 3339 start")
        .to_utc()
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `GET /api/v1/recordings/get?{query}` with extra request headers.
fn range(srv: &Server, query: &str, headers: &str) -> Response {
    let raw = format!(
        "GET /api/v1/recordings/get?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n"
    );
    request(srv.http_port(), raw.as_bytes(), true)
}

/// The JSON error of an API answer with `status`.
fn assert_error(resp: &Response, status: u16, what: &str) -> String {
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    assert_eq!(resp.status, status, "{what}: {body}");
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(json["status"], status, "{what}: {body}");
    json["error"].as_str().unwrap_or_default().to_owned()
}

/// One packet as ffprobe reads it from a file.
#[derive(Debug)]
struct Pkt {
    video: bool,
    pts: f64,
    dts: f64,
    duration: f64,
    key: bool,
}

/// Every packet of `path` with its times (`ffprobe -show_packets`).
fn packets(path: &Path) -> Vec<Pkt> {
    let out = Command::new("timeout")
        .args([
            "-s",
            "KILL",
            "60",
            "ffprobe",
            "-v",
            "error",
            "-show_packets",
        ])
        .args([
            "-show_entries",
            "packet=codec_type,pts_time,dts_time,duration_time,flags",
        ])
        .args(["-of", "compact=p=0:nk=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let get = |k: &str| {
                line.split('|')
                    .find_map(|f| f.strip_prefix(k)?.strip_prefix('='))
                    .unwrap_or_default()
            };
            let num = |k: &str| {
                get(k)
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("{k} in {line}"))
            };
            Pkt {
                video: get("codec_type") == "video",
                pts: num("pts_time"),
                dts: num("dts_time"),
                // ffmpeg cannot tell some packets' duration (N/A).
                duration: get("duration_time").parse().unwrap_or(0.0),
                key: get("flags").starts_with('K'),
            }
        })
        .collect()
}

/// Asserts that a stitched file decodes whole: ffmpeg decodes every packet
/// without an error, each stream's timestamps rise with no step larger
/// than `max_step` and no step backwards, the video starts at a keyframe,
/// and its span is `want` seconds, give or take a GOP (the cut is at the
/// keyframe at or before the start).
fn assert_stitched(dir: &Path, path: &Path, want: f64) -> (usize, f64) {
    let decode = Command::new("timeout")
        .args(["-s", "KILL", "120", "ffmpeg", "-hide_banner", "-nostdin"])
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .current_dir(dir)
        .output()
        .expect("ffmpeg runs");
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "decoding {}: {}",
        path.display(),
        String::from_utf8_lossy(&decode.stderr)
    );
    let all = packets(path);
    let mut span = 0.0;
    let mut count = 0;
    for (video, max_step) in [(true, 1.6 / 30.0), (false, 1.6 * 1024.0 / 44_100.0)] {
        let pkts: Vec<&Pkt> = all.iter().filter(|p| p.video == video).collect();
        assert!(pkts.len() > 10, "video {video}: {} packets", pkts.len());
        if video {
            assert!(pkts[0].key, "the video starts at a keyframe: {:?}", pkts[0]);
            assert!(pkts[0].dts.abs() < 0.05, "starts at 0: {:?}", pkts[0]);
        }
        for w in pkts.windows(2) {
            // No B-frames in the test source: presentation order is
            // decode order, so both must rise.
            let (dts, pts) = (w[1].dts - w[0].dts, w[1].pts - w[0].pts);
            assert!(
                dts > 0.0 && pts > 0.0 && dts <= max_step && pts <= max_step,
                "video {video}: timestamps jump from {:?} to {:?}",
                w[0],
                w[1]
            );
        }
        let last = pkts[pkts.len() - 1];
        if video {
            span = last.pts + last.duration - pkts[0].pts;
            count = pkts.len();
        }
    }
    // GOPs of 2 s: the start moves back to a keyframe by less than that.
    assert!(
        span >= want - 0.2 && span <= want + 2.0 + 0.2,
        "{span:.3} s of video for a {want} s range"
    );
    (count, span)
}

/// The time-range route: a range across a segment boundary decodes as one
/// file (plain MP4 and fMP4); bad parameters are 400, ranges nobody
/// recorded 404, a keyed stream's range 403 without its key; media CORS.
#[test]
fn a_range_across_segments_stitches_into_one_clean_mp4() {
    require_ffmpeg();
    let srv = Server::start_with_config(
        "[record]\nenabled = true\nsegment_secs = 5\n\
         [auth.apps.secret.play]\nmode = \"keys\"\nkeys = [\"k1\"]\n",
    );
    let dir = srv.dir();
    let secret_url = format!("rtmp://127.0.0.1:{}/secret/cam", srv.rtmp_port());
    let mut open = ffmpeg_publisher(dir, "publisher", &srv.rtmp_url("cam"), 16, &[]);
    let mut keyed = ffmpeg_publisher(dir, "publisher-secret", &secret_url, 8, &[]);
    open.expect_exit(secs(60));
    keyed.expect_exit(secs(30));
    // GOPs of 2 s, new file at the first keyframe after 5 s: 6 + 6 + 4 s.
    let list = wait_finished(&srv, "live", "cam", 3);
    assert!((3..=4).contains(&list.len()), "{list:#?}");
    let first = &list[0];
    let d0 = first["duration_secs"].as_f64().unwrap();
    assert!(d0 > 4.0 && d0 < 7.0, "{first:#}");

    // From 3 s into the first file, 6 s: across its end into the second.
    let start = time_of(first) + chrono::Duration::seconds(3);
    let query = format!("app=live&stream=cam&start={}&duration=6", rfc3339(start));
    let t = Instant::now();
    let resp = range(&srv, &query, "Origin: http://elsewhere.example\r\n");
    let took = t.elapsed();
    assert_eq!(
        resp.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&resp.body),
        srv.log()
    );
    assert_eq!(resp.header("content-type"), Some("video/mp4"));
    let disposition = resp.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("inline; filename=\"live_cam_")
            && disposition.ends_with("_6s.mp4\""),
        "{disposition}"
    );
    // Viewer media: the media routes' CORS (`allow_origin = "*"`), where
    // the operator listing sends none.
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    let listing = request(
        srv.http_port(),
        b"GET /api/v1/recordings HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://elsewhere.example\r\nConnection: close\r\n\r\n",
        true,
    );
    assert_eq!(listing.header("access-control-allow-origin"), None);
    let path = dir.join("range.mp4");
    std::fs::write(&path, &resp.body).unwrap();
    // A plain MP4 with its moov first: plays while it downloads.
    assert_eq!(&resp.body[4..8], b"ftyp");
    let moov = resp.body.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = resp.body.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat, "moov at {moov}, mdat at {mdat}");
    let (frames, span) = assert_stitched(dir, &path, 6.0);
    eprintln!(
        "stitched 6 s across a boundary: {} bytes, {frames} frames, {span:.3} s, in {took:?}",
        resp.body.len()
    );
    // The same range as fragmented MP4.
    let resp = range(&srv, &format!("{query}&format=fmp4"), "");
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let fmp4 = dir.join("range-frag.mp4");
    std::fs::write(&fmp4, &resp.body).unwrap();
    assert!(resp.body.windows(4).any(|w| w == b"moof"));
    let (frag_frames, _) = assert_stitched(dir, &fmp4, 6.0);
    assert_eq!(frag_frames, frames);
    // All three files, start to end.
    let whole = format!(
        "app=live&stream=cam&start={}&duration=20",
        rfc3339(time_of(first) - chrono::Duration::seconds(2))
    );
    let resp = range(&srv, &whole, "");
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let all = dir.join("whole.mp4");
    std::fs::write(&all, &resp.body).unwrap();
    let (_, span) = {
        // Starts at the first file's start: up to 2 s less than asked.
        let pkts = packets(&all);
        let v: Vec<&Pkt> = pkts.iter().filter(|p| p.video).collect();
        assert!(v.len() >= 450, "{} frames of 16 s", v.len());
        (v.len(), v[v.len() - 1].pts - v[0].pts)
    };
    assert!((span - 16.0).abs() < 1.0, "whole recording: {span:.3} s");

    // Bad parameters: 400 with a JSON error saying what is wrong.
    let at = rfc3339(start);
    for (q, says) in [
        (
            "stream=cam&start=2026-12-03T10:00:00Z&duration=5".to_owned(),
            "app",
        ),
        ("app=live&stream=cam&duration=5".to_owned(), "start"),
        (
            "app=live&stream=cam&start=yesterday&duration=5".to_owned(),
            "RFC 3339",
        ),
        (format!("app=live&stream=cam&start={at}"), "duration"),
        (
            format!("app=live&stream=cam&start={at}&duration=0"),
            "duration",
        ),
        (
            format!("app=live&stream=cam&start={at}&duration=-3"),
            "duration",
        ),
        (
            format!("app=live&stream=cam&start={at}&duration=abc"),
            "duration",
        ),
        (
            format!("app=live&stream=cam&start={at}&duration=86401"),
            "longer",
        ),
        (
            format!("app=live&stream=cam&start={at}&duration=5&format=avi"),
            "format",
        ),
        (
            format!("app=li..ve/x&stream=cam&start={at}&duration=5"),
            "app",
        ),
    ] {
        let msg = assert_error(&range(&srv, &q, ""), 400, &q);
        assert!(msg.contains(says), "{q}: {msg}");
    }
    // Nothing recorded then, or of that stream: 404.
    for q in [
        "app=live&stream=cam&start=2000-01-01T00:00:00Z&duration=60".to_owned(),
        format!("app=live&stream=nobody&start={at}&duration=5"),
        format!(
            "app=live&stream=cam&start={}&duration=5",
            rfc3339(time_of(&list[list.len() - 1]) + chrono::Duration::seconds(60))
        ),
    ] {
        assert_error(&range(&srv, &q, ""), 404, &q);
    }

    // The keyed stream's recordings: its play rule, key and all.
    let secret = wait_finished(&srv, "secret", "cam", 1);
    let q = format!(
        "app=secret&stream=cam&start={}&duration=4",
        rfc3339(time_of(&secret[0]) + chrono::Duration::seconds(1))
    );
    assert_error(&range(&srv, &q, ""), 403, "no key");
    assert_error(
        &range(&srv, &format!("{q}&key=wrong"), ""),
        403,
        "wrong key",
    );
    let resp = range(&srv, &format!("{q}&key=k1"), "");
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let keyed_path = dir.join("keyed.mp4");
    std::fs::write(&keyed_path, &resp.body).unwrap();
    assert_stitched(dir, &keyed_path, 4.0);
}

/// The pages: the player page of a stream lists its recordings; clicking
/// one plays it (currentTime advances) and it seeks. The console lists a
/// recording with its size and deletes it, and the file is gone. (And a
/// range over `max_range_bytes` is 413.)
#[test]
fn chromium_plays_a_recording_from_the_player_page_and_the_console_deletes_one() {
    require_ffmpeg();
    common::http::require_browser();
    const PASSWORD: &str = "rec-pages-pw";
    let srv = Server::start_with_config(&format!(
        "[record]\nenabled = true\nsegment_secs = 5\n\
         [vod]\nmax_range_bytes = 100000\n\
         [api]\nconsole_user = \"admin\"\nconsole_password_hash = \"{}\"\n",
        password_hash(PASSWORD)
    ));
    let dir = srv.dir();
    let mut publisher = ffmpeg_publisher(dir, "publisher", &srv.rtmp_url("pages"), 12, &[]);
    publisher.expect_exit(secs(60));
    let list = wait_finished(&srv, "live", "pages", 2);
    let ids: Vec<&str> = list.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let victim = ids[ids.len() - 1];
    let victim_file = dir.join("data/recordings").join(victim);
    assert!(victim_file.is_file());
    // `max_range_bytes = 100000`: 5 s of this stream (~1.3 MB) is too
    // much for one answer.
    let q = format!(
        "app=live&stream=pages&start={}&duration=5",
        rfc3339(time_of(&list[0]))
    );
    let msg = assert_error(&range(&srv, &q, ""), 413, "over max_range_bytes");
    assert!(msg.contains("shorter"), "{msg}");

    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", "150", "node"])
        .arg(common::http::browser_dir().join("recordings.mjs"))
        .arg(srv.http_base())
        .args(["admin", PASSWORD, "live/pages", ids[0], victim])
        .arg(dir);
    let mut node = Proc::spawn("browser-recordings", dir, cmd, Stdout::Lines);
    let status = node.expect_exit(secs(160));
    assert!(
        status.success(),
        "recordings.mjs failed: {}",
        node.stderr_tail(30)
    );
    let lines = node.lines();
    let last = &lines.last().expect("recordings.mjs printed its result").1;
    let r: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    eprintln!("browser: {r}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
    assert_eq!(r["listed"].as_u64(), Some(list.len() as u64), "{r:#}");
    assert!(
        r["played_s"].as_f64().unwrap_or(0.0) >= 1.0,
        "currentTime advanced {} s: {r:#}",
        r["played_s"]
    );
    assert_eq!(r["seeked"], true, "{r:#}");
    let size = r["console_size"].as_str().unwrap_or_default();
    assert!(
        size.ends_with("kB") || size.ends_with("MB"),
        "size cell {size:?}"
    );
    assert_eq!(r["deleted"], true, "{r:#}");
    // The console's delete reached the recorder: the file and the entry
    // are gone, the other recordings stay.
    assert!(
        !victim_file.exists(),
        "{} still there",
        victim_file.display()
    );
    let after = recordings(&srv, "app=live&stream=pages");
    assert_eq!(after.len(), list.len() - 1, "{after:#?}");
    assert!(after.iter().all(|r| r["id"] != victim));
}
