//! The server connection over requests captured from ffprobe, ffmpeg and
//! GStreamer (`testdata/capture.py`, `testdata/capture_play.py`), answered
//! by a permissive caller, plus the edge cases a peer can cause.

use super::*;
use crate::message::Decoder;

const T0_TIMEOUT: Duration = Duration::from_secs(60);
const NONCE: &str = "6e6f6e6365";
/// The session id the capturing fake server gave (the clients echo it).
const CAPTURED: &str = "12345678";
const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=weir\r\nt=0 0\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn config(udp: bool) -> ServerConfig {
    ServerConfig {
        transports: TransportPolicy {
            udp,
            server_ports: (8000, 8001),
        },
        ..ServerConfig::default()
    }
}

/// What a run produced: the answers (parsed back) and the events.
#[derive(Default)]
struct Run {
    responses: Vec<Response>,
    events: Vec<ServerEvent>,
}

impl Run {
    fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }

    fn interleaved(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Interleaved { rtcp: false, .. }))
            .count()
    }
}

/// How the test caller answers.
#[derive(Clone, Copy)]
struct Caller<'a> {
    /// Challenge DESCRIBE/ANNOUNCE without credentials.
    challenge: bool,
    /// Passwords a Digest may prove; a request whose credentials prove
    /// none of them is refused 403.
    passwords: &'a [&'a str],
    group: Option<&'a MulticastGroup>,
}

const OPEN: Caller<'static> = Caller {
    challenge: false,
    passwords: &[],
    group: None,
};

fn track_of(uri: &str) -> usize {
    let last = uri.rsplit('/').next().unwrap_or_default();
    let digits = last.trim_start_matches(|c: char| !c.is_ascii_digit());
    digits.parse().unwrap_or(0)
}

/// Feeds `bytes` in odd-sized pieces and answers every event.
fn drive(s: &mut ServerSession, bytes: &[u8], caller: Caller<'_>) -> Run {
    let mut run = Run::default();
    let mut wire = BytesMut::new();
    let now = Instant::now();
    for chunk in bytes.chunks(333) {
        s.handle_input(now, chunk);
        loop {
            match s.poll_output() {
                ServerOutput::Timeout(_) => break,
                ServerOutput::Transmit(b) => wire.extend_from_slice(&b),
                ServerOutput::Event(e) => {
                    answer(s, &e, caller);
                    run.events.push(e);
                }
            }
        }
    }
    let mut decoder = Decoder::default();
    while let Some(item) = decoder.decode(&mut wire).unwrap() {
        let Item::Message(Message::Response(r)) = item else {
            panic!("the server sent something else than a response");
        };
        run.responses.push(r);
    }
    run
}

fn answer(s: &mut ServerSession, e: &ServerEvent, caller: Caller<'_>) {
    let admit = |s: &mut ServerSession, ask: &Ask| -> bool {
        if !caller.challenge {
            return true;
        }
        if ask.credentials.is_none() {
            s.challenge(NONCE);
            return false;
        }
        if ask.password(caller.passwords.iter().copied()).is_none() {
            s.refuse(403);
            return false;
        }
        true
    };
    match e {
        ServerEvent::Describe(ask) if admit(s, ask) => {
            s.accept_describe(SDP, "rtsp://127.0.0.1/live/test/")
        }
        ServerEvent::Announce { ask, .. } if admit(s, ask) => s.accept(),
        ServerEvent::Setup { ask, .. } => {
            s.accept_setup(track_of(&ask.uri), caller.group);
        }
        ServerEvent::Play(_) | ServerEvent::Record(_) => s.accept(),
        _ => {}
    }
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers.get(name).unwrap_or_default()
}

#[test]
fn ffprobe_plays_over_tcp() {
    let mut s = ServerSession::new(config(false), CAPTURED, Instant::now());
    let run = drive(&mut s, &fixture("play_ffprobe_tcp.rtsp"), OPEN);
    assert_eq!(run.statuses(), [200; 5]);
    for (i, r) in run.responses.iter().enumerate() {
        assert_eq!(r.headers.cseq(), Some(i as u32 + 1));
        assert_eq!(header(r, "Server"), "weir");
    }
    assert!(header(&run.responses[0], "Public").contains("DESCRIBE"));
    assert_eq!(header(&run.responses[1], "Content-Type"), "application/sdp");
    assert_eq!(&run.responses[1].body[..], SDP.as_bytes());
    assert_eq!(
        header(&run.responses[2], "Transport"),
        "RTP/AVP/TCP;unicast;interleaved=0-1"
    );
    assert_eq!(
        header(&run.responses[3], "Transport"),
        "RTP/AVP/TCP;unicast;interleaved=2-3"
    );
    assert_eq!(header(&run.responses[3], "Session"), "12345678;timeout=60");
    assert_eq!(header(&run.responses[4], "Range"), "npt=0.000-");
    assert_eq!(s.state(), Some(State::Playing));
    assert!(matches!(run.events.last(), Some(ServerEvent::Play(_))));
}

