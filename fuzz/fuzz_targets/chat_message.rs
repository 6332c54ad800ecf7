//! Fuzzes chat client message parsing and a room's handling of every frame
//! a WebSocket peer sends.
//!
//! The input is split at 0xFF bytes into frames (never valid in UTF-8, so
//! the split marks cannot hide a text); each frame is parsed on its own
//! and then fed to a small room from one of three connections, with time
//! advancing by the frame's first byte in ms so the rate limit both refuses
//! and refills. Errors are fine; panics are bugs, and so is any output
//! that is not a JSON object with a `type`, a history longer than its
//! limit, or a chat text longer than the limit.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use weir_chat::{parse_client, ChatConfig, IdSource, Now, Room, Rules};

fuzz_target!(|data: &[u8]| {
    let rules = Rules::new(&ChatConfig {
        history: 4,
        max_text: 16,
        burst: 3,
        rate_per_sec: 10.0,
        banned_words: vec!["bad".into(), "坏".into()],
        max_members: 3,
    })
    .expect("valid rules");
    let max_frame = rules.max_frame();
    let mut room: Room<()> = Room::new("fuzz/room", Arc::new(rules), IdSource::new(1), false);
    let mut t = 0u64;
    for conn in 0..3 {
        room.connect(
            conn,
            (),
            Now {
                wall_ms: t,
                mono_ms: t,
            },
        )
        .expect("room has space");
    }
    for (i, frame) in data.split(|b| *b == 0xFF).enumerate() {
        let _ = parse_client(frame, max_frame);
        t += u64::from(frame.first().copied().unwrap_or(0));
        let now = Now {
            wall_ms: t,
            mono_ms: t,
        };
        let action = room.handle(i as u64 % 3, frame, now);
        for out in action.reply.iter().chain(action.broadcast.iter()) {
            let v: serde_json::Value = serde_json::from_slice(out).expect("output is JSON");
            assert!(v["type"].is_string());
            if let Some(text) = v["text"].as_str() {
                assert!(text.chars().count() <= 16);
            }
        }
        assert!(room.history_ids().count() <= 4);
        let _ = room.tick(i % 2 == 0, now);
    }
});
