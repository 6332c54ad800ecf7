//! What a pull publishes through, across its sessions.
//!
//! The hub publisher (with the client entry and admission it was made
//! from) lives as long as the pull is wanted, not as long as one session:
//! while the pull reconnects its players stay connected, and the next
//! session's frames continue the same timeline ([`Timeline`]). It is
//! dropped only when the pull stops (idle, removed, shutdown: the
//! [`Feed`] is dropped) or the hub took the stream away (kicked, taken
//! over: [`Feed::detach`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weir_hub::{Action, Admission, ClientHandle, ClientInfo, CloseReason, Hub, Publisher};
use weir_media::{Frame, StreamKey};

use crate::status::{PullState, Status};
use crate::timeline::Timeline;
use crate::PullError;

/// How often the bit rate shown in the API is updated.
const BITRATE_WINDOW: Duration = Duration::from_secs(2);

/// The publisher of one pull and the counters of its current session.
pub(crate) struct Feed<'a> {
    hub: &'a Hub,
    key: &'a StreamKey,
    status: &'a Status,
    on_air: Option<OnAir>,
    timeline: Timeline,
    /// When the current session's first media frame came.
    first_frame: Option<Instant>,
    /// Start and bytes of the bit rate window.
    window: (Instant, u64),
}

/// A publisher of the pull's stream, with what it was admitted as.
struct OnAir {
    publisher: Publisher,
    /// Held while publishing (internal: no gate to tell).
    _admission: Admission,
    client: ClientHandle,
}

impl<'a> Feed<'a> {
    pub(crate) fn new(hub: &'a Hub, key: &'a StreamKey, status: &'a Status) -> Self {
        Feed {
            hub,
            key,
            status,
            on_air: None,
            timeline: Timeline::default(),
            first_frame: None,
            window: (Instant::now(), 0),
        }
    }

    /// The stream fed.
    pub(crate) fn key(&self) -> &StreamKey {
        self.key
    }

    /// A session begins (before its source is contacted): nothing of it
    /// has flowed yet.
    pub(crate) fn begin(&mut self) {
        self.first_frame = None;
    }

    /// The source plays: frames may follow. Publishes the stream, listed
    /// as a client of `protocol` at `addr`, unless a publisher of an
    /// earlier session is still attached, which carries on.
    pub(crate) fn playing(
        &mut self,
        protocol: &'static str,
        addr: SocketAddr,
    ) -> Result<(), PullError> {
        self.timeline.new_session();
        self.window = (Instant::now(), 0);
        if self.on_air.is_none() {
            let client = self.hub.clients().register(ClientInfo {
                protocol,
                addr,
                role: Some(Action::Publish),
            });
            let admission = self.hub.admit_source(&client, self.key);
            let publisher = self
                .hub
                .publish(&admission)
                .map_err(|e| PullError::Hub(e.to_string()))?;
            self.on_air = Some(OnAir {
                publisher,
                _admission: admission,
                client,
            });
        }
        Ok(())
    }

    /// Sends one frame of the current session; true for its first media
    /// frame (the pull is running).
    pub(crate) fn send(&mut self, mut frame: Frame) -> bool {
        let Some(on_air) = &mut self.on_air else {
            return false;
        };
        let now = Instant::now();
        let len = frame.data.len() as u64;
        self.window.1 += len;
        on_air.client.add_in(len);
        let first = self.first_frame.is_none() && !frame.is_header();
        if first {
            self.first_frame = Some(now);
            self.status.set_state(PullState::Running);
        }
        self.timeline.place(&mut frame, now);
        on_air.publisher.send(frame);
        let elapsed = now.saturating_duration_since(self.window.0);
        if elapsed >= BITRATE_WINDOW {
            self.status
                .set_bitrate(self.window.1 * 8 / elapsed.as_millis().max(1) as u64);
            self.window = (now, 0);
        }
        first
    }

    /// How long the current session's frames have flowed.
    pub(crate) fn ran(&self) -> Duration {
        self.first_frame.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Counts a frame of a codec weir cannot carry (dropped).
    pub(crate) fn count_error(&self, protocol: &'static str, what: &'static str) {
        self.hub.clients().count_error(protocol, what);
    }

    /// Resolves when the hub takes the stream away from this pull (another
    /// publisher, a kick through the API); pending while nothing publishes.
    pub(crate) async fn closed(&self) -> PullError {
        let Some(on_air) = &self.on_air else {
            return std::future::pending().await;
        };
        tokio::select! {
            reason = on_air.publisher.closed() => PullError::Closed(match reason {
                CloseReason::TakenOver => "another publisher took the stream over",
                CloseReason::Kicked => "kicked",
            }),
            () = on_air.client.kicked() => PullError::Closed("kicked"),
        }
    }

    /// Drops the publisher: its players see the stream end.
    pub(crate) fn detach(&mut self) {
        self.on_air = None;
    }
}
