//! Egress: one muxer per stream and format, shared, stopped when unused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use weir_hub::{ChannelConfig, Class, Egress, Entry, Hub, HubConfig, Muxer, StreamEvent};
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
            StreamEvent::Frame(f) => format!("{:?}@{}", f.kind, f.dts),
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

fn video(dts: i64, key: bool) -> Frame {
    Frame {
        kind: TrackKind::Video,
        codec: Codec::H264,
        dts,
        cts: 0,
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
    let mut first = egress.subscribe(&k);
    let mut publisher = hub.publish(&k, 1).unwrap();
    publisher.send(video(0, true));
    settle().await;
    let mut second = egress.subscribe(&k);
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
    let _third = egress.subscribe(&k);
    assert_eq!(made.load(Ordering::SeqCst), 2);
    assert_eq!(egress.active(), 1);
}
