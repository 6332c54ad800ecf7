//! One RTMP connection: socket IO around a sans-IO `ServerSession`.
//!
//! The loop is the one every weir adapter follows: read bytes → hand them
//! to the session → act on its events → write what it queued. A player
//! additionally drains its egress receiver and writes shared chunk bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rand::RngCore;
use tokio::io::AsyncReadExt;
use tracing::{debug, info, warn};
use weir_hub::{Action, ClientHandle, ClientInfo, ConnectInfo, Role};
use weir_media::StreamKey;
use weir_rtmp::chunk::DecoderLimits;
use weir_rtmp::error::{ChunkError, SessionError};
use weir_rtmp::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};

use crate::admit::PendingStart;
use crate::muxer::Muxed;
use crate::play::{Next, Player};
use crate::publish::Publishing;
use crate::transport::{try_write_now, Transport};
use crate::Shared;
use weir_netio::write_all_vectored;

/// Why a connection ended, for the close log line.
#[derive(Debug)]
pub(crate) enum End {
    PeerClosed,
    Shutdown,
    Kicked,
    TakenOver,
    Timeout(&'static str),
    Protocol(String),
    /// The peer's input crossed a configured limit (the limit's name).
    Limit(&'static str, String),
    /// The access check refused a publish or play.
    Denied(String),
    Io(std::io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::PeerClosed => f.write_str("peer closed"),
            End::Shutdown => f.write_str("server shutdown"),
            End::Kicked => f.write_str("kicked"),
            End::TakenOver => f.write_str("publisher taken over or dropped"),
            End::Timeout(what) => write!(f, "{what} timeout"),
            End::Protocol(e) => write!(f, "protocol error: {e}"),
            End::Limit(limit, e) => write!(f, "{limit} exceeded: {e}"),
            End::Denied(why) => write!(f, "access denied: {why}"),
            End::Io(e) => write!(f, "io error: {e}"),
        }
    }
}

impl From<std::io::Error> for End {
    fn from(e: std::io::Error) -> Self {
        End::Io(e)
    }
}

/// Initial socket read buffer of a connection.
const READ_BUF: usize = 4096;

/// What the connection is doing with its stream.
pub(crate) enum Mode {
    Idle,
    Publishing(Publishing),
    Playing(Player),
}

pub(crate) struct Conn {
    pub(crate) socket: Transport,
    pub(crate) peer: SocketAddr,
    pub(crate) session: ServerSession,
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: ClientHandle,
    pub(crate) app: Option<String>,
    /// A query string the client appended to the app name.
    pub(crate) app_query: String,
    /// A publish or play command waiting for the access check.
    pub(crate) pending: Option<PendingStart>,
    pub(crate) mode: Mode,
    pub(crate) handshake_done: bool,
    /// Session output waiting to be written, in order.
    pub(crate) out: Vec<Bytes>,
    /// The last stream this connection published or played, for the
    /// close log line.
    pub(crate) last_key: Option<StreamKey>,
    /// `"rtmp"` or `"rtmps"`.
    pub(crate) protocol: &'static str,
}

/// Serves one connection to its end and logs how it went.
pub(crate) async fn serve(socket: Transport, peer: SocketAddr, shared: Arc<Shared>) {
    let protocol = socket.protocol();
    let client = shared.hub.clients().register(ClientInfo {
        protocol,
        addr: peer,
        role: None,
    });
    let started = Instant::now();
    let id = client.id();
    debug!(id, %peer, "rtmp connect");

    let mut random = [0u8; 1536];
    rand::thread_rng().fill_bytes(&mut random);
    let cfg = &shared.config;
    let session = ServerSession::new(
        ServerConfig {
            chunk_size: cfg.chunk_size,
            limits: DecoderLimits {
                max_message_len: cfg.max_message_len,
                max_chunk_streams: cfg.max_chunk_streams,
            },
            ..ServerConfig::default()
        },
        &random,
        shared.started.elapsed().as_millis() as u32,
    );
    let mut conn = Conn {
        socket,
        peer,
        session,
        shared: shared.clone(),
        client,
        app: None,
        app_query: String::new(),
        pending: None,
        mode: Mode::Idle,
        handshake_done: false,
        out: Vec::new(),
        last_key: None,
        protocol,
    };
    let end = conn.run().await;
    let (bytes_in, bytes_out, dropped) = conn
        .shared
        .hub
        .clients()
        .get(id)
        .map(|s| (s.bytes_in, s.bytes_out, s.dropped))
        .unwrap_or_default();
    let key = conn
        .last_key
        .as_ref()
        .map(|k| k.to_string())
        .unwrap_or_default();
    let secs = started.elapsed().as_secs_f64();
    // Counted every time, logged once a minute per peer and kind: garbage
    // from one scanner must not flood the log.
    let log = error_kind(&end, conn.handshake_done)
        .is_some_and(|kind| conn.shared.hub.clients().report("rtmp", kind, peer.ip()));
    match &end {
        End::Protocol(e) | End::Limit(_, e) if log => {
            warn!(id, %peer, stream = %key, error = %e, "rtmp protocol error (logged once a minute per peer)")
        }
        End::Protocol(e) | End::Limit(_, e) => debug!(id, %peer, error = %e, "rtmp protocol error"),
        End::Io(e) => debug!(id, %peer, error = %e, "rtmp io error"),
        _ => {}
    }
    if conn.handshake_done {
        info!(
            id,
            %peer,
            stream = %key,
            bytes_in,
            bytes_out,
            dropped,
            duration_s = format_args!("{secs:.1}"),
            reason = %end,
            "rtmp close"
        );
    } else {
        debug!(id, %peer, reason = %end, "rtmp closed before handshake");
    }
    conn.finish();
}

/// How a session error ends the connection: limits by name, anything else
/// as a protocol error.
fn end_of(e: SessionError) -> End {
    match &e {
        SessionError::Chunk(ChunkError::MessageTooLong { .. }) => {
            End::Limit("max_message_len", e.to_string())
        }
        SessionError::Chunk(ChunkError::TooManyChunkStreams { .. }) => {
            End::Limit("max_chunk_streams", e.to_string())
        }
        _ => End::Protocol(e.to_string()),
    }
}

/// The `/metrics` error kind of a connection that ended badly: timeouts by
/// what timed out, peer input the session refused (during the handshake or
/// after it). Clean ends and socket errors are not counted: a peer that
/// hangs up is not a failure of the server or the encoder's protocol.
fn error_kind(end: &End, handshake_done: bool) -> Option<&'static str> {
    match end {
        End::Timeout("handshake") => Some("handshake_timeout"),
        End::Timeout("idle") => Some("idle_timeout"),
        End::Timeout("write") => Some("write_timeout"),
        End::Timeout(_) => Some("timeout"),
        End::Limit(limit, _) => Some(limit),
        End::Protocol(_) if handshake_done => Some("protocol"),
        End::Protocol(_) => Some("handshake"),
        _ => None,
    }
}

