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
// `serve`'s arguments are the big variant; the value is parsed once at
// start, so boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    /// Print a chat join token for a user in a room, signed with the
    /// config's `[chat] token_secret` (or --secret).
    ChatToken(ChatTokenArgs),
    /// Print a stream URL signed for `mode = "signed"` access
    /// (`?expires=...&sign=...`).
    Sign(SignArgs),
    /// Parse a config file, print it with every default filled in (warning
    /// on stderr of deprecated keys it still accepts), and exit.
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
    /// RTSP listen address (default 0.0.0.0:8554; an empty value turns
    /// RTSP off).
    #[arg(long)]
    pub rtsp_listen: Option<String>,
    /// RTSP server RTP port for UDP sessions (default 8000; 0 = TCP only).
    #[arg(long)]
    pub rtsp_rtp_port: Option<u16>,
    /// RTSP server RTCP port for UDP sessions (default 8001; 0 = TCP only).
    #[arg(long)]
    pub rtsp_rtcp_port: Option<u16>,
    /// RTSPS (RTSP over TLS) listen address (default 0.0.0.0:8322 when a
    /// TLS certificate is configured; an empty value turns RTSPS off).
    #[arg(long)]
    pub rtsps_listen: Option<String>,
    /// RTMPS (RTMP over TLS) listen address, e.g. 0.0.0.0:1936 (default:
    /// none). Needs a TLS certificate and key.
    #[arg(long)]
    pub rtmps_listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM, leaf first): serves HTTPS/WSS on the
    /// HTTP listener and enables RTMPS. Needs --tls-key.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of --tls-cert.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Directory for recordings and HLS segments (default ./weir-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Record every stream (`[record] enabled = true`; the section's
    /// `apps` and `streams` still choose).
    #[arg(long)]
    pub record: bool,
    /// Join a cluster through this Redis (`[cluster] redis`:
    /// `redis://[:password@]host:port`, `rediss://` for TLS).
    #[arg(long, env = "WEIR_CLUSTER_REDIS", hide_env_values = true)]
    pub cluster_redis: Option<String>,
    /// This node's id in the cluster (`[cluster] node_id`; default the
    /// host name).
    #[arg(long)]
    pub node_id: Option<String>,
    /// `host:port` other nodes and players reach this node's RTMP port by
    /// (`[cluster] advertise_rtmp`).
    #[arg(long)]
    pub advertise_rtmp: Option<String>,
    /// `host:port` of this node's HTTP port for players and other nodes
    /// (`[cluster] advertise_http`).
    #[arg(long)]
    pub advertise_http: Option<String>,
}

/// `weir publish` arguments.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// FLV file to publish.
    pub file: PathBuf,
    /// Target, e.g. rtmp://127.0.0.1:1935/live/test; also rtmps:// (TLS)
    /// and rtmpe:// (RTMPE, obfuscation only).
    pub url: String,
    /// Start again from the beginning at the end of the file (timestamps
    /// keep increasing).
    #[arg(long = "loop")]
    pub looping: bool,
    /// Use the digest (FP9) handshake instead of the simple one.
    #[arg(long)]
    pub digest_handshake: bool,
    /// rtmps://: also trust the certificates in this PEM file (a private
    /// CA, or a self-signed server's certificate).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
}

/// `weir play` arguments.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Source, e.g. rtmp://127.0.0.1:1935/live/test; also rtmps:// (TLS)
    /// and rtmpe:// (RTMPE, obfuscation only).
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
    /// rtmps://: also trust the certificates in this PEM file (a private
    /// CA, or a self-signed server's certificate).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
}

/// `weir chat-token` arguments.
#[derive(Debug, Args)]
pub struct ChatTokenArgs {
    /// The room: `app/stream`, e.g. live/test.
    pub room: String,
    /// The nickname the token is for; the client joins with exactly this.
    #[arg(long, short = 'u')]
    pub user: String,
    /// How long the token is valid, in seconds (at most a week).
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
    /// Config file whose `[chat] token_secret` signs the token.
    #[arg(long, short = 'c', env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
    /// The secret itself, instead of a config file.
    #[arg(long, env = "WEIR_CHAT_TOKEN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

/// `weir sign` arguments.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The URL to sign, e.g. rtmp://host/live/cam or
    /// http://host:8080/live/cam.flv
    pub url: String,
    /// Seconds the URL stays valid.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
    /// Sign for publishing or for playing (default: publish for rtmp://
    /// URLs, play for the others); picks the secret from the config.
    #[arg(long = "for", value_enum)]
    pub action: Option<SignAction>,
    /// Config file whose `[auth]` secret of the URL's app signs.
    #[arg(long, short = 'c', env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
    /// The secret itself, instead of a config file.
    #[arg(long, env = "WEIR_SIGN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

/// What a signed URL is for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SignAction {
    /// An encoder's URL.
    Publish,
    /// A viewer's URL.
    Play,
}

impl SignAction {
    /// `"publish"` or `"play"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignAction::Publish => "publish",
            SignAction::Play => "play",
        }
    }
}
