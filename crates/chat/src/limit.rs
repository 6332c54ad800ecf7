//! The per-connection rate limit: a token bucket driven by the caller's
//! monotonic clock.

/// Allows `burst` messages at once and `rate` per second sustained.
///
/// The bucket starts full. Time comes in as monotonic milliseconds; a clock
/// that goes backwards just refills nothing, so no input can overflow or
/// panic it.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_ms: f64,
    capacity: f64,
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilling at `rate_per_sec`, as of
    /// `now_ms`. A non-positive or non-finite rate never refills.
    pub fn new(rate_per_sec: f64, burst: u32, now_ms: u64) -> Self {
        let rate = if rate_per_sec.is_finite() && rate_per_sec > 0.0 {
            rate_per_sec
        } else {
            0.0
        };
        TokenBucket {
            rate_per_ms: rate / 1000.0,
            capacity: f64::from(burst),
            tokens: f64::from(burst),
            last_ms: now_ms,
        }
    }

    /// Takes one token if there is one. Otherwise says how many
    /// milliseconds until there will be (`u64::MAX` if never).
    pub fn try_take(&mut self, now_ms: u64) -> Result<(), u64> {
        self.refill(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if self.rate_per_ms <= 0.0 {
            return Err(u64::MAX);
        }
        let wait = ((1.0 - self.tokens) / self.rate_per_ms).ceil();
        // `as` saturates for huge values; wait is finite and positive here.
        Err((wait as u64).max(1))
    }

    fn refill(&mut self, now_ms: u64) {
        if now_ms > self.last_ms {
            let elapsed = (now_ms - self.last_ms) as f64;
            self.tokens = (self.tokens + elapsed * self.rate_per_ms).min(self.capacity);
            self.last_ms = now_ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(5.0, 10, 0);
        for _ in 0..10 {
            assert!(b.try_take(0).is_ok());
        }
        assert_eq!(b.try_take(0), Err(200));
        assert!(b.try_take(199).is_err());
        assert!(b.try_take(200).is_ok());
        assert!(b.try_take(200).is_err());
    }

    #[test]
    fn clock_going_back_refills_nothing() {
        let mut b = TokenBucket::new(1.0, 1, 10_000);
        assert!(b.try_take(10_000).is_ok());
        assert!(b.try_take(0).is_err());
        assert!(b.try_take(11_000).is_ok());
    }

    #[test]
    fn zero_rate_never_refills() {
        let mut b = TokenBucket::new(0.0, 1, 0);
        assert!(b.try_take(0).is_ok());
        assert_eq!(b.try_take(u64::MAX), Err(u64::MAX));
    }
}
