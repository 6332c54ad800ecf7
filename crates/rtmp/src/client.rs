//! The sans-IO RTMP client session behind `weir publish`, `weir play` and
//! the benchmark tool.
//!
//! It speaks the dialogue ffmpeg and OBS speak (connect, releaseStream,
//! FCPublish, createStream, publish / play), so that testing weir with its
//! own client exercises the paths real encoders take.

use bytes::Bytes;
use weir_amf0::Value;

use crate::chunk::{DecoderLimits, Message};
use crate::error::SessionError;
use crate::handshake::{ClientHandshake, ClientHandshakeMode};
use crate::message::{
    parse_script_data, set_data_frame, split_aggregate, type_id, Command, UserControl, CSID_AUDIO,
    CSID_DATA, CSID_VIDEO,
};
use crate::session::{Control, Core, Output};

/// What the client connects for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    /// Send a stream.
    Publish,
    /// Receive a stream.
    Play,
}

/// Client session settings; usually filled from an
/// [`RtmpUrl`](crate::url::RtmpUrl).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Application, the first path segment of the URL.
    pub app: String,
    /// The URL up to and including the app, sent as `tcUrl`.
    pub tc_url: String,
    /// Stream name, possibly with a `?query` (passed through to the server).
    pub stream: String,
    /// Publish or play.
    pub mode: ClientMode,
    /// Simple or digest handshake.
    pub handshake: ClientHandshakeMode,
    /// Chunk size for what we send (announced right after the handshake).
    pub chunk_size: u32,
    /// Chunk decoder limits for what the server sends.
    pub limits: DecoderLimits,
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOutput {
    /// Write these bytes to the server.
    Transmit(Bytes),
    /// Something happened.
    Event(ClientEvent),
}

/// What the server did.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `connect` succeeded.
    Connected,
    /// `NetStream.Publish.Start`: media may be sent now.
    Publishing,
    /// `NetStream.Play.Start`.
    Playing,
    /// Audio (8) or video (9) from the server.
    Media {
        /// 8 audio, 9 video.
        type_id: u8,
        /// Message timestamp in milliseconds.
        timestamp: u32,
        /// FLV tag body.
        payload: Bytes,
    },
    /// `onMetaData` from the server (AMF0, `@setDataFrame` stripped).
    Metadata {
        /// Message timestamp.
        timestamp: u32,
        /// AMF0 `"onMetaData", {...}`.
        payload: Bytes,
    },
    /// A non-error `onStatus` other than the start statuses above, e.g.
    /// `NetStream.Play.UnpublishNotify`.
    Status {
        /// `status` or `warning`.
        level: String,
        /// E.g. `NetStream.Play.Reset`.
        code: String,
        /// Human-readable text.
        description: String,
    },
    /// Stream EOF: the server has nothing more for the stream.
    StreamEof,
    /// An `onStatus` with level `error`, or an `_error` answer.
    Error {
        /// E.g. `NetStream.Publish.BadName`.
        code: String,
        /// Human-readable text.
        description: String,
    },
}

/// Buffer length we ask the server to assume (ffmpeg's default).
const BUFFER_LENGTH_MS: u32 = 3000;

/// Ack window until the server announces its own.
const DEFAULT_ACK_WINDOW: u32 = 2_500_000;

/// Start position for play: live if there is one, else recorded.
const PLAY_START_ANY: f64 = -2.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    /// `connect` sent (transaction id 1).
    Connecting,
    /// `createStream` sent with this transaction id.
    CreatingStream(u64),
    /// `publish` or `play` sent on the stream.
    Starting,
    /// Publishing or playing.
    Active,
    /// `close` was called.
    Closed,
}

/// One client-side RTMP connection, sans IO.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    core: Core<ClientEvent>,
    handshake: Option<ClientHandshake>,
    state: State,
    next_tid: u64,
    stream_id: Option<u32>,
}

impl ClientSession {
    /// A session with C0 and C1 already queued for transmission. `random`
    /// fills C1, `epoch` is its time field.
    pub fn new(config: ClientConfig, random: &[u8], epoch: u32) -> Self {
        let mut hs = ClientHandshake::new(config.handshake, random, epoch);
        let mut core = Core::new(
            config.limits.clone(),
            weir_amf0::DEFAULT_MAX_DEPTH,
            DEFAULT_ACK_WINDOW,
        );
        while let Some(b) = hs.poll_output() {
            core.transmit(&b);
        }
        ClientSession {
            config,
            core,
            handshake: Some(hs),
            state: State::Handshake,
            next_tid: 1,
            stream_id: None,
        }
    }

    /// A session whose handshake the caller already ran (RTMPE: the
    /// caller applies its keystreams): `connect` is queued at once.
    pub fn after_handshake(config: ClientConfig) -> Self {
        let mut session = Self::new(config, &[], 0);
        // Drop the C0+C1 that `new` queued.
        while session.core.poll().is_some() {}
        session.handshake = None;
        session.core.set_chunk_size(session.config.chunk_size);
        session.send_connect();
        session
    }

