//! The server side of one RTSP session (RFC 2326 §A.2): which tracks are
//! set up with which transport, whether it plays or records, and when it
//! has been idle too long.
//!
//! The adapter owns everything else (admission, the hub, sockets); it asks
//! this state machine whether a request is valid in the session's state and
//! gets the RTSP status to answer when it is not: 454 for a wrong session
//! id, 455 for a method not valid in this state, 461 when no offered
//! transport is acceptable. Time comes in as `Instant`s from the caller.

use std::time::{Duration, Instant};

use crate::headers::{LowerTransport, SessionHeader, Transport, TransportMode};
use crate::message::Request;
use crate::sdp::MAX_MEDIA;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created, no track set up yet.
    Init,
    /// Tracks set up, not streaming (or paused).
    Ready,
    /// Sending to the client (after PLAY).
    Playing,
    /// Receiving from the client (after RECORD).
    Recording,
}

/// Which transports the server offers; the adapter builds it from config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportPolicy {
    /// UDP unicast is accepted.
    pub udp: bool,
    /// The server's RTP/RTCP port pair for UDP, shared by every session.
    pub server_ports: (u16, u16),
}

/// Where a track's multicast packets go: the adapter picks a group per
/// stream and track, and a SETUP that asks for multicast is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticastGroup {
    /// The group address (`destination=`).
    pub destination: String,
    /// The RTP and RTCP ports (`port=`).
    pub ports: (u16, u16),
    /// The packets' time to live (`ttl=`).
    pub ttl: u8,
}

/// One set-up track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSetup {
    /// Index of the track in the stream's SDP.
    pub track: usize,
    /// The transport as answered to the client.
    pub transport: Transport,
}

/// One RTSP session as the server sees it.
#[derive(Debug, Clone)]
pub struct Session {
    id: String,
    timeout: Duration,
    state: State,
    mode: Option<TransportMode>,
    tracks: Vec<TrackSetup>,
    last_seen: Instant,
}

