//! Test helpers: a minimal FLV tag walker turning `testdata/sample.flv` into
//! frames, the muxer driven over a frame list, and an ffprobe runner.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use weir_fmp4::{Fmp4Config, Fmp4Muxer, Fmp4Output};
use weir_media::{Codec, Frame, TrackKind};

/// H.264 (High, 640x360) + AAC-LC (44.1 kHz mono), 3 s, keyframes at 0
/// and 2 s, two B-frames: made with
/// `ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine -t 3
///  -c:v libx264 -g 60 -bf 2 -crf 30 -c:a aac -b:a 64k -f flv sample.flv`.
pub fn sample_frames() -> Vec<Frame> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.flv");
    let data = std::fs::read(&path).expect("read sample.flv");
    flv_frames(&data)
}

fn u24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

/// Walks the tags of an FLV file with H.264 video and AAC audio.
pub fn flv_frames(data: &[u8]) -> Vec<Frame> {
    assert_eq!(&data[..3], b"FLV");
    let mut pos = u32::from_be_bytes(data[5..9].try_into().unwrap()) as usize + 4;
    let mut frames = Vec::new();
    while pos + 11 <= data.len() {
        let tag_type = data[pos];
        let size = u24(&data[pos + 1..]) as usize;
        let ts = i64::from(u24(&data[pos + 4..]) | (u32::from(data[pos + 7]) << 24));
        let body = &data[pos + 11..pos + 11 + size];
        pos += 11 + size + 4;
        match tag_type {
            // AVC sequence header (0) or NAL units (1); not end of sequence (2).
            9 if body[0] & 0x0f == 7 && body[1] < 2 => {
                let cts = ((u24(&body[2..]) << 8) as i32) >> 8;
                frames.push(Frame {
                    kind: TrackKind::Video,
                    codec: Codec::H264,
                    dts: ts,
                    cts,
                    key: body[0] >> 4 == 1 && body[1] == 1,
                    config: body[1] == 0,
                    data: Bytes::copy_from_slice(&body[5..]),
                });
            }
            8 if body[0] >> 4 == 10 => frames.push(Frame {
                kind: TrackKind::Audio,
                codec: Codec::Aac,
                dts: ts,
                cts: 0,
                key: false,
                config: body[1] == 0,
                data: Bytes::copy_from_slice(&body[2..]),
            }),
            _ => {}
        }
    }
    frames
}

/// Every output of muxing `frames`, then `finish`.
pub fn mux(cfg: Fmp4Config, frames: &[Frame]) -> (Fmp4Muxer, Vec<Fmp4Output>) {
    let mut m = Fmp4Muxer::new(cfg);
    let mut out = Vec::new();
    for f in frames {
        out.extend(m.push(f).expect("push"));
    }
    out.extend(m.finish().expect("finish"));
    (m, out)
}

/// Runs a command from the ffmpeg suite, failing with an install hint when
/// it is missing.
pub fn run(tool: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {tool} ({e}): these tests need ffmpeg; install it with `apt-get install ffmpeg`")
    });
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `bytes` to a fresh file under the target dir's temp space.
pub fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("{name}-{}.mp4", std::process::id()));
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

/// `ffprobe -show_packets -show_streams -of json` of a file.
pub fn ffprobe(path: &std::path::Path) -> serde_json::Value {
    let (stdout, stderr) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_packets",
            "-show_streams",
            "-of",
            "json",
            path.to_str().unwrap(),
        ],
    );
    assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
    serde_json::from_str(&stdout).expect("ffprobe json")
}

/// H.265 (Main, 320x180, 25 fps, 2 s, keyframes every second, B-frames) as
/// fragmented MP4 with a 1 kHz timescale: made with
/// `ffmpeg -f lavfi -i testsrc2=size=320x180:rate=25 -t 2 -c:v libx265
///  -x265-params keyint=25:bframes=2 -crf 32 -tag:v hvc1 -video_track_timescale 1000
///  -movflags frag_keyframe+empty_moov+default_base_moof hevc.mp4`,
/// read back into frames with `mp4-atom`.
pub fn hevc_frames() -> Vec<Frame> {
    use mp4_atom::{Any, Decode};
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/hevc.mp4");
    let file = std::fs::read(&path).expect("read hevc.mp4");
    let mut rest: &[u8] = &file;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let start = file.len() - rest.len();
        match Any::decode(&mut rest).expect("box") {
            Any::Moov(moov) => {
                let entry = &moov.trak[0].mdia.minf.stbl.stsd.codecs[0];
                let mp4_atom::Codec::Hvc1(hvc1) = entry else {
                    panic!("not hvc1: {entry:?}")
                };
                let mut config = Vec::new();
                mp4_atom::Encode::encode(&hvc1.hvcc, &mut config).unwrap();
                frames.push(Frame {
                    kind: TrackKind::Video,
                    codec: Codec::H265,
                    dts: 0,
                    cts: 0,
                    key: false,
                    config: true,
                    data: Bytes::copy_from_slice(&config[8..]), // without the box header
                });
            }
            Any::Moof(moof) => {
                let traf = &moof.traf[0];
                let mut dts = traf.tfdt.as_ref().unwrap().base_media_decode_time as i64;
                for trun in &traf.trun {
                    let mut at = start + trun.data_offset.unwrap() as usize;
                    for e in trun.samples.iter() {
                        let size = e.size.unwrap() as usize;
                        let flags = e.flags.or(traf.tfhd.default_sample_flags).unwrap_or(0);
                        frames.push(Frame {
                            kind: TrackKind::Video,
                            codec: Codec::H265,
                            dts,
                            cts: e.cts.unwrap_or(0) as i32,
                            key: flags & 0x0001_0000 == 0,
                            config: false,
                            data: Bytes::copy_from_slice(&file[at..at + size]),
                        });
                        at += size;
                        dts += i64::from(e.duration.or(traf.tfhd.default_sample_duration).unwrap());
                    }
                }
            }
            _ => {}
        }
    }
    frames
}