impl Conn {
    async fn run(&mut self) -> End {
        // Small to start: a player reads little more than acks, and with
        // thousands of players per-connection buffers are the memory bill.
        // A publisher's reads fill it and `read_buf` grows it as needed.
        let mut buf = BytesMut::with_capacity(READ_BUF);
        let mut batch: Vec<Muxed> = Vec::new();
        let cfg = self.shared.config.clone();
        let handshake_deadline = tokio::time::Instant::now() + cfg.handshake_timeout;
        loop {
            if let Err(end) = self.flush().await {
                return end;
            }
            let idle_deadline = tokio::time::Instant::now() + cfg.idle_timeout;
            let deadline = if self.handshake_done {
                idle_deadline
            } else {
                handshake_deadline
            };
            let playing = matches!(self.mode, Mode::Playing(_));
            let play_wait = match &self.mode {
                Mode::Playing(p) => p.wait_deadline(),
                _ => None,
            };
            // Each arm only produces a value; state changes happen below,
            // where `self` is not borrowed by the other arms.
            let step = tokio::select! {
                biased;
                _ = self.shared.shutdown.cancelled() => Step::End(End::Shutdown),
                _ = self.client.kicked() => Step::End(End::Kicked),
                r = self.socket.read_buf(&mut buf) => match r {
                    Ok(0) => Step::End(End::PeerClosed),
                    Ok(n) => Step::Input(n),
                    Err(e) => Step::End(End::Io(e)),
                },
                step = role_event(&mut self.mode, &mut batch) => step,
                _ = sleep_until(play_wait) => Step::PlayWaitExpired,
                // Through the lazy helper: a disabled branch's future is
                // still built, and a tokio `Sleep` looks up the runtime
                // when built, once per loop of every player.
                _ = sleep_until(Some(deadline)), if !playing || !self.handshake_done => {
                    Step::End(End::Timeout(if self.handshake_done { "idle" } else { "handshake" }))
                }
            };
            let result = match step {
                Step::End(end) => return end,
                Step::Input(n) => {
                    self.client.add_in(n as u64);
                    // Input may make the session write or change how the
                    // player plays: its socket must be its own again.
                    if let Err(end) = self.unpark().await {
                        return end;
                    }
                    let r = self.session.handle_input(&buf);
                    buf.clear();
                    match r {
                        Ok(()) => self.process().await,
                        Err(e) => Err(end_of(e)),
                    }
                }
                Step::Play => self.play_batch(&mut batch).await,
                Step::Returned(pair) => self.returned(pair),
                Step::PlayWaitExpired => self.play_wait_expired(),
            };
            if let Err(end) = result {
                // Say goodbye (e.g. an error status) before closing.
                let _ = self.flush().await;
                return end;
            }
        }
    }

    /// Acts on the events the session has queued, up to a publish or play
    /// command, which waits in `pending` for [`Conn::process`].
    pub(crate) fn drain_session(&mut self) -> Result<(), End> {
        while self.pending.is_none() {
            let Some(output) = self.session.poll_output() else {
                break;
            };
            match output {
                ServerOutput::Transmit(bytes) => self.out.push(bytes),
                ServerOutput::Event(ev) => self.on_event(ev)?,
            }
        }
        Ok(())
    }

