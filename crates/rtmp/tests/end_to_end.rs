//! ClientSession and ServerSession talking to each other in memory:
//! handshake, chunking and the whole command dialogue.

mod common;

use bytes::{Bytes, BytesMut};
use common::random;
use weir_amf0::Value;
use weir_rtmp::chunk::{encode_standalone, ChunkDecoder, DecoderLimits, Message};
use weir_rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientOutput, ClientSession};
use weir_rtmp::error::SessionError;
use weir_rtmp::handshake::ClientHandshakeMode;
use weir_rtmp::message::{type_id, Command, ProtocolControl};
use weir_rtmp::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};
use weir_rtmp::url::RtmpUrl;

/// Decodes what the client sends, after the handshake blocks.
struct Sniffer {
    skip: usize,
    buf: BytesMut,
    dec: ChunkDecoder,
    msgs: Vec<Message>,
}

impl Sniffer {
    fn feed(&mut self, mut b: &[u8]) {
        let n = self.skip.min(b.len());
        self.skip -= n;
        b = &b[n..];
        self.buf.extend_from_slice(b);
        while let Some(m) = self.dec.decode(&mut self.buf).unwrap() {
            if let Ok(ProtocolControl::SetChunkSize(size)) =
                ProtocolControl::parse(m.type_id, &m.payload)
            {
                self.dec.set_chunk_size(size).unwrap();
            }
            self.msgs.push(m);
        }
    }

    fn commands(&self) -> Vec<(String, u32)> {
        self.msgs
            .iter()
            .filter(|m| m.type_id == type_id::COMMAND_AMF0)
            .map(|m| {
                let c = Command::parse(m.type_id, &m.payload, &weir_amf0::Decoder::new()).unwrap();
                (c.name, m.stream_id)
            })
            .collect()
    }
}

struct Pair {
    client: ClientSession,
    server: ServerSession,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
    sniff: Sniffer,
}

impl Pair {
    fn new(
        url: &str,
        mode: ClientMode,
        handshake: ClientHandshakeMode,
        server_config: ServerConfig,
    ) -> Pair {
        let u = RtmpUrl::parse(url).unwrap();
        let config = ClientConfig {
            app: u.app,
            tc_url: u.tc_url,
            stream: u.stream,
            mode,
            handshake,
            chunk_size: 4096,
            limits: DecoderLimits::default(),
        };
        Pair {
            client: ClientSession::new(config, &random(3), 0),
            server: ServerSession::new(server_config, &random(4), 0),
            client_events: Vec::new(),
            server_events: Vec::new(),
            sniff: Sniffer {
                skip: 1 + 1536 + 1536,
                buf: BytesMut::new(),
                dec: ChunkDecoder::new(DecoderLimits::default()),
                msgs: Vec::new(),
            },
        }
    }

    /// Moves bytes both ways until both sides are quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.client.poll_output() {
                match out {
                    ClientOutput::Transmit(b) => {
                        self.sniff.feed(&b);
                        self.server.handle_input(&b).unwrap();
                        moved = true;
                    }
                    ClientOutput::Event(e) => self.client_events.push(e),
                }
            }
            while let Some(out) = self.server.poll_output() {
                match out {
                    ServerOutput::Transmit(b) => {
                        self.client.handle_input(&b).unwrap();
                        moved = true;
                    }
                    ServerOutput::Event(e) => self.server_events.push(e),
                }
            }
            if !moved {
                return;
            }
        }
    }
}

fn meta() -> Bytes {
    let mut out = BytesMut::new();
    weir_amf0::encode_all(
        &[
            Value::from("onMetaData"),
            Value::ecma_array([("framerate", Value::Number(30.0))]),
        ],
        &mut out,
    );
    out.freeze()
}

