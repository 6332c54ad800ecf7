//! Properties over arbitrary input: no panics, bounded memory, well-formed
//! output, and the rate limit holds whatever the timing.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::Value;
use weir_chat::{
    normalize_text, parse_client, ChatConfig, IdSource, Now, Room, Rules, TokenBucket,
};

/// Frames that are mostly protocol-shaped, sometimes garbage.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        ".{0,40}".prop_map(
            |t| serde_json::to_vec(&serde_json::json!({"type":"chat","text":t})).unwrap()
        ),
        ".{0,30}".prop_map(
            |n| serde_json::to_vec(&serde_json::json!({"type":"join","nick":n})).unwrap()
        ),
        Just(br#"{"type":"ping"}"#.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #[test]
    fn rooms_take_any_frames(
        ops in proptest::collection::vec((0u64..4, frame(), 0u64..400), 1..200),
        history in 0usize..6,
    ) {
        let rules = Rules::new(&ChatConfig {
            history,
            max_text: 20,
            burst: 3,
            rate_per_sec: 5.0,
            banned_words: vec!["bad".into()],
            ..ChatConfig::default()
        }).unwrap();
        let mut room: Room<()> = Room::new("a/b", Arc::new(rules), IdSource::new(1), false);
        for c in 0..4 {
            room.connect(c, (), Now { wall_ms: 0, mono_ms: 0 }).unwrap();
        }
        let mut t = 0u64;
        let mut last_id = 0u64;
        for (conn, frame, dt) in ops {
            t += dt;
            let now = Now { wall_ms: t, mono_ms: t };
            let a = room.handle(conn, &frame, now);
            for out in a.reply.iter().chain(a.broadcast.iter()) {
                let v: Value = serde_json::from_slice(out).expect("output is JSON");
                prop_assert!(v["type"].is_string());
                if v["type"] == "chat" {
                    let id = v["id"].as_u64().unwrap();
                    prop_assert!(id > last_id, "ids increase in broadcast order");
                    last_id = id;
                    let text = v["text"].as_str().unwrap();
                    prop_assert!(text.chars().count() <= 20);
                    prop_assert!(!text.contains("bad"));
                }
            }
            prop_assert!(room.history_ids().count() <= history);
        }
    }

    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_client(&data, 128);
    }

    #[test]
    fn normalized_text_is_one_clean_line(s in "\\PC{0,50}|[ \\t\\n\\r\\x00-\\x1f a-z]{0,50}", max in 1usize..60) {
        if let Ok(t) = normalize_text(&s, max) {
            prop_assert!(!t.is_empty());
            prop_assert!(t.chars().count() <= max);
            prop_assert!(!t.chars().any(|c| c.is_control()));
            prop_assert_eq!(t.trim(), t.as_str());
            prop_assert!(!t.contains("  "));
        }
    }

    #[test]
    fn bucket_never_allows_more_than_burst_plus_rate(
        gaps in proptest::collection::vec(0u64..500, 1..300),
        rate in 0.5f64..50.0,
        burst in 1u32..20,
    ) {
        let mut b = TokenBucket::new(rate, burst, 0);
        let mut t = 0u64;
        let mut taken = 0u64;
        for g in gaps {
            t += g;
            if b.try_take(t).is_ok() {
                taken += 1;
            }
            let allowed = f64::from(burst) + rate * t as f64 / 1000.0;
            prop_assert!(taken as f64 <= allowed + 1e-6, "{taken} > {allowed}");
        }
    }
}

proptest! {
    /// Relay input is peer input: any bytes decode or are refused, never a
    /// panic; what decodes applies to a room (or is refused) without
    /// breaking its limits, and re-encodes to bytes that decode the same.
    #[test]
    fn relay_messages_take_any_bytes(
        msgs in proptest::collection::vec(relay_bytes(), 1..40),
    ) {
        use weir_chat::RelayMsg;
        let rules = Rules::new(&ChatConfig { history: 3, max_text: 20, ..ChatConfig::default() }).unwrap();
        let mut room: Room<()> = Room::new("a/b", Arc::new(rules), IdSource::new(1), false);
        room.connect(1, (), Now { wall_ms: 0, mono_ms: 0 }).unwrap();
        for (i, m) in msgs.iter().enumerate() {
            let now = Now { wall_ms: i as u64, mono_ms: i as u64 };
            if let Ok(msg) = RelayMsg::decode(m) {
                prop_assert_eq!(RelayMsg::decode(&msg.encode()), Ok(msg.clone()));
                if let Ok(out) = room.apply(&msg.event, now) {
                    for b in out.broadcast.iter().chain(out.relay.iter()) {
                        let v: Value = serde_json::from_slice(b).expect("output is JSON");
                        prop_assert!(v["type"].is_string());
                        if let Some(text) = v["text"].as_str() {
                            prop_assert!(text.chars().count() <= 20);
                        }
                    }
                }
                room.seed([msg.event], now);
            }
            prop_assert!(room.history_ids().count() <= 3);
        }
    }
}

/// Relay messages: well-formed ones with odd fields, and garbage.
fn relay_bytes() -> impl Strategy<Value = Vec<u8>> {
    let event = prop_oneof![
        (any::<u64>(), ".{0,40}", ".{0,30}").prop_map(|(id, user, text)| serde_json::json!(
            {"type":"chat","id":id % (1 << 54),"user":user,"text":text,"ts":1}
        )),
        ".{0,40}".prop_map(|user| serde_json::json!({"type":"kick","user":user})),
        (".{0,40}", any::<u64>()).prop_map(|(user, until)| serde_json::json!(
            {"type":"mute","user":user,"until":until}
        )),
        any::<u64>().prop_map(|id| serde_json::json!({"type":"delete","id":id % (1 << 54)})),
        (".{0,40}", proptest::option::of(".{0,8}")).prop_map(|(user, reason)| serde_json::json!(
            {"type":"leave","user":user,"reason":reason,"ts":2}
        )),
    ];
    prop_oneof![
        (event, 0u64..3).prop_map(|(e, v)| serde_json::to_vec(
            &serde_json::json!({"v": v, "from": 5, "event": e})
        )
        .unwrap()),
        proptest::collection::vec(any::<u8>(), 0..128),
    ]
}
