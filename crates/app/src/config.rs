//! Configuration: built-in defaults, overridden by a TOML file, overridden
//! by command-line flags. Unknown keys are errors, so a typo never silently
//! falls back to a default.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::cli::ServeArgs;

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listener addresses and paths.
    pub server: ServerSection,
    /// RTMP settings.
    pub rtmp: RtmpSection,
    /// HTTP delivery settings.
    pub http: HttpSection,
    /// HLS settings.
    pub hls: HlsSection,
    /// Hub (fan-out) settings.
    pub hub: HubSection,
    /// Stats API, console and player pages.
    pub api: ApiSection,
    /// Live chat beside every stream.
    pub chat: ChatSection,
    /// TLS certificate for HTTPS and RTMPS.
    pub tls: TlsSection,
    /// Who may publish and play: per app rules and HTTP callbacks.
    pub auth: weir_access::AuthConfig,
    /// RTSP listener (publish and play over RTSP).
    pub rtsp: RtspSection,
    /// Files and recordings served at `/vod/` (docs/vod.md).
    pub vod: crate::vod::VodSection,
    /// Cameras weir pulls over RTSP (`[[pull]]`, docs/rtsp.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pull: Vec<weir_pull::PullConfig>,
    /// Streams weir pushes (restreams) to other servers (`[[push]]`,
    /// docs/push.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub push: Vec<weir_push::PushConfig>,
    /// Recording (`[record]`, docs/recording.md).
    pub record: weir_record::RecordConfig,
    /// Transcoding ladders (`[[transcode]]`, docs/hls.md): renditions
    /// made by ffmpeg and published as `{stream}_{name}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcode: Vec<weir_transcode::TranscodeConfig>,
    /// Several nodes as one server, through Redis (`[cluster]`,
    /// docs/cluster.md); alone when `redis` is empty.
    pub cluster: weir_cluster::ClusterConfig,
    /// What the file said in an old way that still works (a deprecated
    /// key, and where it moved), for `serve` to log once at start and
    /// `check-config` to show; empty for the defaults and current files.
    #[serde(skip)]
    pub deprecations: Vec<String>,
}

/// `[tls]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain, leaf first (e.g. Let's Encrypt's
    /// fullchain.pem). With `key` set, the HTTP listener serves only HTTPS
    /// (and WSS), and `server.rtmps_listen` may be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// How often the files are checked for changes, in seconds; a changed
    /// pair is loaded without a restart (so is any pair on SIGHUP).
    pub reload_poll_secs: f64,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection {
            cert: None,
            key: None,
            reload_poll_secs: 2.0,
        }
    }
}

/// `[chat]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSection {
    /// Chat messages kept per room and sent to every joiner.
    pub history: usize,
    /// Sustained chat messages per second per connection.
    pub rate: f64,
    /// Messages a connection may send at once before `rate` applies.
    pub burst: u32,
    /// Longest chat message, in characters.
    pub max_text: usize,
    /// Messages and nicknames containing these (case-insensitive) are refused.
    pub banned_words: Vec<String>,
    /// Most connections in one room.
    pub max_members: usize,
    /// A chat connection silent this long is closed (clients ping every 10 s).
    pub heartbeat_timeout_secs: f64,
    /// Frames queued per member; a member that falls further behind is dropped.
    pub send_queue: usize,
    /// Least time between two writes to one member (ms); frames queued
    /// meanwhile go out in one write. 0 writes every frame at once.
    pub write_pacing_ms: u64,
    /// Secret for join tokens (HMAC-SHA256). Empty: anyone may chat. Set:
    /// every room admits only connections that `join` with a token for
    /// their nickname, minted by `weir chat-token`, `POST
    /// /api/v1/chat/token` or a site's backend (docs/chat.md).
    pub token_secret: String,
    /// Base URL clients reach this server by (`https://chat.example.com`),
    /// for the WebSocket URL `/api/v1/chat/endpoint` answers. Empty: the
    /// request's own `Host` (checked to be a host name or address).
    pub public_url: String,
}

