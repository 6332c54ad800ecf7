//! Chat across nodes: three chat servers in one process, each on its own
//! port, bridged by an in-memory [`Relay`] that behaves as the app's Redis
//! one does (a channel per room that a node receives only while it has the
//! room open, one ordered delivery task per node, a shared capped history,
//! member counts from a heartbeat snapshot, a switch to cut a node off).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use parking_lot::Mutex;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use weir_chat::ChatConfig;
use weir_hub::{Hub, HubConfig};
use weir_media::StreamKey;
use weir_server_chat::{Authorizer, ChatServer, Config, IdSlot, Relay, RelayFuture, RelayMsg};

mod common;

use common::{close_code, http, next_of, say, Ws};

/// Shared history kept per room, as the app would keep it in Redis.
const BUS_HISTORY: usize = 200;

/// The "Redis" of the test: which node has which room open, their
/// advertised member counts, and each room's kept messages.
#[derive(Default)]
struct Bus {
    nodes: Mutex<Vec<Node>>,
    history: Mutex<HashMap<StreamKey, Vec<Bytes>>>,
}

struct Node {
    open: HashSet<StreamKey>,
    counts: HashMap<StreamKey, usize>,
    inbox: mpsc::UnboundedSender<(StreamKey, Bytes)>,
    url: String,
    up: Arc<AtomicBool>,
}

/// One node's relay over the bus.
struct TestRelay {
    bus: Arc<Bus>,
    me: usize,
    up: Arc<AtomicBool>,
    /// How long `history` takes to answer, in ms (Redis being slow).
    history_ms: AtomicU64,
}

impl Relay for TestRelay {
    fn open(&self, room: &StreamKey) {
        self.bus.nodes.lock()[self.me].open.insert(room.clone());
    }

    fn close(&self, room: &StreamKey) {
        self.bus.nodes.lock()[self.me].open.remove(room);
    }

    fn send(&self, room: &StreamKey, msg: Bytes) {
        if !self.up.load(Ordering::SeqCst) {
            return;
        }
        if RelayMsg::decode(&msg).is_ok_and(|m| m.kept()) {
            let mut history = self.bus.history.lock();
            let list = history.entry(room.clone()).or_default();
            list.push(msg.clone());
            if list.len() > BUS_HISTORY {
                list.remove(0);
            }
        }
        for (i, node) in self.bus.nodes.lock().iter().enumerate() {
            if i != self.me && node.open.contains(room) && node.up.load(Ordering::SeqCst) {
                let _ = node.inbox.send((room.clone(), msg.clone()));
            }
        }
    }

    fn remote_members(&self, room: &StreamKey) -> usize {
        let nodes = self.bus.nodes.lock();
        let others = nodes.iter().enumerate().filter(|(i, _)| *i != self.me);
        others.filter_map(|(_, n)| n.counts.get(room)).sum()
    }

    fn connected(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    fn history(&self, room: &StreamKey) -> RelayFuture<Vec<Bytes>> {
        let list = if self.up.load(Ordering::SeqCst) {
            self.bus
                .history
                .lock()
                .get(room)
                .cloned()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let delay = Duration::from_millis(self.history_ms.load(Ordering::SeqCst));
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            list
        })
    }

    fn endpoint(&self, room: &StreamKey) -> Option<String> {
        let nodes = self.bus.nodes.lock();
        let least = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.up.load(Ordering::SeqCst))
            .min_by_key(|(i, n)| (n.counts.get(room).copied().unwrap_or(0), *i))?;
        (least.0 != self.me).then(|| least.1.url.clone())
    }
}

struct Cluster {
    bus: Arc<Bus>,
    nodes: Vec<(SocketAddr, ChatServer, Arc<TestRelay>)>,
    _shutdown: tokio_util::sync::DropGuard,
}

impl Cluster {
    fn addr(&self, node: usize) -> SocketAddr {
        self.nodes[node].0
    }

    fn chat(&self, node: usize) -> &ChatServer {
        &self.nodes[node].1
    }

