//! The playing side of a connection: shared chunk bytes out.
//!
//! A player takes its stream's chunked messages from the egress channel
//! and queues them behind the session's own messages; the connection loop
//! writes them. Once it has caught up (and the connection is plain TCP
//! without merged writes) the loop parks it: the stream's write pass then
//! writes to its socket directly (`crate::park`) until it needs its task
//! again — a full socket, a status message, or input from the client.
//! A [`Player`] never holds the socket: it takes the [`PlayerFeed`] (which
//! does) and the session as arguments.

use std::time::Duration;

use tokio::time::Instant;
use tracing::info;
use weir_hub::{Admission, ClientHandle, Egress, Receiver};
use weir_media::StreamKey;
use weir_rtmp::server::ServerSession;

use crate::conn::Peer;
use crate::muxer::{Muxed, RtmpMuxer, MEDIA_STREAM_ID};
use crate::park::{PlayerSink, Tracks};
use crate::transport::Writer;
use crate::wire::Wire;
use crate::Shared;

/// A connection's writer and, while it plays, where its entries come from.
pub(crate) type PlayerFeed = weir_netio::Feed<Muxed, Tracks, Writer>;

/// What a player's task has to do next.
pub(crate) type Next = weir_netio::Next<Muxed, Tracks>;

/// A connection that plays a stream.
pub(crate) struct Player {
    key: StreamKey,
    /// Held while playing; dropping it sends `on_stop`.
    /// The access check's admission: what the player subscribes with,
    /// kept for the session (its drop sends `on_stop`).
    admission: Admission,
    stream_id: u32,
    /// `Play.Start` sent.
    started: bool,
    /// Waiting for a publisher until then.
    wait_until: Instant,
    tracks: Tracks,
    /// `Receiver::dropped` already reported to the client counters.
    reported_dropped: u64,
    /// Merged writes: the next write waits until then, gathering what
    /// arrives meanwhile; `None` writes as soon as something is queued.
    hold_until: Option<Instant>,
    /// `rtmp.merge_write_ms`.
    merge: Duration,
}

/// Entries taken from the egress channel per wakeup.
const MAX_BATCH: usize = 512;

impl Player {
    /// Starts playing `key`, which the access check allowed, and answers
    /// the client. Returns the player and its receiver, or `None` if it
    /// cannot play (the client has been told why).
    pub(crate) fn start(
        shared: &Shared,
        session: &mut ServerSession,
        peer: &Peer,
        stream_id: u32,
        key: StreamKey,
        admission: Admission,
    ) -> Option<(Player, Receiver<Muxed>)> {
        if stream_id != MEDIA_STREAM_ID {
            // Every player shares the same chunk bytes, which carry message
            // stream id 1: the first id createStream returns.
            session.reject_play(
                stream_id,
                "NetStream.Play.Failed",
                "weir plays on the first stream created by a connection only",
            );
            return None;
        }
        let wait = shared.config.play_wait;
        let mut player = Player {
            key,
            admission,
            stream_id,
            started: false,
            wait_until: Instant::now() + wait,
            tracks: Tracks {
                audio: true,
                video: true,
            },
            reported_dropped: 0,
            hold_until: None,
            merge: shared.config.merge_write,
        };
        // Subscribed before asking whether the stream is live, so that a
        // publisher starting in between is not missed.
        let rx = player.subscribe(&shared.egress);
        let key = &player.key;
        let live = shared.hub.is_live(key);
        if !live && wait.is_zero() {
            session.reject_play(
                stream_id,
                "NetStream.Play.StreamNotFound",
                &format!("{key} is not live"),
            );
            return None;
        }
        info!(id = peer.client.id(), peer = %peer.addr, stream = %key, live, "rtmp play");
        if live {
            session.accept_play(stream_id, true);
            player.started = true;
        }
        Some((player, rx))
    }

    /// The stream's egress receiver: at the start and when a paused
    /// player resumes (at the latest keyframe, like a new player).
    pub(crate) fn subscribe(&self, egress: &Egress<RtmpMuxer>) -> Receiver<Muxed> {
        egress.subscribe(&self.admission)
    }

