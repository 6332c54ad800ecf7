//! Room behaviour through the public API, the way the adapter drives it.

use std::sync::Arc;

use serde_json::Value;
use weir_chat::{Action, ChatConfig, CloseCode, IdSource, ModError, Now, Room, Rules};

fn room_with(cfg: ChatConfig) -> Room<u32> {
    Room::new(
        "live/test",
        Arc::new(Rules::new(&cfg).unwrap()),
        IdSource::new(1),
        false,
    )
}

fn room() -> Room<u32> {
    room_with(ChatConfig::default())
}

fn at(ms: u64) -> Now {
    Now {
        wall_ms: 1_700_000_000_000 + ms,
        mono_ms: ms,
    }
}

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn reply(a: &Action) -> Value {
    json(a.reply.as_ref().expect("a reply"))
}

fn chat(text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"type": "chat", "text": text})).unwrap()
}

#[test]
fn guest_chats_without_joining_and_everyone_gets_the_same_frame() {
    let mut r = room();
    let g = r.connect(1, 10, at(0)).unwrap();
    let w = json(&g.welcome);
    assert_eq!(w["type"], "welcome");
    assert_eq!(w["user"], "guest-1");
    assert_eq!(w["room"], "live/test");
    assert_eq!(w["live"], false);
    assert_eq!(json(&g.history)["messages"], serde_json::json!([]));
    r.connect(2, 20, at(0)).unwrap();

    let a = r.handle(1, &chat("  hello\nworld "), at(5));
    assert!(a.reply.is_none() && a.close.is_none());
    let b = json(a.broadcast.as_ref().unwrap());
    assert_eq!(b["type"], "chat");
    assert_eq!(b["user"], "guest-1");
    assert_eq!(b["text"], "hello world");
    assert_eq!(b["id"], 1);
    assert_eq!(b["ts"], 1_700_000_000_005u64);
    let mut sinks: Vec<u32> = r.sinks().map(|(_, s)| *s).collect();
    sinks.sort();
    assert_eq!(sinks, [10, 20]);
}

