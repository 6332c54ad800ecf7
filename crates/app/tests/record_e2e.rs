//! Recording (#16) end to end: ffmpeg publishes over RTMP or RTSP, weir
//! records, and ffprobe decodes what it wrote; the recordings API lists,
//! filters, starts, stops and deletes; a `kill -9` leaves a playable file
//! that a restarted server lists; segments play back to back; retention
//! deletes; `on_record_done` is POSTed.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, ffmpeg_rtsp_publisher, require_ffmpeg};
use common::hooks::Hooks;
use common::http::{self, get, request};
use common::probe;
use common::server::Server;

const TOKEN: &str = "rec-secret";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `GET /api/v1/recordings?{query}` as JSON.
fn recordings(srv: &Server, query: &str) -> Vec<serde_json::Value> {
    let resp = get(srv.http_port(), &format!("/api/v1/recordings?{query}"));
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let json: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON");
    json["recordings"].as_array().cloned().unwrap_or_default()
}

/// Waits until the stream's recordings are all finished and there are at
/// least `n`; returns them.
fn wait_finished(
    srv: &Server,
    stream: &str,
    n: usize,
    timeout: Duration,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = recordings(srv, &format!("stream={stream}"));
        if list.len() >= n && list.iter().all(|r| r["recording"] == false) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "recordings of {stream} not finished: {list:#?}\n{}",
            srv.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// A request with a JSON body and the API token (or none).
fn call(srv: &Server, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let resp = request(srv.http_port(), raw.as_bytes(), true);
    (
        resp.status,
        String::from_utf8_lossy(&resp.body).into_owned(),
    )
}

fn file_of(srv: &Server, rec: &serde_json::Value) -> PathBuf {
    srv.dir()
        .join("data/recordings")
        .join(rec["id"].as_str().expect("id"))
}

/// ffprobe's view of a recording file: video frames and their time span.
fn probe(srv: &Server, path: &Path) -> probe::Analysis {
    let a = probe::probe_file(srv.dir(), path);
    a.assert_test_codecs(&path.display().to_string());
    a
}

/// 20 s published over RTMP with `[record] enabled`: listed with its
/// duration and URLs, every frame decodes, the filters work, and deleting
/// it needs the token and removes the file.
#[test]
fn a_publish_is_recorded_listed_decoded_and_deleted() {
    require_ffmpeg();
    let srv = Server::start_with_config(&format!(
        "[record]\nenabled = true\n[api]\napi_token = \"{TOKEN}\"\n"
    ));
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("show"), 20, &[]);
    // Listed while it is being recorded.
    let deadline = Instant::now() + secs(15);
    while recordings(&srv, "stream=show").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no recording listed\n{}",
            srv.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(recordings(&srv, "stream=show")[0]["recording"], true);
    publisher.expect_exit(secs(60));
    let list = wait_finished(&srv, "show", 1, secs(20));
    assert_eq!(list.len(), 1, "{list:#?}");
    let rec = &list[0];
    let duration = rec["duration_secs"].as_f64().unwrap();
    assert!(
        (duration - 20.0).abs() <= 1.0,
        "duration {duration}: {rec:#}"
    );
    assert_eq!(rec["format"], "mp4");
    assert_eq!(rec["complete"], true);
    assert_eq!(rec["app"], "live");
    let id = rec["id"].as_str().unwrap();
    assert!(id.starts_with("live/show/") && id.ends_with(".mp4"), "{id}");
    assert_eq!(rec["url"], format!("/vod/recordings/{id}"));
    assert_eq!(rec["hls_url"], format!("/vod/recordings/{id}.m3u8"));
    assert_eq!(
        rec["rtmp_url"],
        format!("rtmp://127.0.0.1:{}/vod/recordings/{id}", srv.rtmp_port())
    );
    let path = file_of(&srv, rec);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        rec["bytes"].as_u64().unwrap()
    );

    let a = probe(&srv, &path);
    a.assert_clean("recording");
    a.assert_frames_delivered("recording", 19.0, 0.98);

    // Served over HTTP with ranges, and as HLS VOD.
    let url = rec["url"].as_str().unwrap();
    let raw = format!("GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=100-199\r\nConnection: close\r\n\r\n");
    let part = request(srv.http_port(), raw.as_bytes(), true);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, std::fs::read(&path).unwrap()[100..200]);
    let raw = format!("GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=999999999-\r\nConnection: close\r\n\r\n");
    assert_eq!(request(srv.http_port(), raw.as_bytes(), false).status, 416);
    let hls = format!("{}{}", srv.http_base(), rec["hls_url"].as_str().unwrap());
    let playlist =
        String::from_utf8(get(srv.http_port(), rec["hls_url"].as_str().unwrap()).body).unwrap();
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let a = probe::finish_player(
        probe::spawn_player(srv.dir(), "hls-vod", &hls, 30),
        secs(60),
    );
    a.assert_frames_delivered("HLS VOD of the recording", 19.0, 0.98);
    // hls.js in Chromium plays it too.
    http::require_browser();
    let results = http::run_browser(srv.dir(), 5, &[("hls", hls.clone())], secs(120));
    assert_eq!(results.len(), 1, "{results:?}");
    http::assert_browsers_played(&results);

    // Filters.
    assert!(recordings(&srv, "app=other").is_empty());
    assert_eq!(recordings(&srv, "app=live&stream=show").len(), 1);
    assert!(recordings(&srv, "from=2999-01-01T00:00:00Z").is_empty());
    assert_eq!(
        recordings(&srv, "from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z").len(),
        1
    );
    assert_eq!(
        get(srv.http_port(), "/api/v1/recordings?from=yesterday").status,
        400
    );

    // Deleting needs the token, then the file and the entry are gone.
    let path_url = format!("/api/v1/recordings/{id}");
    assert_eq!(call(&srv, "DELETE", &path_url, None, "").0, 401);
    assert_eq!(call(&srv, "DELETE", &path_url, Some(TOKEN), "").0, 204);
    assert!(!path.exists());
    assert!(recordings(&srv, "stream=show").is_empty());
    assert_eq!(call(&srv, "DELETE", &path_url, Some(TOKEN), "").0, 404);
}

