//! One RTSP connection: the socket loop around `weir_rtsp`'s sans-IO
//! [`ServerSession`]. Bytes read go in; its transmits are written, its
//! events decided (`answer.rs`: admission and the hub; `record.rs`:
//! publishers' RTP; `play.rs`: players' shared packets).
//!
//! A connection carries at most one session that either publishes
//! (ANNOUNCE, SETUP, RECORD) or plays (DESCRIBE, SETUP, PLAY). Malformed
//! requests are answered with their status (400, 413, 505) and the
//! connection closes; errors are counted under protocol `rtsp`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info};
use weir_hub::{Admission, ClientHandle, ClientInfo, Publisher, Receiver};
use weir_media::{StreamKey, TrackKind};
use weir_netio::{write_all_vectored, Feed, Next, SharedTcp, SocketSink};
use weir_rtsp::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};
use weir_rtsp::session::TransportPolicy;

use crate::multicast::{self, Groups};
use crate::muxer::Rtp;
use crate::play::{Channels, Parked};
use crate::publish::Publishing;
use crate::reports::PlayerReports;
use crate::udp::{RouteGuard, UdpIn};
use crate::Shared;

/// Entries taken from the egress channel per wakeup.
const MAX_BATCH: usize = 256;
const READ_BUF: usize = 16 * 1024;
/// How long a Digest nonce stays valid.
const NONCE_LIFETIME: Duration = Duration::from_secs(60);
/// How often a session's packet statistics reach the client registry.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// A connection's byte stream halves: plain TCP or TLS (RTSPS).
pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// See [`Reader`].
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum End {
    Closed,
    Teardown,
    Shutdown,
    Kicked,
    TakenOver,
    Timeout,
    /// The access check refused (the hub counted it).
    Denied(String),
    /// Counted under this kind.
    Protocol(&'static str, String),
    Io(std::io::Error),
}

/// What the session does with its stream.
#[derive(Default)]
pub(crate) struct Stream {
    pub(crate) key: Option<StreamKey>,
    pub(crate) admission: Option<Admission>,
    /// Publish: the announced tracks, once ANNOUNCE gave them.
    pub(crate) publishing: Option<Publishing>,
    /// Publish: each announced track's control segment (`stream=1`), by
    /// SDP index; SETUP URIs are matched against these, since a client may
    /// number its controls in any order (rtspclientsink does).
    pub(crate) announced_controls: Vec<Option<String>>,
    /// Play: the described tracks and their clock rates, by SDP index.
    pub(crate) described: Vec<(TrackKind, u32)>,
    /// Play over UDP: the client's RTP and RTCP addresses by SDP index.
    pub(crate) udp_dest: Vec<(usize, SocketAddr, SocketAddr)>,
    /// Publish over UDP: where the session's datagrams are routed.
    pub(crate) routes: Vec<RouteGuard>,
    pub(crate) udp_tx: Option<mpsc::Sender<UdpIn>>,
    /// Play over multicast: the stream's groups, once a SETUP asked.
    pub(crate) multicast: Option<Arc<Groups>>,
    /// Playing over multicast: keeps the stream's sender running.
    pub(crate) multicast_player: Option<multicast::Player>,
}

/// One connection's state; the `answer`, `record` and `play` modules add
/// its event handlers.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: ClientHandle,
    pub(crate) addr: SocketAddr,
    /// RTSPS: the SDP's controls say `rtsps://`.
    pub(crate) tls: bool,
    /// The writer, and the stream's shared RTP packets while playing:
    /// taken from the receiver by this task, or written by the stream's
    /// write pass while the player is parked (see `play.rs`).
    pub(crate) feed: Feed<Rtp, Parked, Writer>,
    /// The plain TCP socket a parked player's write pass writes to
    /// (`None` for RTSPS: TLS records are per connection).
    pub(crate) parks_on: Option<SharedTcp>,
    /// Bytes to write before anything else: what a write pass handed
    /// back unsent.
    pub(crate) pending: Vec<Bytes>,
    pub(crate) rtsp: ServerSession,
    pub(crate) stream: Stream,
    pub(crate) publisher: Option<Publisher>,
    /// Publishing over UDP: the datagrams routed to this session.
    pub(crate) udp_in: Option<mpsc::Receiver<UdpIn>>,
    pub(crate) channels: Channels,
    /// Requests whose credentials were refused; the second is answered
    /// 403 and closes the connection.
    pub(crate) auth_failures: u8,
    pub(crate) frames: Vec<weir_media::Frame>,
    /// Playing: what the player's receiver reports say.
    pub(crate) reports: Option<PlayerReports>,
}

