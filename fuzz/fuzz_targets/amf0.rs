//! Fuzzes the AMF0 decoder, which reads every RTMP command and every piece
//! of script data a peer sends.
//!
//! The first input byte picks the nesting limit (0..=15) so that the depth
//! check is reached at every level. Errors are fine; panics are bugs, and so
//! is a decoded value that does not survive an encode/decode round trip
//! (compared by re-encoding, which treats NaN payloads consistently).

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_amf0::{encode_all, Decoder};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let decoder = Decoder::new().max_depth(usize::from(control & 0x0F));
    let Ok(values) = decoder.decode_all(input) else {
        return;
    };
    let mut once = Vec::new();
    encode_all(&values, &mut once);
    let back = decoder
        .decode_all(&once)
        .expect("our own encoding of decoded values decodes");
    let mut twice = Vec::new();
    encode_all(&back, &mut twice);
    assert_eq!(once, twice);
});
