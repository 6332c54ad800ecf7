//! The Digest nonces one connection issued, each valid for a while.
//!
//! A nonce is only good on the connection that issued it (clients retry
//! on the same connection) and only for `lifetime`, so a captured
//! response cannot be replayed later or elsewhere. The caller makes the
//! nonce values (random); this only remembers them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Nonces kept per connection: a client uses the latest, a few older ones
/// cover answers in flight; more challenges push the oldest out.
const KEEP: usize = 4;

#[derive(Debug)]
pub(super) struct Nonces {
    lifetime: Duration,
    issued: VecDeque<(String, Instant)>,
}

impl Nonces {
    pub(super) fn new(lifetime: Duration) -> Self {
        Nonces {
            lifetime,
            issued: VecDeque::with_capacity(KEEP),
        }
    }

    /// Remembers `nonce`, issued at `now`.
    pub(super) fn issue(&mut self, nonce: String, now: Instant) {
        if self.issued.len() == KEEP {
            self.issued.pop_front();
        }
        self.issued.push_back((nonce, now));
    }

    /// Whether `nonce` is one of ours and younger than the lifetime.
    pub(super) fn valid(&self, nonce: &str, now: Instant) -> bool {
        self.issued
            .iter()
            .any(|(n, at)| n == nonce && now.saturating_duration_since(*at) <= self.lifetime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_expire_and_are_bounded() {
        let t0 = Instant::now();
        let mut n = Nonces::new(Duration::from_secs(60));
        n.issue("a".into(), t0);
        assert!(n.valid("a", t0 + Duration::from_secs(60)));
        assert!(!n.valid("a", t0 + Duration::from_secs(61)));
        assert!(!n.valid("b", t0));
        for i in 0..KEEP {
            n.issue(format!("n{i}"), t0);
        }
        assert!(!n.valid("a", t0), "the oldest is pushed out");
        assert!(n.valid("n0", t0));
    }
}