impl Default for ChatSection {
    fn default() -> Self {
        ChatSection {
            history: 50,
            rate: 5.0,
            burst: 10,
            max_text: 200,
            banned_words: Vec::new(),
            max_members: 20_000,
            heartbeat_timeout_secs: 30.0,
            send_queue: 256,
            write_pacing_ms: 50,
            token_secret: String::new(),
            public_url: String::new(),
        }
    }
}

/// `[api]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Console login name.
    pub console_user: String,
    /// Argon2 hash of the console password, as `weir passwd` prints it.
    /// Empty: no console login.
    pub console_password_hash: String,
    /// Token for `Authorization: Bearer ...` on mutating API calls. Empty:
    /// none. With neither a password nor a token, kick/drop are off.
    pub api_token: String,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            console_user: "admin".into(),
            console_password_hash: String::new(),
            api_token: String::new(),
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// `Access-Control-Allow-Origin` for media responses (and chat, player
    /// pages); empty disables CORS headers.
    pub allow_origin: String,
    /// `Access-Control-Allow-Origin` for operator responses (`/api/v1/*`,
    /// `/stat`, `/metrics`, `/console*`, `/control/*`); empty (the
    /// default) sends none, so only pages of weir's own origin read them.
    pub api_allow_origin: String,
    /// How long an HTTP viewer of a stream that is not live waits for a
    /// publisher before 404 (0 = answer 404 at once).
    pub play_wait_secs: f64,
    /// A viewer that keeps falling behind (skipping frames) this long is
    /// disconnected.
    pub max_lag_secs: f64,
    /// Most simultaneous HTTP connections.
    pub max_connections: usize,
    /// Most simultaneous HTTP connections from one IP address; more are
    /// answered 429. 0 = no limit (the default: whole offices and mobile
    /// carriers share one address).
    pub max_connections_per_ip: usize,
    /// Largest message a viewer may send on a media WebSocket, in bytes.
    pub max_ws_message_bytes: usize,
    /// Largest request head (request line + headers) accepted, in bytes.
    pub max_header_bytes: usize,
    /// A request body must arrive in full within this many seconds of its
    /// head; later, the request fails and the connection closes.
    pub body_timeout_secs: f64,
    /// Most connections from one address sending a request (more get 429)
    /// and most idle between requests (more are closed); connections
    /// serving media never count. 0 = no limit.
    pub max_idle_per_ip: usize,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            allow_origin: "*".into(),
            api_allow_origin: String::new(),
            play_wait_secs: 0.0,
            max_lag_secs: 10.0,
            max_connections: 10_000,
            max_connections_per_ip: 0,
            max_ws_message_bytes: 64 * 1024,
            max_header_bytes: 16384,
            body_timeout_secs: 10.0,
            max_idle_per_ip: 64,
        }
    }
}

/// `[hls]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlsSection {
    /// Target segment length (cut at the first keyframe after it).
    pub fragment_secs: f64,
    /// LL-HLS part length in ms (`PART-TARGET`).
    pub part_ms: u32,
    /// Media time the playlist covers.
    pub window_secs: f64,
    /// A stream's HLS muxer stops after this long without requests.
    pub idle_timeout_secs: f64,
    /// Mux HLS for every live stream, watched or not.
    pub always_on: bool,
    /// Also write playlists and segments below `{data_dir}/hls/`.
    pub write_to_disk: bool,
}

