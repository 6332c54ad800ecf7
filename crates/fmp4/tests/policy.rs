//! The fragment policy and the muxer's handling of odd input, checked by
//! decoding its output with `mp4-atom`.

mod common;

use bytes::Bytes;
use common::{mux, sample_frames};
use mp4_atom::{Decode, Moof, Trun};
use weir_fmp4::{Fmp4Config, Fmp4Error, Fmp4Muxer, Fmp4Output, MAX_FRAGMENT_SAMPLES};
use weir_media::{Codec, Frame, TrackKind};

/// One decoded sample of a fragment.
#[derive(Debug, Clone)]
struct Sample {
    track: u32,
    time: u64,
    duration: u32,
    cts: i64,
    sync: bool,
    data: Bytes,
}

/// Decodes a `moof` + `mdat`, checking that every `trun` points inside the
/// `mdat`; also returns the trun versions.
fn samples(fragment: &Bytes) -> (Vec<Sample>, Vec<u8>) {
    let mut rest: &[u8] = fragment;
    let moof = Moof::decode(&mut rest).expect("moof");
    let moof_len = fragment.len() - rest.len();
    assert_eq!(&rest[4..8], b"mdat");
    assert_eq!(
        u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize,
        rest.len()
    );
    let mut out = Vec::new();
    for traf in &moof.traf {
        assert!(traf.tfhd.default_base_is_moof);
        let mut time = traf.tfdt.as_ref().expect("tfdt").base_media_decode_time;
        for trun in &traf.trun {
            let mut at = usize::try_from(trun.data_offset.expect("data offset")).unwrap();
            assert!(at >= moof_len + 8);
            for e in trun.samples.iter() {
                let size = e.size.unwrap() as usize;
                out.push(Sample {
                    track: traf.tfhd.track_id,
                    time,
                    duration: e.duration.unwrap(),
                    cts: e.cts.unwrap_or(0),
                    sync: e.flags.unwrap() == 0x0200_0000,
                    data: fragment.slice(at..at + size),
                });
                at += size;
                time += u64::from(e.duration.unwrap());
            }
        }
    }
    let versions = moof
        .traf
        .iter()
        .flat_map(|t| &t.trun)
        .map(|t: &Trun| {
            let mut buf = Vec::new();
            mp4_atom::Encode::encode(t, &mut buf).unwrap();
            buf[8]
        })
        .collect();
    (out, versions)
}

fn fragments(out: &[Fmp4Output]) -> Vec<(Bytes, bool, i64)> {
    out.iter()
        .filter_map(|o| match o {
            Fmp4Output::Fragment {
                data, key, dts_us, ..
            } => Some((data.clone(), *key, *dts_us)),
            Fmp4Output::Init(_) => None,
        })
        .collect()
}

fn config(kind: TrackKind, codec: Codec, data: &[u8]) -> Frame {
    Frame {
        kind,
        codec,
        dts_us: 0,
        cts_us: 0,
        key: false,
        config: true,
        data: Bytes::copy_from_slice(data),
    }
}

/// A video frame at `dts` ms, composition offset `cts` ms.
fn video(dts: i64, cts: i32, key: bool) -> Frame {
    let data = Bytes::from(vec![0, 0, 0, 2, 0x65, dts as u8]);
    Frame {
        kind: TrackKind::Video,
        codec: Codec::H264,
        dts_us: dts * 1000,
        cts_us: cts * 1000,
        key,
        config: false,
        data,
    }
}

/// An audio frame at `dts` ms.
fn audio(dts: i64) -> Frame {
    let data = Bytes::from(vec![0x21, dts as u8]);
    Frame {
        kind: TrackKind::Audio,
        codec: Codec::Aac,
        dts_us: dts * 1000,
        cts_us: 0,
        key: false,
        config: false,
        data,
    }
}

fn avc_config() -> Frame {
    sample_frames()
        .into_iter()
        .find(|f| f.config && f.kind == TrackKind::Video)
        .unwrap()
}

fn aac_config() -> Frame {
    config(TrackKind::Audio, Codec::Aac, &[0x12, 0x10])
}

