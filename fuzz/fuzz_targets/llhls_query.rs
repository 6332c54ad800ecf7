//! Fuzzes what an LL-HLS client puts in its URLs: the playlist query
//! (`_HLS_msn`, `_HLS_part`, `_HLS_skip` among other parameters) and the
//! media file names below `/{app}/{stream}/`.
//!
//! The query is parsed, and an accepted one is asked of a live playlist
//! state (the blocking-reload decision, and the part lookup a preload hint
//! makes) at several points of a stream. Errors are fine; panics are bugs,
//! and so is an accepted query whose directives are not spelled in it,
//! `_HLS_part` accepted without `_HLS_msn`, a request more than two
//! segments ahead not called too far, or a file name accepted that does not
//! start with the session's prefix.

#![no_main]

use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir_hls::{parse_query, Blocking, LlConfig, LlFile, LowLatency, PartIn};

const PREFIX: &str = "k2x9-";

fn state(parts: i64) -> LowLatency {
    let mut ll = LowLatency::new(LlConfig {
        prefix: PREFIX.into(),
        window: Duration::from_secs(6),
        ..LlConfig::default()
    });
    ll.set_init(Bytes::from_static(b"init"));
    for i in 0..parts {
        ll.push_part(PartIn {
            data: Bytes::from_static(b"part"),
            dts_us: i * 200_000,
            duration_us: 200_000,
            independent: i % 5 == 0,
            wall_ms: i * 200,
        });
    }
    ll
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(file) = LlFile::parse(PREFIX, text) {
        assert!(text.starts_with(PREFIX), "{text} accepted as {file:?}");
        assert!(text.ends_with(".m4s") || text.ends_with(".mp4"));
    }
    let Ok(d) = parse_query(Some(text)) else {
        return;
    };
    let pairs: Vec<&str> = text.split('&').collect();
    if let Some(msn) = d.msn {
        assert!(pairs.iter().any(|p| {
            p.strip_prefix("_HLS_msn=")
                .is_some_and(|v| v.parse() == Ok(msn))
        }));
    }
    if let Some(part) = d.part {
        assert!(
            d.msn.is_some(),
            "_HLS_part without _HLS_msn accepted: {text}"
        );
        assert!(pairs.iter().any(|p| {
            p.strip_prefix("_HLS_part=")
                .is_some_and(|v| v.parse() == Ok(part))
        }));
    }
    assert_eq!(
        d.skip,
        pairs.contains(&"_HLS_skip=YES") || pairs.contains(&"_HLS_skip=v2")
    );
    let Some(msn) = d.msn else {
        return;
    };
    // Before any part, mid-segment, and after the window slid.
    for parts in [0, 7, 60] {
        let ll = state(parts);
        let answer = ll.blocking(msn, d.part);
        // Ten parts of 200 ms make a 2 s segment: the newest MSN.
        let newest = u64::try_from((parts - 1).max(0) / 10).unwrap_or(0);
        if msn > newest + 2 {
            assert_eq!(answer, Blocking::TooFar, "msn {msn} after {parts} parts");
        }
        if let Some(n) = d.part {
            let _ = ll.part(n);
        }
        let _ = ll.playlist(d.skip);
    }
});
