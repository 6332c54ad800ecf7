//! Fuzzes the SDP reader (ANNOUNCE bodies from publishers and cameras)
//! and the DESCRIBE writer it feeds.
//!
//! Errors are fine; panics are bugs, and so is a description that, once
//! written by us, does not read back with the same tracks and codecs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_rtsp::sdp::{Codec, SessionDescription, MAX_MEDIA};

fuzz_target!(|data: &[u8]| {
    let Ok(sd) = SessionDescription::parse(data) else {
        return;
    };
    assert!(sd.media.len() <= MAX_MEDIA);
    for m in &sd.media {
        let _ = m.control_url("rtsp://127.0.0.1:8554/live/a");
    }
    let text = sd.write("127.0.0.1", 1);
    let back = SessionDescription::parse(text.as_bytes()).expect("our own SDP reads back");
    assert_eq!(back.media.len(), sd.media.len());
    for (a, b) in sd.media.iter().zip(&back.media) {
        assert_eq!(a.payload_type, b.payload_type);
        assert_eq!(
            std::mem::discriminant(&a.codec),
            std::mem::discriminant(&b.codec)
        );
        if !matches!(a.codec, Codec::Unknown(_)) {
            assert_eq!(a.clock_rate, b.clock_rate);
        }
    }
});
