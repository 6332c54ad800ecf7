//! How the server session answers each command a client may send.

use weir_amf0::Value;

use super::{ServerEvent, ServerSession, Stream, StreamState, MAX_STREAMS};
use crate::error::SessionError;
use crate::message::{status_object, Command, LimitType, ProtocolControl};
use crate::url::split_query;

/// `fmsVer` we claim in the connect result. Clients only check that it is
/// there; this is the version string most servers send.
const FMS_VERSION: &str = "FMS/3,0,1,123";

/// Capability bits in the connect result (31: everything Flash knows).
const CAPABILITIES: f64 = 31.0;

/// Enhanced RTMP FourCCs the server takes from publishers and sends to
/// players, answered in `connect` to clients that announce theirs.
const VIDEO_FOURCCS: [&str; 4] = ["avc1", "hvc1", "av01", "vp09"];
const AUDIO_FOURCCS: [&str; 6] = ["mp4a", "Opus", "ac-3", "ec-3", "fLaC", ".mp3"];
/// `FourCcInfoMask.CanForward`: the server relays the codec, it neither
/// decodes nor encodes it.
const CAN_FORWARD: f64 = 4.0;
/// `CapsExMask`: Multitrack (2; the hub keeps each body's default track,
/// id 0) and ModEx (4).
const CAPS_EX: f64 = 6.0;

/// The Enhanced RTMP v2 capability properties of a `connect` result
/// (`fourCcList`, `videoFourCcInfoMap`, `audioFourCcInfoMap`, `capsEx`),
/// for a client whose `connect` announced any of its own.
fn enhanced_capabilities() -> Vec<(String, Value)> {
    let map = |ccs: &[&str]| {
        Value::Object(
            ccs.iter()
                .map(|cc| (cc.to_string(), Value::Number(CAN_FORWARD)))
                .collect(),
        )
    };
    vec![
        (
            "fourCcList".into(),
            Value::StrictArray(VIDEO_FOURCCS.iter().map(|cc| Value::from(*cc)).collect()),
        ),
        ("videoFourCcInfoMap".into(), map(&VIDEO_FOURCCS)),
        ("audioFourCcInfoMap".into(), map(&AUDIO_FOURCCS)),
        ("capsEx".into(), Value::Number(CAPS_EX)),
    ]
}

/// [`split_query`] into owned strings, for names the session keeps.
fn split_owned(s: &str) -> (String, String) {
    let (name, query) = split_query(s);
    (name.to_owned(), query.to_owned())
}

/// A boolean argument that some clients send as a number.
fn flag(v: Option<&Value>) -> Option<bool> {
    let v = v?;
    v.as_bool().or_else(|| v.as_number().map(|n| n != 0.0))
}

