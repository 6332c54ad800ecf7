//! A viewer's write side and where its entries come from: its own
//! receiver, or the stream's write pass while it is parked. One home for
//! the park / return / reclaim dance that every adapter with parked viewers
//! goes through.
//!
//! The rule that keeps a viewer's byte stream whole — while parked, its
//! socket belongs to the write pass; its task must reclaim it before
//! writing anything itself, and write what the pass left unsent first —
//! is kept by the type: the task's writer `W` lives inside the [`Feed`],
//! and the only way to it is [`Feed::reclaim`], which takes the socket
//! back from the pass and puts the unsent rest in front of the task's own
//! queue.

use bytes::Bytes;
use weir_hub::{Entry, Parking, Receiver};

use crate::sink::{Picker, SocketSink};

/// A viewer's writer and its source of entries.
pub struct Feed<T: Entry, P, W> {
    writer: W,
    source: Source<T, P>,
}

/// Where a viewer's entries come from.
enum Source<T: Entry, P> {
    /// No receiver: not (or no longer) subscribed, or paused (an RTMP
    /// player that paused resumes at the latest keyframe like a new
    /// viewer). The task writes only its own output.
    None,
    /// The viewer's task takes entries from its receiver.
    Own(Receiver<T>),
    /// Parked: the stream's write pass writes for the viewer.
    Parked(Parking<T, SocketSink<P>>),
}

/// What [`Feed::next`] found.
pub enum Next<T: Entry, P> {
    /// Entries were appended to the batch.
    Batch,
    /// The stream's channel closed.
    Closed,
    /// The write pass handed the viewer back; give it to
    /// [`Feed::returned`]. `None` if the pass failed.
    Returned(Option<(Receiver<T>, SocketSink<P>)>),
}

impl<T: Entry, P: Picker<T>, W> Feed<T, P, W> {
    /// A feed writing with `writer`, taking entries from `rx` if given.
    pub fn new(writer: W, rx: Option<Receiver<T>>) -> Self {
        Feed {
            writer,
            source: rx.map_or(Source::None, Source::Own),
        }
    }

    /// Waits for entries (appending up to `max` to `batch`), for a parked
    /// viewer to be handed back, or forever without a receiver.
    /// Cancel-safe.
    pub async fn next(&mut self, batch: &mut Vec<T>, max: usize) -> Next<T, P> {
        match &mut self.source {
            Source::None => std::future::pending().await,
            Source::Parked(parking) => Next::Returned(parking.returned().await),
            Source::Own(rx) => match rx.recv_batch(batch, max).await {
                Ok(()) => Next::Batch,
                Err(_) => Next::Closed,
            },
        }
    }

    /// The receiver, when the task holds it.
    pub fn receiver(&self) -> Option<&Receiver<T>> {
        match &self.source {
            Source::Own(rx) => Some(rx),
            _ => None,
        }
    }

    /// True while parked.
    pub fn is_parked(&self) -> bool {
        matches!(self.source, Source::Parked(_))
    }

    /// Parks a caught-up receiver with the sink `sink` makes from the
    /// writer (`None`: this writer cannot be handed to a write pass, e.g.
    /// TLS). Stays as it is when the task still has bytes of its own to
    /// write (`out`), has no receiver, or the receiver has entries left or
    /// the channel is running a pass (the next batch tries again).
    pub fn try_park(&mut self, out: &[Bytes], sink: impl FnOnce(&W) -> Option<SocketSink<P>>) {
        if !out.is_empty() || !matches!(self.source, Source::Own(_)) {
            return;
        }
        let Some(sink) = sink(&self.writer) else {
            return;
        };
        let rx = match std::mem::replace(&mut self.source, Source::None) {
            Source::Own(rx) => rx,
            other => {
                self.source = other;
                return;
            }
        };
        self.source = match rx.park(sink) {
            Ok(parking) => Source::Parked(parking),
            Err((rx, _)) => Source::Own(rx),
        };
    }

    /// The writer, for the task's own writes: a parked viewer is taken
    /// back first (at once, or after the pass running now), and what the
    /// pass could not write is put in front of `out`, so that it goes out
    /// first. `Err` if the pass failed (the viewer's stream is then cut
    /// mid-message and must end; the feed is left without a receiver).
    pub async fn reclaim(&mut self, out: &mut Vec<Bytes>) -> Result<&mut W, PassFailed> {
        match std::mem::replace(&mut self.source, Source::None) {
            Source::Parked(parking) => {
                let pair = parking.reclaim().await;
                self.returned(pair, out)?;
            }
            other => self.source = other,
        }
        Ok(&mut self.writer)
    }

