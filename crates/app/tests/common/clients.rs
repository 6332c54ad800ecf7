//! Third-party RTMP clients (ffmpeg, rtmpdump, GStreamer) and weir's own
//! `publish`/`play`, started the way a user would start them.

use std::env;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::process::{Proc, Stdout};

/// Fails the test unless `tool` is on PATH: a missing client must never
/// turn into a silently passing test.
pub fn require_tool(tool: &str) {
    let path = env::var_os("PATH").unwrap_or_default();
    if !env::split_paths(&path).any(|dir| dir.join(tool).is_file()) {
        panic!(
            "{tool} not found: install it with `apt-get install {}` or run `bash scripts/test.sh`",
            package_of(tool)
        );
    }
}

/// The Debian package providing `tool`.
fn package_of(tool: &str) -> &str {
    match tool {
        "ffprobe" => "ffmpeg",
        "gst-launch-1.0" | "gst-inspect-1.0" => "gstreamer1.0-tools",
        "stdbuf" => "coreutils",
        "cvlc" => "vlc-bin vlc-plugin-base",
        "runuser" => "util-linux",
        other => other,
    }
}

/// Fails the test unless ffmpeg, ffprobe and stdbuf (which the probes
/// use to read ffprobe line by line) are installed.
pub fn require_ffmpeg() {
    require_tool("ffmpeg");
    require_tool("ffprobe");
    require_tool("stdbuf");
}

/// The path of ffmpeg 9, the static build the `imageio-ffmpeg` wheel
/// ships: Debian's ffmpeg 5.1 cannot publish HEVC, AV1 or Opus over
/// Enhanced RTMP, nor speak `rtmpe://`/`rtmpt://` as a publisher. Fails
/// the test with how to install it when it is missing.
pub fn ffmpeg9() -> std::path::PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
        ])
        .output();
    let path = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => panic!(
            "ffmpeg 9 not found: install it with `python3 -m pip install imageio-ffmpeg` \
             or run `bash scripts/test.sh`"
        ),
    };
    let path = std::path::PathBuf::from(path);
    assert!(
        path.is_file(),
        "imageio-ffmpeg names {path:?}, which does not exist"
    );
    path
}

/// Starts ffmpeg 9 ([`ffmpeg9`]) publishing the test source in real time
/// to `url` for `secs` seconds, encoded with `codecs` (e.g. `-c:v libx265
/// -c:a libopus`): over `rtmp://`, ffmpeg 6.1+ sends the codecs legacy FLV
/// cannot name in Enhanced RTMP tags. [`ENCODE`] is the H.264 + AAC of
/// the other publishers, for what Debian's ffmpeg cannot publish over
/// (such as `rtmpt://`).
pub fn ffmpeg9_publisher(dir: &Path, name: &str, url: &str, secs: u32, codecs: &[&str]) -> Proc {
    let mut cmd = Command::new(ffmpeg9());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(SOURCE)
        .args(["-t", &secs.to_string()])
        .args(["-pix_fmt", "yuv420p", "-g", "60"])
        .args(codecs)
        .args(["-f", "flv", url]);
    Proc::spawn(name, dir, cmd, Stdout::Null)
}

/// Fails the test unless every GStreamer element in `elements` is installed.
pub fn require_gst_elements(elements: &[&str]) {
    require_tool("gst-launch-1.0");
    require_tool("gst-inspect-1.0");
    for element in elements {
        let found = Command::new("gst-inspect-1.0")
            .arg(element)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "GStreamer element {element} not found: install gstreamer1.0-plugins-{{base,good,bad,ugly}} \
             and gstreamer1.0-libav, or run `bash scripts/test.sh`"
        );
    }
}

/// ffmpeg's test source: 640x360 testsrc2 at 30 fps with a 440 Hz tone.
const SOURCE: &[&str] = &[
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=640x360:rate=30",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=44100",
];

/// H.264 as a live encoder sends it: no B-frames, a keyframe every 2 s.
pub const ENCODE: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-tune",
    "zerolatency",
    "-pix_fmt",
    "yuv420p",
    "-g",
    "60",
    "-c:a",
    "aac",
    "-b:a",
    "64k",
];

/// A constant 8 Mbit/s (filler NAL units), for tests that must fill socket
/// buffers quickly: at the source's natural ~2 Mbit/s a stalled player takes
/// about 20 s to fill the kernel's buffers.
pub const HIGH_BITRATE: &[&str] = &[
    "-b:v",
    "8M",
    "-minrate",
    "8M",
    "-maxrate",
    "8M",
    "-bufsize",
    "2M",
    "-x264-params",
    "nal-hrd=cbr",
];

