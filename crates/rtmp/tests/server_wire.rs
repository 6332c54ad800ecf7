//! ServerSession driven by a scripted peer: chunk-level behaviour, acks,
//! control messages and hostile input.

mod common;

use bytes::Bytes;
use common::{random, Peer};
use weir_amf0::Value;
use weir_rtmp::chunk::Message;
use weir_rtmp::error::{HandshakeError, MessageError, SessionError};
use weir_rtmp::handshake::ClientHandshakeMode;
use weir_rtmp::message::{type_id, ProtocolControl, UserControl};
use weir_rtmp::server::{ServerConfig, ServerEvent, ServerSession};

#[test]
fn acks_follow_the_window() {
    let config = ServerConfig {
        window_ack_size: 10_000,
        ..ServerConfig::default()
    };
    let (mut server, mut peer, _) = Peer::connect_with(config, ClientHandshakeMode::Simple);
    peer.create_stream(&mut server);
    let acks = |msgs: &[Message]| -> Vec<u32> {
        msgs.iter()
            .filter(|m| m.type_id == type_id::ACK)
            .map(|m| match ProtocolControl::parse(m.type_id, &m.payload) {
                Ok(ProtocolControl::Ack(n)) => n,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    // The handshake and commands so far (about 3.5 KB) are below the window.
    let (msgs, _) = peer.receive(&mut server);
    assert!(acks(&msgs).is_empty());
    peer.media(&mut server, 9, 0, &[0u8; 8000]);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(acks(&msgs), vec![server.bytes_received() as u32]);
    // The peer's own window replaces ours.
    peer.send(
        &mut server,
        &ProtocolControl::WindowAckSize(100).to_message(),
    )
    .unwrap();
    peer.media(&mut server, 8, 0, &[0u8; 150]);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(acks(&msgs), vec![server.bytes_received() as u32]);
}

#[test]
fn ping_is_answered_and_peer_chunk_size_applies() {
    let (mut server, mut peer) = Peer::connect();
    peer.rtmp_connect(&mut server);
    peer.send(&mut server, &UserControl::PingRequest(77).to_message())
        .unwrap();
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(
        UserControl::parse(&msgs[0].payload),
        Ok(UserControl::PingResponse(77))
    );
    // A bigger chunk size from the peer changes how its chunks are read.
    peer.send(
        &mut server,
        &ProtocolControl::SetChunkSize(60_000).to_message(),
    )
    .unwrap();
    peer.enc.set_chunk_size(60_000);
    peer.create_stream(&mut server);
    peer.command(
        &mut server,
        1,
        "publish",
        0.0,
        Value::Null,
        vec![Value::from("s")],
    )
    .unwrap();
    peer.receive(&mut server);
    peer.media(&mut server, 9, 0, &[7u8; 50_000]);
    let (_, events) = peer.receive(&mut server);
    assert!(matches!(&events[0], ServerEvent::Media { payload, .. } if payload.len() == 50_000));
}

#[test]
fn abort_drops_partial_message() {
    let (mut server, mut peer) = Peer::connect();
    peer.create_stream(&mut server);
    peer.command(
        &mut server,
        1,
        "publish",
        0.0,
        Value::Null,
        vec![Value::from("s")],
    )
    .unwrap();
    peer.receive(&mut server);
    // First chunk (128 bytes) of a 300-byte video message on csid 6.
    let mut full = bytes::BytesMut::new();
    let msg = Message {
        csid: 6,
        timestamp: 0,
        type_id: 9,
        stream_id: 1,
        payload: Bytes::from(vec![1u8; 300]),
    };
    peer.enc.encode(&msg, &mut full);
    server.handle_input(&full[..12 + 128]).unwrap();
    peer.send(&mut server, &ProtocolControl::Abort(6).to_message())
        .unwrap();
    peer.media(&mut server, 9, 5, &[2u8; 10]);
    let (_, events) = peer.receive(&mut server);
    assert_eq!(
        events,
        vec![ServerEvent::Media {
            stream_id: 1,
            type_id: 9,
            timestamp: 5,
            payload: Bytes::from(vec![2u8; 10])
        }]
    );
}

fn sub(type_id: u8, ts: u32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![type_id];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(&ts.to_be_bytes()[1..]);
    v.extend_from_slice(&[(ts >> 24) as u8, 0, 0, 0]);
    v.extend_from_slice(body);
    v.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    v
}

#[test]
fn aggregates_become_media_events() {
    let (mut server, mut peer) = Peer::connect();
    peer.create_stream(&mut server);
    peer.command(
        &mut server,
        1,
        "publish",
        0.0,
        Value::Null,
        vec![Value::from("s")],
    )
    .unwrap();
    peer.receive(&mut server);
    let mut p = sub(9, 100, b"v1");
    p.extend(sub(8, 110, b"a1"));
    let agg = Message {
        csid: 6,
        timestamp: 5000,
        type_id: 22,
        stream_id: 1,
        payload: Bytes::from(p),
    };
    peer.send(&mut server, &agg).unwrap();
    let (_, events) = peer.receive(&mut server);
    assert_eq!(
        events,
        vec![
            ServerEvent::Media {
                stream_id: 1,
                type_id: 9,
                timestamp: 5000,
                payload: Bytes::from_static(b"v1")
            },
            ServerEvent::Media {
                stream_id: 1,
                type_id: 8,
                timestamp: 5010,
                payload: Bytes::from_static(b"a1")
            },
        ]
    );
}

#[test]
fn amf3_commands_are_understood() {
    let (mut server, mut peer) = Peer::connect();
    let mut payload = vec![0u8];
    weir_amf0::encode_all(
        &[
            Value::from("connect"),
            Value::Number(1.0),
            Value::object([
                ("app", Value::from("live")),
                ("objectEncoding", Value::Number(3.0)),
            ]),
        ],
        &mut payload,
    );
    let msg = Message {
        csid: 3,
        timestamp: 0,
        type_id: 17,
        stream_id: 0,
        payload: Bytes::from(payload),
    };
    peer.send(&mut server, &msg).unwrap();
    let (_, events) = peer.receive(&mut server);
    assert!(matches!(&events[0], ServerEvent::Connect { app, .. } if app == "live"));
}

#[test]
fn digest_handshake_is_reported() {
    let (_, _, complex) = Peer::connect_with(ServerConfig::default(), ClientHandshakeMode::Digest);
    assert!(complex);
    let (_, _, complex) = Peer::connect_with(ServerConfig::default(), ClientHandshakeMode::Simple);
    assert!(!complex);
}

#[test]
fn bad_input_is_an_error_with_context() {
    // HTTP on the RTMP port.
    let mut server = ServerSession::new(ServerConfig::default(), &random(0), 0);
    assert_eq!(
        server.handle_input(b"GET / HTTP/1.1\r\n"),
        Err(SessionError::Handshake(
            HandshakeError::UnsupportedVersion { version: b'G' }
        ))
    );

    // A command before connect.
    let (mut server, mut peer) = Peer::connect();
    let err = peer
        .command(&mut server, 0, "createStream", 2.0, Value::Null, vec![])
        .unwrap_err();
    assert_eq!(
        err,
        SessionError::NotConnected {
            command: "createStream".into()
        }
    );

    // connect without a command object.
    let (mut server, mut peer) = Peer::connect();
    let err = peer
        .command(&mut server, 0, "connect", 1.0, Value::Null, vec![])
        .unwrap_err();
    assert!(matches!(err, SessionError::BadCommand { .. }), "{err}");

    // A command that is not AMF.
    let (mut server, mut peer) = Peer::connect();
    let junk = Message {
        csid: 3,
        timestamp: 0,
        type_id: 20,
        stream_id: 0,
        payload: Bytes::from_static(&[0x02, 0xFF]),
    };
    let err = peer.send(&mut server, &junk).unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Message {
                type_id: 20,
                csid: 3,
                stream_id: 0,
                source: MessageError::Amf(_)
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("chunk stream 3"), "{err}");

    // Set Chunk Size 0.
    let (mut server, mut peer) = Peer::connect();
    let err = peer
        .send(&mut server, &ProtocolControl::SetChunkSize(0).to_message())
        .unwrap_err();
    assert!(matches!(err, SessionError::Chunk(_)), "{err}");

    // A truncated control message.
    let (mut server, mut peer) = Peer::connect();
    let short = Message {
        csid: 2,
        timestamp: 0,
        type_id: 5,
        stream_id: 0,
        payload: Bytes::from_static(&[1]),
    };
    let err = peer.send(&mut server, &short).unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Message {
                source: MessageError::TooShort { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn garbage_after_handshake_never_panics() {
    let mut state: u32 = 0x1234_5678;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for round in 0..300 {
        let (mut server, mut peer) = Peer::connect();
        if round % 2 == 0 {
            peer.create_stream(&mut server);
        }
        let len = (next() % 600) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        for piece in bytes.chunks(1 + (next() % 64) as usize) {
            if server.handle_input(piece).is_err() {
                break;
            }
            while server.poll_output().is_some() {}
        }
    }
}

#[test]
fn session_never_uses_muxer_chunk_streams() {
    let (mut server, mut peer) = Peer::connect();
    let mut all = peer.rtmp_connect(&mut server).0;
    peer.command(&mut server, 0, "createStream", 2.0, Value::Null, vec![])
        .unwrap();
    peer.command(
        &mut server,
        1,
        "play",
        0.0,
        Value::Null,
        vec![Value::from("a")],
    )
    .unwrap();
    all.extend(peer.receive(&mut server).0);
    server.accept_play(1, true);
    server.notify_unpublish(1);
    server.notify_publish(1);
    server.send_status(1, "status", "X", "y");
    all.extend(peer.receive(&mut server).0);
    assert!(all.len() > 10);
    assert!(all.iter().all(|m| m.csid == 2 || m.csid == 3), "{all:?}");
}

/// With `defer_chunk_size` (RTMPE sessions) `connect` gets no Set Chunk
/// Size, so a publisher never has one to echo; a play gets it before
/// Stream Begin, ahead of the shared muxer's chunks.
#[test]
fn deferred_chunk_size_is_announced_at_play_only() {
    let config = ServerConfig {
        defer_chunk_size: true,
        ..ServerConfig::default()
    };
    let (mut server, mut peer, _) = Peer::connect_with(config, ClientHandshakeMode::Simple);
    let (msgs, _) = peer.rtmp_connect(&mut server);
    assert!(msgs.iter().all(|m| m.type_id != type_id::SET_CHUNK_SIZE));
    assert_eq!(server.chunk_size(), 128);
    peer.command(&mut server, 0, "createStream", 2.0, Value::Null, vec![])
        .unwrap();
    peer.receive(&mut server);
    peer.command(
        &mut server,
        1,
        "play",
        3.0,
        Value::Null,
        vec![Value::from("x")],
    )
    .unwrap();
    let (_, events) = peer.receive(&mut server);
    assert!(
        matches!(events[..], [ServerEvent::Play { .. }]),
        "{events:?}"
    );
    server.accept_play(1, true);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(msgs[0].type_id, type_id::SET_CHUNK_SIZE);
    assert_eq!(
        ProtocolControl::parse(msgs[0].type_id, &msgs[0].payload).unwrap(),
        ProtocolControl::SetChunkSize(4096)
    );
    assert_eq!(
        UserControl::parse(&msgs[1].payload).unwrap(),
        UserControl::StreamBegin(1)
    );
    assert_eq!(server.chunk_size(), 4096);
}
