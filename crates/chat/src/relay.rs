//! The messages chat servers of a cluster exchange about a room
//! ([`RelayMsg`]): what one node broadcast (chat messages, joins, leaves,
//! mutes, deletes) and the kicks it asks for, so that members on every node
//! act as one room. The transport (Redis pub/sub in the app) only carries
//! the bytes; everything decoded is checked like peer input.
//!
//! # Encoding
//!
//! One JSON object, versioned:
//!
//! ```text
//! {"v":1,"from":7311532087340017,"event":{"type":"chat","id":1838369532584961,"user":"alice","text":"hi","ts":1732200000000}}
//! ```
//!
//! * `v`: the format version, [`RELAY_VERSION`]; any other is refused.
//! * `from`: the sending server's random instance id ([`RelayMsg::from`]),
//!   so that a server ignores its own messages echoed back.
//! * `event`: for `chat`, `join`, `leave`, `mute` and `delete`, exactly
//!   the event the sending node broadcast to its own members (see
//!   `docs/chat.md`), so a broadcast frame is relayed by concatenation
//!   ([`RelayMsg::wrap`]); `{"type":"kick","user":"..."}` asks the node
//!   that has the user to close it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::MAX_TEXT_LIMIT;
use crate::protocol::ServerEvent;

/// The relay format version this crate writes and reads.
pub const RELAY_VERSION: u64 = 1;

/// Largest relay message accepted, in bytes: the longest text the chat
/// allows, fully JSON-escaped, plus the envelope. Larger input is refused
/// before parsing.
pub const MAX_RELAY_MSG: usize = MAX_TEXT_LIMIT * 6 + 1024;

/// Longest user name in a relay message, in characters: nicknames are at
/// most [`crate::MAX_NICK`], guest names `guest-` and a number.
pub const MAX_RELAY_USER: usize = 32;

/// Largest message id accepted: ids stay exact in JavaScript (2^53 - 1).
pub const MAX_MESSAGE_ID: u64 = (1 << 53) - 1;

/// A relay message that cannot be used: corrupt, from another version, or
/// with a field out of its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// Larger than [`MAX_RELAY_MSG`].
    #[error("relay message too large ({len} > {max} bytes)")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, or not the shape of a relay message (unknown event type
    /// included).
    #[error("relay message is malformed: {0}")]
    Malformed(String),
    /// Another format version.
    #[error("relay message version {0} is not supported (this node speaks {RELAY_VERSION})")]
    Version(u64),
    /// A field breaks its limits.
    #[error("relay message field {field:?}: {problem}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// What happened in a room on another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// A chat message accepted there (its id is unique in the cluster).
    Chat {
        /// Message id.
        id: u64,
        /// Sender's name.
        user: String,
        /// Normalized text.
        text: String,
        /// Time it was accepted, unix ms.
        ts: u64,
    },
    /// A member took a nickname there.
    Join {
        /// The nickname.
        user: String,
        /// Unix ms.
        ts: u64,
    },
    /// A named member left there (or was kicked).
    Leave {
        /// The nickname.
        user: String,
        /// A moderator removed them.
        kicked: bool,
        /// Unix ms.
        ts: u64,
    },
    /// A moderator muted (or, with `until` 0, unmuted) a name.
    Mute {
        /// The name.
        user: String,
        /// End of the mute, unix ms; 0 lifts it.
        until: u64,
    },
    /// A moderator kicked a name: the node that has it closes it.
    Kick {
        /// The name.
        user: String,
    },
    /// A moderator deleted a message.
    Delete {
        /// The message id.
        id: u64,
    },
}

/// One relay message: an event and the server instance that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMsg {
    /// The sending server's instance id (random per run): a server drops
    /// messages carrying its own.
    pub from: u64,
    /// What happened.
    pub event: RelayEvent,
}

/// The event as it travels, owned, for decoding.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    Chat {
        id: u64,
        user: String,
        text: String,
        ts: u64,
    },
    Join {
        user: String,
        ts: u64,
    },
    Leave {
        user: String,
        #[serde(default)]
        reason: Option<String>,
        ts: u64,
    },
    Mute {
        user: String,
        until: u64,
    },
    Kick {
        user: String,
    },
    Delete {
        id: u64,
    },
}