/// Serves one connection to its end and logs how it went. `tls` says it
/// is RTSPS (the client list and the access check then say `rtsps`).
pub(crate) async fn serve(
    reader: Reader,
    writer: Writer,
    parks_on: Option<SharedTcp>,
    tls: bool,
    addr: SocketAddr,
    shared: Arc<Shared>,
) {
    let client = shared.hub.clients().register(ClientInfo {
        protocol: if tls { "rtsps" } else { "rtsp" },
        addr,
        role: None,
    });
    let id = client.id();
    debug!(id, peer = %addr, "rtsp connect");
    let udp = shared.udp.as_ref();
    let config = ServerConfig {
        session_timeout: shared.config.session_timeout,
        transports: TransportPolicy {
            udp: udp.is_some(),
            server_ports: udp.map_or((0, 0), |u| u.ports()),
        },
        nonce_lifetime: NONCE_LIFETIME,
        ..ServerConfig::default()
    };
    let session_id = format!("{:016X}", rand::thread_rng().gen::<u64>());
    let mut conn = Conn {
        shared: shared.clone(),
        client,
        addr,
        tls,
        feed: Feed::new(writer, None),
        parks_on,
        pending: Vec::new(),
        rtsp: ServerSession::new(config, session_id, Instant::now().into_std()),
        stream: Stream::default(),
        publisher: None,
        udp_in: None,
        channels: Channels::default(),
        auth_failures: 0,
        frames: Vec::new(),
        reports: None,
    };
    let end = conn.run(reader).await;
    let key = conn
        .stream
        .key
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    conn.report_stats();
    if let Some(p) = &conn.stream.publishing {
        let stats = p.stats();
        info!(
            id,
            stream = %key,
            packets = stats.packets,
            lost = stats.lost,
            dropped_units = p.dropped_units(),
            jitter_ms = stats.jitter_us as f64 / 1000.0,
            synced = p.synced(),
            "rtsp publish ended"
        );
    }
    match &end {
        End::Protocol(kind, why) if shared.hub.clients().report("rtsp", kind, addr.ip()) => {
            info!(id, peer = %addr, stream = %key, error = %why, "rtsp protocol error (logged once a minute per peer)");
        }
        End::Timeout => shared.hub.clients().count_error("rtsp", "session_timeout"),
        End::Io(e) => debug!(id, peer = %addr, error = %e, "rtsp socket error"),
        End::Denied(why) => {
            debug!(id, peer = %addr, stream = %key, reason = %why, "rtsp access denied")
        }
        _ => {}
    }
    info!(id, peer = %addr, stream = %key, end = ?end, "rtsp disconnect");
}

/// What woke the connection.
enum Wake {
    Read(std::io::Result<usize>),
    Feed(Next<Rtp, Parked>),
    Udp(Option<UdpIn>),
    PublisherClosed,
    Timer,
    Shutdown,
    Kicked,
}

async fn publisher_closed(p: &Option<Publisher>) {
    match p {
        Some(p) => {
            p.closed().await;
        }
        None => std::future::pending().await,
    }
}

