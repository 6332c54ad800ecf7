//! Test helpers: `testdata/sample.flv` as frames, the muxer driven over a
//! frame list, and an ffprobe runner.

#![allow(dead_code)] // each test binary uses its own subset

#[path = "../../../flv/tests/common/frames.rs"]
pub mod frames;

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use weir_fmp4::{Fmp4Config, Fmp4Muxer, Fmp4Output};
use weir_media::{Codec, Frame, TrackKind};

/// H.264 (High, 640x360) + AAC-LC (44.1 kHz mono), 3 s, keyframes at 0
/// and 2 s, two B-frames: made with
/// `ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine -t 3
///  -c:v libx264 -g 60 -bf 2 -crf 30 -c:a aac -b:a 64k -f flv sample.flv`.
/// Its media frames only: the muxer skips script data anyway.
pub fn sample_frames() -> Vec<Frame> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample.flv");
    let mut frames = frames::read_frames(path);
    frames.retain(|f| f.kind != TrackKind::Data);
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
                    dts_us: 0,
                    cts_us: 0,
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
                            // The file's timescale is 1 kHz.
                            dts_us: dts * 1000,
                            cts_us: e.cts.unwrap_or(0) as i32 * 1000,
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