impl Default for HlsSection {
    fn default() -> Self {
        HlsSection {
            fragment_secs: 2.0,
            part_ms: 200,
            window_secs: 10.0,
            idle_timeout_secs: 30.0,
            always_on: false,
            write_to_disk: false,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// RTMP listen address.
    pub rtmp_listen: SocketAddr,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Directory for recordings and HLS segments.
    pub data_dir: PathBuf,
    /// RTMPS (RTMP over TLS) listen address, e.g. "0.0.0.0:1936". Unset:
    /// no RTMPS. Needs `[tls]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtmps_listen: Option<SocketAddr>,
}

/// `[rtmp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpSection {
    /// Outgoing chunk size, the same for every player (mux once).
    pub chunk_size: u32,
    /// Deprecated: `[hub] takeover`. Takeover applies to the publishers of
    /// every protocol, so it moved to the hub; files that still set it here
    /// keep working, with a warning (see [`Config::deprecations`]). Never
    /// written back, and `None` once a file is loaded.
    #[serde(skip_serializing)]
    pub takeover: Option<bool>,
    /// How long a player of a stream that is not live waits for a publisher.
    pub play_wait_secs: f64,
    /// Handshake must complete within this time.
    pub handshake_timeout_secs: f64,
    /// A connection that sends nothing for this long is closed (publishers
    /// and not-yet-playing clients; players are judged by their writes).
    pub idle_timeout_secs: f64,
    /// A player whose socket accepts no data for this long is dropped.
    pub player_write_timeout_secs: f64,
    /// Largest RTMP message accepted, in bytes (a 4K keyframe fits).
    pub max_message_len: u32,
    /// Most chunk streams with a partial message at once.
    pub max_chunk_streams: usize,
    /// Most simultaneous RTMP connections.
    pub max_connections: usize,
    /// Most simultaneous RTMP connections from one IP address (0 = no
    /// limit, the default: many viewers can share one address).
    pub max_connections_per_ip: usize,
    /// Merged writes: a player's next write waits this many milliseconds
    /// after its last one, sending everything queued meanwhile at once.
    /// Much cheaper per viewer with thousands of viewers, at the cost of up
    /// to this much latency (SRS's mw_latency is 350). 0 = write at once.
    pub merge_write_ms: u64,
    /// RTMPT (RTMP tunnelled over HTTP POSTs, `rtmpt://host:HTTPPORT/..`)
    /// on the HTTP listener (RTMPTS on HTTPS). Sessions count against
    /// `max_connections` and `max_connections_per_ip`.
    pub rtmpt: bool,
    /// An RTMPT session whose client sends no request for this long is
    /// closed.
    pub rtmpt_idle_timeout_secs: f64,
    /// Largest RTMPT POST body, in bytes; larger ones are answered 413.
    pub rtmpt_max_body_bytes: usize,
    /// Answer RTMPE (the Flash-era encrypted handshake, C0 = 6) on the
    /// RTMP port. On by default: it costs nothing unless a client asks,
    /// and the clients that ask (rtmpdump, `rtmpe://` in ffmpeg, old
    /// encoders) have no other way in. RTMPE is obfuscation, not security
    /// (docs/security.md); off, such a client is refused at its first
    /// byte.
    pub rtmpe: bool,
}

/// `[rtsp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtspSection {
    /// Listen address, e.g. "0.0.0.0:8554" (the default); empty = no RTSP.
    /// A string rather than an address so that a config file can turn the
    /// listener off.
    pub listen: String,
    /// Server RTP port for UDP sessions, shared by all of them (and bound
    /// on the listen address); 0 = no UDP, TCP interleaved only.
    pub rtp_port: u16,
    /// Server RTCP port for UDP sessions; 0 = no UDP.
    pub rtcp_port: u16,
    /// Advertised session timeout: a session that sends no request and no
    /// packet for this long is closed (players over TCP are exempt, their
    /// connection is the session).
    pub session_timeout_secs: f64,
    /// How long a DESCRIBE of a stream that is not live waits for it.
    pub play_wait_secs: f64,
    /// A player whose socket accepts no data for this long is dropped.
    pub player_write_timeout_secs: f64,
    /// Most simultaneous RTSP connections.
    pub max_connections: usize,
    /// Most simultaneous RTSP connections from one IP address (0 = no
    /// limit).
    pub max_connections_per_ip: usize,
    /// RTSPS (RTSP over TLS) listen address. Unset: "0.0.0.0:8322" when
    /// `[tls]` is configured, else none; empty = no RTSPS; an address
    /// needs `[tls]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_listen: Option<String>,
    /// UDP multicast for players: the group range, "224.1.0.0/16" (a bare
    /// address means its /24). Each stream gets two addresses (video,
    /// audio). Empty (the default) = no multicast.
    pub multicast: String,
    /// RTP port of every multicast group (RTCP on the next).
    pub multicast_port: u16,
    /// Time to live of multicast datagrams (1 = this network only).
    pub multicast_ttl: u8,
}