/// An ffmpeg command line with the options every invocation shares.
fn ffmpeg() -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    cmd
}

/// Starts ffmpeg publishing the test source in real time (`-re`) to `url`
/// for `secs` seconds; `extra` adds encoder options such as [`HIGH_BITRATE`].
pub fn ffmpeg_publisher(dir: &Path, name: &str, url: &str, secs: u32, extra: &[&str]) -> Proc {
    let mut cmd = ffmpeg();
    cmd.arg("-re")
        .args(SOURCE)
        .args(["-t", &secs.to_string()])
        .args(ENCODE)
        .args(extra)
        .args(["-f", "flv", url]);
    Proc::spawn(name, dir, cmd, Stdout::Null)
}

/// Like [`ffmpeg_publisher`], publishing over RTSP (ANNOUNCE/RECORD) with
/// RTP over `transport`: `tcp` (interleaved) or `udp`.
pub fn ffmpeg_rtsp_publisher(
    dir: &Path,
    name: &str,
    url: &str,
    secs: u32,
    transport: &str,
    extra: &[&str],
) -> Proc {
    let mut cmd = ffmpeg();
    cmd.arg("-re")
        .args(SOURCE)
        .args(["-t", &secs.to_string()])
        .args(ENCODE)
        .args(extra)
        .args(["-f", "rtsp", "-rtsp_transport", transport, url]);
    Proc::spawn(name, dir, cmd, Stdout::Null)
}

/// Writes `secs` seconds of the test source to an FLV file (as fast as possible).
pub fn make_flv(dir: &Path, path: &Path, secs: u32) {
    let mut cmd = ffmpeg();
    cmd.args(SOURCE)
        .args(["-t", &secs.to_string()])
        .args(ENCODE)
        .args(["-f", "flv", "-y"])
        .arg(path);
    let mut proc = Proc::spawn("ffmpeg-make-flv", dir, cmd, Stdout::Null);
    let status = proc.expect_exit(Duration::from_secs(60));
    assert!(
        status.success(),
        "ffmpeg could not write {}",
        path.display()
    );
}

/// An ffmpeg player that remuxes `url` to a stdout pipe that is never read:
/// after a few seconds it blocks, stops reading its socket, and the server
/// sees a player that stalled without disconnecting.
pub fn stalled_player(dir: &Path, url: &str) -> Proc {
    let mut cmd = ffmpeg();
    cmd.args(["-i", url, "-c", "copy", "-f", "flv", "pipe:1"]);
    Proc::spawn("ffmpeg-stalled-player", dir, cmd, Stdout::Unread)
}

/// Starts `rtmpdump --live` saving `url` to `out`. With `digest` it sets a
/// SWF hash and size (`-w`, `-x`), which makes librtmp use the Flash Player 9
/// handshake and verify the server's digest and signature: with `-V` it logs
/// "Genuine Adobe Flash Media Server" when both check out. Without them it
/// uses the plain handshake.
pub fn rtmpdump(dir: &Path, name: &str, url: &str, out: &Path, digest: bool) -> Proc {
    let mut cmd = Command::new("rtmpdump");
    cmd.args(["-V", "-r", url, "--live", "-B", "3", "-o"])
        .arg(out);
    if digest {
        cmd.args(["-w", &"0".repeat(64), "-x", "1"]);
    }
    Proc::spawn(name, dir, cmd, Stdout::Null)
}

/// GStreamer elements the GStreamer tests need.
pub const GST_ELEMENTS: &[&str] = &[
    "videotestsrc",
    "audiotestsrc",
    "x264enc",
    "avenc_aac",
    "flvmux",
    "rtmp2sink",
    "rtmp2src",
    "flvdemux",
    "h264parse",
    "avdec_h264",
    "fakesink",
];

/// `gst-launch-1.0 -e [-v] PIPELINE` (`-e` so SIGINT ends with EOS).
fn gst_launch(dir: &Path, name: &str, pipeline: &str, verbose: bool) -> Proc {
    let mut cmd = Command::new("stdbuf");
    cmd.args(["-oL", "gst-launch-1.0", "-e"]);
    if verbose {
        cmd.arg("-v");
    }
    cmd.args(pipeline.split_whitespace());
    Proc::spawn(name, dir, cmd, Stdout::Lines)
}

