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
    /// The chat's rooms with local members, and how many.
    pub chat_rooms: RoomCounts,
    /// Hands a bus message from another node to the chat.
    pub deliver: weir_cluster::Deliver,
}

impl Hooks for ClusterHooks {
    fn pull(&self, key: &StreamKey, url: &str) -> bool {
        match self.pulls.cluster_pull(key, url, self.idle_secs) {
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
