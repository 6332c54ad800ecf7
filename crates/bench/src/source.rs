//! What the publisher sends: an FLV file given by the user, or a test
//! stream made once by ffmpeg at the chosen bitrate and cached.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use bytes::Bytes;
use weir_flv::{Demuxer, TagType};

use crate::marker::{audio_key, avc_nal_key, frame_key, split_avcc, FrameKey};

/// Largest tag accepted from an input file.
const MAX_TAG: u32 = 64 << 20;

/// Audio bitrate of generated streams; the video gets the rest.
const AUDIO_BPS: u64 = 64_000;

/// Generated audio: a 440 Hz tone under seeded pink noise. The noise makes
/// every AAC frame of a pass different, so that audio frames are matched to
/// their send instant by content as safely as video frames are (a pure
/// tone could encode to repeating frames).
const AUDIO_SOURCE: &str = "sine=frequency=440:sample_rate=44100[tone];\
    anoisesrc=color=pink:seed=1:amplitude=0.1:sample_rate=44100[noise];\
    [tone][noise]amix=inputs=2:normalize=0[out0]";

/// One tag of the input, in file order.
#[derive(Debug, Clone)]
pub(crate) struct SourceTag {
    pub(crate) tag_type: TagType,
    /// Milliseconds from the first tag.
    pub(crate) time_ms: u32,
    pub(crate) body: Bytes,
    /// An H.264 frame's key as an RTSP player computes it
    /// ([`avc_nal_key`]), when it differs from the FLV one (the frame has
    /// parameter sets or delimiters in band).
    pub(crate) rtsp_key: Option<FrameKey>,
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
    /// only reused for the same settings ("pink": the audio source, files
    /// made before it used a bare tone).
    fn file_name(&self) -> String {
        format!(
            "testsrc-{}k-{}s-{}x{}-{}fps-g{}-pink.flv",
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
        .args(["-f", "lavfi", "-i", AUDIO_SOURCE])
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
    // AVCC length prefix size, from the last AVC sequence header.
    let mut length_size = 4;
    while let Some(tag) = demux
        .poll()
        .with_context(|| format!("demuxing {}", path.display()))?
    {
        let base = *base.get_or_insert(tag.timestamp);
        bytes += tag.body.len() as u64;
        let rtsp_key = match tag.tag_type {
            TagType::Video => rtsp_key(&tag.body, &mut length_size),
            _ => None,
        };
        tags.push(SourceTag {
            tag_type: tag.tag_type,
            time_ms: tag.timestamp.wrapping_sub(base),
            body: tag.body,
            rtsp_key,
        });
    }
    if !tags.iter().any(|t| t.tag_type == TagType::Video) {
        bail!(
            "{} has no video: latency is measured on video frames",
            path.display()
        );
    }
    let repeated = repeated_frames(&tags);
    if repeated > 0 {
        eprintln!(
            "warning: {repeated} frames of {} repeat an earlier frame's content; their latency may be timed from the wrong send",
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

/// The RTSP key of an AVC video tag body when it differs from its
/// [`frame_key`]; a sequence header updates `length_size` instead.
fn rtsp_key(body: &[u8], length_size: &mut usize) -> Option<FrameKey> {
    // AVC (codec 7), not enhanced RTMP; byte 1 is the packet type.
    if body.first()? & 0x8f != 7 {
        return None;
    }
    match body.get(1)? {
        0 => {
            // AVCDecoderConfigurationRecord: lengthSizeMinusOne in byte 4.
            *length_size = usize::from(body.get(5 + 4)? & 3) + 1;
            None
        }
        1 => {
            let key = avc_nal_key(split_avcc(body.get(5..)?, *length_size)?)?;
            (Some(key) != frame_key(body)).then_some(key)
        }
        _ => None,
    }
}

/// Keyed frames (video or AAC) whose content key an earlier frame of the
/// same pass already had: players cannot tell such frames apart.
fn repeated_frames(tags: &[SourceTag]) -> usize {
    let mut keys = std::collections::HashSet::new();
    tags.iter()
        .filter_map(|t| match t.tag_type {
            TagType::Video => frame_key(&t.body),
            TagType::Audio => audio_key(&t.body),
            TagType::Script => None,
        })
        .filter(|&k| !keys.insert(k))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(tag_type: TagType, body: &'static [u8]) -> SourceTag {
        SourceTag {
            tag_type,
            time_ms: 0,
            body: Bytes::from_static(body),
            rtsp_key: None,
        }
    }

    #[test]
    fn repeated_audio_and_video_frames_are_counted() {
        let tags = [
            tag(TagType::Audio, &[0xaf, 0, 0x12, 0x10]),
            tag(TagType::Audio, &[0xaf, 0, 0x12, 0x10]),
            tag(TagType::Audio, &[0xaf, 1, 1, 2]),
            tag(TagType::Audio, &[0xaf, 1, 1, 3]),
            tag(TagType::Video, &[0x27, 1, 0, 0, 0, 1, 2]),
            tag(TagType::Video, &[0x27, 1, 0, 0, 0, 1, 2]),
        ];
        // Repeated sequence headers do not count.
        assert_eq!(repeated_frames(&tags[..4]), 0);
        assert_eq!(
            repeated_frames(&tags[..5]),
            0,
            "audio and video keys differ"
        );
        assert_eq!(repeated_frames(&tags), 1);
        let again = [
            tag(TagType::Audio, &[0xaf, 1, 1, 2]),
            tag(TagType::Audio, &[0xaf, 1, 1, 2]),
        ];
        assert_eq!(repeated_frames(&again), 1);
    }

    #[test]
    fn rtsp_keys_only_where_they_differ_from_the_flv_keys() {
        let mut size = 4;
        let plain = [0x27, 1, 0, 0, 0, 0, 0, 0, 3, 0x41, 7, 8];
        assert_eq!(rtsp_key(&plain, &mut size), None, "same as the FLV key");
        let with_sps = [
            0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x67, 1, 0, 0, 0, 3, 0x65, 7, 8,
        ];
        let key = rtsp_key(&with_sps, &mut size).expect("differs");
        assert_eq!(Some(key), avc_nal_key([&[0x65, 7, 8][..]]));
        assert_eq!(
            rtsp_key(&[0x17, 1, 0, 0, 0, 0, 9], &mut size),
            None,
            "bad lengths"
        );
        assert_eq!(rtsp_key(&[0xaf, 1, 2], &mut size), None, "not AVC");
        // A sequence header with 2-byte lengths (lengthSizeMinusOne = 1):
        // every frame's RTSP key then differs (it hashes 4-byte lengths).
        let config = [0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xfd];
        assert_eq!(rtsp_key(&config, &mut size), None);
        assert_eq!(size, 2);
        let short = [0x27, 1, 0, 0, 0, 0, 3, 0x41, 7, 8];
        assert_eq!(
            rtsp_key(&short, &mut size),
            avc_nal_key([&[0x41, 7, 8][..]])
        );
    }
}
