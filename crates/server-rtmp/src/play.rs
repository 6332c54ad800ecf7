//! The playing side of a connection: shared chunk bytes out.
//!
//! A player's task takes its stream's chunked messages from the egress
//! channel and writes them. Once it has caught up (and the connection is
//! plain TCP without merged writes) it parks: the stream's write pass then
//! writes to its socket directly (`crate::direct`) until it needs its task
//! again — a full socket, a status message, or input from the client.

use tokio::time::Instant;
use tracing::info;
use weir_hub::{Admission, Receiver, Role};
use weir_media::{StreamKey, TrackKind};

use crate::conn::{sleep_until, Conn, End, Mode};
use crate::direct::{DirectPlayer, Tracks};
use crate::muxer::{Muxed, MEDIA_STREAM_ID};

/// Where a player's entries come from.
pub(crate) type Feed = weir_netio::Feed<Muxed, Tracks>;

/// What a player's task has to do next.
pub(crate) type Next = weir_netio::Next<Muxed, Tracks>;

/// A connection that plays a stream.
pub(crate) struct Player {
    key: StreamKey,
    /// Held while playing; dropping it sends `on_stop`.
    _admission: Admission,
    stream_id: u32,
    feed: Feed,
    /// `Play.Start` sent.
    started: bool,
    /// Waiting for a publisher until then.
    wait_until: Option<Instant>,
    want_audio: bool,
    want_video: bool,
    /// `Receiver::dropped` already reported to the client counters.
    reported_dropped: u64,
    /// Merged writes: the next write waits until then, gathering what
    /// arrives meanwhile; `None` writes as soon as something is queued.
    hold_until: Option<Instant>,
}

/// Entries taken from the egress channel per wakeup.
const MAX_BATCH: usize = 512;

/// Per-player queues larger than this (in entries) are shrunk to [`KEEP`]
/// once written: thousands of players each keeping a GOP-sized vector
/// would cost more memory than the GOP itself.
const SHRINK_ABOVE: usize = 64;
const KEEP: usize = 8;

impl Player {
    /// Waits for entries to write and appends them to `batch` (at least
    /// one). `None` (pending forever) while paused.
    ///
    /// With merged writes the player first sleeps until its hold time,
    /// without listening to the channel at all, and then takes everything
    /// that arrived meanwhile: one timer wakeup and one `writev` per hold,
    /// however many messages came. A player whose hold has passed with
    /// nothing queued waits for the next entry and sends it at once, so an
    /// idle stream's first message is never delayed.
    ///
    /// A parked player waits for the write pass to hand it back; a paused
    /// one waits forever.
    ///
    /// Cancel-safe: taken entries stay in `batch` (the caller's), and an
    /// interrupted hold resumes until the same instant.
    pub(crate) async fn next(&mut self, batch: &mut Vec<Muxed>) -> Next {
        if !batch.is_empty() {
            return Next::Batch;
        }
        if let (Some(until), Feed::Own(_)) = (self.hold_until, &self.feed) {
            if until > Instant::now() {
                sleep_until(Some(until)).await;
            }
            self.hold_until = None;
        }
        self.feed.next(batch, MAX_BATCH).await
    }

    pub(crate) fn wait_deadline(&self) -> Option<Instant> {
        if self.started {
            None
        } else {
            self.wait_until
        }
    }
}

impl Conn {
    /// Starts playing `key`, which the access check allowed.
    pub(crate) fn start_play(&mut self, stream_id: u32, key: StreamKey, admission: Admission) {
        if stream_id != MEDIA_STREAM_ID {
            // Every player shares the same chunk bytes, which carry message
            // stream id 1: the first id createStream returns.
            self.session.reject_play(
                stream_id,
                "NetStream.Play.Failed",
                "weir plays on the first stream created by a connection only",
            );
            return;
        }
        let rx = self.shared.egress.subscribe(&key);
        let live = self.shared.hub.is_live(&key);
        let wait = self.shared.config.play_wait;
        if !live && wait.is_zero() {
            self.session.reject_play(
                stream_id,
                "NetStream.Play.StreamNotFound",
                &format!("{key} is not live"),
            );
            return;
        }
        info!(id = self.client.id(), peer = %self.peer, stream = %key, live, "rtmp play");
        self.set_role(&key, Role::Play);
        let mut player = Player {
            key,
            _admission: admission,
            stream_id,
            feed: Feed::Own(rx),
            started: false,
            wait_until: Some(Instant::now() + wait),
            want_audio: true,
            want_video: true,
            reported_dropped: 0,
            hold_until: None,
        };
        if live {
            self.session.accept_play(stream_id, true);
            player.started = true;
        }
        self.mode = Mode::Playing(player);
    }