#[test]
fn ffprobe_plays_over_udp_and_multicast() {
    let mut s = ServerSession::new(config(true), CAPTURED, Instant::now());
    let run = drive(&mut s, &fixture("play_ffprobe_udp.rtsp"), OPEN);
    assert_eq!(run.statuses(), [200; 5]);
    let t = header(&run.responses[2], "Transport");
    assert!(
        t.contains("client_port=") && t.ends_with("server_port=8000-8001"),
        "{t}"
    );

    // Without UDP ports, UDP is not served.
    let mut s = ServerSession::new(config(false), CAPTURED, Instant::now());
    let run = drive(&mut s, &fixture("play_ffprobe_udp.rtsp"), OPEN);
    assert_eq!(run.statuses(), [200, 200, 461, 461, 454]);

    // Multicast without a group is 461; with one, the group is answered.
    let mut s = ServerSession::new(config(true), CAPTURED, Instant::now());
    let run = drive(&mut s, &fixture("play_ffprobe_multicast.rtsp"), OPEN);
    assert_eq!(run.statuses(), [200, 200, 461, 461, 454]);
    let group = MulticastGroup {
        destination: "224.1.0.7".into(),
        ports: (9000, 9001),
        ttl: 2,
    };
    let caller = Caller {
        group: Some(&group),
        ..OPEN
    };
    let mut s = ServerSession::new(config(true), CAPTURED, Instant::now());
    let run = drive(&mut s, &fixture("play_ffprobe_multicast.rtsp"), caller);
    assert_eq!(run.statuses(), [200; 5]);
    assert_eq!(
        header(&run.responses[2], "Transport"),
        "RTP/AVP;multicast;destination=224.1.0.7;port=9000-9001;ttl=2"
    );
}

#[test]
fn gstreamer_plays_over_tcp() {
    let mut s = ServerSession::new(config(true), CAPTURED, Instant::now());
    let run = drive(&mut s, &fixture("play_gst_tcp.rtsp"), OPEN);
    assert_eq!(run.statuses(), [200; 5]);
    assert_eq!(s.state(), Some(State::Playing));
}

#[test]
fn digest_from_ffprobe_and_gstreamer() {
    for file in ["play_ffprobe_digest.rtsp", "play_gst_digest.rtsp"] {
        let caller = Caller {
            challenge: true,
            passwords: &["other", "KEY"],
            group: None,
        };
        let mut s = ServerSession::new(config(false), CAPTURED, Instant::now());
        let run = drive(&mut s, &fixture(file), caller);
        assert_eq!(run.statuses(), [200, 401, 200, 200, 200, 200], "{file}");
        let challenges: Vec<&str> = run.responses[1]
            .headers
            .get_all("WWW-Authenticate")
            .collect();
        assert_eq!(challenges.len(), 3, "{challenges:?}");
        assert!(challenges[0].contains("algorithm=SHA-256"));
        assert!(challenges[1].contains("algorithm=MD5"));
        assert!(challenges[2].starts_with("Basic "));
        let ServerEvent::Describe(ask) = &run.events[1] else {
            panic!("{:?}", run.events);
        };
        assert_eq!(ask.password(["KEY"]), Some("KEY".into()), "{file}");
        assert_eq!(ask.password(["key", "KEY2"]), None, "{file}");

        // A wrong password is refused.
        let caller = Caller {
            passwords: &["wrong"],
            ..caller
        };
        let mut s = ServerSession::new(config(false), CAPTURED, Instant::now());
        let run = drive(&mut s, &fixture(file), caller);
        assert_eq!(&run.statuses()[..3], [200, 401, 403], "{file}");
    }
}

