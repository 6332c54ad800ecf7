//! The sans-IO RTMP server session: one per accepted connection.
//!
//! The session runs the handshake, the chunk stream and the command
//! dialogue, and turns what the peer wants into [`ServerEvent`]s. It never
//! decides policy: whether a stream may be published or played is the
//! caller's answer through [`ServerSession::accept_publish`],
//! [`ServerSession::reject_play`] and friends. Media for players is not sent
//! through the session either: a shared per-stream muxer chunks it once, on
//! chunk streams 4 to 6 that the session never uses, at the session's
//! [`ServerSession::chunk_size`].

mod commands;

use bytes::Bytes;
use weir_amf0::Value;

use crate::chunk::{DecoderLimits, Message};
use crate::error::SessionError;
use crate::handshake::ServerHandshake;
use crate::message::{
    parse_script_data, split_aggregate, status_object, type_id, Command, UserControl, CSID_COMMAND,
};
use crate::session::{Control, Core, Output};

/// Server session settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Chunk size announced after `connect` and used for everything sent
    /// afterwards (default 4096: large enough that most audio frames are a
    /// single chunk, small enough not to delay audio behind video).
    pub chunk_size: u32,
    /// Window Acknowledgement Size announced to the peer (default 2.5 MB,
    /// what most servers use), and our own ack window until the peer
    /// announces one.
    pub window_ack_size: u32,
    /// Set Peer Bandwidth announced to the peer (default 2.5 MB, dynamic).
    pub peer_bandwidth: u32,
    /// Chunk decoder limits.
    pub limits: DecoderLimits,
    /// AMF nesting limit for commands and metadata (default 64).
    pub amf_max_depth: usize,
    /// Announce [`chunk_size`](Self::chunk_size) when a play is accepted
    /// rather than right after `connect` (default false). Until then the
    /// session sends at the protocol's initial 128 bytes, so a publisher
    /// never sees a Set Chunk Size. For RTMPE: ffmpeg's publisher (9.0
    /// and earlier) echoes a Set Chunk Size through its RC4 layer, which
    /// encrypts the message in place, and then reads its new chunk size
    /// from the encrypted bytes, so its chunks stop matching what it
    /// announced after the first large message.
    pub defer_chunk_size: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            limits: DecoderLimits::default(),
            amf_max_depth: weir_amf0::DEFAULT_MAX_DEPTH,
            defer_chunk_size: false,
        }
    }
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOutput {
    /// Write these bytes to the peer, in order with other transmits.
    Transmit(Bytes),
    /// Something happened that the caller may act on.
    Event(ServerEvent),
}

/// What the peer did or asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// The handshake completed; `complex` if it was the digest variant.
    HandshakeDone {
        /// Whether the peer used the digest ("complex") handshake.
        complex: bool,
    },
    /// The peer connected to an application. Already answered with
    /// `NetConnection.Connect.Success`.
    Connect {
        /// Application name (trailing slashes removed).
        app: String,
        /// The URL the client thinks it connected to.
        tc_url: Option<String>,
        /// The client's self-description, e.g. `FMLE/3.0 (...)`.
        flash_ver: Option<String>,
        /// 0 for AMF0, 3 for AMF3 clients.
        object_encoding: f64,
    },
    /// The peer wants to publish; answer with
    /// [`ServerSession::accept_publish`] or [`ServerSession::reject_publish`].
    /// Some encoders do not wait for the answer: media and metadata that
    /// arrive in between are passed on as events and are the caller's to
    /// drop if it has not accepted yet.
    Publish {
        /// Message stream the publish arrived on.
        stream_id: u32,
        /// Stream name without the query string.
        name: String,
        /// Query string after `?` (often a token), empty if none.
        query: String,
        /// Publishing type: `live`, `record` or `append`.
        kind: String,
    },
    /// The peer wants to play; answer with [`ServerSession::accept_play`] or
    /// [`ServerSession::reject_play`].
    Play {
        /// Message stream the play arrived on.
        stream_id: u32,
        /// Stream name without the query string.
        name: String,
        /// Query string after `?`, empty if none.
        query: String,
        /// -2: live or recorded, -1: live only, >= 0: recorded from there.
        start: f64,
        /// Seconds to play, -1 for until the end.
        duration: f64,
        /// Whether to flush previous playlists.
        reset: bool,
    },
    /// An audio or video message from a publishing stream.
    Media {
        /// Message stream id.
        stream_id: u32,
        /// 8 audio, 9 video.
        type_id: u8,
        /// Message timestamp, milliseconds, wrapping.
        timestamp: u32,
        /// FLV tag body.
        payload: Bytes,
    },
    /// `onMetaData` from a publishing stream.
    Metadata {
        /// Message stream id.
        stream_id: u32,
        /// Message timestamp.
        timestamp: u32,
        /// AMF0 `"onMetaData", {...}`, `@setDataFrame` stripped; a slice of
        /// the received message unless AMF3 had to be rewritten.
        payload: Bytes,
    },
    /// The player paused or resumed (already answered with a status).
    Pause {
        /// Message stream id.
        stream_id: u32,
        /// True to pause, false to resume.
        paused: bool,
        /// Playback position in milliseconds.
        position: f64,
    },
    /// The player asked to seek (`seek`); answer with
    /// [`ServerSession::accept_seek`] or [`ServerSession::reject_seek`].
    Seek {
        /// Message stream id.
        stream_id: u32,
        /// Where to, in milliseconds of the stream's timeline.
        position_ms: f64,
    },
    /// The player wants (or no longer wants) audio.
    ReceiveAudio {
        /// Message stream id.
        stream_id: u32,
        /// Whether to send audio.
        enabled: bool,
    },
    /// The player wants (or no longer wants) video.
    ReceiveVideo {
        /// Message stream id.
        stream_id: u32,
        /// Whether to send video.
        enabled: bool,
    },
    /// A publishing stream ended: `FCUnpublish`, `closeStream` or
    /// `deleteStream`.
    Unpublish {
        /// Message stream id.
        stream_id: u32,
    },
    /// A playing stream ended: `closeStream` or `deleteStream`.
    StopPlay {
        /// Message stream id.
        stream_id: u32,
    },
}

