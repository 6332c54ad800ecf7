//! End-to-end cluster: three weir nodes and one real `redis-server`
//! (Debian's `redis-server`, started by each test on a free loopback
//! port). A stream published on node A plays from B over RTMP and
//! HTTP-FLV and from C over HLS (ffprobe), each edge pulling it once from
//! A; the publisher moves from A to C and B's viewer plays on; node A is
//! killed and leaves the directory within the TTL; chat members on A and
//! C talk (Python `websockets`), B moderates; Redis is stopped and
//! restarted and everything registers again.

#[allow(dead_code)]
mod common;

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::clients::{ffmpeg_publisher, require_ffmpeg, require_tool};
use common::http::{get, send};
use common::probe::{self, Media};
use common::process::{Proc, Stdout};
use common::server::{free_port, Server};
use serde_json::Value;

const TOKEN: &str = "cluster-test-token";
const PASSWORD: &str = "cluster-console-pw";
/// Heartbeats every half second, gone after two: fast tests, same logic.
const BEAT_SECS: f64 = 0.5;
const TTL_SECS: f64 = 2.0;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `redis-server` on `127.0.0.1:{port}`, no persistence, killed on drop.
struct Redis {
    proc: Proc,
    port: u16,
}

impl Redis {
    fn start(dir: &Path, port: u16) -> Redis {
        require_tool("redis-server");
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"]);
        let mut proc = Proc::spawn("redis", dir, cmd, Stdout::Null);
        let deadline = Instant::now() + secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            proc.assert_running("redis-server");
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            sleep(Duration::from_millis(50));
        }
        Redis { proc, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against it; its stdout.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli (apt-get install redis-tools)");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn kill(&mut self) {
        self.proc.kill();
    }
}

/// A node's config: its id, the Redis, fast beats, an API token; `extra`
/// goes on in `[api]` (or starts sections of its own).
fn node_config(id: &str, redis: &str, extra: &str) -> String {
    format!(
        "[cluster]\nredis = \"{redis}\"\nnode_id = \"{id}\"\nheartbeat_secs = {BEAT_SECS}\n\
         ttl_secs = {TTL_SECS}\nfailover_secs = 15\nidle_secs = 3\n\
         [api]\napi_token = \"{TOKEN}\"\n{extra}"
    )
}

fn json(port: u16, path: &str) -> Value {
    let r = get(port, path);
    assert_eq!(
        r.status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn cluster(node: &Server) -> Value {
    json(node.http_port(), "/api/v1/cluster")
}

fn node_ids(view: &Value) -> Vec<String> {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `f` every 100 ms until it is true; fails after `timeout`.
fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(100));
    }
}