#[test]
fn ffmpeg_publishes_with_digest() {
    let caller = Caller {
        challenge: true,
        passwords: &["KEY"],
        group: None,
    };
    let mut s = ServerSession::new(config(false), CAPTURED, Instant::now());
    let run = drive(&mut s, &fixture("publish_ffmpeg_digest.rtsp"), caller);
    assert_eq!(run.statuses(), [200, 401, 200, 200, 200]);
    assert_eq!(s.state(), Some(State::Recording));
}

#[test]
fn ffmpeg_publishes_h264_aac() {
    let mut s = ServerSession::new(config(false), CAPTURED, Instant::now());
    let run = drive(&mut s, &fixture("ffmpeg_h264_aac.rtsp"), OPEN);
    // OPTIONS, ANNOUNCE, two SETUPs, RECORD, TEARDOWN.
    assert_eq!(run.statuses(), [200; 6]);
    let tracks: std::collections::HashSet<usize> = run
        .events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Interleaved { track, .. } => Some(*track),
            _ => None,
        })
        .collect();
    assert_eq!(tracks.len(), 2, "RTP of both tracks");
    assert!(run.interleaved() > 10, "{}", run.interleaved());
    assert!(!run
        .events
        .iter()
        .any(|e| matches!(e, ServerEvent::Counted(_))));
}

