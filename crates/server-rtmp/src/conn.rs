//! One RTMP connection: socket IO around a sans-IO `ServerSession`.
//!
//! The loop is the one every weir adapter follows: read bytes → hand them
//! to the session → act on its events → write what it queued. A player
//! additionally drains its egress receiver and writes shared chunk bytes.
//! Only this loop touches the socket: the publishing and playing sides
//! ([`Publishing`], [`Player`]) get the session and the hub as arguments,
//! and the writer lives in the [`PlayerFeed`], which hands it out only
//! after taking a parked player's socket back from the write pass.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rand::RngCore;
use tokio::io::AsyncReadExt;
use tracing::{debug, info, warn};
use weir_hub::{Action, ClientHandle, ClientInfo, ConnectInfo};
use weir_media::StreamKey;
use weir_netio::write_all_vectored;
use weir_rtmp::chunk::DecoderLimits;
use weir_rtmp::message::type_id;
use weir_rtmp::server::{ServerConfig, ServerEvent, ServerSession};
use weir_rtmp::url::split_query;

use crate::admit::{admit, gate, query_of, refuse_busy, App, Start};
use crate::end::{end_of, error_kind, End};
use crate::muxer::Muxed;
use crate::play::{Next, Player, PlayerFeed};
use crate::publish::Publishing;
use crate::transport::{try_write_now, Reader, Transport};
use crate::vod::{self, VodNext, VodPlayer};
use crate::wire::Wire;
use crate::Shared;

/// Initial socket read buffer of a connection.
const READ_BUF: usize = 4096;

/// Per-player queues larger than this (in entries) are shrunk to [`KEEP`]
/// once written: thousands of players each keeping a GOP-sized vector
/// would cost more memory than the GOP itself.
const SHRINK_ABOVE: usize = 64;
const KEEP: usize = 8;

/// Who is at the other end, for the log lines and counters of every part
/// of the connection.
pub(crate) struct Peer {
    pub(crate) client: ClientHandle,
    pub(crate) addr: SocketAddr,
    /// `"rtmp"`, `"rtmps"` or `"rtmpe"`.
    pub(crate) protocol: &'static str,
}

/// What the connection is doing with its stream.
enum Mode {
    Idle,
    Publishing(Publishing),
    Playing(Player),
    /// Playing a file (video on demand).
    Vod(VodPlayer),
}

struct Conn {
    shared: Arc<Shared>,
    peer: Peer,
    reader: Reader,
    /// The socket's write side, and a player's entries.
    feed: PlayerFeed,
    wire: Wire,
    mode: Mode,
    app: Option<App>,
    handshake_done: bool,
    /// The last stream this connection published or played, for the
    /// close log line.
    last_key: Option<StreamKey>,
}

/// Serves one connection to its end and logs how it went.
/// The handshake must be done by `handshake_deadline`.
pub(crate) async fn serve(
    socket: Transport,
    addr: SocketAddr,
    shared: Arc<Shared>,
    handshake_deadline: tokio::time::Instant,
) {
    let protocol = socket.protocol();
    let client = shared.hub.clients().register(ClientInfo {
        protocol,
        addr,
        role: None,
    });
    let started = Instant::now();
    let id = client.id();
    debug!(id, peer = %addr, "rtmp connect");

    let mut random = [0u8; 1536];
    rand::thread_rng().fill_bytes(&mut random);
    let cfg = &shared.config;
    let config = ServerConfig {
        chunk_size: cfg.chunk_size,
        limits: DecoderLimits {
            max_message_len: cfg.max_message_len,
            max_chunk_streams: cfg.max_chunk_streams,
        },
        // ffmpeg's RTMPE publisher mangles an echoed Set Chunk Size (see
        // the field's docs): RTMPE clients get it only when they play.
        defer_chunk_size: matches!(socket, Transport::Rtmpe(_)),
        ..ServerConfig::default()
    };
    let session = if socket.handshake_done() {
        ServerSession::after_handshake(config)
    } else {
        ServerSession::new(config, &random, shared.started.elapsed().as_millis() as u32)
    };
    let (reader, writer) = socket.split();
    let mut conn = Conn {
        shared: shared.clone(),
        peer: Peer {
            client,
            addr,
            protocol,
        },
        reader,
        feed: PlayerFeed::new(writer, None),
        wire: Wire::new(session),
        mode: Mode::Idle,
        app: None,
        handshake_done: false,
        last_key: None,
    };
    let end = conn.run(handshake_deadline).await;
    let (bytes_in, bytes_out, dropped) = shared
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
        .is_some_and(|kind| shared.hub.clients().report("rtmp", kind, addr.ip()));
    match &end {
        End::Protocol(e) | End::Limit(_, e) if log => {
            warn!(id, peer = %addr, stream = %key, error = %e, "rtmp protocol error (logged once a minute per peer)")
        }
        End::Protocol(e) | End::Limit(_, e) => {
            debug!(id, peer = %addr, error = %e, "rtmp protocol error")
        }
        End::Io(e) => debug!(id, peer = %addr, error = %e, "rtmp io error"),
        _ => {}
    }
    if conn.handshake_done {
        info!(
            id,
            peer = %addr,
            stream = %key,
            bytes_in,
            bytes_out,
            dropped,
            duration_s = format_args!("{secs:.1}"),
            reason = %end,
            "rtmp close"
        );
    } else {
        debug!(id, peer = %addr, reason = %end, "rtmp closed before handshake");
    }
    conn.stop_role();
}

