//! A parked viewer's sink: its stream's write pass writes to its socket.
//!
//! A viewer that has caught up with its stream hands its receiver and one
//! of these to the egress channel (`weir_hub::Receiver::park`). From then
//! on the muxer task, when it wakes the channel, offers each new run of
//! muxed entries to every parked viewer in one pass: one non-blocking
//! `sendmsg` per viewer and nothing else — no task wakeup, no channel
//! cursor, no `select!`. With a thousand RTMP players those were a fifth
//! of the server's CPU (docs/benchmarks.md, session-3 profile).
//!
//! Whatever the sink cannot do alone sends it back to the viewer's task: a
//! full socket (the rest of the write is kept in [`SocketSink::rest`] and
//! written first, under the task's write timeout), or an entry the format's
//! [`Picker`] says needs the task.

use std::io::IoSlice;

use bytes::{Buf, Bytes};
use weir_hub::{Entry, Offer, OutCounter, Sink};

use crate::shared::SharedTcp;
use crate::write::MAX_IOV;

/// What a viewer does with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick<'a> {
    /// Write these bytes.
    Write(&'a Bytes),
    /// Nothing to write for this viewer.
    Skip,
    /// The viewer's task must handle it (and everything after it).
    Task,
}

/// A format's choice of what one viewer writes (track filters, entries
/// that need the session).
pub trait Picker<T>: Send + 'static {
    /// What to do with `entry`.
    fn pick<'a>(&self, entry: &'a T) -> Pick<'a>;
}

/// The writer the write pass calls for one parked viewer.
pub struct SocketSink<P> {
    socket: SharedTcp,
    picker: P,
    sent: OutCounter,
    /// What a short write left over, to be written before anything else.
    pub rest: Vec<Bytes>,
}

impl<P> SocketSink<P> {
    /// A sink writing to `socket` what `picker` picks, counting bytes in
    /// `sent`.
    pub fn new(socket: SharedTcp, picker: P, sent: OutCounter) -> Self {
        SocketSink {
            socket,
            picker,
            sent,
            rest: Vec::new(),
        }
    }

    /// Keeps what is left of the picked bytes after the first `written`.
    fn keep_rest<T>(&mut self, entries: &[T], mut written: usize)
    where
        P: Picker<T>,
    {
        for entry in entries {
            let Pick::Write(bytes) = self.picker.pick(entry) else {
                continue;
            };
            if written >= bytes.len() {
                written -= bytes.len();
                continue;
            }
            let mut b = bytes.clone();
            b.advance(written);
            written = 0;
            self.rest.push(b);
        }
    }
}

impl<T: Entry, P: Picker<T>> Sink<T> for SocketSink<P> {
    fn offer(&mut self, entries: &[T]) -> Offer {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let (mut count, mut total) = (0, 0);
        for entry in entries {
            let bytes = match self.picker.pick(entry) {
                Pick::Write(bytes) if !bytes.is_empty() => bytes,
                Pick::Write(_) | Pick::Skip => continue,
                Pick::Task => return Offer::Decline,
            };
            if count == MAX_IOV {
                // A run this long is a join or a burst: the task's own
                // path writes it in several calls.
                return Offer::Decline;
            }
            slices[count] = IoSlice::new(bytes);
            count += 1;
            total += bytes.len();
        }
        if total == 0 {
            return Offer::Taken;
        }
        // Straight to `sendmsg` rather than through tokio's readiness
        // check, which costs a cache miss per viewer per pass. If the
        // socket is full, tokio still thinks it writable: the task's own
        // write then meets the EAGAIN and waits properly. An error counts
        // as nothing written: the task's write meets it again and ends
        // the connection the usual way.
        let written = socket2::SockRef::from(&*self.socket)
            .send_vectored(&slices[..count])
            .unwrap_or(0);
        self.sent.add(written as u64);
        if written == total {
            return Offer::Taken;
        }
        self.keep_rest(entries, written);
        Offer::Return
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;
    use weir_hub::{Class, ClientInfo, Hub, HubConfig};

    /// A test entry: bytes on a track, or a marker the task must handle.
    #[derive(Clone)]
    enum E {
        Track(u8, Bytes),
        Marker,
    }

    impl Entry for E {
        fn class(&self) -> Class {
            Class::Delta
        }
    }

    /// Writes track 1 and 3, skips track 2.
    struct NoTwo;

    impl Picker<E> for NoTwo {
        fn pick<'a>(&self, entry: &'a E) -> Pick<'a> {
            match entry {
                E::Track(2, _) => Pick::Skip,
                E::Track(_, b) => Pick::Write(b),
                E::Marker => Pick::Task,
            }
        }
    }

    fn track(t: u8, fill: u8, len: usize) -> E {
        E::Track(t, Bytes::from(vec![fill; len]))
    }

    async fn pair() -> (SharedTcp, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        server.writable().await.unwrap();
        (SharedTcp::new(server), client)
    }

    fn client(hub: &Hub) -> weir_hub::ClientHandle {
        hub.clients().register(ClientInfo {
            protocol: "test",
            addr: "127.0.0.1:1".parse().unwrap(),
            role: None,
        })
    }

    #[tokio::test]
    async fn writes_what_is_picked_and_declines_what_needs_the_task() {
        let hub = Hub::new(HubConfig::default());
        let client = client(&hub);
        let (server, mut peer) = pair().await;
        let mut sink = SocketSink::new(server, NoTwo, client.out_counter());
        let run = [track(1, 1, 10), track(2, 2, 5), track(3, 3, 4)];
        assert_eq!(sink.offer(&run), Offer::Taken);
        let mut got = [0u8; 14];
        tokio::io::AsyncReadExt::read_exact(&mut peer, &mut got)
            .await
            .unwrap();
        assert_eq!(&got[..10], &[1; 10]);
        assert_eq!(&got[10..], &[3; 4], "track 2 skipped");
        assert_eq!(hub.clients().get(client.id()).unwrap().bytes_out, 14);
        assert_eq!(sink.offer(&[track(1, 1, 1), E::Marker]), Offer::Decline);
        assert_eq!(hub.clients().get(client.id()).unwrap().bytes_out, 14);
    }

    #[tokio::test]
    async fn a_full_socket_keeps_the_rest_and_returns() {
        let hub = Hub::new(HubConfig::default());
        let client = client(&hub);
        let (server, _peer) = pair().await;
        let mut sink = SocketSink::new(server, NoTwo, client.out_counter());
        // Far more than the socket buffers take without a reader.
        let run: Vec<E> = (0..40).map(|i| track(1, i, 1 << 20)).collect();
        assert_eq!(sink.offer(&run), Offer::Return);
        let written = hub.clients().get(client.id()).unwrap().bytes_out as usize;
        let kept: usize = sink.rest.iter().map(Bytes::len).sum();
        assert!(written > 0 && kept > 0);
        assert_eq!(written + kept, 40 << 20, "nothing lost or repeated");
        let first = written / (1 << 20);
        assert_eq!(sink.rest[0][0], first as u8, "the rest starts mid-entry");
    }
}
