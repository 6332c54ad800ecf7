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

/// A chat message as another node relays it.
fn remote_chat(id: u64, user: &str, text: &str) -> weir_chat::RelayEvent {
    weir_chat::RelayEvent::Chat {
        id,
        user: user.into(),
        text: text.into(),
        ts: 1_700_000_000_000 + id,
    }
}

#[test]
fn relayed_chat_joins_history_once_and_goes_to_members() {
    use weir_chat::{RelayEvent, RelayMsg};
    let mut r = room_with(ChatConfig {
        history: 3,
        max_text: 10,
        ..ChatConfig::default()
    });
    r.connect(1, 10, at(0)).unwrap();
    // What node B's room broadcast, relayed as is and applied here.
    let mut b: Room<u32> = Room::new(
        "live/test",
        Arc::new(Rules::new(&ChatConfig::default()).unwrap()),
        IdSource::for_node(1000, 1, 2),
        false,
    );
    b.connect(7, 70, at(0)).unwrap();
    let frame = b.handle(7, &chat("from b"), at(1)).broadcast.unwrap();
    let msg = RelayMsg::decode(&RelayMsg::wrap(9, &frame)).unwrap();
    let out = r.apply(&msg.event, at(2)).unwrap();
    assert_eq!(
        out.broadcast.as_ref(),
        Some(&frame),
        "the same bytes as B's members got"
    );
    assert!(out.kicked.is_none() && out.relay.is_none());
    assert_eq!(r.history_ids().collect::<Vec<_>>(), [1001]);
    // Delivered twice (history and live overlap): the second is ignored.
    assert!(r.apply(&msg.event, at(3)).unwrap().broadcast.is_none());
    // The room's own rules bound what it keeps.
    assert!(r
        .apply(&remote_chat(5, "x", "much too long"), at(3))
        .is_err());
    assert_eq!(r.history_ids().count(), 1);
    // A later joiner here gets it in its history.
    let g = r.connect(2, 20, at(4)).unwrap();
    assert_eq!(json(&g.history)["messages"][0]["text"], "from b");
    // Join and leave events pass through.
    let join = r
        .apply(
            &RelayEvent::Join {
                user: "bo".into(),
                ts: 5,
            },
            at(5),
        )
        .unwrap();
    assert_eq!(json(&join.broadcast.unwrap())["type"], "join");
    let leave = r
        .apply(
            &RelayEvent::Leave {
                user: "bo".into(),
                kicked: true,
                ts: 6,
            },
            at(6),
        )
        .unwrap();
    assert_eq!(json(&leave.broadcast.unwrap())["reason"], "kicked");
}