#[test]
fn publish_end_to_end() {
    let mut p = Pair::new(
        "rtmp://127.0.0.1/live/cam?key=1",
        ClientMode::Publish,
        ClientHandshakeMode::Simple,
        ServerConfig::default(),
    );
    p.pump();
    assert_eq!(
        p.server_events,
        vec![
            ServerEvent::HandshakeDone { complex: false },
            ServerEvent::Connect {
                app: "live".into(),
                tc_url: Some("rtmp://127.0.0.1/live".into()),
                flash_ver: Some("FMLE/3.0 (compatible; weir)".into()),
                object_encoding: 0.0,
            },
            ServerEvent::Publish {
                stream_id: 1,
                name: "cam".into(),
                query: "key=1".into(),
                kind: "live".into(),
            },
        ]
    );
    assert_eq!(p.client_events, vec![ClientEvent::Connected]);
    // Media before Publish.Start is not sent.
    p.client.send_media(9, 0, Bytes::from_static(b"early"));
    p.server.accept_publish(1);
    p.pump();
    assert_eq!(
        p.client_events,
        vec![ClientEvent::Connected, ClientEvent::Publishing]
    );

    p.server_events.clear();
    p.client.send_metadata(meta());
    let big = Bytes::from(vec![0x17u8; 20_000]);
    p.client.send_media(9, 0, big.clone());
    p.client.send_media(8, 21, Bytes::from_static(&[0xAF, 1]));
    p.client
        .send_media(8, 42, Bytes::from_static(&[0xAF, 1, 9]));
    p.client.send_media(7, 42, Bytes::from_static(b"ignored"));
    p.pump();
    assert_eq!(
        p.server_events,
        vec![
            ServerEvent::Metadata {
                stream_id: 1,
                timestamp: 0,
                payload: meta()
            },
            ServerEvent::Media {
                stream_id: 1,
                type_id: 9,
                timestamp: 0,
                payload: big
            },
            ServerEvent::Media {
                stream_id: 1,
                type_id: 8,
                timestamp: 21,
                payload: Bytes::from_static(&[0xAF, 1])
            },
            ServerEvent::Media {
                stream_id: 1,
                type_id: 8,
                timestamp: 42,
                payload: Bytes::from_static(&[0xAF, 1, 9])
            },
        ]
    );

    p.server_events.clear();
    p.client.close();
    p.client.send_media(9, 50, Bytes::from_static(b"late"));
    p.pump();
    assert_eq!(
        p.server_events,
        vec![ServerEvent::Unpublish { stream_id: 1 }]
    );

    // What went over the wire, in order.
    let names: Vec<_> = p
        .sniff
        .commands()
        .into_iter()
        .map(|(n, s)| format!("{n}@{s}"))
        .collect();
    assert_eq!(
        names,
        [
            "connect@0",
            "releaseStream@0",
            "FCPublish@0",
            "createStream@0",
            "publish@1",
            "FCUnpublish@0",
            "deleteStream@0"
        ]
    );
    assert_eq!(p.sniff.msgs[0].type_id, type_id::SET_CHUNK_SIZE);
    let media_csids: Vec<_> = p
        .sniff
        .msgs
        .iter()
        .filter(|m| {
            matches!(
                m.type_id,
                type_id::AUDIO | type_id::VIDEO | type_id::DATA_AMF0
            )
        })
        .map(|m| (m.type_id, m.csid))
        .collect();
    let (data, video, audio) = (type_id::DATA_AMF0, type_id::VIDEO, type_id::AUDIO);
    assert_eq!(media_csids, [(data, 5), (video, 6), (audio, 4), (audio, 4)]);
}

