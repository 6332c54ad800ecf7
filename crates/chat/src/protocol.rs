//! The wire protocol: client messages in ([`parse_client`]), server events
//! out ([`ServerEvent::encode`]). JSON objects with a `"type"` field, one
//! per WebSocket frame; see `docs/chat.md`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::ChatError;

/// A message a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// `{"type":"join","nick":"..."}`: take a nickname (optional; without
    /// one a client chats under its generated guest name).
    Join {
        /// The wanted nickname, as sent.
        nick: String,
        /// The join token (`"token"`), for rooms that need one.
        token: Option<String>,
    },
    /// `{"type":"chat","text":"..."}`: say something to the room.
    Chat {
        /// The text, as sent (normalized later).
        text: String,
    },
    /// `{"type":"ping"}`: the application heartbeat; answered with `pong`.
    Ping,
}

/// What any client message may carry. Unknown fields are ignored so that
/// newer clients work with older servers.
#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    nick: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// Parses one client frame. Frames longer than `max_frame` bytes are
/// refused before any parsing, so a peer cannot make the server chew on
/// big inputs; text length proper is checked later, in characters.
pub fn parse_client(frame: &[u8], max_frame: usize) -> Result<ClientMsg, ChatError> {
    if frame.len() > max_frame {
        return Err(ChatError::TooLong {
            len: frame.len(),
            max: max_frame,
            unit: "bytes",
        });
    }
    let text = std::str::from_utf8(frame).map_err(|e| ChatError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let raw: Raw = serde_json::from_str(text).map_err(|e| ChatError::InvalidJson(e.to_string()))?;
    match raw.kind.as_str() {
        "ping" => Ok(ClientMsg::Ping),
        "chat" => match raw.text {
            Some(text) => Ok(ClientMsg::Chat { text }),
            None => Err(ChatError::MissingField {
                kind: "chat",
                field: "text",
            }),
        },
        "join" => match raw.nick {
            Some(nick) => Ok(ClientMsg::Join {
                nick,
                token: raw.token,
            }),
            None => Err(ChatError::MissingField {
                kind: "join",
                field: "nick",
            }),
        },
        _ => {
            let mut kind = raw.kind;
            // The name is echoed in the error; keep that small.
            if let Some((cut, _)) = kind.char_indices().nth(32) {
                kind.truncate(cut);
            }
            Err(ChatError::UnknownType(kind))
        }
    }
}

/// An event the server sends. Each is encoded once and the same bytes go to
/// every recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent<'a> {
    /// First frame on a connection: who you are and what the room is.
    Welcome {
        /// Your name (a generated guest name until you `join`).
        user: &'a str,
        /// `app/stream`.
        room: &'a str,
        /// Connections in the room, you included.
        members: usize,
        /// Whether the stream is being published right now.
        live: bool,
        /// Longest text accepted, in characters.
        max_text: usize,
    },
    /// A chat message, stamped by the server.
    Chat {
        /// Server-assigned id, increasing in the room's broadcast order.
        id: u64,
        /// Sender's name.
        user: &'a str,
        /// Normalized text.
        text: &'a str,
        /// Server time, unix milliseconds.
        ts: u64,
    },
    /// Someone took a nickname.
    Join {
        /// The nickname.
        user: &'a str,
        /// Server time, unix milliseconds.
        ts: u64,
    },
    /// A named user left (or was kicked).
    Leave {
        /// The nickname.
        user: &'a str,
        /// `"kicked"` when a moderator removed them.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
        /// Server time, unix milliseconds.
        ts: u64,
    },
    /// The number of connections in the room changed (sent at most once
    /// per server tick).
    Members {
        /// Connections in the room.
        count: usize,
    },
    /// The stream went live or offline.
    Stream {
        /// A publisher is attached.
        live: bool,
        /// Server time, unix milliseconds.
        ts: u64,
    },
    /// A moderator muted a user (`until` 0: unmuted).
    Mute {
        /// The nickname.
        user: &'a str,
        /// End of the mute, unix milliseconds.
        until: u64,
    },
    /// A moderator deleted a message: clients remove it.
    Delete {
        /// The message id.
        id: u64,
    },
    /// Answer to `ping`.
    Pong {
        /// Server time, unix milliseconds.
        ts: u64,
    },
    /// A refused message; the connection stays open.
    Error {
        /// Machine-readable code, see [`ChatError::code`].
        code: &'a str,
        /// Human-readable explanation.
        message: String,
        /// For `rate_limited`: when to try again.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_ms: Option<u64>,
    },
}

impl ServerEvent<'_> {
    /// The event as one JSON frame.
    pub fn encode(&self) -> Bytes {
        // Plain structs with string keys: serialization cannot fail.
        Bytes::from(serde_json::to_vec(self).expect("chat events always serialize"))
    }

    /// The `error` event for a refused message.
    pub fn error(err: &ChatError) -> Bytes {
        let retry_ms = match err {
            ChatError::RateLimited { retry_ms } => Some(*retry_ms),
            _ => None,
        };
        ServerEvent::Error {
            code: err.code(),
            message: err.to_string(),
            retry_ms,
        }
        .encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_types_and_ignores_extra_fields() {
        assert_eq!(
            parse_client(br#"{"type":"ping"}"#, 100),
            Ok(ClientMsg::Ping)
        );
        assert_eq!(
            parse_client(br#"{"type":"chat","text":"hi","color":"red"}"#, 100),
            Ok(ClientMsg::Chat { text: "hi".into() })
        );
        assert_eq!(
            parse_client(br#"{"nick":"al","type":"join"}"#, 100),
            Ok(ClientMsg::Join {
                nick: "al".into(),
                token: None
            })
        );
        assert_eq!(
            parse_client(br#"{"type":"join","nick":"al","token":"1.ab"}"#, 100),
            Ok(ClientMsg::Join {
                nick: "al".into(),
                token: Some("1.ab".into())
            })
        );
    }

    #[test]
    fn refusals_have_codes() {
        let code = |f: &[u8]| parse_client(f, 64).unwrap_err().code();
        assert_eq!(code(b"\xff\xfe"), "invalid_utf8");
        assert_eq!(code(b"{"), "invalid_json");
        assert_eq!(code(b"[1]"), "invalid_json");
        assert_eq!(code(br#"{"type":"chat","text":5}"#), "invalid_json");
        assert_eq!(code(br#"{"type":"chat","text":"\ud800"}"#), "invalid_json");
        assert_eq!(code(br#"{"type":"chat"}"#), "missing_field");
        assert_eq!(code(br#"{"type":"dance"}"#), "unknown_type");
        assert_eq!(code(&[b' '; 65]), "too_long");
    }

    #[test]
    fn events_encode_as_documented() {
        let chat = ServerEvent::Chat {
            id: 7,
            user: "al",
            text: "hi \"x\"",
            ts: 1,
        };
        assert_eq!(
            &chat.encode()[..],
            br#"{"type":"chat","id":7,"user":"al","text":"hi \"x\"","ts":1}"#
        );
        let err = ServerEvent::error(&ChatError::RateLimited { retry_ms: 200 });
        let v: serde_json::Value = serde_json::from_slice(&err).unwrap();
        assert_eq!(v["code"], "rate_limited");
        assert_eq!(v["retry_ms"], 200);
        assert_eq!(
            &ServerEvent::Pong { ts: 5 }.encode()[..],
            br#"{"type":"pong","ts":5}"#
        );
    }
}