    /// Writes queued session output.
    pub(crate) async fn flush(&mut self) -> Result<(), End> {
        self.process().await?;
        if self.out.is_empty() {
            return Ok(());
        }
        // Usually the socket has room: one writev, no timer.
        let now = try_write_now(&self.socket, &mut self.out)?;
        if self.out.is_empty() {
            self.client.add_out(now);
            return Ok(());
        }
        let timeout = self.shared.config.player_write_timeout;
        match tokio::time::timeout(timeout, write_all_vectored(&mut self.socket, &mut self.out))
            .await
        {
            Ok(Ok(n)) => {
                self.client.add_out(now + n);
                Ok(())
            }
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::Timeout("write")),
        }
    }

    fn on_event(&mut self, ev: ServerEvent) -> Result<(), End> {
        match ev {
            ServerEvent::HandshakeDone { complex } => {
                self.handshake_done = true;
                debug!(id = self.client.id(), peer = %self.peer, complex, "rtmp handshake done");
            }
            ServerEvent::Connect { app, tc_url, .. } => {
                let (app, query) = crate::admit::split_query(&app);
                let (app, query) = (app.to_owned(), query.to_owned());
                self.shared.hub.connected(&ConnectInfo {
                    client_id: self.client.id(),
                    addr: self.peer,
                    protocol: self.protocol,
                    app: app.clone(),
                    tc_url: tc_url.clone(),
                });
                self.app_query = query;
                info!(
                    id = self.client.id(),
                    peer = %self.peer,
                    app = %app,
                    tc_url = tc_url.as_deref().unwrap_or(""),
                    "rtmp connect"
                );
                self.app = Some(app);
            }
            ServerEvent::Publish {
                stream_id,
                name,
                query,
                ..
            } => {
                self.pending = Some(PendingStart {
                    action: Action::Publish,
                    stream_id,
                    name,
                    query,
                })
            }
            ServerEvent::Media {
                type_id,
                timestamp,
                payload,
                ..
            } => self.on_media(type_id, timestamp, payload)?,
            ServerEvent::Metadata {
                timestamp, payload, ..
            } => self.on_media(18, timestamp, payload)?,
            ServerEvent::Unpublish { .. } => self.stop_publish(),
            ServerEvent::Play {
                stream_id,
                name,
                query,
                ..
            } => {
                self.pending = Some(PendingStart {
                    action: Action::Play,
                    stream_id,
                    name,
                    query,
                })
            }
            ServerEvent::StopPlay { .. } => self.stop_play(),
            ServerEvent::Pause { paused, .. } => self.pause(paused),
            ServerEvent::ReceiveAudio { enabled, .. } => self.set_receive(true, enabled),
            ServerEvent::ReceiveVideo { enabled, .. } => self.set_receive(false, enabled),
        }
        Ok(())
    }

    /// Builds the stream key from the connected app and a stream name.
    pub(crate) fn key_for(&self, name: &str) -> Option<StreamKey> {
        StreamKey::new(self.app.as_deref()?, name).ok()
    }

    /// Releases the stream role (publisher or player) at the end.
    fn finish(&mut self) {
        self.stop_publish();
        self.stop_play();
    }

    pub(crate) fn set_role(&mut self, key: &StreamKey, role: Role) {
        self.last_key = Some(key.clone());
        self.client.set_stream(key.clone(), role);
    }
}

enum Step {
    End(End),
    Input(usize),
    Play,
    Returned(Option<(weir_hub::Receiver<Muxed>, crate::direct::DirectPlayer)>),
    PlayWaitExpired,
}

/// What the connection's stream role has to say: a publisher was taken
/// over or kicked, or a player has entries to write. Pending forever for a
/// connection that neither publishes nor plays.
async fn role_event(mode: &mut Mode, batch: &mut Vec<Muxed>) -> Step {
    match mode {
        Mode::Publishing(p) => {
            p.closed().await;
            Step::End(End::TakenOver)
        }
        Mode::Playing(p) => match p.next(batch).await {
            Next::Batch => Step::Play,
            Next::Closed => Step::End(End::PeerClosed),
            Next::Returned(pair) => Step::Returned(pair),
        },
        Mode::Idle => std::future::pending().await,
    }
}

pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ends_are_counted_by_kind() {
        assert_eq!(
            error_kind(&End::Timeout("handshake"), false),
            Some("handshake_timeout")
        );
        assert_eq!(
            error_kind(&End::Timeout("idle"), true),
            Some("idle_timeout")
        );
        assert_eq!(
            error_kind(&End::Timeout("write"), true),
            Some("write_timeout")
        );
        assert_eq!(
            error_kind(&End::Protocol("x".into()), false),
            Some("handshake")
        );
        assert_eq!(
            error_kind(&End::Protocol("x".into()), true),
            Some("protocol")
        );
        assert_eq!(
            error_kind(&End::Limit("max_message_len", "x".into()), true),
            Some("max_message_len")
        );
        assert_eq!(error_kind(&End::PeerClosed, true), None);
        assert_eq!(error_kind(&End::Kicked, true), None);
    }
}
