//! A TCP socket shared by a viewer's task and its stream's write pass.
//!
//! While a viewer is parked the write pass writes to its socket, and the
//! task still reads from it (to notice input or a close) and writes to it
//! again once the viewer is back; so the socket lives in an `Arc`. tokio
//! implements `AsyncRead`/`AsyncWrite` only for an owned `TcpStream`; this
//! does the same through `&TcpStream`: wait for readiness, then try.

use std::io;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A cheaply cloned handle on one TCP connection.
#[derive(Clone, Debug)]
pub struct SharedTcp(Arc<TcpStream>);

impl SharedTcp {
    /// Shares `stream`.
    pub fn new(stream: TcpStream) -> Self {
        SharedTcp(Arc::new(stream))
    }
}

impl Deref for SharedTcp {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.0
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Both halves work through clones of one handle, across a full
    /// socket buffer (the writer must wait for the reader).
    #[tokio::test]
    async fn clones_read_and_write_one_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (mut a, mut b) = (SharedTcp::new(server), None::<SharedTcp>);
        b.replace(a.clone());
        let big = vec![7u8; 8 << 20];
        let echo = tokio::spawn(async move {
            let mut got = vec![0u8; 8 << 20];
            peer.read_exact(&mut got).await.unwrap();
            peer.write_all(b"ok").await.unwrap();
            got
        });
        a.write_all(&big).await.unwrap();
        let mut ok = [0u8; 2];
        b.unwrap().read_exact(&mut ok).await.unwrap();
        assert_eq!(&ok, b"ok");
        assert!(echo.await.unwrap() == big);
    }
}