    /// Takes back a viewer the pass handed back ([`Next::Returned`]): the
    /// receiver resumes, and what the pass could not write is put in front
    /// of `out`.
    pub fn returned(
        &mut self,
        pair: Option<(Receiver<T>, SocketSink<P>)>,
        out: &mut Vec<Bytes>,
    ) -> Result<(), PassFailed> {
        let Some((rx, sink)) = pair else {
            self.source = Source::None;
            return Err(PassFailed);
        };
        self.source = Source::Own(rx);
        let mut rest = sink.rest;
        if !rest.is_empty() {
            rest.append(out);
            *out = rest;
        }
        Ok(())
    }

    /// Replaces the receiver (`None`: take no entries, e.g. paused or
    /// stopped), reclaiming a parked viewer first so that nothing the pass
    /// left unsent is lost.
    pub async fn set_receiver(
        &mut self,
        rx: Option<Receiver<T>>,
        out: &mut Vec<Bytes>,
    ) -> Result<(), PassFailed> {
        self.reclaim(out).await?;
        self.source = rx.map_or(Source::None, Source::Own);
        Ok(())
    }
}

/// A sink was lost in a write pass that panicked; its viewer must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassFailed;

impl std::fmt::Display for PassFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream's write pass failed")
    }
}

impl std::error::Error for PassFailed {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Pick;
    use crate::SharedTcp;
    use tokio::net::TcpStream;
    use weir_hub::{Channel, ChannelConfig, Class, ClientInfo, Hub, HubConfig};

    #[derive(Clone)]
    struct E(Bytes);

    impl Entry for E {
        fn class(&self) -> Class {
            Class::Delta
        }
    }

    struct All;

    impl Picker<E> for All {
        fn pick<'a>(&self, entry: &'a E) -> Pick<'a> {
            Pick::Write(&entry.0)
        }
    }

    /// The writer stand-in: the test only checks who may reach it.
    struct Writer;

    async fn pair() -> (SharedTcp, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        server.writable().await.unwrap();
        (SharedTcp::new(server), client)
    }

    fn counter(hub: &Hub) -> weir_hub::OutCounter {
        hub.clients()
            .register(ClientInfo {
                protocol: "test",
                addr: "127.0.0.1:1".parse().unwrap(),
                role: None,
            })
            .out_counter()
    }

    fn mine() -> Vec<Bytes> {
        vec![Bytes::from_static(b"mine")]
    }

    #[tokio::test]
    async fn parks_only_with_nothing_of_its_own_to_write() {
        let hub = Hub::new(HubConfig::default());
        let (socket, _peer) = pair().await;
        let channel = Channel::<E>::new(ChannelConfig::default());
        let mut feed: Feed<E, All, Writer> = Feed::new(Writer, Some(channel.subscribe()));
        let sink = |_: &Writer| Some(SocketSink::new(socket.clone(), All, counter(&hub)));
        feed.try_park(&mine(), sink);
        assert!(!feed.is_parked(), "own bytes queued");
        feed.try_park(&[], |_| None);
        assert!(!feed.is_parked(), "a writer that cannot be lent");
        feed.try_park(&[], sink);
        assert!(feed.is_parked());
        assert!(feed.receiver().is_none(), "the receiver is with the pass");
        // The pass takes what fits; the writer comes back with nothing
        // left over, and the receiver with it.
        channel.push(E(Bytes::from_static(b"x")));
        let mut out = mine();
        feed.reclaim(&mut out).await.unwrap();
        assert!(!feed.is_parked() && feed.receiver().is_some());
        assert_eq!(out, mine());
    }

    #[tokio::test]
    async fn what_the_pass_left_unsent_goes_before_the_tasks_own_bytes() {
        let hub = Hub::new(HubConfig::default());
        let (socket, _peer) = pair().await;
        let channel = Channel::<E>::new(ChannelConfig::default());
        let mut feed: Feed<E, All, Writer> = Feed::new(Writer, Some(channel.subscribe()));
        feed.try_park(&[], |_| {
            Some(SocketSink::new(socket.clone(), All, counter(&hub)))
        });
        assert!(feed.is_parked());
        // Far more than the socket buffers take without a reader: the
        // pass hands the viewer back with the rest of a 1 MB entry.
        for i in 0..40u8 {
            channel.push(E(Bytes::from(vec![i; 1 << 20])));
        }
        let mut batch = Vec::new();
        let next =
            tokio::time::timeout(std::time::Duration::from_secs(10), feed.next(&mut batch, 8))
                .await
                .expect("handed back within 10 s");
        let Next::Returned(pair) = next else {
            panic!("expected the viewer back");
        };
        let mut out = mine();
        feed.returned(pair, &mut out).unwrap();
        assert!(out.len() > 1, "the rest of the pass comes first");
        assert_eq!(out.last(), mine().last(), "the task's own bytes after it");
        assert!(feed.receiver().is_some());
        // A lost sink ends the viewer but leaves the feed usable.
        assert_eq!(feed.returned(None, &mut out), Err(PassFailed));
        assert!(feed.receiver().is_none());
    }
}
