//! The hub: publish/subscribe, GOP replay, lag, takeover, kick, lifetime.

mod common;

use common::{publish, subscribe};
use std::time::Duration;

use bytes::Bytes;
use weir_hub::{ChannelConfig, CloseReason, Hub, HubConfig, HubError, StreamEvent, Subscription};
use weir_media::{Codec, Frame, StreamKey, TrackKind};

fn key(name: &str) -> StreamKey {
    StreamKey::new("live", name).unwrap()
}

/// A frame at `dts` ms.
fn frame(kind: TrackKind, codec: Codec, dts: i64, key: bool, config: bool) -> Frame {
    Frame {
        kind,
        codec,
        dts_us: dts * 1000,
        cts_us: 0,
        key,
        config,
        data: Bytes::from_static(b"payload"),
    }
}

fn vcfg() -> Frame {
    frame(TrackKind::Video, Codec::H264, 0, true, true)
}
fn acfg() -> Frame {
    frame(TrackKind::Audio, Codec::Aac, 0, false, true)
}
fn video(dts: i64, key: bool) -> Frame {
    frame(TrackKind::Video, Codec::H264, dts, key, false)
}
fn audio(dts: i64) -> Frame {
    frame(TrackKind::Audio, Codec::Aac, dts, false, false)
}

fn drain(sub: &mut Subscription) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    while sub.try_recv_batch(&mut out, 4096).unwrap() > 0 {}
    out
}

/// A short readable form: `P`, `U`, `R`, `Vc`, `Ac`, `K<dts>`, `V<dts>`, `A<dts>`.
fn show(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|ev| match ev {
            StreamEvent::Published => "P".to_owned(),
            StreamEvent::Unpublished => "U".to_owned(),
            StreamEvent::Replaced => "R".to_owned(),
            StreamEvent::Frame(f) => match (f.kind, f.config, f.key) {
                (TrackKind::Video, true, _) => "Vc".to_owned(),
                (TrackKind::Audio, true, _) => "Ac".to_owned(),
                (TrackKind::Video, false, true) => format!("K{}", f.dts_us / 1000),
                (TrackKind::Video, false, false) => format!("V{}", f.dts_us / 1000),
                (TrackKind::Audio, ..) => format!("A{}", f.dts_us / 1000),
                (TrackKind::Data, ..) => "D".to_owned(),
            },
        })
        .collect()
}

#[test]
fn new_subscriber_gets_headers_and_gop_in_order() {
    let hub = Hub::new(HubConfig::default());
    let mut early = subscribe(&hub, &key("a"));
    let mut publisher = publish(&hub, &key("a")).unwrap();
    publisher.send(vcfg());
    publisher.send(acfg());
    publisher.send(video(0, true));
    publisher.send(audio(10));
    publisher.send(video(33, false));
    publisher.send(video(66, true));
    publisher.send(audio(70));
    publisher.send(video(100, false));

    let mut late = subscribe(&hub, &key("a"));
    assert_eq!(show(&drain(&mut late)), ["Vc", "Ac", "K66", "A70", "V100"]);
    assert_eq!(
        show(&drain(&mut early)),
        ["P", "Vc", "Ac", "K0", "A10", "V33", "K66", "A70", "V100"]
    );
    // Header replacement: a new video config replaces the old one.
    let mut cfg2 = vcfg();
    cfg2.data = Bytes::from_static(b"new sps");
    publisher.send(cfg2.clone());
    let mut later = subscribe(&hub, &key("a"));
    let got = drain(&mut later);
    assert_eq!(show(&got), ["Ac", "Vc", "K66", "A70", "V100"]);
    assert!(matches!(&got[1], StreamEvent::Frame(f) if f.data == cfg2.data));
}

#[test]
fn only_an_admission_to_publish_publishes() {
    let hub = Hub::new(HubConfig::default());
    let play = common::admit(&hub, weir_hub::Action::Play, &key("p"));
    assert!(matches!(
        hub.publish(&play),
        Err(HubError::NotAdmittedToPublish { .. })
    ));
    assert!(!hub.is_live(&key("p")));
}

