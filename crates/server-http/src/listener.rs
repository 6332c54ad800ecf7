//! The HTTP listener: connections from the shared accept loop
//! (`weir_netio::serve`: connection limits, answered 429 per address, TLS
//! handshake, shutdown) served as hyper HTTP/1.1 connections with bounded
//! request heads, WebSocket upgrades, and a graceful stop. `axum::serve`
//! offers none of these limits, so connections are driven here. With a
//! TLS acceptor every connection is HTTPS (and its WebSocket upgrades
//! WSS); routes never know the difference.
//!
//! A plain-TCP connection's first request head is read here: HTTP-FLV is
//! served on the socket (`flv_socket`), anything else goes to hyper with
//! the bytes already read in front of the socket ([`Prefixed`]).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::header;
use axum::Router;
use bytes::{Buf, Bytes};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, warn};
use weir_hub::Clients;
use weir_netio::{Accept, Conn};

use crate::first_request::{first_request, First};
use crate::phase::{Deadline, OnEnd, WaitLimits, Waiting};
use crate::Shared;

/// A client must send its whole request head within this time, so a
/// connection that trickles headers cannot hold a slot forever. A TLS
/// handshake gets as long again.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The whole answer to a connection over a per-address limit.
const TOO_MANY: &[u8] =
    b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// How long the 429 of a TLS connection over the waiting cap may take to
/// write (a plain one is written without waiting).
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Listener limits.
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    /// Most connections from one address (0 = no limit); more are
    /// answered 429 and closed.
    pub(crate) max_connections_per_ip: usize,
    pub(crate) max_header_bytes: usize,
    /// A request body must arrive in full within this of its head.
    pub(crate) body_timeout: Duration,
    /// Most connections from one address sending a request, and most idle
    /// between requests (0 = no limit; see `phase`).
    pub(crate) max_idle_per_ip: usize,
    /// Where limit hits and bad requests are counted (and whether to log
    /// them is decided).
    pub(crate) clients: Clients,
}

/// Accepts connections until `shutdown` (`weir_netio::serve`: limits,
/// backoff, TLS), then lets each finish its current response (streaming
/// responses end on the same token).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    let accept = Accept {
        protocol: "http",
        // Extra clients wait in the kernel's backlog instead of being
        // refused: a browser opens several connections at once.
        limits: weir_netio::Limits::queueing(limits.max_connections, limits.max_connections_per_ip),
        refusal: Some(TOO_MANY),
        tls,
        // A TLS handshake gets as long as a request head.
        tls_timeout: HEADER_READ_TIMEOUT,
        clients: limits.clients.clone(),
        shutdown: shared.shutdown.clone(),
    };
    // hyper refuses a read buffer below 8 KiB.
    let max_buf = limits.max_header_bytes.max(8192);
    let conn_settings = Arc::new(Settings {
        app,
        max_buf,
        body_timeout: limits.body_timeout,
        clients: limits.clients,
        shutdown: shared.shutdown.clone(),
    });
    let waits = WaitLimits::new(limits.max_idle_per_ip);
    weir_netio::serve(listener, accept, move |conn, peer, slot| {
        let (settings, shared, waits) = (conn_settings.clone(), shared.clone(), waits.clone());
        async move {
            let Some(waiting) = admit(&waits, &settings.clients, peer) else {
                refuse(conn).await;
                return;
            };
            match conn {
                Conn::Tcp(tcp) => plain(tcp, peer, &settings, shared, waiting).await,
                Conn::Tls(tls) => connection(*tls, peer, &settings, waiting).await,
            }
            drop(slot);
        }
    })
    .await
}

/// What every connection of the listener is served with.
struct Settings {
    app: Router,
    max_buf: usize,
    body_timeout: Duration,
    clients: Clients,
    shutdown: CancellationToken,
}

/// The connection's waiting state, or `None` (counted, and logged once a
/// minute per peer) when its address has too many incomplete requests.
fn admit(waits: &WaitLimits, clients: &Clients, peer: SocketAddr) -> Option<Arc<Waiting>> {
    match waits.start(peer.ip()) {
        Ok(waiting) => Some(Arc::new(waiting)),
        Err(_) => {
            if clients.report("http", "max_idle_per_ip", peer.ip()) {
                warn!(%peer, limit = "max_idle_per_ip", "http connection refused (logged once a minute per peer)");
            }
            None
        }
    }
}

