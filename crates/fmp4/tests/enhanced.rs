//! Streams that ffmpeg 9 publishes over Enhanced RTMP (HEVC, AV1 or VP9
//! video with Opus audio; captured as FLV files in `flv/testdata`, made by
//! `ffmpeg -f lavfi -i testsrc2=size=160x120:rate=10 -f lavfi -i
//! sine=sample_rate=48000 -t 1.5 -c:v {libx265,libsvtav1,libvpx-vp9} -g 5
//! -c:a libopus -ac 2 -f flv`) come out of the muxer as fragmented MP4
//! that ffprobe reads and ffmpeg decodes whole: every video frame, every
//! Opus packet, the picture size in the sample entry.

mod common;

use common::{ffprobe, frames, mux, run, write_temp};
use weir_fmp4::{Fmp4Config, Fmp4Output};
use weir_media::{Codec, TrackKind};

fn check(fixture: &str, codec: Codec, codec_name: &str, mime_prefix: &str) {
    let path = format!("{}/../flv/testdata/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let mut frames = frames::read_frames(&path);
    frames.retain(|f| f.kind != TrackKind::Data);
    let video = frames
        .iter()
        .filter(|f| f.kind == TrackKind::Video && !f.config)
        .count();
    let audio = frames
        .iter()
        .filter(|f| f.kind == TrackKind::Audio && !f.config)
        .count();
    assert!(
        frames.iter().any(|f| f.codec == codec),
        "{fixture}: no {codec:?}"
    );
    let (muxer, out) = mux(Fmp4Config::default(), &frames);
    let codecs = muxer.codecs_string().unwrap();
    assert!(
        codecs.starts_with(&format!("video/mp4; codecs=\"{mime_prefix}"))
            && codecs.ends_with(",opus\""),
        "{codecs}"
    );
    let mut file = Vec::new();
    for o in &out {
        match o {
            Fmp4Output::Init(b) | Fmp4Output::Fragment { data: b, .. } => file.extend_from_slice(b),
        }
    }
    let mp4 = write_temp(fixture, &file);
    let probe = ffprobe(&mp4);
    let streams = probe["streams"].as_array().unwrap();
    let v = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(v["codec_name"], codec_name, "{fixture}");
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(160), Some(120))
    );
    let a = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(
        (a["codec_name"].as_str(), a["channels"].as_i64()),
        (Some("opus"), Some(2))
    );
    let count = |kind: &str| {
        let index = streams.iter().find(|s| s["codec_type"] == kind).unwrap()["index"].clone();
        probe["packets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["stream_index"] == index)
            .count()
    };
    assert_eq!(count("video"), video, "{fixture}: video packets");
    assert_eq!(count("audio"), audio, "{fixture}: audio packets");
    // Every frame decodes, without a complaint.
    let (stdout, stderr) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            mp4.to_str().unwrap(),
            "-f",
            "framemd5",
            "-",
        ],
    );
    assert!(
        stderr.trim().is_empty(),
        "{fixture}: ffmpeg complained: {stderr}"
    );
    let decoded_video = stdout.lines().filter(|l| l.starts_with("0,")).count();
    assert_eq!(decoded_video, video, "{fixture}: decoded video frames");
    let _ = std::fs::remove_file(mp4);
}

#[test]
fn hevc_and_opus() {
    check("ertmp_hevc_opus.flv", Codec::H265, "hevc", "hvc1.1.");
}

#[test]
fn av1_and_opus() {
    check("ertmp_av1_opus.flv", Codec::Av1, "av1", "av01.0.");
}

#[test]
fn vp9_and_opus() {
    check("ertmp_vp9_opus.flv", Codec::Vp9, "vp9", "vp09.00.");
}