/// `segment_secs = 5` over 20 s of FLV with 2 s GOPs: files cut at
/// keyframes that together hold every frame, each with `onMetaData`
/// duration patched in.
#[test]
fn segments_are_cut_at_keyframes_and_play_back_to_back() {
    require_ffmpeg();
    let srv =
        Server::start_with_config("[record]\nenabled = true\nformat = \"flv\"\nsegment_secs = 5\n");
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("seg"), 20, &[]);
    publisher.expect_exit(secs(60));
    let list = wait_finished(&srv, "seg", 1, secs(20));
    // GOPs of 2 s: cuts at 6, 12 and 18 s.
    assert!((3..=5).contains(&list.len()), "{list:#?}");
    let mut frames = 0;
    let mut total = 0.0;
    for rec in &list {
        assert_eq!(rec["format"], "flv");
        let a = probe(&srv, &file_of(&srv, rec));
        a.assert_clean("segment");
        frames += a.video_count();
        total += rec["duration_secs"].as_f64().unwrap();
        let first = a
            .of_media(probe::Media::Video)
            .next()
            .expect("a video frame");
        assert!(first.key, "a segment starts at a keyframe: {}", a.summary());
    }
    assert!(
        (total - 20.0).abs() <= 1.0,
        "segments cover {total} s: {list:#?}"
    );
    assert!(frames >= 590, "{frames} video frames over the segments");
}

/// `kill -9` 11 s into a recording: the file decodes for ≥ 9 s, and a
/// restarted server lists it as incomplete.
#[test]
fn a_crash_leaves_a_playable_file_that_a_restart_lists() {
    require_ffmpeg();
    let config = "[record]\nenabled = true\n";
    let mut srv = Server::start_with_config(config);
    let _publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("crash"), 40, &[]);
    probe::wait_until_playable(srv.dir(), &srv.rtmp_url("crash"), secs(20));
    let started = Instant::now();
    while recordings(&srv, "stream=crash").is_empty() {
        assert!(
            started.elapsed() < secs(10),
            "never recorded\n{}",
            srv.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(secs(11).saturating_sub(started.elapsed()));
    srv.crash_and_restart(config);
    let list = recordings(&srv, "stream=crash");
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["complete"], false, "{:#}", list[0]);
    assert_eq!(list[0]["recording"], false);
    assert!(
        list[0]["duration_secs"].as_f64().unwrap() >= 8.0,
        "{:#}",
        list[0]
    );
    let a = probe(&srv, &file_of(&srv, &list[0]));
    assert!(
        a.video_dts_span() >= 9.0,
        "only {:.1} s decode: {}",
        a.video_dts_span(),
        a.summary()
    );
    a.assert_frames_delivered("crashed recording", 9.0, 0.98);
}

