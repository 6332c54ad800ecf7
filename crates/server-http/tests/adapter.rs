//! The HTTP adapter alone: a `Hub` fed straight through `Hub::publish`,
//! the listener on a free port, and a raw TCP client, so that what is
//! checked is exactly what goes over the wire (which path served a
//! request shows in its framing: HTTP-FLV served on the socket is
//! close-delimited, hyper's responses are chunked or sized).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use weir_hub::{Action, Hub, HubConfig, Publisher};
use weir_media::{Frame, StreamKey, TrackKind};
use weir_server_http::{Config, HlsSettings, HttpServer};

/// Every wait in these tests ends within this.
const WAIT: Duration = Duration::from_secs(5);

/// A server on a free port; shut down when dropped.
struct Server {
    addr: SocketAddr,
    hub: Hub,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(allow_origin: Option<&str>) -> Server {
    let hub = Hub::new(HubConfig::default());
    let shutdown = CancellationToken::new();
    let config = Config {
        allow_origin: allow_origin.map(str::to_owned),
        hls: HlsSettings {
            fragment: Duration::from_millis(100),
            ..HlsSettings::default()
        },
        ..Config::default()
    };
    let server = HttpServer::new(hub.clone(), config, shutdown.clone(), Router::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.run(listener, None));
    Server {
        addr,
        hub,
        shutdown,
    }
}

#[path = "../../flv/tests/common/frames.rs"]
mod frames;

/// H.264 + AAC, 3 s, keyframes at 0 and 2 s, with onMetaData and both
/// sequence headers (weir-fmp4's test file, read the way ingest reads).
fn sample() -> Vec<Frame> {
    frames::read_frames(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fmp4/testdata/sample.flv"
    ))
}

/// Publishes the sample as `live/{name}`: a new viewer then joins at the
/// 2 s keyframe, two seconds after its headers arrived.
async fn publish(hub: &Hub, name: &str) -> Publisher {
    let key = StreamKey::new("live", name).unwrap();
    let addr = "127.0.0.1:1".parse().unwrap();
    let (_client, admission) = hub
        .admit_new_client(addr, "test", Action::Publish, &key, "")
        .await
        .unwrap();
    let mut publisher = hub.publish(&admission).unwrap();
    for frame in sample() {
        publisher.send(frame);
    }
    publisher
}

/// The sample's video frames (no sequence header), `offset` ms later.
fn video_dts(offset: i64) -> Vec<u32> {
    sample()
        .iter()
        .filter(|f| f.kind == TrackKind::Video && !f.config)
        .map(|f| (f.dts_us / 1000 + offset) as u32)
        .collect()
}

/// A response head: status and lower-case header names.
struct Head {
    status: u16,
    headers: HashMap<String, String>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// HTTP-FLV served on the socket: a close-delimited body.
    fn served_on_socket(&self) -> bool {
        self.get("connection") == Some("close")
            && self.get("transfer-encoding").is_none()
            && self.get("content-length").is_none()
    }
}

/// A connection and what was read from it past the last head.
struct Client {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            tcp: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// Sends `method target` and reads the response head.
    async fn request(&mut self, method: &str, target: &str) -> Head {
        let req = format!(
            "{method} {target} HTTP/1.1\r\nHost: test\r\nOrigin: https://example.com\r\n\r\n"
        );
        self.tcp.write_all(req.as_bytes()).await.unwrap();
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.more().await > 0, "closed before a response head");
        };
        let text = String::from_utf8(self.buf.drain(..end).collect()).unwrap();
        let mut lines = text.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Head {
            status: status.parse().unwrap(),
            headers,
        }
    }

    /// Reads more bytes into the buffer; 0 when the server closed.
    async fn more(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("the server answers in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads exactly `n` body bytes.
    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.more().await > 0, "closed mid-body");
        }
        self.buf.drain(..n).collect()
    }

    /// The next FLV tag of a close-delimited body.
    async fn tag(&mut self) -> Tag {
        let h = self.take(11).await;
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let body = self.take(size + 4).await;
        Tag {
            kind: h[0],
            ts: u32::from_be_bytes([h[7], h[4], h[5], h[6]]),
            // AVC and AAC: packet type 0 is the sequence header.
            header: h[0] == SCRIPT || (size > 1 && body[1] == 0),
        }
    }

    /// Reads a new viewer's first tags: the headers (script data and both
    /// sequence headers, in slot order), then the first video frame.
    /// Returns the headers' timestamps (audio, video, script) and the
    /// frame's.
    async fn join(&mut self) -> (Vec<u32>, u32) {
        assert_eq!(self.take(13).await[..5], *b"FLV\x01\x05");
        let mut headers = Vec::new();
        loop {
            let tag = self.tag().await;
            if tag.header {
                headers.push((tag.kind, tag.ts));
                continue;
            }
            assert_eq!(tag.kind, VIDEO, "the GOP starts with video");
            headers.sort();
            let kinds: Vec<u8> = headers.iter().map(|h| h.0).collect();
            assert_eq!(kinds, [AUDIO, VIDEO, SCRIPT]);
            return (headers.iter().map(|h| h.1).collect(), tag.ts);
        }
    }

    /// Reads tags until the video frame at `last`; returns the timestamps
    /// of the video frames read.
    async fn video_until(&mut self, last: u32) -> Vec<u32> {
        let mut seen = Vec::new();
        while seen.last() != Some(&last) {
            let tag = self.tag().await;
            if tag.kind == VIDEO && !tag.header {
                seen.push(tag.ts);
            }
        }
        seen
    }
}