impl Session {
    /// A new session with an id the caller chose (random, unguessable) and
    /// the idle timeout it advertises, created at `now`.
    pub fn new(id: impl Into<String>, timeout: Duration, now: Instant) -> Self {
        Session {
            id: id.into(),
            timeout,
            state: State::Init,
            mode: None,
            tracks: Vec::new(),
            last_seen: now,
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `Session` header value for responses (`id;timeout=secs`).
    pub fn header(&self) -> SessionHeader {
        SessionHeader {
            id: self.id.clone(),
            timeout: Some(self.timeout.as_secs() as u32),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Play or record, once the first track is set up.
    pub fn mode(&self) -> Option<TransportMode> {
        self.mode
    }

    /// The set-up tracks, in SETUP order.
    pub fn tracks(&self) -> &[TrackSetup] {
        &self.tracks
    }

    /// Notes activity (any request, or RTCP from the client) at `now`.
    pub fn touch(&mut self, now: Instant) {
        self.last_seen = self.last_seen.max(now);
    }

    /// Whether the session has been idle longer than its timeout at `now`
    /// (the adapter then frees it).
    pub fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) > self.timeout
    }

    /// Checks that a request names this session: 454 if its `Session`
    /// header is missing, malformed or another id.
    pub fn check(&self, request: &Request) -> Result<(), u16> {
        let header = request.headers.get("Session").ok_or(454u16)?;
        let header = SessionHeader::parse(header).map_err(|_| 454u16)?;
        if header.id == self.id {
            Ok(())
        } else {
            Err(454)
        }
    }

    /// SETUP of `track` with the client's transport choices (in its order
    /// of preference). Returns the transport to answer with: TCP gets its
    /// interleaved channels (the client's, or the next free pair), UDP the
    /// client's ports and the server's pair, multicast (for play, when the
    /// adapter has a `group` for the track) the group. Errors: 461 when
    /// nothing offered is acceptable, 455 when a session mixes play and
    /// record or sets up while streaming, 400 for a track index beyond the
    /// SDP bound.
    pub fn setup(
        &mut self,
        track: usize,
        offered: &[Transport],
        policy: &TransportPolicy,
        group: Option<&MulticastGroup>,
    ) -> Result<Transport, u16> {
        if track >= MAX_MEDIA {
            return Err(400);
        }
        if matches!(self.state, State::Playing | State::Recording) {
            return Err(455);
        }
        let mut chosen = None;
        for t in offered {
            let mode = t.mode.unwrap_or(TransportMode::Play);
            if self.mode.is_some_and(|m| m != mode) {
                return Err(455);
            }
            let mut answer = t.clone();
            match (t.lower, t.multicast) {
                (LowerTransport::Tcp, _) => {
                    answer.multicast = false;
                    answer.interleaved = Some(self.channels_for(track, t.interleaved));
                }
                (LowerTransport::Udp, false) if policy.udp && t.client_port.is_some() => {
                    answer.server_port = Some(policy.server_ports);
                }
                (LowerTransport::Udp, true) if mode == TransportMode::Play => {
                    let Some(g) = group else { continue };
                    answer.client_port = None;
                    answer.destination = Some(g.destination.clone());
                    answer.port = Some(g.ports);
                    answer.ttl = Some(g.ttl);
                }
                _ => continue,
            }
            chosen = Some((answer, mode));
            break;
        }
        let (answer, mode) = chosen.ok_or(461u16)?;
        self.mode = Some(mode);
        self.tracks.retain(|s| s.track != track);
        self.tracks.push(TrackSetup {
            track,
            transport: answer.clone(),
        });
        self.state = State::Ready;
        Ok(answer)
    }

    /// The client's interleaved pair if free, otherwise the lowest free
    /// even pair (a bounded search: at most `MAX_MEDIA` tracks).
    fn channels_for(&self, track: usize, wanted: Option<(u8, u8)>) -> (u8, u8) {
        let used = |c: u8| {
            self.tracks.iter().any(|s| {
                s.track != track
                    && s.transport
                        .interleaved
                        .is_some_and(|(a, b)| a == c || b == c)
            })
        };
        if let Some((a, b)) = wanted {
            if a != b && !used(a) && !used(b) {
                return (a, b);
            }
        }
        (0..=127u8)
            .map(|i| (2 * i, 2 * i + 1))
            .find(|&(a, b)| !used(a) && !used(b))
            .unwrap_or((254, 255))
    }

    /// Which set-up track an interleaved channel belongs to, and whether
    /// it is the RTCP channel of the pair.
    pub fn channel_track(&self, channel: u8) -> Option<(usize, bool)> {
        self.tracks
            .iter()
            .find_map(|s| match s.transport.interleaved {
                Some((rtp, _)) if rtp == channel => Some((s.track, false)),
                Some((_, rtcp)) if rtcp == channel => Some((s.track, true)),
                _ => None,
            })
    }

    /// Whether PLAY (`Play`) or RECORD (`Record`) would be valid now
    /// (`Err(455)` otherwise), without changing state.
    pub fn can_start(&self, mode: TransportMode) -> Result<(), u16> {
        let to = match mode {
            TransportMode::Play => State::Playing,
            TransportMode::Record => State::Recording,
        };
        match self.state {
            State::Ready if self.mode == Some(mode) => Ok(()),
            s if s == to => Ok(()),
            _ => Err(455),
        }
    }

    /// PLAY: valid when tracks are set up for playing (455 otherwise).
    pub fn play(&mut self) -> Result<(), u16> {
        self.start(TransportMode::Play, State::Playing)
    }

    /// RECORD: valid when tracks are set up for recording (455 otherwise).
    pub fn record(&mut self) -> Result<(), u16> {
        self.start(TransportMode::Record, State::Recording)
    }

    fn start(&mut self, mode: TransportMode, to: State) -> Result<(), u16> {
        self.can_start(mode)?;
        self.state = to;
        Ok(())
    }

    /// PAUSE: back to Ready (455 before any SETUP).
    pub fn pause(&mut self) -> Result<(), u16> {
        if self.state == State::Init {
            return Err(455);
        }
        self.state = State::Ready;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Method;

    const POLICY: TransportPolicy = TransportPolicy {
        udp: true,
        server_ports: (8000, 8001),
    };

    fn offer(s: &str) -> Vec<Transport> {
        Transport::parse_list(s).unwrap()
    }

    #[test]
    fn publish_over_tcp() {
        let now = Instant::now();
        let mut s = Session::new("abc", Duration::from_secs(60), now);
        assert_eq!(s.record(), Err(455));
        let t = s
            .setup(
                0,
                &offer("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"),
                &POLICY,
                None,
            )
            .unwrap();
        assert_eq!(t.interleaved, Some((0, 1)));
        // A client asking for channels already taken gets the next free pair.
        let t = s
            .setup(
                1,
                &offer("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"),
                &POLICY,
                None,
            )
            .unwrap();
        assert_eq!(t.interleaved, Some((2, 3)));
        assert_eq!(s.channel_track(3), Some((1, true)));
        assert_eq!(s.channel_track(0), Some((0, false)));
        assert_eq!(s.channel_track(9), None);
        assert_eq!(s.play(), Err(455));
        s.record().unwrap();
        assert_eq!(s.state(), State::Recording);
        assert_eq!(
            s.setup(
                2,
                &offer("RTP/AVP/TCP;interleaved=4-5;mode=record"),
                &POLICY,
                None
            ),
            Err(455)
        );
        assert_eq!(s.header().to_string(), "abc;timeout=60");
    }

    #[test]
    fn play_over_udp_and_transport_choice() {
        let now = Instant::now();
        let mut s = Session::new("x", Duration::from_secs(30), now);
        // No multicast group, so the second choice wins.
        let t = s
            .setup(
                0,
                &offer("RTP/AVP;multicast,RTP/AVP;unicast;client_port=5000-5001"),
                &POLICY,
                None,
            )
            .unwrap();
        assert_eq!(t.server_port, Some((8000, 8001)));
        assert_eq!(t.client_port, Some((5000, 5001)));
        assert_eq!(
            s.setup(1, &offer("RTP/AVP;multicast"), &POLICY, None),
            Err(461)
        );
        // UDP without client ports cannot be served.
        assert_eq!(
            s.setup(1, &offer("RTP/AVP;unicast"), &POLICY, None),
            Err(461)
        );
        assert_eq!(
            s.setup(
                1,
                &offer("RTP/AVP/TCP;interleaved=0-1;mode=record"),
                &POLICY,
                None
            ),
            Err(455)
        );
        let group = MulticastGroup {
            destination: "224.1.0.2".into(),
            ports: (5002, 5003),
            ttl: 4,
        };
        let t = s
            .setup(1, &offer("RTP/AVP;multicast"), &POLICY, Some(&group))
            .unwrap();
        assert_eq!(
            t.to_string(),
            "RTP/AVP;multicast;destination=224.1.0.2;port=5002-5003;ttl=4"
        );
        s.play().unwrap();
        s.pause().unwrap();
        assert_eq!(s.state(), State::Ready);
        s.play().unwrap();
        assert_eq!(s.mode(), Some(TransportMode::Play));
    }

    #[test]
    fn session_check_and_timeout() {
        let t0 = Instant::now();
        let mut s = Session::new("id1", Duration::from_secs(60), t0);
        let mut r = Request::new(Method::Play, "rtsp://h/a", 4);
        assert_eq!(s.check(&r), Err(454));
        r.headers.append("Session", "other");
        assert_eq!(s.check(&r), Err(454));
        r.headers.set("Session", "id1;timeout=60");
        assert_eq!(s.check(&r), Ok(()));
        assert!(!s.expired(t0 + Duration::from_secs(60)));
        assert!(s.expired(t0 + Duration::from_secs(61)));
        s.touch(t0 + Duration::from_secs(50));
        assert!(!s.expired(t0 + Duration::from_secs(100)));
        assert_eq!(
            s.setup(MAX_MEDIA, &offer("RTP/AVP/TCP"), &POLICY, None),
            Err(400)
        );
    }
}
