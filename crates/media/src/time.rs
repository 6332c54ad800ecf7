//! Timestamp helpers shared by ingest adapters.

/// Extends 32-bit millisecond timestamps (RTMP, FLV) to a monotonic-capable
/// 64-bit timeline, across the wrap at 2^32 ms (~49.7 days).
///
/// A jump backwards by more than half the 32-bit range is taken as a wrap;
/// smaller backward steps (B-frame DTS reordering is never backwards, but
/// interleaved audio/video can be) are kept as they are.
#[derive(Debug, Default, Clone)]
pub struct Unwrapper {
    last: Option<u32>,
    epoch: i64,
}

impl Unwrapper {
    /// A fresh unwrapper; the first timestamp seen is taken as is.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps a 32-bit timestamp to the 64-bit timeline.
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        const HALF: u32 = 1 << 31;
        if let Some(last) = self.last {
            if ts < last && last - ts > HALF {
                self.epoch += 1 << 32;
            } else if ts > last && ts - last > HALF && self.epoch > 0 {
                // A late frame from before the wrap.
                self.last = Some(last);
                return self.epoch - (1 << 32) + i64::from(ts);
            }
        }
        self.last = Some(ts);
        self.epoch + i64::from(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_forward_and_keeps_late_frames() {
        let mut u = Unwrapper::new();
        assert_eq!(u.unwrap(u32::MAX - 10), i64::from(u32::MAX - 10));
        assert_eq!(u.unwrap(5), (1i64 << 32) + 5);
        assert_eq!(u.unwrap(u32::MAX - 2), i64::from(u32::MAX - 2));
        assert_eq!(u.unwrap(40), (1i64 << 32) + 40);
    }

    #[test]
    fn small_backward_steps_are_not_wraps() {
        let mut u = Unwrapper::new();
        assert_eq!(u.unwrap(1000), 1000);
        assert_eq!(u.unwrap(990), 990);
        assert_eq!(u.unwrap(1010), 1010);
    }
}