#[test]
fn an_expired_nonce_is_no_credential() {
    let t0 = Instant::now();
    let mut s = ServerSession::new(config(false), "B", t0);
    s.handle_input(t0, b"DESCRIBE rtsp://h/live/a RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    assert!(matches!(
        s.poll_output(),
        ServerOutput::Event(ServerEvent::Describe(_))
    ));
    s.challenge("n1");
    let auth = DigestChallenge {
        realm: "weir".into(),
        nonce: "n1".into(),
        algorithm: DigestAlgorithm::Md5,
        qop_auth: false,
        opaque: None,
    }
    .respond("u", "pw", "DESCRIBE", "rtsp://h/live/a", "", 0);
    let req =
        format!("DESCRIBE rtsp://h/live/a RTSP/1.0\r\nCSeq: 2\r\nAuthorization: {auth}\r\n\r\n");
    let later = t0 + Duration::from_secs(61);
    s.handle_input(later, req.as_bytes());
    let ask = loop {
        match s.poll_output() {
            ServerOutput::Event(ServerEvent::Describe(ask)) => break ask,
            ServerOutput::Transmit(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ask.credentials, None);
    s.refuse(403);

    let mut s = ServerSession::new(config(false), "C", t0);
    s.handle_input(t0, b"DESCRIBE rtsp://h/live/a RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    let _ = s.poll_output();
    s.challenge("n1");
    s.handle_input(t0 + Duration::from_secs(59), req.as_bytes());
    let ask = loop {
        match s.poll_output() {
            ServerOutput::Event(ServerEvent::Describe(ask)) => break ask,
            ServerOutput::Transmit(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ask.password(["pw"]), Some("pw".into()));
}

fn statuses_of(s: &mut ServerSession) -> (Vec<u16>, Vec<ServerEvent>) {
    let mut wire = BytesMut::new();
    let mut events = Vec::new();
    loop {
        match s.poll_output() {
            ServerOutput::Timeout(_) => break,
            ServerOutput::Transmit(b) => wire.extend_from_slice(&b),
            ServerOutput::Event(e) => events.push(e),
        }
    }
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    while let Ok(Some(Item::Message(Message::Response(r)))) = decoder.decode(&mut wire) {
        out.push(r.status);
    }
    (out, events)
}

#[test]
fn states_sessions_and_methods() {
    let t0 = Instant::now();
    let mut s = ServerSession::new(config(false), "D", t0);
    s.handle_input(
        t0,
        b"PLAY rtsp://h/a/b RTSP/1.0\r\nCSeq: 1\r\n\r\n\
          PAUSE rtsp://h/a/b RTSP/1.0\r\nCSeq: 2\r\n\r\n\
          FOO rtsp://h/a/b RTSP/1.0\r\nCSeq: 3\r\n\r\n\
          GET_PARAMETER rtsp://h/a/b RTSP/1.0\r\nCSeq: 4\r\n\r\n\
          SETUP rtsp://h/a/b/trackID=0 RTSP/1.0\r\nCSeq: 5\r\n\r\n\
          $\x00\x00\x02ab",
    );
    let (statuses, events) = statuses_of(&mut s);
    assert_eq!(statuses, [454, 454, 501, 200, 400]);
    assert_eq!(events, [ServerEvent::Counted("unknown_channel")]);

    // Two requests in one read: the second waits for the first's answer.
    s.handle_input(
        t0,
        b"SETUP rtsp://h/a/b/trackID=0 RTSP/1.0\r\nCSeq: 6\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n\
          PLAY rtsp://h/a/b RTSP/1.0\r\nCSeq: 7\r\nSession: D\r\n\r\n",
    );
    let (statuses, events) = statuses_of(&mut s);
    assert!(statuses.is_empty());
    assert!(matches!(events[..], [ServerEvent::Setup { .. }]));
    s.accept_setup(0, None);
    let (statuses, events) = statuses_of(&mut s);
    assert_eq!(statuses, [200]);
    assert!(matches!(events[..], [ServerEvent::Play(_)]));
    s.refuse(403);
    assert_eq!(statuses_of(&mut s).0, [403]);
    assert_eq!(s.state(), Some(State::Ready));

    // A wrong session id is 454; RECORD on a play session 455.
    s.handle_input(
        t0,
        b"PLAY rtsp://h/a/b RTSP/1.0\r\nCSeq: 8\r\nSession: other\r\n\r\n\
          RECORD rtsp://h/a/b RTSP/1.0\r\nCSeq: 9\r\nSession: D\r\n\r\n\
          $\x01\x00\x02ab\
          TEARDOWN rtsp://h/a/b RTSP/1.0\r\nCSeq: 10\r\nSession: D\r\n\r\n\
          OPTIONS * RTSP/1.0\r\nCSeq: 11\r\n\r\n",
    );
    let (statuses, events) = statuses_of(&mut s);
    assert_eq!(statuses, [454, 455, 200], "nothing is read after TEARDOWN");
    assert_eq!(
        events,
        [
            ServerEvent::Interleaved {
                track: 0,
                rtcp: true,
                data: Bytes::from_static(b"ab")
            },
            ServerEvent::Teardown
        ]
    );
}

#[test]
fn bad_input_is_answered_then_the_connection_closes() {
    let t0 = Instant::now();
    let mut s = ServerSession::new(config(false), "E", t0);
    s.handle_input(
        t0,
        b"ANNOUNCE rtsp://h/a/b RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 3\r\n\r\nxyz",
    );
    let (statuses, events) = statuses_of(&mut s);
    assert_eq!(statuses, [400]);
    assert_eq!(events, [ServerEvent::Counted("bad_sdp")]);
    s.handle_input(
        t0,
        b"\x01\x02GARBAGE\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n",
    );
    let (statuses, events) = statuses_of(&mut s);
    assert_eq!(statuses, [400]);
    assert!(matches!(events[..], [ServerEvent::Error(_)]));

    let mut s = ServerSession::new(config(false), "F", t0);
    let huge = format!(
        "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n",
        1 << 20
    );
    s.handle_input(t0, huge.as_bytes());
    let (statuses, events) = statuses_of(&mut s);
    assert_eq!(statuses, [413]);
    assert!(matches!(&events[..], [ServerEvent::Error(e)] if e.status() == 413));
}

#[test]
fn idle_sessions_expire_but_players_do_not() {
    let t0 = Instant::now();
    let mut s = ServerSession::new(config(false), "G", t0);
    let ServerOutput::Timeout(deadline) = s.poll_output() else {
        panic!("no deadline");
    };
    assert_eq!(deadline, t0 + T0_TIMEOUT);
    s.handle_timeout(t0 + Duration::from_secs(30));
    assert!(matches!(s.poll_output(), ServerOutput::Timeout(_)));
    s.touch(t0 + Duration::from_secs(30));
    s.handle_timeout(deadline);
    assert!(matches!(s.poll_output(), ServerOutput::Timeout(_)));
    s.handle_timeout(t0 + Duration::from_secs(91));
    assert_eq!(s.poll_output(), ServerOutput::Event(ServerEvent::Expired));

    let mut s = ServerSession::new(config(false), CAPTURED, t0);
    drive(&mut s, &fixture("play_ffprobe_tcp.rtsp"), OPEN);
    s.handle_timeout(t0 + Duration::from_secs(3600));
    assert!(
        matches!(s.poll_output(), ServerOutput::Timeout(d) if d > t0 + Duration::from_secs(3600))
    );
}
