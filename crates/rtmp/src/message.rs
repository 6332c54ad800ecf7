//! Typed RTMP messages: protocol control, user control, commands, script
//! data and aggregates, parsed from and encoded to [`Message`] payloads.
//!
//! The chunk layer hands us opaque payloads tagged with a type id; this
//! module gives them meaning. Parsers take untrusted bytes and report
//! [`MessageError`] instead of panicking; encoders produce the exact layouts
//! other implementations expect.

use bytes::{BufMut, Bytes, BytesMut};
use weir_amf0::{Amf3Value, Decoder, Value};

use crate::chunk::Message;
use crate::error::MessageError;

/// RTMP message type ids.
pub mod type_id {
    /// Set Chunk Size (protocol control).
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// Abort Message (protocol control).
    pub const ABORT: u8 = 2;
    /// Acknowledgement (protocol control).
    pub const ACK: u8 = 3;
    /// User Control Message.
    pub const USER_CONTROL: u8 = 4;
    /// Window Acknowledgement Size (protocol control).
    pub const WINDOW_ACK_SIZE: u8 = 5;
    /// Set Peer Bandwidth (protocol control).
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    /// Audio: an FLV audio tag body.
    pub const AUDIO: u8 = 8;
    /// Video: an FLV video tag body.
    pub const VIDEO: u8 = 9;
    /// Script data, AMF3 flavour (a 0 byte, then AMF0 in practice).
    pub const DATA_AMF3: u8 = 15;
    /// Shared object, AMF3 flavour (not supported, ignored).
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    /// Command, AMF3 flavour (a 0 byte, then AMF0 values).
    pub const COMMAND_AMF3: u8 = 17;
    /// Script data, AMF0 (e.g. `@setDataFrame`/`onMetaData`).
    pub const DATA_AMF0: u8 = 18;
    /// Shared object, AMF0 (not supported, ignored).
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    /// Command, AMF0 (`connect`, `publish`, `onStatus`...).
    pub const COMMAND_AMF0: u8 = 20;
    /// Aggregate: several FLV-tag-framed messages in one.
    pub const AGGREGATE: u8 = 22;
}

/// Chunk stream for protocol and user control messages, as the
/// specification requires.
pub const CSID_CONTROL: u32 = 2;
/// Chunk stream for the commands and status messages a session sends.
pub const CSID_COMMAND: u32 = 3;
/// Chunk stream for audio. On the server it belongs to the shared muxer.
pub const CSID_AUDIO: u32 = 4;
/// Chunk stream for script data. On the server it belongs to the shared
/// muxer.
pub const CSID_DATA: u32 = 5;
/// Chunk stream for video. On the server it belongs to the shared muxer.
pub const CSID_VIDEO: u32 = 6;

/// How a Set Peer Bandwidth limit is to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitType {
    /// Limit output to the window size.
    Hard,
    /// Limit to the window size or the current limit, whichever is smaller.
    Soft,
    /// Hard if the previous limit was hard, otherwise ignore.
    Dynamic,
}

/// Protocol control messages (types 1, 2, 3, 5, 6): the chunk stream's own
/// bookkeeping, always on message stream 0 and chunk stream 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolControl {
    /// Later chunks from the sender carry at most this many payload bytes.
    SetChunkSize(u32),
    /// Discard the partial message on this chunk stream.
    Abort(u32),
    /// Total bytes received so far (wrapping), sent every window.
    Ack(u32),
    /// Send an Ack after every this many bytes received.
    WindowAckSize(u32),
    /// Limit the receiver's output bandwidth.
    SetPeerBandwidth {
        /// Window size in bytes.
        size: u32,
        /// How to apply it.
        limit: LimitType,
    },
}

impl ProtocolControl {
    /// Parses a protocol control message of type `type_id`. Trailing bytes
    /// are ignored, as some peers pad.
    pub fn parse(type_id: u8, payload: &[u8]) -> Result<Self, MessageError> {
        let value = read_u32(payload, 0)?;
        Ok(match type_id {
            type_id::SET_CHUNK_SIZE => ProtocolControl::SetChunkSize(value),
            type_id::ABORT => ProtocolControl::Abort(value),
            type_id::ACK => ProtocolControl::Ack(value),
            type_id::WINDOW_ACK_SIZE => ProtocolControl::WindowAckSize(value),
            type_id::SET_PEER_BANDWIDTH => {
                let limit = match payload.get(4) {
                    Some(0) => LimitType::Hard,
                    Some(1) => LimitType::Soft,
                    Some(2) => LimitType::Dynamic,
                    Some(&limit_type) => return Err(MessageError::InvalidLimitType { limit_type }),
                    None => {
                        return Err(MessageError::TooShort {
                            len: payload.len(),
                            needed: 5,
                        })
                    }
                };
                ProtocolControl::SetPeerBandwidth { size: value, limit }
            }
            _ => {
                return Err(MessageError::WrongType {
                    type_id,
                    expected: "protocol control message",
                })
            }
        })
    }

