//! The LL-HLS playlist state on a simulated stream, checked after every
//! part by an independent playlist reader (`checker`, also used by the
//! app's e2e test against the live server).

mod checker;

use std::time::Duration;

use bytes::Bytes;
use weir_hls::{Blocking, LlConfig, LlFile, LowLatency, PartIn, PartState};

const PART_US: i64 = 200_000;
const WALL0: i64 = 1_796_319_815_000;

fn config() -> LlConfig {
    LlConfig {
        part_target: Duration::from_millis(200),
        segment: Duration::from_secs(2),
        max_segment: Duration::from_secs(10),
        window: Duration::from_secs(30),
        extra_kept: 2,
        prefix: "t-".into(),
    }
}

/// Part `i` of a stream with a keyframe every `gop` parts.
fn part(i: i64, gop: i64) -> PartIn {
    PartIn {
        data: Bytes::from(format!("part{i};")),
        dts_us: i * PART_US,
        duration_us: PART_US,
        independent: i % gop == 0,
        wall_ms: WALL0 + i * PART_US / 1000,
    }
}

fn parse_checked(ll: &LowLatency, skip: bool) -> checker::Playlist {
    let text = ll.playlist(skip);
    let pl = checker::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    checker::check(&pl).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    pl
}

/// 1 s GOPs, 200 ms parts, 2 s segments for 60 s: after every part the
/// full playlist and the delta update follow every rule, each reload
/// continues the last, and blocking requests are answered as the spec
/// says.
#[test]
fn live_stream_playlists_follow_the_rules_after_every_part() {
    let mut ll = LowLatency::new(config());
    ll.set_init(Bytes::from_static(b"init"));
    let mut prev: Option<checker::Playlist> = None;
    let mut deltas_with_skip = 0;
    for i in 0..300 {
        ll.push_part(part(i, 5));
        let full = parse_checked(&ll, false);
        let delta = parse_checked(&ll, true);
        checker::check_delta(&full, &delta)
            .unwrap_or_else(|e| panic!("{e}\n{}", ll.playlist(true)));
        deltas_with_skip += usize::from(delta.skipped > 0);
        if let Some(p) = &prev {
            checker::check_follows(p, &full).unwrap();
        }
        assert_eq!(full.target, 2, "1 s GOPs cut 2 s segments");
        // The newest part is ready, the preload hint's is not, and the one
        // after the Advance Part Limit (15 parts of 200 ms) is too far.
        let open = full.segments.last().unwrap();
        let last_part = open.parts.len() as u64 - 1;
        let msn = open.msn;
        assert_eq!(ll.blocking(msn, Some(last_part)), Blocking::Ready);
        assert_eq!(ll.blocking(msn, Some(last_part + 1)), Blocking::Wait);
        assert_eq!(ll.blocking(msn, Some(last_part + 16)), Blocking::TooFar);
        assert_eq!(ll.blocking(msn + 1, Some(0)), Blocking::Wait);
        assert_eq!(ll.blocking(msn + 1, Some(15)), Blocking::TooFar);
        assert_eq!(ll.blocking(msn, None), Blocking::Wait);
        assert_eq!(ll.blocking(msn + 2, None), Blocking::Wait);
        assert_eq!(ll.blocking(msn + 3, None), Blocking::TooFar);
        assert_eq!(ll.blocking(u64::MAX, Some(u64::MAX)), Blocking::TooFar);
        if msn > 0 {
            assert_eq!(ll.blocking(msn - 1, None), Blocking::Ready);
            assert_eq!(ll.blocking(msn - 1, Some(99)), Blocking::Ready);
        }
        // The preload hint names the next part, which a request may wait for.
        let hint = checker::part_number(full.preload_hint.as_ref().unwrap()).unwrap();
        assert_eq!(hint, i as u64 + 1);
        assert_eq!(ll.part(hint), PartState::Wait);
        assert_eq!(ll.part(hint + 15), PartState::Missing);
        assert_eq!(
            ll.part(i as u64),
            PartState::Ready(Bytes::from(format!("part{i};")))
        );
        prev = Some(full);
    }
    assert!(
        deltas_with_skip > 100,
        "delta updates skip once the window is long"
    );
    let full = prev.unwrap();
    // 30 s window of 2 s segments, plus the open one.
    assert!(full.segments.len() >= 15 && full.segments.len() <= 17);
    // Parts are listed only near the live edge (3 target durations).
    assert!(full.segments[0].parts.is_empty());
    // A finished segment is its parts, concatenated; an evicted one is gone.
    let seg = &full.segments[full.segments.len() - 2];
    let LlFile::Segment(msn) = LlFile::parse("t-", seg.uri.as_deref().unwrap()).unwrap() else {
        panic!("segment name");
    };
    let whole = ll.segment(msn).unwrap();
    let joined: Vec<u8> = seg
        .parts
        .iter()
        .flat_map(|p| match ll.part(checker::part_number(&p.uri).unwrap()) {
            PartState::Ready(b) => b.to_vec(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(whole.as_ref(), joined.as_slice());
    assert!(ll.segment(0).is_none());
    assert_eq!(ll.part(0), PartState::Missing);
    assert_eq!(ll.init(0), Some(Bytes::from_static(b"init")));
    // Program date-times follow the media clock from the first part's
    // wall: the open segment starts at part 290, 58 s in.
    assert_eq!(
        full.segments.last().unwrap().pdt.as_deref(),
        Some("2026-12-03T17:44:33.000Z")
    );
}

/// A source with a keyframe every 20 s: parts keep flowing every 200 ms,
/// segments are cut at `max_segment` (10 s) and the target duration,
/// announced while the long segment is still being written, covers them.
#[test]
fn rare_keyframes_keep_parts_flowing_and_raise_the_target() {
    let mut ll = LowLatency::new(config());
    ll.set_init(Bytes::from_static(b"init"));
    for i in 0..250 {
        ll.push_part(part(i, 100));
        let pl = parse_checked(&ll, false);
        assert_eq!(
            checker::part_number(pl.preload_hint.as_ref().unwrap()),
            Some(i as u64 + 1)
        );
    }
    let pl = parse_checked(&ll, false);
    assert_eq!(pl.target, 10);
    let durations: Vec<f64> = pl.segments.iter().filter_map(|s| s.duration).collect();
    // 30 s window: two finished 10 s segments and the open one.
    assert_eq!(durations, [10.0, 10.0]);
    // A segment after a forced cut starts mid-GOP (parts 150..199), one cut
    // at a keyframe (100..149) does not.
    let first_independent: Vec<(u64, bool)> = pl
        .segments
        .iter()
        .map(|s| (s.msn, s.parts[0].independent))
        .collect();
    assert_eq!(first_independent, [(2, true), (3, false), (4, true)]);
    assert_eq!(ll.target_duration(), Duration::from_secs(10));
}

/// A new init segment starts a segment with its own map and a
/// discontinuity; the end of the stream adds ENDLIST, drops the preload
/// hint and releases every blocked request; a new publisher resumes.
#[test]
fn init_changes_end_and_restart() {
    let mut ll = LowLatency::new(config());
    ll.push_part(part(0, 5));
    assert!(
        !ll.playlist(false).contains("#EXT-X-PART:"),
        "no part before an init segment"
    );
    ll.set_init(Bytes::from_static(b"a"));
    for i in 0..12 {
        ll.push_part(part(i, 5));
    }
    ll.set_init(Bytes::from_static(b"a"));
    ll.set_init(Bytes::from_static(b"b"));
    for i in 12..24 {
        ll.push_part(part(i, 5));
    }
    let text = ll.playlist(false);
    let pl = parse_checked(&ll, false);
    assert_eq!(text.matches("#EXT-X-MAP").count(), 2, "{text}");
    assert!(pl
        .segments
        .iter()
        .any(|s| s.discontinuity && s.map.as_deref() == Some("t-init1.mp4")));
    let msn = pl.segments.last().unwrap().msn;
    ll.end();
    let pl = parse_checked(&ll, false);
    assert!(pl.ended && pl.preload_hint.is_none());
    assert_eq!(ll.blocking(msn + 2, Some(3)), Blocking::Ready);
    assert_eq!(ll.part(24), PartState::Missing);
    ll.push_part(part(100, 5));
    let pl = parse_checked(&ll, false);
    assert!(!pl.ended && pl.segments.last().unwrap().discontinuity);
}

/// Parts longer than the configured target (a frame longer than it) raise
/// PART-TARGET rather than break the rule.
#[test]
fn a_longer_part_raises_the_part_target() {
    let mut ll = LowLatency::new(config());
    ll.set_init(Bytes::from_static(b"i"));
    ll.push_part(PartIn {
        duration_us: 500_000,
        ..part(0, 5)
    });
    let pl = parse_checked(&ll, false);
    assert_eq!(pl.part_target, 0.5);
    assert!(pl.part_hold_back >= 1.5);
}

/// What a rendition report says of a playlist: its newest part, by segment
/// and index within it, moving on as parts come and segments close.
#[test]
fn the_last_part_is_what_a_rendition_report_names() {
    let mut ll = LowLatency::new(config());
    assert_eq!(ll.last_part(), None);
    ll.set_init(Bytes::from_static(b"init"));
    ll.push_part(part(0, 5));
    assert_eq!(ll.last_part(), Some((0, 0)));
    for i in 1..10 {
        ll.push_part(part(i, 5));
    }
    // 2 s segments of 200 ms parts: ten parts in segment 0, the tenth at
    // index 9 (the segment closes at the next keyframe).
    assert_eq!(ll.last_part(), Some((0, 9)));
    ll.push_part(part(10, 5));
    assert_eq!(ll.last_part(), Some((1, 0)));
    // Agrees with the playlist: part 10 is listed, the hint names 11.
    parse_checked(&ll, false);
    let text = ll.playlist(false);
    assert!(text.contains("URI=\"t-p10.m4s\""), "{text}");
    assert!(
        text.contains("PRELOAD-HINT:TYPE=PART,URI=\"t-p11.m4s\""),
        "{text}"
    );
}
