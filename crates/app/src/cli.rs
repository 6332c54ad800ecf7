//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// weir: a live-streaming media server (RTMP in; RTMP, HTTP-FLV, HLS out).
#[derive(Debug, Parser)]
#[command(name = "weir", version, about)]
pub struct Cli {
    /// Log line format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "WEIR_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable `key=value` lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server. Works with no config file at all.
    Serve(ServeArgs),
    /// Publish an FLV file to an RTMP server, paced by its timestamps.
    Publish(PublishArgs),
    /// Play an RTMP stream into an FLV file.
    Play(PlayArgs),
    /// Read a console password from stdin and print its hash for the
    /// config's `[api] console_password_hash`.
    Passwd,
    /// Parse a config file, print it with every default filled in, and exit.
    CheckConfig {
        /// The config file to check.
        config: PathBuf,
    },
}

/// `weir serve` flags. Flags override the config file, which overrides the
/// built-in defaults.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML). See weir.example.toml.
    #[arg(long, short = 'c', env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
    /// RTMP listen address (default 0.0.0.0:1935).
    #[arg(long)]
    pub rtmp_listen: Option<SocketAddr>,
    /// HTTP listen address (default 0.0.0.0:8080).
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    /// Directory for recordings and HLS segments (default ./weir-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `weir publish` arguments.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// FLV file to publish.
    pub file: PathBuf,
    /// Target, e.g. rtmp://127.0.0.1:1935/live/test
    pub url: String,
    /// Start again from the beginning at the end of the file (timestamps
    /// keep increasing).
    #[arg(long = "loop")]
    pub looping: bool,
    /// Use the digest (FP9) handshake instead of the simple one.
    #[arg(long)]
    pub digest_handshake: bool,
}

/// `weir play` arguments.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Source, e.g. rtmp://127.0.0.1:1935/live/test
    pub url: String,
    /// Output FLV file (`-` for stdout).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Stop after this many seconds of wall time.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Use the digest (FP9) handshake instead of the simple one.
    #[arg(long)]
    pub digest_handshake: bool,
}
