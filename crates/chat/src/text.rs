//! Rules for what people may write: chat text normalization and length,
//! nicknames, and the banned-words filter.

use unicode_normalization::UnicodeNormalization;
use unicode_security::skeleton;

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
    /// The words' [`name_key`]s, to catch look-alike spellings in names.
    keys: Vec<String>,
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
        let keys = words.iter().map(|w| name_key(w)).collect();
        BannedWords { words, keys }
    }

    /// Whether `text` contains any banned word, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let lower = text.to_lowercase();
        self.words.iter().any(|w| lower.contains(w.as_str()))
    }

    /// Whether a nickname's [`name_key`] contains a banned word's key: a
    /// name spelled with look-alikes of a banned word.
    fn matches_key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| key.contains(k.as_str()))
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

/// Checks a nickname and returns it in its shown form: NFKC-normalized
/// (so full-width or ligature forms become the plain letters everyone else
/// types) and trimmed; 1 to 24 characters; no control, format or other
/// invisible characters (zero-width spaces and joiners, byte-order marks,
/// bidi overrides, fillers), which would let two names that print alike
/// differ, or a name print as nothing; not starting with `guest-`; no
/// banned word. Uniqueness in a room is by [`name_key`].
pub fn validate_nick(nick: &str, banned: &BannedWords) -> Result<String, ChatError> {
    if nick.chars().any(invisible) {
        return Err(ChatError::BadNick("invisible or control characters"));
    }
    let nick: String = nick.nfkc().collect();
    let nick = nick.trim();
    if nick.is_empty() {
        return Err(ChatError::BadNick("empty"));
    }
    if nick.chars().count() > MAX_NICK {
        return Err(ChatError::BadNick("longer than 24 characters"));
    }
    // NFKC can produce characters the raw check did not see (it maps
    // some compatibility spaces), so check the result too.
    if nick
        .chars()
        .any(|c| invisible(c) || (c.is_whitespace() && c != ' '))
    {
        return Err(ChatError::BadNick("invisible or control characters"));
    }
    if nick
        .get(..GUEST_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(GUEST_PREFIX))
    {
        return Err(ChatError::BadNick("the guest- prefix is reserved"));
    }
    if banned.matches(nick) || banned.matches_key(&name_key(nick)) {
        return Err(ChatError::BadNick("contains a banned word"));
    }
    Ok(nick.to_owned())
}

/// What two nicknames are compared by: the Unicode TR39 skeleton of the
/// lowercased NFKC form. Names that look alike (Cyrillic `а` for Latin
/// `a`, `rn` for `m`, `0` for `O`, differing only in case) get the same
/// key, so a room refuses a look-alike of a name already in it.
pub fn name_key(nick: &str) -> String {
    let folded: String = nick
        .nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !matches!(c, '\u{fe0e}' | '\u{fe0f}'))
        .collect();
    skeleton(&folded).collect()
}

/// Characters that print as nothing or change how others print: controls,
/// Unicode's default-ignorable code points (zero-width space and joiners,
/// word joiner, soft hyphen, bidi marks and overrides, byte-order mark,
/// Hangul fillers, tag characters, variation selectors other than the
/// emoji ones) and blanks that are not spaces (Braille blank).
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}' | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{2800}' | '\u{3164}'
            | '\u{fe00}'..='\u{fe0d}' | '\u{feff}' | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}' | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
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

    #[test]
    fn nicks_are_nfkc_and_invisible_characters_are_refused() {
        let f = BannedWords::default();
        // Full-width letters and the "fi" ligature become plain letters.
        assert_eq!(validate_nick("ａｌｉｃｅ", &f).unwrap(), "alice");
        assert_eq!(validate_nick("\u{fb01}sh", &f).unwrap(), "fish");
        for bad in [
            "ali\u{200b}ce",
            "\u{feff}alice",
            "alice\u{202e}",
            "a\u{2066}b",
            "\u{3164}",
            "\u{2800}",
            "a\u{200d}b",
            "a\u{e0041}",
        ] {
            assert_eq!(
                validate_nick(bad, &f),
                Err(ChatError::BadNick("invisible or control characters")),
                "{bad:?}"
            );
        }
        // Emoji keep their presentation selector.
        assert!(validate_nick("\u{2764}\u{fe0f} fan", &f).is_ok());
    }

    #[test]
    fn look_alike_names_share_a_key() {
        let alice = name_key("alice");
        assert_eq!(name_key("\u{430}lice"), alice, "Cyrillic a");
        assert_eq!(name_key("ALICE"), alice);
        assert_eq!(name_key("ａｌｉｃｅ"), alice);
        assert_eq!(name_key("modern"), name_key("rnodern"));
        assert_ne!(name_key("alice"), name_key("alicia"));
        // A banned word cannot be slipped through with look-alikes.
        let f = BannedWords::new(&["spam".into()]);
        assert!(validate_nick("\u{455}pam", &f).is_err());
    }
}
