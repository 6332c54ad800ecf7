//! Test-only helper: runs ffprobe as an independent oracle.

use std::path::Path;
use std::process::Command;

/// One packet as ffprobe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub codec_type: String,
    pub pts: i64,
    pub dts: i64,
    pub key: bool,
}

fn run(args: &[&str], path: &Path) -> (String, String) {
    let out = Command::new("ffprobe")
        .args(["-v", "warning"])
        .args(args)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run ffprobe ({e}): install FFmpeg (e.g. `apt-get install ffmpeg`) to run this test")
        });
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Codec names of the streams, in stream order.
pub fn codecs(path: &Path) -> Vec<String> {
    let (out, _) = run(
        &["-show_entries", "stream=index,codec_name", "-of", "csv=p=0"],
        path,
    );
    // MPEG-TS streams are listed once per program and once on their own.
    let mut streams: Vec<(usize, String)> = out
        .lines()
        .filter_map(|l| l.trim().split_once(','))
        .map(|(i, c)| (i.parse().unwrap(), c.to_owned()))
        .collect();
    streams.sort();
    streams.dedup();
    streams.into_iter().map(|(_, c)| c).collect()
}

/// Every packet in file order, and ffprobe's warnings (continuity errors,
/// corrupt packets...), which a clean stream has none of.
pub fn packets(path: &Path) -> (Vec<Packet>, String) {
    let (out, warnings) = run(
        &[
            "-show_entries",
            "packet=codec_type,pts,dts,flags",
            "-of",
            "csv=p=0",
        ],
        path,
    );
    let packets = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Packet {
                codec_type: f[0].to_owned(),
                pts: f[1].parse().unwrap_or_else(|_| panic!("pts in {line:?}")),
                dts: f[2].parse().unwrap_or_else(|_| panic!("dts in {line:?}")),
                key: f[3].starts_with('K'),
            }
        })
        .collect();
    (packets, warnings)
}