impl Default for RtspSection {
    fn default() -> Self {
        RtspSection {
            listen: "0.0.0.0:8554".into(),
            rtp_port: 8000,
            rtcp_port: 8001,
            session_timeout_secs: 60.0,
            play_wait_secs: 5.0,
            player_write_timeout_secs: 15.0,
            max_connections: 10_000,
            max_connections_per_ip: 0,
            tls_listen: None,
            multicast: String::new(),
            multicast_port: 8002,
            multicast_ttl: 16,
        }
    }
}

/// RTSPS's port when `[tls]` is on and `rtsp.tls_listen` is unset.
const DEFAULT_RTSPS_LISTEN: &str = "0.0.0.0:8322";

impl RtspSection {
    /// Refuses values the listener cannot use.
    fn check(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        self.multicast_range()?;
        for (name, v) in [
            ("rtsp.session_timeout_secs", self.session_timeout_secs),
            ("rtsp.play_wait_secs", self.play_wait_secs),
            (
                "rtsp.player_write_timeout_secs",
                self.player_write_timeout_secs,
            ),
        ] {
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "{name} must be a non-negative number"
            );
        }
        anyhow::ensure!(
            (self.rtp_port == 0) == (self.rtcp_port == 0)
                && (self.rtp_port == 0 || self.rtp_port != self.rtcp_port),
            "rtsp.rtp_port and rtsp.rtcp_port must both be 0 (no UDP) or two different ports"
        );
        anyhow::ensure!(
            self.session_timeout_secs >= 1.0,
            "rtsp.session_timeout_secs must be at least 1"
        );
        Ok(())
    }

    /// The listen address, `None` when RTSP is off.
    pub fn listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        let addr = listen.parse().with_context(|| {
            format!("rtsp.listen {listen:?} is not an address like 0.0.0.0:8554")
        })?;
        Ok(Some(addr))
    }

    /// The multicast range as (first address, size), `None` when off.
    pub fn multicast_range(&self) -> anyhow::Result<Option<(Ipv4Addr, u32)>> {
        let range = self.multicast.trim();
        if range.is_empty() {
            return Ok(None);
        }
        let bad = || {
            anyhow::anyhow!(
                "rtsp.multicast {range:?} is not a multicast range like \"224.1.0.0/16\""
            )
        };
        let (addr, bits) = match range.split_once('/') {
            Some((a, b)) => (a, b.parse::<u32>().map_err(|_| bad())?),
            None => (range, 24),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        anyhow::ensure!((4..=30).contains(&bits) && addr.is_multicast(), bad());
        let mask = u32::MAX << (32 - bits);
        let first = Ipv4Addr::from(u32::from(addr) & mask);
        anyhow::ensure!(first.is_multicast(), bad());
        anyhow::ensure!(
            self.multicast_port > 0 && self.multicast_port < u16::MAX && self.multicast_ttl > 0,
            "rtsp.multicast_port must be 1-65534 and rtsp.multicast_ttl at least 1"
        );
        Ok(Some((first, 1 << (32 - bits))))
    }

    /// The RTSPS listen address given whether TLS is configured: `None`
    /// when RTSPS is off. An explicit address without TLS is an error, as
    /// for `server.rtmps_listen`.
    pub fn tls_listen_addr(&self, tls: bool) -> anyhow::Result<Option<SocketAddr>> {
        let listen = match &self.tls_listen {
            None if tls => DEFAULT_RTSPS_LISTEN,
            None => return Ok(None),
            Some(l) => l.trim(),
        };
        if listen.is_empty() {
            return Ok(None);
        }
        let addr = listen.parse().with_context(|| {
            format!("rtsp.tls_listen {listen:?} is not an address like 0.0.0.0:8322")
        })?;
        anyhow::ensure!(
            tls,
            "rtsp.tls_listen ({addr}) needs a TLS certificate: set [tls] cert and key \
             (or --tls-cert and --tls-key)"
        );
        Ok(Some(addr))
    }
}

