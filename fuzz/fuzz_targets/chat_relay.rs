//! Fuzzes the chat relay: decoding what another node (through Redis) sent,
//! and a room applying it.
//!
//! The input is split at 0xFF bytes into relay messages (never valid in
//! UTF-8, so the split marks cannot hide a text). Each one is decoded;
//! what decodes must re-encode to bytes that decode the same, and is then
//! applied to a small room with three members (every other one also seeds
//! the history, as a node opening the room does), with time advancing by
//! the message's first byte in seconds. Errors are fine; panics are bugs,
//! and so is any output that is not a JSON object with a `type`, a history
//! longer than its limit, a chat text longer than the limit, or a mute
//! longer than a week.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use weir_chat::{ChatConfig, IdSource, Now, RelayMsg, Room, Rules, MAX_MUTE_MINUTES};

fuzz_target!(|data: &[u8]| {
    let rules = Rules::new(&ChatConfig {
        history: 4,
        max_text: 16,
        ..ChatConfig::default()
    })
    .expect("valid rules");
    let mut room: Room<()> = Room::new("fuzz/room", Arc::new(rules), IdSource::new(1), false);
    let mut t = 1_700_000_000_000u64;
    for conn in 0..3 {
        let now = Now {
            wall_ms: t,
            mono_ms: 0,
        };
        room.connect(conn, (), now).expect("room has space");
        let join = format!(r#"{{"type":"join","nick":"n{conn}"}}"#);
        room.handle(conn, join.as_bytes(), now);
    }
    for (i, msg) in data.split(|b| *b == 0xFF).enumerate() {
        t += 1000 * u64::from(msg.first().copied().unwrap_or(0));
        let now = Now {
            wall_ms: t,
            mono_ms: t,
        };
        let Ok(decoded) = RelayMsg::decode(msg) else {
            continue;
        };
        assert_eq!(
            RelayMsg::decode(&decoded.encode()).as_ref(),
            Ok(&decoded),
            "re-encoding changes nothing"
        );
        if i % 2 == 0 {
            room.seed([decoded.event.clone()], now);
        }
        if let Ok(out) = room.apply(&decoded.event, now) {
            for frame in out.broadcast.iter().chain(out.relay.iter()) {
                let v: serde_json::Value = serde_json::from_slice(frame).expect("output is JSON");
                assert!(v["type"].is_string());
                if let Some(text) = v["text"].as_str() {
                    assert!(text.chars().count() <= 16);
                }
                if v["type"] == "mute" {
                    let until = v["until"].as_u64().expect("a mute has an end");
                    assert!(until <= t + MAX_MUTE_MINUTES * 60_000);
                }
            }
        }
        assert!(room.history_ids().count() <= 4);
        assert!(room.len() <= 3);
    }
});