impl ServerSession {
    pub(super) fn on_command(&mut self, stream_id: u32, cmd: Command) -> Result<(), SessionError> {
        if !self.connected && cmd.name != "connect" {
            return Err(SessionError::NotConnected { command: cmd.name });
        }
        let tid = cmd.transaction_id;
        match cmd.name.as_str() {
            "connect" => self.on_connect(cmd)?,
            // Publishers send these before createStream; they need no
            // action, but FMLE-style clients wait for an answer.
            "releaseStream" | "FCSubscribe" | "_checkbw" => {
                self.answer(stream_id, tid, Value::Undefined)
            }
            "FCPublish" => {
                if let Some((name, _)) = cmd.arg(0).and_then(Value::as_str).map(split_owned) {
                    if self.fc_published.len() >= MAX_STREAMS {
                        self.fc_published.remove(0);
                    }
                    self.fc_published.push(name);
                }
                self.answer(stream_id, tid, Value::Undefined);
            }
            "createStream" => self.on_create_stream(stream_id, tid),
            "publish" => self.on_publish(stream_id, &cmd),
            "play" => self.on_play(stream_id, &cmd),
            "play2" => self.send_status(
                stream_id,
                "error",
                "NetStream.Play.Failed",
                "play2 (dynamic stream switching) is not supported; use play.",
            ),
            // Live streams have no length.
            "getStreamLength" => self.answer(stream_id, tid, Value::Number(0.0)),
            "receiveAudio" | "receiveVideo" => {
                let enabled = flag(cmd.arg(0)).unwrap_or(true);
                self.core.event(if cmd.name == "receiveAudio" {
                    ServerEvent::ReceiveAudio { stream_id, enabled }
                } else {
                    ServerEvent::ReceiveVideo { stream_id, enabled }
                });
            }
            "pause" => self.on_pause(stream_id, &cmd),
            "seek" => match cmd.arg(0).and_then(Value::as_number) {
                Some(position_ms) if position_ms.is_finite() => {
                    self.core.event(ServerEvent::Seek {
                        stream_id,
                        position_ms,
                    })
                }
                _ => self.unknown += 1,
            },
            "FCUnpublish" => {
                let name = cmd.arg(0).and_then(Value::as_str).map(split_owned);
                let found = self.streams.iter().find(|s| {
                    matches!((&s.state, &name), (StreamState::Publishing { name: n }, Some((m, _))) if n == m)
                });
                if let Some(id) = found.map(|s| s.id) {
                    self.end_stream(id, true);
                }
                self.answer(stream_id, tid, Value::Undefined);
            }
            "closeStream" => self.end_stream(stream_id, true),
            "deleteStream" => {
                // The id is a double on the wire; anything that is not a
                // valid u32 matches no stream.
                if let Some(id) = cmd.arg(0).and_then(Value::as_number) {
                    let id = id as u32;
                    self.end_stream(id, false);
                    self.streams.retain(|s| s.id != id);
                }
            }
            // Answers and notifications addressed to a client; a client has
            // no business sending them to us, but it is harmless.
            "_result" | "_error" | "onStatus" | "onBWDone" => self.unknown += 1,
            name => {
                self.unknown += 1;
                if tid != 0.0 {
                    let description = format!("Method not found ({name}).");
                    let info = status_object("error", "NetConnection.Call.Failed", &description);
                    self.command(
                        stream_id,
                        Command::new("_error", tid, Value::Null, vec![info]),
                    );
                }
            }
        }
        Ok(())
    }

    /// `_result` with a null command object and one value, unless the
    /// client said it expects no answer (transaction id 0).
    fn answer(&mut self, stream_id: u32, tid: f64, value: Value) {
        if tid != 0.0 {
            self.command(
                stream_id,
                Command::new("_result", tid, Value::Null, vec![value]),
            );
        }
    }

    fn on_connect(&mut self, cmd: Command) -> Result<(), SessionError> {
        if self.connected {
            let info = status_object(
                "error",
                "NetConnection.Connect.Rejected",
                "Already connected.",
            );
            self.command(
                0,
                Command::new("_error", cmd.transaction_id, Value::Null, vec![info]),
            );
            return Ok(());
        }
        if cmd.object.properties().is_none() {
            return Err(SessionError::BadCommand {
                command: cmd.name,
                detail: "the command object is missing or not an object",
            });
        }
        let text = |key: &str| {
            cmd.object
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let app = text("app")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        let object_encoding = cmd
            .object
            .get("objectEncoding")
            .and_then(Value::as_number)
            .unwrap_or(0.0);
        self.connected = true;

        self.core
            .send_control(ProtocolControl::WindowAckSize(self.config.window_ack_size));
        self.core.send_control(ProtocolControl::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: LimitType::Dynamic,
        });
        if !self.config.defer_chunk_size {
            self.core.set_chunk_size(self.config.chunk_size);
        }
        let mut properties = Value::object([
            ("fmsVer", Value::from(FMS_VERSION)),
            ("capabilities", Value::Number(CAPABILITIES)),
            ("mode", Value::Number(1.0)),
        ]);
        let enhanced = [
            "fourCcList",
            "videoFourCcInfoMap",
            "audioFourCcInfoMap",
            "capsEx",
        ]
        .iter()
        .any(|key| cmd.object.get(key).is_some());
        if let (true, Value::Object(props)) = (enhanced, &mut properties) {
            props.extend(enhanced_capabilities());
        }
        let mut info = status_object(
            "status",
            "NetConnection.Connect.Success",
            "Connection succeeded.",
        );
        if let Value::Object(props) = &mut info {
            props.push(("objectEncoding".into(), Value::Number(object_encoding)));
        }
        self.command(
            0,
            Command::new("_result", cmd.transaction_id, properties, vec![info]),
        );
        self.core.event(ServerEvent::Connect {
            app,
            tc_url: text("tcUrl"),
            flash_ver: text("flashVer"),
            object_encoding,
        });
        Ok(())
    }

