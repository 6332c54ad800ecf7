//! `[cluster]`: where Redis is, who this node is, how others reach it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ClusterError;

/// Longest node id: it goes into Redis keys and URLs.
pub const MAX_NODE_ID: usize = 64;

/// The `[cluster]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://[user:password@]host:port[/db]` or `rediss://` (TLS);
    /// empty: this node runs alone.
    #[serde(default)]
    pub redis: String,
    /// This node's name in the cluster (letters, digits, `.`, `_`, `-`);
    /// empty: the host name.
    #[serde(default)]
    pub node_id: String,
    /// `host:port` other nodes and clients reach this node's RTMP port
    /// by; empty: the RTMP listen address when it is specific, else this
    /// host's outward address.
    #[serde(default)]
    pub advertise_rtmp: String,
    /// `host:port` of this node's HTTP port for clients and other nodes;
    /// empty: as for RTMP.
    #[serde(default)]
    pub advertise_http: String,
    /// Prefix of every Redis key and channel, so that several clusters
    /// can share one Redis.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Seconds between two heartbeats.
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_secs: f64,
    /// Seconds a heartbeat (and a stream's directory entry) lives in
    /// Redis: a node that stops beating vanishes this long after its last
    /// beat.
    #[serde(default = "default_ttl_secs")]
    pub ttl_secs: f64,
    /// Seconds an edge keeps its pull of a stream (and its viewers) after
    /// the stream left the directory, waiting for the encoder to come
    /// back on some node (origin failover).
    #[serde(default = "default_failover_secs")]
    pub failover_secs: f64,
    /// Seconds an edge's pull of a stream keeps running after its last
    /// viewer left.
    #[serde(default = "default_idle_secs")]
    pub idle_secs: f64,
}

fn default_prefix() -> String {
    "weir".to_owned()
}
fn default_heartbeat_secs() -> f64 {
    2.0
}
fn default_ttl_secs() -> f64 {
    6.0
}
fn default_failover_secs() -> f64 {
    10.0
}
fn default_idle_secs() -> f64 {
    10.0
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis: String::new(),
            node_id: String::new(),
            advertise_rtmp: String::new(),
            advertise_http: String::new(),
            prefix: default_prefix(),
            heartbeat_secs: default_heartbeat_secs(),
            ttl_secs: default_ttl_secs(),
            failover_secs: default_failover_secs(),
            idle_secs: default_idle_secs(),
        }
    }
}

impl ClusterConfig {
    /// Whether a Redis URL is set (otherwise the node runs alone).
    pub fn enabled(&self) -> bool {
        !self.redis.is_empty()
    }

    /// Checks every field; the error names the one that is wrong.
    pub fn check(&self) -> Result<(), ClusterError> {
        let bad =
            |field: &'static str, problem: String| ClusterError::BadSetting { field, problem };
        if self.enabled() {
            let scheme = self.redis.split_once("://").map(|(s, _)| s);
            if !matches!(scheme, Some("redis" | "rediss")) {
                return Err(bad(
                    "redis",
                    "must be redis://host:port or rediss://host:port".into(),
                ));
            }
            redis::Client::open(self.redis.as_str())
                .map_err(|e| bad("redis", format!("{}: {e}", redact(&self.redis))))?;
        }
        if !self.node_id.is_empty() && !valid_node_id(&self.node_id) {
            return Err(bad(
                "node_id",
                format!(
                    "{:?}: use 1 to {MAX_NODE_ID} letters, digits, '.', '_' or '-'",
                    self.node_id
                ),
            ));
        }
        for (field, value) in [
            ("advertise_rtmp", &self.advertise_rtmp),
            ("advertise_http", &self.advertise_http),
        ] {
            if !value.is_empty() && !valid_authority(value) {
                return Err(bad(field, format!("{value:?} is not host:port")));
            }
        }
        if self.prefix.is_empty()
            || self.prefix.len() > 32
            || !self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(bad(
                "prefix",
                "use 1 to 32 letters, digits, '.', '_' or '-'".into(),
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0 && v < 86_400.0;
        if !positive(self.heartbeat_secs) {
            return Err(bad(
                "heartbeat_secs",
                "must be a positive number of seconds".into(),
            ));
        }
        if !positive(self.ttl_secs) || self.ttl_secs < 2.0 * self.heartbeat_secs {
            return Err(bad(
                "ttl_secs",
                "must be at least twice heartbeat_secs, so one lost beat does not drop the node"
                    .into(),
            ));
        }
        if !(self.failover_secs.is_finite() && self.failover_secs >= 0.0) {
            return Err(bad("failover_secs", "must be zero or more seconds".into()));
        }
        if !(self.idle_secs.is_finite() && self.idle_secs >= 0.0) {
            return Err(bad("idle_secs", "must be zero or more seconds".into()));
        }
        Ok(())
    }

    pub(crate) fn heartbeat(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat_secs)
    }

    pub(crate) fn ttl(&self) -> Duration {
        Duration::from_secs_f64(self.ttl_secs)
    }

    pub(crate) fn failover(&self) -> Duration {
        Duration::from_secs_f64(self.failover_secs)
    }
}

/// Whether `id` may name a node: it goes into keys, JSON and logs.
pub fn valid_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_NODE_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Whether `s` is `host:port` with a host name, IPv4 or bracketed IPv6
/// address and a port: nothing else may go into the URLs built from it.
pub fn valid_authority(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
    };
    port_ok && host_ok
}

/// Whether `s` is a host with an optional port (a `Host` header value
/// that may go into a URL).
pub(crate) fn valid_host(s: &str) -> bool {
    valid_authority(s) || valid_authority(&format!("{s}:1"))
}

/// The Redis URL without its password, for logs and the API.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((auth, host)) => {
            let user = auth.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_alone() {
        let c = ClusterConfig::default();
        assert!(!c.enabled());
        c.check().unwrap();
    }

    #[test]
    fn bad_settings_are_named() {
        let field = |c: ClusterConfig| match c.check() {
            Err(ClusterError::BadSetting { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let base = ClusterConfig::default();
        let with = |f: &dyn Fn(&mut ClusterConfig)| {
            let mut c = base.clone();
            f(&mut c);
            c
        };
        assert_eq!(field(with(&|c| c.redis = "http://x".into())), "redis");
        assert_eq!(field(with(&|c| c.node_id = "a b".into())), "node_id");
        assert_eq!(field(with(&|c| c.node_id = "x".repeat(65))), "node_id");
        assert_eq!(
            field(with(&|c| c.advertise_rtmp = "host".into())),
            "advertise_rtmp"
        );
        assert_eq!(
            field(with(&|c| c.advertise_http = "h/x:80".into())),
            "advertise_http"
        );
        assert_eq!(field(with(&|c| c.ttl_secs = 3.0)), "ttl_secs");
        assert_eq!(field(with(&|c| c.heartbeat_secs = 0.0)), "heartbeat_secs");
        assert_eq!(field(with(&|c| c.prefix = "a:b".into())), "prefix");
        with(&|c| c.redis = "redis://:pw@127.0.0.1:6379/0".into())
            .check()
            .unwrap();
    }

    #[test]
    fn authorities() {
        for ok in ["10.0.0.1:1935", "edge-1.example.com:80", "[::1]:8080"] {
            assert!(valid_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "host",
            "host:0",
            "host:99999",
            "a@b:1",
            "[zz]:1",
            "a/b:1",
            ":80",
        ] {
            assert!(!valid_authority(bad), "{bad}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("redis://:secret@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact("rediss://u:p@h:1/2"), "rediss://u:***@h:1/2");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }
}
