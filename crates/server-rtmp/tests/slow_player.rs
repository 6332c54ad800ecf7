//! A player that stops reading is dropped after `player_write_timeout`,
//! and slows no other player meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::{bounded, send_headers, video, Got, Player, Server};
use weir_rtmp::message::type_id;
use weir_server_rtmp::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_player_is_dropped_without_slowing_another() {
    let timeout = Duration::from_secs(3);
    let srv = Server::start(Config {
        player_write_timeout: timeout,
        ..Config::default()
    })
    .await;
    let mut publisher = srv.publisher("s").await;
    send_headers(&mut publisher, 0).await;
    // Plays, then never reads again, with a tiny receive buffer.
    let stalled = Player::connect(srv.addr, "s", Some(4096)).await;
    let mut good = srv.player("s").await;
    let frames = 60u32;
    let reader = tokio::spawn(async move {
        let seen = good.until_frame(frames - 1).await;
        (Instant::now(), seen)
    });
    // 100 kB frames, 20 ms apart: far more than the stalled player's
    // socket buffers hold.
    let started = Instant::now();
    for n in 0..frames {
        publisher
            .send_media(type_id::VIDEO, n * 20, video(n % 10 == 0, n, 100_000))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_last = Instant::now();
    let (got_last, seen) = bounded(reader).await.unwrap();
    assert!(
        got_last.saturating_duration_since(sent_last) < Duration::from_secs(1),
        "the reading player got the last frame {:?} after it was sent",
        got_last.saturating_duration_since(sent_last)
    );
    let numbers: Vec<u32> = seen
        .iter()
        .filter_map(|g| match g {
            Got::Video(n, _) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, (0..frames).collect::<Vec<_>>());
    // The stalled player's connection ends once its write has waited for
    // the timeout (seen in the client list: reading what its socket
    // buffers hold through a 4 kB window would take long).
    let addr = stalled.local_addr();
    let connected = || srv.hub.clients().list().iter().any(|c| c.addr == addr);
    assert!(connected(), "still there while the write waits");
    bounded(async {
        while connected() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        started.elapsed() >= timeout,
        "dropped after the write timeout, not before"
    );
}