/// Most message streams one connection may hold: real clients use one or
/// two; the cap bounds what a `createStream` loop can make us keep.
const MAX_STREAMS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
enum StreamState {
    Idle,
    /// Publish requested (and maybe accepted): media is passed on.
    Publishing {
        name: String,
    },
    Playing,
}

#[derive(Debug)]
struct Stream {
    id: u32,
    state: StreamState,
}

/// One server-side RTMP connection, sans IO.
///
/// Feed received bytes to [`ServerSession::handle_input`], then call
/// [`ServerSession::poll_output`] until it returns `None`, writing
/// transmits and acting on events. Do the same after each call that
/// answers an event.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    core: Core<ServerEvent>,
    handshake: Option<ServerHandshake>,
    connected: bool,
    next_stream_id: u32,
    streams: Vec<Stream>,
    /// Names seen in `FCPublish`, so that accepting their publish also
    /// sends `onFCPublish` (bounded like `streams`).
    fc_published: Vec<String>,
    unknown: u64,
}

impl ServerSession {
    /// A session waiting for the client's handshake. `random` fills S1 (1528
    /// bytes are used, cycled if fewer), `epoch` is S1's time field.
    pub fn new(config: ServerConfig, random: &[u8], epoch: u32) -> Self {
        let core = Core::new(
            config.limits.clone(),
            config.amf_max_depth,
            config.window_ack_size,
        );
        ServerSession {
            config,
            core,
            handshake: Some(ServerHandshake::new(random, epoch)),
            connected: false,
            next_stream_id: 1,
            streams: Vec::new(),
            fc_published: Vec::new(),
            unknown: 0,
        }
    }

    /// A session whose handshake the caller already ran (RTMPE: the
    /// adapter applies its keystreams, so the session only ever sees the
    /// decrypted chunk stream). [`ServerEvent::HandshakeDone`] is queued
    /// at once, as a digest handshake.
    pub fn after_handshake(config: ServerConfig) -> Self {
        let mut session = Self::new(config, &[], 0);
        session.handshake = None;
        session
            .core
            .event(ServerEvent::HandshakeDone { complex: true });
        session
    }