async fn next_udp(rx: &mut Option<mpsc::Receiver<UdpIn>>) -> Option<UdpIn> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Conn {
    async fn run(&mut self, mut reader: Reader) -> End {
        let mut buf = vec![0u8; READ_BUF];
        let mut batch = Vec::new();
        let mut reported_dropped = 0;
        let mut stats_due = std::time::Instant::now() + STATS_EVERY;
        let shutdown = self.shared.shutdown.clone();
        loop {
            let deadline = match self.drain().await {
                Ok(deadline) => deadline,
                Err(end) => return self.finish(end).await,
            };
            // A UDP publisher's reorder buffers give up on gaps in time.
            let reorder = self
                .stream
                .publishing
                .as_ref()
                .and_then(Publishing::poll_timeout);
            let deadline = reorder.map_or(deadline, |r| deadline.min(Instant::from_std(r)));
            let wake = tokio::select! {
                _ = shutdown.cancelled() => Wake::Shutdown,
                _ = self.client.kicked() => Wake::Kicked,
                _ = publisher_closed(&self.publisher) => Wake::PublisherClosed,
                n = reader.read(&mut buf) => Wake::Read(n),
                next = self.feed.next(&mut batch, MAX_BATCH) => Wake::Feed(next),
                u = next_udp(&mut self.udp_in) => Wake::Udp(u),
                _ = tokio::time::sleep_until(deadline) => Wake::Timer,
            };
            let now = Instant::now().into_std();
            match wake {
                Wake::Shutdown => return End::Shutdown,
                Wake::Kicked => return End::Kicked,
                Wake::PublisherClosed => return End::TakenOver,
                Wake::Timer => {
                    self.rtsp.handle_timeout(now);
                    self.publish_released(now);
                }
                Wake::Feed(Next::Closed) => return End::Closed,
                Wake::Feed(Next::Batch) => {
                    if let Err(e) = self.write_batch(&mut batch).await {
                        return e;
                    }
                    if let Some(rx) = self.feed.receiver() {
                        let dropped = rx.dropped();
                        if dropped > reported_dropped {
                            self.client.add_dropped(dropped - reported_dropped);
                            reported_dropped = dropped;
                        }
                    }
                    self.try_park();
                }
                Wake::Feed(Next::Returned(pair)) => {
                    // Full socket or a pass that needs the task: write
                    // what it left, then go on from the receiver.
                    if let Err(e) = self.returned(pair).await {
                        return e;
                    }
                }
                Wake::Udp(None) => self.udp_in = None,
                Wake::Udp(Some(datagram)) => {
                    self.rtsp.touch(now);
                    self.on_udp(now, datagram);
                }
                Wake::Read(Err(e)) => return End::Io(e),
                Wake::Read(Ok(0)) => return End::Closed,
                Wake::Read(Ok(n)) => {
                    self.client.add_in(n as u64);
                    self.rtsp.handle_input(now, &buf[..n]);
                }
            }
            if now >= stats_due {
                self.report_stats();
                stats_due = now + STATS_EVERY;
            }
        }
    }

    /// Hands the session's packet statistics to the client registry.
    pub(crate) fn report_stats(&self) {
        let stats = match (&self.stream.publishing, &self.reports) {
            (Some(p), _) => p.stats(),
            (None, Some(r)) => r.stats(),
            (None, None) => return,
        };
        self.client.set_packets(stats);
    }

    /// Writes the session's transmits and decides its events until it
    /// waits; returns when to wake it for its timer.
    async fn drain(&mut self) -> Result<Instant, End> {
        loop {
            match self.rtsp.poll_output() {
                ServerOutput::Transmit(bytes) => self.write(&bytes).await?,
                ServerOutput::Event(event) => self.on_event(event).await?,
                ServerOutput::Timeout(at) => return Ok(Instant::from_std(at)),
            }
        }
    }

    /// Writes what the session still has to say (a refusal, the answer
    /// to a TEARDOWN) before the connection closes; later requests are
    /// not decided.
    async fn finish(&mut self, end: End) -> End {
        loop {
            match self.rtsp.poll_output() {
                ServerOutput::Transmit(bytes) => {
                    if self.write(&bytes).await.is_err() {
                        return end;
                    }
                }
                ServerOutput::Event(ServerEvent::Counted(kind)) => {
                    self.shared.hub.clients().count_error("rtsp", kind)
                }
                ServerOutput::Event(_) => {}
                ServerOutput::Timeout(_) => return end,
            }
        }
    }

    async fn on_event(&mut self, event: ServerEvent) -> Result<(), End> {
        match event {
            ServerEvent::Describe(ask) => self.describe(ask).await,
            ServerEvent::Announce { ask, sdp } => self.announce(ask, *sdp).await,
            ServerEvent::Setup { ask, offered } => self.setup(ask, &offered).await,
            ServerEvent::Play(_) => self.play().await,
            ServerEvent::Record(_) => self.record(),
            ServerEvent::Pause => {
                // Resuming starts at the latest keyframe, like a new player.
                self.stream.multicast_player = None;
                self.set_receiver(None).await
            }
            ServerEvent::Teardown => Err(End::Teardown),
            ServerEvent::Interleaved { track, rtcp, data } => {
                self.on_interleaved(track, rtcp, data);
                Ok(())
            }
            ServerEvent::Counted(kind) => {
                self.shared.hub.clients().count_error("rtsp", kind);
                Ok(())
            }
            ServerEvent::Expired => Err(End::Timeout),
            ServerEvent::Error(e) => {
                let kind = if e.status() == 413 {
                    "too_large"
                } else {
                    "bad_request"
                };
                Err(End::Protocol(kind, e.to_string()))
            }
        }
    }

    /// Writes a response (or any bytes of the session) after whatever a
    /// write pass left, under the write timeout.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), End> {
        let mut out = std::mem::take(&mut self.pending);
        out.push(Bytes::copy_from_slice(bytes));
        self.write_out(out).await
    }

    /// Writes `out` with the connection's own writer (taking a parked
    /// player back from the write pass first; what the pass left unsent
    /// goes in front), under the write timeout; TLS is flushed so the
    /// bytes leave rustls's buffer.
    pub(crate) async fn write_out(&mut self, mut out: Vec<Bytes>) -> Result<(), End> {
        let writer = match self.feed.reclaim(&mut out).await {
            Ok(w) => w,
            Err(e) => return Err(End::Protocol("write_pass", e.to_string())),
        };
        if out.is_empty() {
            return Ok(());
        }
        let timeout = self.shared.config.player_write_timeout;
        let write = async {
            let n = write_all_vectored(writer, &mut out).await?;
            writer.flush().await.map(|()| n)
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(n)) => {
                self.client.add_out(n);
                Ok(())
            }
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::Protocol(
                "slow_player",
                "player's socket accepted nothing in time".into(),
            )),
        }
    }

    /// Starts (`Some`) or stops (`None`) taking the stream's packets,
    /// taking a parked player back first.
    pub(crate) async fn set_receiver(&mut self, rx: Option<Receiver<Rtp>>) -> Result<(), End> {
        let mut out = std::mem::take(&mut self.pending);
        let result = self.feed.set_receiver(rx, &mut out).await;
        self.pending = out;
        result.map_err(|e| End::Protocol("write_pass", e.to_string()))
    }

    /// A player the write pass handed back: what it left unsent goes out
    /// first.
    async fn returned(
        &mut self,
        pair: Option<(Receiver<Rtp>, SocketSink<Parked>)>,
    ) -> Result<(), End> {
        let mut out = std::mem::take(&mut self.pending);
        if let Err(e) = self.feed.returned(pair, &mut out) {
            return Err(End::Protocol("write_pass", e.to_string()));
        }
        self.write_out(out).await
    }
}
