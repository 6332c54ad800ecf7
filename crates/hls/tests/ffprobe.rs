//! Real encoder output through the segmenter, checked by ffprobe: each
//! segment alone and all of them concatenated.

#[path = "../../mpegts/tests/common/ffprobe.rs"]
mod ffprobe;
#[path = "../../flv/tests/common/frames.rs"]
mod frames;

use std::path::Path;

use weir_hls::{HlsConfig, SegmentEvent, Segmenter};
use weir_media::TrackKind;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mpegts/testdata/sample.flv");

#[test]
fn ffprobe_reads_the_segments_back_to_back() {
    let frames = frames::read_frames(SAMPLE);
    let mut seg = Segmenter::new(HlsConfig::default(), "sample");
    let mut events: Vec<SegmentEvent> = frames.iter().flat_map(|f| seg.push(f)).collect();
    events.extend(seg.end());
    let segments: Vec<_> = events
        .into_iter()
        .map(|e| match e {
            SegmentEvent::Finished(s) => s,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    // ffmpeg put a keyframe every 2 s into the 3 s sample.
    assert_eq!(segments.len(), 2);
    assert!(
        seg.playlist().contains("#EXTINF:2.000,\nsample-0.ts\n"),
        "{}",
        seg.playlist()
    );

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut all = Vec::new();
    for s in &segments {
        let path = dir.join(format!("weir-hls-{}", seg.segment_name(s.seq)));
        std::fs::write(&path, &s.data).unwrap();
        assert_eq!(ffprobe::codecs(&path), ["h264", "aac"]);
        let (packets, warnings) = ffprobe::packets(&path);
        assert_eq!(warnings, "", "segment {}", s.seq);
        let first_video = packets.iter().find(|p| p.codec_type == "video").unwrap();
        assert!(first_video.key, "segment {} starts with a keyframe", s.seq);
        all.extend_from_slice(&s.data);
    }

    let path = dir.join("weir-hls-all.ts");
    std::fs::write(&path, &all).unwrap();
    let (packets, warnings) = ffprobe::packets(&path);
    assert_eq!(warnings, "", "concatenated segments");
    for (kind, track) in [("video", TrackKind::Video), ("audio", TrackKind::Audio)] {
        let want = frames
            .iter()
            .filter(|f| f.kind == track && !f.config)
            .count();
        let got: Vec<_> = packets.iter().filter(|p| p.codec_type == kind).collect();
        assert_eq!(got.len(), want, "{kind} packets");
        assert!(
            got.windows(2).all(|w| w[0].dts < w[1].dts),
            "{kind} DTS increasing"
        );
    }
}
