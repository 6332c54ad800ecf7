//! Vectored socket writes of shared buffers.

use std::io::IoSlice;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Most buffers handed to one `writev` (Linux's IOV_MAX is 1024).
const MAX_IOV: usize = 256;

/// Writes every buffer in `bufs`, in order, with as few syscalls as the
/// socket allows: one `writev` per call for up to [`MAX_IOV`] buffers,
/// resuming where a short write left off. The buffers are shared with
/// other players, so they are only sliced (`advance` on our clone), never
/// copied.
pub(crate) async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut Vec<Bytes>,
) -> std::io::Result<u64> {
    let mut written = 0u64;
    let mut first = 0;
    while first < bufs.len() {
        let n = {
            let slices: Vec<IoSlice<'_>> = bufs[first..]
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            w.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += n as u64;
        let mut left = n;
        while left > 0 {
            let b = &mut bufs[first];
            if left >= b.len() {
                left -= b.len();
                first += 1;
            } else {
                b.advance(left);
                left = 0;
            }
        }
        while first < bufs.len() && bufs[first].is_empty() {
            first += 1;
        }
    }
    bufs.clear();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_everything_in_order_across_short_writes() {
        let (mut a, mut b) = tokio::io::duplex(7);
        let mut bufs: Vec<Bytes> = (0..50u8)
            .map(|i| Bytes::from(vec![i; i as usize % 5 + 1]))
            .collect();
        let expected: Vec<u8> = bufs.iter().flat_map(|b| b.to_vec()).collect();
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
}
