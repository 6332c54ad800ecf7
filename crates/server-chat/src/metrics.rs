//! Chat counters: relaxed atomics bumped on the chat path, read by the API
//! and (through the app) `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live gauges and running totals. Relaxed atomics: each value is exact,
/// a snapshot of several is not a single instant (nobody needs it to be).
#[derive(Debug, Default)]
pub struct ChatMetrics {
    /// Rooms now (gauge).
    pub rooms: AtomicU64,
    /// Connections in rooms now (gauge).
    pub members: AtomicU64,
    /// Connections accepted since start.
    pub connections: AtomicU64,
    /// Frames received from clients (pings included).
    pub frames_in: AtomicU64,
    /// Chat messages accepted and broadcast.
    pub messages_in: AtomicU64,
    /// Frames queued to members (each broadcast counts once per member).
    pub messages_out: AtomicU64,
    /// Frames refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// Frames refused for any other reason (length, UTF-8, mute, ...).
    pub refused: AtomicU64,
    /// Members closed because their queue overflowed.
    pub dropped: AtomicU64,
    /// Connections closed by the heartbeat timeout.
    pub timeouts: AtomicU64,
    /// Relay messages sent to other nodes.
    pub relayed_out: AtomicU64,
    /// Relay messages from other nodes applied.
    pub relayed_in: AtomicU64,
    /// Relay messages refused (corrupt, unknown, out of limits).
    pub relay_errors: AtomicU64,
}

/// A copy of [`ChatMetrics`], as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MetricsSnapshot {
    /// Rooms now.
    pub rooms: u64,
    /// Connections in rooms now.
    pub members: u64,
    /// Connections accepted since start.
    pub connections: u64,
    /// Frames received from clients.
    pub frames_in: u64,
    /// Chat messages accepted.
    pub messages_in: u64,
    /// Frames queued to members.
    pub messages_out: u64,
    /// Frames refused by the rate limit.
    pub rate_limited: u64,
    /// Frames refused otherwise.
    pub refused: u64,
    /// Members dropped as too slow.
    pub dropped: u64,
    /// Connections closed by the heartbeat timeout.
    pub timeouts: u64,
    /// Relay messages sent to other nodes.
    pub relayed_out: u64,
    /// Relay messages from other nodes applied.
    pub relayed_in: u64,
    /// Relay messages refused.
    pub relay_errors: u64,
}

impl ChatMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            rooms: r(&self.rooms),
            members: r(&self.members),
            connections: r(&self.connections),
            frames_in: r(&self.frames_in),
            messages_in: r(&self.messages_in),
            messages_out: r(&self.messages_out),
            rate_limited: r(&self.rate_limited),
            refused: r(&self.refused),
            dropped: r(&self.dropped),
            timeouts: r(&self.timeouts),
            relayed_out: r(&self.relayed_out),
            relayed_in: r(&self.relayed_in),
            relay_errors: r(&self.relay_errors),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }
}