    /// Processes bytes received from the server. An error means the server
    /// broke the protocol: close the connection.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        self.core.feed(data);
        if let Some(hs) = self.handshake.as_mut() {
            hs.handle_input(&mut self.core.inbuf)?;
            while let Some(b) = hs.poll_output() {
                self.core.transmit(&b);
            }
            if !hs.is_done() {
                return Ok(());
            }
            self.handshake = None;
            self.core.set_chunk_size(self.config.chunk_size);
            self.send_connect();
        }
        while let Some(msg) = self.core.next_message()? {
            self.on_message(msg)?;
        }
        self.core.maybe_ack();
        Ok(())
    }

    /// The next thing to do, in order; `None` when there is nothing left.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.core.poll().map(|o| match o {
            Output::Transmit(b) => ClientOutput::Transmit(b),
            Output::Event(e) => ClientOutput::Event(e),
        })
    }

    /// Bytes received so far, handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.core.bytes_received()
    }

    /// Sends an audio (8) or video (9) message. Only once
    /// [`ClientEvent::Publishing`] was reported; before that, after
    /// [`ClientSession::close`], in play mode, or for other type ids the
    /// call does nothing, because the server would have no stream to put
    /// the media on.
    pub fn send_media(&mut self, type_id: u8, timestamp: u32, payload: Bytes) {
        let csid = match type_id {
            type_id::AUDIO => CSID_AUDIO,
            type_id::VIDEO => CSID_VIDEO,
            _ => return,
        };
        if let Some(stream_id) = self.publishing_stream() {
            self.core.send(&Message {
                csid,
                timestamp,
                type_id,
                stream_id,
                payload,
            });
        }
    }

    /// Sends metadata: `payload` is AMF0 `"onMetaData", {...}` and goes out
    /// wrapped in `@setDataFrame` so that the server keeps it for players.
    /// Same preconditions as [`ClientSession::send_media`].
    pub fn send_metadata(&mut self, payload: Bytes) {
        if let Some(stream_id) = self.publishing_stream() {
            self.core.send(&Message {
                csid: CSID_DATA,
                timestamp: 0,
                type_id: type_id::DATA_AMF0,
                stream_id,
                payload: set_data_frame(&payload),
            });
        }
    }

    /// Ends the stream politely: `FCUnpublish` (when publishing) and
    /// `deleteStream`. The caller then flushes output and closes the socket.
    pub fn close(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        let Some(stream_id) = self.stream_id else {
            return;
        };
        if self.config.mode == ClientMode::Publish {
            let name = Value::from(self.config.stream.as_str());
            self.send_command(0, "FCUnpublish", vec![name]);
        }
        self.send_command(0, "deleteStream", vec![Value::Number(f64::from(stream_id))]);
    }

    fn publishing_stream(&self) -> Option<u32> {
        match (self.state, self.config.mode) {
            (State::Active, ClientMode::Publish) => self.stream_id,
            _ => None,
        }
    }

    /// Sends a command with the next transaction id and a null command
    /// object; returns the id.
    fn send_command(&mut self, stream_id: u32, name: &str, args: Vec<Value>) -> u64 {
        let tid = self.next_tid;
        self.next_tid += 1;
        let cmd = Command::new(name, tid as f64, Value::Null, args);
        self.core.send_command(stream_id, &cmd);
        tid
    }

    fn send_connect(&mut self) {
        let c = &self.config;
        let mut props = vec![
            ("app", Value::from(c.app.as_str())),
            ("type", Value::from("nonprivate")),
            ("flashVer", Value::from("FMLE/3.0 (compatible; weir)")),
            ("tcUrl", Value::from(c.tc_url.as_str())),
            // Enhanced RTMP: the client passes FLV tag bodies through
            // untouched, so it takes (and sends) the enhanced codecs;
            // servers that only offer them to clients that say so see it
            // here. The list is the one the specification gives.
            (
                "fourCcList",
                Value::StrictArray(vec![
                    Value::from("av01"),
                    Value::from("vp09"),
                    Value::from("hvc1"),
                ]),
            ),
        ];
        if c.mode == ClientMode::Play {
            // What players announce; some servers check the codec bits.
            props.extend([
                ("fpad", Value::Boolean(false)),
                ("capabilities", Value::Number(15.0)),
                ("audioCodecs", Value::Number(4071.0)),
                ("videoCodecs", Value::Number(252.0)),
                ("videoFunction", Value::Number(1.0)),
            ]);
        }
        let cmd = Command::new(
            "connect",
            self.next_tid as f64,
            Value::object(props),
            vec![],
        );
        self.next_tid += 1;
        self.core.send_command(0, &cmd);
        self.state = State::Connecting;
    }

    fn on_message(&mut self, msg: Message) -> Result<(), SessionError> {
        let msg = match self.core.on_control(msg)? {
            Control::Handled => return Ok(()),
            Control::User(UserControl::StreamEof(_)) => {
                self.core.event(ClientEvent::StreamEof);
                return Ok(());
            }
            Control::User(_) => return Ok(()),
            Control::Other(msg) => msg,
        };
        match msg.type_id {
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {
                let cmd = Command::parse(msg.type_id, &msg.payload, &self.core.amf)
                    .map_err(|e| Core::<ClientEvent>::message_error(&msg, e))?;
                self.on_command(cmd);
                Ok(())
            }
            type_id::AGGREGATE => {
                let parts = split_aggregate(&msg)
                    .map_err(|e| Core::<ClientEvent>::message_error(&msg, e))?;
                for part in parts {
                    self.on_stream_data(part)?;
                }
                Ok(())
            }
            _ => self.on_stream_data(msg),
        }
    }

    fn on_stream_data(&mut self, msg: Message) -> Result<(), SessionError> {
        match msg.type_id {
            type_id::AUDIO | type_id::VIDEO => self.core.event(ClientEvent::Media {
                type_id: msg.type_id,
                timestamp: msg.timestamp,
                payload: msg.payload,
            }),
            type_id::DATA_AMF0 | type_id::DATA_AMF3 => {
                let data = parse_script_data(msg.type_id, &msg.payload, &self.core.amf)
                    .map_err(|e| Core::<ClientEvent>::message_error(&msg, e))?;
                // |RtmpSampleAccess and friends mean nothing to us.
                if data.name == "onMetaData" {
                    self.core.event(ClientEvent::Metadata {
                        timestamp: msg.timestamp,
                        payload: data.payload,
                    });
                } else if data.name == "onPlayStatus" {
                    // A recording played to its end: a status like any
                    // other (`NetStream.Play.Complete`).
                    let values = weir_amf0::decode_all(&data.payload).unwrap_or_default();
                    let text = |key: &str| {
                        values
                            .get(1)
                            .and_then(|i| i.get(key))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    self.core.event(ClientEvent::Status {
                        level: text("level"),
                        code: text("code"),
                        description: text("description"),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_command(&mut self, cmd: Command) {
        let info = cmd.arg(0);
        let text = |key: &str| {
            info.and_then(|i| i.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match cmd.name.as_str() {
            "_result" => self.on_result(&cmd),
            "_error" => {
                let code = text("code");
                self.core.event(ClientEvent::Error {
                    code: if code.is_empty() {
                        "NetConnection.Call.Failed".into()
                    } else {
                        code
                    },
                    description: text("description"),
                });
            }
            "onStatus" => {
                let (level, code, description) = (text("level"), text("code"), text("description"));
                let ev = if level == "error" {
                    ClientEvent::Error { code, description }
                } else if code == "NetStream.Publish.Start" && self.state == State::Starting {
                    self.state = State::Active;
                    ClientEvent::Publishing
                } else if code == "NetStream.Play.Start" && self.state == State::Starting {
                    self.state = State::Active;
                    ClientEvent::Playing
                } else {
                    ClientEvent::Status {
                        level,
                        code,
                        description,
                    }
                };
                self.core.event(ev);
            }
            // onBWDone, onFCPublish, onFCUnpublish...: informational.
            _ => {}
        }
    }

    fn on_result(&mut self, cmd: &Command) {
        let tid = cmd.transaction_id;
        match self.state {
            State::Connecting if tid == 1.0 => {
                let code = cmd
                    .arg(0)
                    .and_then(|i| i.get("code"))
                    .and_then(Value::as_str);
                if let Some(code) = code.filter(|c| *c != "NetConnection.Connect.Success") {
                    let description = cmd
                        .arg(0)
                        .and_then(|i| i.get("description"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    self.core.event(ClientEvent::Error {
                        code: code.to_owned(),
                        description: description.to_owned(),
                    });
                    return;
                }
                self.core.event(ClientEvent::Connected);
                if self.config.mode == ClientMode::Publish {
                    let name = Value::from(self.config.stream.as_str());
                    self.send_command(0, "releaseStream", vec![name.clone()]);
                    self.send_command(0, "FCPublish", vec![name]);
                }
                let tid = self.send_command(0, "createStream", vec![]);
                self.state = State::CreatingStream(tid);
            }
            State::CreatingStream(create) if tid == create as f64 => {
                let Some(id) = cmd.arg(0).and_then(Value::as_number) else {
                    self.core.event(ClientEvent::Error {
                        code: "NetConnection.Call.Failed".into(),
                        description: "createStream answer carries no stream id".into(),
                    });
                    return;
                };
                let id = id as u32;
                self.stream_id = Some(id);
                let name = Value::from(self.config.stream.as_str());
                match self.config.mode {
                    ClientMode::Publish => {
                        self.send_command(id, "publish", vec![name, Value::from("live")]);
                    }
                    ClientMode::Play => {
                        self.send_command(id, "play", vec![name, Value::Number(PLAY_START_ANY)]);
                        self.core.send_user(UserControl::SetBufferLength {
                            stream_id: id,
                            millis: BUFFER_LENGTH_MS,
                        });
                    }
                }
                self.state = State::Starting;
            }
            _ => {}
        }
    }
}
