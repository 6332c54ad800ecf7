//! The stream directory as this node sees it, and the edge pulls it
//! implies: pure logic over the heartbeats read from Redis, with time
//! passed in, so it is tested without Redis or sockets.

use std::collections::{HashMap, HashSet};

use weir_media::StreamKey;

use crate::node::{parse_key, NodeInfo};

/// The node that publishes a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Its id.
    pub node: String,
    /// Its RTMP `host:port`.
    pub rtmp: String,
    /// When its publisher started, unix ms.
    pub since_ms: u64,
}

/// Every stream some live node publishes, by its owner. Of two nodes that
/// list one stream (a takeover between them, before the loser's next
/// beat), the later publisher wins; equal times go to the smaller id, so
/// every node decides alike.
pub fn resolve(nodes: &[NodeInfo]) -> HashMap<StreamKey, Owner> {
    let mut owners: HashMap<StreamKey, Owner> = HashMap::new();
    for n in nodes {
        for s in &n.streams {
            let Some(key) = parse_key(&s.stream) else {
                continue;
            };
            let candidate = Owner {
                node: n.node.clone(),
                rtmp: n.rtmp.clone(),
                since_ms: s.since_ms,
            };
            match owners.get(&key) {
                Some(o)
                    if (o.since_ms, std::cmp::Reverse(&o.node))
                        >= (candidate.since_ms, std::cmp::Reverse(&candidate.node)) => {}
                _ => {
                    owners.insert(key, candidate);
                }
            }
        }
    }
    owners
}

/// The RTMP URL an edge pulls `key` from on `owner`.
pub fn pull_url(owner: &Owner, key: &StreamKey) -> String {
    format!("rtmp://{}/{}/{}", owner.rtmp, key.app(), key.stream())
}

/// What the edge should do with one of its pulls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullAction {
    /// Pull `key` from `url` when somebody watches it here.
    Start {
        /// The stream.
        key: StreamKey,
        /// Its origin's RTMP URL.
        url: String,
    },
    /// The stream moved to another node: pull from `url` from now on,
    /// keeping the viewers (origin failover).
    Retarget {
        /// The stream.
        key: StreamKey,
        /// The new origin's RTMP URL.
        url: String,
    },
    /// Stop pulling `key`: it left the cluster (or is published here).
    Stop {
        /// The stream.
        key: StreamKey,
    },
}

#[derive(Debug)]
struct Pulled {
    url: String,
    /// When the stream was first missed from the directory (ms).
    missing_since: Option<u64>,
}

/// The streams this node pulls from other nodes.
#[derive(Debug, Default)]
pub struct EdgePlan {
    pulled: HashMap<StreamKey, Pulled>,
}

impl EdgePlan {
    /// Whether `key` is one of this node's pulls.
    pub fn pulls(&self, key: &StreamKey) -> bool {
        self.pulled.contains_key(key)
    }

    /// The pulls, with the URL each pulls from.
    pub fn list(&self) -> Vec<(StreamKey, String)> {
        let mut v: Vec<_> = self
            .pulled
            .iter()
            .map(|(k, p)| (k.clone(), p.url.clone()))
            .collect();
        v.sort();
        v
    }