#[test]
fn ping_gets_pong_and_costs_no_token() {
    let mut r = room_with(ChatConfig {
        burst: 1,
        rate_per_sec: 0.001,
        ..ChatConfig::default()
    });
    r.connect(1, 0, at(0)).unwrap();
    for _ in 0..100 {
        assert_eq!(
            reply(&r.handle(1, br#"{"type":"ping"}"#, at(0)))["type"],
            "pong"
        );
    }
    assert!(r.handle(1, &chat("x"), at(0)).broadcast.is_some());
}

#[test]
fn history_is_the_last_n_and_comes_on_connect() {
    let mut r = room_with(ChatConfig {
        history: 3,
        burst: 100,
        ..ChatConfig::default()
    });
    r.connect(1, 0, at(0)).unwrap();
    for i in 0..5 {
        r.handle(1, &chat(&format!("m{i}")), at(0));
    }
    let g = r.connect(2, 0, at(0)).unwrap();
    let texts: Vec<String> = json(&g.history)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["m2", "m3", "m4"]);
    assert_eq!(r.history_ids().collect::<Vec<_>>(), [3, 4, 5]);
}

#[test]
fn rate_limit_errors_then_closes_a_flood() {
    let mut r = room_with(ChatConfig {
        burst: 2,
        rate_per_sec: 1.0,
        ..ChatConfig::default()
    });
    r.connect(1, 0, at(0)).unwrap();
    assert!(r.handle(1, &chat("a"), at(0)).broadcast.is_some());
    assert!(r.handle(1, &chat("b"), at(0)).broadcast.is_some());
    let e = reply(&r.handle(1, &chat("c"), at(0)));
    assert_eq!(e["code"], "rate_limited");
    assert_eq!(e["retry_ms"], 1000);
    // After the refill the connection chats again.
    assert!(r.handle(1, &chat("d"), at(1000)).broadcast.is_some());
    // Keeping on after the errors is flooding: closed after 20 refusals.
    let mut closed = None;
    for i in 0..30 {
        let a = r.handle(1, &chat("x"), at(1000));
        if a.close.is_some() {
            closed = Some((i, a.close));
            break;
        }
    }
    assert_eq!(closed, Some((19, Some(CloseCode::Flooding))));
}

#[test]
fn text_rules_answer_errors() {
    let mut r = room_with(ChatConfig {
        max_text: 5,
        banned_words: vec!["spam".into()],
        burst: 100,
        ..ChatConfig::default()
    });
    r.connect(1, 0, at(0)).unwrap();
    let code = |r: &mut Room<u32>, f: &[u8]| reply(&r.handle(1, f, at(0)))["code"].clone();
    assert_eq!(code(&mut r, &chat("123456")), "too_long");
    assert_eq!(code(&mut r, &chat("  ")), "empty");
    assert_eq!(code(&mut r, &chat("SPAM!")), "banned_word");
    assert_eq!(code(&mut r, b"\xc3\x28"), "invalid_utf8");
    assert_eq!(code(&mut r, b"not json"), "invalid_json");
    assert_eq!(code(&mut r, &[b'x'; 10_000]), "too_long");
    assert!(r.handle(1, &chat("12345"), at(0)).broadcast.is_some());
}

#[test]
fn join_names_are_unique_and_only_before_speaking() {
    let mut r = room();
    r.connect(1, 0, at(0)).unwrap();
    r.connect(2, 0, at(0)).unwrap();
    let a = r.handle(1, br#"{"type":"join","nick":"Alice"}"#, at(0));
    assert_eq!(reply(&a)["user"], "Alice");
    assert_eq!(json(a.broadcast.as_ref().unwrap())["type"], "join");
    let a = r.handle(2, br#"{"type":"join","nick":"alice"}"#, at(0));
    assert_eq!(reply(&a)["code"], "nick_taken");
    let a = r.handle(2, br#"{"type":"join","nick":"guest-1"}"#, at(0));
    assert_eq!(reply(&a)["code"], "bad_nick");
    r.handle(2, &chat("hi"), at(0));
    let a = r.handle(2, br#"{"type":"join","nick":"bob"}"#, at(0));
    assert_eq!(reply(&a)["code"], "already_joined");
    // A named member's departure is announced, a guest's is not.
    let (_, leave) = r.disconnect(1, at(0)).unwrap();
    assert_eq!(json(&leave.unwrap())["user"], "Alice");
    assert!(r.disconnect(2, at(0)).unwrap().1.is_none());
    assert!(r.is_empty());
}

#[test]
fn member_cap_refuses_with_room_full() {
    let mut r = room_with(ChatConfig {
        max_members: 2,
        ..ChatConfig::default()
    });
    r.connect(1, 0, at(0)).unwrap();
    r.connect(2, 0, at(0)).unwrap();
    assert_eq!(r.connect(3, 0, at(0)).unwrap_err(), CloseCode::RoomFull);
    r.disconnect(1, at(0));
    assert!(r.connect(3, 0, at(0)).is_ok());
}

#[test]
fn mute_refuses_until_it_ends_and_survives_reconnect() {
    let mut r = room();
    r.connect(1, 0, at(0)).unwrap();
    r.handle(1, br#"{"type":"join","nick":"troll"}"#, at(0));
    let (until, ev) = r.mute("TROLL", 1, at(0)).unwrap();
    assert_eq!(until, 1_700_000_060_000);
    let ev = json(&ev);
    assert_eq!(ev["type"], "mute");
    assert_eq!(ev["until"], 1_700_000_060_000u64);
    assert_eq!(reply(&r.handle(1, &chat("hi"), at(10)))["code"], "muted");
    assert_eq!(r.members(at(10))[0].muted_until, Some(1_700_000_060_000));
    // Same name on a new connection: still muted.
    r.disconnect(1, at(20));
    r.connect(2, 0, at(20)).unwrap();
    r.handle(2, br#"{"type":"join","nick":"troll"}"#, at(20));
    assert_eq!(reply(&r.handle(2, &chat("hi"), at(30)))["code"], "muted");
    assert!(r.handle(2, &chat("hi"), at(60_001)).broadcast.is_some());
    assert_eq!(
        r.mute("nobody", 1, at(0)),
        Err(ModError::NoSuchUser("nobody".into()))
    );
    assert!(matches!(
        r.mute("troll", 1_000_000, at(0)),
        Err(ModError::MuteTooLong { .. })
    ));
    // Zero minutes lifts a mute.
    r.mute("troll", 5, at(70_000)).unwrap();
    assert_eq!(json(&r.mute("troll", 0, at(70_000)).unwrap().1)["until"], 0);
    assert!(r.handle(2, &chat("back"), at(70_001)).broadcast.is_some());
}

#[test]
fn kick_removes_and_delete_edits_history() {
    let mut r = room();
    r.connect(1, 11, at(0)).unwrap();
    r.connect(2, 22, at(0)).unwrap();
    let id = json(r.handle(1, &chat("bad"), at(0)).broadcast.as_ref().unwrap())["id"]
        .as_u64()
        .unwrap();
    let del = json(&r.delete(id).unwrap());
    assert_eq!(del, serde_json::json!({"type": "delete", "id": id}));
    assert_eq!(r.delete(id), Err(ModError::NoSuchMessage(id)));
    assert_eq!(
        json(&r.connect(3, 33, at(0)).unwrap().history)["messages"],
        serde_json::json!([])
    );

    let (conn, sink, leave) = r.kick("guest-1", at(0)).unwrap();
    assert_eq!((conn, sink), (1, 11));
    assert_eq!(json(&leave)["reason"], "kicked");
    assert!(r.disconnect(1, at(0)).is_none());
    assert!(r.handle(1, &chat("still here?"), at(0)) == Action::default());
}

#[test]
fn tick_reports_live_and_member_changes_once() {
    let mut r = room();
    r.connect(1, 0, at(0)).unwrap();
    let evs: Vec<Value> = r.tick(true, at(0)).iter().map(|b| json(b)).collect();
    assert_eq!(evs[0]["type"], "stream");
    assert_eq!(evs[0]["live"], true);
    assert_eq!(evs[1], serde_json::json!({"type": "members", "count": 1}));
    assert!(r.tick(true, at(1000)).is_empty());
    r.connect(2, 0, at(0)).unwrap();
    assert_eq!(r.tick(true, at(2000)).len(), 1);
    assert!(r.live());
}

#[test]
fn connect_named_admits_under_the_token_name_and_announces_it() {
    use weir_chat::{ChatError, Refusal};
    let mut r = room_with(ChatConfig {
        max_members: 2,
        ..ChatConfig::default()
    });
    let g = r.connect_named(1, 10, "alice", at(0)).unwrap();
    assert_eq!(json(&g.welcome)["user"], "alice");
    assert_eq!(json(&g.history)["type"], "history");
    let joined = json(g.joined.as_ref().expect("a join event"));
    assert_eq!(joined["type"], "join");
    assert_eq!(joined["user"], "alice");
    // A named member cannot rename itself by `join`.
    let a = r.handle(1, br#"{"type":"join","nick":"bob"}"#, at(1));
    assert_eq!(reply(&a)["code"], "already_joined");
    let b = json(r.handle(1, &chat("hi"), at(2)).broadcast.as_ref().unwrap());
    assert_eq!(b["user"], "alice");

    assert_eq!(
        r.connect_named(2, 20, "ALICE", at(3)),
        Err(Refusal::Nick(ChatError::NickTaken("ALICE".into())))
    );
    assert!(matches!(
        r.connect_named(2, 20, "guest-9", at(3)),
        Err(Refusal::Nick(ChatError::BadNick(_)))
    ));
    assert_eq!(r.len(), 1, "refused connections are not members");
    r.connect_named(2, 20, "bob", at(4)).unwrap();
    assert_eq!(
        r.connect_named(3, 30, "carol", at(5)),
        Err(Refusal::Close(CloseCode::RoomFull))
    );
}