/// One FLV tag as read.
struct Tag {
    kind: u8,
    ts: u32,
    /// Script data or a sequence header.
    header: bool,
}

/// Opens `target` on a fresh connection and returns its head.
async fn get(addr: SocketAddr, target: &str) -> Head {
    Client::connect(addr).await.request("GET", target).await
}

const AUDIO: u8 = 8;
const VIDEO: u8 = 9;
const SCRIPT: u8 = 18;

#[tokio::test]
async fn flv_on_the_socket_joins_with_restamped_headers_and_keeps_streaming() {
    let server = start(Some("*")).await;
    let mut publisher = publish(&server.hub, "a").await;
    let mut client = Client::connect(server.addr).await;
    let head = client.request("GET", "/live/a.flv").await;
    assert_eq!(head.status, 200);
    assert!(head.served_on_socket());
    assert_eq!(head.get("content-type"), Some("video/x-flv"));

    // The sequence headers carry the time of the GOP the viewer joins
    // (2 s), not the 0 they arrived at; onMetaData is at 0 (where ffmpeg
    // takes it for metadata, not for a stream of its own).
    let (headers, first) = client.join().await;
    assert!(first >= 1900, "joined at the second keyframe: {first}");
    assert_eq!(headers, [first, first, 0]);
    let published = video_dts(0);
    let rest = client.video_until(*published.last().unwrap()).await;
    let joined = published.iter().position(|&t| t == first).unwrap();
    assert_eq!(rest, published[joined + 1..], "no frame lost or repeated");

    // Caught up, the viewer is parked: what comes now is written by the
    // stream's write pass, and keeps coming, in order.
    let offset = 3200;
    for (i, mut frame) in sample().into_iter().filter(|f| !f.is_header()).enumerate() {
        frame.dts_us += offset * 1000;
        publisher.send(frame);
        if i % 8 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let later = video_dts(offset);
    let got = client.video_until(*later.last().unwrap()).await;
    assert_eq!(got, later, "no frame lost or repeated");

    // A viewer joining now gets the headers stamped at its own first
    // frame (the FLV channel re-stamps the headers it has held since the
    // first viewer joined).
    let mut second = Client::connect(server.addr).await;
    assert_eq!(second.request("GET", "/live/a.flv").await.status, 200);
    let (headers, first) = second.join().await;
    assert!(first >= 1900 + offset as u32, "{first}");
    assert_eq!(headers, [first, first, 0]);

    // Shutdown closes the bodies.
    server.shutdown.cancel();
    while client.more().await > 0 {}
    while second.more().await > 0 {}
}

#[tokio::test]
async fn a_second_request_on_a_kept_alive_connection_goes_through_hyper() {
    let server = start(Some("*")).await;
    let _publisher = publish(&server.hub, "a").await;
    let mut client = Client::connect(server.addr).await;
    let head = client.request("GET", "/live/gone.flv").await;
    assert_eq!(head.status, 404);
    assert!(head.get("content-length").is_some());
    let body = client
        .take(head.get("content-length").unwrap().parse().unwrap())
        .await;
    assert_eq!(body, b"live/gone is not live\n");

    // The socket path closes after its answer; a 404 from hyper keeps the
    // connection for a second request, which hyper serves too.
    let mut client = Client::connect(server.addr).await;
    let head = client.request("GET", "/live/gone.m3u8").await;
    assert_eq!(head.status, 404);
    client
        .take(head.get("content-length").unwrap().parse().unwrap())
        .await;
    let head = client.request("GET", "/live/a.flv").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.get("transfer-encoding"), Some("chunked"));
    assert_eq!(head.get("content-type"), Some("video/x-flv"));
}

