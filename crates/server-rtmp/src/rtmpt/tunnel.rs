//! One RTMPT session's HTTP side: the end of the pipe the connection task
//! does not hold, and the rules each request follows on it (sequence
//! numbers, the interval byte, how long an idle poll may wait for bytes).

use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_rtmp::error::RtmptError;
use weir_rtmp::rtmpt::{Interval, Sequence};

/// The largest piece read from the pipe at once.
const READ_PIECE: usize = 16 * 1024;

/// A session as the HTTP handlers see it.
pub(crate) struct Tunnel {
    /// The pipe and the per-request rules, one request at a time: a
    /// client's requests are sequential, and two at once (a second
    /// connection) wait for each other instead of interleaving bytes.
    io: tokio::sync::Mutex<Io>,
    /// When the client last made a request.
    last_seen: Mutex<Instant>,
    /// Cancelled when the session ends (closed, expired, or the RTMP
    /// connection ended): wakes a held poll or a blocked send at once.
    pub(crate) closed: CancellationToken,
}

struct Io {
    /// `None` once closed: dropping it is what the RTMP connection reads
    /// as the end of its stream.
    pipe: Option<DuplexStream>,
    seq: Sequence,
    interval: Interval,
}

/// What a request gets back.
pub(crate) enum Exchange {
    /// The interval byte and the server's bytes.
    Reply(Vec<u8>),
    /// A replayed or reordered request: refused, the session unchanged.
    OutOfOrder(RtmptError),
    /// The session has ended.
    Gone,
}

/// How a request exchanges bytes.
pub(crate) struct Limits {
    /// Most server bytes in one answer.
    pub(crate) max_reply: usize,
    /// How long an idle poll waits for server bytes before answering
    /// with none.
    pub(crate) hold: Duration,
    /// How long a send may wait for the connection to take its bytes.
    pub(crate) write_timeout: Duration,
}

impl Tunnel {
    pub(crate) fn new(pipe: DuplexStream) -> Self {
        Tunnel {
            io: tokio::sync::Mutex::new(Io {
                pipe: Some(pipe),
                seq: Sequence::default(),
                interval: Interval::default(),
            }),
            last_seen: Mutex::new(Instant::now()),
            closed: CancellationToken::new(),
        }
    }

    /// When the session expires if no request comes first.
    pub(crate) fn expires_at(&self, idle: Duration) -> Instant {
        *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) + idle
    }

    fn touch(&self) {
        *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Ends the session: a waiting request answers at once, and the
    /// connection reads the end of its stream.
    pub(crate) async fn close(&self) {
        self.closed.cancel();
        self.io.lock().await.pipe = None;
    }

    /// One send (`body` given) or idle poll (`body` empty).
    pub(crate) async fn exchange(&self, seq: u64, body: &[u8], limits: &Limits) -> Exchange {
        self.touch();
        let mut io = tokio::select! {
            io = self.io.lock() => io,
            () = self.closed.cancelled() => return Exchange::Gone,
        };
        let Io {
            pipe,
            seq: order,
            interval,
        } = &mut *io;
        if let Err(e) = order.accept(seq) {
            return Exchange::OutOfOrder(e);
        }
        let Some(p) = pipe.as_mut() else {
            return Exchange::Gone;
        };
        if !body.is_empty() {
            let write = tokio::time::timeout(limits.write_timeout, p.write_all(body));
            let written = tokio::select! {
                r = write => matches!(r, Ok(Ok(()))),
                () = self.closed.cancelled() => false,
            };
            if !written {
                // The connection is gone or stuck: what it had queued for
                // the client is of no use any more.
                *pipe = None;
                return Exchange::Gone;
            }
        }
        let mut reply = vec![0u8];
        let mut ended = read_now(p, &mut reply, limits.max_reply).await;
        if reply.len() == 1 && body.is_empty() && !ended {
            // An idle poll with nothing to give: wait a little for bytes,
            // so a player is answered as its next frame is ready instead
            // of polling in a loop.
            let mut piece = [0u8; READ_PIECE];
            let cap = READ_PIECE.min(limits.max_reply);
            tokio::select! {
                r = p.read(&mut piece[..cap]) => match r {
                    Ok(0) | Err(_) => ended = true,
                    Ok(n) => {
                        reply.extend_from_slice(&piece[..n]);
                        ended = read_now(p, &mut reply, limits.max_reply).await;
                    }
                },
                () = tokio::time::sleep(limits.hold) => {}
                () = self.closed.cancelled() => {}
            }
        }
        if ended {
            *pipe = None;
            if reply.len() == 1 {
                return Exchange::Gone;
            }
        }
        reply[0] = interval.next(reply.len() > 1 || !body.is_empty());
        self.touch();
        Exchange::Reply(reply)
    }
}

/// Appends what the pipe holds now (up to `max` bytes after the interval
/// byte) without waiting; true at the end of the stream (or an error).
async fn read_now(pipe: &mut DuplexStream, out: &mut Vec<u8>, max: usize) -> bool {
    let mut piece = [0u8; READ_PIECE];
    std::future::poll_fn(|cx| {
        while out.len() - 1 < max {
            let want = READ_PIECE.min(max - (out.len() - 1));
            let mut buf = ReadBuf::new(&mut piece[..want]);
            match Pin::new(&mut *pipe).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(true),
                Poll::Ready(Ok(())) => out.extend_from_slice(buf.filled()),
                Poll::Ready(Err(_)) => return Poll::Ready(true),
                // Nothing more now: answer with what there is.
                Poll::Pending => break,
            }
        }
        Poll::Ready(false)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_reply: 8,
            hold: Duration::from_millis(50),
            write_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn sends_polls_and_caps_replies() {
        let (ours, mut conn) = tokio::io::duplex(64);
        let t = Tunnel::new(ours);
        let Exchange::Reply(r) = t.exchange(1, b"hello", &limits()).await else {
            panic!("no reply")
        };
        assert_eq!(r, [1]);
        let mut got = [0u8; 5];
        conn.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        conn.write_all(b"0123456789").await.unwrap();
        let Exchange::Reply(r) = t.exchange(2, b"", &limits()).await else {
            panic!("no reply")
        };
        assert_eq!(r, b"\x0101234567", "capped at max_reply");
        let Exchange::Reply(r) = t.exchange(3, b"", &limits()).await else {
            panic!("no reply")
        };
        assert_eq!(r, b"\x0189");
        // Nothing more: the poll is held, then answered empty, backing off.
        let Exchange::Reply(r) = t.exchange(4, b"", &limits()).await else {
            panic!("no reply")
        };
        assert_eq!(r, [5]);
        assert!(matches!(
            t.exchange(4, b"x", &limits()).await,
            Exchange::OutOfOrder(_)
        ));
        drop(conn);
        assert!(matches!(
            t.exchange(5, b"", &limits()).await,
            Exchange::Gone
        ));
    }

    #[tokio::test]
    async fn a_held_poll_answers_when_bytes_come() {
        let (ours, mut conn) = tokio::io::duplex(64);
        let t = std::sync::Arc::new(Tunnel::new(ours));
        let slow = Limits {
            hold: Duration::from_secs(30),
            ..limits()
        };
        let poll = tokio::spawn({
            let t = t.clone();
            async move { t.exchange(1, b"", &slow).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        conn.write_all(b"ab").await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(r, Exchange::Reply(r) if r == b"\x01ab"));
        t.close().await;
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the connection reads the end");
    }
}
