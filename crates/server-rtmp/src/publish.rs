//! The publishing side of a connection: RTMP messages in, frames to the
//! hub. It never writes to the socket: answers go through the session.

use bytes::Bytes;
use tracing::{info, warn};
use weir_flv::FlvError;
use weir_hub::{Admission, Clients, Hub, HubError, Publisher};
use weir_media::{StreamKey, Unwrapper};
use weir_rtmp::server::ServerSession;

use crate::conn::Peer;
use crate::end::End;

/// A connection that publishes a stream.
pub(crate) struct Publishing {
    publisher: Publisher,
    /// Held while publishing; dropping it sends `on_unpublish`.
    _admission: Admission,
    stream_id: u32,
    /// RTMP timestamps are 32-bit and wrap after ~49.7 days.
    clock: Unwrapper,
    frames: u64,
    /// Where refused frames are counted (`unsupported_codec`).
    clients: Clients,
    protocol: &'static str,
    /// Frames of codecs weir cannot carry (Speex, Sorenson H.263...),
    /// dropped; the first is logged.
    refused: u64,
}

impl Publishing {
    /// Starts publishing `key`, which the access check allowed, and
    /// answers the client; `None` if the hub refused (the client has been
    /// told why).
    pub(crate) fn start(
        hub: &Hub,
        session: &mut ServerSession,
        peer: &Peer,
        stream_id: u32,
        key: StreamKey,
        admission: Admission,
    ) -> Option<Publishing> {
        let id = peer.client.id();
        match hub.publish(&admission) {
            Ok(publisher) => {
                info!(id, peer = %peer.addr, stream = %key, "rtmp publish");
                session.accept_publish(stream_id);
                Some(Publishing {
                    publisher,
                    _admission: admission,
                    stream_id,
                    clock: Unwrapper::new(),
                    frames: 0,
                    clients: hub.clients().clone(),
                    protocol: peer.protocol,
                    refused: 0,
                })
            }
            Err(HubError::AlreadyPublishing(_)) => {
                info!(id, peer = %peer.addr, stream = %key, "rtmp publish refused: already publishing");
                session.reject_publish(
                    stream_id,
                    "NetStream.Publish.BadName",
                    &format!("{key} is already publishing"),
                );
                None
            }
            Err(e) => {
                warn!(id, stream = %key, error = %e, "rtmp publish refused");
                session.reject_publish(stream_id, "NetStream.Publish.Denied", &e.to_string());
                None
            }
        }
    }

    /// An audio, video or script data message from the publisher.
    pub(crate) fn on_media(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<(), End> {
        let dts = self.clock.unwrap(timestamp);
        match weir_flv::frame_from_tag(type_id, dts, payload) {
            Ok(Some(frame)) => {
                self.frames += 1;
                self.publisher.send(frame);
                Ok(())
            }
            Ok(None) => Ok(()),
            // A legacy codec nothing downstream can carry: the frame is
            // dropped, the rest of the stream (say, its video) goes on.
            Err(FlvError::UnsupportedCodec(codec)) => {
                if self.refused == 0 {
                    warn!(stream = %self.publisher.key(), %codec, "rtmp publish: frames of an unsupported codec dropped");
                }
                self.refused += 1;
                self.clients.count_error(self.protocol, "unsupported_codec");
                Ok(())
            }
            Err(e) => Err(End::Protocol(format!(
                "bad media message on stream {}: {e}",
                self.publisher.key()
            ))),
        }
    }

    /// Resolves when the hub closed this publisher (taken over, kicked).
    pub(crate) async fn closed(&self) {
        self.publisher.closed().await;
    }

    /// Ends publishing; dropping the publisher tells the hub (and so
    /// every player).
    pub(crate) fn stop(self, peer: &Peer) {
        info!(
            id = peer.client.id(),
            peer = %peer.addr,
            stream = %self.publisher.key(),
            stream_id = self.stream_id,
            frames = self.frames,
            refused = self.refused,
            "rtmp unpublish"
        );
    }
}