/// What woke the connection loop.
enum Step {
    End(End),
    Input(usize),
    Play,
    Returned(Option<(weir_hub::Receiver<Muxed>, crate::park::PlayerSink)>),
    Vod(VodNext),
    Timer(Timer),
}

/// The one deadline a connection waits for at a time.
#[derive(Clone, Copy)]
enum Timer {
    /// The RTMP handshake must finish by then.
    Handshake,
    /// A client that is not playing must send something by then.
    Idle,
    /// A player of a stream that is not live gives up then.
    PlayWait,
}

impl Conn {
    async fn run(&mut self, handshake_deadline: tokio::time::Instant) -> End {
        // Small to start: a player reads little more than acks, and with
        // thousands of players per-connection buffers are the memory bill.
        // A publisher's reads fill it and `read_buf` grows it as needed.
        let mut buf = BytesMut::with_capacity(READ_BUF);
        let mut batch: Vec<Muxed> = Vec::new();
        loop {
            if let Err(end) = self.flush().await {
                return end;
            }
            let timer = self.timer(handshake_deadline);
            // Each arm only produces a value; state changes happen below,
            // where `self` is not borrowed by the other arms.
            let step = tokio::select! {
                biased;
                _ = self.shared.shutdown.cancelled() => Step::End(End::Shutdown),
                _ = self.peer.client.kicked() => Step::End(End::Kicked),
                r = self.reader.read_buf(&mut buf) => match r {
                    Ok(0) => Step::End(End::PeerClosed),
                    Ok(n) => Step::Input(n),
                    Err(e) => Step::End(End::Io(e)),
                },
                step = role_event(&mut self.mode, &mut self.feed, &mut batch) => step,
                // In an async block, the `Sleep` (which looks up the
                // runtime) is built only when polled: a started player,
                // which has no deadline, never builds one.
                what = async {
                    let Some((at, what)) = timer else {
                        return std::future::pending().await;
                    };
                    tokio::time::sleep_until(at).await;
                    what
                } => Step::Timer(what),
            };
            let result = match step {
                Step::End(end) => return end,
                Step::Input(n) => self.input(&mut buf, n).await,
                Step::Play => self.play(&mut batch).await,
                Step::Vod(next) => {
                    self.vod(next);
                    Ok(())
                }
                Step::Returned(pair) => self
                    .feed
                    .returned(pair, &mut self.wire.out)
                    .map_err(End::from),
                Step::Timer(Timer::PlayWait) => self.play_wait_expired().await,
                Step::Timer(Timer::Handshake) => Err(End::Timeout("handshake")),
                Step::Timer(Timer::Idle) => Err(End::Timeout("idle")),
            };
            if let Err(end) = result {
                // Say goodbye (e.g. an error status) before closing.
                let _ = self.flush().await;
                return end;
            }
        }
    }

