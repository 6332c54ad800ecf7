//! The muxer's output checked by ffprobe and ffmpeg: a real H.264 + AAC
//! stream (with B-frames, so composition offsets matter) must come out as a
//! file they read without complaint, with every packet, in order, at its
//! timestamps; and so must a file a late joiner gets.

mod common;

use common::{ffprobe, mux, run, sample_frames, write_temp};
use serde_json::Value;
use weir_fmp4::{Fmp4Config, Fmp4Output};
use weir_media::TrackKind;

fn packets<'a>(probe: &'a Value, kind: &str) -> Vec<&'a Value> {
    let index = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream"))["index"]
        .clone();
    probe["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"] == index)
        .collect()
}

fn ts(p: &Value, field: &str) -> i64 {
    p[field]
        .as_i64()
        .unwrap_or_else(|| panic!("packet without {field}: {p}"))
}

/// Decodes every frame of a file with ffmpeg; returns its complaints.
fn decode_errors(path: &std::path::Path) -> String {
    let (_, stderr) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-f",
            "null",
            "-",
        ],
    );
    stderr
}

#[test]
fn whole_stream_probes_as_h264_and_aac_with_every_packet() {
    let frames = sample_frames();
    let (muxer, out) = mux(Fmp4Config::default(), &frames);
    let mut file = Vec::new();
    for o in &out {
        match o {
            Fmp4Output::Init(b) | Fmp4Output::Fragment { data: b, .. } => file.extend_from_slice(b),
        }
    }
    assert!(matches!(out[0], Fmp4Output::Init(_)));
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Fmp4Output::Init(_)))
            .count(),
        1
    );
    assert_eq!(
        muxer.codecs_string().as_deref(),
        Some("video/mp4; codecs=\"avc1.64001e,mp4a.40.2\"")
    );
    let path = write_temp("whole", &file);
    let probe = ffprobe(&path);

    let streams = probe["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(
        (
            video["codec_name"].as_str(),
            video["width"].as_i64(),
            video["height"].as_i64()
        ),
        (Some("h264"), Some(640), Some(360))
    );
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(
        (
            audio["codec_name"].as_str(),
            audio["sample_rate"].as_str(),
            audio["channels"].as_i64()
        ),
        (Some("aac"), Some("44100"), Some(1))
    );

    let media = |kind| frames.iter().filter(move |f| f.kind == kind && !f.config);
    let vpk = packets(&probe, "video");
    let apk = packets(&probe, "audio");
    assert_eq!(vpk.len(), media(TrackKind::Video).count());
    assert_eq!(apk.len(), media(TrackKind::Audio).count());
    for pk in [&vpk, &apk] {
        for w in pk.windows(2) {
            assert!(
                ts(w[0], "dts") < ts(w[1], "dts"),
                "DTS not increasing: {} then {}",
                w[0],
                w[1]
            );
        }
    }
    // Video timestamps are the input's, in 90 kHz units, B-frame offsets included.
    for (p, f) in vpk.iter().zip(media(TrackKind::Video)) {
        assert_eq!(ts(p, "dts"), f.dts_us * 90 / 1000);
        assert_eq!(ts(p, "pts"), f.pts_us() * 90 / 1000);
        assert_eq!(p["flags"].as_str().unwrap().starts_with('K'), f.key);
        assert_eq!(
            p["size"].as_str().unwrap().parse::<usize>().unwrap(),
            f.data.len()
        );
    }
    // Audio decode times are contiguous 1024-sample frames.
    assert!(apk.iter().all(|p| p["duration"].as_i64() == Some(1024)));
    assert!(apk
        .windows(2)
        .all(|w| ts(w[1], "dts") - ts(w[0], "dts") == 1024));
    assert_eq!(decode_errors(&path), "");
    std::fs::remove_file(path).ok();
}

