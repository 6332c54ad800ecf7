use super::*;
use proptest::prelude::*;

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

#[test]
fn ms_and_us() {
    assert_eq!(ms_to_us(40), 40_000);
    assert_eq!(ms_to_us(-3), -3_000);
    assert_eq!(ms_to_us(i64::MAX), i64::MAX);
    assert_eq!(us_to_ms(40_999), 40);
    assert_eq!(us_to_ms(-1), -1);
    assert_eq!(us_to_ms(-1000), -1);
    assert_eq!(us_to_ms(-1001), -2);
}

#[test]
fn rescale_rounds_half_to_even() {
    // 1 tick of 90 kHz is 11.11 µs.
    assert_eq!(rescale(1, 90_000, US_HZ), 11);
    assert_eq!(rescale(3003, 90_000, US_HZ), 33_367); // 33 366.67 µs
    assert_eq!(rescale(33_367, US_HZ, 90_000), 3003);
    // Exact ties: 1.5 -> 2, 2.5 -> 2, -1.5 -> -2, -2.5 -> -2.
    assert_eq!(rescale(3, 2, 1), 2);
    assert_eq!(rescale(5, 2, 1), 2);
    assert_eq!(rescale(-3, 2, 1), -2);
    assert_eq!(rescale(-5, 2, 1), -2);
    assert_eq!(rescale(-1, 3, 1), 0);
    assert_eq!(rescale(-2, 3, 1), -1);
    assert_eq!(rescale(i64::MAX, 1, 90_000), i64::MAX);
    assert_eq!(rescale(i64::MIN, 1, 90_000), i64::MIN);
}

proptest! {
    #[test]
    fn clocks_round_trip_through_us(ts in -(1i64 << 50)..(1i64 << 50)) {
        for hz in [90_000, 48_000, 44_100, 8_000, 1_000] {
            let us = rescale(ts, hz, US_HZ);
            prop_assert_eq!(rescale(us, US_HZ, hz), ts, "{} Hz", hz);
        }
        prop_assert_eq!(us_to_ms(ms_to_us(ts)), ts);
        prop_assert_eq!(rescale(ts, 1000, US_HZ), ms_to_us(ts));
    }
}