/// `[hub]`: settings of the hub itself, which apply to every protocol's
/// publishers and viewers alike.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubSection {
    /// A new publisher of a live stream key replaces the old one (true), or
    /// is refused (false; RTMP answers NetStream.Publish.BadName).
    pub takeover: bool,
    /// Entries a subscriber may fall behind before it skips to the next
    /// keyframe.
    pub queue_entries: usize,
    /// Largest GOP cached for instant start, in bytes.
    pub gop_max_bytes: usize,
    /// Adaptive write coalescing for RTMP and HTTP/WS-FLV viewers: on a
    /// stream watched by at least `coalesce_min_viewers`, audio arriving
    /// between video frames waits up to this many ms for the next video
    /// frame, so each viewer gets one write per video frame instead of one
    /// per message (about 2.4 times fewer at 30 fps + AAC). Video is never
    /// held; small audiences and audio-only streams are never held.
    /// 0 = wake viewers for every message.
    pub coalesce_audio_ms: u64,
    /// Viewers of one stream and format from which audio is coalesced.
    pub coalesce_min_viewers: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            rtmp_listen: ([0, 0, 0, 0], 1935).into(),
            http_listen: ([0, 0, 0, 0], 8080).into(),
            data_dir: PathBuf::from("weir-data"),
            rtmps_listen: None,
        }
    }
}

impl Default for RtmpSection {
    fn default() -> Self {
        RtmpSection {
            chunk_size: 4096,
            takeover: None,
            play_wait_secs: 10.0,
            handshake_timeout_secs: 10.0,
            idle_timeout_secs: 30.0,
            player_write_timeout_secs: 15.0,
            max_message_len: 32 << 20,
            max_chunk_streams: 64,
            max_connections: 10_000,
            max_connections_per_ip: 0,
            merge_write_ms: 0,
            rtmpt: true,
            rtmpt_idle_timeout_secs: 15.0,
            rtmpt_max_body_bytes: 2 << 20,
            rtmpe: true,
        }
    }
}

impl Default for HubSection {
    fn default() -> Self {
        HubSection {
            takeover: true,
            queue_entries: 1024,
            gop_max_bytes: 32 << 20,
            coalesce_audio_ms: 40,
            coalesce_min_viewers: 100,
        }
    }
}

impl Config {
    /// Defaults, or defaults overridden by the file at `path`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let cfg: Config = match path {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config {}", path.display()))?;
                Config::parse(&text)
                    .with_context(|| format!("parsing config {}", path.display()))?
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// A config file's text as a `Config`, deprecated keys moved to their
    /// new home and noted in [`Config::deprecations`].
    fn parse(text: &str) -> anyhow::Result<Config> {
        let mut cfg: Config = toml::from_str(text)?;
        if let Some(old) = cfg.rtmp.takeover.take() {
            // Whether `[hub] takeover` was written (rather than defaulted)
            // is only known from the text; the file parsed, so this does too.
            let hub_set = toml::from_str::<toml::Table>(text)?
                .get("hub")
                .and_then(|hub| hub.get("takeover"))
                .is_some();
            let note = if hub_set {
                format!(
                    "[rtmp] takeover is deprecated and ignored: [hub] takeover = {} \
                     is also set and wins; remove [rtmp] takeover",
                    cfg.hub.takeover
                )
            } else {
                cfg.hub.takeover = old;
                format!(
                    "[rtmp] takeover is deprecated: takeover applies to every protocol, \
                     so it moved to [hub]; write `takeover = {old}` under [hub] instead"
                )
            };
            cfg.deprecations.push(note);
        }
        Ok(cfg)
    }