#[test]
fn a_joiners_headers_carry_the_time_of_its_first_frame() {
    let hub = Hub::new(HubConfig::default());
    let mut publisher = publish(&hub, &key("a")).unwrap();
    publisher.send(vcfg());
    publisher.send(video(0, true));
    publisher.send(video(2000, true));
    publisher.send(video(2033, false));
    let mut late = subscribe(&hub, &key("a"));
    let got = drain(&mut late);
    assert_eq!(show(&got), ["Vc", "K2000", "V2033"]);
    assert!(matches!(&got[0], StreamEvent::Frame(f) if f.dts_us == 2_000_000 && f.config));
}

#[test]
fn audio_only_stream_starts_at_the_latest_audio_frame() {
    let hub = Hub::new(HubConfig::default());
    let mut publisher = publish(&hub, &key("radio")).unwrap();
    publisher.send(acfg());
    for dts in [0, 23, 46] {
        publisher.send(audio(dts));
    }
    let mut sub = subscribe(&hub, &key("radio"));
    assert_eq!(show(&drain(&mut sub)), ["Ac", "A46"]);
}

#[test]
fn slow_subscriber_never_blocks_publisher_and_resumes_at_a_key() {
    let cfg = HubConfig::default();
    let capacity = cfg.channel.capacity;
    let hub = Hub::new(cfg);
    let mut fast = subscribe(&hub, &key("big"));
    let mut slow = subscribe(&hub, &key("big"));
    let mut publisher = publish(&hub, &key("big")).unwrap();
    publisher.send(vcfg());
    publisher.send(acfg());
    let mut fast_got = Vec::new();
    for i in 0..100_000i64 {
        publisher.send(video(i, i % 60 == 0));
        if i % 500 == 0 {
            // Bounded memory: the slow subscriber's backlog never exceeds
            // the ring, whatever it does.
            assert!(slow.lag() <= capacity);
            while fast.try_recv_batch(&mut fast_got, 4096).unwrap() > 0 {}
        }
    }
    while fast.try_recv_batch(&mut fast_got, 4096).unwrap() > 0 {}
    assert_eq!(fast_got.len(), 3 + 100_000);
    assert_eq!(fast.dropped(), 0);
    let dts: Vec<i64> = fast_got[3..]
        .iter()
        .map(|ev| match ev {
            StreamEvent::Frame(f) => f.dts_us / 1000,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(dts.iter().copied().eq(0..100_000));

    let got = show(&drain(&mut slow));
    // Headers again, then the last GOP from its keyframe (99_960 is the
    // last multiple of 60): nothing partial.
    assert_eq!(&got[..3], ["Vc", "Ac", "K99960"]);
    assert_eq!(got.len(), 2 + 40);
    // `Published` and frames 0..99_960 were never delivered.
    assert_eq!(slow.dropped(), 1 + 99_960);
    let info = hub.stream(&key("big")).unwrap();
    assert_eq!(info.frames_in, 100_002);
}

#[tokio::test(start_paused = true)]
async fn takeover_keeps_subscribers_and_monotonic_timestamps() {
    let hub = Hub::new(HubConfig::default());
    let k = key("t");
    let mut first = publish(&hub, &k).unwrap();
    let mut sub = subscribe(&hub, &k);
    first.send(vcfg());
    first.send(video(5000, true));
    first.send(audio(5010));
    first.send(video(5033, false));

    let second_admission = common::admit(&hub, weir_hub::Action::Publish, &k);
    let mut second = hub.publish(&second_admission).unwrap();
    assert_eq!(first.closed().await, CloseReason::TakenOver);
    // The old publisher's late frames are ignored.
    first.send(video(5066, false));
    second.send(vcfg());
    second.send(video(0, true));
    second.send(audio(10));
    second.send(video(33, false));
    second.send(audio(5)); // backwards within the track: clamped
    drop(first); // must not unpublish the new publisher
    assert!(hub.is_live(&k));

    let got = show(&drain(&mut sub));
    assert_eq!(
        got,
        ["Vc", "K5000", "A5010", "V5033", "R", "Vc", "K5034", "A5044", "V5067", "A5044"]
    );
    assert_eq!(
        hub.stream(&k).unwrap().publisher,
        Some(second_admission.request().client_id)
    );
}

#[test]
fn backward_jump_within_one_publisher_is_clamped() {
    let hub = Hub::new(HubConfig::default());
    let mut publisher = publish(&hub, &key("c")).unwrap();
    let mut sub = subscribe(&hub, &key("c"));
    publisher.send(video(100, true));
    publisher.send(video(50, false));
    publisher.send(video(150, false));
    assert_eq!(show(&drain(&mut sub)), ["K100", "V100", "V150"]);
}

#[test]
fn reject_mode_refuses_second_publisher() {
    let hub = Hub::new(HubConfig {
        takeover: false,
        ..HubConfig::default()
    });
    let _first = publish(&hub, &key("r")).unwrap();
    match publish(&hub, &key("r")) {
        Err(HubError::AlreadyPublishing(k)) => assert_eq!(k, key("r")),
        other => panic!("expected AlreadyPublishing, got {other:?}"),
    }
    assert_eq!(hub.stream(&key("r")).unwrap().publisher, Some(1));
}

#[tokio::test(start_paused = true)]
async fn wait_live_sees_a_late_publisher_or_times_out() {
    let hub = Hub::new(HubConfig::default());
    let mut sub = subscribe(&hub, &key("w"));
    assert!(!sub.is_live());
    assert!(!sub.wait_live(Duration::from_secs(2)).await);

    let late = {
        let hub = hub.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            publish(&hub, &key("w")).unwrap()
        })
    };
    let start = tokio::time::Instant::now();
    assert!(sub.wait_live(Duration::from_secs(10)).await);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let _publisher = late.await.unwrap();
    assert!(sub.wait_live(Duration::ZERO).await);
    assert_eq!(show(&drain(&mut sub)), ["P"]);
}

