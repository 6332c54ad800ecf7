//! `weir-bench`: how many viewers does a live server feed per core, how
//! much delay does it add, how fast does a new viewer see a picture?
//!
//! One publisher (weir's own RTMP client) sends an FLV file — or a
//! constant-bitrate test stream made by ffmpeg — in real time, looped. N
//! players connect over RTMP, HTTP-FLV or RTSP (TCP interleaved), or poll
//! LL-HLS with blocking playlist reloads (`llhls`), ramped at R per
//! second. A small
//! subset decodes every message and times each video frame and each AAC
//! frame, separately, against the instant the publisher sent it (matched by
//! content, since servers may rewrite timestamps); the rest only count bytes, so the tool stays cheap
//! next to the server it measures. The server's CPU and memory come from
//! /proc for the process tree of `--server-pid`.
//!
//! The tool runs two single-threaded runtimes: one for the publisher and
//! the measuring players (so their timing is not queued behind thousands of
//! counting players), one for the counting players.

#![warn(missing_docs, unreachable_pub)]

mod chat;
mod ingest;
mod llhls;
mod marker;
mod player;
mod probe;
mod procstat;
mod publisher;
mod report;
mod run;
mod source;
mod table;

use std::path::PathBuf;

use clap::Parser;

/// Load generator for live-streaming servers.
#[derive(Debug, Parser)]
#[command(name = "weir-bench", version, about)]
pub(crate) struct Args {
    /// Where the publisher sends, e.g. rtmp://127.0.0.1:1935/live/bench
    #[arg(long, default_value = "rtmp://127.0.0.1:1935/live/bench")]
    pub(crate) publish_url: String,
    /// Where players play: rtmp://..., http://.../app/stream.flv,
    /// rtsp://HOST:8554/app/stream (TCP interleaved) or
    /// http://HOST:8080/app/stream/llhls.m3u8 (LL-HLS viewers: blocking
    /// reloads for each part, delta updates, then the part, on one
    /// keep-alive connection; reports part delivery delay) (default: the
    /// publish URL).
    #[arg(long)]
    pub(crate) play_url: Option<String>,
    /// Concurrent players.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub(crate) players: usize,
    /// Players started per second.
    #[arg(long, short = 'r', default_value_t = 200.0)]
    pub(crate) ramp: f64,
    /// Players that decode everything and measure latency and first frame.
    #[arg(long, default_value_t = 50)]
    pub(crate) measuring: usize,
    /// Length of the measurement window, seconds (after the ramp).
    #[arg(long, short = 'd', default_value_t = 20.0)]
    pub(crate) duration: f64,
    /// Seconds between the publisher starting and the first player, so
    /// servers with a GOP cache have one.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) warmup: f64,
    /// Seconds between the last player starting and the window opening.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) settle: f64,
    /// FLV file to publish; without it a test stream is generated.
    #[arg(long, short = 'i')]
    pub(crate) input: Option<PathBuf>,
    /// Bitrate of the generated stream, e.g. 1M, 2500k (video + 64k audio).
    #[arg(long, default_value = "1M", value_parser = parse_bitrate)]
    pub(crate) bitrate: u64,
    /// Length of the generated stream (it is looped), seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) gen_seconds: u32,
    /// Keyframe interval of the generated stream, seconds (LL-HLS
    /// segments are cut at keyframes).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub(crate) gen_gop: u32,
    /// Size of the generated video, WxH.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub(crate) gen_size: (u32, u32),
    /// Where generated streams are cached.
    #[arg(long, default_value = "target/weir-bench")]
    pub(crate) cache_dir: PathBuf,
    /// Server process to measure (its descendants are included).
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// Share of the expected bytes a player must receive to count as
    /// keeping up.
    #[arg(long, default_value_t = 0.95)]
    pub(crate) keep_up: f64,
    /// Name of the run, carried into the report.
    #[arg(long, default_value = "")]
    pub(crate) label: String,
    /// Print the report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    /// Render these saved `--json` reports as a Markdown table and exit
    /// (no benchmark is run).
    #[arg(long, num_args = 1..)]
    pub(crate) table: Vec<PathBuf>,
    /// Chat mode: instead of media, -n chat members join this WebSocket
    /// room (ws://HOST:8080/chat/live/bench), ramped at -r per second;
    /// --chat-senders of them send --chat-rate messages per second for -d
    /// seconds; reports delivery latency and the server's CPU.
    #[arg(long)]
    pub(crate) chat_url: Option<String>,
    /// Chat mode: members that send.
    #[arg(long, default_value_t = 50)]
    pub(crate) chat_senders: usize,
    /// Chat mode: messages per second per sender.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) chat_rate: f64,
    /// Ingest mode: this many publishers, each on its own stream
    /// (`{publish-url}-1` ...), no players; reports the server's CPU per
    /// stream and its storage writes against what it received (recording
    /// costs). Needs --server-pid.
    #[arg(long)]
    pub(crate) publishers: Option<usize>,
}

/// `1M`, `2500k`, `800000` → bits per second.
fn parse_bitrate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1_000.0),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1_000_000.0),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("bad bitrate {s:?}"))?;
    let bps = v * mult;
    if !(10_000.0..=1e9).contains(&bps) {
        return Err(format!("bitrate {s:?} outside 10k..1000M"));
    }
    Ok(bps as u64)
}

/// `1280x720` → (1280, 720), even sizes only (what yuv420p needs).
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or_else(|| format!("bad size {s:?}"))?;
    let w: u32 = w.parse().map_err(|_| format!("bad width in {s:?}"))?;
    let h: u32 = h.parse().map_err(|_| format!("bad height in {s:?}"))?;
    if w < 16 || h < 16 || w > 7680 || h > 4320 || w & 1 != 0 || h & 1 != 0 {
        return Err(format!("size {s:?} must be even, 16x16 to 7680x4320"));
    }
    Ok((w, h))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.table.is_empty() {
        print!("{}", table::render_files(&args.table)?);
        return Ok(());
    }
    if let Some(url) = &args.chat_url {
        return chat::main(&args, url);
    }
    if let Some(n) = args.publishers {
        return ingest::main(&args, n);
    }
    let report = run::run(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary());
    }
    // Thousands of sockets and two runtimes: let the OS tear them down.
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates_and_sizes() {
        assert_eq!(parse_bitrate("1M"), Ok(1_000_000));
        assert_eq!(parse_bitrate("2500k"), Ok(2_500_000));
        assert_eq!(parse_bitrate("1.5m"), Ok(1_500_000));
        assert_eq!(parse_bitrate("800000"), Ok(800_000));
        assert!(parse_bitrate("1").is_err());
        assert!(parse_bitrate("fast").is_err());
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert!(parse_size("1281x720").is_err());
        assert!(parse_size("big").is_err());
    }

    #[test]
    fn cli_parses() {
        let a = Args::try_parse_from([
            "weir-bench",
            "-n",
            "1000",
            "--play-url",
            "http://127.0.0.1:8080/live/bench.flv",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.players, 1000);
        assert!(a.json);
    }
}
