//! Timestamps: weir's microsecond timeline and conversions to the clocks
//! protocols use.
//!
//! Every [`Frame`](crate::Frame) timestamp is in microseconds. Protocols
//! count in other units: RTMP and FLV in milliseconds, MPEG-TS and RTP video
//! at 90 kHz, RTP audio at its sample rate (48 kHz for Opus). A microsecond
//! holds a millisecond exactly and a 90 kHz tick to within half a
//! microsecond, so every such clock maps onto the timeline and back without
//! drift; a millisecond timeline could not (a 29.97 fps frame is 33.366 ms).

/// Microseconds in a millisecond.
const US_PER_MS: i64 = 1000;

/// Microseconds in a second: the timeline's clock rate for [`rescale`].
pub const US_HZ: u32 = 1_000_000;

/// Milliseconds (RTMP, FLV) to microseconds. Saturates instead of
/// overflowing, so a hostile timestamp cannot panic a debug build.
pub fn ms_to_us(ms: i64) -> i64 {
    ms.saturating_mul(US_PER_MS)
}

/// Microseconds to milliseconds, rounding down (towards negative infinity,
/// not towards zero), so that `-1 µs` is `-1 ms`: a frame never appears to
/// move later than it is, and rounding is the same on both sides of zero.
pub fn us_to_ms(us: i64) -> i64 {
    us.div_euclid(US_PER_MS)
}

/// Converts `ts` ticks of a `from_hz` clock into ticks of a `to_hz` clock,
/// rounding to the nearest tick, a tie to the even one (so a run of
/// conversions does not drift one way). Saturates at the `i64` range.
///
/// With a finer target clock the conversion is exact when `to_hz` is a
/// multiple of `from_hz`, and otherwise still returns to the same value:
/// 90 kHz → µs → 90 kHz and 48 kHz → µs → 48 kHz are lossless, because a
/// microsecond is finer than half a tick of either.
///
/// # Panics
///
/// If `from_hz` is zero. Clock rates come from code or from a parsed,
/// checked description (an SDP `rtpmap`), never straight from a peer.
pub fn rescale(ts: i64, from_hz: u32, to_hz: u32) -> i64 {
    assert!(from_hz > 0, "rescale from a 0 Hz clock");
    let num = i128::from(ts) * i128::from(to_hz);
    let den = i128::from(from_hz);
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den);
    let rounded = match (2 * r).cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    };
    i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
}

/// Extends 32-bit millisecond timestamps (RTMP, FLV) to a monotonic-capable
/// 64-bit timeline, across the wrap at 2^32 ms (~49.7 days).
///
/// This works in the protocols' own unit, milliseconds, because the wrap is
/// a property of their 32-bit millisecond field; convert the result with
/// [`ms_to_us`] to put it on a frame.
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

    /// Maps a 32-bit millisecond timestamp to the 64-bit millisecond
    /// timeline.
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
#[path = "time_tests.rs"]
mod tests;
