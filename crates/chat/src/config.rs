//! Chat settings as the operator writes them ([`ChatConfig`]) and as rooms
//! use them ([`Rules`]: validated once, with the banned-words filter built).

use crate::text::BannedWords;

/// Chat settings, shared by every room of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatConfig {
    /// Chat messages kept per room and sent to a client when it connects.
    pub history: usize,
    /// Sustained chat messages per second per connection (token refill).
    pub rate_per_sec: f64,
    /// Messages a connection may send at once before the rate applies
    /// (bucket size).
    pub burst: u32,
    /// Longest chat text, in characters (Unicode scalar values), after
    /// whitespace is normalized.
    pub max_text: usize,
    /// Words (case-insensitive substrings) that make a message or a
    /// nickname refused.
    pub banned_words: Vec<String>,
    /// Most connections in one room; further ones are refused.
    pub max_members: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            history: 50,
            rate_per_sec: 5.0,
            burst: 10,
            max_text: 200,
            banned_words: Vec::new(),
            max_members: 20_000,
        }
    }
}

/// A setting outside what the chat can work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chat.{field}: {problem}")]
pub struct ConfigError {
    /// The offending setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Most history a room may keep: the history frame is built by
/// concatenation for every joiner, so it must stay small.
pub const MAX_HISTORY: usize = 1000;
/// Longest text limit accepted; danmaku are one line.
pub const MAX_TEXT_LIMIT: usize = 4096;
/// Longest nickname, in characters.
pub const MAX_NICK: usize = 24;

/// Validated settings every room of a server shares (behind an `Arc`).
#[derive(Debug, Clone)]
pub struct Rules {
    pub(crate) history: usize,
    pub(crate) rate_per_sec: f64,
    pub(crate) burst: u32,
    pub(crate) max_text: usize,
    pub(crate) max_members: usize,
    pub(crate) banned: BannedWords,
}

impl Rules {
    /// Checks `cfg` and builds the banned-words filter.
    pub fn new(cfg: &ChatConfig) -> Result<Rules, ConfigError> {
        let err = |field, problem| Err(ConfigError { field, problem });
        if cfg.history > MAX_HISTORY {
            return err("history", "must be at most 1000");
        }
        if !(cfg.rate_per_sec.is_finite() && cfg.rate_per_sec > 0.0 && cfg.rate_per_sec <= 1e6) {
            return err("rate", "must be a positive number of messages per second");
        }
        if cfg.burst == 0 || cfg.burst > 1_000_000 {
            return err("burst", "must be between 1 and 1000000");
        }
        if cfg.max_text == 0 || cfg.max_text > MAX_TEXT_LIMIT {
            return err("max_text", "must be between 1 and 4096");
        }
        if cfg.max_members == 0 {
            return err("max_members", "must be at least 1");
        }
        Ok(Rules {
            history: cfg.history,
            rate_per_sec: cfg.rate_per_sec,
            burst: cfg.burst,
            max_text: cfg.max_text,
            max_members: cfg.max_members,
            banned: BannedWords::new(&cfg.banned_words),
        })
    }

    /// Largest client frame worth parsing, in bytes: the longest allowed
    /// text fully JSON-escaped (`\uXXXX`, six bytes a character) plus room
    /// for the envelope. Larger frames are refused unparsed.
    pub fn max_frame(&self) -> usize {
        self.max_text * 6 + 1024
    }

    /// Longest chat text, in characters.
    pub fn max_text(&self) -> usize {
        self.max_text
    }

    /// Most connections per room.
    pub fn max_members(&self) -> usize {
        self.max_members
    }

    /// Checks a nickname against the rules (length, characters, reserved
    /// prefix, banned words) and returns it trimmed: what a token minter
    /// checks before signing a name.
    pub fn check_nick(&self, nick: &str) -> Result<String, crate::ChatError> {
        crate::text::validate_nick(nick, &self.banned)
    }

    /// A connection sending refused messages this many times in a row
    /// (without one being accepted) is flooding and gets closed: the first
    /// excesses only earn error events.
    pub(crate) fn flood_limit(&self) -> u32 {
        self.burst.saturating_mul(4).max(20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_named() {
        assert!(Rules::new(&ChatConfig::default()).is_ok());
        let bad = ChatConfig {
            rate_per_sec: f64::NAN,
            ..ChatConfig::default()
        };
        assert_eq!(Rules::new(&bad).unwrap_err().field, "rate");
        let bad = ChatConfig {
            max_text: 0,
            ..ChatConfig::default()
        };
        assert_eq!(Rules::new(&bad).unwrap_err().field, "max_text");
        let bad = ChatConfig {
            history: MAX_HISTORY + 1,
            ..ChatConfig::default()
        };
        assert_eq!(Rules::new(&bad).unwrap_err().field, "history");
    }
}
