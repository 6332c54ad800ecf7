//! Push cost micro-benchmark. Ignored by default; run with
//! `cargo test -p weir-hub --release --test bench -- --ignored --nocapture`.

mod common;

use common::{publish, subscribe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use weir_hub::{Hub, HubConfig, StreamEvent};
use weir_media::{Codec, Frame, StreamKey, TrackKind};

const PUSHES: i64 = 200_000;
const RECEIVERS: usize = 1000;

/// A video frame at `dts` ms.
fn video(dts: i64) -> Frame {
    Frame {
        kind: TrackKind::Video,
        codec: Codec::H264,
        dts_us: dts * 1000,
        cts_us: 0,
        key: dts % 60 == 0,
        config: false,
        data: Bytes::from_static(&[0u8; 1000]),
    }
}

fn push_all(hub: &Hub, key: &StreamKey) -> f64 {
    let mut publisher = publish(hub, key).unwrap();
    let start = Instant::now();
    for dts in 0..PUSHES {
        publisher.send(video(dts));
    }
    start.elapsed().as_nanos() as f64 / PUSHES as f64
}

#[test]
#[ignore = "benchmark"]
fn push_cost() {
    let key = StreamKey::new("live", "bench").unwrap();

    let hub = Hub::new(HubConfig::default());
    println!("no receivers:        {:7.0} ns/push", push_all(&hub, &key));

    let hub = Hub::new(HubConfig::default());
    let idle: Vec<_> = (0..RECEIVERS).map(|_| subscribe(&hub, &key)).collect();
    println!(
        "{RECEIVERS} idle receivers: {:7.0} ns/push",
        push_all(&hub, &key)
    );
    drop(idle);

    // Every receiver is a task draining in batches, as a player writer is.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let hub = Hub::new(HubConfig::default());
    let received = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..RECEIVERS {
        let mut sub = subscribe(&hub, &key);
        let (received, dropped) = (received.clone(), dropped.clone());
        tasks.push(rt.spawn(async move {
            let mut out = Vec::with_capacity(1024);
            // Two publishers come and go.
            let mut unpublished = 0;
            loop {
                sub.recv_batch(&mut out, 1024).await.unwrap();
                unpublished += out
                    .iter()
                    .filter(|ev| matches!(ev, StreamEvent::Unpublished))
                    .count();
                received.fetch_add(out.len() as u64, Ordering::Relaxed);
                out.clear();
                if unpublished == 2 {
                    dropped.fetch_add(sub.dropped(), Ordering::Relaxed);
                    return;
                }
            }
        }));
    }
    // Worst case for the publisher: every receiver is parked waiting, so a
    // push wakes all of them. Push one frame at a time and wait for every
    // receiver to take it before timing the next push.
    let mut publisher = publish(&hub, &key).unwrap();
    let rounds = 2000u64;
    let mut woke = std::time::Duration::ZERO;
    for round in 1..=rounds {
        let expect = round * RECEIVERS as u64;
        // `Published` and the previous frames.
        while received.load(Ordering::Relaxed) < expect {
            std::thread::yield_now();
        }
        let start = Instant::now();
        publisher.send(video(round as i64));
        woke += start.elapsed();
    }
    println!(
        "{RECEIVERS} parked receivers:  {:7.0} ns/push (each push wakes all of them)",
        woke.as_nanos() as f64 / rounds as f64
    );
    drop(publisher);
    received.store(0, Ordering::Relaxed);

    // Flood: the publisher pushes as fast as it can; receivers batch.
    let start = Instant::now();
    let ns = push_all(&hub, &key); // publisher dropped: Unpublished ends the readers
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    let total = start.elapsed();
    let received = received.load(Ordering::Relaxed);
    println!(
        "{RECEIVERS} active receivers: {ns:7.0} ns/push (publisher side); all delivered in {total:?}: \
         {:.0} ns per delivered entry, {received} delivered, {} dropped",
        total.as_nanos() as f64 / received as f64,
        dropped.load(Ordering::Relaxed),
    );
}

/// Baseline for the parked case: what tokio itself charges to wake 1000
/// parked tasks with one `Notify::notify_waiters`, with no channel at all.
#[test]
#[ignore = "benchmark"]
fn bare_notify_baseline() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let notify = Arc::new(tokio::sync::Notify::new());
    let woken = Arc::new(AtomicU64::new(0));
    let registered = Arc::new(AtomicU64::new(0));
    let rounds = 2000u64;
    for _ in 0..RECEIVERS {
        let (notify, woken, registered) = (notify.clone(), woken.clone(), registered.clone());
        rt.spawn(async move {
            for _ in 0..rounds {
                let notified = notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                registered.fetch_add(1, Ordering::Relaxed);
                notified.await;
                woken.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut total = std::time::Duration::ZERO;
    for round in 1..=rounds {
        while registered.load(Ordering::Relaxed) < round * RECEIVERS as u64 {
            std::thread::yield_now();
        }
        let start = Instant::now();
        notify.notify_waiters();
        total += start.elapsed();
    }
    println!(
        "bare Notify, {RECEIVERS} parked tasks: {:7.0} ns/notify_waiters",
        total.as_nanos() as f64 / rounds as f64
    );
}