#[test]
fn play_end_to_end() {
    let mut p = Pair::new(
        "rtmp://localhost:1935/live/cam",
        ClientMode::Play,
        ClientHandshakeMode::Digest,
        ServerConfig::default(),
    );
    p.pump();
    assert_eq!(
        p.server_events[0],
        ServerEvent::HandshakeDone { complex: true }
    );
    assert_eq!(
        p.server_events.last(),
        Some(&ServerEvent::Play {
            stream_id: 1,
            name: "cam".into(),
            query: String::new(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        })
    );
    p.server.accept_play(1, true);
    p.pump();

    // The shared muxer's bytes, interleaved with the session's at message
    // boundaries, at the session's chunk size.
    let mut muxed = BytesMut::new();
    let chunk = p.server.chunk_size();
    let data = Message {
        csid: 5,
        timestamp: 0,
        type_id: type_id::DATA_AMF0,
        stream_id: 1,
        payload: meta(),
    };
    encode_standalone(&data, chunk, &mut muxed);
    let video = Message {
        csid: 6,
        timestamp: 40,
        type_id: 9,
        stream_id: 1,
        payload: Bytes::from(vec![0x27u8; 10_000]),
    };
    encode_standalone(&video, chunk, &mut muxed);
    p.client.handle_input(&muxed).unwrap();
    p.server.notify_unpublish(1);
    p.pump();

    assert_eq!(
        p.client_events,
        vec![
            ClientEvent::Connected,
            ClientEvent::Status {
                level: "status".into(),
                code: "NetStream.Play.Reset".into(),
                description: "Playing and resetting.".into(),
            },
            ClientEvent::Playing,
            ClientEvent::Metadata {
                timestamp: 0,
                payload: meta()
            },
            ClientEvent::Media {
                type_id: 9,
                timestamp: 40,
                payload: video.payload.clone()
            },
            ClientEvent::Status {
                level: "status".into(),
                code: "NetStream.Play.UnpublishNotify".into(),
                description: "The stream is no longer published.".into(),
            },
            ClientEvent::StreamEof,
        ]
    );
    let names: Vec<_> = p.sniff.commands().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["connect", "createStream", "play"]);
    assert!(p
        .sniff
        .msgs
        .iter()
        .any(|m| m.type_id == type_id::USER_CONTROL));

    p.server_events.clear();
    p.client.close();
    p.pump();
    assert_eq!(
        p.server_events,
        vec![ServerEvent::StopPlay { stream_id: 1 }]
    );
}

#[test]
fn rejections_reach_the_client() {
    let mut p = Pair::new(
        "rtmp://h/live/x",
        ClientMode::Publish,
        ClientHandshakeMode::Simple,
        ServerConfig::default(),
    );
    p.pump();
    p.server
        .reject_publish(1, "NetStream.Publish.BadName", "x is taken");
    p.pump();
    assert_eq!(
        p.client_events.last(),
        Some(&ClientEvent::Error {
            code: "NetStream.Publish.BadName".into(),
            description: "x is taken".into()
        })
    );

    let mut p = Pair::new(
        "rtmp://h/live/x",
        ClientMode::Play,
        ClientHandshakeMode::Simple,
        ServerConfig::default(),
    );
    p.pump();
    p.server
        .reject_play(1, "NetStream.Play.StreamNotFound", "no x");
    p.pump();
    assert_eq!(
        p.client_events.last(),
        Some(&ClientEvent::Error {
            code: "NetStream.Play.StreamNotFound".into(),
            description: "no x".into()
        })
    );
}