    /// Waits for entries to write and appends them to `batch` (at least
    /// one), or for the write pass to hand a parked player back. Pending
    /// forever while paused.
    ///
    /// With merged writes the player first sleeps until its hold time,
    /// without listening to the channel at all, and then takes everything
    /// that arrived meanwhile: one timer wakeup and one `writev` per hold,
    /// however many messages came. A player whose hold has passed with
    /// nothing queued waits for the next entry and sends it at once, so an
    /// idle stream's first message is never delayed.
    ///
    /// Cancel-safe: taken entries stay in `batch` (the caller's), and an
    /// interrupted hold resumes until the same instant.
    pub(crate) async fn next(&mut self, feed: &mut PlayerFeed, batch: &mut Vec<Muxed>) -> Next {
        if !batch.is_empty() {
            return Next::Batch;
        }
        if let (Some(until), Some(_)) = (self.hold_until, feed.receiver()) {
            if until > Instant::now() {
                tokio::time::sleep_until(until).await;
            }
            self.hold_until = None;
        }
        feed.next(batch, MAX_BATCH).await
    }

    /// Until when a player of a stream that is not live waits for it.
    pub(crate) fn wait_deadline(&self) -> Option<Instant> {
        (!self.started).then_some(self.wait_until)
    }

    /// Queues a batch of shared entries, and the status messages they
    /// imply, on `wire`; counts what the receiver lost to lag.
    pub(crate) fn queue(
        &mut self,
        batch: &mut Vec<Muxed>,
        wire: &mut Wire,
        feed: &PlayerFeed,
        client: &ClientHandle,
    ) {
        for entry in batch.drain(..) {
            match entry {
                Muxed::Media { kind, bytes, .. } => {
                    if !self.started {
                        self.started = true;
                        wire.session.accept_play(self.stream_id, true);
                    }
                    if self.tracks.wants(kind) {
                        wire.push_media(bytes);
                    }
                }
                Muxed::Published => {
                    if self.started {
                        wire.session.notify_publish(self.stream_id);
                    } else {
                        self.started = true;
                        wire.session.accept_play(self.stream_id, true);
                    }
                }
                Muxed::Unpublished => {
                    if self.started {
                        wire.session.notify_unpublish(self.stream_id);
                    }
                }
                // An encoder took the stream over: its headers follow, and
                // players carry on (ffmpeg and most players end playback on
                // StreamEOF, which is only right when the stream stopped).
                Muxed::Replaced => {}
            }
        }
        if let Some(rx) = feed.receiver() {
            let dropped = rx.dropped();
            if dropped > self.reported_dropped {
                client.add_dropped(dropped - self.reported_dropped);
                self.reported_dropped = dropped;
            }
        }
        self.hold_until = (!self.merge.is_zero()).then(|| Instant::now() + self.merge);
    }

    /// The sink a caught-up player parks with: only on plain TCP (TLS
    /// must encrypt per connection), without merged writes (which are
    /// timed per player), and once playback started.
    pub(crate) fn sink(&self, writer: &Writer, client: &ClientHandle) -> Option<PlayerSink> {
        let tcp = writer.tcp()?;
        if !self.started || !self.merge.is_zero() {
            return None;
        }
        Some(PlayerSink::new(
            tcp.clone(),
            self.tracks,
            client.out_counter(),
        ))
    }

    /// The play wait passed: a player still without a publisher is told
    /// the stream is not live and stops (`true`).
    pub(crate) fn wait_expired(&self, session: &mut ServerSession, peer: &Peer) -> bool {
        if self.started {
            return false;
        }
        info!(id = peer.client.id(), stream = %self.key, "rtmp play: no publisher in time");
        session.reject_play(
            self.stream_id,
            "NetStream.Play.StreamNotFound",
            &format!("{} is not live", self.key),
        );
        true
    }

    /// receiveAudio / receiveVideo.
    pub(crate) fn set_receive(&mut self, audio: bool, enabled: bool) {
        if audio {
            self.tracks.audio = enabled;
        } else {
            self.tracks.video = enabled;
        }
    }

    /// Ends playing (the receiver goes with the feed's).
    pub(crate) fn stop(self, peer: &Peer) {
        info!(id = peer.client.id(), peer = %peer.addr, stream = %self.key, "rtmp stop play");
    }
}
