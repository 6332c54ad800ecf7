//! Making a string a peer sent safe to log.
//!
//! Anything a client chooses (an RTMP `connect` app or `tcUrl`, a URL with
//! a query) may carry a newline that forges a log line, a terminal escape
//! that rewrites what an operator sees, or a stream key, signature or token
//! that must not end up in log files. Every adapter writes such strings
//! through [`peer`], so the rule lives in one place.

use std::fmt::Write;

/// Longest logged form of one peer string, in characters; the rest is cut
/// (marked with `…`) so a client cannot make one log line huge.
pub const MAX_LOGGED_CHARS: usize = 256;

/// Parameter names whose values are secrets, matched as a substring of the
/// lowercased name: `key`, `streamkey`, `sign`, `signature`, `token`,
/// `secret`, `password`, `auth`... `expires` (not secret, and useful when
/// reading why a signed URL failed) does not match.
const SECRET_NAMES: &[&str] = &["key", "sign", "sig", "token", "secret", "pass", "auth"];

/// What replaces a secret value.
const REDACTED: &str = "<redacted>";

/// The loggable form of `s`: the value of every `name=value` pair whose
/// name looks like a secret replaced by `<redacted>`, control and bidi
/// characters (and the backslash, so escapes stay unambiguous) written as
/// escapes, and at most [`MAX_LOGGED_CHARS`] characters.
pub fn peer(s: &str) -> String {
    escape(&redact(s))
}

/// `s` with the values of secret-looking `name=value` pairs replaced.
/// A value ends at `&`, `;`, `/`, `?`, `#` or whitespace, which covers
/// queries (`?key=K&expires=T`) and the app form `live?key=K/cam`.
fn redact(s: &str) -> String {
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.';
    let is_end = |b: u8| matches!(b, b'&' | b';' | b'/' | b'?' | b'#') || b.is_ascii_whitespace();
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let start = bytes[..i]
                .iter()
                .rposition(|b| !is_name(*b))
                .map_or(0, |p| p + 1);
            let name = s[start..i].to_ascii_lowercase();
            if start < i && SECRET_NAMES.iter().any(|n| name.contains(n)) {
                out.push_str(&s[copied..=i]);
                out.push_str(REDACTED);
                let mut end = i + 1;
                while end < bytes.len() && !is_end(bytes[end]) {
                    end += 1;
                }
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// Escapes what could forge lines or move the terminal, and cuts the
/// string at [`MAX_LOGGED_CHARS`].
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_LOGGED_CHARS * 2));
    for (n, c) in s.chars().enumerate() {
        if n == MAX_LOGGED_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_escapes_cannot_forge_lines() {
        assert_eq!(
            peer("live\n2026-01-01 INFO fake\u{1b}[2J"),
            "live\\n2026-01-01 INFO fake\\u{1b}[2J"
        );
        assert_eq!(peer("a\\nb\r\t\u{202e}"), "a\\\\nb\\r\\t\\u{202e}");
        assert_eq!(peer("日本 live"), "日本 live");
    }

    #[test]
    fn secrets_are_redacted_and_expiry_kept() {
        assert_eq!(peer("live?key=K1/cam"), "live?key=<redacted>/cam");
        assert_eq!(
            peer("rtmp://h:1935/live?key=K1&expires=99&sign=abc"),
            "rtmp://h:1935/live?key=<redacted>&expires=99&sign=<redacted>"
        );
        assert_eq!(
            peer("/live/a.m3u8?token=t&streamKey=s;x=1"),
            "/live/a.m3u8?token=<redacted>&streamKey=<redacted>;x=1"
        );
        assert_eq!(peer("PASSWORD=hunter2 z"), "PASSWORD=<redacted> z");
        assert_eq!(peer("=x&key=&a=b"), "=x&key=<redacted>&a=b");
        assert_eq!(peer("keyless"), "keyless");
    }

    #[test]
    fn long_strings_are_cut() {
        let s = "x".repeat(10_000);
        let logged = peer(&s);
        assert_eq!(logged.chars().count(), MAX_LOGGED_CHARS + 1);
        assert!(logged.ends_with('…'));
    }
}