/// The owner of `stream` in `node`'s directory.
fn owner(node: &Server, stream: &str) -> Option<String> {
    cluster(node)["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == stream)
        .and_then(|s| s["node"].as_str().map(str::to_owned))
}

/// RTMP players on `node` (clients of protocol rtmp playing).
fn rtmp_players(node: &Server) -> usize {
    json(node.http_port(), "/api/v1/clients")["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["protocol"] == "rtmp" && c["role"] == "play")
        .count()
}

/// Nodes a, b and c, once each knows the three. Their chat lets a member
/// send a burst of 20 (one sender's order is tested with it).
fn start_three(redis: &Redis) -> (Server, Server, Server) {
    let chat = "[chat]\nrate = 50\nburst = 50\n";
    let a = Server::start_with_config(&node_config("a", &redis.url(), chat));
    let b = Server::start_with_config(&node_config("b", &redis.url(), chat));
    let c = Server::start_with_config(&node_config("c", &redis.url(), chat));
    wait_until(secs(15), "three nodes in the cluster", || {
        [&a, &b, &c]
            .iter()
            .all(|n| node_ids(&cluster(n)) == ["a", "b", "c"])
    });
    (a, b, c)
}

#[test]
fn edges_pull_once_follow_the_publisher_and_forget_dead_nodes() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path(), free_port());
    let (mut a, b, c) = start_three(&redis);

    // Publish on A; B and C learn that A is its origin.
    let mut pub_a = ffmpeg_publisher(dir.path(), "pub-a", &a.rtmp_url("cam"), 120, &[]);
    wait_until(secs(15), "live/cam in B's and C's directory", || {
        owner(&b, "live/cam").as_deref() == Some("a")
            && owner(&c, "live/cam").as_deref() == Some("a")
    });

    // Viewers on the edges: RTMP and HTTP-FLV on B, HLS on C.
    let b_rtmp: Vec<Proc> = (0..3)
        .map(|i| probe::spawn_player(dir.path(), &format!("b-rtmp-{i}"), &b.rtmp_url("cam"), 6))
        .collect();
    let b_flv = probe::spawn_player(
        dir.path(),
        "b-flv",
        &format!("{}/live/cam.flv", b.http_base()),
        6,
    );
    let c_hls = probe::spawn_player(
        dir.path(),
        "c-hls",
        &format!("{}/live/cam.m3u8", c.http_base()),
        6,
    );
    // The origin serves each edge once, however many viewers they have.
    wait_until(secs(20), "B's and C's pulls playing from A", || {
        rtmp_players(&a) == 2
    });
    for (i, p) in b_rtmp.into_iter().enumerate() {
        let got = probe::finish_player(p, secs(40));
        assert!(
            got.video_count() >= 100,
            "B RTMP player {i}: {}",
            got.summary()
        );
        assert_eq!(got.stream("video").unwrap().codec_name, "h264");
    }
    let flv = probe::finish_player(b_flv, secs(40));
    assert!(
        flv.video_count() >= 100 && flv.audio_count() > 0,
        "B FLV: {}",
        flv.summary()
    );
    let hls = probe::finish_player(c_hls, secs(60));
    assert!(hls.video_count() >= 100, "C HLS: {}", hls.summary());
    assert_eq!(rtmp_players(&a), 2, "A serves one pull per edge");
    let pulls = cluster(&b)["pulls"].clone();
    assert_eq!(pulls[0]["stream"], "live/cam", "{pulls}");
    assert_eq!(
        pulls[0]["url"],
        format!("rtmp://127.0.0.1:{}/live/cam", a.rtmp_port())
    );

    // The play endpoint names the least-loaded node, and redirects.
    let view = cluster(&b);
    let least = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["connections"].as_u64().unwrap())
        .min()
        .unwrap();
    let ep = json(
        b.http_port(),
        "/api/v1/play/endpoint?app=live&stream=cam&key=k1",
    );
    assert_eq!(ep["origin"], "a");
    let chosen = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == ep["node"])
        .unwrap();
    assert!(
        chosen["connections"].as_u64().unwrap() <= least + 2,
        "{ep} vs {view}"
    );
    assert!(
        ep["url"]
            .as_str()
            .unwrap()
            .ends_with("/live/cam.flv?key=k1"),
        "{ep}"
    );
    let redirect = send(
        c.http_port(),
        "GET",
        "/api/v1/play/endpoint?app=live&stream=cam&format=hls&redirect=1",
        &[],
        false,
    );
    assert_eq!(redirect.status, 302);
    let location = redirect.header("location").unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:") && location.ends_with("/live/cam.m3u8"),
        "{location}"
    );
    let missing = get(
        c.http_port(),
        "/api/v1/play/endpoint?app=live&stream=nothing",
    );
    assert_eq!(missing.status, 404);

    // Origin failover: the encoder moves from A to C; B's viewer plays on.
    let long = probe::spawn_player(dir.path(), "b-long", &b.rtmp_url("cam"), 20);
    sleep(secs(4));
    pub_a.kill();
    let _pub_c = ffmpeg_publisher(dir.path(), "pub-c", &c.rtmp_url("cam"), 120, &[]);
    wait_until(secs(15), "live/cam owned by C in B's directory", || {
        owner(&b, "live/cam").as_deref() == Some("c")
    });
    let got = probe::finish_player(long, secs(60));
    let dts: Vec<f64> = got.of_media(Media::Video).filter_map(|p| p.dts).collect();
    assert!(
        got.video_dts_span() >= 19.0,
        "B's viewer across the failover: {}",
        got.summary()
    );
    assert!(
        dts.windows(2).all(|w| w[1] >= w[0]),
        "video timestamps went back across the failover: {}",
        got.summary()
    );

    // A dies: the others forget it within the TTL (plus a beat).
    a.kill_hard();
    let killed = Instant::now();
    wait_until(secs(10), "node a gone from B's view", || {
        !node_ids(&cluster(&b)).contains(&"a".to_owned())
    });
    assert!(
        killed.elapsed() <= Duration::from_secs_f64(TTL_SECS + 2.0 * BEAT_SECS + 1.0),
        "A vanished after {:?}",
        killed.elapsed()
    );
    wait_until(secs(5), "node a gone from C's view", || {
        node_ids(&cluster(&c)) == ["b", "c"]
    });
    drop(redis);
}