    /// Queues a batch of shared entries (and any status messages they
    /// imply) and writes them in one vectored write.
    pub(crate) async fn play_batch(&mut self, batch: &mut Vec<Muxed>) -> Result<(), End> {
        for entry in batch.drain(..) {
            let Mode::Playing(p) = &mut self.mode else {
                break;
            };
            match entry {
                Muxed::Media { kind, bytes, .. } => {
                    if !p.started {
                        p.started = true;
                        self.session.accept_play(p.stream_id, true);
                        // Status first, then media, in the order written.
                        self.drain_session()?;
                    }
                    let Mode::Playing(p) = &self.mode else {
                        break;
                    };
                    let wanted = match kind {
                        TrackKind::Audio => p.want_audio,
                        TrackKind::Video => p.want_video,
                        TrackKind::Data => true,
                    };
                    if wanted {
                        self.out.push(bytes);
                    }
                }
                Muxed::Published => {
                    if p.started {
                        self.session.notify_publish(p.stream_id);
                    } else {
                        p.started = true;
                        self.session.accept_play(p.stream_id, true);
                    }
                    self.drain_session()?;
                }
                Muxed::Unpublished => {
                    if p.started {
                        self.session.notify_unpublish(p.stream_id);
                        self.drain_session()?;
                    }
                }
                // An encoder took the stream over: its headers follow, and
                // players carry on (ffmpeg and most players end playback on
                // StreamEOF, which is only right when the stream stopped).
                Muxed::Replaced => {}
            }
        }
        let merge = self.shared.config.merge_write;
        if let Mode::Playing(p) = &mut self.mode {
            if let Some(rx) = p.feed.receiver() {
                let dropped = rx.dropped();
                if dropped > p.reported_dropped {
                    self.client.add_dropped(dropped - p.reported_dropped);
                    p.reported_dropped = dropped;
                }
            }
            p.hold_until = (!merge.is_zero()).then(|| Instant::now() + merge);
        }
        self.flush().await?;
        // A join (headers + GOP) or a stall makes one big batch; do not
        // keep its buffers for the life of the connection.
        if batch.capacity() > SHRINK_ABOVE {
            batch.shrink_to(KEEP);
        }
        if self.out.capacity() > SHRINK_ABOVE {
            self.out.shrink_to(KEEP);
        }
        self.try_park();
        Ok(())
    }

    /// Hands a caught-up player to its stream's write pass. Only on plain
    /// TCP (TLS must encrypt per connection) without merged writes (which
    /// are timed per player), and with nothing of its own left to write.
    fn try_park(&mut self) {
        let Some(tcp) = self.socket.tcp() else {
            return;
        };
        if !self.out.is_empty()
            || self.pending.is_some()
            || !self.shared.config.merge_write.is_zero()
        {
            return;
        }
        let Mode::Playing(p) = &mut self.mode else {
            return;
        };
        if !p.started {
            return;
        }
        let tracks = Tracks {
            audio: p.want_audio,
            video: p.want_video,
        };
        let sent = self.client.out_counter();
        p.feed
            .try_park(|| DirectPlayer::new(tcp.clone(), tracks, sent));
    }

    /// Takes a parked player back from the write pass (at once, or after
    /// the pass running now), before the connection writes or changes
    /// anything of its own.
    pub(crate) async fn unpark(&mut self) -> Result<(), End> {
        let Mode::Playing(p) = &mut self.mode else {
            return Ok(());
        };
        let rest = p.feed.unpark().await;
        self.write_first(rest)
    }

    /// A player the write pass handed back: its receiver resumes, and what
    /// the pass could not write goes out first.
    pub(crate) fn returned(
        &mut self,
        pair: Option<(Receiver<Muxed>, DirectPlayer)>,
    ) -> Result<(), End> {
        let Mode::Playing(p) = &mut self.mode else {
            return Ok(());
        };
        let rest = p.feed.returned(pair);
        self.write_first(rest)
    }

    fn write_first(
        &mut self,
        rest: Result<Vec<bytes::Bytes>, weir_netio::PassFailed>,
    ) -> Result<(), End> {
        let mut rest = rest.map_err(|e| End::Io(std::io::Error::other(e)))?;
        if !rest.is_empty() {
            rest.append(&mut self.out);
            self.out = rest;
        }
        Ok(())
    }

    pub(crate) fn play_wait_expired(&mut self) -> Result<(), End> {
        if let Mode::Playing(p) = &self.mode {
            if !p.started {
                let (stream_id, key) = (p.stream_id, p.key.clone());
                info!(id = self.client.id(), stream = %key, "rtmp play: no publisher in time");
                self.session.reject_play(
                    stream_id,
                    "NetStream.Play.StreamNotFound",
                    &format!("{key} is not live"),
                );
                self.mode = Mode::Idle;
            }
        }
        Ok(())
    }

    pub(crate) fn pause(&mut self, paused: bool) {
        if let Mode::Playing(p) = &mut self.mode {
            if paused {
                p.feed = Feed::Paused;
            } else if matches!(p.feed, Feed::Paused) {
                p.feed = Feed::Own(self.shared.egress.subscribe(&p.key));
            }
        }
    }

    pub(crate) fn set_receive(&mut self, audio: bool, enabled: bool) {
        if let Mode::Playing(p) = &mut self.mode {
            if audio {
                p.want_audio = enabled;
            } else {
                p.want_video = enabled;
            }
        }
    }

    pub(crate) fn stop_play(&mut self) {
        if let Mode::Playing(p) = &self.mode {
            info!(id = self.client.id(), peer = %self.peer, stream = %p.key, "rtmp stop play");
            self.mode = Mode::Idle;
        }
    }
}
