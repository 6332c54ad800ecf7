//! The first request head of a plain-TCP connection, read before hyper
//! sees the connection: a plain HTTP-FLV request is served on the socket
//! (`flv_socket`), everything else — other paths, WebSocket upgrades,
//! methods, percent-encoded paths, a head hyper should refuse — goes to
//! hyper with the bytes already read ([`First::Other`]). The limits are
//! hyper's: the head's size and the time it may take.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Most request headers looked at; a request with more goes to hyper.
const MAX_HEADERS: usize = 64;

/// An HTTP-FLV request served on the socket, without hyper. Public (as
/// [`crate::FlvRequest`]) for the `http_head` fuzz target.
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
    /// HTTP-FLV: served on the socket (`flv_socket::serve`).
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
    // `/vod/` belongs to the VOD route the app merges in (weir-server-vod):
    // a file there is not a live stream of an app named `vod`.
    if app == "vod" {
        return None;
    }
    Some(Some(FlvRequest {
        app: app.to_owned(),
        file: file.to_owned(),
        query,
        head,
    }))
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