    /// Loads the file named by `--config` and applies the other flags.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Config> {
        let mut cfg = Config::load(args.config.as_deref())?;
        if let Some(addr) = args.rtmp_listen {
            cfg.server.rtmp_listen = addr;
        }
        if let Some(addr) = args.http_listen {
            cfg.server.http_listen = addr;
        }
        if args.record {
            cfg.record.enabled = true;
        }
        if let Some(dir) = &args.data_dir {
            cfg.server.data_dir = dir.clone();
        }
        if let Some(addr) = args.rtmps_listen {
            cfg.server.rtmps_listen = Some(addr);
        }
        if let Some(listen) = &args.rtsp_listen {
            cfg.rtsp.listen = listen.clone();
        }
        if let Some(listen) = &args.rtsps_listen {
            cfg.rtsp.tls_listen = Some(listen.clone());
        }
        if let Some(port) = args.rtsp_rtp_port {
            cfg.rtsp.rtp_port = port;
        }
        if let Some(port) = args.rtsp_rtcp_port {
            cfg.rtsp.rtcp_port = port;
        }
        if let Some(path) = &args.tls_cert {
            cfg.tls.cert = Some(path.clone());
        }
        if let Some(path) = &args.tls_key {
            cfg.tls.key = Some(path.clone());
        }
        if let Some(url) = &args.cluster_redis {
            cfg.cluster.redis = url.clone();
        }
        if let Some(id) = &args.node_id {
            cfg.cluster.node_id = id.clone();
        }
        if let Some(addr) = &args.advertise_rtmp {
            cfg.cluster.advertise_rtmp = addr.clone();
        }
        if let Some(addr) = &args.advertise_http {
            cfg.cluster.advertise_http = addr.clone();
        }
        Ok(cfg)
    }

    /// The TLS certificate and key files, if configured. Errors when only
    /// one of them is set, or RTMPS is asked for without them: checked at
    /// startup, after the flags, which may supply any of the three.
    pub fn tls_files(&self) -> anyhow::Result<Option<weir_tls::CertFiles>> {
        let files = match (&self.tls.cert, &self.tls.key) {
            (Some(cert), Some(key)) => Some(weir_tls::CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            _ => anyhow::bail!(
                "TLS needs both a certificate and a key: set [tls] cert and key \
                 (or --tls-cert and --tls-key)"
            ),
        };
        if files.is_none() {
            if let Some(addr) = self.server.rtmps_listen {
                anyhow::bail!(
                    "server.rtmps_listen ({addr}) needs a TLS certificate: set [tls] cert \
                     and key (or --tls-cert and --tls-key)"
                );
            }
        }
        Ok(files)
    }

    /// The config as TOML, every default filled in.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.auth.check()?;
        self.rtsp.check()?;
        self.record.validate()?;
        for t in &self.transcode {
            t.validate()?;
        }
        let mut pulled = std::collections::HashSet::new();
        for pull in &self.pull {
            pull.check()?;
            anyhow::ensure!(
                pulled.insert(pull.key()?),
                "two [[pull]] entries feed {}",
                pull.key()?
            );
        }
        for push in &self.push {
            push.check()?;
        }
        self.cluster.check()?;
        let r = &self.rtmp;
        anyhow::ensure!(
            (128..=0x7fff_ffff).contains(&r.chunk_size),
            "rtmp.chunk_size must be between 128 and 2^31-1"
        );
        anyhow::ensure!(r.max_message_len >= 1024, "rtmp.max_message_len too small");
        anyhow::ensure!(
            r.rtmpt_max_body_bytes >= 4096,
            "rtmp.rtmpt_max_body_bytes must be at least 4096"
        );
        anyhow::ensure!(
            r.max_chunk_streams >= 4,
            "rtmp.max_chunk_streams must be >= 4"
        );
        for (name, v) in [
            ("rtmp.play_wait_secs", r.play_wait_secs),
            ("rtmp.handshake_timeout_secs", r.handshake_timeout_secs),
            ("rtmp.idle_timeout_secs", r.idle_timeout_secs),
            ("rtmp.rtmpt_idle_timeout_secs", r.rtmpt_idle_timeout_secs),
            (
                "rtmp.player_write_timeout_secs",
                r.player_write_timeout_secs,
            ),
            ("http.play_wait_secs", self.http.play_wait_secs),
            ("http.max_lag_secs", self.http.max_lag_secs),
            ("hls.idle_timeout_secs", self.hls.idle_timeout_secs),
        ] {
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "{name} must be a non-negative number"
            );
        }
        anyhow::ensure!(
            (0.1..=60.0).contains(&self.hls.fragment_secs),
            "hls.fragment_secs must be between 0.1 and 60"
        );
        anyhow::ensure!(
            (50..=2000).contains(&self.hls.part_ms)
                && f64::from(self.hls.part_ms) <= self.hls.fragment_secs * 1000.0,
            "hls.part_ms must be between 50 and 2000, and at most hls.fragment_secs"
        );
        anyhow::ensure!(
            self.hls.window_secs.is_finite() && self.hls.window_secs >= self.hls.fragment_secs,
            "hls.window_secs must be at least hls.fragment_secs"
        );
        anyhow::ensure!(
            self.http.max_connections >= 1,
            "http.max_connections must be >= 1"
        );
        anyhow::ensure!(
            self.http.max_header_bytes >= 8192,
            "http.max_header_bytes must be >= 8192"
        );
        anyhow::ensure!(
            (0.1..=3600.0).contains(&self.tls.reload_poll_secs),
            "tls.reload_poll_secs must be between 0.1 and 3600"
        );
        anyhow::ensure!(
            self.hub.queue_entries >= 16,
            "hub.queue_entries must be >= 16"
        );
        anyhow::ensure!(
            self.hub.coalesce_audio_ms <= 1_000,
            "hub.coalesce_audio_ms must be at most 1000"
        );
        anyhow::ensure!(
            self.rtmp.merge_write_ms <= 5_000,
            "rtmp.merge_write_ms must be at most 5000"
        );
        anyhow::ensure!(
            (0.0..=86_400.0).contains(&self.chat.heartbeat_timeout_secs),
            "chat.heartbeat_timeout_secs must be a number of seconds up to a day"
        );
        anyhow::ensure!(
            self.chat.write_pacing_ms <= 10_000,
            "chat.write_pacing_ms must be at most 10000"
        );
        crate::chat::settings(&self.chat).validate()?;
        if !self.api.console_password_hash.is_empty() {
            weir_api::check_password_hash(&self.api.console_password_hash)
                .map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
}