#[test]
fn late_joiner_from_the_second_key_fragment_decodes() {
    let frames = sample_frames();
    let (muxer, out) = mux(Fmp4Config::default(), &frames);
    let key_at: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, Fmp4Output::Fragment { key: true, .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(key_at.len(), 2, "one key fragment per GOP");
    let mut file = muxer.init_segment().unwrap().to_vec();
    for o in &out[key_at[1]..] {
        if let Fmp4Output::Fragment { data, .. } = o {
            file.extend_from_slice(data);
        }
    }
    let path = write_temp("late", &file);
    let probe = ffprobe(&path);
    let vpk = packets(&probe, "video");
    let second_gop = frames
        .iter()
        .filter(|f| f.kind == TrackKind::Video && !f.config)
        .skip(60)
        .count();
    assert_eq!(vpk.len(), second_gop);
    assert!(vpk[0]["flags"].as_str().unwrap().starts_with('K'));
    assert_eq!(ts(vpk[0], "dts"), 2000 * 90);
    assert!(!packets(&probe, "audio").is_empty());

    let (stdout, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(
        stdout.trim().parse::<usize>().unwrap(),
        second_gop,
        "every frame decodes"
    );
    assert_eq!(decode_errors(&path), "");
    std::fs::remove_file(path).ok();
}

#[test]
fn audio_only_and_video_only_streams_probe() {
    let frames = sample_frames();
    for (kind, codec) in [(TrackKind::Audio, "aac"), (TrackKind::Video, "h264")] {
        let only: Vec<_> = frames.iter().filter(|f| f.kind == kind).cloned().collect();
        let (muxer, out) = mux(Fmp4Config::default(), &only);
        let mut file = Vec::new();
        for o in &out {
            match o {
                Fmp4Output::Init(b) | Fmp4Output::Fragment { data: b, .. } => {
                    file.extend_from_slice(b)
                }
            }
        }
        let path = write_temp(codec, &file);
        let probe = ffprobe(&path);
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0]["codec_name"].as_str(), Some(codec));
        let media = only.iter().filter(|f| !f.config).count();
        assert_eq!(probe["packets"].as_array().unwrap().len(), media);
        assert_eq!(decode_errors(&path), "");
        let mime = muxer.codecs_string().unwrap();
        assert!(
            mime.starts_with(if kind == TrackKind::Audio {
                "audio/mp4;"
            } else {
                "video/mp4;"
            }),
            "{mime}"
        );
        std::fs::remove_file(path).ok();
    }
}

#[test]
fn h265_stream_probes_and_decodes() {
    let frames = common::hevc_frames();
    let (muxer, out) = mux(Fmp4Config::default(), &frames);
    let mime = muxer.codecs_string().unwrap();
    assert!(mime.starts_with("video/mp4; codecs=\"hvc1.1.6.L"), "{mime}");
    let mut file = Vec::new();
    for o in &out {
        match o {
            Fmp4Output::Init(b) | Fmp4Output::Fragment { data: b, .. } => file.extend_from_slice(b),
        }
    }
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Fmp4Output::Fragment { key: true, .. }))
            .count(),
        2
    );
    let path = write_temp("hevc", &file);
    let probe = ffprobe(&path);
    let stream = &probe["streams"][0];
    assert_eq!(
        (
            stream["codec_name"].as_str(),
            stream["width"].as_i64(),
            stream["height"].as_i64()
        ),
        (Some("hevc"), Some(320), Some(180))
    );
    let vpk = packets(&probe, "video");
    let media: Vec<_> = frames.iter().filter(|f| !f.config).collect();
    assert_eq!(vpk.len(), media.len());
    for (p, f) in vpk.iter().zip(&media) {
        assert_eq!(
            (ts(p, "dts"), ts(p, "pts")),
            (f.dts_us * 90 / 1000, f.pts_us() * 90 / 1000)
        );
    }
    assert_eq!(decode_errors(&path), "");
    std::fs::remove_file(path).ok();
}