#[test]
fn nodes_serve_alone_without_redis_and_recover_with_it() {
    require_ffmpeg();
    require_tool("redis-cli");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    // Redis is down at start: both nodes serve alone and keep trying.
    let a = Server::start_with_config(&node_config("a", &url, ""));
    let b = Server::start_with_config(&node_config("b", &url, ""));
    let _pub = ffmpeg_publisher(dir.path(), "pub-a", &a.rtmp_url("cam"), 120, &[]);
    let local = probe::spawn_player(dir.path(), "a-local", &a.rtmp_url("cam"), 3);
    let got = probe::finish_player(local, secs(30));
    assert!(got.video_count() >= 50, "A alone: {}", got.summary());
    let view = cluster(&b);
    assert_eq!(view["connected"], false, "{view}");
    assert!(view["last_error"].is_string(), "{view}");
    assert_eq!(node_ids(&view), ["b"], "alone, B knows itself only");

    // Redis comes: both register within a beat or two.
    let mut redis = Redis::start(dir.path(), port);
    wait_until(secs(15), "both nodes registered and subscribed", || {
        node_ids(&cluster(&a)) == ["a", "b"]
            && owner(&b, "live/cam").as_deref() == Some("a")
            && cluster(&b)["connected"] == true
    });

    // Corrupt entries in Redis are ignored, counted and logged; never a crash.
    let future = (std::time::SystemTime::now() + secs(600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    for (id, value) in [
        ("evil", "\u{1}garbage{{{"),
        (
            "x",
            r#"{"v":1,"node":"x","rtmp":"evil.com/x:1","http":"h:1","connections":0,"viewers":0,"chat_members":0,"egress_mbps":0,"cpu":0,"started_ms":0,"beat_ms":0,"streams":[],"rooms":[]}"#,
        ),
        (
            "y",
            r#"{"v":1,"node":"z","rtmp":"h:1","http":"h:1","connections":0,"viewers":0,"chat_members":0,"egress_mbps":0,"cpu":0,"started_ms":0,"beat_ms":0,"streams":[],"rooms":[]}"#,
        ),
    ] {
        redis.cli(&["SET", &format!("weir:node:{id}"), value]);
        redis.cli(&["ZADD", "weir:nodes", &future, id]);
    }
    wait_until(secs(5), "corrupt heartbeats counted", || {
        cluster(&b)["corrupt_heartbeats"].as_u64() == Some(3)
    });
    assert_eq!(node_ids(&cluster(&b)), ["a", "b"]);

    // An edge viewer through a Redis outage: it plays on (the pull is
    // already running), and everything registers again after it.
    let through = probe::spawn_player(dir.path(), "b-through", &b.rtmp_url("cam"), 12);
    sleep(secs(3));
    redis.kill();
    wait_until(secs(10), "B noticing Redis is gone", || {
        cluster(&b)["connected"] == false
    });
    // Local viewers are not affected.
    let local = probe::spawn_player(dir.path(), "a-during", &a.rtmp_url("cam"), 2);
    assert!(probe::finish_player(local, secs(30)).video_count() >= 30);
    sleep(secs(2));
    let redis = Redis::start(dir.path(), port);
    assert_eq!(redis.cli(&["DBSIZE"]), "0", "a fresh Redis");
    let back = Instant::now();
    wait_until(secs(10), "everything registered again", || {
        let v = cluster(&b);
        v["connected"] == true
            && node_ids(&v) == ["a", "b"]
            && owner(&b, "live/cam").as_deref() == Some("a")
    });
    assert!(
        back.elapsed() <= Duration::from_secs_f64(TTL_SECS + 4.0 * BEAT_SECS + 2.0),
        "re-registered after {:?}",
        back.elapsed()
    );
    let got = probe::finish_player(through, secs(60));
    assert!(
        got.video_dts_span() >= 11.0,
        "B's viewer through the outage: {}",
        got.summary()
    );
    assert!(redis
        .cli(&["GET", "weir:stream:live/cam"])
        .starts_with("a "));
}

#[test]
fn a_later_publisher_on_another_node_takes_the_stream_over() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path(), free_port());
    // Players need a key here: edges show it to the origin like any player.
    let keys = "[auth.default.play]\nmode = \"keys\"\nkeys = [\"pk\"]\n";
    let console = format!(
        "console_password_hash = \"{}\"\n{keys}",
        common::clients::password_hash(PASSWORD)
    );
    let a = Server::start_with_config(&node_config("a", &redis.url(), &console));
    let b = Server::start_with_config(&node_config("b", &redis.url(), keys));
    wait_until(secs(15), "two nodes", || {
        node_ids(&cluster(&b)) == ["a", "b"]
    });
    let mut first = ffmpeg_publisher(dir.path(), "pub-a", &a.rtmp_url("dup"), 120, &[]);
    wait_until(secs(15), "live/dup owned by A", || {
        owner(&b, "live/dup").as_deref() == Some("a")
    });
    assert_eq!(
        redis
            .cli(&["GET", "weir:stream:live/dup"])
            .split(' ')
            .next(),
        Some("a")
    );
    let _second = ffmpeg_publisher(dir.path(), "pub-b", &b.rtmp_url("dup"), 120, &[]);
    wait_until(secs(15), "live/dup owned by B", || {
        owner(&a, "live/dup").as_deref() == Some("b")
            && owner(&b, "live/dup").as_deref() == Some("b")
    });
    // A dropped its publisher: its encoder is told to stop.
    let status = first
        .wait_exit(secs(15))
        .expect("A's publisher was not stopped");
    assert!(!status.success(), "A's ffmpeg ended with {status}");
    assert!(
        a.log().contains("took this stream over"),
        "A's log says why"
    );
    // A viewer on A now plays B's stream through A's edge pull.
    let got = probe::finish_player(
        probe::spawn_player(dir.path(), "a-view", &a.rtmp_url("dup?key=pk"), 3),
        secs(40),
    );
    assert!(got.video_count() >= 50, "{}", got.summary());
    let pulls = json(a.http_port(), "/api/v1/pulls");
    assert_eq!(pulls["pulls"][0]["cluster"], true, "{pulls}");
    assert_eq!(
        pulls["pulls"][0]["url"],
        format!("rtmp://127.0.0.1:{}/live/dup?key=***", b.rtmp_port()),
        "the key is never shown"
    );
    let metrics = String::from_utf8(get(a.http_port(), "/metrics").body).unwrap();
    for series in [
        "weir_cluster_nodes 2",
        "weir_cluster_connected 1",
        "weir_cluster_streams 1",
        "weir_cluster_edge_pulls 1",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }

    // The console shows the cluster: both nodes, which publishes what,
    // and this node's pull.
    common::http::require_browser();
    let mut cmd = Command::new("node");
    cmd.arg(common::http::browser_dir().join("cluster_console.mjs"))
        .arg(a.http_base())
        .args(["admin", PASSWORD, "2"]);
    let mut node = Proc::spawn("cluster-console", dir.path(), cmd, Stdout::Lines);
    let status = node.expect_exit(secs(90));
    assert!(
        status.success(),
        "cluster_console.mjs: {}",
        node.stderr_tail(30)
    );
    let lines = node.lines();
    let last = &lines
        .last()
        .expect("cluster_console.mjs printed its result")
        .1;
    let r: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
    assert!(r["state"].as_str().unwrap().contains("redis ok"), "{r}");
    let rows = r["nodes"].as_array().unwrap();
    assert_eq!(rows[0][0], "a (this node)", "{r}");
    assert_eq!(rows[1][0], "b");
    assert_eq!(rows[1][8], "live/dup", "B is live/dup's origin: {r}");
    assert!(
        r["pulls"]
            .as_str()
            .unwrap()
            .contains("live/dup ← rtmp://127.0.0.1:"),
        "{r}"
    );
}

