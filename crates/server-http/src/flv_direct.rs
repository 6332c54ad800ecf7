//! HTTP-FLV straight on the socket, for plain-TCP connections whose first
//! request is `GET /{app}/{stream}.flv`.
//!
//! Through hyper, every viewer is a task that hyper's dispatcher polls for
//! body chunks, frames and writes: with a thousand viewers a third of the
//! server's CPU was user space (hyper's dispatch and body plumbing, and the
//! wakeup per viewer per frame; docs/benchmarks.md). A live FLV
//! response is the simplest HTTP there is — a fixed head, then bytes until
//! the connection closes — so weir answers it itself: it reads the request
//! head (with hyper's limits: size and time), and if it is an HTTP-FLV
//! request it writes the head and then the stream's shared FLV tags, with
//! the same access check, join and lag rules as before; once the viewer has
//! caught up it parks with the stream's write pass like an RTMP player
//! (`weir_netio`). The body is close-delimited (no chunked framing, which
//! would differ per write), as HTTP/1.1 allows and every player handles.
//!
//! Everything else — other paths, WebSocket upgrades, methods, a second
//! request on a kept-alive connection, TLS, a head hyper should refuse —
//! goes to hyper with the bytes already read ([`First::Other`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tracing::{debug, info};
use weir_media::TrackKind;
use weir_netio::{Feed, Next, Pick, Picker, SharedTcp, SocketSink};

use crate::access::{admit, Admitted};
use crate::flv::{file_header, not_live, FlvEntry};
use crate::path::{only_track, parse, Asked};
use crate::viewer::{payload_for, Lag};
use crate::Shared;

/// Most request headers looked at; a request with more goes to hyper.
const MAX_HEADERS: usize = 64;

/// Entries taken from the channel per wakeup.
const MAX_BATCH: usize = 256;

/// How long a short answer (403, 404...) may take to write.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP-FLV request served without hyper. Public (as
/// [`crate::DirectFlvRequest`]) for the `http_head` fuzz target.
#[derive(Debug, PartialEq, Eq)]
pub struct FlvRequest {
    /// First path segment, not yet checked as a name.
    pub app: String,
    /// Second path segment, ending in `.flv`.
    pub file: String,
    /// The query string without `?`.
    pub query: Option<String>,
    /// A `HEAD` request.
    pub head: bool,
}

/// What a connection's first request is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum First {
    /// HTTP-FLV: served by [`serve`].
    Flv(FlvRequest),
    /// Anything else, for hyper, with the bytes read so far.
    Other(Bytes),
    /// No complete head within the header timeout.
    TimedOut,
    /// The client closed (or the socket failed) before sending anything.
    Closed,
}

/// Reads the first request head of a plain-TCP connection (at most
/// `max_bytes`, within `timeout`) and says who serves it.
pub(crate) async fn first_request(
    tcp: &mut TcpStream,
    max_bytes: usize,
    timeout: Duration,
) -> First {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        match tokio::time::timeout_at(deadline, tcp.read_buf(&mut buf)).await {
            Err(_) => return First::TimedOut,
            Ok(Ok(0)) | Ok(Err(_)) if buf.is_empty() => return First::Closed,
            // hyper reports what it makes of a truncated head.
            Ok(Ok(0)) | Ok(Err(_)) => return First::Other(buf.freeze()),
            Ok(Ok(_)) => {}
        }
        match classify(&buf) {
            Some(Some(req)) => return First::Flv(req),
            // Not ours, or a head hyper refuses (it answers 400 or 431
            // and counts it the same way for every route).
            None => return First::Other(buf.freeze()),
            Some(None) if buf.len() >= max_bytes => return First::Other(buf.freeze()),
            Some(None) => {}
        }
    }
}

/// Reads a connection's first bytes as a request head: `Some(Some(req))`
/// for a plain HTTP-FLV request served without hyper, `Some(None)` while
/// the head is incomplete, `None` for anything hyper serves (other
/// requests, invalid HTTP). Public (as [`crate::classify_first_request`])
/// for the `http_head` fuzz target.
pub fn classify(buf: &[u8]) -> Option<Option<FlvRequest>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Some(None),
        Err(_) => return None,
    }
    let head = match req.method? {
        "GET" => false,
        "HEAD" => true,
        _ => return None,
    };
    if req
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("upgrade"))
    {
        return None;
    }
    let target = req.path?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (target, None),
    };
    // Percent-encoded paths go through axum's decoding.
    let rest = path.strip_prefix('/').filter(|p| !p.contains('%'))?;
    let (app, file) = rest.split_once('/')?;
    if app.is_empty() || file.contains('/') || !file.ends_with(".flv") {
        return None;
    }
    Some(Some(FlvRequest {
        app: app.to_owned(),
        file: file.to_owned(),
        query,
        head,
    }))
}

