//! Encoder takeover through the adapter: players stay, time goes on, and
//! a new player's sequence headers carry the time of the first frame it
//! gets (before and after a takeover), its `onMetaData` time 0.

mod common;

use common::{send_headers, video, Got, Server};
use weir_rtmp::message::type_id;
use weir_rtmp_client::Client;
use weir_server_rtmp::Config;

/// Sends video frames `numbers`, 40 ms apart from `start_ts`, a keyframe
/// every 10.
async fn send_frames(p: &mut Client, numbers: std::ops::Range<u32>, start_ts: u32) {
    for (i, n) in numbers.enumerate() {
        let ts = start_ts + i as u32 * 40;
        p.send_media(type_id::VIDEO, ts, video(n % 10 == 0, n, 500))
            .await
            .unwrap();
    }
}

/// Asserts that a new player's sequence headers carry the time of its
/// first video frame, which is keyframe `key`, and its `onMetaData` time 0
/// (where ffmpeg takes it as metadata, not as a data stream); returns that
/// time.
fn headers_on_first_frame(seen: &[Got], key: u32) -> u32 {
    let first = seen
        .iter()
        .position(|g| matches!(g, Got::Video(..)))
        .unwrap();
    let Got::Video(n, at) = seen[first] else {
        unreachable!()
    };
    assert_eq!(n, key, "joined at the latest keyframe: {seen:?}");
    let meta: Vec<u32> = seen[..first]
        .iter()
        .filter_map(|g| match g {
            Got::Meta(t) => Some(*t),
            _ => None,
        })
        .collect();
    let configs: Vec<u32> = seen[..first]
        .iter()
        .filter_map(|g| match g {
            Got::Config(_, t) => Some(*t),
            _ => None,
        })
        .collect();
    assert_eq!(meta, [0], "metadata once, at 0: {seen:?}");
    assert_eq!(
        configs,
        [at, at],
        "both configs carry the first frame's time {at}: {seen:?}"
    );
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_players_headers_carry_its_first_frames_time() {
    let srv = Server::start(Config::default()).await;
    let mut a = srv.publisher("j").await;
    send_headers(&mut a, 0).await;
    send_frames(&mut a, 0..26, 0).await;
    let mut early = srv.player("j").await;
    let seen = early.until_frame(25).await;
    // Keyframe 20 is at 800 ms; the headers arrived at 0.
    assert_eq!(headers_on_first_frame(&seen, 20), 800);
    let Some(Got::Video(25, last_a)) = seen.last().cloned() else {
        unreachable!("until_frame ends at the frame")
    };

    // A second encoder takes over: its headers arrive now, its first
    // keyframe later; a player joining after its third keyframe gets the
    // headers on that keyframe's time, which continues the first
    // encoder's.
    let mut b = srv.publisher("j").await;
    send_headers(&mut b, 0).await;
    send_frames(&mut b, 100..126, 0).await;
    let mut late = srv.player("j").await;
    let seen = late.until_frame(125).await;
    let at = headers_on_first_frame(&seen, 120);
    assert!(at > last_a, "time continues: {at} > {last_a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_keeps_the_player_with_monotonic_time() {
    let srv = Server::start(Config::default()).await;
    let mut a = srv.publisher("t").await;
    send_headers(&mut a, 0).await;
    send_frames(&mut a, 0..21, 5_000).await;
    let mut player = srv.player("t").await;
    let mut seen = player.until_frame(20).await;
    let mut b = srv.publisher("t").await;
    assert!(
        common::bounded(async {
            loop {
                if a.next_event().await.ok().flatten().is_none() {
                    return true;
                }
            }
        })
        .await,
        "the first encoder is closed"
    );
    send_headers(&mut b, 0).await;
    send_frames(&mut b, 100..121, 0).await;
    seen.extend(player.until_frame(120).await);
    assert!(!seen.contains(&Got::Eof), "{seen:?}");
    let times: Vec<u32> = seen
        .iter()
        .filter_map(|g| match g {
            Got::Video(_, t) | Got::Config(type_id::VIDEO, t) => Some(*t),
            _ => None,
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "video time never goes back across the takeover: {seen:?}"
    );
    let numbers: Vec<u32> = seen
        .iter()
        .filter_map(|g| match g {
            Got::Video(n, _) => Some(*n),
            _ => None,
        })
        .collect();
    // From the keyframe the player joined at, every frame of both.
    let want: Vec<u32> = (numbers[0]..21).chain(100..121).collect();
    assert_eq!(numbers, want, "every frame of both encoders");
}
