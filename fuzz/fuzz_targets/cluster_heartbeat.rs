//! Fuzzes what a node reads from Redis about the others: a heartbeat
//! (`weir_cluster::node::NodeInfo::parse`), then the stream directory and
//! the edge pulls computed from a set of them.
//!
//! The input is split at 0xFF bytes into heartbeats. Errors are fine;
//! panics are bugs, and so is a parsed heartbeat whose node id, addresses
//! or stream names could not go into a key or URL, or a pull URL that is
//! not `rtmp://host:port/app/stream` of a listed node.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use weir_cluster::directory::{resolve, EdgePlan, PullAction};
use weir_cluster::node::{parse_key, NodeInfo};
use weir_cluster::{valid_authority, valid_node_id};

fuzz_target!(|data: &[u8]| {
    let mut nodes = Vec::new();
    for part in data.split(|&b| b == 0xFF) {
        if let Ok(info) = NodeInfo::parse(part) {
            assert!(valid_node_id(&info.node));
            assert!(valid_authority(&info.rtmp) && valid_authority(&info.http));
            assert!(info.streams.iter().all(|s| parse_key(&s.stream).is_some()));
            nodes.push(info);
        }
    }
    let owners = resolve(&nodes);
    let mut plan = EdgePlan::default();
    for (i, node) in nodes.iter().enumerate() {
        let now = i as u64 * 1000;
        for action in plan.update(now, &node.node, &owners, &HashSet::new(), 2_000) {
            if let PullAction::Start { url, .. } | PullAction::Retarget { url, .. } = action {
                let rest = url.strip_prefix("rtmp://").expect("an rtmp URL");
                let (authority, path) = rest.split_once('/').expect("a path");
                assert!(nodes.iter().any(|n| n.rtmp == authority), "{url}");
                assert!(parse_key(path).is_some(), "{url}");
            }
        }
    }
});
