//! RTMP VOD through the adapter alone, over weir-vod's fixtures (3 s of
//! 15 fps H.264 + AAC: 45 frames, a keyframe a second): paced playback, `pause`
//! holding the clock, `seek` to a keyframe with the codec configs again,
//! the end of the file, and refusals. ffmpeg and rtmpdump play the same
//! paths in the app's `rtmp_vod_e2e.rs`; this is where the timing of
//! pause and the order of messages are checked exactly.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bounded, Player, Server};
use weir_amf0::Value;
use weir_media::StreamKey;
use weir_rtmp::client::ClientEvent;
use weir_rtmp::message::type_id;
use weir_server_rtmp::{Config, IndexFuture, VodFiles, VodLibrary, VodRefused};

/// weir-vod's test files, every one played as the stream `vod/files`.
struct Fixtures;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vod/testdata")
}

impl VodLibrary for Fixtures {
    fn locate(&self, path: &str) -> Result<(PathBuf, StreamKey), VodRefused> {
        if path.contains("..") {
            return Err(VodRefused::BadPath("..".into()));
        }
        let file = root().join(path);
        if !file.is_file() {
            return Err(VodRefused::NotFound);
        }
        Ok((file, StreamKey::new("vod", "files").unwrap()))
    }

    fn index(&self, file: &Path) -> IndexFuture {
        let file = file.to_path_buf();
        Box::pin(async move {
            let data = std::fs::read(&file).map_err(|e| e.to_string())?;
            weir_vod::Index::from_bytes(&data)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
    }
}

async fn server() -> Server {
    Server::start(Config {
        vod: Some(VodFiles(Arc::new(Fixtures))),
        ..Config::default()
    })
    .await
}

/// A player of `rtmp://.../vod/{name}` that received Play.Start.
async fn play(srv: &Server, name: &str) -> Player {
    let socket = bounded(tokio::net::TcpStream::connect(srv.addr))
        .await
        .unwrap();
    let tc_url = format!("rtmp://{}/vod", srv.addr);
    Player::over_app(socket, &tc_url, "vod", name).await
}

/// What a VOD player receives, simplified.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Meta,
    /// A sequence header: type id and time.
    Config(u8, u32),
    /// A video frame: time and keyframe flag.
    Video(u32, bool),
    Audio(u32),
    Status(String),
    Eof,
}

async fn next(p: &mut Player) -> Seen {
    loop {
        let seen = match p.event().await {
            None => panic!("closed"),
            Some(ClientEvent::Metadata { .. }) => Seen::Meta,
            Some(ClientEvent::Media {
                type_id,
                timestamp,
                payload,
            }) => match (type_id, payload.get(1)) {
                (_, Some(0)) => Seen::Config(type_id, timestamp),
                (type_id::VIDEO, _) => Seen::Video(timestamp, payload[0] >> 4 == 1),
                _ => Seen::Audio(timestamp),
            },
            Some(ClientEvent::Status { code, .. } | ClientEvent::Error { code, .. }) => {
                Seen::Status(code)
            }
            Some(ClientEvent::StreamEof) => Seen::Eof,
            Some(_) => continue,
        };
        return seen;
    }
}

/// Reads until `stop` says so, returning everything seen (and when).
async fn until(p: &mut Player, stop: impl Fn(&Seen) -> bool) -> Vec<(Instant, Seen)> {
    let mut all = Vec::new();
    loop {
        let s = next(p).await;
        let done = stop(&s);
        all.push((Instant::now(), s));
        if done {
            return all;
        }
    }
}

fn videos(seen: &[(Instant, Seen)]) -> Vec<u32> {
    seen.iter()
        .filter_map(|(_, s)| match s {
            Seen::Video(t, _) => Some(*t),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_plays_paced_to_its_end() {
    let srv = server().await;
    let started = Instant::now();
    let mut p = play(&srv, "frag.mp4").await;
    let seen = until(&mut p, |s| *s == Seen::Status("NetStream.Play.Stop".into())).await;
    let kinds: Vec<&Seen> = seen.iter().map(|(_, s)| s).take(3).collect();
    assert_eq!(kinds[0], &Seen::Meta, "{seen:?}");
    assert!(matches!(kinds[1], Seen::Config(type_id::VIDEO, 0)));
    assert!(matches!(kinds[2], Seen::Config(type_id::AUDIO, 0)));
    let v = videos(&seen);
    assert_eq!(v.len(), 45, "every video sample once: {v:?}");
    assert!(v.windows(2).all(|w| w[0] < w[1]), "in order: {v:?}");
    // Sent 1.5 s (plus a 0.1 s batch) ahead of real time: the last frame
    // (at 2.93 s) no sooner than ~1.3 s after the start.
    let last_at = seen
        .iter()
        .rfind(|(_, s)| matches!(s, Seen::Video(..)))
        .unwrap()
        .0;
    assert!(
        last_at - started >= Duration::from_millis(1200),
        "not paced: the whole file came in {:?}",
        last_at - started
    );
    let tail: Vec<&Seen> = seen.iter().rev().take(3).map(|(_, s)| s).collect();
    assert_eq!(
        tail,
        [
            &Seen::Status("NetStream.Play.Stop".into()),
            &Seen::Eof,
            &Seen::Status("NetStream.Play.Complete".into())
        ],
        "ends with onPlayStatus Complete, StreamEOF, Play.Stop: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_the_clock_and_unpause_resumes_where_it_stopped() {
    let srv = server().await;
    let mut p = play(&srv, "frag.mp4").await;
    p.send_command(1, "pause", vec![Value::Boolean(true), Value::Number(0.0)])
        .await;
    let before = until(&mut p, |s| {
        *s == Seen::Status("NetStream.Pause.Notify".into())
    })
    .await;
    // Paused for 2.5 s: nothing past what was due at the pause (the lead
    // of 1.5 s and one batch) may come; frames read before the pause
    // arrived may follow its notification.
    let mut sent = videos(&before);
    let held = tokio::time::timeout(Duration::from_millis(2500), async {
        loop {
            if let Seen::Video(t, _) = next(&mut p).await {
                sent.push(t);
            }
        }
    })
    .await;
    assert!(held.is_err(), "the connection must stay open");
    let max = sent.iter().max().copied().unwrap_or(0);
    assert!(max <= 1700, "media past the lead while paused: {sent:?}");
    p.send_command(1, "pause", vec![Value::Boolean(false), Value::Number(0.0)])
        .await;
    let after = until(&mut p, |s| *s == Seen::Status("NetStream.Play.Stop".into())).await;
    sent.extend(videos(&after));
    sent.sort_unstable();
    sent.dedup();
    assert!(
        after
            .iter()
            .any(|(_, s)| *s == Seen::Status("NetStream.Unpause.Notify".into())),
        "{after:?}"
    );
    assert_eq!(sent.len(), 45, "resumed where it stopped: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_lands_on_the_keyframe_before_with_configs_again() {
    let srv = server().await;
    let mut p = play(&srv, "frag.mp4").await;
    p.send_command(1, "seek", vec![Value::Number(2100.0)]).await;
    let seen = until(
        &mut p,
        |s| matches!(s, Seen::Status(c) if c == "NetStream.Seek.Notify"),
    )
    .await;
    assert!(!seen.is_empty());
    let after = until(&mut p, |s| matches!(s, Seen::Video(..))).await;
    let kinds: Vec<&Seen> = after.iter().map(|(_, s)| s).collect();
    assert_eq!(kinds[0], &Seen::Status("NetStream.Play.Start".into()));
    assert!(
        kinds.contains(&&Seen::Config(type_id::VIDEO, 2000)),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last().unwrap(),
        &&Seen::Video(2000, true),
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_time_plays_from_the_keyframe_before_it_from_zero() {
    let srv = server().await;
    let socket = bounded(tokio::net::TcpStream::connect(srv.addr))
        .await
        .unwrap();
    let tc_url = format!("rtmp://{}/vod", srv.addr);
    // The sans-IO client plays from "any" (-2000): start at 0. A start
    // time is a `play` of our own on the stream it created.
    let mut p = Player::over_app(socket, &tc_url, "vod", "frag.mp4").await;
    p.send_command(1, "closeStream", vec![]).await;
    p.send_command(
        1,
        "play",
        vec![Value::String("mp4:frag.mp4".into()), Value::Number(1500.0)],
    )
    .await;
    let seen = until(&mut p, |s| *s == Seen::Status("NetStream.Play.Stop".into())).await;
    let restart = seen
        .iter()
        .rposition(|(_, s)| *s == Seen::Status("NetStream.Play.Start".into()))
        .expect("the second play starts");
    let v = videos(&seen[restart..]);
    // From the keyframe at 1 s, stamped from 0 (librtmp adds its start).
    assert_eq!(v.first(), Some(&0), "{v:?}");
    assert_eq!(v.len(), 45 - 15, "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_files_and_live_seeks_are_refused() {
    let srv = server().await;
    let socket = bounded(tokio::net::TcpStream::connect(srv.addr))
        .await
        .unwrap();
    let tc_url = format!("rtmp://{}/vod", srv.addr);
    let mut client = weir_rtmp_client::Client::connect(
        &format!("{tc_url}/nope.mp4"),
        weir_rtmp::client::ClientMode::Play,
        &weir_rtmp_client::Options::default(),
    )
    .await;
    assert!(client.is_err(), "a missing file plays");
    drop(socket);
    client = weir_rtmp_client::Client::connect(
        &format!("{tc_url}/../etc/passwd"),
        weir_rtmp::client::ClientMode::Play,
        &weir_rtmp_client::Options::default(),
    )
    .await;
    assert!(client.is_err(), "a path out of the root plays");
    // A live player's seek: Seek.Failed, and it goes on.
    let mut publisher = srv.publisher("live1").await;
    common::send_headers(&mut publisher, 0).await;
    let mut live = srv.player("live1").await;
    live.send_command(1, "seek", vec![Value::Number(1000.0)])
        .await;
    loop {
        match bounded(live.next()).await {
            common::Got::Error(code) => {
                assert_eq!(code, "NetStream.Seek.Failed");
                break;
            }
            common::Got::Eof => panic!("closed"),
            _ => {}
        }
    }
}