    /// The deadline the loop waits for now, if any: the handshake's, then
    /// a waiting player's, or the idle timeout (restarted every loop) of a
    /// connection that does not play.
    fn timer(
        &self,
        handshake_deadline: tokio::time::Instant,
    ) -> Option<(tokio::time::Instant, Timer)> {
        if !self.handshake_done {
            return Some((handshake_deadline, Timer::Handshake));
        }
        match &self.mode {
            Mode::Playing(p) => p.wait_deadline().map(|at| (at, Timer::PlayWait)),
            Mode::Vod(p) if !p.is_complete() => None,
            _ => Some((
                tokio::time::Instant::now() + self.shared.config.idle_timeout,
                Timer::Idle,
            )),
        }
    }

    /// Bytes from the peer: the session handles them, the loop their
    /// events.
    async fn input(&mut self, buf: &mut BytesMut, n: usize) -> Result<(), End> {
        self.peer.client.add_in(n as u64);
        // Input may make the session write or change how the player
        // plays: its socket must be its own again.
        self.feed.reclaim(&mut self.wire.out).await?;
        let r = self.wire.session.handle_input(buf);
        buf.clear();
        r.map_err(end_of)?;
        self.process().await
    }

    /// Handles every queued session event, in order.
    async fn process(&mut self) -> Result<(), End> {
        while let Some(ev) = self.wire.poll_event() {
            self.on_event(ev).await?;
        }
        Ok(())
    }

