//! The sans-IO RTSP server connection: one per accepted TCP connection.
//!
//! It reads the connection's bytes (requests and `$`-framed RTP/RTCP),
//! answers what needs no decision (OPTIONS, keep-alives, CSeq, `Session`
//! ids and states, transports, TEARDOWN, idle expiry) and turns the rest
//! into [`ServerEvent`]s. It never decides policy: whether a stream may be
//! described, announced, played or recorded is the caller's answer through
//! [`ServerSession::accept`], [`ServerSession::refuse`],
//! [`ServerSession::challenge`] and friends, so admission and the hub stay
//! in the adapter. Media for players is not sent through it either: a
//! shared per-stream packetizer frames it once for every player.
//!
//! The str0m / quinn-proto shape: feed bytes with
//! [`ServerSession::handle_input`], call [`ServerSession::poll_output`]
//! until it returns [`ServerOutput::Timeout`], and call
//! [`ServerSession::handle_timeout`] when that deadline passes. One request
//! is decided at a time: bytes after a request that waits for an answer
//! stay buffered until it is answered (RTSP answers in order anyway).

mod nonce;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::auth::{basic_challenge, Credentials, DigestAlgorithm, DigestChallenge};
use crate::error::RtspError;
use crate::headers::{Transport, TransportMode};
use crate::message::{Decoder, Item, Limits, Message, Method, Request, Response};
use crate::sdp::SessionDescription;
use crate::session::{MulticastGroup, Session, State, TransportPolicy};

use self::nonce::Nonces;

/// The methods the server answers, for `Public:`.
const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER, ANNOUNCE, RECORD";

/// Server connection settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Message size limits.
    pub limits: Limits,
    /// A connection that is not playing and sends nothing for this long
    /// expires ([`ServerEvent::Expired`]); advertised as
    /// `Session: id;timeout=N`.
    pub session_timeout: Duration,
    /// Which unicast transports SETUP may choose.
    pub transports: TransportPolicy,
    /// The `Server:` header and the auth realm.
    pub name: String,
    /// How long a Digest nonce this connection issued stays valid.
    pub nonce_lifetime: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            session_timeout: Duration::from_secs(60),
            transports: TransportPolicy {
                udp: false,
                server_ports: (0, 0),
            },
            name: "weir".into(),
            nonce_lifetime: Duration::from_secs(60),
        }
    }
}

/// What the caller must do next.
// An output is moved once, out of the session's queue: boxing events
// would cost an allocation per interleaved packet for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOutput {
    /// Write these bytes to the peer, in order with other transmits.
    Transmit(Bytes),
    /// Something the caller acts on.
    Event(ServerEvent),
    /// Nothing more to do; call [`ServerSession::handle_timeout`] at this
    /// time if no input comes first.
    Timeout(Instant),
}

/// A request the caller decides: its URI and the credentials it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The request URI as sent.
    pub uri: String,
    /// The method (a Digest response covers it).
    pub method: Method,
    /// `Authorization`, when it parsed and (for Digest) answers a nonce of
    /// this connection that has not expired.
    pub credentials: Option<Credentials>,
}

impl Ask {
    /// The password the credentials prove: Basic's as sent, Digest's the
    /// first of `candidates` its response matches. `None` without
    /// credentials or when nothing matches.
    pub fn password<'a>(&self, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
        match self.credentials.as_ref()? {
            Credentials::Basic { password, .. } => Some(password.clone()),
            Credentials::Digest(d) => candidates
                .into_iter()
                .find(|p| d.verify(self.method.as_str(), p))
                .map(str::to_owned),
        }
    }
}

