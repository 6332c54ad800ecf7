//! [`KeystreamStream`]: a byte stream whose both directions pass through a
//! stream cipher (RTMPE's RC4), applied per connection.
//!
//! Like TLS, such a stream cannot share muxed bytes with other viewers:
//! every byte is encrypted for this connection alone, so a viewer on it
//! writes through the waiting path (`write_all_vectored`, which flushes)
//! and never parks.
//!
//! A write encrypts into an internal buffer and reports the bytes as
//! taken: the keystream has advanced over them, so they can no longer be
//! handed back. Whatever the socket refused stays buffered until the next
//! write, flush or shutdown, which send it first.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A keystream: XORs its next bytes into the slice (encrypting or
/// decrypting in place) and advances.
pub type Keystream = Box<dyn FnMut(&mut [u8]) + Send>;

/// At most this many encrypted bytes wait in the write buffer: a write
/// takes no more than what fits.
const MAX_PENDING: usize = 64 * 1024;

/// A stream with a keystream on each direction.
pub struct KeystreamStream<S> {
    inner: S,
    decrypt: Keystream,
    encrypt: Keystream,
    /// Decrypted bytes read before the wrapper existed, returned first.
    ready: Vec<u8>,
    ready_at: usize,
    /// Encrypted bytes taken from the caller, not yet written from
    /// `pending_at` on.
    pending: Vec<u8>,
    pending_at: usize,
}

impl<S> KeystreamStream<S> {
    /// Wraps `inner`. `read_ahead`: bytes already read from `inner` past
    /// the handshake, still encrypted; they are decrypted now and read
    /// first.
    pub fn new(inner: S, mut decrypt: Keystream, encrypt: Keystream, read_ahead: &[u8]) -> Self {
        let mut ready = read_ahead.to_vec();
        decrypt(&mut ready);
        KeystreamStream {
            inner,
            decrypt,
            encrypt,
            ready,
            ready_at: 0,
            pending: Vec::new(),
            pending_at: 0,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> KeystreamStream<S> {
    /// Writes every pending encrypted byte.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_at < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.pending_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_at += n;
        }
        self.pending.clear();
        self.pending_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Encrypts what `bufs` hold (up to the buffer's room) into the
    /// pending buffer and starts writing it; the count taken.
    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        let mut taken = 0;
        for b in bufs {
            let n = b.len().min(MAX_PENDING - taken);
            self.pending.extend_from_slice(&b[..n]);
            taken += n;
            if taken == MAX_PENDING {
                break;
            }
        }
        (self.encrypt)(&mut self.pending);
        // The bytes are taken whether or not the socket has room now; a
        // refusal leaves them for the next write or flush.
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for KeystreamStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ready_at < this.ready.len() {
            let n = (this.ready.len() - this.ready_at).min(buf.remaining());
            buf.put_slice(&this.ready[this.ready_at..this.ready_at + n]);
            this.ready_at += n;
            if this.ready_at == this.ready.len() {
                this.ready = Vec::new();
                this.ready_at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        (this.decrypt)(&mut buf.filled_mut()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for KeystreamStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_take(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_take(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A toy keystream (not a cipher): byte i of the stream is XORed with
    /// i * 7 + seed, so both ends must stay in step to agree.
    fn toy(seed: u8) -> Keystream {
        let mut i = 0u8;
        Box::new(move |buf: &mut [u8]| {
            for b in buf {
                *b ^= i.wrapping_mul(7).wrapping_add(seed);
                i = i.wrapping_add(1);
            }
        })
    }

    /// Megabytes each way through a small pipe (so writes are refused
    /// and buffered), vectored and not, with read-ahead bytes on one side.
    #[tokio::test]
    async fn both_directions_round_trip_through_a_small_pipe() {
        let (a, b) = tokio::io::duplex(1000);
        // The server read 3 encrypted bytes with its handshake.
        let mut early = *b"abc";
        toy(1)(&mut early);
        let mut server = KeystreamStream::new(a, toy(1), toy(2), &early);
        let mut client = KeystreamStream::new(b, toy(2), toy(1), &[]);
        // The client's keystream skips the 3 bytes it "sent" before.
        (client.encrypt)(&mut [0u8; 3]);
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let send = data.clone();
        let writer = tokio::spawn(async move {
            for piece in send.chunks(70_000) {
                let (x, y) = piece.split_at(piece.len() / 3);
                let mut bufs = vec![
                    bytes::Bytes::copy_from_slice(x),
                    bytes::Bytes::copy_from_slice(y),
                ];
                crate::write_all_vectored(&mut client, &mut bufs)
                    .await
                    .unwrap();
            }
            let mut back = vec![0u8; 200_000];
            client.read_exact(&mut back).await.unwrap();
            back
        });
        let mut got = vec![0u8; 3 + data.len()];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..3], b"abc");
        assert!(got[3..] == data[..], "client to server");
        let reply: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
        server.write_all(&reply).await.unwrap();
        server.flush().await.unwrap();
        let back = writer.await.unwrap();
        assert!(back == reply, "server to client");
    }

    /// A wire byte really is encrypted: the peer without the keystream
    /// sees other bytes.
    #[tokio::test]
    async fn bytes_on_the_wire_are_transformed() {
        let (a, mut b) = tokio::io::duplex(100);
        let mut s = KeystreamStream::new(a, toy(0), toy(9), &[]);
        s.write_all(b"hello").await.unwrap();
        s.flush().await.unwrap();
        let mut raw = [0u8; 5];
        b.read_exact(&mut raw).await.unwrap();
        assert_ne!(&raw, b"hello");
        toy(9)(&mut raw);
        assert_eq!(&raw, b"hello");
    }
}
