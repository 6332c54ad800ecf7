//! HTTP-FLV served on the socket, for plain-TCP connections whose first
//! request is `GET /{app}/{stream}.flv` (`first_request`).
//!
//! Through hyper, every viewer is a task that hyper's dispatcher polls for
//! body chunks, frames and writes: with a thousand viewers a third of the
//! server's CPU was user space (hyper's dispatch and body plumbing, and the
//! wakeup per viewer per frame; docs/benchmarks.md). A live FLV
//! response is the simplest HTTP there is — a fixed head, then bytes until
//! the connection closes — so weir answers it itself: it reads the request
//! head (with hyper's limits: size and time), and if it is an HTTP-FLV
//! request it writes the head and then the stream's shared FLV tags, with
//! the same access check, CORS headers ([`crate::cors`]) and viewer loop
//! ([`Viewer`]: join, lag, kick rules) as the hyper path; once the viewer
//! has caught up it parks with the stream's write pass like an RTMP
//! player (`weir_netio`). The body is close-delimited (no chunked framing, which
//! would differ per write), as HTTP/1.1 allows and every player handles.
//! The connection closes after the response: a second request on it is
//! never read here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::net::TcpStream;
use tracing::{debug, info};
use weir_netio::SharedTcp;

use crate::access::admit;
use crate::cors::Cors;
use crate::first_request::FlvRequest;
use crate::flv::{file_header, not_live, FlvEntry};
use crate::headers::NOSNIFF_LINE;
use crate::path::{only_track, parse, Asked};
use crate::viewer::Viewer;
use crate::Shared;

/// How long a short answer (403, 404...) may take to write.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one HTTP-FLV request to its end; the connection closes after.
pub(crate) async fn serve(tcp: TcpStream, peer: SocketAddr, req: FlvRequest, shared: Arc<Shared>) {
    let mut socket = SharedTcp::new(tcp);
    let cors = shared
        .cors
        .as_ref()
        .map(Cors::head_lines)
        .unwrap_or_default();
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
    let rx = shared.flv.subscribe(&admitted.admission);
    if !shared.hub.wait_live(&key, shared.config.play_wait).await {
        return answer(&mut socket, not_live(&key), &cors).await;
    }
    let head = Bytes::from(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\ncache-control: no-cache\r\nconnection: close\r\n{NOSNIFF_LINE}{cors}\r\n"
    ));
    if req.head {
        let _ = write_all(&mut socket, &mut vec![head], ANSWER_TIMEOUT).await;
        return;
    }
    info!(%peer, stream = %key, "http-flv play");
    let mut viewer = Viewer::new(rx, admitted, &shared)
        .only(only)
        .parks_on(socket.clone());
    // A viewer that takes nothing for as long as it may lag is gone.
    let write_timeout = shared.config.max_lag.max(Duration::from_secs(1));
    let out = vec![head, file_header(only)];
    let why = stream(&mut socket, &mut viewer, out, write_timeout).await;
    debug!(%peer, stream = %key, why, "http-flv viewer ended");
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
        "HTTP/1.1 {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{NOSNIFF_LINE}{cors}\r\n",
        parts.status,
        body.len()
    );
    let _ = write_all(socket, &mut vec![Bytes::from(head), body], ANSWER_TIMEOUT).await;
}

/// Streams to the socket until the viewer is done; returns why. Writes
/// wait at most `write_timeout` (a viewer that takes nothing for that
/// long is gone); what the viewer sends is read and dropped, and its close
/// ends the stream.
async fn stream(
    socket: &mut SharedTcp,
    viewer: &mut Viewer<FlvEntry>,
    mut out: Vec<Bytes>,
    write_timeout: Duration,
) -> &'static str {
    let mut discard = [0u8; 512];
    loop {
        if !out.is_empty() {
            match write_all(socket, &mut out, write_timeout).await {
                Ok(n) => viewer.client().add_out(n),
                Err(why) => return why,
            }
        }
        tokio::select! {
            biased;
            r = socket.readable() => {
                if r.is_err() {
                    return "socket error";
                }
                match socket.try_read(&mut discard) {
                    Ok(0) => return "peer closed",
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return "socket error",
                }
            }
            r = viewer.fill(&mut out) => {
                if let Err(why) = r {
                    return why;
                }
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
