//! Wiring of the cluster (`weir-cluster`): who this node is, how others
//! reach it, and what the cluster may ask of the rest of the server
//! (edge pulls through `weir-pull`, chat rooms through the chat server).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use weir_cluster::{Advertised, Cluster, ClusterConfig, Hooks};
use weir_hub::Hub;
use weir_media::StreamKey;

/// Builds the node's cluster handle (its tasks start with [`run`]).
/// `rtmp` and `http` are the bound listener addresses.
pub fn build(
    cfg: &ClusterConfig,
    hub: &Hub,
    rtmp: SocketAddr,
    http: SocketAddr,
    shutdown: &CancellationToken,
) -> anyhow::Result<Cluster> {
    let node_id = if cfg.node_id.is_empty() {
        host_node_id()
    } else {
        cfg.node_id.clone()
    };
    let pick = |configured: &str, bound: SocketAddr| {
        if configured.is_empty() {
            advertised(bound)
        } else {
            configured.to_owned()
        }
    };
    let advertised = Advertised {
        rtmp: pick(&cfg.advertise_rtmp, rtmp),
        http: pick(&cfg.advertise_http, http),
    };
    Cluster::start(
        hub.clone(),
        cfg.clone(),
        node_id,
        advertised,
        shutdown.clone(),
    )
    .context("starting the cluster")
}

/// Reads the chat's rooms with local members, and how many.
pub type RoomCounts = Box<dyn Fn() -> Vec<(StreamKey, usize)> + Send + Sync>;

/// What the cluster asks of this server.
pub struct ClusterHooks {
    /// Edge pulls.
    pub pulls: weir_pull::Pulls,
    /// Seconds an edge pull outlives its last viewer.
    pub idle_secs: f64,
    /// `[auth]`, shared by the cluster's nodes: an edge proves itself to
    /// the origin as any player would (a play key, a signature).
    pub auth: weir_access::AuthConfig,
    /// The chat's rooms with local members, and how many.
    pub chat_rooms: RoomCounts,
    /// Hands a bus message from another node to the chat.
    pub deliver: weir_cluster::Deliver,
}

impl Hooks for ClusterHooks {
    fn pull(&self, key: &StreamKey, url: &str) -> bool {
        let url = with_play_credentials(&self.auth, key, url);
        match self.pulls.cluster_pull(key, &url, self.idle_secs) {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(stream = %key, error = %e, "cluster: cannot pull from the origin");
                false
            }
        }
    }

    fn unpull(&self, key: &StreamKey) {
        self.pulls.remove(key);
    }

    fn chat_rooms(&self) -> Vec<(StreamKey, usize)> {
        (self.chat_rooms)()
    }

    fn deliver(&self, channel: &str, payload: Bytes) {
        (self.deliver)(channel, payload);
    }
}

/// How long an edge's signed pull URL stays valid: it is made when the
/// pull starts or moves, and reused by every reconnect.
const PULL_SIGNATURE_SECS: u64 = 365 * 24 * 3600;

/// `url` with what `[auth]` asks of a player of `key`: the first play key
/// (`mode = "keys"`) or a signature (`mode = "signed"`). Every node of a
/// cluster runs with the same `[auth]`, so the origin accepts it.
fn with_play_credentials(auth: &weir_access::AuthConfig, key: &StreamKey, url: &str) -> String {
    let rule = &auth.apps.get(key.app()).unwrap_or(&auth.default).play;
    match rule.mode {
        weir_access::Mode::Keys => match rule.keys.first() {
            Some(k) => format!("{url}?key={}", percent_encode(k)),
            None => url.to_owned(),
        },
        weir_access::Mode::Signed => {
            let expires = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                + PULL_SIGNATURE_SECS;
            format!(
                "{url}?expires={expires}&sign={}",
                weir_access::sign(&rule.secret, key, expires)
            )
        }
        _ => url.to_owned(),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Starts the cluster's tasks with its hooks.
pub fn run(cluster: &Cluster, hooks: ClusterHooks) {
    cluster.run(Arc::new(hooks));
}

/// The host name as a node id (characters a node id may not hold become
/// `-`); `weir` if it cannot be read.
fn host_node_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let id: String = name
        .trim()
        .chars()
        .take(weir_cluster::MAX_NODE_ID)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if weir_cluster::valid_node_id(&id) {
        id
    } else {
        "weir".to_owned()
    }
}

/// `host:port` for a bound listener: a specific address as is; for an
/// unspecified one, the address this host sends from (a UDP socket
/// "connected" to a documentation address sends nothing but picks the
/// outward interface), loopback when there is no route.
fn advertised(bound: SocketAddr) -> String {
    let ip = if bound.ip().is_unspecified() {
        outward_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else {
        bound.ip()
    };
    SocketAddr::new(ip, bound.port()).to_string()
}

fn outward_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_carry_the_play_credentials_auth_asks_for() {
        let key = StreamKey::new("live", "cam").unwrap();
        let mut auth = weir_access::AuthConfig::default();
        let url = "rtmp://10.0.0.1:1935/live/cam";
        assert_eq!(with_play_credentials(&auth, &key, url), url);
        auth.default.play.mode = weir_access::Mode::Keys;
        auth.default.play.keys = vec!["k 1&x".into()];
        assert_eq!(
            with_play_credentials(&auth, &key, url),
            "rtmp://10.0.0.1:1935/live/cam?key=k%201%26x"
        );
        auth.default.play.mode = weir_access::Mode::Signed;
        auth.default.play.secret = "s".into();
        let signed = with_play_credentials(&auth, &key, url);
        let (_, query) = signed.split_once('?').unwrap();
        let (expires, sign) = query.split_once("&sign=").unwrap();
        let expires: u64 = expires.strip_prefix("expires=").unwrap().parse().unwrap();
        assert_eq!(sign, weir_access::sign("s", &key, expires));
    }

    #[test]
    fn specific_addresses_are_advertised_as_is() {
        assert_eq!(
            advertised("10.1.2.3:1935".parse().unwrap()),
            "10.1.2.3:1935"
        );
        assert_eq!(advertised("[::1]:8080".parse().unwrap()), "[::1]:8080");
        let any = advertised("0.0.0.0:1935".parse().unwrap());
        assert!(
            any.ends_with(":1935") && !any.starts_with("0.0.0.0"),
            "{any}"
        );
        assert!(weir_cluster::valid_node_id(&host_node_id()));
    }
}
