//! The accept loop every TCP listener of weir runs (RTMP, HTTP, and the
//! RTSP and WebRTC-over-TCP listeners to come).
//!
//! What a listener must get right before a protocol sees a byte is the
//! same for all of them, and each copy of it drifted (backoff, limits,
//! how a refusal is logged): back off when `accept` fails (EMFILE)
//! instead of spinning, cap connections in total and per address and
//! count every refusal where `/metrics` shows it, turn Nagle off, run the
//! optional TLS handshake under a deadline (a client that connects and
//! says nothing must not hold a slot), and stop on the shutdown token.
//! The protocol gets the connection, its peer and its [`Slot`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use weir_hub::{Clients, ConnLimits, ConnSlot};

/// How long the loop waits after a failed `accept`: usually EMFILE,
/// which only a connection closing clears, so retrying at once would
/// spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A listener's connection caps. Clones share their counts, so one
/// protocol's plain and TLS listeners can share one limit.
#[derive(Clone)]
pub struct Limits {
    conns: ConnLimits,
    /// With a queue, the total is enforced by waiting for a permit before
    /// `accept`, which leaves extra clients in the kernel's backlog.
    queue: Option<Arc<Semaphore>>,
}

impl Limits {
    /// At most `max_total` connections (more are closed at once and
    /// counted as `max_connections`), at most `max_per_ip` from one
    /// address (0 = no limit; more are counted as
    /// `max_connections_per_ip`). For protocols whose
    /// clients retry on their own (RTMP encoders and players).
    pub fn refusing(max_total: usize, max_per_ip: usize) -> Self {
        Limits {
            conns: ConnLimits::new(max_total, max_per_ip),
            queue: None,
        }
    }

    /// At most `max_total` connections (at least one), further clients
    /// waiting in the listen backlog until one closes; per address as in
    /// [`Limits::refusing`]. For HTTP, where a browser's extra
    /// connection is better late than refused.
    pub fn queueing(max_total: usize, max_per_ip: usize) -> Self {
        Limits {
            conns: ConnLimits::new(usize::MAX, max_per_ip),
            queue: Some(Arc::new(Semaphore::new(max_total.max(1)))),
        }
    }

    /// Connections held now.
    pub fn active(&self) -> usize {
        self.conns.active()
    }

    /// Takes a place for a connection from `ip` that did not come through
    /// this listener's accept loop (an RTMP session tunnelled over HTTP
    /// counts against the RTMP limits), without waiting: the limit hit
    /// when there is none.
    pub fn try_acquire(&self, ip: std::net::IpAddr) -> Result<Slot, weir_hub::ConnLimitHit> {
        let queued = match &self.queue {
            None => None,
            Some(queue) => Some(
                queue
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| weir_hub::ConnLimitHit::Total)?,
            ),
        };
        Ok(Slot {
            _queued: queued,
            _conn: self.conns.try_acquire(ip)?,
        })
    }
}

/// One connection's place in its listener's [`Limits`], released when
/// dropped: the handler holds it for as long as the connection lives.
pub struct Slot {
    _queued: Option<OwnedSemaphorePermit>,
    _conn: ConnSlot,
}

/// An accepted connection: plain TCP, or TLS after its handshake.
pub enum Conn {
    /// Plain TCP, with Nagle off.
    Tcp(TcpStream),
    /// Boxed: a rustls session is a few hundred bytes more than a socket,
    /// and most connections are plain.
    Tls(Box<TlsStream<TcpStream>>),
}

/// How a listener accepts.
pub struct Accept {
    /// The protocol's name in the error counters (`"rtmp"`, `"http"`) and
    /// in the log lines of refusals (`"{protocol} connection refused"`,
    /// `"{protocol}s tls handshake failed"`).
    pub protocol: &'static str,
    /// The caps.
    pub limits: Limits,
    /// Written (best effort, never waiting) to a connection refused by a
    /// limit before it is closed, e.g. an HTTP 429; `None` just closes.
    pub refusal: Option<&'static [u8]>,
    /// Every connection starts with a TLS handshake when given.
    pub tls: Option<TlsAcceptor>,
    /// The TLS handshake must finish within this.
    pub tls_timeout: Duration,
    /// Where refusals and failed handshakes are counted, and whether to
    /// log them is decided (once a minute per peer and kind).
    pub clients: Clients,
    /// Stops the loop and any handshake in progress; handlers watch it
    /// themselves.
    pub shutdown: CancellationToken,
}