    /// Processes bytes received from the peer. An error means the peer
    /// broke the protocol: close the connection (after flushing output).
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
            let complex = hs.is_complex();
            self.handshake = None;
            self.core.event(ServerEvent::HandshakeDone { complex });
        }
        while let Some(msg) = self.core.next_message()? {
            self.on_message(msg)?;
        }
        self.core.maybe_ack();
        Ok(())
    }

    /// The next thing to do, in order; `None` when there is nothing left.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.core.poll().map(|o| match o {
            Output::Transmit(b) => ServerOutput::Transmit(b),
            Output::Event(e) => ServerOutput::Event(e),
        })
    }

    /// Bytes received so far, handshake included.
    pub fn bytes_received(&self) -> u64 {
        self.core.bytes_received()
    }

    /// Our outgoing chunk size. Before `connect` it is the protocol's 128;
    /// after it, [`ServerConfig::chunk_size`]. The shared muxer must chunk
    /// at this size.
    pub fn chunk_size(&self) -> u32 {
        self.core.chunk_size()
    }

    /// Messages ignored because their type or command is unknown to us, or
    /// because they arrived on a stream they do not belong to (e.g. media on
    /// a stream that is not publishing).
    pub fn unknown_messages(&self) -> u64 {
        self.unknown
    }

    /// Accepts a publish: `NetStream.Publish.Start` (after `onFCPublish` if
    /// the client sent `FCPublish` for the name).
    pub fn accept_publish(&mut self, stream_id: u32) {
        let name = match self.stream(stream_id).map(|s| &s.state) {
            Some(StreamState::Publishing { name }) => name.clone(),
            _ => String::new(),
        };
        self.core.send_user(UserControl::StreamBegin(stream_id));
        if let Some(i) = self.fc_published.iter().position(|n| *n == name) {
            self.fc_published.swap_remove(i);
            let info = status_object("status", "NetStream.Publish.Start", &name);
            self.command(0, Command::new("onFCPublish", 0.0, Value::Null, vec![info]));
        }
        let description = format!("{name} is now published.");
        self.send_status(stream_id, "status", "NetStream.Publish.Start", &description);
    }

    /// Refuses a publish with an error status, e.g.
    /// `NetStream.Publish.BadName`; the stream goes back to idle.
    pub fn reject_publish(&mut self, stream_id: u32, code: &str, description: &str) {
        self.set_state(stream_id, StreamState::Idle);
        self.send_status(stream_id, "error", code, description);
    }

    /// Accepts a play: Set Chunk Size if it was deferred, Stream Begin, `NetStream.Play.Reset` (if `reset`),
    /// `NetStream.Play.Start` and `|RtmpSampleAccess`. Metadata and media
    /// follow from the shared muxer.
    pub fn accept_play(&mut self, stream_id: u32, reset: bool) {
        if self.core.chunk_size() != self.config.chunk_size {
            // Deferred since connect (`ServerConfig::defer_chunk_size`):
            // the shared muxer's chunks need it from here on.
            self.core.set_chunk_size(self.config.chunk_size);
        }
        self.core.send_user(UserControl::StreamBegin(stream_id));
        if reset {
            self.send_status(
                stream_id,
                "status",
                "NetStream.Play.Reset",
                "Playing and resetting.",
            );
        }
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.Start",
            "Started playing.",
        );
        // Lets Flash-era players access the decoded audio and video.
        let mut payload = bytes::BytesMut::new();
        weir_amf0::encode_all(
            &[
                Value::from("|RtmpSampleAccess"),
                Value::Boolean(true),
                Value::Boolean(true),
            ],
            &mut payload,
        );
        self.core.send(&Message {
            csid: CSID_COMMAND,
            timestamp: 0,
            type_id: type_id::DATA_AMF0,
            stream_id,
            payload: payload.freeze(),
        });
    }

    /// Accepts the play of a recording (video on demand): Stream Is
    /// Recorded, then what [`ServerSession::accept_play`] sends.
    pub fn accept_recorded_play(&mut self, stream_id: u32, reset: bool) {
        self.core
            .send_user(UserControl::StreamIsRecorded(stream_id));
        self.accept_play(stream_id, reset);
    }

    /// Confirms a seek of a recording: Stream Begin,
    /// `NetStream.Seek.Notify` and `NetStream.Play.Start`; the media from
    /// the new position follows.
    pub fn accept_seek(&mut self, stream_id: u32) {
        self.core.send_user(UserControl::StreamBegin(stream_id));
        self.send_status(stream_id, "status", "NetStream.Seek.Notify", "Seeking.");
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.Start",
            "Started playing.",
        );
    }

    /// Refuses a seek (a live stream cannot): `NetStream.Seek.Failed`.
    pub fn reject_seek(&mut self, stream_id: u32, description: &str) {
        self.send_status(stream_id, "error", "NetStream.Seek.Failed", description);
    }

    /// Tells a player its recording has been played to the end:
    /// `onPlayStatus` `NetStream.Play.Complete` (with the `duration` in
    /// seconds and the media `bytes` sent), Stream EOF and
    /// `NetStream.Play.Stop`, the sequence Flash-era servers send and
    /// librtmp and ffmpeg end playback on.
    pub fn play_complete(&mut self, stream_id: u32, duration_secs: f64, bytes: u64) {
        let mut payload = bytes::BytesMut::new();
        weir_amf0::encode_all(
            &[
                Value::from("onPlayStatus"),
                Value::object([
                    ("level", Value::from("status")),
                    ("code", Value::from("NetStream.Play.Complete")),
                    ("duration", Value::Number(duration_secs)),
                    ("bytes", Value::Number(bytes as f64)),
                ]),
            ],
            &mut payload,
        );
        self.core.send(&Message {
            csid: CSID_COMMAND,
            timestamp: 0,
            type_id: type_id::DATA_AMF0,
            stream_id,
            payload: payload.freeze(),
        });
        self.core.send_user(UserControl::StreamEof(stream_id));
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.Stop",
            "Stopped playing.",
        );
    }

    /// Refuses a play with an error status, e.g.
    /// `NetStream.Play.StreamNotFound`; the stream goes back to idle.
    pub fn reject_play(&mut self, stream_id: u32, code: &str, description: &str) {
        self.set_state(stream_id, StreamState::Idle);
        self.send_status(stream_id, "error", code, description);
    }

    /// Tells a player its stream's publisher left:
    /// `NetStream.Play.UnpublishNotify` and Stream EOF.
    pub fn notify_unpublish(&mut self, stream_id: u32) {
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.UnpublishNotify",
            "The stream is no longer published.",
        );
        self.core.send_user(UserControl::StreamEof(stream_id));
    }

    /// Tells a waiting player its stream is published again: Stream Begin
    /// and `NetStream.Play.PublishNotify`.
    pub fn notify_publish(&mut self, stream_id: u32) {
        self.core.send_user(UserControl::StreamBegin(stream_id));
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.PublishNotify",
            "The stream is now published.",
        );
    }

    /// Sends `onStatus` with the given info on a message stream.
    pub fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let info = status_object(level, code, description);
        self.command(
            stream_id,
            Command::new("onStatus", 0.0, Value::Null, vec![info]),
        );
    }

    fn command(&mut self, stream_id: u32, cmd: Command) {
        self.core.send_command(stream_id, &cmd);
    }

    fn stream(&self, id: u32) -> Option<&Stream> {
        self.streams.iter().find(|s| s.id == id)
    }

    fn set_state(&mut self, id: u32, state: StreamState) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.id == id) {
            s.state = state;
        }
    }

    fn on_message(&mut self, msg: Message) -> Result<(), SessionError> {
        let msg = match self.core.on_control(msg)? {
            // Stream Begin, Set Buffer Length... from a client change
            // nothing for us; pings are already answered.
            Control::Handled | Control::User(_) => return Ok(()),
            Control::Other(msg) => msg,
        };
        match msg.type_id {
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {
                let cmd = Command::parse(msg.type_id, &msg.payload, &self.core.amf)
                    .map_err(|e| Core::<ServerEvent>::message_error(&msg, e))?;
                self.on_command(msg.stream_id, cmd)
            }
            type_id::AGGREGATE => {
                let parts = split_aggregate(&msg)
                    .map_err(|e| Core::<ServerEvent>::message_error(&msg, e))?;
                for part in parts {
                    self.on_stream_data(part)?;
                }
                Ok(())
            }
            _ => self.on_stream_data(msg),
        }
    }

    /// Media and script data, direct or out of an aggregate.
    fn on_stream_data(&mut self, msg: Message) -> Result<(), SessionError> {
        let publishing = matches!(
            self.stream(msg.stream_id).map(|s| &s.state),
            Some(StreamState::Publishing { .. })
        );
        match msg.type_id {
            type_id::AUDIO | type_id::VIDEO if publishing => {
                self.core.event(ServerEvent::Media {
                    stream_id: msg.stream_id,
                    type_id: msg.type_id,
                    timestamp: msg.timestamp,
                    payload: msg.payload,
                });
            }
            type_id::DATA_AMF0 | type_id::DATA_AMF3 if publishing => {
                let data = parse_script_data(msg.type_id, &msg.payload, &self.core.amf)
                    .map_err(|e| Core::<ServerEvent>::message_error(&msg, e))?;
                if data.name == "onMetaData" {
                    self.core.event(ServerEvent::Metadata {
                        stream_id: msg.stream_id,
                        timestamp: msg.timestamp,
                        payload: data.payload,
                    });
                } else {
                    // Cue points, text data, @clearDataFrame: not carried.
                    self.unknown += 1;
                }
            }
            _ => self.unknown += 1,
        }
        Ok(())
    }
}