/// Runs a scenario of `tests/chat/cluster.py` against the three nodes.
fn chat_scenario(name: &str, nodes: [&Server; 3]) -> Value {
    common::http::require_python_websockets();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chat/cluster.py");
    let out = Command::new("timeout")
        .args(["-s", "KILL", "120", "python3"])
        .arg(script)
        .arg(name)
        .args(nodes.map(|n| n.http_base()))
        .arg(TOKEN)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "chat scenario {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{name} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn chat_rooms_span_nodes_and_survive_a_redis_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = Redis::start(dir.path(), port);
    let (a, b, c) = start_three(&redis);
    wait_until(secs(10), "every bus subscribed", || {
        [&a, &b, &c].iter().all(|n| cluster(n)["connected"] == true)
    });
    let r = chat_scenario("talk", [&a, &b, &c]);
    println!("talk: {r:#}");
    assert_eq!(r["bob_heard"], "hello from A");
    assert_eq!(r["alice_heard"], "hi from C");
    let order: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(r["order"], serde_json::json!(order), "one sender's order");
    assert_eq!(r["alice_sees_members"], 2, "members counted across nodes");
    assert_eq!(r["room_on_b"]["cluster_members"], 2, "{r}");
    assert_eq!(r["room_on_b"]["local_members"], 0, "{r}");
    assert_eq!(r["room_on_b"]["relay"]["connected"], true, "{r}");
    // The endpoint prefers B, the node without members; `members` is the
    // whole room.
    let ep_url = r["endpoint"]["url"].as_str().unwrap();
    assert_eq!(
        ep_url,
        format!("ws://127.0.0.1:{}/chat/live/cam", b.http_port()),
        "{r}"
    );
    assert_eq!(r["endpoint"]["members"], 2);
    let history: Vec<&str> = r["carol_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        history.contains(&"hello from A")
            && history.contains(&"hi from C")
            && history.contains(&"m19"),
        "a late joiner on B gets the room's history: {history:?}"
    );
    assert_eq!(r["carol_welcome_members"], 3);
    assert_eq!(r["mute"][0], 200, "{r}");
    assert_eq!(r["alice_error"], "muted", "a mute from B holds on A");
    assert!(r["delete"][0] == 200 || r["delete"][0] == 202, "{r}");
    assert_eq!(r["bob_saw_delete"], true, "a delete from B reaches C");
    assert_eq!(r["kick"][0], 202, "kick relayed from B: {r}");
    assert_eq!(r["bob_closed"], 4002, "bob on C kicked from B");

    // Redis goes away and comes back: chat between nodes recovers.
    redis.kill();
    wait_until(secs(10), "the nodes noticing", || {
        cluster(&a)["connected"] == false
    });
    let chat_api = json(a.http_port(), "/api/v1/chat");
    assert_eq!(chat_api["relay"]["connected"], false, "{chat_api}");
    let _redis = Redis::start(dir.path(), port);
    wait_until(secs(10), "every node back", || {
        [&a, &b, &c]
            .iter()
            .all(|n| cluster(n)["connected"] == true && node_ids(&cluster(n)) == ["a", "b", "c"])
    });
    let r = chat_scenario("recover", [&a, &b, &c]);
    assert!(
        r["frank_heard"]
            .as_str()
            .is_some_and(|t| t.starts_with("back")),
        "{r}"
    );
    let metrics = String::from_utf8(get(c.http_port(), "/metrics").body).unwrap();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("weir_chat_relayed_total{direction=\"in\"}") && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
}
