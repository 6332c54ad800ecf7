//! Vectored socket writes of shared buffers.
//!
//! A viewer's writer calls [`try_write_now`] first: on a socket with room
//! (the normal case) everything goes out in one `writev` with no timer, no
//! future and no allocation. Only what a full socket left over goes through
//! [`write_all_vectored`], which waits (under the caller's timeout).

use std::io::IoSlice;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most buffers handed to one `writev` (Linux's IOV_MAX is 1024). They
/// live in an array on the stack: a write per wakeup per player must not
/// allocate.
pub const MAX_IOV: usize = 64;

/// Points `slices` at the first buffers of `bufs`; returns how many.
fn fill<'a>(slices: &mut [IoSlice<'a>; MAX_IOV], bufs: &'a [Bytes]) -> usize {
    let mut count = 0;
    for (slot, b) in slices.iter_mut().zip(bufs) {
        *slot = IoSlice::new(b);
        count += 1;
    }
    count
}

/// Marks `n` written bytes as done: buffers before `*first` are finished,
/// a partly written one is sliced (`advance` on our clone; the bytes are
/// shared with other players and never copied).
fn consume(bufs: &mut [Bytes], first: &mut usize, mut n: usize) {
    while n > 0 {
        let b = &mut bufs[*first];
        if n >= b.len() {
            n -= b.len();
            *first += 1;
        } else {
            b.advance(n);
            n = 0;
        }
    }
    while *first < bufs.len() && bufs[*first].is_empty() {
        *first += 1;
    }
}

/// Writes as much of `bufs` as the socket takes without waiting, removing
/// what was written; returns the byte count. `bufs` is empty afterwards
/// unless the socket buffer filled up.
pub fn try_write_now(socket: &TcpStream, bufs: &mut Vec<Bytes>) -> std::io::Result<u64> {
    let mut written = 0u64;
    let mut first = 0;
    while first < bufs.len() {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let count = fill(&mut slices, &bufs[first..]);
        let n = match socket.try_write_vectored(&slices[..count]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        };
        written += n as u64;
        consume(bufs, &mut first, n);
    }
    if first == bufs.len() {
        bufs.clear();
    } else {
        bufs.drain(..first);
    }
    Ok(written)
}

/// Writes every buffer in `bufs`, in order, with as few syscalls as the
/// socket allows: one `writev` per call for up to [`MAX_IOV`] buffers,
/// resuming where a short write left off, then flushes (a no-op on TCP;
/// TLS sends what rustls still buffers).
pub async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut Vec<Bytes>,
) -> std::io::Result<u64> {
    let mut written = 0u64;
    let mut first = 0;
    while first < bufs.len() {
        let n = {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let count = fill(&mut slices, &bufs[first..]);
            w.write_vectored(&slices[..count]).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += n as u64;
        consume(bufs, &mut first, n);
    }
    bufs.clear();
    w.flush().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffers() -> (Vec<Bytes>, Vec<u8>) {
        let bufs: Vec<Bytes> = (0..150u8)
            .map(|i| Bytes::from(vec![i; i as usize % 5 + 1]))
            .chain([Bytes::new()])
            .collect();
        let expected = bufs.iter().flat_map(|b| b.to_vec()).collect();
        (bufs, expected)
    }

    #[tokio::test]
    async fn writes_everything_in_order_across_short_writes() {
        let (mut a, mut b) = tokio::io::duplex(7);
        let (mut bufs, expected) = buffers();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got)
                .await
                .unwrap();
            got
        });
        let n = write_all_vectored(&mut a, &mut bufs).await.unwrap();
        drop(a);
        assert_eq!(n as usize, expected.len());
        assert_eq!(reader.await.unwrap(), expected);
    }

    #[tokio::test]
    async fn non_blocking_write_then_the_rest() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        server.writable().await.unwrap();
        let (mut bufs, expected) = buffers();
        // Several megabytes: more than the socket buffers hold, so the
        // non-blocking write stops part way, inside a buffer.
        let big = Bytes::from(vec![7u8; 8 << 20]);
        bufs.push(big.clone());
        bufs.push(Bytes::from_static(b"end"));
        let mut want = expected.clone();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"end");
        let mut n = try_write_now(&server, &mut bufs).unwrap();
        assert!(n > 0 && !bufs.is_empty(), "wrote {n}");
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut client, &mut got)
                .await
                .unwrap();
            got
        });
        n += write_all_vectored(&mut server, &mut bufs).await.unwrap();
        assert!(bufs.is_empty());
        drop(server);
        assert_eq!(n as usize, want.len());
        assert_eq!(reader.await.unwrap(), want);
    }
}