/// Accepts connections on `listener` until shutdown and runs `handler`
/// for each in its own task, so an error on one never affects another.
/// Returns `Ok` once shut down: accept errors are retried, not returned.
pub async fn serve<H, F>(listener: TcpListener, accept: Accept, handler: H) -> io::Result<()>
where
    H: Fn(Conn, SocketAddr, Slot) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let accept = Arc::new(accept);
    let handler = Arc::new(handler);
    let shutdown = accept.shutdown.clone();
    loop {
        let queued = match &accept.limits.queue {
            None => None,
            Some(queue) => tokio::select! {
                permit = queue.clone().acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    Err(_) => return Ok(()),
                },
                () = shutdown.cancelled() => return Ok(()),
            },
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, protocol = accept.protocol, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return Ok(()),
        };
        let conn_slot = match accept.limits.conns.try_acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(hit) => {
                let protocol = accept.protocol;
                if accept.clients.report(protocol, hit.as_str(), peer.ip()) {
                    warn!(%peer, limit = hit.as_str(), "{protocol} connection refused (logged once a minute per peer)");
                }
                if let Some(refusal) = accept.refusal {
                    // The socket is new and empty: this never blocks.
                    let _ = tcp.try_write(refusal);
                }
                continue;
            }
        };
        // Media is latency-sensitive: never let Nagle hold back a message.
        let _ = tcp.set_nodelay(true);
        let slot = Slot {
            _queued: queued,
            _conn: conn_slot,
        };
        let (accept, handler) = (accept.clone(), handler.clone());
        tokio::spawn(async move {
            let conn = match &accept.tls {
                None => Conn::Tcp(tcp),
                Some(acceptor) => match handshake(&accept, acceptor, tcp, peer).await {
                    Some(tls) => Conn::Tls(Box::new(tls)),
                    None => return,
                },
            };
            handler(conn, peer, slot).await;
        });
    }
}

