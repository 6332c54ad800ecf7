//! What a node tells the others in its heartbeat, and how a heartbeat
//! read from Redis is checked: Redis is shared, so its values are peer
//! input like any other.

use serde::{Deserialize, Serialize};
use weir_media::StreamKey;

use crate::config::{valid_authority, valid_node_id};

/// Version of the heartbeat's JSON; a node ignores beats of another.
pub const BEAT_VERSION: u32 = 1;
/// Largest heartbeat accepted from Redis.
pub const MAX_BEAT_BYTES: usize = 4 << 20;
/// Most streams or rooms one heartbeat lists; the rest are left out.
pub const MAX_LISTED: usize = 20_000;

/// A stream a node publishes (it has the encoder: it is the origin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedStream {
    /// `app/stream`.
    pub stream: String,
    /// When this node's publisher started, unix ms: of two nodes listing
    /// one stream, the later publisher wins (as takeover does on one node).
    pub since_ms: u64,
}

/// A chat room with members on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomLoad {
    /// `app/stream`.
    pub room: String,
    /// Members connected to this node.
    pub members: usize,
}

/// One node's heartbeat: who it is, how to reach it, how loaded it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// [`BEAT_VERSION`].
    pub v: u32,
    /// Node id.
    pub node: String,
    /// `host:port` of its RTMP listener.
    pub rtmp: String,
    /// `host:port` of its HTTP listener.
    pub http: String,
    /// Connected clients (players, publishers, chat members, pulls).
    pub connections: usize,
    /// Players and viewers (clients that play a stream).
    pub viewers: usize,
    /// Chat members connected to it.
    pub chat_members: usize,
    /// Bytes sent per second over the last beat, in Mbit/s.
    pub egress_mbps: f64,
    /// CPU used by the process over the last beat, in cores (1.0 = one
    /// core busy).
    pub cpu: f64,
    /// When it started, unix ms.
    pub started_ms: u64,
    /// When it sent this beat, unix ms.
    pub beat_ms: u64,
    /// Streams it is the origin of.
    pub streams: Vec<OwnedStream>,
    /// Chat rooms with members on it.
    pub rooms: Vec<RoomLoad>,
}

impl NodeInfo {
    /// Parses a heartbeat read from Redis and checks it; `None` for
    /// anything malformed (the caller logs it).
    pub fn parse(bytes: &[u8]) -> Result<NodeInfo, String> {
        if bytes.len() > MAX_BEAT_BYTES {
            return Err(format!("{} bytes is too large", bytes.len()));
        }
        let mut info: NodeInfo =
            serde_json::from_slice(bytes).map_err(|e| format!("not a heartbeat: {e}"))?;
        if info.v != BEAT_VERSION {
            return Err(format!(
                "heartbeat version {} (this node speaks {BEAT_VERSION})",
                info.v
            ));
        }
        if !valid_node_id(&info.node) {
            return Err("bad node id".into());
        }
        if !valid_authority(&info.rtmp) || !valid_authority(&info.http) {
            return Err(format!("node {}: bad advertised address", info.node));
        }
        let rate = |v: f64| v.is_finite() && v >= 0.0;
        if !rate(info.egress_mbps) || !rate(info.cpu) {
            return Err(format!("node {}: bad load figures", info.node));
        }
        if info.streams.len() > MAX_LISTED || info.rooms.len() > MAX_LISTED {
            return Err(format!("node {}: too many streams or rooms", info.node));
        }
        // Names that are not stream keys are dropped, not trusted.
        info.streams.retain(|s| parse_key(&s.stream).is_some());
        info.rooms.retain(|r| parse_key(&r.room).is_some());
        Ok(info)
    }

    /// Members of `room` on this node.
    pub fn room_members(&self, room: &str) -> usize {
        self.rooms
            .iter()
            .find(|r| r.room == room)
            .map_or(0, |r| r.members)
    }
}

/// `app/stream` as a stream key, if it is one.
pub fn parse_key(s: &str) -> Option<StreamKey> {
    let (app, stream) = s.split_once('/')?;
    StreamKey::new(app, stream).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn beat(node: &str) -> NodeInfo {
        NodeInfo {
            v: BEAT_VERSION,
            node: node.into(),
            rtmp: "127.0.0.1:1935".into(),
            http: "127.0.0.1:8080".into(),
            connections: 3,
            viewers: 2,
            chat_members: 1,
            egress_mbps: 1.5,
            cpu: 0.25,
            started_ms: 1,
            beat_ms: 2,
            streams: vec![OwnedStream {
                stream: "live/x".into(),
                since_ms: 5,
            }],
            rooms: vec![RoomLoad {
                room: "live/x".into(),
                members: 1,
            }],
        }
    }

    #[test]
    fn round_trip() {
        let b = beat("a");
        let bytes = serde_json::to_vec(&b).unwrap();
        assert_eq!(NodeInfo::parse(&bytes).unwrap(), b);
        assert_eq!(b.room_members("live/x"), 1);
        assert_eq!(b.room_members("live/y"), 0);
    }

    #[test]
    fn corrupt_beats_are_refused() {
        assert!(NodeInfo::parse(b"").is_err());
        assert!(NodeInfo::parse(b"{\"v\":1}").is_err());
        assert!(NodeInfo::parse(&[0xff; 64]).is_err());
        let mut b = beat("a");
        b.v = 2;
        assert!(NodeInfo::parse(&serde_json::to_vec(&b).unwrap()).is_err());
        let mut b = beat("a b");
        assert!(NodeInfo::parse(&serde_json::to_vec(&b).unwrap()).is_err());
        b = beat("a");
        b.http = "evil.com/x:1".into();
        assert!(NodeInfo::parse(&serde_json::to_vec(&b).unwrap()).is_err());
        b = beat("a");
        b.streams.push(OwnedStream {
            stream: "no-slash".into(),
            since_ms: 1,
        });
        b.streams.push(OwnedStream {
            stream: "../x/y".into(),
            since_ms: 1,
        });
        let parsed = NodeInfo::parse(&serde_json::to_vec(&b).unwrap()).unwrap();
        assert_eq!(parsed.streams.len(), 1);
    }
}