#[test]
fn relayed_moderation_mutes_kicks_and_deletes_here() {
    use weir_chat::RelayEvent;
    let mut r = room();
    r.connect(1, 10, at(0)).unwrap();
    r.handle(1, br#"{"type":"join","nick":"troll"}"#, at(0));
    r.connect(2, 20, at(0)).unwrap();
    // A mute decided on another node sticks to the name here, even for a
    // name nobody here has yet, and never for more than a week.
    let mute = |user: &str, until| RelayEvent::Mute {
        user: user.into(),
        until,
    };
    let out = r.apply(&mute("troll", 1_700_000_060_000), at(1)).unwrap();
    assert_eq!(json(&out.broadcast.unwrap())["until"], 1_700_000_060_000u64);
    assert_eq!(reply(&r.handle(1, &chat("hi"), at(2)))["code"], "muted");
    r.apply(&mute("elsewhere", u64::MAX), at(3)).unwrap();
    r.connect(3, 30, at(4)).unwrap();
    r.handle(3, br#"{"type":"join","nick":"Elsewhere"}"#, at(4));
    let until = r.members(at(5))[2].muted_until.unwrap();
    assert_eq!(until, at(3).wall_ms + 7 * 24 * 3_600_000);
    assert_eq!(reply(&r.handle(3, &chat("hi"), at(5)))["code"], "muted");
    // Lifted from afar (0, or an end already passed).
    r.apply(&mute("troll", 0), at(6)).unwrap();
    assert!(r.handle(1, &chat("back"), at(7)).broadcast.is_some());

    // Delete: removed from the history, and the members are told even when
    // the history no longer has it.
    r.apply(&remote_chat(77, "x", "bad"), at(8)).unwrap();
    assert!(r.history_ids().any(|i| i == 77));
    let out = r.apply(&RelayEvent::Delete { id: 77 }, at(9)).unwrap();
    assert!(!r.history_ids().any(|i| i == 77));
    assert_eq!(json(&out.broadcast.unwrap())["id"], 77);
    assert!(r
        .apply(&RelayEvent::Delete { id: 78 }, at(9))
        .unwrap()
        .broadcast
        .is_some());

    // Kick: the member here with the name is removed, its leave goes to
    // the members here and back to the other nodes.
    let out = r
        .apply(
            &RelayEvent::Kick {
                user: "TROLL".into(),
            },
            at(10),
        )
        .unwrap();
    assert_eq!(out.kicked, Some((1, 10)));
    let leave = json(out.relay.as_ref().unwrap());
    assert_eq!(
        (leave["user"].as_str(), leave["reason"].as_str()),
        (Some("troll"), Some("kicked"))
    );
    assert_eq!(out.broadcast, out.relay);
    assert_eq!(r.len(), 2);
    let none = r
        .apply(
            &RelayEvent::Kick {
                user: "nobody".into(),
            },
            at(11),
        )
        .unwrap();
    assert!(none.kicked.is_none() && none.broadcast.is_none() && none.relay.is_none());
}

#[test]
fn mute_name_needs_no_member_here() {
    let mut r = room();
    let (until, ev) = r.mute_name("  remote ", 2, at(0)).unwrap();
    assert_eq!(until, at(0).wall_ms + 120_000);
    assert_eq!(json(&ev)["user"], "remote");
    assert_eq!(
        r.mute("remote", 2, at(0)),
        Err(ModError::NoSuchUser("remote".into()))
    );
    assert!(matches!(
        r.mute_name(" ", 2, at(0)),
        Err(ModError::BadName(_))
    ));
    assert!(matches!(
        r.mute_name("a\u{7}", 2, at(0)),
        Err(ModError::BadName(_))
    ));
    assert!(matches!(
        r.mute_name("x", 1_000_000, at(0)),
        Err(ModError::MuteTooLong { .. })
    ));
    r.connect(1, 0, at(1)).unwrap();
    r.handle(1, br#"{"type":"join","nick":"Remote"}"#, at(1));
    assert_eq!(reply(&r.handle(1, &chat("hi"), at(2)))["code"], "muted");
}

#[test]
fn seeded_history_goes_before_what_came_live_and_keeps_the_limit() {
    use weir_chat::RelayEvent;
    let mut r = room_with(ChatConfig {
        history: 4,
        ..ChatConfig::default()
    });
    // Relayed while the room waited for the shared history.
    r.apply(&remote_chat(50, "a", "live one"), at(0)).unwrap();
    r.seed(
        [
            remote_chat(10, "a", "old 1"),
            RelayEvent::Join {
                user: "a".into(),
                ts: 1,
            },
            remote_chat(20, "a", "old 2"),
            remote_chat(30, "b", "old 3"),
            RelayEvent::Delete { id: 20 },
            remote_chat(40, "b", "old 4"),
            remote_chat(50, "a", "live one"),
            RelayEvent::Mute {
                user: "b".into(),
                until: at(0).wall_ms + 1000,
            },
        ],
        at(0),
    );
    assert_eq!(r.history_ids().collect::<Vec<_>>(), [10, 30, 40, 50]);
    let g = r.connect(1, 0, at(1)).unwrap();
    let texts: Vec<String> = json(&g.history)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["old 1", "old 3", "old 4", "live one"]);
    r.handle(1, br#"{"type":"join","nick":"b"}"#, at(1));
    assert_eq!(reply(&r.handle(1, &chat("hi"), at(2)))["code"], "muted");
    // Over the limit, the oldest go: seeded messages count as older than
    // the ones already here.
    r.seed((1..=9).map(|i| remote_chat(i, "c", "more")), at(3));
    assert_eq!(r.history_ids().collect::<Vec<_>>(), [10, 30, 40, 50]);
    let mut fresh = room_with(ChatConfig {
        history: 2,
        ..ChatConfig::default()
    });
    fresh.seed((1..=9).map(|i| remote_chat(i, "c", "more")), at(3));
    assert_eq!(fresh.history_ids().collect::<Vec<_>>(), [8, 9]);
}

#[test]
fn members_count_the_other_nodes_too() {
    let mut r = room();
    r.set_remote_members(5);
    let g = r.connect(1, 0, at(0)).unwrap();
    assert_eq!(json(&g.welcome)["members"], 6);
    assert_eq!(json(&r.tick(false, at(0))[0])["count"], 6);
    assert!(r.tick(false, at(1)).is_empty());
    r.set_remote_members(2);
    assert_eq!(json(&r.tick(false, at(2))[0])["count"], 3);
    assert_eq!((r.len(), r.remote_members(), r.cluster_len()), (1, 2, 3));
}

#[test]
fn node_ids_never_meet() {
    // Two nodes started in the same millisecond, and one a bit later.
    let a = IdSource::for_node(1_700_000_000_000 * 1024, 0, 64);
    let b = IdSource::for_node(1_700_000_000_000 * 1024, 1, 64);
    let c = IdSource::for_node(1_700_000_000_001 * 1024 + 5, 63, 64);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        for (slot, s) in [(0, &a), (1, &b), (63, &c)] {
            let id = s.next();
            assert_eq!(id % 64, slot);
            assert!(seen.insert(id), "id {id} handed out twice");
        }
    }
    let alone = IdSource::for_node(1000, 0, 1);
    assert_eq!((alone.next(), alone.next()), (1000, 1001));
    assert_eq!(IdSource::new(7).next(), 7);
}
