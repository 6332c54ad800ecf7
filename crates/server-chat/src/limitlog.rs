//! Logging of limit hits (rate limited, too long, room full, too slow,
//! flooding) without letting a peer flood the log: at most one line per
//! peer address per minute, which says how many hits it stands for.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Least time between two lines about one peer.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(60);
/// Most peers remembered. Beyond that (and after forgetting those whose
/// minute is over), hits go unlogged: memory stays bounded whatever the
/// number of addresses an attacker has.
const MAX_PEERS: usize = 4096;

struct PeerLog {
    /// When its last line was written.
    logged: Instant,
    /// Hits since then that were not logged.
    suppressed: u64,
}

/// Who was logged when.
#[derive(Default)]
pub(crate) struct LimitLog {
    peers: Mutex<HashMap<IpAddr, PeerLog>>,
}

impl LimitLog {
    /// Records a hit by `peer` at `now`. `Some(n)`: write a line now, for
    /// this hit and the `n` unlogged ones before it; `None`: stay quiet.
    pub(crate) fn hit(&self, peer: IpAddr, now: Instant) -> Option<u64> {
        let mut peers = self.peers.lock();
        if let Some(p) = peers.get_mut(&peer) {
            if now.saturating_duration_since(p.logged) < LOG_EVERY {
                p.suppressed += 1;
                return None;
            }
            let n = p.suppressed;
            *p = PeerLog {
                logged: now,
                suppressed: 0,
            };
            return Some(n);
        }
        if peers.len() >= MAX_PEERS {
            peers.retain(|_, p| now.saturating_duration_since(p.logged) < LOG_EVERY);
            if peers.len() >= MAX_PEERS {
                return None;
            }
        }
        peers.insert(
            peer,
            PeerLog {
                logged: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_peer_per_minute_counting_the_rest() {
        let log = LimitLog::default();
        let t0 = Instant::now();
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert_eq!(log.hit(a, t0), Some(0));
        for i in 1..=100 {
            assert_eq!(log.hit(a, t0 + Duration::from_millis(i * 100)), None);
        }
        assert_eq!(
            log.hit(b, t0 + Duration::from_secs(1)),
            Some(0),
            "others still logged"
        );
        assert_eq!(log.hit(a, t0 + LOG_EVERY), Some(100));
        assert_eq!(log.hit(a, t0 + LOG_EVERY + Duration::from_secs(1)), None);
    }

    #[test]
    fn memory_is_bounded() {
        let log = LimitLog::default();
        let t0 = Instant::now();
        for i in 0..MAX_PEERS as u32 {
            assert!(log.hit(IpAddr::from(i.to_be_bytes()), t0).is_some());
        }
        let extra: IpAddr = [203, 0, 113, 1].into();
        assert_eq!(log.hit(extra, t0), None, "full: quiet");
        assert_eq!(log.peers.lock().len(), MAX_PEERS);
        // A minute later the old entries make room.
        assert_eq!(log.hit(extra, t0 + LOG_EVERY), Some(0));
        assert_eq!(log.peers.lock().len(), 1);
    }
}