/// Without `enabled`, the API starts and stops a recording of an RTSP
/// publish; a stream that is not live is 409; retention then deletes it;
/// `on_record_done` hears of it.
#[test]
fn the_api_records_an_rtsp_publish_and_retention_expires_it() {
    require_ffmpeg();
    let hooks = Hooks::start();
    let srv = Server::start_with_config(&format!(
        "[api]\napi_token = \"{TOKEN}\"\n\
         [record.retention]\nmax_age_secs = 1\n\
         [auth.default]\non_record_done = \"{}/done\"\n",
        hooks.base
    ));
    let control = "/api/v1/streams/live/cam/record";
    let (status, body) = call(&srv, "POST", control, Some(TOKEN), r#"{"action":"start"}"#);
    assert_eq!(status, 409, "not live yet: {body}");
    let _publisher = ffmpeg_rtsp_publisher(
        srv.dir(),
        "rtsp-publisher",
        &srv.rtsp_url("cam"),
        30,
        "tcp",
        &[],
    );
    probe::wait_until_playable(srv.dir(), &srv.rtmp_url("cam"), secs(20));
    assert!(
        recordings(&srv, "stream=cam").is_empty(),
        "not recorded until asked"
    );
    assert_eq!(
        call(&srv, "POST", control, None, r#"{"action":"start"}"#).0,
        401
    );
    assert_eq!(
        call(&srv, "POST", control, Some(TOKEN), r#"{"action":"pause"}"#).0,
        400
    );
    let (status, body) = call(&srv, "POST", control, Some(TOKEN), r#"{"action":"start"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"recording\":true"), "{body}");
    thread::sleep(secs(5));
    let (status, body) = call(&srv, "POST", control, Some(TOKEN), r#"{"action":"stop"}"#);
    assert_eq!(status, 200, "{body}");
    let list = wait_finished(&srv, "cam", 1, secs(10));
    let rec = list[0].clone();
    let a = probe(&srv, &file_of(&srv, &rec));
    a.assert_frames_delivered("RTSP recording", 3.0, 0.9);

    hooks.wait_for("on_record_done:live", secs(10));
    let calls = hooks.calls.lock().unwrap().clone();
    let (path, done) = calls
        .iter()
        .find(|(_, b)| b["action"] == "on_record_done")
        .expect("on_record_done");
    assert_eq!(path, "/done");
    assert_eq!(done["id"], rec["id"]);
    assert_eq!(done["stream"], "cam");
    assert!(done["path"]
        .as_str()
        .unwrap()
        .ends_with(rec["id"].as_str().unwrap()));

    // Retention (max_age_secs = 1, checked every 10 s) deletes it.
    let path = file_of(&srv, &rec);
    let deadline = Instant::now() + secs(30);
    while path.exists() {
        assert!(
            Instant::now() < deadline,
            "retention kept {}",
            path.display()
        );
        thread::sleep(Duration::from_millis(250));
    }
    assert!(recordings(&srv, "stream=cam").is_empty());
}

/// A stream whose players need a key: its recordings need it too, over
/// HTTP and as HLS VOD (the key travels into the segment URIs); a
/// recording's sidecar is not served.
#[test]
fn recordings_keep_their_streams_play_rules() {
    require_ffmpeg();
    let srv = Server::start_with_config(
        "[record]\nenabled = true\n[auth.apps.live.play]\nmode = \"keys\"\nkeys = [\"k1\"]\n",
    );
    let mut publisher = ffmpeg_publisher(srv.dir(), "publisher", &srv.rtmp_url("keyed"), 6, &[]);
    publisher.expect_exit(secs(60));
    let list = wait_finished(&srv, "keyed", 1, secs(20));
    let url = list[0]["url"].as_str().unwrap().to_owned();
    let port = srv.http_port();
    assert_eq!(get(port, &url).status, 403);
    assert_eq!(get(port, &format!("{url}?key=wrong")).status, 403);
    assert_eq!(get(port, &format!("{url}?key=k1")).status, 200);
    assert_eq!(
        get(port, &format!("{url}.json?key=k1")).status,
        404,
        "sidecars are not recordings"
    );
    let hls_url = list[0]["hls_url"].as_str().unwrap();
    assert_eq!(get(port, hls_url).status, 403);
    let playlist = get(port, &format!("{hls_url}?key=k1"));
    assert_eq!(playlist.status, 200);
    let text = String::from_utf8(playlist.body).unwrap();
    assert!(
        text.contains(".mp4?key=k1\""),
        "the init segment URI keeps the key: {text}"
    );
    let a = probe::finish_player(
        probe::spawn_player(
            srv.dir(),
            "keyed-hls",
            &format!("{}{hls_url}?key=k1", srv.http_base()),
            30,
        ),
        secs(60),
    );
    a.assert_frames_delivered("keyed HLS VOD", 5.0, 0.98);
}
