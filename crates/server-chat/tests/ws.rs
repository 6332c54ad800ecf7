//! The adapter over real sockets: an axum server on a loopback port and
//! tokio-tungstenite clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use weir_chat::ChatConfig;
use weir_hub::{Hub, HubConfig};
use weir_media::StreamKey;
use weir_server_chat::{Authorizer, ChatServer, Config};

mod common;

use common::{close_code, http, next_of, say, Ws};

struct Fixture {
    addr: SocketAddr,
    hub: Hub,
    chat: ChatServer,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn start(config: Config) -> Fixture {
    let hub = Hub::new(HubConfig::default());
    let shutdown = CancellationToken::new();
    let authorize: Authorizer = Arc::new(|h: &axum::http::HeaderMap| {
        h.get("authorization").is_some_and(|v| v == "Bearer ok")
    });
    let chat = ChatServer::new(hub.clone(), config, shutdown.clone(), Some(authorize)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = chat.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Fixture {
        addr,
        hub,
        chat,
        _shutdown: shutdown.drop_guard(),
    }
}

async fn connect(f: &Fixture) -> Ws {
    let url = format!("ws://{}/chat/live/room", f.addr);
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws
}

#[tokio::test]
async fn every_member_gets_every_message_in_one_order() {
    let f = start(Config::default()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(&f).await;
        next_of(&mut ws, "welcome").await;
        next_of(&mut ws, "history").await;
        clients.push(ws);
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        for j in 0..2 {
            say(ws, &format!("c{i} m{j}")).await;
        }
    }

    let mut orders = Vec::new();
    for ws in &mut clients {
        let mut ids = Vec::new();
        for _ in 0..6 {
            ids.push(next_of(ws, "chat").await["id"].as_u64().unwrap());
        }
        orders.push(ids);
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "{orders:?}");
    let m = f.chat.metrics().snapshot();
    assert_eq!((m.rooms, m.members, m.messages_in), (1, 3, 6));
    // 18 chat deliveries, plus member-count events from the tick.
    assert!(m.messages_out >= 18, "{m:?}");
}

#[tokio::test]
async fn silent_connections_are_closed_and_pinging_ones_stay() {
    let f = start(Config {
        heartbeat_timeout: Duration::from_millis(400),
        ..Config::default()
    })
    .await;
    let mut silent = connect(&f).await;
    let mut pinger = connect(&f).await;
    let ping = async {
        for _ in 0..8 {
            pinger
                .send(Message::Text(r#"{"type":"ping"}"#.into()))
                .await
                .unwrap();
            next_of(&mut pinger, "pong").await;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        pinger
    };
    let (code, mut pinger) = tokio::join!(close_code(&mut silent, Duration::from_secs(3)), ping);
    assert_eq!(code, CloseCode::from(4000));
    say(&mut pinger, "still here").await;
    assert_eq!(next_of(&mut pinger, "chat").await["text"], "still here");
    assert_eq!(f.chat.metrics().snapshot().timeouts, 1);
}

#[tokio::test]
async fn a_member_that_does_not_read_is_dropped_and_the_room_goes_on() {
    let f = start(Config {
        send_queue: 8,
        // The talker waits for each echo; pacing would only slow it down.
        write_pacing: Duration::ZERO,
        chat: ChatConfig {
            max_text: 4000,
            rate_per_sec: 1e6,
            burst: 1_000_000,
            ..ChatConfig::default()
        },
        ..Config::default()
    })
    .await;
    let mut stalled = connect(&f).await;
    let mut talker = connect(&f).await;
    next_of(&mut talker, "history").await;
    // The stalled member never reads: once the socket buffers between us
    // are full its queue overflows and it is dropped. The talker, which
    // reads every echo, keeps chatting all along.
    let text = "x".repeat(4000);
    let mut sent = 0;
    while f.chat.metrics().snapshot().dropped == 0 {
        assert!(sent < 20_000, "the stalled member was never dropped");
        say(&mut talker, &text).await;
        next_of(&mut talker, "chat").await;
        sent += 1;
    }
    say(&mut talker, "after the drop").await;
    assert_eq!(next_of(&mut talker, "chat").await["text"], "after the drop");
    assert_eq!(f.chat.metrics().snapshot().members, 1);
    // The close frame may or may not fit behind the unread data; either
    // way the connection ends.
    let end = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match stalled.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .expect("the stalled connection ends");
    assert!(
        matches!(end, None | Some(CloseCode::Library(4001))),
        "{end:?}"
    );
}

/// A frame over the transport limit (twice what the room parses: 4,448
/// bytes with the default `max_text = 200`) closes its connection with 1009
/// "message too big", not 1002; one just under it gets the room's
/// `too_long` error and the connection stays; the room serves the others
/// throughout.
#[tokio::test]
async fn a_frame_over_the_transport_limit_closes_with_1009() {
    let f = start(Config::default()).await;
    let mut bystander = connect(&f).await;
    next_of(&mut bystander, "history").await;
    let limit = (200 * 6 + 1024) * 2;

    let mut near = connect(&f).await;
    next_of(&mut near, "history").await;
    near.send(Message::Text("x".repeat(limit).into()))
        .await
        .unwrap();
    assert_eq!(next_of(&mut near, "error").await["code"], "too_long");
    say(&mut near, "still here").await;
    assert_eq!(next_of(&mut near, "chat").await["text"], "still here");
    assert_eq!(next_of(&mut bystander, "chat").await["text"], "still here");

    for size in [limit + 1, 5_000, 100_000] {
        let mut big = connect(&f).await;
        next_of(&mut big, "history").await;
        big.send(Message::Text("x".repeat(size).into()))
            .await
            .unwrap();
        assert_eq!(
            close_code(&mut big, Duration::from_secs(5)).await,
            CloseCode::Size,
            "a {size}-byte frame"
        );
        say(&mut bystander, &format!("after {size}")).await;
        assert_eq!(
            next_of(&mut bystander, "chat").await["text"],
            format!("after {size}")
        );
    }
}

#[tokio::test]
async fn live_changes_and_member_counts_are_announced() {
    let f = start(Config {
        tick: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    let mut ws = connect(&f).await;
    assert_eq!(next_of(&mut ws, "welcome").await["live"], false);
    let key = StreamKey::new("live", "room").unwrap();
    let addr = "127.0.0.1:1".parse().unwrap();
    let (_client, admission) = f
        .hub
        .admit_new_client(addr, "test", weir_hub::Action::Publish, &key, "")
        .await
        .unwrap();
    let publisher = f.hub.publish(&admission).unwrap();
    assert_eq!(next_of(&mut ws, "stream").await["live"], true);
    drop(publisher);
    assert_eq!(next_of(&mut ws, "stream").await["live"], false);
    let _other = connect(&f).await;
    assert_eq!(next_of(&mut ws, "members").await["count"], 2);
}

#[tokio::test]
async fn endpoint_and_moderation_api() {
    let f = start(Config::default()).await;
    let (status, ep) = http(
        f.addr,
        "GET",
        "/api/v1/chat/endpoint?app=live&stream=room",
        false,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ep["url"], "ws://chat.example:8080/chat/live/room");
    assert_eq!(
        http(
            f.addr,
            "GET",
            "/api/v1/chat/endpoint?app=live&stream=a%20b",
            false,
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(
        http(f.addr, "GET", "/api/v1/chat/live/room", false, None)
            .await
            .0,
        404
    );

    let mut troll = connect(&f).await;
    troll
        .send(Message::Text(r#"{"type":"join","nick":"troll"}"#.into()))
        .await
        .unwrap();
    next_of(&mut troll, "join").await;
    say(&mut troll, "first").await;
    let id = next_of(&mut troll, "chat").await["id"].as_u64().unwrap();

    let (status, room) = http(f.addr, "GET", "/api/v1/chat/live/room", false, None).await;
    assert_eq!(status, 200);
    assert_eq!(room["members"][0]["user"], "troll");
    assert_eq!(room["history"], json!([id]));

    let mute = json!({"user": "troll", "minutes": 5});
    assert_eq!(
        http(
            f.addr,
            "POST",
            "/api/v1/chat/live/room/mute",
            false,
            Some(mute.clone())
        )
        .await
        .0,
        401
    );
    assert_eq!(
        http(
            f.addr,
            "POST",
            "/api/v1/chat/live/room/mute",
            true,
            Some(mute)
        )
        .await
        .0,
        200
    );
    assert!(next_of(&mut troll, "mute").await["until"].as_u64().unwrap() > 0);
    say(&mut troll, "again").await;
    assert_eq!(next_of(&mut troll, "error").await["code"], "muted");

    let path = format!("/api/v1/chat/live/room/messages/{id}");
    assert_eq!(http(f.addr, "DELETE", &path, true, None).await.0, 200);
    assert_eq!(next_of(&mut troll, "delete").await["id"], id);
    assert_eq!(http(f.addr, "DELETE", &path, true, None).await.0, 404);

    let kick = json!({"user": "troll"});
    assert_eq!(
        http(
            f.addr,
            "POST",
            "/api/v1/chat/live/room/kick",
            true,
            Some(kick)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        close_code(&mut troll, Duration::from_secs(3)).await,
        CloseCode::from(4002)
    );
    let (_, summary) = http(f.addr, "GET", "/api/v1/chat", false, None).await;
    assert_eq!(summary["metrics"]["refused"], 1);
}

#[tokio::test]
async fn chat_js_and_chat_css_are_served() {
    let f = start(Config::default()).await;
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    s.write_all(b"GET /chat.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"));
    assert!(out.contains("text/javascript"));
    assert!(out.contains("WeirChat"));
    assert!(
        !out.contains("createElement(\"style\")"),
        "no injected <style>"
    );

    let mut s = TcpStream::connect(f.addr).await.unwrap();
    s.write_all(b"GET /chat.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"));
    assert!(out.contains("text/css"));
    assert!(out.contains(".weir-danmaku"));
}

/// With a token key, a connection is outside the room until a `join` with
/// a token for its nickname: it gets no broadcasts, and chatting earns an
/// error. The API mints tokens (behind the authorizer).
#[tokio::test]
async fn rooms_with_tokens_admit_only_token_holders() {
    let key = weir_server_chat::TokenKey::new(b"secret");
    let f = start(Config {
        tokens: Some(key.clone()),
        ..Config::default()
    })
    .await;
    let (status, _) = http(
        f.addr,
        "POST",
        "/api/v1/chat/token",
        false,
        Some(json!({"app": "live", "stream": "room", "user": "alice"})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, minted) = http(
        f.addr,
        "POST",
        "/api/v1/chat/token",
        true,
        Some(json!({"app": "live", "stream": "room", "user": "alice", "ttl_secs": 60})),
    )
    .await;
    assert_eq!(status, 200, "{minted}");
    assert_eq!(minted["user"], "alice");
    assert_eq!(minted["room"], "live/room");
    let (_, ep) = http(
        f.addr,
        "GET",
        "/api/v1/chat/endpoint?app=live&stream=room",
        false,
        None,
    )
    .await;
    assert_eq!(ep["token_required"], true);

    let mut outsider = connect(&f).await;
    say(&mut outsider, "hello?").await;
    assert_eq!(
        next_of(&mut outsider, "error").await["code"],
        "token_required"
    );
    let join = |nick: &str, token: &str| {
        Message::Text(
            json!({"type": "join", "nick": nick, "token": token})
                .to_string()
                .into(),
        )
    };
    let token = minted["token"].as_str().unwrap();
    outsider.send(join("bob", token)).await.unwrap();
    assert_eq!(next_of(&mut outsider, "error").await["code"], "bad_token");

    let mut alice = connect(&f).await;
    alice.send(join("alice", token)).await.unwrap();
    assert_eq!(next_of(&mut alice, "welcome").await["user"], "alice");
    next_of(&mut alice, "history").await;
    assert_eq!(next_of(&mut alice, "join").await["user"], "alice");
    say(&mut alice, "members only").await;
    assert_eq!(next_of(&mut alice, "chat").await["user"], "alice");
    // The outsider saw none of it: its next frame is the pong.
    outsider
        .send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), outsider.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(next.to_text().unwrap().contains("pong"), "{next:?}");
    let m = f.chat.metrics().snapshot();
    assert_eq!((m.members, m.messages_in), (1, 1), "{m:?}");
    assert!(m.refused >= 2, "{m:?}");
}
