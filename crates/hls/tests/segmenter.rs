//! Segmenter behaviour over simulated live streams.

mod common;

use std::time::Duration;

use common::*;
use weir_hls::{HlsConfig, Segment, SegmentEvent, Segmenter};
use weir_media::{Codec, Frame, TrackKind};
use weir_mpegts::{TsError, PMT_PID, VIDEO_PID};

fn finished(events: &[SegmentEvent]) -> Vec<Segment> {
    events
        .iter()
        .filter_map(|e| match e {
            SegmentEvent::Finished(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn feed(seg: &mut Segmenter, frames: &[Frame]) -> Vec<SegmentEvent> {
    frames.iter().flat_map(|f| seg.push(f)).collect()
}

/// The playlist's header values and `(duration ms, uri, discontinuity)`
/// per segment, checking the syntax on the way.
struct Parsed {
    target: u64,
    media_sequence: u64,
    discontinuity_sequence: u64,
    segments: Vec<(u64, String, bool)>,
    ended: bool,
}

fn parse(m3u8: &str) -> Parsed {
    let mut lines = m3u8.lines();
    assert_eq!(lines.next(), Some("#EXTM3U"));
    assert_eq!(lines.next(), Some("#EXT-X-VERSION:3"));
    let mut p = Parsed {
        target: 0,
        media_sequence: 0,
        discontinuity_sequence: 0,
        segments: vec![],
        ended: false,
    };
    let mut disc = false;
    while let Some(line) = lines.next() {
        assert!(!p.ended, "nothing after ENDLIST");
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            assert!(p.segments.is_empty());
            p.discontinuity_sequence = v.parse().unwrap();
        } else if line == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let v = v.strip_suffix(',').expect("EXTINF ends with a comma");
            let (s, ms) = v.split_once('.').unwrap();
            assert_eq!(ms.len(), 3, "three decimals");
            let dur = s.parse::<u64>().unwrap() * 1000 + ms.parse::<u64>().unwrap();
            let uri = lines.next().unwrap().to_owned();
            p.segments.push((dur, uri, std::mem::take(&mut disc)));
        } else if line == "#EXT-X-ENDLIST" {
            p.ended = true;
        } else {
            panic!("unexpected line {line:?}");
        }
    }
    p
}

#[test]
fn playlist_rules_hold_over_a_30_second_stream() {
    let cfg = HlsConfig {
        max_segments_kept: 6,
        ..HlsConfig::default()
    };
    let mut seg = Segmenter::new(cfg, "cam");
    let (mut last_seq, mut last_target, mut total_finished, mut evicted) = (0, 0, 0, vec![]);
    for frame in stream(0, 30, 25) {
        let events = seg.push(&frame);
        for e in &events {
            match e {
                SegmentEvent::Finished(_) => total_finished += 1,
                SegmentEvent::Evicted(seq) => evicted.push(*seq),
                SegmentEvent::FrameDropped { error, .. } => panic!("dropped: {error}"),
            }
        }
        if events.is_empty() {
            continue;
        }
        let p = parse(&seg.playlist());
        assert!(p.media_sequence >= last_seq, "media sequence went back");
        assert!(p.target >= last_target, "target duration went down");
        assert!(!p.ended);
        assert_eq!(p.discontinuity_sequence, 0);
        for (i, (dur, uri, disc)) in p.segments.iter().enumerate() {
            assert!(
                *dur <= p.target * 1000,
                "EXTINF {dur} > target {}",
                p.target
            );
            assert_eq!(*uri, format!("cam-{}.ts", p.media_sequence + i as u64));
            assert!(!disc);
        }
        let total: u64 = p.segments.iter().map(|s| s.0).sum();
        if total >= 10_000 {
            assert!(
                total - p.segments[0].0 < 10_000,
                "window holds one segment too many"
            );
        }
        (last_seq, last_target) = (p.media_sequence, p.target);
    }
    // A keyframe every 25 frames (833 ms): cuts at 2.5 s.
    let p = parse(&seg.playlist());
    assert_eq!(p.target, 3);
    assert!(p.segments.iter().all(|s| s.0 == 2500), "{:?}", p.segments);
    assert_eq!(p.segments.len(), 4); // 4 x 2.5 s cover the 10 s window
    assert_eq!(total_finished, 11); // 30 s / 2.5 s, the last still open
    assert_eq!(p.media_sequence, 7);
    assert_eq!(evicted, (0..5).collect::<Vec<_>>());
    assert!(seg.segment(4).is_none() && seg.segment(5).is_some() && seg.segment(11).is_none());

    let events = seg.end();
    assert_eq!(finished(&events).len(), 1);
    let p = parse(&seg.playlist());
    assert!(p.ended);
    assert_eq!(p.segments.last().unwrap().1, "cam-11.ts");
}

#[test]
fn segments_start_with_pat_pmt_and_a_keyframe() {
    let mut seg = Segmenter::new(HlsConfig::default(), "s");
    // Audio and a non-key frame before the first keyframe are skipped.
    let mut frames = vec![
        config(TrackKind::Video),
        config(TrackKind::Audio),
        audio(0),
        video(5, false),
    ];
    frames.extend(stream(40, 12, 30).into_iter().skip(2));
    let mut events = feed(&mut seg, &frames);
    events.extend(seg.end());
    let segments = finished(&events);
    assert_eq!(segments.len(), 6);
    assert_eq!(segments[0].first_dts_us, 40_000);
    let mut all = Vec::new();
    for s in &segments {
        let packets: Vec<&[u8]> = s.data.chunks(188).collect();
        assert_eq!(pid(packets[0]), 0, "PAT first");
        assert_eq!(pid(packets[1]), PMT_PID, "PMT second");
        let pes = packets[2];
        assert_eq!(pid(pes), VIDEO_PID);
        assert!(
            pes[1] & 0x40 != 0 && pes[3] & 0x20 != 0 && pes[5] & 0x40 != 0,
            "PES start with random access"
        );
        let es = &payload(pes)[19..];
        assert_eq!(&es[..6], &[0, 0, 0, 1, 9, 0xf0]);
        assert!(
            es.windows(5).any(|w| w == [0, 0, 0, 1, 0x65]),
            "IDR in the first PES"
        );
        all.extend_from_slice(&s.data);
    }
    assert_clean_ts(&all);
}

#[test]
fn discontinuity_is_rendered_then_counted_when_it_slides_out() {
    let mut seg = Segmenter::new(HlsConfig::default(), "s");
    feed(&mut seg, &stream(0, 9, 30));
    let events = seg.discontinuity();
    assert_eq!(finished(&events).len(), 1);
    // The new publisher starts its clock at 0 again.
    feed(&mut seg, &stream(0, 5, 30));
    let p = parse(&seg.playlist());
    let marked: Vec<_> = p.segments.iter().filter(|s| s.2).collect();
    assert_eq!(marked.len(), 1);
    assert_eq!(p.discontinuity_sequence, 0);
    feed(&mut seg, &stream(5000, 15, 30));
    let p = parse(&seg.playlist());
    assert!(p.segments.iter().all(|s| !s.2));
    assert_eq!(p.discontinuity_sequence, 1);
    assert!(p.target <= 3);
}

#[test]
fn a_timestamp_jump_is_a_discontinuity_not_a_huge_segment() {
    let mut seg = Segmenter::new(HlsConfig::default(), "s");
    feed(&mut seg, &stream(0, 5, 30));
    feed(&mut seg, &stream(3_600_000, 5, 30));
    let p = parse(&seg.playlist());
    assert_eq!(p.target, 2);
    assert_eq!(p.segments.iter().filter(|s| s.2).count(), 1);
    assert!(p.segments.iter().all(|s| s.0 <= 2000));
}

#[test]
fn audio_only_is_cut_by_time() {
    let mut seg = Segmenter::new(HlsConfig::default(), "radio");
    let mut frames = vec![config(TrackKind::Audio)];
    frames.extend((0..435).map(|i| audio(i * 23))); // ~10 s
    let segments = finished(&feed(&mut seg, &frames));
    assert_eq!(segments.len(), 4);
    for s in &segments {
        assert!(
            (2000..2023).contains(&s.duration.as_millis()),
            "{:?}",
            s.duration
        );
        assert_eq!(pid(&s.data[..188]), 0);
    }
}

#[test]
fn no_keyframe_for_too_long_forces_a_cut() {
    let cfg = HlsConfig {
        max_fragment: Duration::from_secs(4),
        ..HlsConfig::default()
    };
    let mut seg = Segmenter::new(cfg, "s");
    let segments = finished(&feed(&mut seg, &stream(0, 13, 300)));
    let durations: Vec<u128> = segments.iter().map(|s| s.duration.as_millis()).collect();
    assert_eq!(durations, [4000, 4000, 2000]);
}

#[test]
fn bad_frames_are_reported_and_skipped() {
    let mut seg = Segmenter::new(HlsConfig::default(), "s");
    let opus = Frame {
        kind: TrackKind::Audio,
        codec: Codec::Opus,
        dts_us: 0,
        cts_us: 0,
        key: false,
        config: false,
        data: bytes::Bytes::new(),
    };
    assert_eq!(
        seg.push(&opus),
        [SegmentEvent::FrameDropped {
            dts_us: 0,
            error: TsError::Unsupported(Codec::Opus)
        }]
    );
    let mut broken = video(0, true);
    broken.data = bytes::Bytes::from_static(&[0, 0, 0, 9, 0x65]);
    seg.push(&config(TrackKind::Video));
    assert!(matches!(
        seg.push(&broken)[..],
        [SegmentEvent::FrameDropped { .. }]
    ));
    // The stream carries on at the next good keyframe.
    let events = feed(&mut seg, &stream(33, 4, 30));
    assert_eq!(finished(&events).len(), 1);
    assert!(!seg.playlist().contains("DISCONTINUITY"));
}

#[test]
fn pushing_after_end_resumes_with_a_discontinuity() {
    let mut seg = Segmenter::new(HlsConfig::default(), "s");
    feed(&mut seg, &stream(0, 3, 30));
    seg.end();
    assert!(seg.playlist().ends_with("#EXT-X-ENDLIST\n"));
    feed(&mut seg, &stream(0, 3, 30));
    let text = seg.playlist();
    assert!(!text.contains("ENDLIST"));
    assert!(
        text.contains("#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\ns-2.ts"),
        "{text}"
    );
}

#[test]
fn a_29_97_fps_stream_does_not_drift() {
    // 90 kHz timestamps (RTP, MPEG-TS sources): a 60-frame GOP lasts
    // 60 * 3003 ticks = 2.002 s, which a millisecond clock rounds away
    // a little more with every frame.
    let mut seg = Segmenter::new(HlsConfig::default(), "s");
    let mut frames = vec![config(TrackKind::Video)];
    for n in 0..600i64 {
        frames.push(Frame {
            dts_us: weir_media::rescale(n * 3003, 90_000, weir_media::US_HZ),
            ..video(0, n % 60 == 0)
        });
    }
    let segments = finished(&feed(&mut seg, &frames));
    assert_eq!(segments.len(), 9);
    for s in &segments {
        assert_eq!(s.duration, Duration::from_micros(2_002_000));
    }
    assert_eq!(segments[8].first_dts_us, 8 * 2_002_000);
    assert!(seg.playlist().contains("#EXTINF:2.002,"));
}
