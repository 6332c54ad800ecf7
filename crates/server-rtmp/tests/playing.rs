//! Publish and play through the adapter alone; a caught-up player parks
//! with its stream's write pass and keeps receiving, and input from it
//! (which makes the session write) takes its socket back without mixing
//! the two byte streams.

mod common;

use std::time::Duration;

use common::{send_headers, video, Got, Server};
use weir_rtmp::message::type_id;
use weir_server_rtmp::Config;

/// The video frames in `seen`, as (number, time).
fn frames(seen: &[Got]) -> Vec<(u32, u32)> {
    seen.iter()
        .filter_map(|g| match g {
            Got::Video(n, t) => Some((*n, *t)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_gets_headers_then_every_frame_in_order() {
    let srv = Server::start(Config::default()).await;
    let mut publisher = srv.publisher("a").await;
    send_headers(&mut publisher, 0).await;
    publisher
        .send_media(type_id::VIDEO, 0, video(true, 0, 100))
        .await
        .unwrap();
    let mut player = srv.player("a").await;
    for n in 1..=10 {
        publisher
            .send_media(type_id::VIDEO, n * 40, video(false, n, 2000))
            .await
            .unwrap();
    }
    let seen = player.until_frame(10).await;
    let first_video = seen
        .iter()
        .position(|g| matches!(g, Got::Video(..)))
        .unwrap();
    let before = &seen[..first_video];
    assert!(before.iter().any(|g| matches!(g, Got::Meta(_))), "{seen:?}");
    assert!(before.contains(&Got::Config(type_id::VIDEO, 0)), "{seen:?}");
    assert!(before.contains(&Got::Config(type_id::AUDIO, 0)), "{seen:?}");
    let want: Vec<(u32, u32)> = (0..=10).map(|n| (n, n * 40)).collect();
    assert_eq!(frames(&seen), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_player_keeps_playing_and_answers_come_between_messages() {
    let srv = Server::start(Config::default()).await;
    let mut publisher = srv.publisher("p").await;
    send_headers(&mut publisher, 0).await;
    let mut player = srv.player("p").await;
    let mut seen = Vec::new();
    // Several rounds: frames flow (the player catches up and parks), then
    // the player sends input while parked; the session's answer and the
    // next frames must arrive whole and in order.
    for round in 0..4u32 {
        let first = round * 20;
        for n in first..first + 20 {
            publisher
                .send_media(type_id::VIDEO, n * 40, video(n % 10 == 0, n, 3000))
                .await
                .unwrap();
        }
        seen.extend(player.until_frame(first + 19).await);
        // Caught up, nothing flowing: the write pass holds the socket.
        tokio::time::sleep(Duration::from_millis(100)).await;
        player.send_unknown_command().await;
        let answer = player.next().await;
        assert_eq!(answer, Got::Error("NetConnection.Call.Failed".into()));
    }
    let want: Vec<(u32, u32)> = (0..80).map(|n| (n, n * 40)).collect();
    assert_eq!(frames(&seen), want, "every frame, in order, once");
    // Still playing after the last answer.
    publisher
        .send_media(type_id::VIDEO, 80 * 40, video(true, 80, 10))
        .await
        .unwrap();
    assert_eq!(player.next().await, Got::Video(80, 80 * 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_of_an_unknown_codec_are_dropped_and_the_stream_goes_on() {
    let srv = Server::start(Config::default()).await;
    let mut publisher = srv.publisher("s").await;
    send_headers(&mut publisher, 0).await;
    let mut player = srv.player("s").await;
    for n in 0..=5 {
        publisher
            .send_media(type_id::VIDEO, n * 40, video(n == 0, n, 300))
            .await
            .unwrap();
        // Speex (FLV sound format 11), which no output can carry.
        let speex = bytes::Bytes::from_static(&[0xB6, 1, 2, 3]);
        publisher
            .send_media(type_id::AUDIO, n * 40, speex)
            .await
            .unwrap();
        // An Enhanced RTMP FourCC weir has no codec for (H.266).
        let vvc = bytes::Bytes::from_static(b"\x91vvc1\x00\x00\x00\x05");
        publisher
            .send_media(type_id::VIDEO, n * 40, vvc)
            .await
            .unwrap();
    }
    let seen = player.until_frame(5).await;
    let want: Vec<(u32, u32)> = (0..=5).map(|n| (n, n * 40)).collect();
    assert_eq!(frames(&seen), want, "the video goes on: {seen:?}");
    // The last refusal may be counted just after the last video frame.
    let refused = || {
        srv.hub
            .clients()
            .errors()
            .into_iter()
            .find(|e| e.kind == "unsupported_codec")
            .map_or(0, |e| e.count)
    };
    common::bounded(async {
        while refused() < 12 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(refused(), 12);
}