    /// The message type id of this control message.
    pub fn type_id(&self) -> u8 {
        match self {
            ProtocolControl::SetChunkSize(_) => type_id::SET_CHUNK_SIZE,
            ProtocolControl::Abort(_) => type_id::ABORT,
            ProtocolControl::Ack(_) => type_id::ACK,
            ProtocolControl::WindowAckSize(_) => type_id::WINDOW_ACK_SIZE,
            ProtocolControl::SetPeerBandwidth { .. } => type_id::SET_PEER_BANDWIDTH,
        }
    }

    /// The complete message, on chunk stream 2, message stream 0, time 0.
    pub fn to_message(&self) -> Message {
        let mut p = BytesMut::with_capacity(5);
        match *self {
            ProtocolControl::SetChunkSize(v)
            | ProtocolControl::Abort(v)
            | ProtocolControl::Ack(v)
            | ProtocolControl::WindowAckSize(v) => p.put_u32(v),
            ProtocolControl::SetPeerBandwidth { size, limit } => {
                p.put_u32(size);
                p.put_u8(match limit {
                    LimitType::Hard => 0,
                    LimitType::Soft => 1,
                    LimitType::Dynamic => 2,
                });
            }
        }
        control_message(self.type_id(), p.freeze())
    }
}

/// User control events (message type 4): stream state and pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControl {
    /// The stream is ready to carry data (sent before media).
    StreamBegin(u32),
    /// Playback of the stream is over.
    StreamEof(u32),
    /// No more data for now on the stream.
    StreamDry(u32),
    /// The client's buffer length for a stream.
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        millis: u32,
    },
    /// The stream is a recording, not live.
    StreamIsRecorded(u32),
    /// A liveness probe; the receiver answers with [`UserControl::PingResponse`]
    /// carrying the same value.
    PingRequest(u32),
    /// The answer to a ping request.
    PingResponse(u32),
    /// An event type this crate does not act on (e.g. SWF verification,
    /// buffer empty/ready); kept so callers can count them.
    Other {
        /// The event type.
        event_type: u16,
    },
}

impl UserControl {
    /// Parses a user control message payload.
    pub fn parse(payload: &[u8]) -> Result<Self, MessageError> {
        let event_type = match payload.get(..2) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => {
                return Err(MessageError::TooShort {
                    len: payload.len(),
                    needed: 2,
                })
            }
        };
        if event_type > 7 || event_type == 5 {
            return Ok(UserControl::Other { event_type });
        }
        let v = read_u32(payload, 2)?;
        Ok(match event_type {
            0 => UserControl::StreamBegin(v),
            1 => UserControl::StreamEof(v),
            2 => UserControl::StreamDry(v),
            3 => UserControl::SetBufferLength {
                stream_id: v,
                millis: read_u32(payload, 6)?,
            },
            4 => UserControl::StreamIsRecorded(v),
            6 => UserControl::PingRequest(v),
            _ => UserControl::PingResponse(v),
        })
    }

    /// The complete message, on chunk stream 2, message stream 0, time 0.
    /// [`UserControl::Other`] encodes as its bare event type.
    pub fn to_message(&self) -> Message {
        let mut p = BytesMut::with_capacity(10);
        let (event, value) = match *self {
            UserControl::StreamBegin(v) => (0, Some(v)),
            UserControl::StreamEof(v) => (1, Some(v)),
            UserControl::StreamDry(v) => (2, Some(v)),
            UserControl::SetBufferLength { stream_id, .. } => (3, Some(stream_id)),
            UserControl::StreamIsRecorded(v) => (4, Some(v)),
            UserControl::PingRequest(v) => (6, Some(v)),
            UserControl::PingResponse(v) => (7, Some(v)),
            UserControl::Other { event_type } => (event_type, None),
        };
        p.put_u16(event);
        if let Some(v) = value {
            p.put_u32(v);
        }
        if let UserControl::SetBufferLength { millis, .. } = self {
            p.put_u32(*millis);
        }
        control_message(type_id::USER_CONTROL, p.freeze())
    }
}

fn control_message(type_id: u8, payload: Bytes) -> Message {
    Message {
        csid: CSID_CONTROL,
        timestamp: 0,
        type_id,
        stream_id: 0,
        payload,
    }
}