    /// Cuts a node off the bus (Redis down for it) or brings it back.
    fn set_up(&self, node: usize, up: bool) {
        self.nodes[node].2.up.store(up, Ordering::SeqCst);
    }
}

/// Chat that never rate-limits the tests' bursts, ticking fast.
fn config(node: u32) -> Config {
    Config {
        tick: Duration::from_millis(50),
        write_pacing: Duration::from_millis(5),
        chat: ChatConfig {
            rate_per_sec: 1e6,
            burst: 1_000_000,
            ..ChatConfig::default()
        },
        id_slot: IdSlot {
            slot: node,
            slots: 4,
        },
        ..Config::default()
    }
}

/// Three (or `n`) nodes on the bus, each with its delivery task and a
/// heartbeat that publishes its room counts every 50 ms.
async fn cluster(n: usize) -> Cluster {
    let bus = Arc::new(Bus::default());
    let shutdown = CancellationToken::new();
    let authorize: Authorizer = Arc::new(|h: &axum::http::HeaderMap| {
        h.get("authorization").is_some_and(|v| v == "Bearer ok")
    });
    let mut nodes = Vec::new();
    for i in 0..n {
        let chat = ChatServer::new(
            Hub::new(HubConfig::default()),
            config(i as u32),
            shutdown.clone(),
            Some(authorize.clone()),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (inbox, mut rx) = mpsc::unbounded_channel::<(StreamKey, Bytes)>();
        let up = Arc::new(AtomicBool::new(true));
        bus.nodes.lock().push(Node {
            open: HashSet::new(),
            counts: HashMap::new(),
            inbox,
            url: format!("ws://{addr}"),
            up: up.clone(),
        });
        let relay = Arc::new(TestRelay {
            bus: bus.clone(),
            me: i,
            up,
            history_ms: AtomicU64::new(0),
        });
        let chat = chat.with_relay(relay.clone());
        let router = chat.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        // Deliveries, in order, as the app's subscriber task would.
        let receiver = chat.clone();
        tokio::spawn(async move {
            while let Some((room, msg)) = rx.recv().await {
                receiver.deliver(&room, &msg).expect("valid relay message");
            }
        });
        // The heartbeat: this node's room counts, for remote_members.
        let (beat, bus2, stop) = (chat.clone(), bus.clone(), shutdown.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let counts = beat.room_counts().into_iter().collect();
                bus2.nodes.lock()[i].counts = counts;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        nodes.push((addr, chat, relay));
    }
    Cluster {
        bus,
        nodes,
        _shutdown: shutdown.drop_guard(),
    }
}

async fn connect(addr: SocketAddr) -> Ws {
    let url = format!("ws://{addr}/chat/live/room");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    next_of(&mut ws, "welcome").await;
    next_of(&mut ws, "history").await;
    ws
}

async fn join(ws: &mut Ws, nick: &str) {
    let frame = json!({"type": "join", "nick": nick}).to_string();
    ws.send(Message::Text(frame.into())).await.unwrap();
    next_of(ws, "welcome").await;
}

/// Evaluates `check` (which may `.await`) every 20 ms until it is true;
/// panics after 5 s.
macro_rules! eventually {
    ($what:expr, $check:expr) => {{
        let mut ok = false;
        for _ in 0..250 {
            if $check {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(ok, "never happened: {}", $what);
    }};
}

fn key() -> StreamKey {
    StreamKey::new("live", "room").unwrap()
}

/// Whether every node in `nodes` has the room open on the bus.
fn open_on(c: &Cluster, nodes: &[usize]) -> bool {
    let bus = c.bus.nodes.lock();
    nodes.iter().all(|&n| bus[n].open.contains(&key()))
}

/// The `text`s of the next `n` chat events.
async fn texts(ws: &mut Ws, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let v = next_of(ws, "chat").await;
        out.push(v["text"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test]
async fn one_room_across_three_nodes() {
    let c = cluster(3).await;
    let mut a = connect(c.addr(0)).await;
    join(&mut a, "alice").await;
    let mut b = connect(c.addr(1)).await;
    let mut cc = connect(c.addr(2)).await;
    assert!(open_on(&c, &[0, 1, 2]));

    // Member counts are the sum over the nodes: in the events, the API and
    // the welcome of a later joiner.
    let (_, summary) = http(c.addr(1), "GET", "/api/v1/chat", false, None).await;
    assert_eq!(summary["relay"], json!({"connected": true}));
    eventually!("cluster counts of 3 on every node", {
        let mut all = true;
        for n in 0..3 {
            let (_, s) = http(c.addr(n), "GET", "/api/v1/chat", false, None).await;
            all &= s["rooms"][0]["cluster_members"] == 3 && s["rooms"][0]["members"] == 1;
        }
        all
    });
    // Members events count the whole room (next_of gives up after 5 s).
    while next_of(&mut b, "members").await["count"] != 3 {}
    let (status, room) = http(c.addr(2), "GET", "/api/v1/chat/live/room", false, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            room["local_members"].as_u64(),
            room["remote_members"].as_u64()
        ),
        (Some(1), Some(2))
    );

    // 50 messages from one member on A reach every member on every node,
    // once each and in order.
    let sent: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    for text in &sent {
        say(&mut a, text).await;
    }
    say(&mut a, "end").await;
    let mut expected = sent.clone();
    expected.push("end".into());
    assert_eq!(texts(&mut a, 51).await, expected);
    assert_eq!(texts(&mut b, 51).await, expected);
    assert_eq!(texts(&mut cc, 51).await, expected);
    // Nothing doubled: the next chat anyone sees is the next one said.
    say(&mut b, "from b").await;
    for ws in [&mut a, &mut b, &mut cc] {
        assert_eq!(texts(ws, 1).await, ["from b"]);
    }

    // A late joiner at C has A's messages in its history (C's room got
    // them live), and the welcome counts the whole room.
    let url = format!("ws://{}/chat/live/room", c.addr(2));
    let (mut late, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_of(&mut late, "welcome").await["members"], 4);
    let history = next_of(&mut late, "history").await;
    let h: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(h.len(), 50, "the history limit");
    assert_eq!(h[h.len() - 2..], ["end", "from b"]);
    assert!(h.contains(&"m49") && h.contains(&"m10"));

    // Ids are unique in the cluster (A's slot 0 of 4, B's slot 1).
    let ids: Vec<u64> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert!(ids[..ids.len() - 1].iter().all(|id| id % 4 == 0));
    assert_eq!(ids[ids.len() - 1] % 4, 1);
    drop(late);

    // Join and leave events are cluster-wide.
    join(&mut cc, "carol").await;
    assert_eq!(next_of(&mut a, "join").await["user"], "carol");
    cc.close(None).await.unwrap();
    assert_eq!(next_of(&mut a, "leave").await["user"], "carol");
    eventually!("C's room closed on the relay", !open_on(&c, &[2]));
    assert!(c.chat(2).open_rooms().is_empty());

    // A room opening on C again fills its history from the relay.
    let url = format!("ws://{}/chat/live/room", c.addr(2));
    let (mut reopened, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    next_of(&mut reopened, "welcome").await;
    let history = next_of(&mut reopened, "history").await;
    let h: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(h.len(), 50);
    assert_eq!(h[h.len() - 2..], ["end", "from b"]);
    assert_eq!(c.chat(2).open_rooms(), [key()]);
}

#[tokio::test]
async fn moderation_from_any_node_is_cluster_wide() {
    let c = cluster(3).await;
    let mut troll = connect(c.addr(0)).await;
    join(&mut troll, "troll").await;
    let mut b = connect(c.addr(1)).await;
    let mut cc = connect(c.addr(2)).await;

    say(&mut troll, "bad words").await;
    let id = next_of(&mut troll, "chat").await["id"].as_u64().unwrap();
    for ws in [&mut b, &mut cc] {
        assert_eq!(next_of(ws, "chat").await["id"], id);
    }

    // Delete from B: gone from every node's history, members told.
    let path = format!("/api/v1/chat/live/room/messages/{id}");
    let (status, answer) = http(c.addr(1), "DELETE", &path, true, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["relayed"], true);
    for ws in [&mut troll, &mut b, &mut cc] {
        assert_eq!(next_of(ws, "delete").await["id"], id);
    }
    for n in 0..3 {
        let (_, room) = http(c.addr(n), "GET", "/api/v1/chat/live/room", false, None).await;
        assert_eq!(room["history"], json!([]), "node {n}");
    }

    // Mute from B of a user connected to A: A refuses its messages.
    let mute = json!({"user": "troll", "minutes": 5});
    let (status, answer) = http(
        c.addr(1),
        "POST",
        "/api/v1/chat/live/room/mute",
        true,
        Some(mute),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["until"].as_u64().unwrap() > 0);
    assert!(next_of(&mut troll, "mute").await["until"].as_u64().unwrap() > 0);
    say(&mut troll, "again").await;
    assert_eq!(next_of(&mut troll, "error").await["code"], "muted");
    // The mute sticks to the name on C too, where nobody had it: someone
    // taking it there cannot speak either.
    let mut other = connect(c.addr(2)).await;
    join(&mut other, "troll").await;
    say(&mut other, "me neither?").await;
    assert_eq!(next_of(&mut other, "error").await["code"], "muted");
    other.close(None).await.unwrap();
    eventually!("the second troll gone from C", {
        let (_, room) = http(c.addr(2), "GET", "/api/v1/chat/live/room", false, None).await;
        room["local_members"] == 1
    });

    // A mute for a room the node has nobody in is relayed too: 200, not
    // 404.
    let (status, answer) = http(
        c.addr(2),
        "POST",
        "/api/v1/chat/live/elsewhere/mute",
        true,
        Some(json!({"user": "x", "minutes": 1})),
    )
    .await;
    assert_eq!(
        (status, &answer["relayed"]),
        (200, &json!(true)),
        "{answer}"
    );

    // Kick from C of the user on A: A closes it with 4002, the others see
    // the leave.
    let (status, answer) = http(
        c.addr(2),
        "POST",
        "/api/v1/chat/live/room/kick",
        true,
        Some(json!({"user": "troll"})),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["relayed"], true);
    assert_eq!(
        close_code(&mut troll, Duration::from_secs(3)).await,
        CloseCode::from(4002)
    );
    for ws in [&mut b, &mut cc] {
        // (The second troll's plain leave from C comes first.)
        let mut leave = next_of(ws, "leave").await;
        if leave["reason"].is_null() {
            leave = next_of(ws, "leave").await;
        }
        assert_eq!(
            (leave["user"].as_str(), leave["reason"].as_str()),
            (Some("troll"), Some("kicked"))
        );
    }
    eventually!("A's room empty", c.chat(0).room_counts().is_empty());
    assert_eq!(c.chat(0).metrics().snapshot().members, 0);
}

#[tokio::test]
async fn a_node_cut_off_the_relay_keeps_its_local_chat() {
    let c = cluster(2).await;
    let mut a1 = connect(c.addr(0)).await;
    let mut a2 = connect(c.addr(0)).await;
    let mut b = connect(c.addr(1)).await;

    c.set_up(0, false);
    let (_, summary) = http(c.addr(0), "GET", "/api/v1/chat", false, None).await;
    assert_eq!(summary["relay"], json!({"connected": false}));
    say(&mut a1, "local only").await;
    assert_eq!(texts(&mut a1, 1).await, ["local only"]);
    assert_eq!(texts(&mut a2, 1).await, ["local only"]);

    // Back: the app opens the rooms again (the bus forgot nothing here, but
    // a real Redis would have dropped the subscriptions) and chat flows.
    c.set_up(0, true);
    for room in c.chat(0).open_rooms() {
        c.nodes[0].2.open(&room);
    }
    say(&mut a2, "together again").await;
    // B never saw the local-only message: its next chat is this one.
    assert_eq!(texts(&mut b, 1).await, ["together again"]);
    assert_eq!(texts(&mut a1, 1).await, ["together again"]);
    let (_, summary) = http(c.addr(0), "GET", "/api/v1/chat", false, None).await;
    assert_eq!(summary["relay"], json!({"connected": true}));
}

#[tokio::test]
async fn deliver_refuses_garbage_and_ignores_its_own_echo() {
    let c = cluster(2).await;
    let mut a = connect(c.addr(0)).await;
    let chat = c.chat(0);
    assert!(chat.deliver(&key(), b"\xff garbage").is_err());
    assert!(chat
        .deliver(&key(), br#"{"v":9,"from":1,"event":{}}"#)
        .is_err());
    let own = RelayMsg::wrap(
        chat.relay_id(),
        br#"{"type":"chat","id":4,"user":"me","text":"echo","ts":1}"#,
    );
    chat.deliver(&key(), &own).unwrap();
    let other = RelayMsg::wrap(
        chat.relay_id().wrapping_add(1),
        br#"{"type":"chat","id":5,"user":"you","text":"real","ts":1}"#,
    );
    chat.deliver(&key(), &other).unwrap();
    assert_eq!(texts(&mut a, 1).await, ["real"]);
    let m = chat.metrics().snapshot();
    assert_eq!((m.relay_errors, m.relayed_in), (2, 1), "{m:?}");
    // A room nobody here is in: ignored.
    let nowhere = StreamKey::new("live", "nowhere").unwrap();
    chat.deliver(&nowhere, &other).unwrap();
    assert!(c.chat(0).open_rooms().iter().all(|k| *k != nowhere));
}

#[tokio::test]
async fn the_endpoint_names_the_least_loaded_node_and_counts_the_room() {
    let c = cluster(3).await;
    let _a1 = connect(c.addr(0)).await;
    let _a2 = connect(c.addr(0)).await;
    let _b = connect(c.addr(1)).await;
    let _c = connect(c.addr(2)).await;
    let _c2 = connect(c.addr(2)).await;
    eventually!("counts advertised", {
        let (_, ep) = http(
            c.addr(0),
            "GET",
            "/api/v1/chat/endpoint?app=live&stream=room",
            false,
            None,
        )
        .await;
        ep["members"] == 5 && ep["url"] == format!("ws://{}/chat/live/room", c.addr(1))
    });
    // Asked on the least loaded node itself: its own name, as without a
    // relay (the Host header).
    let (_, ep) = http(
        c.addr(1),
        "GET",
        "/api/v1/chat/endpoint?app=live&stream=room",
        false,
        None,
    )
    .await;
    assert_eq!(ep["url"], "ws://chat.example:8080/chat/live/room");
    assert_eq!(ep["members"], 5);
}

/// The texts in a `history` event.
fn history_texts(history: &serde_json::Value) -> Vec<String> {
    let messages = history["messages"].as_array().unwrap();
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Members arriving while a room opens all wait for the relay's history
/// (and get it); a relay that does not answer holds them at most
/// HISTORY_WAIT (500 ms), then they get what the room has.
#[tokio::test]
async fn joiners_wait_a_bounded_time_for_the_history() {
    let c = cluster(2).await;
    let mut a = connect(c.addr(0)).await;
    say(&mut a, "one").await;
    say(&mut a, "two").await;
    texts(&mut a, 2).await;

    c.nodes[1].2.history_ms.store(300, Ordering::SeqCst);
    let url = format!("ws://{}/chat/live/room", c.addr(1));
    let first = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        next_of(&mut ws, "welcome").await;
        (history_texts(&next_of(&mut ws, "history").await), ws)
    };
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        next_of(&mut ws, "welcome").await;
        (history_texts(&next_of(&mut ws, "history").await), ws)
    };
    let ((h1, ws1), (h2, ws2)) = tokio::join!(first, second);
    assert_eq!(h1, ["one", "two"]);
    assert_eq!(
        h2,
        ["one", "two"],
        "the second joiner waited for the history too"
    );
    drop((ws1, ws2));
    eventually!("B's room closed", !open_on(&c, &[1]));

    c.nodes[1].2.history_ms.store(10_000, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    next_of(&mut ws, "welcome").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(history_texts(&next_of(&mut ws, "history").await).is_empty());
    // Live messages flow all the same.
    say(&mut a, "three").await;
    assert_eq!(texts(&mut ws, 1).await, ["three"]);
}
