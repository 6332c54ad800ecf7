//! RTMPE on the plain RTMP port: a client whose first byte asks for it
//! (6, 8 or 9) gets the encrypted handshake
//! ([`RtmpeServerHandshake`]) and then an RC4-wrapped stream
//! ([`Transport::Rtmpe`]); everyone else gets the socket untouched.
//!
//! The first byte is peeked, not read, so a plain client's handshake is
//! still the session's to read. RTMPE is obfuscation, not security
//! (docs/security.md); `Config::rtmpe = false` refuses it at that first
//! byte.

use std::net::SocketAddr;

use bytes::BytesMut;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use weir_netio::{Conn, KeystreamStream, SharedTcp};
use weir_rtmp::error::HandshakeError;
use weir_rtmp::handshake::rtmpe::{is_rtmpe, RtmpeServerHandshake, SECRET_LEN};

use crate::transport::Transport;
use crate::Shared;

/// Why a connection ended before it had a transport.
enum Refused {
    /// The peer closed or the socket failed: nothing to report.
    Gone,
    Timeout,
    Disabled,
    Handshake(HandshakeError),
}

/// The transport for an accepted connection, or `None` if it ended during
/// the first byte or the RTMPE handshake (already counted and logged).
/// Both must finish by `deadline`, the connection's handshake deadline.
pub(crate) async fn open(
    conn: Conn,
    addr: SocketAddr,
    shared: &Shared,
    deadline: Instant,
) -> Option<Transport> {
    let tcp = match conn {
        Conn::Tcp(tcp) => tcp,
        tls => return Some(Transport::from(tls)),
    };
    let result = tokio::time::timeout_at(deadline, negotiate(tcp, shared))
        .await
        .unwrap_or(Err(Refused::Timeout));
    let clients = shared.hub.clients();
    match result {
        Ok(t) => return Some(t),
        Err(Refused::Gone) => {
            debug!(peer = %addr, "rtmp closed before its first byte or during the RTMPE handshake")
        }
        Err(Refused::Timeout) => {
            clients.report("rtmp", "handshake_timeout", addr.ip());
            debug!(peer = %addr, "rtmp handshake timeout");
        }
        Err(Refused::Disabled) => {
            if clients.report("rtmp", "rtmpe_disabled", addr.ip()) {
                info!(peer = %addr, "RTMPE client refused: [rtmp] rtmpe = false (logged once a minute per peer)");
            }
        }
        Err(Refused::Handshake(e)) => {
            if clients.report("rtmp", "rtmpe_handshake", addr.ip()) {
                warn!(peer = %addr, error = %e, "rtmpe handshake error (logged once a minute per peer)");
            } else {
                debug!(peer = %addr, error = %e, "rtmpe handshake error");
            }
        }
    }
    None
}

/// Peeks the first byte; runs the RTMPE handshake if it asks for one.
async fn negotiate(mut tcp: TcpStream, shared: &Shared) -> Result<Transport, Refused> {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(0) | Err(_) => return Err(Refused::Gone),
        Ok(_) => {}
    }
    if !is_rtmpe(first[0]) {
        return Ok(Transport::Tcp(SharedTcp::new(tcp)));
    }
    if !shared.config.rtmpe {
        return Err(Refused::Disabled);
    }
    let mut random = vec![0u8; 1536 + 1504];
    let mut secret = [0u8; SECRET_LEN];
    rand::thread_rng().fill_bytes(&mut random);
    rand::thread_rng().fill_bytes(&mut secret);
    let epoch = shared.started.elapsed().as_millis() as u32;
    let mut hs = RtmpeServerHandshake::new(&random, &secret, epoch);
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        hs.handle_input(&mut buf).map_err(Refused::Handshake)?;
        if let Some(out) = hs.poll_output() {
            tcp.write_all(&out).await.map_err(|_| Refused::Gone)?;
        }
        if hs.is_done() {
            break;
        }
        match tcp.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Err(Refused::Gone),
            Ok(_) => {}
        }
    }
    let Some(ciphers) = hs.take_ciphers() else {
        return Err(Refused::Gone);
    };
    let (mut decrypt, mut encrypt) = (ciphers.decrypt, ciphers.encrypt);
    // What the client sent after C2 (its connect, usually) was read with
    // the handshake: the stream decrypts it and reads it first.
    let stream = KeystreamStream::new(
        tcp,
        Box::new(move |b: &mut [u8]| decrypt.apply(b)),
        Box::new(move |b: &mut [u8]| encrypt.apply(b)),
        &buf,
    );
    Ok(Transport::Rtmpe(Box::new(stream)))
}
