//! A scripted RTMP peer for driving a `ServerSession` message by message,
//! built from the public chunk and handshake APIs only.

#![allow(dead_code, unreachable_pub)]

use bytes::{Bytes, BytesMut};
use weir_amf0::Value;
use weir_rtmp::chunk::{ChunkDecoder, ChunkEncoder, DecoderLimits, Message};
use weir_rtmp::error::SessionError;
use weir_rtmp::handshake::{ClientHandshake, ClientHandshakeMode};
use weir_rtmp::message::{type_id, Command, ProtocolControl};
use weir_rtmp::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};

/// Deterministic "random" bytes for handshakes.
pub fn random(seed: u8) -> Vec<u8> {
    (0..1536u32)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A fake client: encodes what the test says, decodes what the server
/// answers.
pub struct Peer {
    pub enc: ChunkEncoder,
    dec: ChunkDecoder,
    buf: BytesMut,
}

impl Peer {
    /// A server with `config` and a peer that completed the handshake with
    /// it.
    pub fn connect_with(
        config: ServerConfig,
        mode: ClientHandshakeMode,
    ) -> (ServerSession, Peer, bool) {
        let mut server = ServerSession::new(config, &random(1), 0);
        let mut hs = ClientHandshake::new(mode, &random(2), 0);
        let c0c1 = hs.poll_output().unwrap();
        server.handle_input(&c0c1).unwrap();
        let mut buf = BytesMut::new();
        let mut complex = None;
        while let Some(out) = server.poll_output() {
            match out {
                ServerOutput::Transmit(b) => buf.extend_from_slice(&b),
                ServerOutput::Event(e) => panic!("event before C2: {e:?}"),
            }
        }
        hs.handle_input(&mut buf).unwrap();
        assert!(hs.is_done());
        let c2 = hs.poll_output().unwrap();
        server.handle_input(&c2).unwrap();
        while let Some(out) = server.poll_output() {
            match out {
                ServerOutput::Event(ServerEvent::HandshakeDone { complex: c }) => complex = Some(c),
                other => panic!("unexpected {other:?}"),
            }
        }
        let peer = Peer {
            enc: ChunkEncoder::new(),
            dec: ChunkDecoder::new(DecoderLimits::default()),
            buf: BytesMut::new(),
        };
        (server, peer, complex.expect("HandshakeDone"))
    }

    /// A default server and a handshaken peer.
    pub fn connect() -> (ServerSession, Peer) {
        let (s, p, _) = Self::connect_with(ServerConfig::default(), ClientHandshakeMode::Simple);
        (s, p)
    }

    /// Chunks `msg` and feeds it to the server.
    pub fn send(&mut self, server: &mut ServerSession, msg: &Message) -> Result<(), SessionError> {
        let mut out = BytesMut::new();
        self.enc.encode(msg, &mut out);
        server.handle_input(&out)
    }

    /// Sends an AMF0 command on chunk stream 3.
    pub fn command(
        &mut self,
        server: &mut ServerSession,
        stream_id: u32,
        name: &str,
        tid: f64,
        object: Value,
        args: Vec<Value>,
    ) -> Result<(), SessionError> {
        let msg = Command::new(name, tid, object, args).to_message(3, stream_id);
        self.send(server, &msg)
    }

    /// Sends a media or data message.
    pub fn media(&mut self, server: &mut ServerSession, type_id: u8, ts: u32, payload: &[u8]) {
        let msg = Message {
            csid: if type_id == 8 { 4 } else { 6 },
            timestamp: ts,
            type_id,
            stream_id: 1,
            payload: Bytes::copy_from_slice(payload),
        };
        self.send(server, &msg).unwrap();
    }

    /// Drains the server's output: the messages it sent and its events.
    pub fn receive(&mut self, server: &mut ServerSession) -> (Vec<Message>, Vec<ServerEvent>) {
        let mut msgs = Vec::new();
        let mut events = Vec::new();
        while let Some(out) = server.poll_output() {
            match out {
                ServerOutput::Transmit(b) => {
                    self.buf.extend_from_slice(&b);
                    while let Some(m) = self.dec.decode(&mut self.buf).unwrap() {
                        if m.type_id == type_id::SET_CHUNK_SIZE {
                            if let Ok(ProtocolControl::SetChunkSize(n)) =
                                ProtocolControl::parse(m.type_id, &m.payload)
                            {
                                self.dec.set_chunk_size(n).unwrap();
                            }
                        }
                        msgs.push(m);
                    }
                }
                ServerOutput::Event(e) => events.push(e),
            }
        }
        assert!(self.buf.is_empty(), "server output ends mid-message");
        (msgs, events)
    }

    /// Sends `connect` for app `live` and drains the answer.
    pub fn rtmp_connect(&mut self, server: &mut ServerSession) -> (Vec<Message>, Vec<ServerEvent>) {
        let obj = Value::object([
            ("app", Value::from("live")),
            ("type", Value::from("nonprivate")),
            ("flashVer", Value::from("FMLE/3.0 (compatible; test)")),
            ("tcUrl", Value::from("rtmp://localhost/live")),
        ]);
        self.command(server, 0, "connect", 1.0, obj, vec![])
            .unwrap();
        self.receive(server)
    }

    /// Connects and creates stream 1.
    pub fn create_stream(&mut self, server: &mut ServerSession) {
        self.rtmp_connect(server);
        self.command(server, 0, "createStream", 2.0, Value::Null, vec![])
            .unwrap();
        let (msgs, _) = self.receive(server);
        let r = parse(&msgs[0]);
        assert_eq!(
            (r.name.as_str(), r.args[0].as_number()),
            ("_result", Some(1.0))
        );
    }
}

/// Parses a command message the server sent.
pub fn parse(m: &Message) -> Command {
    assert_eq!(m.type_id, type_id::COMMAND_AMF0, "not a command: {m:?}");
    Command::parse(m.type_id, &m.payload, &weir_amf0::Decoder::new()).unwrap()
}

/// The `code` of an `onStatus`/`_error`/`_result` info argument.
pub fn code(m: &Message) -> String {
    let c = parse(m);
    c.args[0]
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
