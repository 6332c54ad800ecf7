//! A parked player's sink: the stream's write pass writes to its socket.
//!
//! A player that has caught up with its stream hands its receiver and one
//! of these to the egress channel (`weir_hub::Receiver::park`). From then
//! on the muxer task, when it wakes the channel, offers each new run of
//! chunked messages to every parked player in one pass: one non-blocking
//! `writev` per player and nothing else — no task wakeup, no channel
//! cursor, no `select!`. That was a quarter of the server's CPU with a
//! thousand players (docs/benchmarks.md).
//!
//! Whatever the sink cannot do alone sends it back to the player's task:
//! a full socket (the rest of the write is kept in [`DirectPlayer::rest`]
//! and written first, under the write timeout), or a status entry
//! (publish/unpublish notifications need the session).

use std::io::IoSlice;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use tokio::net::TcpStream;
use weir_hub::{Offer, OutCounter, Sink};
use weir_media::TrackKind;

use crate::muxer::Muxed;
use crate::write::MAX_IOV;

/// The writer the write pass calls for one parked player.
pub(crate) struct DirectPlayer {
    socket: Arc<TcpStream>,
    want_audio: bool,
    want_video: bool,
    sent: OutCounter,
    /// What a short write left over, to be written before anything else.
    pub(crate) rest: Vec<Bytes>,
}

impl DirectPlayer {
    pub(crate) fn new(
        socket: Arc<TcpStream>,
        want_audio: bool,
        want_video: bool,
        sent: OutCounter,
    ) -> Self {
        DirectPlayer {
            socket,
            want_audio,
            want_video,
            sent,
            rest: Vec::new(),
        }
    }

    /// The chunk bytes of `entry` this player writes, if any.
    fn bytes<'a>(&self, entry: &'a Muxed) -> Option<&'a Bytes> {
        match entry {
            Muxed::Media { kind, bytes, .. } => {
                let wanted = match kind {
                    TrackKind::Audio => self.want_audio,
                    TrackKind::Video => self.want_video,
                    TrackKind::Data => true,
                };
                wanted.then_some(bytes)
            }
            _ => None,
        }
    }

    /// Keeps what is left of the wanted bytes after the first `written`.
    fn keep_rest(&mut self, entries: &[Muxed], mut written: usize) {
        for entry in entries {
            let Some(bytes) = self.bytes(entry) else {
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

impl Sink<Muxed> for DirectPlayer {
    fn offer(&mut self, entries: &[Muxed]) -> Offer {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let (mut count, mut total) = (0, 0);
        for entry in entries {
            match entry {
                // Status notifications go through the session.
                Muxed::Published | Muxed::Unpublished => return Offer::Decline,
                // Players carry on across an encoder takeover.
                Muxed::Replaced => continue,
                Muxed::Media { .. } => {}
            }
            let Some(bytes) = self.bytes(entry) else {
                continue;
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
        // check, which costs a cache miss per player per pass. If the
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
    use weir_hub::{Class, ClientInfo, Hub, HubConfig};

    fn media(kind: TrackKind, fill: u8, len: usize) -> Muxed {
        Muxed::Media {
            kind,
            class: Class::Delta,
            bytes: Bytes::from(vec![fill; len]),
        }
    }

    async fn pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Arc::new(server), client)
    }

    fn counter(hub: &Hub) -> weir_hub::ClientHandle {
        hub.clients().register(ClientInfo {
            protocol: "rtmp",
            addr: "127.0.0.1:1".parse().unwrap(),
            role: None,
        })
    }

    #[tokio::test]
    async fn writes_wanted_media_and_declines_status() {
        let hub = Hub::new(HubConfig::default());
        let client = counter(&hub);
        let (server, mut peer) = pair().await;
        server.writable().await.unwrap();
        let mut sink = DirectPlayer::new(server, false, true, client.out_counter());
        let run = [
            media(TrackKind::Video, 1, 10),
            media(TrackKind::Audio, 2, 5),
            Muxed::Replaced,
            media(TrackKind::Data, 3, 4),
        ];
        assert_eq!(sink.offer(&run), Offer::Taken);
        let mut got = [0u8; 14];
        tokio::io::AsyncReadExt::read_exact(&mut peer, &mut got)
            .await
            .unwrap();
        assert_eq!(&got[..10], &[1; 10], "video, no audio");
        assert_eq!(&got[10..], &[3; 4]);
        assert_eq!(hub.clients().get(client.id()).unwrap().bytes_out, 14);
        assert_eq!(
            sink.offer(&[media(TrackKind::Video, 1, 1), Muxed::Unpublished]),
            Offer::Decline
        );
    }

    #[tokio::test]
    async fn a_full_socket_keeps_the_rest_and_returns() {
        let hub = Hub::new(HubConfig::default());
        let client = counter(&hub);
        let (server, _peer) = pair().await;
        server.writable().await.unwrap();
        let mut sink = DirectPlayer::new(server, true, true, client.out_counter());
        // Far more than the socket buffers take without a reader.
        let run: Vec<Muxed> = (0..40)
            .map(|i| media(TrackKind::Video, i, 1 << 20))
            .collect();
        assert_eq!(sink.offer(&run), Offer::Return);
        let written = hub.clients().get(client.id()).unwrap().bytes_out as usize;
        let kept: usize = sink.rest.iter().map(Bytes::len).sum();
        assert!(written > 0 && kept > 0);
        assert_eq!(written + kept, 40 << 20, "nothing lost or repeated");
        let first = written / (1 << 20);
        assert_eq!(sink.rest[0][0], first as u8, "the rest starts mid-message");
    }
}
