//! One RTSP connection: read bytes → `weir-rtsp` decoder → requests and
//! interleaved packets → answers, frames to the hub, or shared RTP
//! packets out to a player.
//!
//! A connection carries at most one session (what ffmpeg, GStreamer, VLC
//! and cameras do over TCP) that either publishes (ANNOUNCE, SETUP,
//! RECORD) or plays (DESCRIBE, SETUP, PLAY). Malformed requests are
//! answered with the decoder's status (400, 413, 505) and the connection
//! closes; errors are counted under protocol `rtsp`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info};
use weir_hub::{Action, Admission, ClientHandle, ClientInfo, HubError, Publisher, Receiver};
use weir_media::{StreamKey, TrackKind};
use weir_netio::write_all_vectored;
use weir_rtsp::headers::TransportMode;
use weir_rtsp::headers::{LowerTransport, Transport};
use weir_rtsp::message::{Decoder, Item, Limits, Message, Method, Request, Response};
use weir_rtsp::reorder::ReorderBuffer;
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::SessionDescription;
use weir_rtsp::session::{ServerSession, TransportPolicy};

use crate::describe;
use crate::muxer::{Rtp, AUDIO_CHANNEL, VIDEO_CHANNEL};
use crate::publish::InTrack;
use crate::udp::{RouteGuard, UdpIn, QUEUE};
use crate::url::{self, Target};
use crate::Shared;

const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER, ANNOUNCE, RECORD";
/// Entries taken from the egress channel per wakeup.
const MAX_BATCH: usize = 256;
/// How often idle sessions are checked.
const TICK: Duration = Duration::from_secs(1);
const READ_BUF: usize = 4096;
/// Packets a UDP publisher's track may be out of order by before the gap
/// counts as lost.
const REORDER: usize = 64;

