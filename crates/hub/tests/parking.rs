//! Parked receivers: the waking task writes to their sinks directly, and
//! hands them back in the right place when they cannot keep up.

use std::sync::Arc;

use parking_lot::Mutex;
use weir_hub::channel::{Channel, ChannelConfig, Class, Entry, Offer, Receiver, Sink};

#[derive(Clone, Debug, PartialEq, Eq)]
struct E(u64);

impl Entry for E {
    fn class(&self) -> Class {
        if self.0 == 10 {
            Class::Key
        } else {
            Class::Delta
        }
    }
}

/// Records what it was offered; answers from a script, then `Taken`.
#[derive(Clone, Default)]
struct Recorder {
    got: Arc<Mutex<Vec<u64>>>,
    script: Arc<Mutex<Vec<Offer>>>,
}

impl Sink<E> for Recorder {
    fn offer(&mut self, entries: &[E]) -> Offer {
        let answer = self.script.lock().pop().unwrap_or(Offer::Taken);
        if answer != Offer::Decline {
            self.got.lock().extend(entries.iter().map(|e| e.0));
        }
        answer
    }
}

fn drain(rx: &mut Receiver<E>) -> Vec<u64> {
    let mut out = Vec::new();
    while rx.try_recv_batch(&mut out, 1000).unwrap() > 0 {}
    out.iter().map(|e| e.0).collect()
}

fn caught_up(ch: &Channel<E>) -> Receiver<E> {
    let mut rx = ch.subscribe();
    drain(&mut rx);
    rx
}

#[tokio::test]
async fn a_parked_sink_gets_every_push_without_its_task() {
    let ch = Channel::new(ChannelConfig::default());
    ch.push(E(0));
    let rx = caught_up(&ch);
    let sink = Recorder::default();
    let _parking = rx.park(sink.clone()).ok().expect("caught up: parks");
    assert_eq!(ch.receiver_count(), 1, "a parked receiver still counts");
    for n in 1..=5 {
        ch.push(E(n));
    }
    ch.push_all([E(6), E(7)]);
    assert_eq!(*sink.got.lock(), [1, 2, 3, 4, 5, 6, 7]);
}

#[tokio::test]
async fn only_a_caught_up_receiver_parks() {
    let ch = Channel::new(ChannelConfig::default());
    ch.push(E(10));
    ch.push(E(11));
    // A new receiver still has its GOP to replay.
    let rx = ch.subscribe();
    let (mut rx, sink) = rx.park(Recorder::default()).err().expect("replay pending");
    assert_eq!(drain(&mut rx), [10, 11]);
    let _parked = rx.park(sink).ok().expect("now it parks");
    // A second receiver behind the first parked one's position cannot join.
    let mut late = ch.subscribe();
    drain(&mut late);
    ch.push(E(2)); // written to the parked sink; `late` has it unread
    assert!(late.park(Recorder::default()).is_err());
}

#[tokio::test]
async fn a_returning_sink_resumes_after_what_it_took() {
    let ch = Channel::new(ChannelConfig::default());
    let rx = caught_up(&ch);
    let sink = Recorder::default();
    sink.script.lock().push(Offer::Return);
    let mut parking = rx.park(sink.clone()).ok().unwrap();
    ch.push(E(1));
    let (mut rx, _sink) = parking.returned().await.unwrap();
    assert_eq!(*sink.got.lock(), [1]);
    ch.push(E(2));
    assert_eq!(drain(&mut rx), [2], "resumes after the returned entries");
}

#[tokio::test]
async fn a_declining_sink_resumes_at_what_it_declined() {
    let ch = Channel::new(ChannelConfig::default());
    let rx = caught_up(&ch);
    let sink = Recorder::default();
    sink.script.lock().push(Offer::Decline);
    let mut parking = rx.park(sink.clone()).ok().unwrap();
    ch.push_all([E(1), E(2)]);
    let (mut rx, _) = parking.returned().await.unwrap();
    assert!(sink.got.lock().is_empty());
    assert_eq!(drain(&mut rx), [1, 2]);
}

#[tokio::test]
async fn reclaim_and_drop_unpark() {
    let ch = Channel::new(ChannelConfig::default());
    let sink = Recorder::default();
    let parking = caught_up(&ch).park(sink.clone()).ok().unwrap();
    ch.push(E(1));
    let (mut rx, _) = parking.reclaim().await.unwrap();
    ch.push(E(2));
    assert_eq!(*sink.got.lock(), [1], "a reclaimed sink gets nothing more");
    assert_eq!(drain(&mut rx), [2]);

    let parking = rx.park(sink.clone()).ok().unwrap();
    assert_eq!(ch.receiver_count(), 1);
    drop(parking);
    assert_eq!(
        ch.receiver_count(),
        0,
        "dropping the parking drops the receiver"
    );
    ch.push(E(3));
    assert_eq!(*sink.got.lock(), [1]);
}

#[tokio::test]
async fn closing_hands_every_sink_back_after_the_last_entries() {
    let ch = Channel::new(ChannelConfig::default());
    let sink = Recorder::default();
    let mut parking = caught_up(&ch).park(sink.clone()).ok().unwrap();
    ch.push(E(1));
    ch.close();
    let (mut rx, _) = parking.returned().await.unwrap();
    assert_eq!(*sink.got.lock(), [1]);
    let mut out = Vec::new();
    assert!(
        rx.try_recv_batch(&mut out, 10).is_err(),
        "closed and drained"
    );
    assert!(ch.subscribe().park(sink).is_err(), "no parking once closed");
}

#[tokio::test]
async fn many_sinks_one_pass_each_push() {
    let ch = Channel::new(ChannelConfig {
        capacity: 8,
        ..ChannelConfig::default()
    });
    let sinks: Vec<Recorder> = (0..100).map(|_| Recorder::default()).collect();
    // Every tenth sink returns on its first offer.
    for s in sinks.iter().step_by(10) {
        s.script.lock().push(Offer::Return);
    }
    let mut parked: Vec<_> = sinks
        .iter()
        .map(|s| caught_up(&ch).park(s.clone()).ok().unwrap())
        .collect();
    for n in 1..=20 {
        ch.push(E(n));
    }
    for (i, s) in sinks.iter().enumerate() {
        let want: Vec<u64> = if i % 10 == 0 {
            vec![1]
        } else {
            (1..=20).collect()
        };
        assert_eq!(*s.got.lock(), want, "sink {i}");
    }
    // The returned ones lagged past the 8-entry ring and re-join at the
    // last key (10), having missed 2..=9.
    let (mut rx, _) = parked[0].returned().await.unwrap();
    assert_eq!(drain(&mut rx), (10..=20).collect::<Vec<_>>());
    assert_eq!(rx.dropped(), 8);
    parked.clear();
    assert_eq!(
        ch.receiver_count(),
        1,
        "dropped parkings drop their receivers"
    );
}
