//! How long to wait before the next attempt of an outgoing connection (a
//! camera pull, a push): 1 s, doubling to 30 s, each delay jittered so
//! that many connections behind one failed switch (cameras, or pushes to
//! one dead destination) do not reconnect in lockstep.

use std::time::Duration;

/// First delay.
pub const FIRST: Duration = Duration::from_secs(1);
/// Longest delay.
pub const MAX: Duration = Duration::from_secs(30);

/// The backoff schedule of one connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { step: FIRST }
    }
}

impl Backoff {
    /// A schedule that starts at [`FIRST`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The next delay: the current step (1, 2, 4, 8, 16, 30, 30... s)
    /// scaled by 0.8 to 1.2 as `jitter` (0 to 1, from the caller's random
    /// source) says, never above [`MAX`].
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let delay = self.step.mul_f64(0.8 + 0.4 * jitter).min(MAX);
        self.step = (self.step * 2).min(MAX);
        delay
    }

    /// Back to [`FIRST`], after a session that ran well.
    pub fn reset(&mut self) {
        self.step = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_thirty() {
        let mut b = Backoff::new();
        let steps: Vec<u64> = (0..8)
            .map(|_| b.next_delay(0.5).as_millis() as u64)
            .collect();
        assert_eq!(steps, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        b.reset();
        assert_eq!(b.next_delay(0.5), FIRST);
    }

    #[test]
    fn jitter_stays_within_a_fifth_and_under_the_cap() {
        let mut lo = Backoff::new();
        let mut hi = Backoff::new();
        assert_eq!(lo.next_delay(0.0), Duration::from_millis(800));
        assert_eq!(hi.next_delay(1.0), Duration::from_millis(1200));
        for _ in 0..10 {
            assert!(hi.next_delay(1.0) <= MAX);
            assert!(lo.next_delay(0.0) >= Duration::from_millis(1600));
        }
        assert_eq!(Backoff::new().next_delay(f64::NAN), FIRST);
    }
}