/// Answers 429 to a connection refused by the waiting cap, then closes it.
async fn refuse(conn: Conn) {
    match conn {
        // A new socket has room: this never waits.
        Conn::Tcp(tcp) => {
            let _ = tcp.try_write(TOO_MANY);
        }
        Conn::Tls(mut tls) => {
            let write = async {
                tls.write_all(TOO_MANY).await?;
                tls.shutdown().await
            };
            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, write).await;
        }
    }
}

/// A plain-TCP connection: HTTP-FLV served here, the rest by hyper.
async fn plain(
    mut tcp: TcpStream,
    peer: SocketAddr,
    settings: &Settings,
    shared: Arc<Shared>,
    waiting: Arc<Waiting>,
) {
    let first = tokio::select! {
        f = first_request(&mut tcp, settings.max_buf, HEADER_READ_TIMEOUT) => f,
        () = settings.shutdown.cancelled() => return,
    };
    match first {
        First::Flv(req) => {
            waiting.answered();
            crate::flv_socket::serve(tcp, peer, req, shared).await
        }
        First::Other(read) => {
            let io = Prefixed { read, io: tcp };
            connection(io, peer, settings, waiting).await
        }
        First::TimedOut => {
            if settings.clients.report("http", "header_timeout", peer.ip()) {
                warn!(%peer, kind = "header_timeout", "http request refused (logged once a minute per peer)");
            }
        }
        First::Closed => {}
    }
}

/// Whether the client asks to keep the connection open after this
/// request (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
/// `Connection: keep-alive`).
fn keeps_alive<B>(req: &hyper::Request<B>) -> bool {
    let has = |token: &str| {
        req.headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if req.version() == hyper::Version::HTTP_11 {
        !has("close")
    } else {
        has("keep-alive")
    }
}

/// Whether a response closes its connection (`Connection: close`).
fn closes(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

/// A socket with bytes already read from it in front, for hyper.
struct Prefixed<I> {
    read: Bytes,
    io: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.read.len().min(buf.remaining());
        buf.put_slice(&this.read[..n]);
        this.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Serves a connection with hyper. The head of each request (and the
/// idle wait before it) is bounded by hyper's header timeout, its body by
/// [`Deadline`]; the connection's [`Waiting`] state follows each request.
async fn connection<I>(io: I, peer: SocketAddr, settings: &Settings, waiting: Arc<Waiting>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (app, clients, body_timeout) = (
        settings.app.clone(),
        settings.clients.clone(),
        settings.body_timeout,
    );
    let served = waiting.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        served.request();
        let stays_open = keeps_alive(&req);
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let deadline = tokio::time::Instant::now() + body_timeout;
        let body = Deadline::wrap(body, deadline, clients.clone(), peer.ip());
        let req = hyper::Request::from_parts(parts, body);
        let (app, served) = (app.clone(), served.clone());
        async move {
            let resp = app.oneshot(req).await.unwrap_or_else(|e| match e {});
            served.answered();
            // A connection that closes after this response never waits
            // again: it must not take an idle place from another.
            let resp = if stays_open && !closes(resp.headers()) {
                resp.map(|body| OnEnd::wrap(body, served))
            } else {
                resp
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Header names are case-insensitive, but librtmp (rtmpdump) finds
        // an RTMPT answer's length by searching for `Content-` verbatim.
        .title_case_headers(true)
        .max_buf_size(settings.max_buf)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let res = tokio::select! {
        r = conn.as_mut() => r,
        () = settings.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        () = waiting.over_cap() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    let clients = &settings.clients;
    if let Err(e) = res {
        // Requests hyper refused before any route saw them: counted, and
        // logged once a minute per peer and kind.
        let kind = if e.is_parse_too_large() {
            Some("max_header_bytes")
        } else if e.is_timeout() {
            Some("header_timeout")
        } else if e.is_parse() {
            Some("bad_request")
        } else {
            None
        };
        match kind {
            Some(kind) if clients.report("http", kind, peer.ip()) => {
                warn!(%peer, kind, error = %e, "http request refused (logged once a minute per peer)")
            }
            _ => debug!(%peer, error = %e, "http connection ended with an error"),
        }
    }
}