    /// Brings the pulls in line with `owners` (from [`resolve`]) at
    /// `now_ms` (any monotonic origin): a pull for every stream another
    /// node publishes and this one does not (`local`), retargeted when
    /// its owner changes; a pull whose stream left the directory stays
    /// `failover_ms` (the encoder may come back on another node), one
    /// whose stream is published here stops at once.
    pub fn update(
        &mut self,
        now_ms: u64,
        self_id: &str,
        owners: &HashMap<StreamKey, Owner>,
        local: &HashSet<StreamKey>,
        failover_ms: u64,
    ) -> Vec<PullAction> {
        let mut actions = Vec::new();
        for (key, owner) in owners {
            if owner.node == self_id || local.contains(key) {
                continue;
            }
            let url = pull_url(owner, key);
            match self.pulled.get_mut(key) {
                None => {
                    self.pulled.insert(
                        key.clone(),
                        Pulled {
                            url: url.clone(),
                            missing_since: None,
                        },
                    );
                    actions.push(PullAction::Start {
                        key: key.clone(),
                        url,
                    });
                }
                Some(p) => {
                    p.missing_since = None;
                    if p.url != url {
                        p.url.clone_from(&url);
                        actions.push(PullAction::Retarget {
                            key: key.clone(),
                            url,
                        });
                    }
                }
            }
        }
        let mut stop = Vec::new();
        for (key, p) in &mut self.pulled {
            let remote = owners.get(key).is_some_and(|o| o.node != self_id);
            if local.contains(key) || owners.get(key).is_some_and(|o| o.node == self_id) {
                stop.push(key.clone());
            } else if !remote {
                let since = *p.missing_since.get_or_insert(now_ms);
                if now_ms.saturating_sub(since) >= failover_ms {
                    stop.push(key.clone());
                }
            }
        }
        stop.sort();
        for key in stop {
            self.pulled.remove(&key);
            actions.push(PullAction::Stop { key });
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{OwnedStream, BEAT_VERSION};

    fn node(id: &str, port: u16, streams: &[(&str, u64)]) -> NodeInfo {
        NodeInfo {
            v: BEAT_VERSION,
            node: id.into(),
            rtmp: format!("127.0.0.1:{port}"),
            http: "127.0.0.1:80".into(),
            connections: 0,
            viewers: 0,
            chat_members: 0,
            egress_mbps: 0.0,
            cpu: 0.0,
            started_ms: 0,
            beat_ms: 0,
            streams: streams
                .iter()
                .map(|(s, t)| OwnedStream {
                    stream: (*s).into(),
                    since_ms: *t,
                })
                .collect(),
            rooms: vec![],
        }
    }

    fn key(s: &str) -> StreamKey {
        parse_key(s).unwrap()
    }

    #[test]
    fn the_later_publisher_owns_a_stream() {
        let owners = resolve(&[
            node("a", 1, &[("live/x", 10), ("live/y", 5)]),
            node("b", 2, &[("live/x", 20)]),
        ]);
        assert_eq!(owners[&key("live/x")].node, "b");
        assert_eq!(owners[&key("live/y")].node, "a");
        // A tie goes to the smaller id whatever the order of the beats.
        for order in [["a", "b"], ["b", "a"]] {
            let nodes: Vec<_> = order
                .iter()
                .map(|id| node(id, 1, &[("live/t", 7)]))
                .collect();
            assert_eq!(resolve(&nodes)[&key("live/t")].node, "a");
        }
    }

    #[test]
    fn edges_pull_retarget_and_stop() {
        let mut plan = EdgePlan::default();
        let none = HashSet::new();
        let owners = resolve(&[node("a", 1, &[("live/x", 10)]), node("e", 9, &[])]);
        let acts = plan.update(0, "e", &owners, &none, 10_000);
        assert_eq!(
            acts,
            vec![PullAction::Start {
                key: key("live/x"),
                url: "rtmp://127.0.0.1:1/live/x".into()
            }]
        );
        assert!(plan.pulls(&key("live/x")));
        // Nothing changes: nothing to do.
        assert!(plan.update(100, "e", &owners, &none, 10_000).is_empty());
        // The origin's encoder stops: the pull stays for the failover time.
        let gone = resolve(&[node("a", 1, &[]), node("e", 9, &[])]);
        assert!(plan.update(1_000, "e", &gone, &none, 10_000).is_empty());
        assert!(plan.update(10_999, "e", &gone, &none, 10_000).is_empty());
        // ...and it comes back on another node within it: retarget.
        let moved = resolve(&[node("c", 3, &[("live/x", 50)])]);
        assert_eq!(
            plan.update(11_000, "e", &moved, &none, 10_000),
            vec![PullAction::Retarget {
                key: key("live/x"),
                url: "rtmp://127.0.0.1:3/live/x".into()
            }]
        );
        // Gone for good: stopped once the failover time is over.
        assert!(plan.update(12_000, "e", &gone, &none, 10_000).is_empty());
        assert_eq!(
            plan.update(22_000, "e", &gone, &none, 10_000),
            vec![PullAction::Stop { key: key("live/x") }]
        );
        assert!(!plan.pulls(&key("live/x")));
    }

    #[test]
    fn a_local_publisher_ends_the_pull_at_once() {
        let mut plan = EdgePlan::default();
        let owners = resolve(&[node("a", 1, &[("live/x", 10)])]);
        plan.update(0, "e", &owners, &HashSet::new(), 10_000);
        let local: HashSet<_> = [key("live/x")].into();
        assert_eq!(
            plan.update(1, "e", &owners, &local, 10_000),
            vec![PullAction::Stop { key: key("live/x") }]
        );
        // Its own streams are never pulled.
        let mine = resolve(&[node("e", 1, &[("live/y", 10)])]);
        assert!(plan
            .update(2, "e", &mine, &HashSet::new(), 10_000)
            .is_empty());
    }
}