#[tokio::test(start_paused = true)]
async fn kick_detaches_publisher() {
    let hub = Hub::new(HubConfig::default());
    let k = key("k");
    let mut publisher = publish(&hub, &k).unwrap();
    let mut sub = subscribe(&hub, &k);
    assert!(!hub.kick_publisher(&key("nobody")));
    assert!(hub.kick_publisher(&k));
    assert_eq!(publisher.closed().await, CloseReason::Kicked);
    assert!(!hub.is_live(&k));
    publisher.send(video(0, true)); // ignored
    assert_eq!(show(&drain(&mut sub)), ["U"]);
    assert!(!hub.kick_publisher(&k));
}

#[test]
fn streams_are_freed_when_nobody_uses_them() {
    let hub = Hub::new(HubConfig::default());
    let publisher = publish(&hub, &key("f")).unwrap();
    let sub = subscribe(&hub, &key("f"));
    let sub2 = subscribe(&hub, &key("f"));
    let waiting = subscribe(&hub, &key("g"));
    assert_eq!(hub.stream_count(), 2);
    drop(publisher);
    assert_eq!(hub.stream_count(), 2, "subscribers keep the stream");
    drop(sub);
    drop(sub2);
    drop(waiting);
    assert_eq!(hub.stream_count(), 0);

    let publisher = publish(&hub, &key("f")).unwrap();
    let sub = subscribe(&hub, &key("f"));
    drop(sub);
    assert_eq!(hub.stream_count(), 1, "the publisher keeps the stream");
    drop(publisher);
    assert_eq!(hub.stream_count(), 0);

    let publisher = publish(&hub, &key("f")).unwrap();
    assert!(hub.kick_publisher(&key("f")));
    assert_eq!(hub.stream_count(), 0);
    drop(publisher);
    assert_eq!(hub.stream_count(), 0);
}

#[test]
fn stream_info_reports_publisher_codecs_and_counters() {
    let hub = Hub::new(HubConfig {
        channel: ChannelConfig {
            capacity: 64,
            ..ChannelConfig::default()
        },
        ..HubConfig::default()
    });
    let admission = common::admit(&hub, weir_hub::Action::Publish, &key("i"));
    let mut publisher = hub.publish(&admission).unwrap();
    let _sub = subscribe(&hub, &key("i"));
    let _waiting = subscribe(&hub, &key("j"));
    publisher.send(vcfg());
    publisher.send(acfg());
    publisher.send(video(0, true));
    let infos = hub.streams();
    assert_eq!(infos.len(), 2);
    let info = &infos[0];
    assert_eq!(info.key, key("i"));
    assert!(info.live);
    assert_eq!(info.publisher, Some(admission.request().client_id));
    assert_eq!(info.subscribers, 1);
    assert_eq!(info.frames_in, 3);
    assert_eq!(info.bytes_in, 3 * 7);
    assert!(info.started_at.is_some());
    assert_eq!(info.video_codec, Some(Codec::H264));
    assert_eq!(info.audio_codec, Some(Codec::Aac));
    assert!(!infos[1].live);
    assert_eq!(infos[1].publisher, None);
}