/// Publishes GStreamer's live test sources (640x360 H.264 at 30 fps, AAC)
/// with rtmp2sink.
pub fn gst_publisher(dir: &Path, url: &str) -> Proc {
    let pipeline = format!(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! flvmux streamable=true name=m \
         audiotestsrc is-live=true ! audioconvert ! audioresample ! avenc_aac ! m. \
         m. ! rtmp2sink location={url}"
    );
    gst_launch(dir, "gst-publisher", &pipeline, false)
}

/// Plays `url` with rtmp2src and decodes the video into a fakesink named
/// `vsink`; `-v` makes it print one "vsink: last-message = chain" line per
/// decoded frame and the negotiated caps (see [`gst_decoded_frames`]).
pub fn gst_player(dir: &Path, url: &str) -> Proc {
    let pipeline = format!(
        "rtmp2src location={url} ! flvdemux name=d \
         d.video ! queue ! h264parse ! avdec_h264 ! fakesink name=vsink silent=false \
         d.audio ! queue ! fakesink"
    );
    gst_launch(dir, "gst-player", &pipeline, true)
}

/// What a [`gst_player`] decoded: the presentation time (seconds) of every
/// frame that reached the sink, and whether the decoder's output caps said 640x360.
pub fn gst_decoded_frames(player: &mut Proc) -> (Vec<f64>, bool) {
    let lines = player.lines();
    let pts = lines
        .iter()
        .filter(|(_, l)| l.contains("vsink: last-message = chain"))
        .filter_map(|(_, l)| gst_time(l.split("pts: ").nth(1)?.split(',').next()?))
        .collect();
    let size_ok = lines.iter().any(|(_, l)| {
        l.contains("GstFakeSink:vsink.GstPad:sink: caps = video/x-raw")
            && l.contains("width=(int)640")
            && l.contains("height=(int)360")
    });
    (pts, size_ok)
}

/// Parses GStreamer's `H:MM:SS.NNNNNNNNN` clock time into seconds.
fn gst_time(text: &str) -> Option<f64> {
    let mut parts = text.trim().split(':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

/// `weir publish FILE URL`.
pub fn weir_publish(dir: &Path, file: &Path, url: &str) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.arg("publish").arg(file).arg(url);
    Proc::spawn("weir-publish", dir, cmd, Stdout::Null)
}

/// `weir passwd` with `password` on stdin: the argon2id hash for
/// `api.console_password_hash`.
pub fn password_hash(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("passwd")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run weir passwd");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "weir passwd failed");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    hash
}

/// `weir play URL -o OUT --duration SECS`.
pub fn weir_play(dir: &Path, url: &str, out: &Path, secs: u32) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args(["play", url, "-o"])
        .arg(out)
        .args(["--duration", &secs.to_string()]);
    Proc::spawn("weir-play", dir, cmd, Stdout::Null)
}

/// Plays `url` with VLC 3 (`cvlc`, Debian `vlc-bin` + `vlc-plugin-base`)
/// for `secs` seconds of stream time, remuxing what it demuxes to MPEG-TS
/// without decoding (`--sout '#std{...}'`), and returns how many video
/// frames of that file decode (0 when VLC wrote none). VLC refuses to run
/// as root, so as root it runs as `nobody` (`runuser`), with `HOME` and
/// the output in a world-writable temporary directory of its own; any
/// other user runs it directly. VLC's log goes to `dir/{name}.stderr`.
pub fn vlc_frames(dir: &Path, name: &str, url: &str, secs: u32) -> u64 {
    use std::os::unix::fs::PermissionsExt;
    require_tool("cvlc");
    let home = tempfile::Builder::new()
        .prefix("weir-vlc-")
        .tempdir()
        .expect("create VLC's directory");
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o777))
        .expect("make VLC's directory writable");
    let out = home.path().join("out.ts");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    // runuser resets HOME to the user's (nonexistent) one: `env` sets it.
    let mut cmd = if root {
        require_tool("runuser");
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "env"]);
        c
    } else {
        Command::new("env")
    };
    cmd.arg(format!("HOME={}", home.path().display()))
        .args(["cvlc", "-I", "dummy", url, "--sout"])
        .arg(format!("#std{{access=file,mux=ts,dst={}}}", out.display()))
        .args(["--run-time", &secs.to_string(), "vlc://quit"]);
    let mut proc = Proc::spawn(name, dir, cmd, Stdout::Null);
    let status = proc.expect_exit(Duration::from_secs(u64::from(secs) + 30));
    assert!(
        status.success(),
        "VLC failed ({status}):\n{}",
        proc.stderr_tail(30)
    );
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .expect("run ffprobe -count_frames");
    // MPEG-TS lists the stream under its program too: the same count twice.
    String::from_utf8_lossy(&probe.stdout)
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(0)
}
