//! What the publisher sends: an FLV file given by the user, or a test
//! stream made once by ffmpeg at the chosen bitrate and cached.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use bytes::Bytes;
use weir_flv::{Demuxer, TagType};

/// Largest tag accepted from an input file.
const MAX_TAG: u32 = 64 << 20;

/// Audio bitrate of generated streams; the video gets the rest.
const AUDIO_BPS: u64 = 64_000;

/// One tag of the input, in file order.
#[derive(Debug, Clone)]
pub(crate) struct SourceTag {
    pub(crate) tag_type: TagType,
    /// Milliseconds from the first tag.
    pub(crate) time_ms: u32,
    pub(crate) body: Bytes,
}

/// The whole input, held in memory so that the publisher never waits on
/// a disk.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) path: PathBuf,
    pub(crate) tags: Vec<SourceTag>,
    /// Last tag time: one pass lasts this long.
    pub(crate) duration_ms: u32,
    /// Average media bitrate of one pass (tag bodies only).
    pub(crate) bitrate_bps: u64,
}

/// How to make a test stream when no file is given.
#[derive(Debug, Clone)]
pub(crate) struct Generate {
    /// Total bitrate (video + 64 kbit/s audio), bits per second.
    pub(crate) bitrate_bps: u64,
    pub(crate) seconds: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: u32,
    /// Keyframe interval in seconds.
    pub(crate) gop_secs: u32,
}

impl Generate {
    /// A file name that changes with every parameter, so a cached file is
    /// only reused for the same settings.
    fn file_name(&self) -> String {
        format!(
            "testsrc-{}k-{}s-{}x{}-{}fps-g{}.flv",
            self.bitrate_bps / 1000,
            self.seconds,
            self.width,
            self.height,
            self.fps,
            self.gop_secs
        )
    }
}

/// Returns the cached generated stream, making it with ffmpeg first if
/// needed. Constant bitrate (x264 with CBR HRD filler), no B-frames, a
/// keyframe every `gop_secs`: a steady load that makes byte counts
/// comparable between runs.
pub(crate) fn generate(g: &Generate, cache_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = cache_dir.join(g.file_name());
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let video = g.bitrate_bps.saturating_sub(AUDIO_BPS).max(100_000);
    let tmp = path.with_extension("part.flv");
    eprintln!("generating {} with ffmpeg...", path.display());
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc2=size={}x{}:rate={}",
            g.width, g.height, g.fps
        ))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &g.seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .args(["-g", &(g.fps * g.gop_secs).to_string()])
        .args(["-b:v", &video.to_string(), "-minrate", &video.to_string()])
        .args([
            "-maxrate",
            &video.to_string(),
            "-bufsize",
            &video.to_string(),
        ])
        .args(["-x264-params", "nal-hrd=cbr"])
        .args(["-c:a", "aac", "-b:a", &AUDIO_BPS.to_string()])
        .args(["-f", "flv"])
        .arg(&tmp)
        .status()
        .context("running ffmpeg (is it installed?)")?;
    if !status.success() {
        bail!("ffmpeg failed: {status}");
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(path)
}

/// Reads an FLV file into memory.
pub(crate) fn load(path: &Path) -> anyhow::Result<Source> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut demux = Demuxer::new(MAX_TAG);
    demux.push(&data);
    let mut tags = Vec::new();
    let mut base = None;
    let mut bytes = 0u64;
    while let Some(tag) = demux
        .poll()
        .with_context(|| format!("demuxing {}", path.display()))?
    {
        let base = *base.get_or_insert(tag.timestamp);
        bytes += tag.body.len() as u64;
        tags.push(SourceTag {
            tag_type: tag.tag_type,
            time_ms: tag.timestamp.wrapping_sub(base),
            body: tag.body,
        });
    }
    if !tags.iter().any(|t| t.tag_type == TagType::Video) {
        bail!(
            "{} has no video: latency is measured on video frames",
            path.display()
        );
    }
    let duration_ms = tags.iter().map(|t| t.time_ms).max().unwrap_or(0).max(1);
    Ok(Source {
        path: path.to_owned(),
        tags,
        duration_ms,
        bitrate_bps: bytes * 8 * 1000 / u64::from(duration_ms),
    })
}
