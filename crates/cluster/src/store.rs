//! What lives in Redis, and the commands that read and write it. Every
//! key starts with the configured prefix (`weir` below):
//!
//! | key | type | written by | lives |
//! |---|---|---|---|
//! | `weir:node:{id}` | string: the heartbeat JSON ([`NodeInfo`]) | the node, every beat | TTL |
//! | `weir:nodes` | sorted set: id → expiry (unix ms) | the node, every beat | entries past their expiry are removed by any beat |
//! | `weir:stream:{app}/{stream}` | string: `"{node} {since_ms}"` | the origin node, every beat | TTL |
//! | `weir:chat:{app}/{stream}` | pub/sub channel | nodes with members in the room | — |
//! | `weir:history:{app}/{stream}` | list of relayed chat messages | the node a message was sent to | capped, 1 day |
//!
//! A beat is one pipeline (one round trip) whatever the number of
//! streams; reading the nodes is two commands.

use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use redis::Value;
use weir_media::StreamKey;

use crate::node::NodeInfo;
use crate::ClusterError;

/// Renews a stream's directory entry if this node still holds it (or
/// nobody does: Redis restarted); 0 when another node took it over.
const RENEW: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0";

/// Deletes a stream's directory entry if this node still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }
    fn node(&self, id: &str) -> String {
        format!("{}:node:{id}", self.prefix)
    }
    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    fn slot(&self, n: u32) -> String {
        format!("{}:slot:{n}", self.prefix)
    }
    fn stream(&self, key: &StreamKey) -> String {
        format!("{}:stream:{key}", self.prefix)
    }
    /// A bus channel's Redis name.
    pub(crate) fn channel(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }
    /// A capped list's Redis name.
    pub(crate) fn list(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }
    /// The bus channel name of a Redis channel under this prefix.
    pub(crate) fn channel_name<'a>(&self, redis_name: &'a str) -> Option<&'a str> {
        redis_name
            .strip_prefix(self.prefix.as_str())
            .and_then(|s| s.strip_prefix(':'))
    }
}

/// A directory entry's value: which node holds the stream since when.
pub(crate) fn claim_value(node: &str, since_ms: u64) -> String {
    format!("{node} {since_ms}")
}

/// A stream this node publishes, in a beat.
pub(crate) struct Claim<'a> {
    pub(crate) key: &'a StreamKey,
    pub(crate) value: String,
    /// First beat of this publish: the entry is set whoever held it (the
    /// later publisher wins); later beats only renew their own.
    pub(crate) new: bool,
}

/// Writes this node's heartbeat and directory entries; for each claim,
/// whether the node still holds the stream.
pub(crate) async fn beat(
    conn: &mut ConnectionManager,
    keys: &Keys,
    info: &NodeInfo,
    slot: Option<u32>,
    claims: &[Claim<'_>],
    ttl_ms: u64,
) -> Result<Vec<bool>, ClusterError> {
    let now = unix_ms();
    let beat = serde_json::to_vec(info).unwrap_or_default();
    let mut pipe = redis::pipe();
    if let Some(n) = slot {
        pipe.cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(keys.slot(n))
            .arg(&info.node)
            .arg(ttl_ms)
            .ignore();
    }
    pipe.cmd("SET")
        .arg(keys.node(&info.node))
        .arg(beat)
        .arg("PX")
        .arg(ttl_ms)
        .ignore();
    pipe.cmd("ZADD")
        .arg(keys.nodes())
        .arg(now + ttl_ms)
        .arg(&info.node)
        .ignore();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(keys.nodes())
        .arg("-inf")
        .arg(now)
        .ignore();
    for c in claims {
        if c.new {
            pipe.cmd("SET")
                .arg(keys.stream(c.key))
                .arg(&c.value)
                .arg("PX")
                .arg(ttl_ms);
        } else {
            pipe.cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(keys.stream(c.key))
                .arg(&c.value)
                .arg(ttl_ms);
        }
    }
    let replies: Vec<Value> = pipe.query_async(conn).await?;
    Ok(replies
        .iter()
        .map(|v| !matches!(v, Value::Int(0)))
        .collect())
}

/// Claims a free chat id slot of `slots` for `node`, trying `first`
/// onwards (a slot this node already holds counts as free).
pub(crate) async fn claim_slot(
    conn: &mut ConnectionManager,
    keys: &Keys,
    node: &str,
    first: u32,
    slots: u32,
    ttl_ms: u64,
) -> Result<Option<u32>, ClusterError> {
    for i in 0..slots {
        let n = (first + i) % slots;
        let held: i64 = redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(keys.slot(n))
            .arg(node)
            .arg(ttl_ms)
            .query_async(conn)
            .await?;
        if held == 1 {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// Removes this node's directory entry of a stream it no longer
/// publishes (unless another node holds it by now).
pub(crate) async fn release(
    conn: &mut ConnectionManager,
    keys: &Keys,
    key: &StreamKey,
    value: &str,
) -> Result<(), ClusterError> {
    redis::cmd("EVAL")
        .arg(RELEASE)
        .arg(1)
        .arg(keys.stream(key))
        .arg(value)
        .query_async::<i64>(conn)
        .await?;
    Ok(())
}

/// Removes this node's heartbeat (a clean shutdown: the others forget it
/// at once instead of after the TTL).
pub(crate) async fn leave(
    conn: &mut ConnectionManager,
    keys: &Keys,
    node: &str,
) -> Result<(), ClusterError> {
    redis::pipe()
        .cmd("DEL")
        .arg(keys.node(node))
        .ignore()
        .cmd("ZREM")
        .arg(keys.nodes())
        .arg(node)
        .ignore()
        .query_async::<()>(conn)
        .await?;
    Ok(())
}

/// Every live node's heartbeat, with the ones that failed to parse (id
/// and problem) for the caller to log.
pub(crate) async fn read_nodes(
    conn: &mut ConnectionManager,
    keys: &Keys,
) -> Result<(Vec<NodeInfo>, Vec<String>), ClusterError> {
    let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(keys.nodes())
        .arg(unix_ms())
        .arg("+inf")
        .query_async(conn)
        .await?;
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut get = redis::cmd("MGET");
    for id in &ids {
        get.arg(keys.node(id));
    }
    let values: Vec<Option<Vec<u8>>> = get.query_async(conn).await?;
    let mut nodes = Vec::with_capacity(values.len());
    let mut bad = Vec::new();
    for (id, v) in ids.iter().zip(values) {
        // A node in the set whose key expired is gone: not an error.
        let Some(v) = v else { continue };
        match NodeInfo::parse(&v) {
            Ok(n) if n.node == *id => nodes.push(n),
            Ok(n) => bad.push(format!("{id}: heartbeat names node {}", n.node)),
            Err(e) => bad.push(format!("{}: {e}", id.escape_debug())),
        }
    }
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Ok((nodes, bad))
}

/// Unix time in ms.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