/// What the peer did or asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// DESCRIBE: answer [`ServerSession::accept_describe`], or refuse.
    Describe(Ask),
    /// ANNOUNCE with a valid SDP: answer [`ServerSession::accept`], or
    /// refuse.
    Announce {
        /// The request.
        ask: Ask,
        /// The publisher's description (boxed: it is the largest event).
        sdp: Box<SessionDescription>,
    },
    /// SETUP: the caller names the track the URI means and answers
    /// [`ServerSession::accept_setup`], or refuses (404, 459...).
    Setup {
        /// The request.
        ask: Ask,
        /// The client's transport choices, in its order (the caller may
        /// prepare a multicast group when one asks for multicast).
        offered: Vec<Transport>,
    },
    /// PLAY of a session set up for playing: answer
    /// [`ServerSession::accept`] (the player then gets media), or refuse.
    Play(Ask),
    /// RECORD of a session set up for recording: answer
    /// [`ServerSession::accept`], or refuse.
    Record(Ask),
    /// The player paused (already answered): stop sending.
    Pause,
    /// TEARDOWN (already answered): close after writing the transmits.
    Teardown,
    /// An interleaved packet on a set-up channel.
    Interleaved {
        /// The SDP track it belongs to.
        track: usize,
        /// It came on the RTCP channel of the pair.
        rtcp: bool,
        /// The RTP or RTCP packet.
        data: Bytes,
    },
    /// Peer input the session answered or dropped and the caller counts
    /// (`bad_sdp`, `unknown_channel`); the connection goes on.
    Counted(&'static str),
    /// Nothing came for longer than the session timeout: close.
    Expired,
    /// The peer broke the protocol (a malformed or oversized message; the
    /// status answer is queued before this): write the transmits and
    /// close. Count it as `too_large` when its status is 413, else
    /// `bad_request`.
    Error(RtspError),
}

/// The request waiting for the caller's answer.
#[derive(Debug)]
struct Pending {
    cseq: Option<u32>,
    method: Method,
    /// SETUP's transport choices, in the client's order.
    offered: Vec<Transport>,
}

/// One server-side RTSP connection, sans IO. At most one RTSP session
/// lives on it (what ffmpeg, GStreamer, VLC and cameras do over TCP).
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    decoder: Decoder,
    inbuf: BytesMut,
    out: VecDeque<ServerOutput>,
    session_id: String,
    session: Option<Session>,
    pending: Option<Pending>,
    nonces: Nonces,
    /// The latest time the caller gave.
    now: Instant,
    last_activity: Instant,
    /// TEARDOWN, expiry or a fatal error: nothing more is read.
    closed: bool,
}

impl ServerSession {
    /// A connection accepted at `now`; `session_id` is the id its RTSP
    /// session will have (random and unguessable: the caller makes it).
    pub fn new(config: ServerConfig, session_id: impl Into<String>, now: Instant) -> Self {
        ServerSession {
            decoder: Decoder::new(config.limits),
            nonces: Nonces::new(config.nonce_lifetime),
            config,
            inbuf: BytesMut::new(),
            out: VecDeque::new(),
            session_id: session_id.into(),
            session: None,
            pending: None,
            now,
            last_activity: now,
            closed: false,
        }
    }

