//! VOD over HTTP (`/vod/`, docs/vod.md) with real clients: ffmpeg makes
//! 20 s MP4s (plain and fragmented) in the server's VOD root; ffprobe plays
//! the files and their HLS VOD playlists; raw requests check Range, HEAD,
//! ETag and every unsafe path; hls.js plays the playlists in Chromium.
//!
//! Run: `nice -n 19 cargo test --release -p weir --test vod_e2e`.

#[allow(dead_code)] // each test binary uses part of the shared harness
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::clients::require_tool;
use common::http::{self, send};
use common::probe;
use common::server::Server;

/// 20 s of 25 fps video (a keyframe every 2 s) and AAC audio at `path`.
fn make_mp4(path: &Path, movflags: &str) {
    require_tool("ffmpeg");
    let out = Command::new("timeout")
        .args(["-s", "KILL", "120", "ffmpeg", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-g", "50",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"])
        .args(["-movflags", movflags])
        .arg(path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server whose VOD root holds `plain.mp4`, `frag.mp4` (fragments
/// addressed from their `moof`, as weir records) and `frag_abs.mp4`
/// (ffmpeg's default: absolute data offsets).
fn server_with_files() -> (Server, PathBuf) {
    let srv = Server::start();
    let root = srv.dir().join("data/vod");
    assert!(root.is_dir(), "the server creates its VOD root");
    make_mp4(&root.join("plain.mp4"), "+faststart");
    make_mp4(
        &root.join("frag.mp4"),
        "frag_keyframe+empty_moov+default_base_moof",
    );
    make_mp4(&root.join("frag_abs.mp4"), "frag_keyframe+empty_moov");
    (srv, root)
}

/// Packets ffprobe reads from `url`, by media.
fn probe_all(dir: &Path, name: &str, url: &str) -> probe::Analysis {
    let player = probe::spawn_player(dir, name, url, 60);
    probe::finish_player(player, Duration::from_secs(90))
}

/// What `ffprobe -show_format` says the duration of `url` is.
fn duration(url: &str) -> f64 {
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60", "ffprobe", "-v", "error"])
        .args(["-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(url)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().unwrap_or_else(|_| {
        panic!(
            "no duration for {url}: {text:?} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn files_play_with_ranges_head_and_etags() {
    require_tool("ffprobe");
    let (srv, root) = server_with_files();
    let port = http::http_port(&srv);
    for name in ["plain.mp4", "frag.mp4"] {
        let len = fs::metadata(root.join(name)).unwrap().len();
        let bytes = fs::read(root.join(name)).unwrap();
        let path = format!("/vod/{name}");

        let a = probe_all(srv.dir(), name, &format!("{}{path}", srv.http_base()));
        assert_eq!(a.video_count(), 500, "{name}: every video frame");
        assert!(
            a.audio_count() >= 930,
            "{name}: {} audio packets",
            a.audio_count()
        );

        let r = send(port, "GET", &path, &[("Range", "bytes=100-199")], true);
        assert_eq!(r.status, 206, "{name}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes 100-199/{len}").as_str())
        );
        assert_eq!(r.body, &bytes[100..200]);
        assert_eq!(r.header("content-type"), Some("video/mp4"));

        let r = send(port, "GET", &path, &[("Range", "bytes=999999999-")], true);
        assert_eq!(r.status, 416, "{name}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{len}").as_str())
        );

        // Several ranges: 416 (no multipart answers), never wrong bytes.
        let r = send(port, "GET", &path, &[("Range", "bytes=0-1,5-9")], true);
        assert!(
            r.status == 416 || r.status == 200 || r.status == 206,
            "{}",
            r.status
        );
        let r = send(port, "GET", &path, &[("Range", "bytes=-10")], true);
        assert_eq!(
            (r.status, r.body.as_slice()),
            (206, &bytes[bytes.len() - 10..])
        );

        let head = send(port, "HEAD", &path, &[], false);
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("content-length"),
            Some(len.to_string().as_str())
        );
        assert_eq!(head.header("accept-ranges"), Some("bytes"));
        assert!(head.header("last-modified").is_some());
        let etag = head.header("etag").expect("ETag").to_string();

        let r = send(port, "GET", &path, &[("If-None-Match", &etag)], true);
        assert_eq!(r.status, 304, "{name}");
        assert!(r.body.is_empty());
        let r = send(port, "GET", &path, &[("If-None-Match", "\"other\"")], false);
        assert_eq!(r.status, 200);
    }
}

#[test]
fn hls_vod_playlists_play_in_ffprobe() {
    require_tool("ffprobe");
    let (srv, _root) = server_with_files();
    let port = http::http_port(&srv);
    for name in ["plain.mp4", "frag.mp4", "frag_abs.mp4"] {
        let path = format!("/vod/{name}.m3u8");
        let r = http::get(port, &path);
        assert_eq!(r.status, 200, "{name}");
        let text = String::from_utf8_lossy(&r.body).to_string();
        eprintln!("{name}.m3u8:\n{text}");
        for tag in [
            "#EXT-X-VERSION:7",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            "#EXT-X-TARGETDURATION:",
            "#EXT-X-MAP:",
            "#EXT-X-ENDLIST",
        ] {
            assert!(text.contains(tag), "{name}: {tag} missing");
        }
        assert_eq!(
            text.contains("#EXT-X-BYTERANGE"),
            name == "frag.mp4",
            "fragments addressed from their moof are served as byte ranges, others generated"
        );
        let url = format!("{}{path}", srv.http_base());
        let d = duration(&url);
        assert!((d - 20.0).abs() <= 0.5, "{name}: duration {d}");
        let a = probe_all(srv.dir(), &format!("hls-{name}"), &url);
        assert_eq!(a.video_count(), 500, "{name}: every video frame over HLS");
        assert!(
            a.audio_count() >= 930,
            "{name}: {} audio packets",
            a.audio_count()
        );
    }
    // A segment number past the end, a bad one.
    assert_eq!(http::get(port, "/vod/plain.mp4?hls=99").status, 404);
    assert_eq!(http::get(port, "/vod/plain.mp4?hls=x").status, 404);
    assert_eq!(http::get(port, "/vod/missing.mp4.m3u8").status, 404);
}

/// hls.js in Chromium plays the playlist of `name` for 5 s.
fn hls_js_plays(name: &str) {
    http::require_browser();
    let (srv, _root) = server_with_files();
    let cases = vec![("hls", format!("{}/vod/{name}.m3u8", srv.http_base()))];
    let results = http::run_browser(srv.dir(), 5, &cases, Duration::from_secs(120));
    assert_eq!(results.len(), 1);
    http::assert_browsers_played(&results);
}

#[test]
fn hls_vod_of_a_plain_mp4_plays_in_hls_js() {
    hls_js_plays("plain.mp4");
}

/// Byte ranges of a fragmented file (as weir records them).
#[test]
fn hls_vod_of_a_fragmented_mp4_plays_in_hls_js() {
    hls_js_plays("frag.mp4");
}

/// ffmpeg's fragments with absolute data offsets cannot be appended to
/// MSE as they are: their playlist has generated segments, which play.
#[test]
fn hls_vod_of_a_fragmented_mp4_with_absolute_offsets_plays_in_hls_js() {
    hls_js_plays("frag_abs.mp4");
}

#[test]
fn nothing_outside_the_roots_is_served() {
    let srv = Server::start();
    let port = http::http_port(&srv);
    let data = srv.dir().join("data");
    let root = data.join("vod");
    fs::write(root.join("ok.flv"), b"FLV\x01 inside").unwrap();
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(data.join("secret.txt"), b"SECRET outside").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).unwrap();
    std::os::unix::fs::symlink(data.join("secret.txt"), root.join("secret")).unwrap();
    std::os::unix::fs::symlink("ok.flv", root.join("inside-link.flv")).unwrap();
    fs::write(
        root.join("bad.mp4"),
        b"\0\0\0\x20ftypisom not an mp4 at all",
    )
    .unwrap();

    let ok = http::get(port, "/vod/ok.flv");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("video/x-flv"));
    assert_eq!(http::get(port, "/vod/inside-link.flv").status, 200);

    // The second root, {data_dir}/recordings at /vod/recordings/, serves
    // recordings the recorder lists (record_e2e.rs), not any file there.
    assert_eq!(http::get(port, "/vod/recordings/live/a.flv").status, 404);
    fs::create_dir_all(data.join("recordings/live")).unwrap();
    fs::write(data.join("recordings/live/a.flv"), b"FLV rec").unwrap();
    assert_eq!(http::get(port, "/vod/recordings/live/a.flv").status, 404);

    let long_name = format!("/vod/{}.mp4", "a".repeat(300));
    let long_path = format!("/vod/{}x.mp4", "a/".repeat(520));
    let bad = [
        "/vod/../secret.txt",
        "/vod/%2e%2e/secret.txt",
        "/vod/%2E%2E/%2e%2e/etc/passwd",
        "/vod/..%2f..%2fetc%2fpasswd",
        "/vod/sub/../../secret.txt",
        "/vod/....//secret.txt",
        "/vod/%2fetc%2fpasswd",
        "/vod//etc/passwd",
        "/vod/..%5c..%5csecret.txt",
        "/vod/a%00b",
        "/vod/passwd",
        "/vod/secret",
        "/vod/sub",
        "/vod/recordings/../../secret.txt",
        "/vod/%252e%252e/secret.txt",
        long_name.as_str(),
        long_path.as_str(),
    ];
    for path in bad {
        let r = http::get(port, path);
        assert!(
            r.status == 400 || r.status == 404,
            "{path}: {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains("root:") && !body.contains("SECRET"),
            "{path} leaked: {body}"
        );
        let head = send(port, "HEAD", path, &[], false);
        assert!(
            head.status == 400 || head.status == 404,
            "HEAD {path}: {}",
            head.status
        );
    }
    // A corrupt MP4 fails for itself only.
    let r = http::get(port, "/vod/bad.mp4.m3u8");
    assert!(
        (400..600).contains(&r.status) && r.status != 200,
        "{}",
        r.status
    );
    assert_eq!(http::get(port, "/vod/ok.flv").status, 200);
}