#[tokio::test]
async fn paths_get_the_right_status() {
    let server = start(Some("*")).await;
    let _publisher = publish(&server.hub, "a").await;
    let addr = server.addr;

    // Served on the socket.
    for target in ["/live/a.flv", "/live/a.flv?only=audio&x=1"] {
        let head = get(addr, target).await;
        assert_eq!(head.status, 200, "{target}");
        assert!(head.served_on_socket(), "{target}");
    }
    for (target, status) in [("/live/nope.flv", 404), ("/live/...flv", 400)] {
        let head = get(addr, target).await;
        assert_eq!(head.status, status, "{target}");
        assert_eq!(head.get("connection"), Some("close"), "{target}");
    }

    // Through hyper.
    for (target, status) in [
        ("/live/%61.flv", 200),
        ("/live/a.mp4", 200),
        ("/live/a.m3u8", 200),
        ("/live/nope.mp4", 404),
        ("/live/nope.m3u8", 404),
        ("/live/n%6Fpe.flv", 404),
        ("/live/a.xyz", 404),
        ("/live/a", 404),
        ("/a/b/c.flv", 404),
        ("/live/..%2f.flv", 400),
        ("/live/a%C3%A9.flv", 400),
        ("/live/%2e%2e.m3u8", 400),
    ] {
        let head = get(addr, target).await;
        assert_eq!(head.status, status, "{target}");
        assert!(!head.served_on_socket(), "{target}");
    }
    let mut client = Client::connect(addr).await;
    assert_eq!(client.request("POST", "/live/a.flv").await.status, 405);

    // HEAD on the socket: the head alone, then the close.
    let mut client = Client::connect(addr).await;
    let head = client.request("HEAD", "/live/a.flv").await;
    assert_eq!((head.status, head.served_on_socket()), (200, true));
    assert_eq!(client.more().await, 0, "no body");

    // ?only= announces one track in the FLV header and sends only it.
    for (query, flags, kind) in [("only=audio", 4, AUDIO), ("only=video", 1, VIDEO)] {
        let mut client = Client::connect(addr).await;
        let head = client.request("GET", &format!("/live/a.flv?{query}")).await;
        assert_eq!(head.status, 200);
        assert_eq!(client.take(13).await[4], flags, "{query}");
        let mut kinds = Vec::new();
        for _ in 0..20 {
            kinds.push(client.tag().await.kind);
        }
        assert!(
            kinds.iter().all(|k| *k == kind || *k == SCRIPT),
            "{query}: {kinds:?}"
        );
    }
}

/// The CORS headers of a response.
fn cors(head: &Head) -> [Option<&str>; 3] {
    [
        head.get("access-control-allow-origin"),
        head.get("access-control-expose-headers"),
        head.get("vary"),
    ]
}

#[tokio::test]
async fn both_paths_answer_the_same_cors_headers() {
    for origin in ["https://example.com", "*"] {
        let server = start(Some(origin)).await;
        let _publisher = publish(&server.hub, "a").await;
        // Served on the socket / through hyper (percent-encoded), live and
        // not live.
        for (socket, hyper) in [
            ("/live/a.flv", "/live/%61.flv"),
            ("/live/nope.flv", "/live/n%6Fpe.flv"),
        ] {
            let on_socket = get(server.addr, socket).await;
            let through_hyper = get(server.addr, hyper).await;
            // The socket path closes after any answer; hyper keeps alive.
            assert_eq!(on_socket.get("connection"), Some("close"));
            assert_eq!(through_hyper.get("connection"), None);
            assert_eq!(on_socket.status, through_hyper.status);
            assert_eq!(cors(&on_socket)[0], Some(origin), "{socket}");
            assert_eq!(cors(&on_socket), cors(&through_hyper), "{socket}");
        }
    }

    // No setting, no CORS on either path.
    let server = start(None).await;
    let _publisher = publish(&server.hub, "a").await;
    for target in ["/live/a.flv", "/live/%61.flv"] {
        assert_eq!(cors(&get(server.addr, target).await), [None; 3]);
    }
}
