//! RTSP credentials as stream keys: `[auth]` keys double as passwords
//! (the user name is free), for cameras and clients that can only send
//! `rtsp://user:KEY@host/...`.
//!
//! The access check stays the one gate: a password the credentials prove
//! is put in the query the gate sees as `key=`, exactly as if the client
//! had written `?key=KEY`. Basic sends the password; a Digest response is
//! matched against the keys the gate would accept
//! ([`weir_hub::Hub::password_keys`]), and the one it proves goes in.

use rand::Rng;

/// The query with `key=` set to `password` (an existing `key=` is
/// replaced: the proven password wins).
pub(crate) fn with_key(query: &str, password: &str) -> String {
    let mut out: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !is_key(p))
        .map(str::to_owned)
        .collect();
    out.push(format!("key={}", encode(password)));
    out.join("&")
}

/// Whether the query already carries a `key=` (then a refusal is final:
/// credentials are only asked for when the key is missing).
pub(crate) fn has_key(query: &str) -> bool {
    query.split('&').any(is_key)
}

fn is_key(param: &str) -> bool {
    param == "key" || param.starts_with("key=")
}

/// Percent-encodes everything but unreserved characters, so any password
/// survives the gate's query decoding.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A fresh Digest nonce: 128 random bits, hex.
pub(crate) fn nonce() -> String {
    format!("{:032x}", rand::thread_rng().gen::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_becomes_the_key() {
        assert_eq!(with_key("", "k1"), "key=k1");
        assert_eq!(with_key("a=1&key=old", "p w&x"), "a=1&key=p%20w%26x");
        assert!(has_key("a=1&key=x"));
        assert!(has_key("key"));
        assert!(!has_key("keys=1&monkey=2"));
        assert_eq!(nonce().len(), 32);
        assert_ne!(nonce(), nonce());
    }
}
