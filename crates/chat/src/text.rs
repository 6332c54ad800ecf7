//! Rules for what people may write: chat text normalization and length,
//! nicknames, and the banned-words filter.

use crate::config::MAX_NICK;
use crate::error::ChatError;

/// Case-insensitive substring filter over a fixed word list.
///
/// Substrings rather than whole words, because danmaku are often written
/// without spaces (and CJK text has none). Words are lowercased once here;
/// each checked text is lowercased once.
#[derive(Debug, Clone, Default)]
pub struct BannedWords {
    words: Vec<String>,
}

impl BannedWords {
    /// A filter for `words`; blank entries are ignored.
    pub fn new(words: &[String]) -> Self {
        let mut words: Vec<String> = words
            .iter()
            .map(|w| w.trim().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect();
        words.sort();
        words.dedup();
        BannedWords { words }
    }

    /// Whether `text` contains any banned word, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let lower = text.to_lowercase();
        self.words.iter().any(|w| lower.contains(w.as_str()))
    }
}

/// Makes chat text one clean line: control characters (newlines, tabs,
/// escapes) become spaces, runs of whitespace collapse to one space, and the
/// ends are trimmed. Then checks it is not empty and at most `max_chars`
/// characters.
pub fn normalize_text(text: &str, max_chars: usize) -> Result<String, ChatError> {
    let mut out = String::with_capacity(text.len().min(max_chars * 4 + 4));
    let mut chars = 0usize;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_control() || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        out.push(c);
        chars += 1;
        if chars > max_chars {
            return Err(ChatError::TooLong {
                len: text.chars().count(),
                max: max_chars,
                unit: "characters",
            });
        }
    }
    if out.is_empty() {
        return Err(ChatError::Empty);
    }
    Ok(out)
}

/// Prefix of generated guest names, reserved so that a chosen nickname can
/// never collide with one.
pub(crate) const GUEST_PREFIX: &str = "guest-";

/// Checks a nickname and returns it trimmed: 1 to 24 characters, no
/// control characters, not starting with `guest-`, no banned word.
pub fn validate_nick(nick: &str, banned: &BannedWords) -> Result<String, ChatError> {
    let nick = nick.trim();
    if nick.is_empty() {
        return Err(ChatError::BadNick("empty"));
    }
    if nick.chars().count() > MAX_NICK {
        return Err(ChatError::BadNick("longer than 24 characters"));
    }
    if nick.chars().any(char::is_control) {
        return Err(ChatError::BadNick("control characters"));
    }
    if nick
        .get(..GUEST_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(GUEST_PREFIX))
    {
        return Err(ChatError::BadNick("the guest- prefix is reserved"));
    }
    if banned.matches(nick) {
        return Err(ChatError::BadNick("contains a banned word"));
    }
    Ok(nick.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_one_trimmed_line() {
        assert_eq!(normalize_text("  a\n\tb  c \u{1b} ", 10).unwrap(), "a b c");
        assert_eq!(normalize_text(" \n ", 10), Err(ChatError::Empty));
        assert_eq!(normalize_text("弹幕好", 3).unwrap(), "弹幕好");
        assert!(matches!(
            normalize_text("弹幕好多", 3),
            Err(ChatError::TooLong { max: 3, .. })
        ));
    }

    #[test]
    fn banned_words_ignore_case_and_spaces() {
        let f = BannedWords::new(&["Spam".into(), "  ".into(), "坏".into()]);
        assert!(f.matches("buy SPAM now"));
        assert!(f.matches("好坏"));
        assert!(!f.matches("hello"));
        assert!(!BannedWords::default().matches("spam"));
    }

    #[test]
    fn nick_rules() {
        let f = BannedWords::new(&["spam".into()]);
        assert_eq!(validate_nick(" alice ", &f).unwrap(), "alice");
        assert!(validate_nick("", &f).is_err());
        assert!(validate_nick("Guest-1", &f).is_err());
        assert!(validate_nick("spammer", &f).is_err());
        assert!(validate_nick("a\u{7}", &f).is_err());
        assert!(validate_nick(&"x".repeat(25), &f).is_err());
        assert!(validate_nick("é", &f).is_ok());
    }
}
