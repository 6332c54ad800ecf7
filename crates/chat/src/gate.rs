//! The door of a room that needs join tokens: a connection waits here,
//! outside the room (no membership, no broadcasts, no history), until it
//! sends a `join` with a valid token for its nickname.

use std::sync::Arc;

use bytes::Bytes;

use crate::config::Rules;
use crate::error::{ChatError, CloseCode};
use crate::limit::TokenBucket;
use crate::protocol::{parse_client, ClientMsg, ServerEvent};
use crate::room::Now;
use crate::token::TokenKey;

/// What the adapter does with a frame from a waiting connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Keep waiting: send `reply` (a `pong` or an `error` event).
    Wait {
        /// The frame for the connection.
        reply: Bytes,
        /// The error code when the frame was refused, for counters.
        refused: Option<&'static str>,
    },
    /// The token is good: admit the connection under `nick` (the room
    /// still checks the nickname's rules and uniqueness).
    Admit {
        /// The nickname the token was signed for.
        nick: String,
    },
    /// Close the connection: it kept sending refused frames.
    Close(CloseCode),
}

/// One waiting connection: its rate limit, the same as members have, so
/// that guessing tokens is no faster than chatting.
#[derive(Debug)]
pub struct Gate {
    rules: Arc<Rules>,
    key: TokenKey,
    room: String,
    bucket: TokenBucket,
    strikes: u32,
}

impl Gate {
    /// A connection to `room` (`app/stream`) waiting for a token signed
    /// with `key`.
    pub fn new(rules: Arc<Rules>, key: TokenKey, room: impl Into<String>, now: Now) -> Self {
        let bucket = TokenBucket::new(rules.rate_per_sec, rules.burst, now.mono_ms);
        Gate {
            rules,
            key,
            room: room.into(),
            bucket,
            strikes: 0,
        }
    }

    /// Applies one frame: pings are answered, a `join` with a valid token
    /// admits, everything else is refused with an error event (`chat`:
    /// `token_required`). Every frame but a ping costs a rate-limit token,
    /// and refusals in a row beyond the flood limit close the connection.
    pub fn handle(&mut self, frame: &[u8], now: Now) -> Entry {
        let parsed = parse_client(frame, self.rules.max_frame());
        if parsed == Ok(ClientMsg::Ping) {
            return Entry::Wait {
                reply: ServerEvent::Pong { ts: now.wall_ms }.encode(),
                refused: None,
            };
        }
        let result = match self.bucket.try_take(now.mono_ms) {
            Err(retry_ms) => Err(ChatError::RateLimited { retry_ms }),
            Ok(()) => match parsed {
                Ok(ClientMsg::Join {
                    nick,
                    token: Some(token),
                }) => self
                    .key
                    .verify(&self.room, &nick, &token, now.wall_ms / 1000)
                    .map(|()| nick),
                Ok(_) => Err(ChatError::TokenRequired),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(nick) => Entry::Admit { nick },
            Err(e) => self.refuse(&e),
        }
    }

    /// The answer to a refused frame, also for the adapter when the room
    /// refuses the admitted nickname (taken, banned).
    pub fn refuse(&mut self, err: &ChatError) -> Entry {
        self.strikes = self.strikes.saturating_add(1);
        if self.strikes >= self.rules.flood_limit() {
            return Entry::Close(CloseCode::Flooding);
        }
        Entry::Wait {
            reply: ServerEvent::error(err),
            refused: Some(err.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChatConfig;

    fn gate() -> Gate {
        let rules = Rules::new(&ChatConfig {
            burst: 3,
            rate_per_sec: 1.0,
            ..ChatConfig::default()
        })
        .unwrap();
        let now = Now {
            wall_ms: 0,
            mono_ms: 0,
        };
        Gate::new(Arc::new(rules), TokenKey::new(b"k"), "live/test", now)
    }

    fn code(e: &Entry) -> Option<&'static str> {
        match e {
            Entry::Wait { refused, .. } => *refused,
            _ => None,
        }
    }

    #[test]
    fn only_a_valid_token_admits() {
        let mut g = gate();
        let at = |s: u64| Now {
            wall_ms: s * 1000,
            mono_ms: s * 1000,
        };
        let token = TokenKey::new(b"k").sign("live/test", "alice", 100);
        let join = |nick: &str, token: &str| {
            serde_json::json!({"type": "join", "nick": nick, "token": token}).to_string()
        };
        assert_eq!(
            code(&g.handle(br#"{"type":"chat","text":"hi"}"#, at(0))),
            Some("token_required")
        );
        assert_eq!(
            code(&g.handle(br#"{"type":"join","nick":"alice"}"#, at(1))),
            Some("token_required")
        );
        assert_eq!(
            code(&g.handle(join("bob", &token).as_bytes(), at(2))),
            Some("bad_token")
        );
        assert!(matches!(
            g.handle(br#"{"type":"ping"}"#, at(2)),
            Entry::Wait { refused: None, .. }
        ));
        assert_eq!(
            code(&g.handle(join("alice", &token).as_bytes(), at(100))),
            Some("token_expired")
        );
        assert_eq!(
            g.handle(join("alice", &token).as_bytes(), at(99)),
            Entry::Admit {
                nick: "alice".into()
            }
        );
    }

    #[test]
    fn guessing_is_rate_limited_then_closed() {
        let mut g = gate();
        let now = Now {
            wall_ms: 0,
            mono_ms: 0,
        };
        let frame = br#"{"type":"join","nick":"a","token":"1.00"}"#;
        let codes: Vec<_> = (0..5).map(|_| code(&g.handle(frame, now))).collect();
        assert_eq!(
            codes,
            [
                Some("bad_token"),
                Some("bad_token"),
                Some("bad_token"),
                Some("rate_limited"),
                Some("rate_limited")
            ]
        );
        let last = (0..20).map(|_| g.handle(frame, now)).last().unwrap();
        assert_eq!(last, Entry::Close(CloseCode::Flooding));
    }
}