/// Serves one HTTP-FLV request to its end; the connection closes after.
pub(crate) async fn serve(tcp: TcpStream, peer: SocketAddr, req: FlvRequest, shared: Arc<Shared>) {
    let mut socket = SharedTcp::new(tcp);
    let cors = cors_headers(&shared);
    let key = match parse(&req.app, &req.file) {
        Ok(Asked::Flv(key)) => key,
        other => {
            let status = other.err().unwrap_or(StatusCode::NOT_FOUND);
            let resp = (status, "no such stream or format\n").into_response();
            return answer(&mut socket, resp, &cors).await;
        }
    };
    let only = only_track(req.query.as_deref());
    let admitted = match admit(&shared.hub, &key, peer, "http-flv", req.query.as_deref()).await {
        Ok(a) => a,
        Err(refused) => return answer(&mut socket, refused, &cors).await,
    };
    let rx = shared.flv.subscribe(&key);
    if !shared.hub.wait_live(&key, shared.config.play_wait).await {
        return answer(&mut socket, not_live(&key), &cors).await;
    }
    let head = Bytes::from(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\ncache-control: no-cache\r\nconnection: close\r\n{cors}\r\n"
    ));
    if req.head {
        let _ = write_all(&mut socket, &mut vec![head], ANSWER_TIMEOUT).await;
        return;
    }
    info!(%peer, stream = %key, "http-flv play");
    let mut viewer = DirectViewer {
        socket,
        feed: Feed::Own(rx),
        lag: Lag::new(shared.config.max_lag),
        only: Only(only),
        out: vec![head, file_header(only)],
        admitted,
    };
    let why = viewer.run(&shared).await;
    debug!(%peer, stream = %key, why, "http-flv viewer ended");
}

/// The CORS headers the router's layer would add, for responses written
/// here (each line ends with CRLF).
fn cors_headers(shared: &Shared) -> String {
    match &shared.config.allow_origin {
        None => String::new(),
        Some(origin) => format!(
            "access-control-allow-origin: {origin}\r\naccess-control-expose-headers: content-length,content-range,{}\r\nvary: origin, access-control-request-method, access-control-request-headers\r\n",
            crate::CODECS_HEADER
        ),
    }
}

/// Writes a short error response (403, 404...) and lets the connection
/// close.
async fn answer(socket: &mut SharedTcp, resp: Response, cors: &str) {
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain; charset=utf-8");
    let head = format!(
        "HTTP/1.1 {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{cors}\r\n",
        parts.status,
        body.len()
    );
    let _ = write_all(socket, &mut vec![Bytes::from(head), body], ANSWER_TIMEOUT).await;
}

/// What a parked HTTP-FLV viewer writes: every tag, or one track's and
/// the track-less ones (`?only=`); markers carry no bytes.
struct Only(Option<TrackKind>);

impl Picker<FlvEntry> for Only {
    fn pick<'a>(&self, entry: &'a FlvEntry) -> Pick<'a> {
        match payload_for(entry, self.0) {
            Some(bytes) => Pick::Write(bytes),
            None => Pick::Skip,
        }
    }
}

/// One HTTP-FLV viewer's connection after the response head.
struct DirectViewer {
    socket: SharedTcp,
    feed: Feed<FlvEntry, Only>,
    lag: Lag,
    only: Only,
    /// Bytes to write, in order.
    out: Vec<Bytes>,
    /// Registry entry and access admission, held for the session.
    admitted: Admitted,
}

impl DirectViewer {
    /// Streams until the viewer leaves, lags too long, is kicked, or the
    /// stream or server ends; returns why.
    async fn run(&mut self, shared: &Shared) -> &'static str {
        let mut batch: Vec<FlvEntry> = Vec::with_capacity(MAX_BATCH);
        let mut discard = [0u8; 512];
        // A viewer that takes nothing for as long as it may lag is gone.
        let write_timeout = shared.config.max_lag.max(Duration::from_secs(1));
        loop {
            if !self.out.is_empty() {
                match write_all(&mut self.socket, &mut self.out, write_timeout).await {
                    Ok(n) => self.admitted.client.add_out(n),
                    Err(why) => return why,
                }
            }
            let only = self.only.0;
            let (socket, sent) = (&self.socket, &self.admitted.client);
            self.feed
                .try_park(|| SocketSink::new(socket.clone(), Only(only), sent.out_counter()));
            tokio::select! {
                biased;
                () = shared.shutdown.cancelled() => return "server shutdown",
                () = self.admitted.client.kicked() => return "kicked",
                r = self.socket.readable() => {
                    if r.is_err() {
                        return "socket error";
                    }
                    // A viewer has nothing to say; what it sends anyway is
                    // read and dropped, a close ends the stream.
                    match self.socket.try_read(&mut discard) {
                        Ok(0) => return "peer closed",
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return "socket error",
                    }
                }
                next = self.feed.next(&mut batch, MAX_BATCH) => match next {
                    Next::Batch => {
                        if let Some(rx) = self.feed.receiver() {
                            if self.lag.check(rx, &self.admitted.client).is_none() {
                                return "lagged too long";
                            }
                        }
                        self.out.extend(batch.drain(..).filter_map(|e| payload_for(&e, only).cloned()));
                    }
                    Next::Closed => return "stream ended",
                    Next::Returned(pair) => match self.feed.returned(pair) {
                        Ok(rest) => self.out = rest,
                        Err(_) => return "write pass failed",
                    },
                },
            }
        }
    }
}

