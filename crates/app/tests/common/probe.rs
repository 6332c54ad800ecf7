//! What players received, as ffprobe sees it: packet counts, timestamps,
//! keyframes, codecs, and when each packet arrived.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::process::{Line, Proc, Stdout};
use super::tcp;

/// The frame rate of every test source.
pub const FPS: f64 = 30.0;

/// Which elementary stream a packet belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// H.264 video.
    Video,
    /// AAC audio.
    Audio,
    /// Anything else ffprobe reports (data streams).
    Other,
}

/// One demuxed packet.
#[derive(Clone, Debug)]
pub struct Packet {
    /// Its stream.
    pub media: Media,
    /// Decode timestamp in seconds, when the container gave one.
    pub dts: Option<f64>,
    /// Whether the packet is a keyframe.
    pub key: bool,
    /// When the test read ffprobe's line for it (live players only).
    pub arrived: Instant,
}

/// One stream as ffprobe describes it after reading.
#[derive(Clone, Debug, Default)]
pub struct StreamInfo {
    /// "video" or "audio".
    pub codec_type: String,
    /// "h264", "aac", ...
    pub codec_name: String,
    /// Video width in pixels.
    pub width: Option<u32>,
    /// Video height in pixels.
    pub height: Option<u32>,
}

/// Everything ffprobe printed about a stream or file.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Packets in the order they were read.
    pub packets: Vec<Packet>,
    /// Stream descriptions (printed by ffprobe when it finishes).
    pub streams: Vec<StreamInfo>,
}

/// The ffprobe arguments shared by live and file analysis. The compact
/// writer prints one line per packet as soon as it is read, so a killed
/// ffprobe still leaves every packet it saw (JSON would be cut mid-document).
fn ffprobe(input: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new("stdbuf");
    // Line-buffered stdout: a line's arrival time is the packet's, not the
    // moment a 4 KiB stdio buffer happened to fill.
    cmd.args(["-oL", "ffprobe", "-hide_banner", "-v", "error"])
        .args(["-show_packets", "-show_streams"])
        .args([
            "-show_entries",
            "packet=codec_type,dts_time,pts_time,flags:stream=codec_type,codec_name,width,height",
        ])
        .args(["-of", "compact"])
        .args(extra)
        .arg(input);
    cmd
}

/// Starts ffprobe playing `url` for `secs` seconds of stream time (counted
/// from the first packet it receives). Collect the result with [`Analysis::of`].
pub fn spawn_player(dir: &Path, name: &str, url: &str, secs: u32) -> Proc {
    spawn_player_with(dir, name, url, secs, &[])
}

/// Like [`spawn_player`], with input options for ffprobe before the URL
/// (e.g. `-rtsp_transport tcp`).
pub fn spawn_player_with(dir: &Path, name: &str, url: &str, secs: u32, opts: &[&str]) -> Proc {
    let interval = format!("%+{secs}");
    let mut args = vec!["-read_intervals", &interval];
    args.extend_from_slice(opts);
    Proc::spawn(name, dir, ffprobe(url, &args), Stdout::Lines)
}

/// Waits (bounded) for a player started by [`spawn_player`] to finish on its
/// own and returns what it received. A player that fails or hangs fails the test.
pub fn finish_player(mut player: Proc, timeout: Duration) -> Analysis {
    let status = player.expect_exit(timeout);
    assert!(
        status.success(),
        "ffprobe player failed ({status}); stderr:\n{}",
        player.stderr_tail(30)
    );
    Analysis::of(&mut player)
}

/// Analyses a whole FLV file.
pub fn probe_file(dir: &Path, path: &Path) -> Analysis {
    let mut proc = Proc::spawn(
        "ffprobe-file",
        dir,
        ffprobe(path.to_str().expect("utf-8 path"), &[]),
        Stdout::Lines,
    );
    let status = proc.expect_exit(Duration::from_secs(60));
    assert!(
        status.success(),
        "ffprobe {} failed ({status}): {}",
        path.display(),
        proc.stderr_tail(20)
    );
    Analysis::of(&mut proc)
}

