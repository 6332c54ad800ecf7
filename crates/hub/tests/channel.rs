//! The fan-out channel on its own: join snapshot, lag, close.

use std::time::Duration;

use weir_hub::channel::{Channel, ChannelConfig, Class, Closed, Entry, Receiver};

/// A test entry: its class and a number to check order by.
#[derive(Clone, Debug, PartialEq, Eq)]
struct E {
    class: Class,
    n: u64,
    len: usize,
}

impl Entry for E {
    fn class(&self) -> Class {
        self.class
    }
    fn byte_len(&self) -> usize {
        self.len
    }
}

fn e(class: Class, n: u64) -> E {
    E { class, n, len: 1 }
}

fn cfg(capacity: usize, gop_max_entries: usize) -> ChannelConfig {
    ChannelConfig {
        capacity,
        gop_max_entries,
        ..ChannelConfig::default()
    }
}

fn drain(rx: &mut Receiver<E>) -> Vec<u64> {
    let mut out = Vec::new();
    while rx.try_recv_batch(&mut out, 1000).unwrap() > 0 {}
    out.iter().map(|e| e.n).collect()
}

#[test]
fn new_receiver_gets_headers_then_gop_then_live() {
    let ch = Channel::new(ChannelConfig::default());
    ch.push(e(Class::Header(1), 1));
    ch.push(e(Class::Delta, 2)); // before any key: not cached
    ch.push(e(Class::Header(0), 3));
    ch.push(e(Class::Key, 4));
    ch.push(e(Class::Delta, 5));
    ch.push(e(Class::Key, 6)); // GOP restarts here
    ch.push(e(Class::Delta, 7));
    ch.push(e(Class::Delta, 8));
    let mut rx = ch.subscribe();
    assert_eq!(rx.lag(), 5);
    assert_eq!(drain(&mut rx), [1, 3, 6, 7, 8]);
    ch.push(e(Class::Delta, 9));
    assert_eq!(drain(&mut rx), [9]);
    assert_eq!(rx.dropped(), 0);
    let stats = ch.stats();
    assert_eq!((stats.gop_entries, stats.headers, stats.pushed), (4, 2, 9));
}

#[test]
fn header_slot_keeps_latest_value_in_push_order() {
    let ch = Channel::new(ChannelConfig::default());
    ch.push(e(Class::Header(0), 1));
    ch.push(e(Class::Header(2), 2));
    ch.push(e(Class::Header(0), 3)); // replaces 1, now newer than 2
    ch.push(e(Class::Header(200), 4)); // no such slot: a plain delta
    let mut rx = ch.subscribe();
    assert_eq!(drain(&mut rx), [2, 3]);
    assert_eq!(ch.stats().headers, 2);
}

#[test]
fn reset_clears_headers_and_gop_and_key_less_stream_starts_live() {
    let ch = Channel::new(ChannelConfig::default());
    ch.push(e(Class::Header(0), 1));
    ch.push(e(Class::Key, 2));
    ch.push(e(Class::Delta, 3));
    let mut old = ch.subscribe();
    ch.push(e(Class::Reset, 4));
    let mut rx = ch.subscribe();
    assert_eq!(drain(&mut rx), Vec::<u64>::new());
    ch.push(e(Class::Delta, 5));
    assert_eq!(drain(&mut rx), [5]);
    assert_eq!(drain(&mut old), [1, 2, 3, 4, 5]);
}