    fn on_create_stream(&mut self, stream_id: u32, tid: f64) {
        if self.streams.len() >= MAX_STREAMS {
            let info = status_object(
                "error",
                "NetConnection.Call.Failed",
                "Too many streams on this connection.",
            );
            self.command(
                stream_id,
                Command::new("_error", tid, Value::Null, vec![info]),
            );
            return;
        }
        let id = self.next_stream_id;
        self.next_stream_id = self.next_stream_id.wrapping_add(1).max(1);
        self.streams.push(Stream {
            id,
            state: StreamState::Idle,
        });
        // Answered even for transaction id 0: the client cannot use the
        // stream without learning its id.
        self.command(
            stream_id,
            Command::new(
                "_result",
                tid,
                Value::Null,
                vec![Value::Number(f64::from(id))],
            ),
        );
    }

    /// Checks that `stream_id` was created and is idle; otherwise answers
    /// with an error status using `failed` as the code.
    fn idle_stream(&mut self, stream_id: u32, failed: &str) -> bool {
        let description = match self.stream(stream_id).map(|s| &s.state) {
            Some(StreamState::Idle) => return true,
            Some(_) => format!("Stream {stream_id} is already publishing or playing."),
            None => format!("Stream {stream_id} was not created with createStream."),
        };
        self.send_status(stream_id, "error", failed, &description);
        false
    }

    fn on_publish(&mut self, stream_id: u32, cmd: &Command) {
        if !self.idle_stream(stream_id, "NetStream.Publish.Failed") {
            return;
        }
        let (name, query) = cmd
            .arg(0)
            .and_then(Value::as_str)
            .map(split_owned)
            .unwrap_or_default();
        if name.is_empty() {
            self.send_status(
                stream_id,
                "error",
                "NetStream.Publish.BadName",
                "publish needs a stream name.",
            );
            return;
        }
        let kind = cmd
            .arg(1)
            .and_then(Value::as_str)
            .unwrap_or("live")
            .to_owned();
        self.set_state(stream_id, StreamState::Publishing { name: name.clone() });
        self.core.event(ServerEvent::Publish {
            stream_id,
            name,
            query,
            kind,
        });
    }

    fn on_play(&mut self, stream_id: u32, cmd: &Command) {
        if !self.idle_stream(stream_id, "NetStream.Play.Failed") {
            return;
        }
        let (name, query) = cmd
            .arg(0)
            .and_then(Value::as_str)
            .map(split_owned)
            .unwrap_or_default();
        if name.is_empty() {
            self.send_status(
                stream_id,
                "error",
                "NetStream.Play.StreamNotFound",
                "play needs a stream name.",
            );
            return;
        }
        let number =
            |i: usize, default: f64| cmd.arg(i).and_then(Value::as_number).unwrap_or(default);
        let start = number(1, -2.0);
        let duration = number(2, -1.0);
        let reset = flag(cmd.arg(3)).unwrap_or(true);
        self.set_state(stream_id, StreamState::Playing);
        self.core.event(ServerEvent::Play {
            stream_id,
            name,
            query,
            start,
            duration,
            reset,
        });
    }

    fn on_pause(&mut self, stream_id: u32, cmd: &Command) {
        let Some(paused) = flag(cmd.arg(0)) else {
            self.unknown += 1;
            return;
        };
        let position = cmd.arg(1).and_then(Value::as_number).unwrap_or(0.0);
        let (code, description) = if paused {
            ("NetStream.Pause.Notify", "Paused.")
        } else {
            ("NetStream.Unpause.Notify", "Unpaused.")
        };
        self.send_status(stream_id, "status", code, description);
        self.core.event(ServerEvent::Pause {
            stream_id,
            paused,
            position,
        });
    }

    /// Ends whatever a stream is doing, with the matching event. `polite`
    /// also confirms an unpublish to the client (pointless on
    /// `deleteStream`, whose stream no longer exists to receive it).
    fn end_stream(&mut self, id: u32, polite: bool) {
        let Some(stream) = self.streams.iter_mut().find(|s| s.id == id) else {
            return;
        };
        match std::mem::replace(&mut stream.state, StreamState::Idle) {
            StreamState::Publishing { name } => {
                self.core.event(ServerEvent::Unpublish { stream_id: id });
                if polite {
                    let description = format!("{name} is now unpublished.");
                    self.send_status(id, "status", "NetStream.Unpublish.Success", &description);
                }
            }
            StreamState::Playing => self.core.event(ServerEvent::StopPlay { stream_id: id }),
            StreamState::Idle => {}
        }
    }
}
