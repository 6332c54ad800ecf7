//! Egress: one muxer per stream and format, shared, stopped when unused.

mod common;

use common::publish;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use weir_hub::{Action, ChannelConfig, Class, Egress, Entry, Hub, HubConfig, Muxer, StreamEvent};
use weir_media::{Codec, Frame, StreamKey, TrackKind};

/// A muxed message: a label and the class of the event it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg(String, Class);

impl Entry for Msg {
    fn class(&self) -> Class {
        self.1
    }
}

/// Turns each event into a label, counting live muxers.
struct Labeler {
    live: Arc<AtomicUsize>,
}

impl Muxer for Labeler {
    type Out = Msg;
    fn mux(&mut self, ev: &StreamEvent, _class: weir_hub::Class, out: &mut Vec<Msg>) {
        let label = match ev {
            StreamEvent::Frame(f) => format!("{:?}@{}", f.kind, f.dts_us / 1000),
            other => format!("{other:?}"),
        };
        out.push(Msg(label, ev.class()));
    }
}

impl Drop for Labeler {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A video frame at `dts` ms.
fn video(dts: i64, key: bool) -> Frame {
    Frame {
        kind: TrackKind::Video,
        codec: Codec::H264,
        dts_us: dts * 1000,
        cts_us: 0,
        key,
        config: false,
        data: Bytes::from_static(b"x"),
    }
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn viewers_share_one_muxer_which_stops_when_they_leave() {
    let hub = Hub::new(HubConfig::default());
    let made = Arc::new(AtomicUsize::new(0));
    let live = Arc::new(AtomicUsize::new(0));
    let egress = {
        let (made, live) = (made.clone(), live.clone());
        Egress::new(
            hub.clone(),
            ChannelConfig::default(),
            move |_key: &StreamKey| {
                made.fetch_add(1, Ordering::SeqCst);
                live.fetch_add(1, Ordering::SeqCst);
                Labeler { live: live.clone() }
            },
        )
    };
    let k = StreamKey::new("live", "e").unwrap();
    let mut first = egress.subscribe(&common::admit(&hub, Action::Play, &k));
    let mut publisher = publish(&hub, &k).unwrap();
    publisher.send(video(0, true));
    settle().await;
    let mut second = egress.subscribe(&common::admit(&hub, Action::Play, &k));
    publisher.send(video(40, false));
    settle().await;
    assert_eq!(made.load(Ordering::SeqCst), 1);
    assert_eq!(egress.active(), 1);
    assert_eq!(
        hub.stream(&k).unwrap().subscribers,
        1,
        "one hub subscription"
    );

    let mut out = Vec::new();
    first.recv_batch(&mut out, 100).await.unwrap();
    let labels: Vec<&str> = out.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(labels, ["Published", "Video@0", "Video@40"]);
    out.clear();
    // The later viewer joined the muxed channel at its GOP.
    second.recv_batch(&mut out, 100).await.unwrap();
    let labels: Vec<&str> = out.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(labels, ["Video@0", "Video@40"]);

    drop(first);
    settle().await;
    assert_eq!(egress.active(), 1, "one viewer left");
    drop(second);
    settle().await;
    assert_eq!(egress.active(), 0);
    assert_eq!(live.load(Ordering::SeqCst), 0, "muxer dropped");
    drop(publisher);
    assert_eq!(hub.stream_count(), 0, "muxer's hub subscription is gone");

    // A new viewer starts a fresh muxer.
    let _third = egress.subscribe(&common::admit(&hub, Action::Play, &k));
    assert_eq!(made.load(Ordering::SeqCst), 2);
    assert_eq!(egress.active(), 1);
}

/// An audio frame at `dts` ms.
fn audio(dts: i64) -> Frame {
    Frame {
        kind: TrackKind::Audio,
        codec: Codec::Aac,
        dts_us: dts * 1000,
        cts_us: 0,
        key: false,
        config: false,
        data: Bytes::from_static(b"a"),
    }
}

/// A viewer waiting for entries, in its own task, like a player's writer.
fn waiting(mut rx: weir_hub::Receiver<Msg>) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        rx.recv_batch(&mut out, 100).await.unwrap();
        out.into_iter().map(|m| m.0).collect()
    })
}

/// A coalescing egress (below) with `viewers` viewers of stream `name`,
/// live with a first keyframe that every viewer has already taken, so that
/// what they get next is what the test sends.
async fn live_stream(
    name: &str,
    viewers: usize,
) -> (
    Hub,
    Egress<Labeler>,
    StreamKey,
    weir_hub::Publisher,
    Vec<weir_hub::Receiver<Msg>>,
) {
    let (hub, egress) = coalescing_egress();
    let k = StreamKey::new("live", name).unwrap();
    let mut rxs: Vec<_> = (0..viewers)
        .map(|_| egress.subscribe(&common::admit(&hub, Action::Play, &k)))
        .collect();
    let mut publisher = publish(&hub, &k).unwrap();
    publisher.send(video(0, true));
    settle().await;
    for rx in &mut rxs {
        let mut out = Vec::new();
        rx.recv_batch(&mut out, 100).await.unwrap();
    }
    (hub, egress, k, publisher, rxs)
}

/// A hub and a labelling egress that holds audio up to 30 ms once two
/// viewers share a stream.
fn coalescing_egress() -> (Hub, Egress<Labeler>) {
    let hub = Hub::new(HubConfig::default());
    let coalesce = weir_hub::Coalesce {
        max_hold: Duration::from_millis(30),
        min_viewers: 2,
    };
    let egress = Egress::with_coalesce(
        hub.clone(),
        ChannelConfig::default(),
        coalesce,
        |_: &StreamKey| Labeler {
            live: Arc::new(AtomicUsize::new(1)),
        },
    );
    (hub, egress)
}

#[tokio::test(start_paused = true)]
async fn busy_streams_hold_audio_for_the_next_video_frame() {
    let (hub, egress, k, mut publisher, mut viewers) = live_stream("c", 2).await;
    let _b = viewers.pop();
    let a = viewers.pop().unwrap();

    // Audio between video frames waits for the next video frame...
    let task = waiting(a);
    settle().await;
    publisher.send(audio(10));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!task.is_finished(), "audio alone does not wake viewers");
    publisher.send(video(33, false));
    settle().await;
    assert!(task.is_finished());
    assert_eq!(task.await.unwrap(), ["Audio@10", "Video@33"]);

    // ... or for max_hold at most.
    let mut a = egress.subscribe(&common::admit(&hub, Action::Play, &k));
    let mut out = Vec::new();
    a.recv_batch(&mut out, 100).await.unwrap();
    let task = waiting(a);
    settle().await;
    let sent = tokio::time::Instant::now();
    publisher.send(audio(40));
    let got = task.await.unwrap();
    assert_eq!(got, ["Audio@40"]);
    assert_eq!(sent.elapsed(), Duration::from_millis(30));
}

#[tokio::test(start_paused = true)]
async fn small_audiences_get_audio_at_once() {
    let (_hub, _egress, _k, mut publisher, mut viewers) = live_stream("s", 1).await;
    let task = waiting(viewers.pop().unwrap());
    settle().await;
    publisher.send(audio(10));
    settle().await;
    assert!(task.is_finished(), "one viewer: no hold");
    assert_eq!(task.await.unwrap(), ["Audio@10"]);
}