/// A gate that allows everything and counts what it hears.
#[derive(Default)]
struct CountingGate {
    checked: std::sync::atomic::AtomicUsize,
    ended: std::sync::atomic::AtomicUsize,
}

impl weir_hub::Gate for CountingGate {
    fn check(&self, _req: &weir_hub::AccessRequest) -> weir_hub::Verdict {
        self.checked
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(())))
    }
    fn connected(&self, _info: &weir_hub::ConnectInfo) {}
    fn ended(&self, _req: &weir_hub::AccessRequest) {
        self.ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn admissions_report_their_end_and_internal_readers_stay_silent() {
    use std::sync::atomic::Ordering::SeqCst;
    let gate = std::sync::Arc::new(CountingGate::default());
    let hub = Hub::with_gate(HubConfig::default(), gate.clone());
    let play = common::admit(&hub, weir_hub::Action::Play, &key("g"));
    let sub = hub.subscribe(&play);
    assert_eq!((gate.checked.load(SeqCst), gate.ended.load(SeqCst)), (1, 0));
    drop(play);
    assert_eq!(gate.ended.load(SeqCst), 1);
    let internal = hub.admit_internal(&key("g"), "hls");
    let sub2 = hub.subscribe(&internal);
    drop((internal, sub, sub2));
    assert_eq!((gate.checked.load(SeqCst), gate.ended.load(SeqCst)), (1, 1));
}

#[tokio::test]
async fn demand_is_reported_when_subscribers_leave_and_reach_zero() {
    let hub = Hub::new(HubConfig::default());
    let mut watch = hub.watch_demand();
    let k = key("cam");
    assert_eq!(hub.subscribers(&k), 0);
    let a = subscribe(&hub, &k);
    let b = subscribe(&hub, &k);
    assert_eq!(hub.subscribers(&k), 2);
    let first = watch.recv().await.unwrap();
    assert_eq!((first.key.clone(), first.subscribers), (k.clone(), 1));
    drop(a);
    drop(b);
    let last = watch.recv().await.unwrap();
    assert_eq!((last.key, last.subscribers), (k.clone(), 0));
    // A player waiting for a publisher is demand too.
    let waiting = tokio::spawn({
        let hub = hub.clone();
        let k = k.clone();
        async move { hub.wait_live(&k, Duration::from_millis(50)).await }
    });
    assert_eq!(watch.recv().await.unwrap().subscribers, 1);
    assert!(!waiting.await.unwrap());
    assert_eq!(watch.recv().await.unwrap().subscribers, 0);
}

/// A viewer that would not wait at all still waits for a source its
/// arrival starts, as long as [`Hub::expect_source`] says.
#[tokio::test(start_paused = true)]
async fn viewers_wait_for_an_expected_source() {
    let hub = Hub::new(HubConfig::default());
    let k = key("cam");
    assert!(!hub.wait_live(&k, Duration::ZERO).await);
    hub.expect_source(&k, Duration::from_secs(10));
    let waiting = tokio::spawn({
        let hub = hub.clone();
        let k = k.clone();
        async move { hub.wait_live(&k, Duration::ZERO).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let client = hub.clients().register(weir_hub::ClientInfo {
        protocol: "rtsp-pull",
        addr: "127.0.0.1:554".parse().unwrap(),
        role: None,
    });
    let _publisher = hub.publish(&hub.admit_source(&client, &k)).unwrap();
    assert!(waiting.await.unwrap(), "the viewer saw the source go live");
    hub.forget_source(&k);
    assert!(!hub.wait_live(&key("other"), Duration::ZERO).await);
}

#[tokio::test]
async fn a_source_publishes_without_asking_the_gate() {
    let hub = Hub::new(HubConfig::default());
    let client = hub.clients().register(weir_hub::ClientInfo {
        protocol: "rtsp-pull",
        addr: "127.0.0.1:554".parse().unwrap(),
        role: None,
    });
    let k = key("cam");
    let admission = hub.admit_source(&client, &k);
    let _publisher = hub.publish(&admission).unwrap();
    assert!(hub.is_live(&k));
    assert_eq!(hub.stream(&k).unwrap().publisher, Some(client.id()));
    let listed = hub.clients().get(client.id()).unwrap();
    assert_eq!(listed.stream, Some(k));
}
