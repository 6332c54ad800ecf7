//! Checks our output with ffmpeg's own readers: a file re-muxed by
//! `write_frame_tag` must probe like the original, and our ADTS headers must
//! match ffmpeg's ADTS muxer byte for byte.
//!
//! These tests need `ffprobe` and `ffmpeg` on PATH and fail (rather than
//! skip) without them, so a CI image missing them is noticed.

#[path = "common/frames.rs"]
mod frames;

use std::path::Path;
use std::process::Command;

use bytes::BytesMut;
use weir_codec::aac::{adts_header, parse_asc};
use weir_flv::{write_frame_tag, FLV_HEADER_AV};
use weir_media::Codec;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample.flv");

fn tool(name: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{name}` ({e}): install ffmpeg, e.g. `apt-get install ffmpeg`")
    });
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Per-stream `codec,packets` lines as ffprobe counts them.
fn probe(path: &Path) -> String {
    let out = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,nb_read_packets",
            "-of",
            "csv=p=0",
            path.to_str().unwrap(),
        ],
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn ffprobe_reads_our_remuxed_file() {
    let mut out = BytesMut::from(&FLV_HEADER_AV[..]);
    for f in frames::read_frames(SAMPLE) {
        write_frame_tag(&f, &mut out);
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("weir-flv-remuxed.flv");
    std::fs::write(&path, &out).unwrap();
    let ours = probe(&path);
    assert_eq!(ours, probe(Path::new(SAMPLE)));
    assert!(ours.contains("h264,320,240,50"), "{ours}");
    assert!(ours.contains("aac,44100,88"), "{ours}");
}

#[test]
fn adts_matches_ffmpeg() {
    let reference = tool(
        "ffmpeg",
        &[
            "-v", "error", "-i", SAMPLE, "-vn", "-c:a", "copy", "-f", "adts", "-",
        ],
    );
    let frames = frames::read_frames(SAMPLE);
    let config = frames
        .iter()
        .find(|f| f.codec == Codec::Aac && f.config)
        .unwrap();
    let asc = parse_asc(&config.data).unwrap();
    let mut ours = Vec::new();
    for f in frames.iter().filter(|f| f.codec == Codec::Aac && !f.config) {
        ours.extend_from_slice(&adts_header(&asc, f.data.len()).unwrap());
        ours.extend_from_slice(&f.data);
    }
    assert_eq!(ours.len(), reference.len());
    assert!(ours == reference, "ADTS stream differs from ffmpeg's");
}
