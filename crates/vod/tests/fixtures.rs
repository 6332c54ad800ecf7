//! The reader over ffmpeg-made fixtures (testdata/): plain MP4 with the
//! moov first and last, fragmented MP4 with and without
//! default-base-is-moof, H.265 + Opus; torn and corrupt copies; clips and
//! HLS segments indexed again.

use bytes::Bytes;
use weir_media::{Codec, TrackKind};
use weir_vod::{clip, hls, ClipFormat, Index, Layout, Playhead, Source, VodError, Window};

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into()
}

const H264_AAC: [&str; 4] = [
    "plain_faststart.mp4",
    "plain_moov_end.mp4",
    "frag.mp4",
    "frag_base_moof.mp4",
];

/// (dts, duration, cts, key, size) of a sample.
type Row = (u64, u32, i32, bool, u32);

/// Every sample of every track.
fn timeline(index: &Index) -> Vec<Vec<Row>> {
    index
        .tracks
        .iter()
        .map(|t| {
            t.samples
                .iter()
                .map(|s| (s.dts, s.duration, s.cts, s.key, s.size))
                .collect()
        })
        .collect()
}

#[test]
fn indexes_h264_aac_in_every_layout() {
    for name in H264_AAC {
        let data = fixture(name);
        let index = Index::from_bytes(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        let layout = if name.starts_with("frag") {
            Layout::Fragmented
        } else {
            Layout::Plain
        };
        assert_eq!(index.layout, layout, "{name}");
        let video = index.video().expect("video");
        let audio = index.audio().expect("audio");
        assert_eq!(video.codec, Codec::H264);
        assert_eq!((video.width, video.height), (160, 120));
        // 3 s at 15 fps, a keyframe every 15 frames.
        assert_eq!(video.samples.len(), 45, "{name}");
        let keys: Vec<usize> = (0..45).filter(|&i| video.samples[i].key).collect();
        assert_eq!(keys, vec![0, 15, 30], "{name}");
        assert!(video.samples.iter().any(|s| s.cts != 0), "B-frames: {name}");
        let avcc = video.config.as_ref().expect("avcC");
        assert_eq!(avcc[0], 1, "avcC version");
        assert_eq!(audio.codec, Codec::Aac);
        assert_eq!(audio.sample_rate, 48_000);
        assert!(audio.channels >= 1);
        assert!(
            audio
                .config
                .as_deref()
                .is_some_and(|c| c.len() >= 2 && c[0] >> 3 == 2),
            "AAC LC ASC"
        );
        assert!((138..=145).contains(&audio.samples.len()), "{name}");
        let d = index.duration_us();
        // Fragmented: the B-frame delay is not taken off by an edit list.
        assert!((2_900_000..=3_200_000).contains(&d), "{name}: {d}");
        for t in &index.tracks {
            for s in &t.samples {
                assert!(s.offset + u64::from(s.size) <= data.len() as u64);
            }
        }
        if layout == Layout::Fragmented {
            assert_eq!(index.fragments.len(), 3, "{name}");
            assert!(index.fragments.iter().all(|f| f.key));
            assert_eq!(index.complete_len, data.len() as u64, "mfra included");
        }
    }
}

#[test]
fn layouts_agree_on_the_samples() {
    let a = Index::from_bytes(&fixture("plain_faststart.mp4")).unwrap();
    let b = Index::from_bytes(&fixture("plain_moov_end.mp4")).unwrap();
    let c = Index::from_bytes(&fixture("frag.mp4")).unwrap();
    assert_eq!(timeline(&a), timeline(&b));
    // The fragmented file's video timeline is ffmpeg's own (it may start
    // at a different dts): compare sizes and keys.
    let sizes = |i: &Index| -> Vec<Vec<(bool, u32)>> {
        timeline(i)
            .into_iter()
            .map(|t| t.into_iter().map(|s| (s.3, s.4)).collect())
            .collect()
    };
    assert_eq!(sizes(&a), sizes(&c));
}

#[test]
fn indexes_h265_and_opus() {
    let index = Index::from_bytes(&fixture("hevc_opus_frag.mp4")).unwrap();
    let video = index.video().unwrap();
    let audio = index.audio().unwrap();
    assert_eq!(video.codec, Codec::H265);
    assert_eq!(video.config.as_ref().unwrap()[0], 1, "hvcC version");
    assert_eq!(audio.codec, Codec::Opus);
    let head = audio.config.as_ref().unwrap();
    assert_eq!(&head[..8], b"OpusHead");
    assert_eq!(audio.timescale, 48_000);
    assert_eq!(video.samples.len(), 45);
}

#[test]
fn frames_come_config_first_in_time_order() {
    let data = fixture("frag.mp4");
    let index = Index::from_bytes(&data).unwrap();
    let frames: Vec<_> = index
        .frames(data.clone())
        .collect::<Result<_, _>>()
        .unwrap();
    let total: usize = index.tracks.iter().map(|t| t.samples.len()).sum();
    assert_eq!(frames.len(), total + 2);
    assert!(frames[0].config && frames[1].config);
    assert_eq!(frames[0].kind, TrackKind::Video);
    let media = &frames[2..];
    assert!(media.windows(2).all(|w| w[0].dts_us <= w[1].dts_us));
    assert!(
        media
            .iter()
            .find(|f| f.kind == TrackKind::Video)
            .unwrap()
            .key
    );
    // A frame's payload is the sample's bytes: AVCC length prefixes.
    let v = media.iter().find(|f| f.kind == TrackKind::Video).unwrap();
    let nal = u32::from_be_bytes([v.data[0], v.data[1], v.data[2], v.data[3]]) as usize;
    assert!(nal + 4 <= v.data.len());
}

#[test]
fn torn_fragmented_file_keeps_complete_fragments() {
    let data = fixture("frag.mp4");
    let full = Index::from_bytes(&data).unwrap();
    let frag = &full.fragments;
    // Cut inside the third fragment's mdat, then inside its moof.
    for cut in [frag[2].range.end - 10, frag[2].range.start + 20] {
        let index = Index::from_bytes(&data[..cut as usize]).unwrap();
        assert_eq!(index.fragments.len(), 2, "cut at {cut}");
        assert_eq!(index.complete_len, frag[1].range.end);
        assert_eq!(index.video().unwrap().samples.len(), 30);
    }
    // Only the init segment left: tracks without samples are no tracks.
    let init = full.init.clone().unwrap();
    assert_eq!(
        Index::from_bytes(&data[..init.end as usize]).unwrap_err(),
        VodError::NoTracks
    );
    // Torn inside the moov: an error.
    assert!(Index::from_bytes(&data[..100]).is_err());
}

#[test]
fn truncated_plain_file_is_an_error() {
    let data = fixture("plain_faststart.mp4");
    assert!(matches!(
        Index::from_bytes(&data[..data.len() - 1000]),
        Err(VodError::SampleOutside { .. })
    ));
    let data = fixture("plain_moov_end.mp4");
    assert!(Index::from_bytes(&data[..data.len() - 1000]).is_err());
    assert_eq!(Index::from_bytes(b"").unwrap_err(), VodError::NoMoov);
    assert!(Index::from_bytes(b"\0\0\0\x01moov").is_err());
}

fn reindex(bytes: &[u8]) -> Index {
    Index::from_bytes(bytes).expect("output indexes")
}

#[test]
fn clip_cuts_at_the_keyframe_before_the_start() {
    for name in ["plain_moov_end.mp4", "frag.mp4"] {
        let data = fixture(name);
        let index = Index::from_bytes(&data).unwrap();
        let (start, _) = index.span_us().unwrap();
        let source = Source {
            index: &index,
            data: Window::whole(&data),
            shift_us: -start,
        };
        for format in [ClipFormat::Fragmented, ClipFormat::Plain] {
            // 1.5 s to 2.5 s: starts at the keyframe at 1 s.
            let out = clip(&[source], 1_500_000, 2_500_000, format).unwrap();
            let got = reindex(&out);
            let v = got.video().unwrap();
            assert_eq!(v.samples.len(), 23, "{name} {format:?}");
            assert!(v.samples[0].key);
            assert_eq!(v.samples[0].dts, 0);
            let a = got.audio().unwrap();
            assert!((65..=73).contains(&a.samples.len()), "{}", a.samples.len());
            assert_eq!(
                got.layout,
                if format == ClipFormat::Plain {
                    Layout::Plain
                } else {
                    Layout::Fragmented
                }
            );
        }
    }
}

#[test]
fn clip_joins_files_on_one_timeline() {
    let data = fixture("frag.mp4");
    let index = Index::from_bytes(&data).unwrap();
    let (start, end) = index.span_us().unwrap();
    let a = Source {
        index: &index,
        data: Window::whole(&data),
        shift_us: -start,
    };
    let b = Source {
        shift_us: end - start - start,
        ..a
    };
    let out = clip(&[a, b], 0, 10_000_000, ClipFormat::Fragmented).unwrap();
    let got = reindex(&out);
    let v = got.video().unwrap();
    assert_eq!(v.samples.len(), 90);
    assert!(v.samples.windows(2).all(|w| w[0].dts < w[1].dts));
    assert_eq!(got.fragments.len(), 6);
    let other = Index::from_bytes(&fixture("hevc_opus_frag.mp4")).unwrap();
    let hevc = fixture("hevc_opus_frag.mp4");
    let c = Source {
        index: &other,
        data: Window::whole(&hevc),
        shift_us: 0,
    };
    assert!(matches!(
        clip(&[a, c], 0, 10_000_000, ClipFormat::Plain),
        Err(VodError::Incompatible(_))
    ));
    assert!(matches!(
        clip(&[a], 50_000_000, 60_000_000, ClipFormat::Plain),
        Err(VodError::EmptyRange)
    ));
}

/// Fragments addressed from their own `moof` are byte ranges of the file;
/// ffmpeg's absolute `base_data_offset`s would not survive MSE, so such
/// a file gets generated segments, which index back to its timeline.
#[test]
fn hls_of_a_fragmented_file_is_byte_ranges_when_they_stand_alone() {
    let absolute = fixture("frag.mp4");
    let index = Index::from_bytes(&absolute).unwrap();
    assert!(index.fragments.iter().all(|f| !f.self_contained));
    let segs = hls::segments(&index, 2_000_000);
    assert!(segs.iter().all(|s| s.bytes.is_none()));
    let p = hls::playlist(&index, &segs, "x.mp4");
    assert!(p.contains("#EXT-X-MAP:URI=\"x.mp4?hls=init\""), "{p}");
    assert!(!p.contains("#EXT-X-BYTERANGE"), "{p}");
    let mut all = hls::init_segment(&index).unwrap().to_vec();
    for (n, s) in segs.iter().enumerate() {
        let span = hls::segment_span(&index, s).unwrap();
        let window = Window {
            base: span.start,
            bytes: &absolute[span.start as usize..span.end as usize],
        };
        all.extend_from_slice(&hls::segment(&index, window, s, n as u32 + 1).unwrap());
    }
    assert_eq!(timeline(&reindex(&all)), timeline(&index));

    let data = fixture("frag_base_moof.mp4");
    let index = Index::from_bytes(&data).unwrap();
    assert!(index.fragments.iter().all(|f| f.self_contained));
    let segs = hls::segments(&index, 2_000_000);
    assert_eq!(segs.len(), 2);
    assert_eq!(
        segs[0].bytes.as_ref().unwrap().start,
        index.fragments[0].range.start
    );
    assert_eq!(
        segs[0].bytes.as_ref().unwrap().end,
        index.fragments[1].range.end
    );
    let p = hls::playlist(&index, &segs, "x.mp4");
    assert!(p.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n"));
    assert!(p.contains("#EXT-X-TARGETDURATION:2\n"));
    let init = index.init.clone().unwrap();
    assert!(p.contains(&format!(
        "#EXT-X-MAP:URI=\"x.mp4\",BYTERANGE=\"{}@0\"",
        init.end
    )));
    assert!(p.contains("#EXT-X-BYTERANGE:"));
    assert!(p.ends_with("#EXT-X-ENDLIST\n"));
    let total: i64 = segs.iter().map(|s| s.duration_us()).sum();
    assert_eq!(total, index.duration_us());
}

#[test]
fn hls_of_a_plain_file_generates_segments() {
    let data = fixture("plain_moov_end.mp4");
    let index = Index::from_bytes(&data).unwrap();
    let segs = hls::segments(&index, 2_000_000);
    assert_eq!(segs.len(), 2);
    assert!(segs.iter().all(|s| s.bytes.is_none()));
    let p = hls::playlist(&index, &segs, "a%20b.mp4");
    assert!(p.contains("#EXT-X-MAP:URI=\"a%20b.mp4?hls=init\""));
    assert!(p.contains("a%20b.mp4?hls=1\n"));
    // A player's key travels in the segment URIs.
    let keyed = hls::playlist(&index, &segs, "a.mp4?key=k");
    assert!(keyed.contains("#EXT-X-MAP:URI=\"a.mp4?key=k&hls=init\""));
    assert!(keyed.contains("a.mp4?key=k&hls=1\n"));
    // init + every segment is one fragmented file with every sample.
    let mut all = hls::init_segment(&index).unwrap().to_vec();
    for (n, s) in segs.iter().enumerate() {
        let span = hls::segment_span(&index, s).unwrap();
        let window = Window {
            base: span.start,
            bytes: &data[span.start as usize..span.end as usize],
        };
        all.extend_from_slice(&hls::segment(&index, window, s, n as u32 + 1).unwrap());
    }
    let got = reindex(&all);
    assert_eq!(timeline(&got), timeline(&index));
}

#[test]
fn recorder_output_round_trips() {
    // What weir's recorder writes: the live fMP4 muxer fed the frames,
    // its init segment and fragments appended.
    let data = fixture("frag.mp4");
    let index = Index::from_bytes(&data).unwrap();
    let mut mux = weir_fmp4::Fmp4Muxer::new(weir_fmp4::Fmp4Config {
        max_fragment_ms: 1_000,
        ..Default::default()
    });
    let mut file = Vec::new();
    let mut outputs = Vec::new();
    for f in index.frames(data.clone()) {
        outputs.extend(mux.push(&f.unwrap()).unwrap());
    }
    outputs.extend(mux.finish().unwrap());
    for o in outputs {
        match o {
            weir_fmp4::Fmp4Output::Init(b) => file.extend_from_slice(&b),
            weir_fmp4::Fmp4Output::Fragment { data, .. } => file.extend_from_slice(&data),
        }
    }
    let got = reindex(&file);
    assert_eq!(got.layout, Layout::Fragmented);
    let v = got.video().unwrap();
    assert_eq!(v.samples.len(), 45);
    assert_eq!(v.samples.iter().filter(|s| s.key).count(), 3);
    assert!(got.fragments.len() >= 3);
    assert_eq!(got.fragments.iter().filter(|f| f.key).count(), 3);
    assert!(
        got.fragments.iter().all(|f| f.self_contained),
        "weir's fragments play as byte ranges in MSE"
    );
    // Same payloads, same order.
    let sizes = |i: &Index| {
        i.video()
            .unwrap()
            .samples
            .iter()
            .map(|s| s.size)
            .collect::<Vec<_>>()
    };
    assert_eq!(sizes(&got), sizes(&index));
}

/// Everything a playhead yields from `from_us`, batch by batch with
/// bounded spans, each batch read as its own byte range.
fn paced(data: &Bytes, index: &Index, from_us: i64, step_us: i64, span: u64) -> Vec<(i64, Bytes)> {
    let mut head = Playhead::new(index);
    let at = head.seek(index, from_us);
    let mut until = at;
    let mut out = Vec::new();
    while head.next_us(index).is_some() {
        until += step_us;
        loop {
            let batch = head.take(index, until, span);
            if batch.samples.is_empty() {
                break;
            }
            let range = batch.range.start as usize..batch.range.end as usize;
            if batch.samples.len() > 1 {
                assert!(range.len() as u64 <= span, "a batch's span is bounded");
            }
            let window = data.slice(range);
            for f in batch.frames(index, &window).unwrap() {
                assert!(f.dts_us < until, "only due samples are taken");
                out.push((f.dts_us, f.data));
            }
        }
    }
    out
}

#[test]
fn a_playhead_walks_every_sample_in_bounded_reads() {
    for name in H264_AAC.iter().chain(&["hevc_opus_frag.mp4"]) {
        let data = fixture(name);
        let index = Index::from_bytes(&data).unwrap();
        let all: Vec<(i64, Bytes)> = index
            .frames(data.clone())
            .filter_map(Result::ok)
            .filter(|f| !f.config)
            .map(|f| (f.dts_us, f.data))
            .collect();
        for (step, span) in [(100_000, 1 << 20), (1_000_000, 4096), (40_000, 1)] {
            assert_eq!(
                paced(&data, &index, 0, step, span),
                all,
                "{name} {step} {span}"
            );
        }
    }
}

#[test]
fn a_playhead_seeks_to_the_keyframe_at_or_before() {
    let data = fixture("frag.mp4");
    let index = Index::from_bytes(&data).unwrap();
    let cuts = index.cut_points_us();
    assert!(cuts.len() >= 2, "the fixture has several GOPs");
    let mut head = Playhead::new(&index);
    // Just after the second keyframe: back to it.
    assert_eq!(head.seek(&index, cuts[1] + 1), cuts[1]);
    let first = paced(&data, &index, cuts[1] + 1, 500_000, 1 << 20);
    assert_eq!(first[0].0, cuts[1]);
    let video = index.video().unwrap();
    let key = video
        .samples
        .iter()
        .find(|s| video.dts_us(s) == cuts[1])
        .unwrap();
    assert!(key.key);
    // Before the first, and past the end.
    assert_eq!(head.seek(&index, -5), cuts[0]);
    assert_eq!(head.seek(&index, i64::MAX), *cuts.last().unwrap());
    // Configs for a restart at the landing time.
    let configs = Playhead::configs(&index, cuts[1]);
    assert_eq!(configs.len(), 2);
    assert!(configs.iter().all(|c| c.config && c.dts_us == cuts[1]));
}

#[test]
fn a_batch_outside_its_bytes_is_an_error() {
    let data = fixture("frag.mp4");
    let index = Index::from_bytes(&data).unwrap();
    let mut head = Playhead::new(&index);
    let batch = head.take(&index, i64::MAX, 1 << 20);
    let short = data.slice(batch.range.start as usize..batch.range.end as usize - 1);
    assert!(matches!(
        batch.frames(&index, &short),
        Err(VodError::SampleOutside { .. })
    ));
}
