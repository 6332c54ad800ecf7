//! The byte stream under a connection: plain TCP, TLS over TCP (RTMPS),
//! RC4 over TCP (RTMPE, after its handshake: `crate::rtmpe`), or an RTMPT
//! tunnel (RTMP carried in HTTP requests, `crate::rtmpt`), split into the
//! halves the connection loop reads and writes.
//!
//! The connection logic is the same for all four. Plain TCP keeps its fast
//! paths: a player's write is one non-blocking `writev` straight from the
//! shared chunk buffers ([`try_write_now`]), and a caught-up player's
//! socket is shared (`weir_netio::SharedTcp`) with the stream's write
//! pass, which writes to it directly while the player is parked
//! (`crate::park`).
//! TLS has to encrypt into rustls's buffer before anything reaches the
//! socket, so its writes always take the waiting path
//! (`write_all_vectored`, which flushes rustls's buffer at the end) under
//! the write timeout. RTMPE is the same: its keystream is per connection,
//! so it encrypts into its own buffer ([`KeystreamStream`]) and never
//! shares muxed bytes with the write pass.
//! A tunnel is a bounded in-memory pipe whose other end the HTTP handlers
//! feed and drain; like TLS it always takes the waiting path, and its
//! bound is what pushes back on a player whose client polls too slowly.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use weir_netio::{Conn, KeystreamStream, SharedTcp};

/// A connection's stream.
pub(crate) enum Transport {
    /// Plain TCP.
    Tcp(SharedTcp),
    /// Boxed: a rustls session is a few hundred bytes more than a socket,
    /// and most connections are plain TCP.
    Tls(Box<TlsStream<TcpStream>>),
    /// An RTMPT session: one end of a bounded pipe, named `"rtmpt"` (or
    /// `"rtmpts"` when the HTTP listener is HTTPS).
    Tunnel {
        /// The connection's end; the HTTP handlers hold the other.
        pipe: DuplexStream,
        /// The protocol the client list names.
        protocol: &'static str,
    },
    /// RTMPE: RC4 both ways, the handshake already done.
    Rtmpe(Box<KeystreamStream<TcpStream>>),
}

impl Transport {
    /// `"rtmps"` over TLS, `"rtmpe"` over RTMPE, else `"rtmp"`: the
    /// protocol the client list, the access check and its callbacks name.
    pub(crate) fn protocol(&self) -> &'static str {
        match self {
            Transport::Tcp(_) => "rtmp",
            Transport::Tls(_) => "rtmps",
            Transport::Tunnel { protocol, .. } => protocol,
            Transport::Rtmpe(_) => "rtmpe",
        }
    }

    /// Whether the RTMP handshake already ran (RTMPE's, before the
    /// keystreams could start), so the session starts at the chunk stream.
    pub(crate) fn handshake_done(&self) -> bool {
        matches!(self, Transport::Rtmpe(_))
    }

    /// The read and write halves. The connection loop reads while the
    /// writer may be lent to the stream's write pass (TCP), so they are
    /// separate values: two handles on one socket for TCP, tokio's split
    /// of the TLS stream otherwise.
    pub(crate) fn split(self) -> (Reader, Writer) {
        match self {
            Transport::Tcp(tcp) => (Reader::Tcp(tcp.clone()), Writer::Tcp(tcp)),
            Transport::Tls(tls) => {
                let (r, w) = tokio::io::split(*tls);
                (Reader::Tls(r), Writer::Tls(w))
            }
            Transport::Tunnel { pipe, .. } => {
                let (r, w) = tokio::io::split(pipe);
                (Reader::Tunnel(r), Writer::Tunnel(w))
            }
            Transport::Rtmpe(s) => {
                let (r, w) = tokio::io::split(*s);
                (Reader::Rtmpe(r), Writer::Rtmpe(w))
            }
        }
    }
}

/// The half of a connection's stream its loop reads from.
pub(crate) enum Reader {
    Tcp(SharedTcp),
    Tls(ReadHalf<TlsStream<TcpStream>>),
    Tunnel(ReadHalf<DuplexStream>),
    Rtmpe(ReadHalf<KeystreamStream<TcpStream>>),
}

/// The half of a connection's stream written to: by the connection loop,
/// or, while a player is parked, by its stream's write pass (through the
/// `SharedTcp` handle the sink holds).
pub(crate) enum Writer {
    Tcp(SharedTcp),
    Tls(WriteHalf<TlsStream<TcpStream>>),
    Tunnel(WriteHalf<DuplexStream>),
    Rtmpe(WriteHalf<KeystreamStream<TcpStream>>),
}