/// Why a connection ended.
#[derive(Debug)]
enum End {
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
struct Stream {
    key: Option<StreamKey>,
    admission: Option<Admission>,
    /// Publish: the announced tracks weir reads, by SDP index.
    announced: Option<Vec<Option<InTrack>>>,
    /// Publish over UDP: a reorder buffer per announced track.
    reorder: Vec<ReorderBuffer>,
    /// Play: the described tracks, by SDP index.
    described: Vec<TrackKind>,
    /// Play over UDP: the client's RTP and RTCP addresses by SDP index.
    udp_dest: Vec<(usize, SocketAddr, SocketAddr)>,
    /// Publish over UDP: where the session's datagrams are routed.
    routes: Vec<RouteGuard>,
    udp_tx: Option<mpsc::Sender<UdpIn>>,
}

struct Conn {
    shared: Arc<Shared>,
    client: ClientHandle,
    addr: SocketAddr,
    writer: OwnedWriteHalf,
    /// The `host:port` clients reach us at, from the first request URI.
    session: Option<ServerSession>,
    stream: Stream,
    last_activity: Instant,
    frames: Vec<weir_media::Frame>,
}

/// Serves one connection to its end and logs how it went.
pub(crate) async fn serve(socket: TcpStream, addr: SocketAddr, shared: Arc<Shared>) {
    let client = shared.hub.clients().register(ClientInfo {
        protocol: "rtsp",
        addr,
        role: None,
    });
    let id = client.id();
    debug!(id, peer = %addr, "rtsp connect");
    let (reader, writer) = socket.into_split();
    let mut conn = Conn {
        shared: shared.clone(),
        client,
        addr,
        writer,
        session: None,
        stream: Stream::default(),
        last_activity: Instant::now(),
        frames: Vec::new(),
    };
    let end = conn.run(reader).await;
    let key = conn
        .stream
        .key
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    if let Some(tracks) = &conn.stream.announced {
        let (lost, dropped) = tracks
            .iter()
            .flatten()
            .map(InTrack::losses)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        info!(id, stream = %key, lost, dropped, "rtsp publish ended");
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
    Batch(bool),
    Udp(Option<UdpIn>),
    PublisherClosed,
    Tick,
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

async fn next_batch(rx: &mut Option<Receiver<Rtp>>, batch: &mut Vec<Rtp>) -> bool {
    match rx {
        Some(rx) => rx.recv_batch(batch, MAX_BATCH).await.is_ok(),
        None => std::future::pending().await,
    }
}

async fn next_udp(rx: &mut Option<mpsc::Receiver<UdpIn>>) -> Option<UdpIn> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Where a player's packets of one track go.
#[derive(Debug, Clone, Copy)]
enum Dest {
    /// Interleaved on this RTP channel (RTCP on the next).
    Tcp(u8),
    /// To these RTP and RTCP addresses.
    Udp(SocketAddr, SocketAddr),
}

/// A player's destinations per track kind.
#[derive(Debug, Clone, Copy, Default)]
struct Channels {
    video: Option<Dest>,
    audio: Option<Dest>,
}

impl Conn {
    async fn run(&mut self, mut reader: OwnedReadHalf) -> End {
        let mut buf = BytesMut::with_capacity(READ_BUF);
        let mut decoder = Decoder::new(Limits::default());
        let mut publisher: Option<Publisher> = None;
        let mut rx: Option<Receiver<Rtp>> = None;
        let mut udp_in: Option<mpsc::Receiver<UdpIn>> = None;
        let mut channels = Channels::default();
        let mut batch = Vec::new();
        let mut reported_dropped = 0;
        let shutdown = self.shared.shutdown.clone();
        loop {
            let wake = tokio::select! {
                _ = shutdown.cancelled() => Wake::Shutdown,
                _ = self.client.kicked() => Wake::Kicked,
                _ = publisher_closed(&publisher) => Wake::PublisherClosed,
                n = reader.read_buf(&mut buf) => Wake::Read(n),
                ok = next_batch(&mut rx, &mut batch) => Wake::Batch(ok),
                u = next_udp(&mut udp_in) => Wake::Udp(u),
                _ = tokio::time::sleep(TICK) => Wake::Tick,
            };
            match wake {
                Wake::Shutdown => return End::Shutdown,
                Wake::Kicked => return End::Kicked,
                Wake::PublisherClosed => return End::TakenOver,
                Wake::Tick => {
                    let idle = self.last_activity.elapsed() > self.shared.config.session_timeout;
                    if rx.is_none() && idle {
                        return End::Timeout;
                    }
                }
                Wake::Batch(false) => return End::Closed,
                Wake::Udp(None) => udp_in = None,
                Wake::Udp(Some(datagram)) => {
                    self.last_activity = Instant::now();
                    self.on_udp(datagram, &mut publisher);
                }
                Wake::Batch(true) => {
                    if let Err(e) = self.write_batch(&mut batch, channels).await {
                        return e;
                    }
                    if let Some(rx) = &rx {
                        let dropped = rx.dropped();
                        if dropped > reported_dropped {
                            self.client.add_dropped(dropped - reported_dropped);
                            reported_dropped = dropped;
                        }
                    }
                }
                Wake::Read(Err(e)) => return End::Io(e),
                Wake::Read(Ok(0)) => return End::Closed,
                Wake::Read(Ok(n)) => {
                    self.client.add_in(n as u64);
                    self.last_activity = Instant::now();
                    loop {
                        let item = match decoder.decode(&mut buf) {
                            Ok(Some(item)) => item,
                            Ok(None) => break,
                            Err(e) => {
                                let mut r = Response::new(e.status(), None);
                                r.headers.set("Connection", "close");
                                let _ = self.send(&r).await;
                                let kind = if e.status() == 413 {
                                    "too_large"
                                } else {
                                    "bad_request"
                                };
                                return End::Protocol(kind, e.to_string());
                            }
                        };
                        match item {
                            Item::Interleaved { channel, data } => {
                                self.on_interleaved(channel, data, &mut publisher)
                            }
                            Item::Message(Message::Response(_)) => {}
                            Item::Message(Message::Request(req)) => {
                                let mut ctx = Ctx {
                                    publisher: &mut publisher,
                                    rx: &mut rx,
                                    channels: &mut channels,
                                    udp_in: &mut udp_in,
                                };
                                if let Some(end) = self.on_request(req, &mut ctx).await {
                                    return end;
                                }
                            }
                        }
                    }
                    if buf.capacity() - buf.len() < READ_BUF / 4 {
                        buf.reserve(READ_BUF);
                    }
                }
            }
        }
    }

    /// RTP or RTCP from the client: a publisher's media, or a player's
    /// receiver reports (only counted as activity).
    fn on_interleaved(&mut self, channel: u8, data: Bytes, publisher: &mut Option<Publisher>) {
        let Some(session) = &self.session else {
            self.shared
                .hub
                .clients()
                .count_error("rtsp", "unknown_channel");
            return;
        };
        let Some((track, rtcp)) = session.channel_track(channel) else {
            self.shared
                .hub
                .clients()
                .count_error("rtsp", "unknown_channel");
            return;
        };
        let (Some(publisher), Some(tracks), false) =
            (publisher.as_mut(), self.stream.announced.as_mut(), rtcp)
        else {
            return;
        };
        let Some(Some(track)) = tracks.get_mut(track) else {
            return;
        };
        let packet = match Packet::parse(data) {
            Ok(p) => p,
            Err(_) => {
                self.shared.hub.clients().count_error("rtsp", "bad_rtp");
                return;
            }
        };
        if track.on_packet(&packet, &mut self.frames).is_err() {
            self.shared.hub.clients().count_error("rtsp", "bad_rtp");
        }
        for frame in self.frames.drain(..) {
            publisher.send(frame);
        }
    }

    /// A datagram of a UDP publisher: RTP goes through the track's reorder
    /// buffer to its depacketizer; RTCP only shows the session is alive.
    fn on_udp(&mut self, datagram: UdpIn, publisher: &mut Option<Publisher>) {
        let (Some(publisher), Some(tracks), false) = (
            publisher.as_mut(),
            self.stream.announced.as_mut(),
            datagram.rtcp,
        ) else {
            return;
        };
        let (Some(Some(track)), Some(reorder)) = (
            tracks.get_mut(datagram.track),
            self.stream.reorder.get_mut(datagram.track),
        ) else {
            return;
        };
        match Packet::parse(datagram.data) {
            Ok(p) => reorder.push(p),
            Err(_) => {
                self.shared.hub.clients().count_error("rtsp", "bad_rtp");
                return;
            }
        }
        while let Some(p) = reorder.pop() {
            if track.on_packet(&p, &mut self.frames).is_err() {
                self.shared.hub.clients().count_error("rtsp", "bad_rtp");
            }
        }
        for frame in self.frames.drain(..) {
            publisher.send(frame);
        }
    }

    async fn write_batch(&mut self, batch: &mut Vec<Rtp>, ch: Channels) -> Result<(), End> {
        let mut out: Vec<Bytes> = Vec::new();
        for entry in batch.drain(..) {
            let Rtp::Media { kind, packets, .. } = entry else {
                continue;
            };
            let (Some(dest), fixed) = (match kind {
                TrackKind::Video => (ch.video, VIDEO_CHANNEL),
                TrackKind::Audio => (ch.audio, AUDIO_CHANNEL),
                TrackKind::Data => (None, 0),
            }) else {
                continue;
            };
            let wanted = match dest {
                Dest::Tcp(channel) => channel,
                Dest::Udp(rtp, rtcp) => {
                    let Some(udp) = &self.shared.udp else {
                        continue;
                    };
                    for p in packets.iter() {
                        let is_rtcp = p[1] != fixed;
                        let to = if is_rtcp { rtcp } else { rtp };
                        if udp.send(is_rtcp, to, &p[4..]) {
                            self.client.add_out((p.len() - 4) as u64);
                        }
                    }
                    continue;
                }
            };
            for p in packets.iter() {
                if wanted == fixed {
                    out.push(p.clone());
                } else {
                    // A player that chose other channel numbers gets its own
                    // 4-byte frame header; the packet itself stays shared.
                    let Ok(mut head) = <[u8; 4]>::try_from(p.get(..4).unwrap_or_default()) else {
                        continue;
                    };
                    head[1] = wanted + (head[1] - fixed);
                    out.push(Bytes::copy_from_slice(&head));
                    out.push(p.slice(4..));
                }
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        let timeout = self.shared.config.player_write_timeout;
        match tokio::time::timeout(timeout, write_all_vectored(&mut self.writer, &mut out)).await {
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

    async fn send(&mut self, r: &Response) -> Result<(), End> {
        let mut out = Vec::new();
        r.write(&mut out);
        self.client.add_out(out.len() as u64);
        let timeout = self.shared.config.player_write_timeout;
        match tokio::time::timeout(timeout, self.writer.write_all(&out)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::Protocol(
                "slow_player",
                "response not written in time".into(),
            )),
        }
    }

    /// Handles a request and answers it; `Some` ends the connection.
    async fn on_request(&mut self, req: Request, ctx: &mut Ctx<'_>) -> Option<End> {
        let cseq = req.headers.cseq();
        let (mut resp, end) = match self.answer(&req, ctx).await {
            Ok(r) => (r, None),
            Err(Refusal { status, end }) => (Response::new(status, None), end),
        };
        if let Some(cseq) = cseq {
            resp.headers.set("CSeq", cseq.to_string());
        }
        resp.headers.set("Server", "weir");
        if let Some(s) = &self.session {
            if resp.headers.get("Session").is_none() && resp.status < 300 {
                resp.headers.set("Session", s.header().to_string());
            }
        }
        if let Err(e) = self.send(&resp).await {
            return Some(e);
        }
        end
    }

    async fn answer(&mut self, req: &Request, ctx: &mut Ctx<'_>) -> Result<Response, Refusal> {
        if let Some(s) = &mut self.session {
            if req.headers.get("Session").is_some() {
                s.check(req).map_err(Refusal::status)?;
            }
            s.touch(std::time::Instant::now());
        }
        let ok = || Response::new(200, None);
        match req.method {
            Method::Options => {
                let mut r = ok();
                r.headers.set("Public", PUBLIC);
                Ok(r)
            }
            Method::GetParameter | Method::SetParameter => Ok(ok()),
            Method::Describe => self.describe(req).await,
            Method::Announce => self.announce(req).await,
            Method::Setup => self.setup(req, ctx).await,
            Method::Record => {
                let s = self.session.as_mut().ok_or(Refusal::status(454))?;
                s.record().map_err(Refusal::status)?;
                if ctx.publisher.is_none() {
                    let admission = self.stream.admission.as_ref().ok_or(Refusal::status(455))?;
                    match self.shared.hub.publish(admission) {
                        Ok(p) => {
                            info!(id = self.client.id(), peer = %self.addr, stream = %admission.key(), "rtsp publish");
                            *ctx.publisher = Some(p);
                        }
                        Err(HubError::AlreadyPublishing(_)) => {
                            return Err(Refusal {
                                status: 403,
                                end: Some(End::Protocol(
                                    "already_publishing",
                                    "stream already published".into(),
                                )),
                            })
                        }
                        Err(e) => {
                            return Err(Refusal {
                                status: 503,
                                end: Some(End::Protocol("publish_refused", e.to_string())),
                            })
                        }
                    }
                }
                Ok(ok())
            }
            Method::Play => {
                let s = self.session.as_mut().ok_or(Refusal::status(454))?;
                s.play().map_err(Refusal::status)?;
                let mut ch = Channels::default();
                for t in s.tracks() {
                    let udp = self.stream.udp_dest.iter().find(|d| d.0 == t.track);
                    let dest = match (t.transport.interleaved, udp) {
                        (Some((rtp, _)), _) => Some(Dest::Tcp(rtp)),
                        (None, Some(&(_, rtp, rtcp))) => Some(Dest::Udp(rtp, rtcp)),
                        _ => None,
                    };
                    match self.stream.described.get(t.track) {
                        Some(TrackKind::Video) => ch.video = dest,
                        Some(TrackKind::Audio) => ch.audio = dest,
                        _ => {}
                    }
                }
                *ctx.channels = ch;
                if ctx.rx.is_none() {
                    let admission = self.stream.admission.as_ref().ok_or(Refusal::status(455))?;
                    info!(id = self.client.id(), peer = %self.addr, stream = %admission.key(), "rtsp play");
                    *ctx.rx = Some(self.shared.egress.subscribe(admission));
                }
                let mut r = ok();
                r.headers.set("Range", "npt=0.000-");
                Ok(r)
            }
            Method::Pause => {
                let s = self.session.as_mut().ok_or(Refusal::status(454))?;
                s.pause().map_err(Refusal::status)?;
                // Resuming starts at the latest keyframe, like a new player.
                *ctx.rx = None;
                Ok(ok())
            }
            Method::Teardown => Err(Refusal {
                status: 200,
                end: Some(End::Teardown),
            }),
            Method::Redirect | Method::Other(_) => Err(Refusal::status(501)),
        }
    }

    fn target(req: &Request) -> Result<Target, Refusal> {
        url::parse(&req.uri).ok_or(Refusal::status(404))
    }

    async fn admit(&mut self, action: Action, target: &Target) -> Result<(), Refusal> {
        if self.stream.admission.is_some() {
            // One stream per session: a second DESCRIBE/ANNOUNCE of the
            // same key is fine, anything else is not.
            if self.stream.key.as_ref() == Some(&target.key)
                && self.stream.admission.as_ref().map(|a| a.action()) == Some(action)
            {
                return Ok(());
            }
            return Err(Refusal::status(455));
        }
        match self
            .shared
            .hub
            .admit(&self.client, action, &target.key, &target.query)
            .await
        {
            Ok(a) => {
                self.stream.key = Some(target.key.clone());
                self.stream.admission = Some(a);
                Ok(())
            }
            Err(denied) => Err(Refusal {
                status: 403,
                end: Some(End::Denied(denied.to_string())),
            }),
        }
    }

    async fn describe(&mut self, req: &Request) -> Result<Response, Refusal> {
        let target = Self::target(req)?;
        self.admit(Action::Play, &target).await?;
        let host = url::authority(&req.uri).unwrap_or("localhost").to_owned();
        let admission = self.stream.admission.as_ref().ok_or(Refusal::status(455))?;
        let shared = &self.shared;
        let tracks = describe::tracks(
            &shared.hub,
            &shared.egress,
            admission,
            shared.config.play_wait,
        )
        .await
        .ok_or(Refusal::status(404))?;
        self.stream.described = tracks.iter().map(|(k, _)| *k).collect();
        let base = url::stream_base(&host, &target.key);
        let sdp = describe::sdp(&tracks, &base, &target.query, &host);
        let mut r = Response::new(200, None);
        r.headers.set("Content-Type", "application/sdp");
        r.headers.set("Content-Base", format!("{base}/"));
        r.body = Bytes::from(sdp);
        Ok(r)
    }

    async fn announce(&mut self, req: &Request) -> Result<Response, Refusal> {
        let target = Self::target(req)?;
        let sdp = match SessionDescription::parse(&req.body) {
            Ok(sdp) => sdp,
            Err(e) => {
                self.shared.hub.clients().count_error("rtsp", "bad_sdp");
                debug!(id = self.client.id(), error = %e, "rtsp announce: bad SDP");
                return Err(Refusal::status(400));
            }
        };
        self.admit(Action::Publish, &target).await?;
        let tracks: Vec<Option<InTrack>> = sdp.media.iter().map(InTrack::new).collect();
        if tracks.iter().all(Option::is_none) {
            self.shared
                .hub
                .clients()
                .count_error("rtsp", "unsupported_codec");
            return Err(Refusal::status(415));
        }
        self.stream.reorder = tracks.iter().map(|_| ReorderBuffer::new(REORDER)).collect();
        self.stream.announced = Some(tracks);
        Ok(Response::new(200, None))
    }

    async fn setup(&mut self, req: &Request, ctx: &mut Ctx<'_>) -> Result<Response, Refusal> {
        let target = Self::target(req)?;
        let track = target.track.unwrap_or(0);
        let offered = req
            .headers
            .get("Transport")
            .and_then(|t| Transport::parse_list(t).ok())
            .ok_or(Refusal::status(400))?;
        if self.stream.key.as_ref().is_some_and(|k| *k != target.key) {
            return Err(Refusal::status(459));
        }
        let count = match &self.stream.announced {
            Some(tracks) => tracks.len(),
            None => {
                if self.stream.admission.is_none() {
                    // SETUP without DESCRIBE: describe now.
                    self.describe(req).await?;
                }
                self.stream.described.len()
            }
        };
        if track >= count {
            return Err(Refusal::status(404));
        }
        let udp = self.shared.udp.clone();
        let policy = TransportPolicy {
            udp: udp.is_some(),
            multicast: false,
            server_ports: udp.as_ref().map_or((0, 0), |u| u.ports()),
        };
        let timeout = self.shared.config.session_timeout;
        let session = self.session.get_or_insert_with(|| {
            let id: u64 = rand::thread_rng().gen();
            ServerSession::new(format!("{id:016X}"), timeout, std::time::Instant::now())
        });
        // Without the UDP ports only TCP is served: an offer without TCP
        // is 461.
        let offered: Vec<Transport> = offered
            .into_iter()
            .filter(|t| policy.udp || t.lower == LowerTransport::Tcp)
            .collect();
        let answer = session
            .setup(track, &offered, &policy)
            .map_err(Refusal::status)?;
        if let (Some(udp), LowerTransport::Udp, Some((a, b))) =
            (udp, answer.lower, answer.client_port)
        {
            let ip = self.addr.ip();
            let (rtp, rtcp) = (SocketAddr::new(ip, a), SocketAddr::new(ip, b));
            if answer.mode == Some(TransportMode::Record) {
                let tx = match &self.stream.udp_tx {
                    Some(tx) => tx.clone(),
                    None => {
                        let (tx, rx) = mpsc::channel(QUEUE);
                        *ctx.udp_in = Some(rx);
                        self.stream.udp_tx = Some(tx.clone());
                        tx
                    }
                };
                self.stream.routes.push(udp.register(rtp, rtcp, track, tx));
            } else {
                self.stream.udp_dest.retain(|d| d.0 != track);
                self.stream.udp_dest.push((track, rtp, rtcp));
            }
        }
        let mut r = Response::new(200, None);
        r.headers.set("Transport", answer.to_string());
        r.headers.set("Session", session.header().to_string());
        Ok(r)
    }
}

/// The player's and publisher's handles, which live outside [`Conn`] so
/// that the connection loop can wait on them while it owns the rest.
struct Ctx<'a> {
    publisher: &'a mut Option<Publisher>,
    rx: &'a mut Option<Receiver<Rtp>>,
    channels: &'a mut Channels,
    udp_in: &'a mut Option<mpsc::Receiver<UdpIn>>,
}

/// An error status, and whether the connection then closes.
struct Refusal {
    status: u16,
    end: Option<End>,
}

impl Refusal {
    fn status(status: u16) -> Refusal {
        Refusal { status, end: None }
    }
}