#[test]
fn keyframes_start_key_fragments_that_stay_short_and_hold_every_sample() {
    let frames = sample_frames();
    let cfg = Fmp4Config::default();
    let (_, out) = mux(cfg.clone(), &frames);
    let frags = fragments(&out);
    let mut all = Vec::new();
    for (data, key, dts_us) in &frags {
        let (s, _) = samples(data);
        let first_video = s.iter().find(|s| s.track == 1);
        assert_eq!(
            *key,
            first_video.is_some_and(|v| v.sync),
            "key flag of fragment at {dts_us}"
        );
        // No keyframe inside a fragment: each one starts its own.
        assert!(s.iter().filter(|s| s.track == 1).skip(1).all(|v| !v.sync));
        let ms = |s: &Sample| {
            if s.track == 1 {
                s.time as i64 / 90
            } else {
                s.time as i64 * 1000 / 44100
            }
        };
        let (lo, hi) = (
            s.iter().map(ms).min().unwrap(),
            s.iter().map(ms).max().unwrap(),
        );
        assert!(
            hi - lo < i64::from(cfg.max_fragment_ms) + 24,
            "fragment spans {lo}..{hi} ms"
        );
        let us = |s: &Sample| {
            let rate = if s.track == 1 { 90_000 } else { 44_100 };
            weir_media::rescale(s.time as i64, rate, weir_media::US_HZ)
        };
        assert_eq!(Some(*dts_us), s.iter().map(us).min());
        all.extend(s);
    }
    assert_eq!(frags.iter().filter(|f| f.1).count(), 2);
    assert!(frags.len() > 20, "about ten fragments a second");
    for (track, kind) in [(1, TrackKind::Video), (2, TrackKind::Audio)] {
        let got: Vec<&Bytes> = all
            .iter()
            .filter(|s| s.track == track)
            .map(|s| &s.data)
            .collect();
        let want: Vec<&Bytes> = frames
            .iter()
            .filter(|f| f.kind == kind && !f.config)
            .map(|f| &f.data)
            .collect();
        assert_eq!(got, want, "track {track} payloads in order");
    }
    // Decode times are contiguous: each sample starts where the last ended.
    for track in [1, 2] {
        let t: Vec<&Sample> = all.iter().filter(|s| s.track == track).collect();
        assert!(t
            .windows(2)
            .all(|w| w[0].time + u64::from(w[0].duration) == w[1].time));
    }
}

#[test]
fn zero_max_fragment_ms_gives_one_fragment_per_frame() {
    let frames = sample_frames();
    let cfg = Fmp4Config {
        max_fragment_ms: 0,
        ..Fmp4Config::default()
    };
    let (_, out) = mux(cfg, &frames);
    for (data, _, _) in fragments(&out) {
        assert_eq!(samples(&data).0.len(), 1);
    }
}

#[test]
fn negative_composition_offsets_use_a_version_1_trun() {
    let mut m = Fmp4Muxer::default();
    m.push(&avc_config()).unwrap();
    let mut out = Vec::new();
    for f in [
        video(0, 0, true),
        video(40, -20, false),
        video(80, 0, false),
    ] {
        out.extend(m.push(&f).unwrap());
    }
    out.extend(m.finish().unwrap());
    let all: Vec<Sample> = fragments(&out)
        .iter()
        .flat_map(|f| samples(&f.0).0)
        .collect();
    assert_eq!(all.iter().map(|s| s.cts).collect::<Vec<_>>(), [0, -1800, 0]);
    assert_eq!(
        all.iter().map(|s| s.duration).collect::<Vec<_>>(),
        [3600, 3600, 3600]
    );
    for (data, _, _) in fragments(&out) {
        assert!(samples(&data).1.iter().all(|&v| v == 1));
    }
}