#[derive(Deserialize)]
struct Envelope {
    v: u64,
    from: u64,
    event: serde_json::Value,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KickOut<'a> {
    Kick { user: &'a str },
}

impl RelayMsg {
    /// The relay message for a frame this server broadcast to its members
    /// (a `chat`, `join`, `leave`, `mute` or `delete` event from
    /// [`crate::Room`]): the same bytes inside the envelope, no re-encoding.
    /// Other frames make messages the receivers refuse.
    pub fn wrap(from: u64, frame: &[u8]) -> Bytes {
        let mut v = Vec::with_capacity(frame.len() + 48);
        v.extend_from_slice(br#"{"v":"#);
        v.extend_from_slice(RELAY_VERSION.to_string().as_bytes());
        v.extend_from_slice(br#","from":"#);
        v.extend_from_slice(from.to_string().as_bytes());
        v.extend_from_slice(br#","event":"#);
        v.extend_from_slice(frame);
        v.push(b'}');
        Bytes::from(v)
    }

    /// A kick request for `user`, from server `from`.
    pub fn kick(from: u64, user: &str) -> Bytes {
        RelayMsg {
            from,
            event: RelayEvent::Kick {
                user: user.to_owned(),
            },
        }
        .encode()
    }

    /// The message as bytes (what [`RelayMsg::decode`] reads).
    pub fn encode(&self) -> Bytes {
        let event = match &self.event {
            RelayEvent::Chat { id, user, text, ts } => ServerEvent::Chat {
                id: *id,
                user,
                text,
                ts: *ts,
            }
            .encode(),
            RelayEvent::Join { user, ts } => ServerEvent::Join { user, ts: *ts }.encode(),
            RelayEvent::Leave { user, kicked, ts } => ServerEvent::Leave {
                user,
                reason: kicked.then_some("kicked"),
                ts: *ts,
            }
            .encode(),
            RelayEvent::Mute { user, until } => ServerEvent::Mute {
                user,
                until: *until,
            }
            .encode(),
            RelayEvent::Delete { id } => ServerEvent::Delete { id: *id }.encode(),
            RelayEvent::Kick { user } => Bytes::from(
                serde_json::to_vec(&KickOut::Kick { user }).expect("kick always serializes"),
            ),
        };
        RelayMsg::wrap(self.from, &event)
    }

    /// Reads a relay message, checking every field: size, version, event
    /// type, names (1–[`MAX_RELAY_USER`] characters, no control
    /// characters, no surrounding spaces), texts (1–[`MAX_TEXT_LIMIT`]
    /// characters, one normalized line), ids (at most
    /// [`MAX_MESSAGE_ID`]). Never panics.
    pub fn decode(msg: &[u8]) -> Result<RelayMsg, RelayError> {
        if msg.len() > MAX_RELAY_MSG {
            return Err(RelayError::TooLarge {
                len: msg.len(),
                max: MAX_RELAY_MSG,
            });
        }
        let env: Envelope =
            serde_json::from_slice(msg).map_err(|e| RelayError::Malformed(e.to_string()))?;
        if env.v != RELAY_VERSION {
            return Err(RelayError::Version(env.v));
        }
        let wire: WireEvent =
            serde_json::from_value(env.event).map_err(|e| RelayError::Malformed(e.to_string()))?;
        let event = match wire {
            WireEvent::Chat { id, user, text, ts } => RelayEvent::Chat {
                id: check_id(id)?,
                user: check_user(user)?,
                text: check_text(text)?,
                ts,
            },
            WireEvent::Join { user, ts } => RelayEvent::Join {
                user: check_user(user)?,
                ts,
            },
            WireEvent::Leave { user, reason, ts } => RelayEvent::Leave {
                user: check_user(user)?,
                kicked: match reason.as_deref() {
                    None => false,
                    Some("kicked") => true,
                    Some(_) => {
                        return Err(RelayError::Field {
                            field: "reason",
                            problem: "must be \"kicked\" or absent",
                        })
                    }
                },
                ts,
            },
            WireEvent::Mute { user, until } => RelayEvent::Mute {
                user: check_user(user)?,
                until,
            },
            WireEvent::Kick { user } => RelayEvent::Kick {
                user: check_user(user)?,
            },
            WireEvent::Delete { id } => RelayEvent::Delete { id: check_id(id)? },
        };
        Ok(RelayMsg {
            from: env.from,
            event,
        })
    }

    /// Whether the message belongs in a room's shared history — chat
    /// messages, and the deletes and mutes that amend them — which a node
    /// opening the room replays ([`crate::Room::seed`]). Joins, leaves
    /// and kicks are news of the moment only.
    pub fn kept(&self) -> bool {
        matches!(
            self.event,
            RelayEvent::Chat { .. } | RelayEvent::Delete { .. } | RelayEvent::Mute { .. }
        )
    }
}

fn check_id(id: u64) -> Result<u64, RelayError> {
    if id > MAX_MESSAGE_ID {
        return Err(RelayError::Field {
            field: "id",
            problem: "above 2^53 - 1",
        });
    }
    Ok(id)
}

fn check_user(user: String) -> Result<String, RelayError> {
    let problem = if user.is_empty() {
        Some("empty")
    } else if user.chars().nth(MAX_RELAY_USER).is_some() {
        Some("too long")
    } else if user.chars().any(char::is_control) {
        Some("control characters")
    } else if user.trim() != user {
        Some("surrounding spaces")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(RelayError::Field {
            field: "user",
            problem,
        }),
        None => Ok(user),
    }
}

fn check_text(text: String) -> Result<String, RelayError> {
    let problem = if text.is_empty() {
        Some("empty")
    } else if text.chars().nth(MAX_TEXT_LIMIT).is_some() {
        Some("too long")
    } else if text.chars().any(char::is_control) || text.trim() != text || text.contains("  ") {
        Some("not one normalized line")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(RelayError::Field {
            field: "text",
            problem,
        }),
        None => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<RelayMsg> {
        let s = |x: &str| x.to_owned();
        [
            RelayEvent::Chat {
                id: 1_838_369_532_584_961,
                user: s("alice"),
                text: s("hi \"there\" 日本"),
                ts: 1_732_200_000_000,
            },
            RelayEvent::Join {
                user: s("bob"),
                ts: 5,
            },
            RelayEvent::Leave {
                user: s("bob"),
                kicked: false,
                ts: 6,
            },
            RelayEvent::Leave {
                user: s("troll"),
                kicked: true,
                ts: 7,
            },
            RelayEvent::Mute {
                user: s("troll"),
                until: 99,
            },
            RelayEvent::Mute {
                user: s("troll"),
                until: 0,
            },
            RelayEvent::Kick { user: s("troll") },
            RelayEvent::Delete { id: MAX_MESSAGE_ID },
        ]
        .into_iter()
        .map(|event| RelayMsg {
            from: u64::MAX,
            event,
        })
        .collect()
    }

    #[test]
    fn every_event_round_trips() {
        for m in all() {
            let bytes = m.encode();
            assert_eq!(RelayMsg::decode(&bytes), Ok(m.clone()), "{bytes:?}");
        }
    }

    #[test]
    fn a_broadcast_frame_is_wrapped_as_is() {
        let frame = ServerEvent::Chat {
            id: 7,
            user: "al",
            text: "hi",
            ts: 1,
        }
        .encode();
        let wrapped = RelayMsg::wrap(3, &frame);
        assert_eq!(
            &wrapped[..],
            br#"{"v":1,"from":3,"event":{"type":"chat","id":7,"user":"al","text":"hi","ts":1}}"#
        );
        let m = RelayMsg::decode(&wrapped).unwrap();
        assert!(m.kept());
        assert_eq!(m.encode(), wrapped);
        let join = RelayMsg::decode(&RelayMsg::wrap(3, br#"{"type":"join","user":"al","ts":1}"#));
        assert!(!join.unwrap().kept());
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let err = |s: &str| RelayMsg::decode(s.as_bytes()).unwrap_err();
        let ev = |e: &str| format!(r#"{{"v":1,"from":1,"event":{e}}}"#);
        assert!(matches!(err("{"), RelayError::Malformed(_)));
        assert!(matches!(err("[]"), RelayError::Malformed(_)));
        assert_eq!(
            err(r#"{"v":2,"from":1,"event":{"type":"zap"}}"#),
            RelayError::Version(2)
        );
        assert!(matches!(
            err(&ev(r#"{"type":"zap"}"#)),
            RelayError::Malformed(_)
        ));
        assert!(matches!(
            err(&ev(r#"{"type":"members","count":3}"#)),
            RelayError::Malformed(_)
        ));
        assert!(matches!(
            err(&ev(r#"{"type":"chat","id":1}"#)),
            RelayError::Malformed(_)
        ));
        let field = |e: &str| match err(&ev(e)) {
            RelayError::Field { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(r#"{"type":"kick","user":""}"#), "user");
        assert_eq!(field(r#"{"type":"kick","user":" x"}"#), "user");
        assert_eq!(field(r#"{"type":"kick","user":"a\nb"}"#), "user");
        assert_eq!(
            field(&format!(r#"{{"type":"kick","user":"{}"}}"#, "x".repeat(33))),
            "user"
        );
        assert_eq!(field(r#"{"type":"delete","id":9007199254740992}"#), "id");
        assert_eq!(
            field(r#"{"type":"leave","user":"a","reason":"x","ts":1}"#),
            "reason"
        );
        assert_eq!(
            field(r#"{"type":"chat","id":1,"user":"a","text":"a\u0000b","ts":1}"#),
            "text"
        );
        assert_eq!(
            field(r#"{"type":"chat","id":1,"user":"a","text":"a  b","ts":1}"#),
            "text"
        );
        let huge = ev(&format!(
            r#"{{"type":"chat","id":1,"user":"a","text":"{}","ts":1}}"#,
            "x".repeat(MAX_RELAY_MSG)
        ));
        assert!(matches!(err(&huge), RelayError::TooLarge { .. }));
        assert!(matches!(
            RelayMsg::decode(b"\xff\xfe"),
            Err(RelayError::Malformed(_))
        ));
    }
}
