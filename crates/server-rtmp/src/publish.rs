//! The publishing side of a connection: RTMP messages in, frames to the hub.

use bytes::Bytes;
use tracing::{info, warn};
use weir_hub::{Admission, HubError, Publisher, Role};
use weir_media::{StreamKey, Unwrapper};

use crate::conn::{Conn, End, Mode};

/// A connection that publishes a stream.
pub(crate) struct Publishing {
    publisher: Publisher,
    /// Held while publishing; dropping it sends `on_unpublish`.
    _admission: Admission,
    stream_id: u32,
    /// RTMP timestamps are 32-bit and wrap after ~49.7 days.
    clock: Unwrapper,
    frames: u64,
}

impl Publishing {
    pub(crate) fn key(&self) -> &StreamKey {
        self.publisher.key()
    }

    pub(crate) async fn closed(&self) {
        self.publisher.closed().await;
    }
}

impl Conn {
    /// Starts publishing `key`, which the access check allowed.
    pub(crate) fn start_publish(&mut self, stream_id: u32, key: StreamKey, admission: Admission) {
        match self.shared.hub.publish(&key, self.client.id()) {
            Ok(publisher) => {
                info!(id = self.client.id(), peer = %self.peer, stream = %key, "rtmp publish");
                self.set_role(&key, Role::Publish);
                self.session.accept_publish(stream_id);
                self.mode = Mode::Publishing(Publishing {
                    publisher,
                    _admission: admission,
                    stream_id,
                    clock: Unwrapper::new(),
                    frames: 0,
                });
            }
            Err(HubError::AlreadyPublishing(_)) => {
                info!(id = self.client.id(), peer = %self.peer, stream = %key, "rtmp publish refused: already publishing");
                self.session.reject_publish(
                    stream_id,
                    "NetStream.Publish.BadName",
                    &format!("{key} is already publishing"),
                );
            }
            Err(e) => {
                warn!(id = self.client.id(), stream = %key, error = %e, "rtmp publish refused");
                self.session
                    .reject_publish(stream_id, "NetStream.Publish.Denied", &e.to_string());
            }
        }
    }

    /// An audio (8), video (9) or data (18) message from the publisher.
    pub(crate) fn on_media(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<(), End> {
        let Mode::Publishing(p) = &mut self.mode else {
            // Media before publish is a client bug, not an attack: ignore it.
            return Ok(());
        };
        let dts = p.clock.unwrap(timestamp);
        match weir_flv::frame_from_tag(type_id, dts, payload) {
            Ok(Some(frame)) => {
                p.frames += 1;
                p.publisher.send(frame);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(End::Protocol(format!(
                "bad media message on stream {}: {e}",
                p.publisher.key()
            ))),
        }
    }

    pub(crate) fn stop_publish(&mut self) {
        if !matches!(self.mode, Mode::Publishing(_)) {
            return;
        }
        if let Mode::Publishing(p) = std::mem::replace(&mut self.mode, Mode::Idle) {
            info!(
                id = self.client.id(),
                peer = %self.peer,
                stream = %p.key(),
                stream_id = p.stream_id,
                frames = p.frames,
                "rtmp unpublish"
            );
            // Dropping the publisher tells the hub (and so every player).
            drop(p);
        }
    }
}