/// Writes `bufs` in full: at once if the socket has room (one `writev`,
/// no timer), else waiting for it at most `timeout`.
async fn write_all(
    socket: &mut SharedTcp,
    bufs: &mut Vec<Bytes>,
    timeout: Duration,
) -> Result<u64, &'static str> {
    let now = weir_netio::try_write_now(socket, bufs).map_err(|_| "socket error")?;
    if bufs.is_empty() {
        return Ok(now);
    }
    match tokio::time::timeout(timeout, weir_netio::write_all_vectored(socket, bufs)).await {
        Ok(Ok(n)) => Ok(now + n),
        Ok(Err(_)) => Err("socket error"),
        Err(_) => Err("write timeout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flv(app: &str, file: &str, query: Option<&str>, head: bool) -> Option<Option<FlvRequest>> {
        Some(Some(FlvRequest {
            app: app.into(),
            file: file.into(),
            query: query.map(Into::into),
            head,
        }))
    }

    #[test]
    fn picks_plain_flv_requests_only() {
        assert_eq!(
            classify(b"GET /live/a.flv HTTP/1.1\r\nHost: x\r\n\r\n"),
            flv("live", "a.flv", None, false)
        );
        assert_eq!(
            classify(b"HEAD /live/a.flv?only=audio&sign=1 HTTP/1.0\r\n\r\n"),
            flv("live", "a.flv", Some("only=audio&sign=1"), true)
        );
        assert_eq!(
            classify(b"GET /live/a.flv HTTP/1.1\r\nHost: x\r\n"),
            Some(None)
        );
        assert_eq!(classify(b"GET /live/a.f"), Some(None));
        for other in [
            &b"GET /live/a.m3u8 HTTP/1.1\r\n\r\n"[..],
            b"GET /api/v1/streams HTTP/1.1\r\n\r\n",
            b"GET /a/b/c.flv HTTP/1.1\r\n\r\n",
            b"GET /a.flv HTTP/1.1\r\n\r\n",
            b"GET //a.flv HTTP/1.1\r\n\r\n",
            b"GET /live/%61.flv HTTP/1.1\r\n\r\n",
            b"POST /live/a.flv HTTP/1.1\r\n\r\n",
            b"OPTIONS /live/a.flv HTTP/1.1\r\n\r\n",
            b"GET /live/a.flv HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"\x16\x03\x01garbage\r\n\r\n",
        ] {
            assert_eq!(classify(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[tokio::test]
    async fn first_request_hands_anything_else_to_hyper_with_its_bytes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            // The head in two writes: the reader must wait for the rest.
            tokio::io::AsyncWriteExt::write_all(&mut c, b"GET /live/x.m3u8 HT")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            tokio::io::AsyncWriteExt::write_all(&mut c, b"TP/1.1\r\n\r\n")
                .await
                .unwrap();
            c
        });
        let (mut tcp, _) = listener.accept().await.unwrap();
        let first = first_request(&mut tcp, 8192, Duration::from_secs(5)).await;
        assert_eq!(
            first,
            First::Other(Bytes::from_static(b"GET /live/x.m3u8 HTTP/1.1\r\n\r\n"))
        );
        let _c = client.await.unwrap();

        // A client that sends nothing times out; one that hangs up is gone.
        let silent = TcpStream::connect(addr).await.unwrap();
        let (mut tcp, _) = listener.accept().await.unwrap();
        let first = first_request(&mut tcp, 8192, Duration::from_millis(100)).await;
        assert_eq!(first, First::TimedOut);
        drop(silent);
        let first = first_request(&mut tcp, 8192, Duration::from_secs(5)).await;
        assert_eq!(first, First::Closed);
    }
}