fn read_u32(payload: &[u8], at: usize) -> Result<u32, MessageError> {
    match payload.get(at..at + 4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(MessageError::TooShort {
            len: payload.len(),
            needed: at + 4,
        }),
    }
}

/// A command message: a name, a transaction id that the answer echoes, a
/// command object (often null) and further arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Command name, e.g. `connect`, `_result`, `onStatus`.
    pub name: String,
    /// Transaction id; 0 means "no answer expected".
    pub transaction_id: f64,
    /// The command object (`Value::Null` when absent).
    pub object: Value,
    /// The remaining arguments.
    pub args: Vec<Value>,
}

impl Command {
    /// Builds a command.
    pub fn new(name: &str, transaction_id: f64, object: Value, args: Vec<Value>) -> Self {
        Command {
            name: name.to_owned(),
            transaction_id,
            object,
            args,
        }
    }

    /// Parses a command message of type 20 (AMF0) or 17 (AMF3: the leading
    /// format byte 0 is skipped, the rest is AMF0 with possible AMF3
    /// switches). A missing transaction id reads as 0 and a missing command
    /// object as null: some clients leave them out of fire-and-forget
    /// commands.
    pub fn parse(type_id: u8, payload: &[u8], amf: &Decoder) -> Result<Self, MessageError> {
        let body = match type_id {
            type_id::COMMAND_AMF0 => payload,
            type_id::COMMAND_AMF3 => skip_amf3_format_byte(payload),
            _ => {
                return Err(MessageError::WrongType {
                    type_id,
                    expected: "command message",
                })
            }
        };
        let mut values = amf.decode_all(body)?.into_iter();
        let name = match values.next() {
            Some(Value::String(s)) | Some(Value::Avmplus(Amf3Value::String(s))) => s,
            _ => return Err(MessageError::MissingName),
        };
        let transaction_id = values.next().and_then(|v| v.as_number()).unwrap_or(0.0);
        let object = values.next().unwrap_or(Value::Null);
        Ok(Command {
            name,
            transaction_id,
            object,
            args: values.collect(),
        })
    }

    /// The `i`th argument after the command object.
    pub fn arg(&self, i: usize) -> Option<&Value> {
        self.args.get(i)
    }

    /// The AMF0 payload.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        weir_amf0::encode(&Value::String(self.name.clone()), &mut out);
        weir_amf0::encode(&Value::Number(self.transaction_id), &mut out);
        weir_amf0::encode(&self.object, &mut out);
        weir_amf0::encode_all(&self.args, &mut out);
        out.freeze()
    }

    /// The complete AMF0 command message on chunk stream `csid` and
    /// message stream `stream_id`, time 0.
    pub fn to_message(&self, csid: u32, stream_id: u32) -> Message {
        Message {
            csid,
            timestamp: 0,
            type_id: type_id::COMMAND_AMF0,
            stream_id,
            payload: self.encode(),
        }
    }
}

/// The `info` object of `onStatus`, `_error` and connect `_result`.
pub fn status_object(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::from(level)),
        ("code", Value::from(code)),
        ("description", Value::from(description)),
    ])
}

/// AMF3-flavoured command and data messages start with a format byte 0.
/// Only a 0 is skipped: it cannot start an AMF0 name (0 is the number
/// marker), so a client that leaves it out still parses.
fn skip_amf3_format_byte(payload: &[u8]) -> &[u8] {
    match payload.split_first() {
        Some((0, rest)) => rest,
        _ => payload,
    }
}

/// Name of the data message wrapper a publisher uses to set metadata.
pub const SET_DATA_FRAME: &str = "@setDataFrame";

/// A script data message reduced to what a stream carries: its name and an
/// AMF0 payload that starts with that name.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptData {
    /// Handler name, e.g. `onMetaData`.
    pub name: String,
    /// AMF0 payload: the name string and its values, without
    /// `@setDataFrame` and without AMF3 switches.
    pub payload: Bytes,
}