/// `weir check-config`: loads the file, prints it with every default
/// filled in, and warns (on stderr, so the printed config stays clean) of
/// each deprecated key it still accepts.
pub fn check_command(path: &Path) -> anyhow::Result<()> {
    let cfg = Config::load(Some(path))?;
    for note in &cfg.deprecations {
        eprintln!("warning: {note}");
    }
    println!("{}: ok\n\n{}", path.display(), cfg.to_toml()?);
    Ok(())
}

/// Seconds from the config as a `Duration`.
pub fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_listener_can_be_turned_off_and_bad_values_are_refused() {
        let off = Config::parse("[rtsp]\nlisten = \"\"\n").unwrap();
        assert_eq!(off.rtsp.listen_addr().unwrap(), None);
        assert_eq!(
            Config::default().rtsp.listen_addr().unwrap(),
            Some(([0, 0, 0, 0], 8554).into())
        );
        for bad in ["listen = \"nope\"", "session_timeout_secs = 0"] {
            let cfg = Config::parse(&format!("[rtsp]\n{bad}\n")).unwrap();
            assert!(cfg.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let text = include_str!("../../../weir.example.toml");
        let cfg: Config = toml::from_str(text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.to_toml().unwrap(), Config::default().to_toml().unwrap());
    }

    #[test]
    fn takeover_is_a_hub_setting_and_the_old_rtmp_key_still_works() {
        let new = Config::parse("[hub]\ntakeover = false\n").unwrap();
        assert!(!new.hub.takeover);
        assert!(new.deprecations.is_empty(), "{:?}", new.deprecations);

        let old = Config::parse("[rtmp]\ntakeover = false\n").unwrap();
        assert!(!old.hub.takeover, "the old key's value is used");
        assert_eq!(old.rtmp.takeover, None);
        assert_eq!(old.deprecations.len(), 1);
        assert!(
            old.deprecations[0].contains("[rtmp] takeover is deprecated")
                && old.deprecations[0].contains("[hub]"),
            "{:?}",
            old.deprecations
        );
        // The printed config has only the new key.
        let printed = old.to_toml().unwrap();
        assert!(printed.contains("[hub]\ntakeover = false\n"), "{printed}");
        assert_eq!(printed.matches("takeover").count(), 1, "{printed}");

        for (hub, rtmp) in [(true, false), (false, true)] {
            let both = Config::parse(&format!(
                "[rtmp]\ntakeover = {rtmp}\n[hub]\ntakeover = {hub}\n"
            ))
            .unwrap();
            assert_eq!(both.hub.takeover, hub, "[hub] wins");
            assert_eq!(both.deprecations.len(), 1);
            assert!(
                both.deprecations[0].contains("ignored")
                    && both.deprecations[0].contains(&format!("[hub] takeover = {hub}")),
                "{:?}",
                both.deprecations
            );
        }

        let default = Config::parse("").unwrap();
        assert!(default.hub.takeover);
        assert!(default.deprecations.is_empty());
    }

    #[test]
    fn pull_entries_parse_and_are_checked() {
        let cfg = Config::parse(
            "[[pull]]\napp = \"live\"\nstream = \"door\"\nurl = \"rtsp://u:p@10.0.0.5/1\"\n\n\
             [[pull]]\napp = \"live\"\nstream = \"yard\"\nurl = \"rtsp://10.0.0.6/\"\n\
             transport = \"udp\"\non_demand = false\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.pull.len(), 2);
        assert!(cfg.pull[0].on_demand && !cfg.pull[1].on_demand);
        assert!(cfg.to_toml().unwrap().contains("[[pull]]"));
        for bad in [
            "[[pull]]\napp = \"live\"\nstream = \"a\"\nurl = \"http://x/\"\n",
            "[[pull]]\napp = \"live\"\nstream = \"a\"\nurl = \"rtsp://x/\"\n\
             [[pull]]\napp = \"live\"\nstream = \"a\"\nurl = \"rtsp://y/\"\n",
        ] {
            let cfg = Config::parse(bad).unwrap();
            assert!(cfg.validate().is_err(), "{bad}");
        }
        assert!(Config::parse(
            "[[pull]]\napp = \"live\"\nstream = \"a\"\nurl = \"rtsp://x/\"\nport = 1\n"
        )
        .is_err());
    }

    #[test]
    fn push_entries_parse_and_are_checked() {
        let cfg = Config::parse(
            "[[push]]\napp = \"live\"\nurl = \"rtmp://a.rtmp.youtube.com/live2/KEY\"\n\n\
             [[push]]\nstreams = [\"live/cam*\"]\nurl = \"rtmp://b:1936/{app}/{stream}\"\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.push.len(), 2);
        assert!(cfg.to_toml().unwrap().contains("[[push]]"));
        for bad in [
            "[[push]]\nurl = \"rtmp://b/live/x\"\n",
            "[[push]]\napp = \"live\"\nurl = \"rtmp://b/live/{key}\"\n",
            "[[push]]\napp = \"live\"\nurl = \"http://b/live/x\"\n",
        ] {
            let cfg = Config::parse(bad).unwrap();
            assert!(cfg.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn hls_part_ms_is_bounded_by_its_range_and_the_segment() {
        assert_eq!(Config::parse("").unwrap().hls.part_ms, 200);
        assert_eq!(
            Config::parse("[hls]\npart_ms = 333\n").unwrap().hls.part_ms,
            333
        );
        for bad in [
            "part_ms = 10",
            "part_ms = 5000",
            "fragment_secs = 0.5\npart_ms = 600",
        ] {
            let cfg = Config::parse(&format!("[hls]\n{bad}\n")).unwrap();
            assert!(cfg.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[rtmp]\ntakeovr = false\n").is_err());
    }

    #[test]
    fn tls_needs_a_cert_and_key_together_and_for_rtmps() {
        let mut cfg = Config::default();
        assert!(cfg.tls_files().unwrap().is_none());
        cfg.server.rtmps_listen = Some(([127, 0, 0, 1], 1936).into());
        assert!(cfg.tls_files().is_err());
        cfg.tls.cert = Some("cert.pem".into());
        assert!(cfg.tls_files().is_err());
        cfg.tls.key = Some("key.pem".into());
        let files = cfg.tls_files().unwrap().unwrap();
        assert_eq!(files.key, PathBuf::from("key.pem"));
        // Unset options are left out of the printed config.
        assert!(!Config::default()
            .to_toml()
            .unwrap()
            .contains("rtmps_listen"));
    }
}
