//! Connection limits shared by every listener, and throttled reporting of
//! limit hits.
//!
//! A server on the internet meets clients that open thousands of sockets,
//! send garbage or trickle bytes. Each such event is counted (for
//! `/metrics`) but logged at most once per peer address and kind per
//! minute: a flood must not become a log flood that fills the disk or hides
//! everything else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Per (peer, kind), at most one log line this often.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// Most (peer, kind) pairs remembered for throttling; beyond it, hits are
/// still counted but not logged until old entries expire.
const MAX_REMEMBERED: usize = 10_000;

struct Logged {
    /// When its last line was written.
    at: Instant,
    /// Hits since then that were not logged.
    suppressed: u64,
}

/// Decides which limit hits get a log line: at most one per peer, protocol
/// and kind per [`LOG_EVERY`], saying how many hits went unlogged since the
/// previous one. Used by the client registry ([`crate::Clients::report`])
/// and by the chat for its own limits.
#[derive(Default)]
pub struct LogThrottle {
    last: Mutex<HashMap<(IpAddr, &'static str, &'static str), Logged>>,
}

impl LogThrottle {
    /// Records a hit of `kind` (a limit or error of `protocol`) by `ip` at
    /// `now`. `Some(n)`: write a line now, for this hit and the `n` unlogged
    /// ones before it; `None`: stay quiet.
    pub fn hit(
        &self,
        ip: IpAddr,
        protocol: &'static str,
        kind: &'static str,
        now: Instant,
    ) -> Option<u64> {
        let mut last = self.last.lock();
        if let Some(l) = last.get_mut(&(ip, protocol, kind)) {
            if now.saturating_duration_since(l.at) < LOG_EVERY {
                l.suppressed += 1;
                return None;
            }
            let n = l.suppressed;
            *l = Logged {
                at: now,
                suppressed: 0,
            };
            return Some(n);
        }
        if last.len() >= MAX_REMEMBERED {
            last.retain(|_, l| now.saturating_duration_since(l.at) < LOG_EVERY);
            if last.len() >= MAX_REMEMBERED {
                return None;
            }
        }
        last.insert(
            (ip, protocol, kind),
            Logged {
                at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

/// Which connection limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnLimitHit {
    /// The listener already holds its maximum number of connections.
    Total,
    /// This address already holds its maximum number of connections.
    PerIp,
}

impl ConnLimitHit {
    /// The metric/log name of the limit.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnLimitHit::Total => "max_connections",
            ConnLimitHit::PerIp => "max_connections_per_ip",
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Caps the connections of a listener, in total and per peer address.
/// Cheap to clone; clones share the counts (an RTMP and an RTMPS listener
/// of one server share one limit).
#[derive(Clone)]
pub struct ConnLimits {
    max_total: usize,
    max_per_ip: usize,
    counts: Arc<Mutex<Counts>>,
}

impl ConnLimits {
    /// At most `max_total` connections, at most `max_per_ip` from one
    /// address (0 = no per-address limit).
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        ConnLimits {
            max_total,
            max_per_ip,
            counts: Arc::default(),
        }
    }

    /// Takes a slot for a connection from `ip`, released when the returned
    /// guard drops.
    pub fn try_acquire(&self, ip: IpAddr) -> Result<ConnSlot, ConnLimitHit> {
        let mut counts = self.counts.lock();
        if counts.total >= self.max_total {
            return Err(ConnLimitHit::Total);
        }
        let from_ip = counts.per_ip.entry(ip).or_insert(0);
        if self.max_per_ip > 0 && *from_ip >= self.max_per_ip {
            return Err(ConnLimitHit::PerIp);
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(ConnSlot {
            counts: self.counts.clone(),
            ip,
        })
    }

    /// Connections held now.
    pub fn active(&self) -> usize {
        self.counts.lock().total
    }
}

/// One connection's place in a [`ConnLimits`].
pub struct ConnSlot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        counts.total -= 1;
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_count_total_and_per_address_and_free_on_drop() {
        let limits = ConnLimits::new(3, 2);
        let a1 = limits.try_acquire(ip("10.0.0.1")).unwrap();
        let _a2 = limits.try_acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(
            limits.try_acquire(ip("10.0.0.1")).err(),
            Some(ConnLimitHit::PerIp)
        );
        let _b = limits.try_acquire(ip("10.0.0.2")).unwrap();
        assert_eq!(
            limits.try_acquire(ip("10.0.0.3")).err(),
            Some(ConnLimitHit::Total)
        );
        drop(a1);
        assert_eq!(limits.active(), 2);
        let _a3 = limits.try_acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(limits.counts.lock().per_ip.len(), 2);
    }

    #[test]
    fn per_address_zero_means_unlimited() {
        let limits = ConnLimits::new(100, 0);
        let slots: Vec<_> = (0..100)
            .map(|_| limits.try_acquire(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(slots.len(), 100);
        drop(slots);
        assert_eq!(limits.active(), 0);
        assert!(limits.counts.lock().per_ip.is_empty());
    }

    #[test]
    fn one_log_line_per_peer_and_kind_per_minute() {
        let t = LogThrottle::default();
        let now = Instant::now();
        assert!(t.hit(ip("10.0.0.1"), "p", "a", now).is_some());
        assert!(t
            .hit(ip("10.0.0.1"), "p", "a", now + Duration::from_secs(59))
            .is_none());
        assert!(t.hit(ip("10.0.0.1"), "p", "b", now).is_some());
        assert!(t.hit(ip("10.0.0.1"), "q", "a", now).is_some());
        assert!(t.hit(ip("10.0.0.2"), "p", "a", now).is_some());
        // The next line says how many hits went unlogged meanwhile.
        assert_eq!(
            t.hit(ip("10.0.0.1"), "p", "a", now + Duration::from_secs(61)),
            Some(1)
        );
    }

    #[test]
    fn the_throttle_forgets_old_peers_and_stays_bounded() {
        let t = LogThrottle::default();
        let now = Instant::now();
        for i in 0..MAX_REMEMBERED as u32 {
            assert!(t
                .hit(IpAddr::from(i.to_be_bytes()), "p", "x", now)
                .is_some());
        }
        // Full of recent peers: a new one is not logged (but would be
        // counted by the caller).
        assert!(t.hit(ip("192.0.2.1"), "p", "x", now).is_none());
        // A minute later the old entries go and new peers are logged again.
        assert!(t.hit(ip("192.0.2.1"), "p", "x", now + LOG_EVERY).is_some());
        assert_eq!(t.last.lock().len(), 1);
    }
}