    /// Bytes from the peer, received at `now`. A message that breaks the
    /// protocol comes out as [`ServerEvent::Error`] (from here or from a
    /// later answer that resumes reading), never as a panic.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.now = self.now.max(now);
        self.last_activity = self.now;
        if self.closed {
            return;
        }
        self.inbuf.extend_from_slice(bytes);
        self.process();
    }

    /// Activity that does not pass through here (RTP or RTCP of this
    /// session over UDP) at `now`: it keeps the session alive.
    pub fn touch(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.last_activity = self.now;
    }

    /// The deadline of the last [`ServerOutput::Timeout`] may have passed.
    /// A playing session never expires while its connection is open (UDP
    /// players send nothing on it); others do after the session timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.closed || now < self.deadline() {
            return;
        }
        let playing = self.state() == Some(State::Playing);
        if playing || self.pending.is_some() {
            self.last_activity = self.now;
        } else {
            self.closed = true;
            self.out
                .push_back(ServerOutput::Event(ServerEvent::Expired));
        }
    }

    /// The next thing to do, in order; ends with a `Timeout`.
    pub fn poll_output(&mut self) -> ServerOutput {
        self.out
            .pop_front()
            .unwrap_or(ServerOutput::Timeout(self.deadline()))
    }

    fn deadline(&self) -> Instant {
        self.last_activity + self.config.session_timeout
    }

    /// The RTSP session's state, once a SETUP made one.
    pub fn state(&self) -> Option<State> {
        self.session.as_ref().map(Session::state)
    }

    /// The RTSP session (its tracks and transports), once a SETUP made one.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Answers the pending ANNOUNCE, PLAY or RECORD with 200 (PLAY and
    /// RECORD also move the session to playing or recording).
    pub fn accept(&mut self) {
        let Some(p) = self.pending.take() else { return };
        let mut r = Response::new(200, None);
        let started = match p.method {
            Method::Play => {
                r.headers.set("Range", "npt=0.000-");
                self.session.as_mut().map(Session::play)
            }
            Method::Record => self.session.as_mut().map(Session::record),
            Method::Announce => Some(Ok(())),
            _ => Some(Err(500)),
        };
        match started {
            Some(Ok(())) => self.respond(p.cseq, r),
            Some(Err(status)) => self.respond(p.cseq, Response::new(status, None)),
            None => self.respond(p.cseq, Response::new(454, None)),
        }
        self.process();
    }

    /// Answers the pending DESCRIBE with this SDP and `Content-Base`.
    pub fn accept_describe(&mut self, sdp: impl Into<Bytes>, content_base: &str) {
        let Some(p) = self.pending.take() else { return };
        let mut r = Response::new(200, None);
        r.headers.set("Content-Type", "application/sdp");
        r.headers.set("Content-Base", content_base);
        r.body = sdp.into();
        self.respond(p.cseq, r);
        self.process();
    }

    /// Answers the pending SETUP for SDP track `track`: the first offered
    /// transport the policy serves (multicast only with a `group`), or 461
    /// / 455. Returns the transport answered, for the caller to route.
    pub fn accept_setup(
        &mut self,
        track: usize,
        group: Option<&MulticastGroup>,
    ) -> Option<Transport> {
        let p = self.pending.take()?;
        // A session exists from its first SETUP that succeeds.
        let mut session = self.session.take().unwrap_or_else(|| {
            Session::new(
                self.session_id.clone(),
                self.config.session_timeout,
                self.now,
            )
        });
        let chosen = session.setup(track, &p.offered, &self.config.transports, group);
        if chosen.is_ok() || !session.tracks().is_empty() {
            self.session = Some(session);
        }
        let answer = match &chosen {
            Ok(t) => {
                let mut r = Response::new(200, None);
                r.headers.set("Transport", t.to_string());
                r
            }
            Err(status) => Response::new(*status, None),
        };
        self.respond(p.cseq, answer);
        self.process();
        chosen.ok()
    }

    /// Refuses the pending request with `status` (403, 404, 455...).
    pub fn refuse(&mut self, status: u16) {
        let Some(p) = self.pending.take() else { return };
        self.respond(p.cseq, Response::new(status, None));
        self.process();
    }

    /// Answers the pending request 401 with Digest (SHA-256, then MD5 for
    /// clients that know only that) and Basic challenges under `nonce`
    /// (random: the caller makes it), valid for the configured lifetime.
    pub fn challenge(&mut self, nonce: impl Into<String>) {
        let Some(p) = self.pending.take() else { return };
        let nonce = nonce.into();
        self.nonces.issue(nonce.clone(), self.now);
        let mut r = Response::new(401, None);
        // ffmpeg and GStreamer take the last Digest challenge they can
        // compute; RFC 7616 §3.7 wants the preferred one first.
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
            let challenge = DigestChallenge {
                realm: self.config.name.clone(),
                nonce: nonce.clone(),
                algorithm,
                qop_auth: false,
                opaque: None,
            };
            r.headers.append("WWW-Authenticate", challenge.to_string());
        }
        r.headers
            .append("WWW-Authenticate", basic_challenge(&self.config.name));
        self.respond(p.cseq, r);
        self.process();
    }

    /// Decodes and handles buffered items until one waits for an answer.
    fn process(&mut self) {
        while self.pending.is_none() && !self.closed {
            let item = match self.decoder.decode(&mut self.inbuf) {
                Ok(Some(item)) => item,
                Ok(None) => return,
                Err(e) => {
                    self.closed = true;
                    self.inbuf = BytesMut::new();
                    let mut r = Response::new(e.status(), None);
                    r.headers.set("Connection", "close");
                    self.respond(None, r);
                    self.event(ServerEvent::Error(e));
                    return;
                }
            };
            match item {
                Item::Interleaved { channel, data } => self.on_interleaved(channel, data),
                // A client's answer to something we never ask.
                Item::Message(Message::Response(_)) => {}
                Item::Message(Message::Request(req)) => self.on_request(req),
            }
        }
    }

    fn on_interleaved(&mut self, channel: u8, data: Bytes) {
        let event = match self.session.as_ref().and_then(|s| s.channel_track(channel)) {
            Some((track, rtcp)) => ServerEvent::Interleaved { track, rtcp, data },
            None => ServerEvent::Counted("unknown_channel"),
        };
        self.event(event);
    }

    fn on_request(&mut self, req: Request) {
        let cseq = req.headers.cseq();
        if let Some(s) = &self.session {
            if req.headers.get("Session").is_some() {
                if let Err(status) = s.check(&req) {
                    return self.respond(cseq, Response::new(status, None));
                }
            }
        }
        let ask = |this: &Self| Ask {
            credentials: this.credentials(&req),
            uri: req.uri.clone(),
            method: req.method.clone(),
        };
        let wait = |this: &mut Self, event: ServerEvent, offered: Vec<Transport>| {
            this.pending = Some(Pending {
                cseq,
                method: req.method.clone(),
                offered,
            });
            this.event(event);
        };
        match req.method {
            Method::Options => {
                let mut r = Response::new(200, None);
                r.headers.set("Public", PUBLIC);
                self.respond(cseq, r);
            }
            Method::GetParameter | Method::SetParameter => {
                self.respond(cseq, Response::new(200, None))
            }
            Method::Describe => wait(self, ServerEvent::Describe(ask(self)), Vec::new()),
            Method::Announce => match SessionDescription::parse(&req.body) {
                Ok(sdp) => {
                    let event = ServerEvent::Announce {
                        ask: ask(self),
                        sdp: Box::new(sdp),
                    };
                    wait(self, event, Vec::new());
                }
                Err(_) => {
                    self.event(ServerEvent::Counted("bad_sdp"));
                    self.respond(cseq, Response::new(400, None));
                }
            },
            Method::Setup => {
                let offered = req
                    .headers
                    .get("Transport")
                    .and_then(|t| Transport::parse_list(t).ok());
                match offered {
                    Some(offered) => {
                        let event = ServerEvent::Setup {
                            ask: ask(self),
                            offered: offered.clone(),
                        };
                        wait(self, event, offered);
                    }
                    None => self.respond(cseq, Response::new(400, None)),
                }
            }
            Method::Play | Method::Record => {
                let (mode, event): (_, fn(Ask) -> ServerEvent) = if req.method == Method::Play {
                    (TransportMode::Play, ServerEvent::Play)
                } else {
                    (TransportMode::Record, ServerEvent::Record)
                };
                match self.session.as_ref().map(|s| s.can_start(mode)) {
                    None => self.respond(cseq, Response::new(454, None)),
                    Some(Err(status)) => self.respond(cseq, Response::new(status, None)),
                    Some(Ok(())) => wait(self, event(ask(self)), Vec::new()),
                }
            }
            Method::Pause => match self.session.as_mut().map(Session::pause) {
                None => self.respond(cseq, Response::new(454, None)),
                Some(Err(status)) => self.respond(cseq, Response::new(status, None)),
                Some(Ok(())) => {
                    self.respond(cseq, Response::new(200, None));
                    self.event(ServerEvent::Pause);
                }
            },
            Method::Teardown => {
                self.respond(cseq, Response::new(200, None));
                self.closed = true;
                self.event(ServerEvent::Teardown);
            }
            Method::Redirect | Method::Other(_) => self.respond(cseq, Response::new(501, None)),
        }
    }

    /// The request's credentials, if they parse and a Digest answers one
    /// of our live nonces (anything else is answered like no credentials:
    /// with a fresh challenge).
    fn credentials(&self, req: &Request) -> Option<Credentials> {
        let creds = Credentials::parse(req.headers.get("Authorization")?).ok()?;
        match &creds {
            Credentials::Digest(d) if !self.nonces.valid(&d.nonce, self.now) => None,
            _ => Some(creds),
        }
    }

    fn event(&mut self, event: ServerEvent) {
        self.out.push_back(ServerOutput::Event(event));
    }

    /// Queues `r` with the headers every answer has.
    fn respond(&mut self, cseq: Option<u32>, mut r: Response) {
        // CSeq first, as clients write it.
        let mut headers = Response::new(r.status, cseq).headers;
        for (name, value) in r.headers.iter() {
            headers.append(name, value);
        }
        r.headers = headers;
        r.headers.set("Server", self.config.name.clone());
        if let Some(s) = &self.session {
            if r.status < 300 {
                r.headers.set("Session", s.header().to_string());
            }
        }
        let mut bytes = Vec::new();
        r.write(&mut bytes);
        self.out.push_back(ServerOutput::Transmit(bytes.into()));
    }
}