/// Parses a data message (type 18, or 15 with its format byte) into
/// [`ScriptData`].
///
/// A leading `@setDataFrame` is stripped. The payload is a slice of the
/// input (no copy) unless the sender used AMF3 switches, in which case the
/// values are re-encoded as plain AMF0 so that FLV and RTMP players can read
/// them.
pub fn parse_script_data(
    type_id: u8,
    payload: &Bytes,
    amf: &Decoder,
) -> Result<ScriptData, MessageError> {
    let body = match type_id {
        type_id::DATA_AMF0 => payload.clone(),
        type_id::DATA_AMF3 => match payload.first() {
            Some(0) => payload.slice(1..),
            _ => payload.clone(),
        },
        _ => {
            return Err(MessageError::WrongType {
                type_id,
                expected: "data message",
            })
        }
    };
    let mut rest: &[u8] = &body;
    let mut first = amf.decode(&mut rest)?;
    let mut start = 0;
    if first.as_str() == Some(SET_DATA_FRAME) {
        start = body.len() - rest.len();
        if rest.is_empty() {
            return Err(MessageError::MissingName);
        }
        first = amf.decode(&mut rest)?;
    }
    let Some(name) = first.as_str().map(str::to_owned) else {
        return Err(MessageError::MissingName);
    };
    let values = amf.decode_all(rest)?;
    let needs_rewrite = matches!(first, Value::Avmplus(_)) || values.iter().any(contains_amf3);
    let payload = if needs_rewrite {
        let mut out = BytesMut::new();
        weir_amf0::encode(&Value::String(name.clone()), &mut out);
        for v in values {
            weir_amf0::encode(&to_amf0(v), &mut out);
        }
        out.freeze()
    } else {
        body.slice(start..)
    };
    Ok(ScriptData { name, payload })
}

/// `"@setDataFrame"` followed by `payload` (an AMF0 `"onMetaData", {...}`):
/// what a publisher sends so the server keeps the metadata for players.
pub fn set_data_frame(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 16);
    weir_amf0::encode(&Value::from(SET_DATA_FRAME), &mut out);
    out.put_slice(payload);
    out.freeze()
}

fn contains_amf3(v: &Value) -> bool {
    match v {
        Value::Avmplus(_) => true,
        Value::StrictArray(items) => items.iter().any(contains_amf3),
        _ => v
            .properties()
            .is_some_and(|p| p.iter().any(|(_, v)| contains_amf3(v))),
    }
}

/// Rewrites AMF3 scalars as their AMF0 equivalents, recursively. Depth is
/// bounded by the decoder's limit.
fn to_amf0(v: Value) -> Value {
    let props = |p: Vec<(String, Value)>| p.into_iter().map(|(k, v)| (k, to_amf0(v))).collect();
    match v {
        Value::Avmplus(a) => match a {
            Amf3Value::Undefined => Value::Undefined,
            Amf3Value::Null => Value::Null,
            Amf3Value::Boolean(b) => Value::Boolean(b),
            Amf3Value::Integer(i) => Value::Number(f64::from(i)),
            Amf3Value::Double(d) => Value::Number(d),
            Amf3Value::String(s) => Value::String(s),
        },
        Value::Object(p) => Value::Object(props(p)),
        Value::EcmaArray(p) => Value::EcmaArray(props(p)),
        Value::TypedObject { class, props: p } => Value::TypedObject {
            class,
            props: props(p),
        },
        Value::StrictArray(items) => Value::StrictArray(items.into_iter().map(to_amf0).collect()),
        other => other,
    }
}

/// Size of an FLV tag header inside an aggregate message.
const TAG_HEADER_LEN: usize = 11;

/// Splits an aggregate message (type 22) into its sub-messages.
///
/// Each sub-message is framed like an FLV tag (type, 24-bit size, 32-bit
/// timestamp split 24+8, 24-bit stream id, body, 32-bit back pointer).
/// Timestamps are rebased so that the first sub-message gets the
/// aggregate's own timestamp and the others keep their distance to it;
/// chunk and message stream ids are the aggregate's. Payloads are slices of
/// the aggregate, not copies. The back pointer after the last body may be
/// missing.
pub fn split_aggregate(msg: &Message) -> Result<Vec<Message>, MessageError> {
    let p = &msg.payload;
    let mut out = Vec::new();
    let mut at = 0;
    let mut base = None;
    while at < p.len() {
        let Some(h) = p.get(at..at + TAG_HEADER_LEN) else {
            return Err(MessageError::BadAggregate {
                offset: at,
                detail: "sub-message header",
            });
        };
        let type_id = h[0];
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body_at = at + TAG_HEADER_LEN;
        if p.len() - body_at < len {
            return Err(MessageError::BadAggregate {
                offset: at,
                detail: "sub-message body",
            });
        }
        let first_ts = *base.get_or_insert(ts);
        out.push(Message {
            csid: msg.csid,
            timestamp: msg.timestamp.wrapping_add(ts.wrapping_sub(first_ts)),
            type_id,
            stream_id: msg.stream_id,
            payload: p.slice(body_at..body_at + len),
        });
        at = (body_at + len).saturating_add(4).min(p.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
