//! Configuration: built-in defaults, overridden by a TOML file, overridden
//! by command-line flags. Unknown keys are errors, so a typo never silently
//! falls back to a default.

use std::net::SocketAddr;
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
    /// Hub (fan-out) settings.
    pub hub: HubSection,
}

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// `Access-Control-Allow-Origin` for media and API responses; empty
    /// disables CORS headers.
    pub allow_origin: String,
    /// How long an HTTP viewer of a stream that is not live waits for a
    /// publisher before 404 (0 = answer 404 at once).
    pub play_wait_secs: f64,
    /// A viewer that keeps falling behind (skipping frames) this long is
    /// disconnected.
    pub max_lag_secs: f64,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            allow_origin: "*".into(),
            play_wait_secs: 0.0,
            max_lag_secs: 10.0,
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
}

/// `[rtmp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpSection {
    /// Outgoing chunk size, the same for every player (mux once).
    pub chunk_size: u32,
    /// A new publisher of a live stream key replaces the old one (true), or
    /// is refused with NetStream.Publish.BadName (false).
    pub takeover: bool,
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
}

/// `[hub]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubSection {
    /// Entries a subscriber may fall behind before it skips to the next
    /// keyframe.
    pub queue_entries: usize,
    /// Largest GOP cached for instant start, in bytes.
    pub gop_max_bytes: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            rtmp_listen: ([0, 0, 0, 0], 1935).into(),
            http_listen: ([0, 0, 0, 0], 8080).into(),
            data_dir: PathBuf::from("weir-data"),
        }
    }
}

impl Default for RtmpSection {
    fn default() -> Self {
        RtmpSection {
            chunk_size: 4096,
            takeover: true,
            play_wait_secs: 10.0,
            handshake_timeout_secs: 10.0,
            idle_timeout_secs: 30.0,
            player_write_timeout_secs: 15.0,
            max_message_len: 32 << 20,
            max_chunk_streams: 64,
            max_connections: 10_000,
        }
    }
}

impl Default for HubSection {
    fn default() -> Self {
        HubSection {
            queue_entries: 1024,
            gop_max_bytes: 32 << 20,
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
                toml::from_str(&text)
                    .with_context(|| format!("parsing config {}", path.display()))?
            }
        };
        cfg.validate()?;
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
        if let Some(dir) = &args.data_dir {
            cfg.server.data_dir = dir.clone();
        }
        Ok(cfg)
    }

    /// The config as TOML, every default filled in.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let r = &self.rtmp;
        anyhow::ensure!(
            (128..=0x7fff_ffff).contains(&r.chunk_size),
            "rtmp.chunk_size must be between 128 and 2^31-1"
        );
        anyhow::ensure!(r.max_message_len >= 1024, "rtmp.max_message_len too small");
        anyhow::ensure!(
            r.max_chunk_streams >= 4,
            "rtmp.max_chunk_streams must be >= 4"
        );
        for (name, v) in [
            ("rtmp.play_wait_secs", r.play_wait_secs),
            ("rtmp.handshake_timeout_secs", r.handshake_timeout_secs),
            ("rtmp.idle_timeout_secs", r.idle_timeout_secs),
            (
                "rtmp.player_write_timeout_secs",
                r.player_write_timeout_secs,
            ),
            ("http.play_wait_secs", self.http.play_wait_secs),
            ("http.max_lag_secs", self.http.max_lag_secs),
        ] {
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "{name} must be a non-negative number"
            );
        }
        anyhow::ensure!(
            self.hub.queue_entries >= 16,
            "hub.queue_entries must be >= 16"
        );
        Ok(())
    }
}

/// Seconds from the config as a `Duration`.
pub fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let text = include_str!("../../../weir.example.toml");
        let cfg: Config = toml::from_str(text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.to_toml().unwrap(), Config::default().to_toml().unwrap());
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[rtmp]\ntakeovr = false\n").is_err());
    }
}