impl Writer {
    /// The plain TCP socket, which a parked player's sink writes to.
    pub(crate) fn tcp(&self) -> Option<&SharedTcp> {
        match self {
            Writer::Tcp(tcp) => Some(tcp),
            Writer::Tls(_) | Writer::Tunnel(_) | Writer::Rtmpe(_) => None,
        }
    }
}

impl From<Conn> for Transport {
    /// An accepted connection (its TLS handshake, if any, done by the
    /// accept loop); a plain socket becomes shareable with the write pass.
    fn from(conn: Conn) -> Self {
        match conn {
            Conn::Tcp(tcp) => Transport::Tcp(SharedTcp::new(tcp)),
            Conn::Tls(tls) => Transport::Tls(tls),
        }
    }
}

/// Writes what the socket takes without waiting (see
/// [`weir_netio::try_write_now`]); TLS, RTMPE and tunnels write nothing
/// here and leave `bufs` to the waiting path.
pub(crate) fn try_write_now(socket: &Writer, bufs: &mut Vec<Bytes>) -> io::Result<u64> {
    match socket {
        Writer::Tcp(tcp) => weir_netio::try_write_now(tcp, bufs),
        Writer::Tls(_) | Writer::Tunnel(_) | Writer::Rtmpe(_) => Ok(0),
    }
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Reader::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Reader::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Reader::Tunnel(s) => Pin::new(s).poll_read(cx, buf),
            Reader::Rtmpe(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Writer::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Writer::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Writer::Tunnel(s) => Pin::new(s).poll_write(cx, buf),
            Writer::Rtmpe(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Writer::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Writer::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Writer::Tunnel(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Writer::Rtmpe(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Writer::Tcp(s) => s.is_write_vectored(),
            Writer::Tls(s) => s.is_write_vectored(),
            Writer::Tunnel(s) => s.is_write_vectored(),
            Writer::Rtmpe(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Writer::Tcp(s) => Pin::new(s).poll_flush(cx),
            Writer::Tls(s) => Pin::new(s).poll_flush(cx),
            Writer::Tunnel(s) => Pin::new(s).poll_flush(cx),
            Writer::Rtmpe(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Writer::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Writer::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Writer::Tunnel(s) => Pin::new(s).poll_shutdown(cx),
            Writer::Rtmpe(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use tokio_rustls::TlsAcceptor;
    use weir_netio::write_all_vectored;

    /// A TLS acceptor and a client that trusts it.
    fn tls_pair() -> (TlsAcceptor, tokio_rustls::TlsConnector) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (
            TlsAcceptor::from(Arc::new(server)),
            tokio_rustls::TlsConnector::from(Arc::new(client)),
        )
    }

    /// Everything queued reaches a TLS client, in order, although TLS skips
    /// the non-blocking path and rustls buffers what the socket refuses:
    /// the waiting path must flush it.
    #[tokio::test]
    async fn tls_writes_take_the_waiting_path_and_arrive_whole() {
        let (acceptor, connector) = tls_pair();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut bufs: Vec<Bytes> = (0..200u32)
            .map(|i| Bytes::from(vec![i as u8; (i as usize * 7) % 300 + 1]))
            .collect();
        bufs.push(Bytes::from(vec![9u8; 4 << 20]));
        bufs.push(Bytes::from_static(b"end"));
        let want: Vec<u8> = bufs.iter().flat_map(|b| b.to_vec()).collect();
        let len = want.len();
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            let mut got = vec![0u8; len];
            tls.read_exact(&mut got).await.unwrap();
            // Keep the connection open until the server is done.
            tls.write_all(b"x").await.unwrap();
            got
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let t = Transport::from(Conn::Tls(Box::new(tls)));
        assert!(matches!(t, Transport::Tls(_)));
        let (mut r, mut t) = t.split();
        assert_eq!(try_write_now(&t, &mut bufs).unwrap(), 0);
        assert_eq!(bufs.len(), 202, "nothing taken by the non-blocking path");
        let n = tokio::time::timeout(
            Duration::from_secs(20),
            write_all_vectored(&mut t, &mut bufs),
        )
        .await
        .expect("written within 20 s")
        .unwrap();
        assert_eq!(n as usize, len);
        let got = tokio::time::timeout(Duration::from_secs(20), client)
            .await
            .expect("client read everything within 20 s")
            .unwrap();
        assert!(got == want, "bytes differ");
        let mut ack = [0u8; 1];
        r.read_exact(&mut ack).await.unwrap();
    }

    /// A plain connection is used as is (and can be shared with the
    /// write pass).
    #[tokio::test]
    async fn plain_tcp_is_passed_through() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let (_, w) = Transport::from(Conn::Tcp(tcp)).split();
        assert!(w.tcp().is_some());
    }
}