#[test]
fn config_changes_flush_then_bring_a_new_init_segment() {
    let mut m = Fmp4Muxer::default();
    assert!(m.push(&avc_config()).unwrap().is_empty());
    assert!(m.push(&aac_config()).unwrap().is_empty());
    assert_eq!(
        m.init_segment(),
        None,
        "no init before the first media frame"
    );
    let out = m.push(&video(0, 0, true)).unwrap();
    assert!(matches!(out.as_slice(), [Fmp4Output::Init(_)]));
    let first_init = m.init_segment().unwrap();
    m.push(&audio(10)).unwrap();
    m.push(&video(40, 0, false)).unwrap();
    // The same config again changes nothing.
    assert!(m.push(&avc_config()).unwrap().is_empty());
    assert!(m.push(&aac_config()).unwrap().is_empty());
    // A new audio config: what is pending goes out under the old init.
    let out = m
        .push(&config(TrackKind::Audio, Codec::Aac, &[0x11, 0x90]))
        .unwrap();
    assert!(matches!(out.as_slice(), [Fmp4Output::Fragment { .. }]));
    let out = m.push(&video(80, 0, true)).unwrap();
    assert!(matches!(out.as_slice(), [Fmp4Output::Init(i)] if *i != first_init));
    assert_eq!(
        m.codecs_string().unwrap(),
        "video/mp4; codecs=\"avc1.64001e,mp4a.40.2\""
    );
    // A malformed config is refused and the old one stays.
    let err = m
        .push(&config(TrackKind::Video, Codec::H264, &[1, 2, 3]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Fmp4Error::BadConfig {
                codec: "H.264",
                len: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(m.push(&video(120, 0, false)).unwrap().is_empty());
}

#[test]
fn a_track_appearing_late_brings_a_new_init_segment() {
    let mut m = Fmp4Muxer::default();
    m.push(&avc_config()).unwrap();
    m.push(&video(0, 0, true)).unwrap();
    assert_eq!(
        m.codecs_string().unwrap(),
        "video/mp4; codecs=\"avc1.64001e\""
    );
    m.push(&video(40, 0, false)).unwrap();
    let out = m.push(&aac_config()).unwrap();
    assert!(
        matches!(out.as_slice(), [Fmp4Output::Fragment { .. }]),
        "held frame flushed"
    );
    let out = m.push(&audio(60)).unwrap();
    assert!(matches!(out.first(), Some(Fmp4Output::Init(_))));
    assert_eq!(
        m.codecs_string().unwrap(),
        "video/mp4; codecs=\"avc1.64001e,mp4a.40.2\""
    );
}

#[test]
fn frames_without_config_before_a_keyframe_or_of_other_codecs_are_skipped() {
    let mut m = Fmp4Muxer::default();
    assert!(
        m.push(&video(0, 0, true)).unwrap().is_empty(),
        "no config yet"
    );
    assert!(m.push(&audio(0)).unwrap().is_empty(), "no config yet");
    m.push(&avc_config()).unwrap();
    assert!(
        m.push(&video(40, 0, false)).unwrap().is_empty(),
        "not a keyframe"
    );
    let script = Frame {
        kind: TrackKind::Data,
        codec: Codec::Amf0,
        ..audio(50)
    };
    let mp3 = Frame {
        codec: Codec::Mp3 {
            sample_rate: 44100,
            stereo: true,
        },
        ..audio(50)
    };
    assert!(m.push(&script).unwrap().is_empty());
    assert!(m.push(&mp3).unwrap().is_empty());
    let h265 = Frame {
        codec: Codec::H265,
        ..video(60, 0, true)
    };
    assert!(
        m.push(&h265).unwrap().is_empty(),
        "codec differs from the config"
    );
    assert_eq!(m.init_segment(), None);
    assert!(matches!(
        m.push(&video(80, 0, true)).unwrap().as_slice(),
        [Fmp4Output::Init(_)]
    ));
}

#[test]
fn audio_only_fragments_are_all_key() {
    let frames: Vec<Frame> = sample_frames()
        .into_iter()
        .filter(|f| f.kind == TrackKind::Audio)
        .collect();
    let (m, out) = mux(Fmp4Config::default(), &frames);
    assert_eq!(
        m.codecs_string().unwrap(),
        "audio/mp4; codecs=\"mp4a.40.2\""
    );
    let frags = fragments(&out);
    assert!(frags.len() > 20 && frags.iter().all(|f| f.1));
}

#[test]
fn timeline_stays_continuous_across_jumps() {
    let mut m = Fmp4Muxer::new(Fmp4Config {
        max_fragment_ms: 0,
        ..Fmp4Config::default()
    });
    m.push(&avc_config()).unwrap();
    let mut out = Vec::new();
    // A publisher restart: timestamps go back to zero, then leap ahead.
    let dts = (0..30)
        .map(|i| 100_000 + i * 40)
        .chain((0..30).map(|i| i * 40))
        .chain((0..30).map(|i| 900_000 + i * 40));
    for (i, d) in dts.enumerate() {
        out.extend(m.push(&video(d, 0, i % 30 == 0)).unwrap());
    }
    out.extend(m.finish().unwrap());
    let all: Vec<Sample> = fragments(&out)
        .iter()
        .flat_map(|f| samples(&f.0).0)
        .collect();
    assert_eq!(all.len(), 90);
    assert_eq!(all[0].time, 100_000 * 90);
    assert!(all
        .windows(2)
        .all(|w| w[0].time + u64::from(w[0].duration) == w[1].time));
    assert!(
        all.iter().all(|s| s.duration <= 3600),
        "no sample stretched over a gap"
    );
}

#[test]
fn memory_stays_bounded_when_the_clock_stands_still() {
    let mut m = Fmp4Muxer::default();
    m.push(&avc_config()).unwrap();
    m.push(&aac_config()).unwrap();
    let mut out = Vec::new();
    for i in 0..3000 {
        out.extend(m.push(&video(0, 0, i == 0)).unwrap());
        out.extend(m.push(&audio(0)).unwrap());
    }
    let frags = fragments(&out);
    assert!(frags.len() >= 2);
    for (data, _, _) in &frags {
        let s = samples(data).0;
        assert!(s.len() <= MAX_FRAGMENT_SAMPLES);
        // Audio that would overlap what was written is dropped.
        assert!(s.iter().filter(|s| s.track == 2).count() <= 2);
    }
}

#[test]
fn malformed_configs_are_errors_never_panics() {
    let avcc = avc_config().data;
    let mut m = Fmp4Muxer::default();
    for n in 0..avcc.len() {
        let _ = m.push(&config(TrackKind::Video, Codec::H264, &avcc[..n]));
        let _ = m.push(&config(TrackKind::Video, Codec::H265, &avcc[..n]));
    }
    let mut seed = 0x2545_f491_u32;
    for len in 0..200 {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        for (kind, codec) in [
            (TrackKind::Video, Codec::H264),
            (TrackKind::Video, Codec::H265),
            (TrackKind::Audio, Codec::Aac),
        ] {
            let _ = m.push(&config(kind, codec, &junk));
            let _ = m.push(&Frame {
                config: false,
                key: true,
                ..config(kind, codec, &junk)
            });
        }
    }
}

/// LL-HLS parts: with `cap_at_max`, no fragment spans more than
/// `max_fragment_ms` (29.97 fps does not divide 200 ms, so a cut at the
/// first frame reaching it would give 200.2 ms), and the reported
/// durations add up to the video timeline without gaps.
#[test]
fn capped_fragments_never_exceed_the_maximum_and_durations_add_up() {
    for cap in [false, true] {
        let mut m = Fmp4Muxer::new(Fmp4Config {
            max_fragment_ms: 200,
            cap_at_max: cap,
            ..Fmp4Config::default()
        });
        m.push(&avc_config()).unwrap();
        m.push(&aac_config()).unwrap();
        let mut out = Vec::new();
        for i in 0..300i64 {
            let dts_us = i * 1_001_000 / 30;
            out.extend(
                m.push(&Frame {
                    dts_us,
                    ..video(0, 0, i % 30 == 0)
                })
                .unwrap(),
            );
            out.extend(m.push(&Frame { dts_us, ..audio(0) }).unwrap());
        }
        let parts: Vec<(i64, i64, bool)> = out
            .iter()
            .filter_map(|o| match o {
                Fmp4Output::Fragment {
                    dts_us,
                    duration_us,
                    key,
                    ..
                } => Some((*dts_us, *duration_us, *key)),
                Fmp4Output::Init(_) => None,
            })
            .collect();
        let longest = parts.iter().map(|p| p.1).max().unwrap();
        if cap {
            assert!(longest <= 200_000, "capped part of {longest} µs");
            assert!(
                longest > 150_000,
                "parts are not needlessly short: {longest}"
            );
        } else {
            assert!(longest > 200_000, "uncapped parts reach past the maximum");
        }
        for w in parts.windows(2) {
            assert!(
                (w[0].0 + w[0].1 - w[1].0).abs() <= 12,
                "part at {} µs lasting {} µs is not followed at once: {:?}",
                w[0].0,
                w[0].1,
                w[1]
            );
        }
        assert_eq!(
            parts.iter().filter(|p| p.2).count(),
            10,
            "a key part per GOP"
        );
    }
}
