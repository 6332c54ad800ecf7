//! `rtmpe://`: the RTMPE handshake over TCP, then an RC4-wrapped stream.
//! Obfuscation, not security: use `rtmps://` to protect a stream.

use bytes::BytesMut;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_netio::KeystreamStream;
use weir_rtmp::handshake::rtmpe::{RtmpeClientHandshake, SECRET_LEN};

use crate::{io, ClientError};

/// Runs the RTMPE handshake on `tcp`; the stream it returns encrypts and
/// decrypts everything after it.
pub(crate) async fn handshake(
    mut tcp: TcpStream,
) -> Result<KeystreamStream<TcpStream>, ClientError> {
    let mut random = vec![0u8; 1536 + 1504];
    let mut secret = [0u8; SECRET_LEN];
    rand::thread_rng().fill_bytes(&mut random);
    rand::thread_rng().fill_bytes(&mut secret);
    let mut hs = RtmpeClientHandshake::new(&random, &secret, 0);
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        hs.handle_input(&mut buf)
            .map_err(|e| ClientError::Protocol(format!("RTMPE handshake: {e}")))?;
        // C0+C1, then C2: sent in the clear, before any keystream byte.
        while let Some(out) = hs.poll_output() {
            tcp.write_all(&out).await.map_err(io("writing"))?;
        }
        if hs.is_done() {
            break;
        }
        if tcp.read_buf(&mut buf).await.map_err(io("reading"))? == 0 {
            return Err(ClientError::Closed);
        }
    }
    let ciphers = hs
        .take_ciphers()
        .ok_or_else(|| ClientError::Protocol("RTMPE handshake gave no keys".into()))?;
    let (mut decrypt, mut encrypt) = (ciphers.decrypt, ciphers.encrypt);
    Ok(KeystreamStream::new(
        tcp,
        Box::new(move |b: &mut [u8]| decrypt.apply(b)),
        Box::new(move |b: &mut [u8]| encrypt.apply(b)),
        &buf,
    ))
}