    /// Writes queued session output and media: the only place a
    /// connection writes to its socket.
    async fn flush(&mut self) -> Result<(), End> {
        self.process().await?;
        let out = &mut self.wire.out;
        if out.is_empty() {
            return Ok(());
        }
        let writer = self.feed.reclaim(out).await?;
        // Usually the socket has room: one writev, no timer.
        let now = try_write_now(writer, out)?;
        let client = &self.peer.client;
        if out.is_empty() {
            client.add_out(now);
            return Ok(());
        }
        let timeout = self.shared.config.player_write_timeout;
        match tokio::time::timeout(timeout, write_all_vectored(writer, out)).await {
            Ok(Ok(n)) => {
                client.add_out(now + n);
                Ok(())
            }
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::Timeout("write")),
        }
    }

    /// Writes a batch of shared entries (and any status messages they
    /// imply) in one vectored write, then parks a player that caught up.
    async fn play(&mut self, batch: &mut Vec<Muxed>) -> Result<(), End> {
        let Mode::Playing(p) = &mut self.mode else {
            batch.clear();
            return Ok(());
        };
        p.queue(batch, &mut self.wire, &self.feed, &self.peer.client);
        self.flush().await?;
        // A join (headers + GOP) or a stall makes one big batch; do not
        // keep its buffers for the life of the connection.
        if batch.capacity() > SHRINK_ABOVE {
            batch.shrink_to(KEEP);
        }
        let out = &mut self.wire.out;
        if out.capacity() > SHRINK_ABOVE {
            out.shrink_to(KEEP);
        }
        if let Mode::Playing(p) = &self.mode {
            let client = &self.peer.client;
            self.feed.try_park(out, |writer| p.sink(writer, client));
        }
        Ok(())
    }

    async fn play_wait_expired(&mut self) -> Result<(), End> {
        if let Mode::Playing(p) = &self.mode {
            if p.wait_expired(&mut self.wire.session, &self.peer) {
                self.mode = Mode::Idle;
                self.feed.set_receiver(None, &mut self.wire.out).await?;
            }
        }
        Ok(())
    }

    async fn on_event(&mut self, ev: ServerEvent) -> Result<(), End> {
        let id = self.peer.client.id();
        match ev {
            ServerEvent::HandshakeDone { complex } => {
                self.handshake_done = true;
                debug!(id, peer = %self.peer.addr, complex, "rtmp handshake done");
            }
            ServerEvent::Connect { app, tc_url, .. } => {
                let (name, query) = split_query(&app);
                let app = App {
                    name: name.to_owned(),
                    query: query.to_owned(),
                };
                self.shared.hub.connected(&ConnectInfo {
                    client_id: id,
                    addr: self.peer.addr,
                    protocol: self.peer.protocol,
                    app: app.name.clone(),
                    url: tc_url.clone(),
                });
                info!(
                    id,
                    peer = %self.peer.addr,
                    app = %weir_hub::log::peer(&app.name),
                    query = %weir_hub::log::peer(&app.query),
                    tc_url = %weir_hub::log::peer(tc_url.as_deref().unwrap_or("")),
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
                self.start(Start {
                    action: Action::Publish,
                    stream_id,
                    name,
                    query,
                })
                .await?
            }
            ServerEvent::Play {
                stream_id,
                name,
                query,
                start,
                duration,
                reset,
            } => {
                let cmd = Start {
                    action: Action::Play,
                    stream_id,
                    name,
                    query,
                };
                if self.app.as_ref().is_some_and(|a| vod::is_vod_app(&a.name)) {
                    let req = vod::Request {
                        stream_id,
                        start_ms: start,
                        duration,
                        reset,
                    };
                    self.start_vod(cmd, req).await?
                } else {
                    self.start(cmd).await?
                }
            }
            ServerEvent::Media {
                type_id,
                timestamp,
                payload,
                ..
            } => self.on_media(type_id, timestamp, payload)?,
            ServerEvent::Metadata {
                timestamp, payload, ..
            } => self.on_media(type_id::DATA_AMF0, timestamp, payload)?,
            ServerEvent::Unpublish { .. } => {
                if matches!(self.mode, Mode::Publishing(_)) {
                    self.stop_role();
                }
            }
            ServerEvent::StopPlay { .. } => {
                if matches!(self.mode, Mode::Vod(_)) {
                    self.stop_role();
                }
                if matches!(self.mode, Mode::Playing(_)) {
                    self.stop_role();
                    self.feed.set_receiver(None, &mut self.wire.out).await?;
                }
            }
            ServerEvent::Seek {
                stream_id,
                position_ms,
            } => match &mut self.mode {
                Mode::Vod(p) => p.seek(&mut self.wire, position_ms),
                _ => self
                    .wire
                    .session
                    .reject_seek(stream_id, "only recordings (the vod app) can seek"),
            },
            ServerEvent::Pause { paused, .. } => {
                if let Mode::Vod(p) = &mut self.mode {
                    p.pause(paused);
                }
                if let Mode::Playing(p) = &self.mode {
                    let out = &mut self.wire.out;
                    if paused {
                        self.feed.set_receiver(None, out).await?;
                    } else if self.feed.receiver().is_none() && !self.feed.is_parked() {
                        let rx = p.subscribe(&self.shared.egress);
                        self.feed.set_receiver(Some(rx), out).await?;
                    }
                }
            }
            ServerEvent::ReceiveAudio { enabled, .. } => self.set_receive(true, enabled),
            ServerEvent::ReceiveVideo { enabled, .. } => self.set_receive(false, enabled),
        }
        Ok(())
    }

    /// An audio, video or data message: the publisher's to handle. Media
    /// before publish is a client bug, not an attack: ignored.
    fn on_media(&mut self, type_id: u8, timestamp: u32, payload: Bytes) -> Result<(), End> {
        match &mut self.mode {
            Mode::Publishing(p) => p.on_media(type_id, timestamp, payload),
            _ => Ok(()),
        }
    }

    fn set_receive(&mut self, audio: bool, enabled: bool) {
        match &mut self.mode {
            Mode::Playing(p) => p.set_receive(audio, enabled),
            Mode::Vod(p) => p.set_receive(audio, enabled),
            _ => {}
        }
    }

    /// What a VOD player's task brought: frames to queue (the loop writes
    /// them), or the end of the file.
    fn vod(&mut self, next: VodNext) {
        let Mode::Vod(p) = &mut self.mode else {
            return;
        };
        match next {
            VodNext::Frames(frames) => p.queue(&mut self.wire, frames),
            VodNext::Complete => p.complete(&mut self.wire.session, &self.peer),
            VodNext::Failed(why) => p.failed(&mut self.wire.session, &self.peer, &why),
        }
    }

    /// A play in the `vod` app: the file its path names, admitted as the
    /// stream the library says it belongs to, indexed, then played.
    async fn start_vod(&mut self, start: Start, req: vod::Request) -> Result<(), End> {
        let busy = !matches!(self.mode, Mode::Idle);
        let session = &mut self.wire.session;
        if refuse_busy(busy, &start, session) {
            return Ok(());
        }
        let id = start.stream_id;
        let app = self.app.as_ref();
        let path = vod::library_path(app.map_or("", |a| &a.name), &start.name);
        let Some(library) = self.shared.config.vod.clone() else {
            let why = "video on demand is off on this server";
            session.reject_play(id, "NetStream.Play.StreamNotFound", why);
            return Ok(());
        };
        let (file, key) = match library.0.locate(&path) {
            Ok(found) => found,
            Err(e) => {
                let why = format!("{path}: {e}");
                session.reject_play(id, "NetStream.Play.StreamNotFound", &why);
                return Ok(());
            }
        };
        let query = query_of(app, &start);
        let admission = gate(&self.shared, &self.peer, &key, &query, &start, session).await?;
        let opened = tokio::select! {
            r = open_vod(&library, file) => r,
            _ = self.shared.shutdown.cancelled() => return Err(End::Shutdown),
        };
        let (index, file) = match opened {
            Ok(found) => found,
            Err(why) => {
                let why = format!("{path}: {why}");
                warn!(id = self.peer.client.id(), error = %why, "rtmp vod: unplayable file");
                session.reject_play(id, "NetStream.Play.Failed", &why);
                return Ok(());
            }
        };
        let chunk_size = self.shared.config.chunk_size;
        let p = VodPlayer::start(
            &mut self.wire,
            &self.peer,
            path,
            admission,
            index,
            file,
            req,
            chunk_size,
        );
        self.set_role(&key);
        self.mode = Mode::Vod(p);
        Ok(())
    }

    /// A publish or play command: the access check, then the start.
    async fn start(&mut self, start: Start) -> Result<(), End> {
        let busy = !matches!(self.mode, Mode::Idle);
        let session = &mut self.wire.session;
        let app = self.app.as_ref();
        let Some((key, admission)) =
            admit(&self.shared, &self.peer, app, busy, &start, session).await?
        else {
            return Ok(());
        };
        let (peer, stream_id) = (&self.peer, start.stream_id);
        match start.action {
            Action::Publish => {
                let hub = &self.shared.hub;
                let Some(p) =
                    Publishing::start(hub, session, peer, stream_id, key.clone(), admission)
                else {
                    return Ok(());
                };
                self.set_role(&key);
                self.mode = Mode::Publishing(p);
            }
            Action::Play => {
                let Some((p, rx)) = Player::start(
                    &self.shared,
                    session,
                    peer,
                    stream_id,
                    key.clone(),
                    admission,
                ) else {
                    return Ok(());
                };
                self.set_role(&key);
                self.mode = Mode::Playing(p);
                self.feed.set_receiver(Some(rx), &mut self.wire.out).await?;
            }
        }
        Ok(())
    }

    /// Remembers the stream for the close log (the access check already
    /// listed the client with its stream and role).
    fn set_role(&mut self, key: &StreamKey) {
        self.last_key = Some(key.clone());
    }

    /// Releases the stream role (publisher or player), logging it.
    fn stop_role(&mut self) {
        match std::mem::replace(&mut self.mode, Mode::Idle) {
            Mode::Idle => {}
            Mode::Publishing(p) => p.stop(&self.peer),
            Mode::Playing(p) => p.stop(&self.peer),
            Mode::Vod(p) => p.stop(&self.peer),
        }
    }
}

/// What the connection's stream role has to say: a publisher was taken
/// over or kicked, or a player has entries to write. Pending forever for a
/// connection that neither publishes nor plays.
async fn role_event(mode: &mut Mode, feed: &mut PlayerFeed, batch: &mut Vec<Muxed>) -> Step {
    match mode {
        Mode::Publishing(p) => {
            p.closed().await;
            Step::End(End::TakenOver)
        }
        Mode::Playing(p) => match p.next(feed, batch).await {
            Next::Batch => Step::Play,
            Next::Closed => Step::End(End::PeerClosed),
            Next::Returned(pair) => Step::Returned(pair),
        },
        Mode::Vod(p) => Step::Vod(p.next().await),
        Mode::Idle => std::future::pending().await,
    }
}

/// A located VOD file's index and an open handle for its reads.
async fn open_vod(
    library: &vod::VodFiles,
    file: std::path::PathBuf,
) -> Result<(Arc<weir_vod::Index>, Arc<std::fs::File>), String> {
    let index = library.0.index(&file).await?;
    let handle = tokio::task::spawn_blocking(move || std::fs::File::open(file))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok((index, Arc::new(handle)))
}