/// How many video frames of `path` actually decode (ffprobe -count_frames).
pub fn decoded_video_frames(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe -count_frames");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().unwrap_or_else(|_| {
        panic!(
            "cannot decode {}: stdout {text:?}, stderr {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// How long a player took to show its first picture.
#[derive(Clone, Copy, Debug)]
pub struct FirstFrame {
    /// From the player's TCP connection to the server (seen in /proc) until
    /// it exited after decoding one frame: the RTMP handshake,
    /// connect/createStream/play round trips, ffmpeg's stream probing (one
    /// decoded video frame plus the audio config), decoding one frame, and
    /// ffmpeg's exit. This is what the 0.5 s budget applies to.
    pub since_connect: Duration,
    /// The same from spawning ffmpeg: adds process start-up, which alone
    /// takes 0.05–0.3 s depending on machine load.
    pub since_spawn: Duration,
}

/// Times `ffmpeg -fpsprobesize 0 -threads 1 -i URL -frames:v 1 -f null -`
/// (see [`FirstFrame`]). `-fpsprobesize 0` stops ffmpeg from waiting for 40
/// frames to guess a frame rate, and `-threads 1` from holding frames back
/// in a frame-threaded decoder: either would measure the stream's frame rate
/// rather than the server.
pub fn first_frame_time(dir: &Path, url: &str, timeout: Duration) -> Result<FirstFrame, String> {
    let port = url_port(url);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args(["-fpsprobesize", "0", "-threads", "1", "-i", url])
        .args(["-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"]);
    let spawned = Instant::now();
    let mut proc = Proc::spawn("ffmpeg-first-frame", dir, cmd, Stdout::Null);
    let mut connected = None;
    loop {
        if connected.is_none() && tcp::is_connected(port, proc.pid()) {
            connected = Some(Instant::now());
        }
        if let Some(status) = proc.try_status() {
            if !status.success() {
                return Err(format!("{status}: {}", proc.stderr_tail(10)));
            }
            return Ok(FirstFrame {
                // A run too quick to be seen connecting counts from its spawn.
                since_connect: connected.unwrap_or(spawned).elapsed(),
                since_spawn: spawned.elapsed(),
            });
        }
        if spawned.elapsed() >= timeout {
            return Err(format!("no frame within {timeout:?}"));
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// The port of `rtmp://HOST:PORT/...`.
fn url_port(url: &str) -> u16 {
    url.strip_prefix("rtmp://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|authority| authority.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// Waits until `url` plays (a publisher is live and its first frame decodes).
pub fn wait_until_playable(dir: &Path, url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let err = match first_frame_time(dir, url, left) {
            Ok(_) => return,
            Err(err) => err,
        };
        if Instant::now() >= deadline {
            panic!("{url} did not become playable within {timeout:?}: {err}");
        }
        thread::sleep(Duration::from_millis(200));
    }
}

impl Analysis {
    /// Parses what a finished or still running ffprobe printed so far.
    pub fn of(player: &mut Proc) -> Analysis {
        Analysis::parse(&player.lines())
    }

    /// Parses ffprobe's compact output (`section|key=value|...`).
    pub fn parse(lines: &[Line]) -> Analysis {
        let mut analysis = Analysis::default();
        for (arrived, line) in lines {
            let section = line.split('|').next().unwrap_or_default();
            let get = |key: &str| {
                line.split('|')
                    .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                    .unwrap_or_default()
                    .to_string()
            };
            match section {
                "packet" => analysis.packets.push(Packet {
                    media: match get("codec_type").as_str() {
                        "video" => Media::Video,
                        "audio" => Media::Audio,
                        _ => Media::Other,
                    },
                    dts: get("dts_time").parse().ok(),
                    key: get("flags").starts_with('K'),
                    arrived: *arrived,
                }),
                "stream" => analysis.streams.push(StreamInfo {
                    codec_type: get("codec_type"),
                    codec_name: get("codec_name"),
                    width: get("width").parse().ok(),
                    height: get("height").parse().ok(),
                }),
                _ => {}
            }
        }
        analysis
    }

    /// Packets of one stream.
    pub fn of_media(&self, media: Media) -> impl Iterator<Item = &Packet> {
        self.packets.iter().filter(move |p| p.media == media)
    }

    /// Number of video packets (one per frame for H.264 in FLV).
    pub fn video_count(&self) -> usize {
        self.of_media(Media::Video).count()
    }

    /// Number of audio packets.
    pub fn audio_count(&self) -> usize {
        self.of_media(Media::Audio).count()
    }

    /// Seconds between the first and last video DTS.
    pub fn video_dts_span(&self) -> f64 {
        let dts: Vec<f64> = self.of_media(Media::Video).filter_map(|p| p.dts).collect();
        match (dts.first(), dts.last()) {
            (Some(first), Some(last)) => last - first,
            _ => 0.0,
        }
    }

    /// Video packets whose lines arrived in `[from, to)`.
    pub fn video_arrivals(&self, from: Instant, to: Instant) -> usize {
        self.of_media(Media::Video)
            .filter(|p| p.arrived >= from && p.arrived < to)
            .count()
    }

    /// The description of the first stream of `codec_type`.
    pub fn stream(&self, codec_type: &str) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.codec_type == codec_type)
    }

    /// One line for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "{} video / {} audio packets, video DTS span {:.3} s, streams {:?}",
            self.video_count(),
            self.audio_count(),
            self.video_dts_span(),
            self.streams
        )
    }

    /// The first DTS step backwards in `media`, as "prev -> next at index".
    pub fn dts_regression(&self, media: Media) -> Option<String> {
        let dts: Vec<f64> = self.of_media(media).filter_map(|p| p.dts).collect();
        dts.windows(2)
            .position(|w| w[1] < w[0])
            .map(|i| format!("{:?} DTS {} -> {} at packet {i}", media, dts[i], dts[i + 1]))
    }

    /// Asserts a clean stream: video present, first video packet a keyframe,
    /// DTS never going backwards in either stream.
    pub fn assert_clean(&self, what: &str) {
        let first = self.of_media(Media::Video).next();
        assert!(
            first.is_some(),
            "{what}: no video packets ({})",
            self.summary()
        );
        assert!(
            first.is_some_and(|p| p.key),
            "{what}: first video packet is not a keyframe ({})",
            self.summary()
        );
        for media in [Media::Video, Media::Audio] {
            if let Some(regression) = self.dts_regression(media) {
                panic!("{what}: DTS not monotonic: {regression}");
            }
        }
    }

    /// Asserts H.264 640x360 video and AAC audio.
    pub fn assert_test_codecs(&self, what: &str) {
        let video = self.stream("video");
        assert!(
            video.is_some_and(|v| v.codec_name == "h264"
                && v.width == Some(640)
                && v.height == Some(360)),
            "{what}: expected h264 640x360 video: {}",
            self.summary()
        );
        assert!(
            self.stream("audio").is_some_and(|a| a.codec_name == "aac"),
            "{what}: expected aac audio: {}",
            self.summary()
        );
        assert!(self.audio_count() > 0, "{what}: no audio packets");
    }

    /// Asserts the video covers at least `min_span` seconds and that at
    /// least `min_ratio` of the frames a 30 fps source produced over that
    /// span arrived (a dropped frame leaves a gap in the DTS sequence).
    pub fn assert_frames_delivered(&self, what: &str, min_span: f64, min_ratio: f64) {
        let span = self.video_dts_span();
        assert!(
            span >= min_span,
            "{what}: video covers {span:.3} s of stream time, expected >= {min_span} s ({})",
            self.summary()
        );
        let expected = (span * FPS).round() + 1.0;
        let got = self.video_count() as f64;
        assert!(
            got >= min_ratio * expected,
            "{what}: {got} video frames over {span:.3} s, expected >= {:.0}% of {expected} ({})",
            min_ratio * 100.0,
            self.summary()
        );
    }

    /// Asserts at least `min_ratio` of 30 fps worth of video packets arrived
    /// in the wall-clock window `[from, to)`.
    pub fn assert_flowing(&self, what: &str, from: Instant, to: Instant, min_ratio: f64) {
        let got = self.video_arrivals(from, to) as f64;
        let expected = (to - from).as_secs_f64() * FPS;
        assert!(
            got >= min_ratio * expected,
            "{what}: {got} video frames arrived in {:.1} s, expected >= {:.0}% of {expected:.0} ({})",
            (to - from).as_secs_f64(),
            min_ratio * 100.0,
            self.summary()
        );
    }
}
