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
use axum::Router;
use bytes::{Buf, Bytes};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, warn};
use weir_hub::Clients;
use weir_netio::{Accept, Conn};

use crate::first_request::{first_request, First};
use crate::Shared;

/// A client must send its whole request head within this time, so a
/// connection that trickles headers cannot hold a slot forever. A TLS
/// handshake gets as long again.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The whole answer to a connection over the per-address limit.
const TOO_MANY: &[u8] =
    b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Listener limits.
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    /// Most connections from one address (0 = no limit); more are
    /// answered 429 and closed.
    pub(crate) max_connections_per_ip: usize,
    pub(crate) max_header_bytes: usize,
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
    let clients = limits.clients;
    weir_netio::serve(listener, accept, move |conn, peer, slot| {
        let (app, shared, clients) = (app.clone(), shared.clone(), clients.clone());
        async move {
            match conn {
                Conn::Tcp(tcp) => plain(tcp, peer, app, max_buf, shared, clients).await,
                Conn::Tls(tls) => {
                    let shutdown = shared.shutdown.clone();
                    connection(*tls, peer, app, max_buf, shutdown, clients).await
                }
            }
            drop(slot);
        }
    })
    .await
}

/// A plain-TCP connection: HTTP-FLV served here, the rest by hyper.
async fn plain(
    mut tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    max_buf: usize,
    shared: Arc<Shared>,
    clients: Clients,
) {
    let shutdown = shared.shutdown.clone();
    let first = tokio::select! {
        f = first_request(&mut tcp, max_buf, HEADER_READ_TIMEOUT) => f,
        () = shutdown.cancelled() => return,
    };
    match first {
        First::Flv(req) => crate::flv_socket::serve(tcp, peer, req, shared).await,
        First::Other(read) => {
            let io = Prefixed { read, io: tcp };
            connection(io, peer, app, max_buf, shutdown, clients).await
        }
        First::TimedOut => {
            if clients.report("http", "header_timeout", peer.ip()) {
                warn!(%peer, kind = "header_timeout", "http request refused (logged once a minute per peer)");
            }
        }
        First::Closed => {}
    }
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

async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    max_buf: usize,
    shutdown: CancellationToken,
    clients: Clients,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(max_buf)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let res = tokio::select! {
        r = conn.as_mut() => r,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
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