#[test]
fn lagging_receiver_rejoins_at_latest_key_with_headers() {
    let ch = Channel::new(cfg(16, 100));
    ch.push(e(Class::Header(0), 0));
    let mut rx = ch.subscribe();
    assert_eq!(drain(&mut rx), [0]);
    // Ten GOPs of ten entries: far more than the ring holds.
    for n in 1..=100 {
        let class = if n % 10 == 1 {
            Class::Key
        } else {
            Class::Delta
        };
        ch.push(e(class, n));
    }
    let got = drain(&mut rx);
    // Header again, then the last GOP from its key: nothing partial.
    assert_eq!(got, [0, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
    // Entries 1..=90 were never delivered.
    assert_eq!(rx.dropped(), 90);
}

#[test]
fn lagging_receiver_inside_cached_gop_continues_without_loss() {
    let ch = Channel::new(cfg(4, 100));
    ch.push(e(Class::Key, 0));
    let mut rx = ch.subscribe();
    let mut out = Vec::new();
    rx.try_recv_batch(&mut out, 2).unwrap();
    for n in 1..20 {
        ch.push(e(Class::Delta, n));
    }
    // The ring only holds 16..19, but the GOP cache has the rest.
    assert_eq!(drain(&mut rx), (1..20).collect::<Vec<_>>());
    assert_eq!(rx.dropped(), 0);
}

#[test]
fn overflowed_gop_makes_joiners_wait_for_next_key() {
    let ch = Channel::new(cfg(8, 4));
    ch.push(e(Class::Header(0), 0));
    ch.push(e(Class::Key, 1));
    for n in 2..10 {
        ch.push(e(Class::Delta, n));
    }
    assert_eq!(ch.stats().gop_entries, 0);
    let mut rx = ch.subscribe();
    // Only the header: live deltas are skipped until a key.
    assert_eq!(drain(&mut rx), [0]);
    ch.push(e(Class::Delta, 10));
    assert_eq!(drain(&mut rx), Vec::<u64>::new());
    ch.push(e(Class::Key, 11));
    ch.push(e(Class::Delta, 12));
    assert_eq!(drain(&mut rx), [11, 12]);
    // A fresh receiver waiting for its first key has lost nothing.
    assert_eq!(rx.dropped(), 0);
}

#[test]
fn gop_byte_limit_overflows_too() {
    let ch = Channel::new(ChannelConfig {
        gop_max_bytes: 100,
        ..ChannelConfig::default()
    });
    ch.push(E {
        class: Class::Key,
        n: 0,
        len: 60,
    });
    assert_eq!(ch.stats().gop_bytes, 60);
    ch.push(E {
        class: Class::Delta,
        n: 1,
        len: 60,
    });
    assert_eq!(ch.stats().gop_entries, 0);
}

#[test]
fn skipped_reset_is_still_delivered() {
    let ch = Channel::new(cfg(4, 100));
    ch.push(e(Class::Header(0), 0));
    ch.push(e(Class::Key, 1));
    let mut rx = ch.subscribe();
    assert_eq!(drain(&mut rx), [0, 1]);
    ch.push(e(Class::Reset, 2));
    ch.push(e(Class::Header(0), 3));
    ch.push(e(Class::Key, 4));
    for n in 5..15 {
        ch.push(e(Class::Delta, n));
    }
    assert_eq!(drain(&mut rx), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    // Nothing was lost: the reset, the header and the whole GOP came back.
    assert_eq!(rx.dropped(), 0);
}

#[test]
fn batches_respect_max() {
    let ch = Channel::new(ChannelConfig::default());
    let mut rx = ch.subscribe();
    for n in 0..10 {
        ch.push(e(Class::Delta, n));
    }
    let mut out = Vec::new();
    assert_eq!(rx.try_recv_batch(&mut out, 4), Ok(4));
    assert_eq!(rx.lag(), 6);
    assert_eq!(rx.try_recv_batch(&mut out, 0), Ok(1)); // 0 means 1
    assert_eq!(rx.try_recv_batch(&mut out, 100), Ok(5));
    assert_eq!(rx.try_recv_batch(&mut out, 100), Ok(0));
    assert_eq!(out.len(), 10);
}

#[tokio::test]
async fn close_drains_then_errors_and_last_handle_closes() {
    let ch = Channel::new(ChannelConfig::default());
    let mut rx = ch.subscribe();
    ch.push(e(Class::Delta, 1));
    ch.close();
    ch.push(e(Class::Delta, 2)); // ignored after close
    let mut out = Vec::new();
    assert_eq!(rx.recv_batch(&mut out, 10).await, Ok(()));
    assert_eq!(out, [e(Class::Delta, 1)]);
    assert_eq!(rx.recv_batch(&mut out, 10).await, Err(Closed));

    let ch = Channel::new(ChannelConfig::default());
    let second = ch.clone();
    let mut rx = ch.subscribe();
    drop(ch);
    second.push(e(Class::Delta, 1));
    drop(second);
    out.clear();
    assert_eq!(rx.try_recv_batch(&mut out, 10), Ok(1));
    assert_eq!(rx.try_recv_batch(&mut out, 10), Err(Closed));
}

#[tokio::test(start_paused = true)]
async fn recv_batch_wakes_on_push_and_receivers_gone_resolves() {
    let ch: Channel<E> = Channel::new(ChannelConfig::default());
    let mut rx = ch.subscribe();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        rx.recv_batch(&mut out, 10).await.unwrap();
        out
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    ch.push(e(Class::Delta, 7));
    assert_eq!(reader.await.unwrap(), [e(Class::Delta, 7)]);
    // The reader task dropped its receiver.
    assert_eq!(ch.receiver_count(), 0);
    ch.receivers_gone().await;

    let rx = ch.subscribe();
    let waiter = {
        let ch = ch.clone();
        tokio::spawn(async move { ch.receivers_gone().await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!waiter.is_finished());
    drop(rx);
    waiter.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn push_all_delivers_in_order_with_one_wakeup() {
    let ch: Channel<E> = Channel::new(ChannelConfig::default());
    let mut rx = ch.subscribe();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        rx.recv_batch(&mut out, 100).await.unwrap();
        out.into_iter().map(|e| e.n).collect::<Vec<_>>()
    });
    tokio::time::sleep(Duration::from_millis(1)).await;
    ch.push_all((0..5).map(|n| e(Class::Delta, n)));
    assert_eq!(reader.await.unwrap(), [0, 1, 2, 3, 4]);
}

/// Real threads, a tiny ring and a publisher far faster than the readers:
/// every receiver must see entries in order, never twice, and after any
/// gap restart at a key (headers first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lagging_receivers_never_see_partial_gops() {
    let ch = Channel::new(cfg(16, 1000));
    ch.push(e(Class::Header(0), 0));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let mut rx = ch.subscribe();
        readers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut prev = 0;
            let mut count = 0u64;
            while rx.recv_batch(&mut out, 7).await.is_ok() {
                for entry in out.drain(..) {
                    if entry.class == Class::Header(0) {
                        continue;
                    }
                    assert!(entry.n > prev, "{} after {prev}", entry.n);
                    assert!(
                        entry.n == prev + 1 || entry.class == Class::Key,
                        "gap {prev} -> {} not at a key",
                        entry.n
                    );
                    prev = entry.n;
                    count += 1;
                }
                tokio::task::yield_now().await;
            }
            (count, rx.dropped())
        }));
    }
    let publisher = std::thread::spawn(move || {
        for n in 1..=50_000 {
            let class = if n % 10 == 1 {
                Class::Key
            } else {
                Class::Delta
            };
            ch.push(e(class, n));
        }
        // Dropping the last handle closes the channel and ends the readers.
    });
    publisher.join().unwrap();
    for reader in readers {
        let (count, dropped) = reader.await.unwrap();
        assert_eq!(count + dropped, 50_000, "every entry delivered or counted");
    }
}
