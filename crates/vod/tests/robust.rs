//! Corrupt and truncated input: an error or an index, never a panic, and
//! whatever is indexed lies inside the input.

use proptest::prelude::*;
use weir_vod::{hls, Index};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn check(data: &[u8]) {
    if let Ok(index) = Index::from_bytes(data) {
        for t in &index.tracks {
            for s in &t.samples {
                assert!(s.offset + u64::from(s.size) <= data.len() as u64);
            }
        }
        let bytes = bytes::Bytes::copy_from_slice(data);
        for f in index.frames(bytes.clone()) {
            let _ = f;
        }
        let mut head = weir_vod::Playhead::new(&index);
        head.seek(&index, 1_000_000);
        loop {
            let batch = head.take(&index, i64::MAX, 1 << 16);
            if batch.samples.is_empty() {
                break;
            }
            let end = (batch.range.end as usize).min(bytes.len());
            let start = (batch.range.start as usize).min(end);
            let _ = batch.frames(&index, &bytes.slice(start..end));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn truncation_never_panics(which in 0usize..5, cut in 0.0f64..1.0) {
        let names = ["plain_faststart.mp4", "plain_moov_end.mp4", "frag.mp4",
                     "frag_base_moof.mp4", "hevc_opus_frag.mp4"];
        let data = fixture(names[which]);
        let cut = (data.len() as f64 * cut) as usize;
        check(&data[..cut]);
    }

    #[test]
    fn flipped_bytes_never_panic(
        which in 0usize..5,
        flips in proptest::collection::vec((0.0f64..0.2, any::<u8>()), 1..8),
    ) {
        let names = ["plain_faststart.mp4", "plain_moov_end.mp4", "frag.mp4",
                     "frag_base_moof.mp4", "hevc_opus_frag.mp4"];
        let mut data = fixture(names[which]);
        // The boxes are in the first fifth (faststart, fragment headers)
        // or the tail (moov at the end): flip in both.
        let len = data.len();
        for (i, (at, v)) in flips.into_iter().enumerate() {
            let pos = (len as f64 * at) as usize;
            let pos = if i % 2 == 0 { pos } else { len - 1 - pos };
            data[pos] = v;
        }
        check(&data);
    }
}

#[test]
fn huge_counts_are_refused_without_allocating() {
    // A moof whose trun claims 2^32-1 inherited samples, after a real init.
    let data = fixture("frag.mp4");
    let index = Index::from_bytes(&data).unwrap();
    let mut file = data[..index.init.clone().unwrap().end as usize].to_vec();
    let trun: &[u8] = &[
        0, 0, 0, 16, b't', b'r', b'u', b'n', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
    ];
    let tfhd: &[u8] = &[0, 0, 0, 16, b't', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 1];
    let mfhd: &[u8] = &[0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 1];
    let traf_len = 8 + tfhd.len() + trun.len();
    let moof_len = 8 + mfhd.len() + traf_len;
    file.extend_from_slice(&(moof_len as u32).to_be_bytes());
    file.extend_from_slice(b"moof");
    file.extend_from_slice(mfhd);
    file.extend_from_slice(&(traf_len as u32).to_be_bytes());
    file.extend_from_slice(b"traf");
    file.extend_from_slice(tfhd);
    file.extend_from_slice(trun);
    file.extend_from_slice(&[0, 0, 0, 8, b'm', b'd', b'a', b't']);
    assert!(Index::from_bytes(&file).is_err());
}

/// Found by the `mp4_index` fuzz target: an `sgpd` of an unknown grouping
/// type claiming billions of zero-byte entries made `mp4-atom` fill memory
/// (2.6 GB and growing) while reading nothing. Unused boxes are renamed
/// `free` before decoding, so this is an index or an error at once.
#[test]
fn a_sample_group_with_billions_of_empty_entries_costs_nothing() {
    let data = fixture("fuzz/sgpd_count_oom.mp4");
    let _ = Index::from_bytes(&data);
}

/// Found by the `mp4_index` fuzz target: sample times near `i64::MAX` µs
/// overflowed the playlist's target duration (a panic with overflow
/// checks, a target of 1 s without). The target saturates instead.
#[test]
fn a_segment_of_absurd_length_gets_a_saturated_target_duration() {
    let data = fixture("fuzz/segment_span_overflow.mp4");
    if let Ok(index) = Index::from_bytes(&data) {
        let segments = hls::segments(&index, 2_000_000);
        let _ = hls::playlist(&index, &segments, "x.mp4");
    }
    let index = Index::from_bytes(&fixture("frag.mp4")).unwrap();
    let huge = [hls::Segment {
        start_us: 0,
        end_us: i64::MAX,
        bytes: None,
    }];
    let p = hls::playlist(&index, &huge, "x.mp4");
    assert!(
        p.contains(&format!("#EXT-X-TARGETDURATION:{}\n", i64::MAX / 1_000_000)),
        "{p}"
    );
}

/// Every input the `mp4_index` fuzz target found, through the target's
/// own steps: index, frames, playlist, a segment, a clip.
#[test]
fn fuzz_findings_replay_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        n += 1;
        let Ok(index) = Index::from_bytes(&data) else {
            continue;
        };
        for f in index.frames(bytes::Bytes::copy_from_slice(&data)) {
            let _ = f;
        }
        let window = weir_vod::Window::whole(&data);
        let segments = hls::segments(&index, 2_000_000);
        let _ = hls::playlist(&index, &segments, "x.mp4");
        if let Some(s) = segments.first() {
            let _ = hls::segment(&index, window, s, 1);
        }
        let source = weir_vod::Source {
            index: &index,
            data: window,
            shift_us: 0,
        };
        let _ = weir_vod::clip(&[source], 0, i64::MAX / 2, weir_vod::ClipFormat::Plain);
    }
    assert!(n >= 3, "the findings are in testdata/fuzz");
}