/// The TLS handshake, bounded by the deadline and the shutdown; `None`
/// (counted and, throttled, logged) when it did not finish.
async fn handshake(
    accept: &Accept,
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let protocol = accept.protocol;
    let result = tokio::select! {
        r = tokio::time::timeout(accept.tls_timeout, acceptor.accept(tcp)) => r,
        () = accept.shutdown.cancelled() => return None,
    };
    match result {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            if accept.clients.report(protocol, "tls_handshake", peer.ip()) {
                warn!(%peer, error = %e, "{protocol}s tls handshake failed (logged once a minute per peer)");
            }
            None
        }
        Err(_) => {
            if accept
                .clients
                .report(protocol, "tls_handshake_timeout", peer.ip())
            {
                warn!(%peer, "{protocol}s tls handshake timed out (logged once a minute per peer)");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use weir_hub::{Hub, HubConfig};

    /// A listener on a free port running `accept`; each handler echoes a
    /// byte so the test knows it ran, then holds the slot until the peer
    /// closes.
    async fn start(accept: Accept) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, accept, |conn, _peer, slot| async move {
            let Conn::Tcp(mut tcp) = conn else { return };
            let _ = tcp.write_all(b"!").await;
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await;
            drop(slot);
        }));
        addr
    }

    fn settings(limits: Limits, refusal: Option<&'static [u8]>) -> (Accept, Clients) {
        let hub = Hub::new(HubConfig::default());
        let clients = hub.clients().clone();
        let accept = Accept {
            protocol: "test",
            limits,
            refusal,
            tls: None,
            tls_timeout: Duration::from_secs(5),
            clients: clients.clone(),
            shutdown: CancellationToken::new(),
        };
        (accept, clients)
    }

    fn errors(clients: &Clients, kind: &str) -> u64 {
        clients
            .errors()
            .iter()
            .find(|e| e.protocol == "test" && e.kind == kind)
            .map_or(0, |e| e.count)
    }

    /// What the server sends a new connection within a second: `b"!"`
    /// when its handler runs, the refusal (and a close) when refused,
    /// nothing when it waits in the backlog.
    async fn greeting(tcp: &mut TcpStream) -> Vec<u8> {
        let mut got = vec![0u8; 64];
        match tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut got)).await {
            Ok(Ok(n)) => got[..n].to_vec(),
            Ok(Err(_)) => Vec::new(),
            Err(_) => b"(waiting)".to_vec(),
        }
    }

    #[tokio::test]
    async fn refusing_limits_close_and_count_extra_connections() {
        let (accept, clients) = settings(Limits::refusing(2, 1), Some(b"no"));
        let limits = accept.limits.clone();
        let addr = start(accept).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        assert_eq!(greeting(&mut first).await, b"!");
        // Same address (127.0.0.1): over the per-address limit.
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(greeting(&mut second).await, b"no");
        assert_eq!(errors(&clients, "max_connections_per_ip"), 1);
        assert_eq!(limits.active(), 1);
        // Closing the first frees its slot for the next.
        drop(first);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr).await.unwrap();
        assert_eq!(greeting(&mut third).await, b"!");
    }

    #[tokio::test]
    async fn refusing_total_limit() {
        let (accept, clients) = settings(Limits::refusing(1, 0), None);
        let addr = start(accept).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        assert_eq!(greeting(&mut first).await, b"!");
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(greeting(&mut second).await, b"", "closed without a word");
        assert_eq!(errors(&clients, "max_connections"), 1);
    }

    #[tokio::test]
    async fn queueing_limit_leaves_extra_clients_waiting() {
        let (accept, clients) = settings(Limits::queueing(1, 0), None);
        let addr = start(accept).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        assert_eq!(greeting(&mut first).await, b"!");
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(greeting(&mut second).await, b"(waiting)");
        drop(first);
        assert_eq!(
            greeting(&mut second).await,
            b"!",
            "served once a slot frees"
        );
        assert!(clients.errors().is_empty(), "waiting is not an error");
    }

    /// A TLS acceptor with no certificate: enough for handshakes that
    /// never get as far as needing one.
    fn acceptor() -> TlsAcceptor {
        #[derive(Debug)]
        struct NoCert;
        impl rustls::server::ResolvesServerCert for NoCert {
            fn resolve(
                &self,
                _: rustls::server::ClientHello<'_>,
            ) -> Option<Arc<rustls::sign::CertifiedKey>> {
                None
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(NoCert));
        TlsAcceptor::from(Arc::new(config))
    }

    #[tokio::test]
    async fn tls_handshakes_are_bounded_and_failures_counted() {
        let (mut accept, clients) = settings(Limits::refusing(10, 0), None);
        accept.tls = Some(acceptor());
        accept.tls_timeout = Duration::from_millis(200);
        let limits = accept.limits.clone();
        let addr = start(accept).await;

        // Silent: times out, and the slot is released.
        let silent = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(limits.active(), 1);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(errors(&clients, "tls_handshake_timeout"), 1);
        assert_eq!(limits.active(), 0);
        drop(silent);

        // Not TLS at all: fails at once.
        let mut garbage = TcpStream::connect(addr).await.unwrap();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), garbage.read_to_end(&mut rest)).await;
        assert_eq!(errors(&clients, "tls_handshake"), 1);
        assert_eq!(errors(&clients, "tls_handshake_timeout"), 1);
    }

    #[tokio::test]
    async fn shutdown_stops_the_loop_and_handshakes_in_progress() {
        let (mut accept, clients) = settings(Limits::refusing(10, 0), None);
        accept.tls = Some(acceptor());
        let shutdown = accept.shutdown.clone();
        let limits = accept.limits.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, accept, |_, _, _| async {}));
        let _silent = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(limits.active(), 1, "in its handshake");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the loop ends at once")
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(limits.active(), 0, "the handshake was abandoned");
        assert!(clients.errors().is_empty(), "a shutdown is no failure");
    }
}