#[test]
fn client_acks_what_it_receives() {
    let config = ServerConfig {
        window_ack_size: 5_000,
        ..ServerConfig::default()
    };
    let mut p = Pair::new(
        "rtmp://h/live/x",
        ClientMode::Play,
        ClientHandshakeMode::Simple,
        config,
    );
    p.pump();
    p.server.accept_play(1, false);
    p.pump();
    let mut muxed = BytesMut::new();
    let video = Message {
        csid: 6,
        timestamp: 0,
        type_id: 9,
        stream_id: 1,
        payload: Bytes::from(vec![1u8; 6_000]),
    };
    encode_standalone(&video, p.server.chunk_size(), &mut muxed);
    p.client.handle_input(&muxed).unwrap();
    p.pump();
    let acks: Vec<_> = p
        .sniff
        .msgs
        .iter()
        .filter_map(|m| match ProtocolControl::parse(m.type_id, &m.payload) {
            Ok(ProtocolControl::Ack(n)) if m.type_id == type_id::ACK => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert!(acks[0] > 6_000);
}

#[test]
fn client_reports_connect_errors_and_bad_input() {
    let mut p = Pair::new(
        "rtmp://h/live/x",
        ClientMode::Publish,
        ClientHandshakeMode::Simple,
        ServerConfig::default(),
    );
    // Only the handshake: feed the client a hand-made `_error` for connect.
    loop {
        let mut moved = false;
        while let Some(ClientOutput::Transmit(b)) = p.client.poll_output() {
            p.server.handle_input(&b).unwrap();
            moved = true;
        }
        while let Some(out) = p.server.poll_output() {
            if let ServerOutput::Transmit(b) = out {
                p.client.handle_input(&b).unwrap();
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let info =
        weir_rtmp::message::status_object("error", "NetConnection.Connect.Rejected", "go away");
    let err = Command::new("_error", 1.0, Value::Null, vec![info]).to_message(3, 0);
    let mut buf = BytesMut::new();
    // The server already switched to 4096-byte chunks; this message is small.
    weir_rtmp::chunk::ChunkEncoder::new().encode(&err, &mut buf);
    p.client.handle_input(&buf).unwrap();
    let events: Vec<_> = std::iter::from_fn(|| p.client.poll_output())
        .filter_map(|o| match o {
            ClientOutput::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(events.contains(&ClientEvent::Error {
        code: "NetConnection.Connect.Rejected".into(),
        description: "go away".into()
    }));
    // A one-byte Window Ack Size: an error with context, not a panic.
    let err = p
        .client
        .handle_input(&[0x02, 0, 0, 0, 0, 0, 1, 5, 0, 0, 0, 0, 0x01])
        .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Message {
                type_id: 5,
                csid: 2,
                ..
            }
        ),
        "{err}"
    );
}

/// Sessions that start after an external handshake (RTMPE's): the client
/// sends `connect` at once, the server reports the handshake done and
/// answers, and the client announces the Enhanced RTMP codecs it passes
/// through.
#[test]
fn sessions_after_an_external_handshake_publish() {
    let mut p = Pair::new(
        "rtmpe://127.0.0.1/live/cam",
        ClientMode::Publish,
        ClientHandshakeMode::Simple,
        ServerConfig::default(),
    );
    let u = RtmpUrl::parse("rtmpe://127.0.0.1/live/cam").unwrap();
    p.client = ClientSession::after_handshake(ClientConfig {
        app: u.app,
        tc_url: u.tc_url,
        stream: u.stream,
        mode: ClientMode::Publish,
        handshake: ClientHandshakeMode::Simple,
        chunk_size: 4096,
        limits: DecoderLimits::default(),
    });
    p.server = ServerSession::after_handshake(ServerConfig::default());
    p.sniff.skip = 0;
    p.pump();
    assert!(matches!(
        p.server_events[..],
        [
            ServerEvent::HandshakeDone { complex: true },
            ServerEvent::Connect { .. },
            ServerEvent::Publish { .. }
        ]
    ));
    let connect = p
        .sniff
        .msgs
        .iter()
        .find(|m| m.type_id == type_id::COMMAND_AMF0)
        .map(common::parse)
        .unwrap();
    assert_eq!(connect.name, "connect");
    let fourccs = connect.object.get("fourCcList").cloned();
    assert_eq!(
        fourccs,
        Some(Value::StrictArray(vec![
            Value::from("av01"),
            Value::from("vp09"),
            Value::from("hvc1")
        ]))
    );
    p.server.accept_publish(1);
    p.pump();
    assert_eq!(
        p.client_events,
        vec![ClientEvent::Connected, ClientEvent::Publishing]
    );
}
