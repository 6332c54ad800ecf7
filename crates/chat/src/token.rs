//! Join tokens: proof, minted by a site's backend or by weir's API, that a
//! user may chat in a room under a name.
//!
//! A token is `{expires}.{hex HMAC-SHA256(secret, "chat:{room}:{user}:{expires}")}`
//! with `room` = `app/stream` and `expires` in unix seconds. It is bound to
//! the room and to the exact nickname, so a site can hand its logged-in
//! users tokens for their own names without sharing the secret, and a
//! token cannot be reused for another name or room. Only the secret's
//! holders can mint one; there is no server-side state to revoke (keep
//! lifetimes short instead).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ChatError;

type HmacSha256 = Hmac<Sha256>;

/// Longest lifetime weir's own minters (`weir chat-token`, the API) give
/// a token: a week. A site's backend may choose any.
pub const MAX_TOKEN_TTL_SECS: u64 = 7 * 24 * 3600;

/// Length of the signature part, in hex digits.
const SIG_HEX: usize = 64;

/// The server's token secret, keyed once. Its `Debug` output hides the
/// key, so configs that hold one can be logged.
#[derive(Clone)]
pub struct TokenKey {
    mac: HmacSha256,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key for `secret` (any length; HMAC hashes long keys).
    pub fn new(secret: &[u8]) -> Self {
        TokenKey {
            // HMAC accepts keys of every length: this cannot fail.
            mac: HmacSha256::new_from_slice(secret).expect("HMAC takes any key length"),
        }
    }

    fn mac(&self, room: &str, user: &str, expires: u64) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(format!("chat:{room}:{user}:{expires}").as_bytes());
        mac
    }

    /// The token that lets `user` join `room` (`app/stream`) until
    /// `expires` (unix seconds).
    pub fn sign(&self, room: &str, user: &str, expires: u64) -> String {
        let sig = self.mac(room, user, expires).finalize().into_bytes();
        let mut out = format!("{expires}.");
        for b in sig {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out
    }

    /// Checks that `token` lets `user` (exactly as the client sent it) join
    /// `room` at `now_secs` (unix seconds). The signature is checked in
    /// constant time before the expiry, so `token_expired` is only ever
    /// said of a genuine token.
    pub fn verify(
        &self,
        room: &str,
        user: &str,
        token: &str,
        now_secs: u64,
    ) -> Result<(), ChatError> {
        let (expires, sig) = token.split_once('.').ok_or(ChatError::BadToken)?;
        if expires.is_empty() || expires.len() > 20 || !expires.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ChatError::BadToken);
        }
        let expires: u64 = expires.parse().map_err(|_| ChatError::BadToken)?;
        let sig = decode_hex(sig).ok_or(ChatError::BadToken)?;
        self.mac(room, user, expires)
            .verify_slice(&sig)
            .map_err(|_| ChatError::BadToken)?;
        if expires <= now_secs {
            return Err(ChatError::TokenExpired { expires });
        }
        Ok(())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn decode_hex(s: &str) -> Option<[u8; SIG_HEX / 2]> {
    let s = s.as_bytes();
    if s.len() != SIG_HEX {
        return None;
    }
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0u8; SIG_HEX / 2];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_expiry_dot_hex_hmac_of_the_documented_string() {
        let key = TokenKey::new(b"s3cret");
        let token = key.sign("live/test", "alice", 1_800_000_000);
        let mut mac = HmacSha256::new_from_slice(b"s3cret").unwrap();
        mac.update(b"chat:live/test:alice:1800000000");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(token, format!("1800000000.{expected}"));
        assert_eq!(format!("{key:?}"), "TokenKey(..)");
    }

    #[test]
    fn verify_binds_room_user_and_time() {
        let key = TokenKey::new(b"s3cret");
        let token = key.sign("live/test", "alice", 1000);
        assert_eq!(key.verify("live/test", "alice", &token, 999), Ok(()));
        assert_eq!(
            key.verify("live/test", "alice", &token.to_uppercase(), 999),
            Ok(())
        );
        assert_eq!(
            key.verify("live/test", "alice", &token, 1000),
            Err(ChatError::TokenExpired { expires: 1000 })
        );
        let bad = |room: &str, user: &str, token: &str| key.verify(room, user, token, 0);
        assert_eq!(bad("live/other", "alice", &token), Err(ChatError::BadToken));
        assert_eq!(bad("live/test", "bob", &token), Err(ChatError::BadToken));
        assert_eq!(
            bad("live/test", "alice", &token.replacen("1000", "2000", 1)),
            Err(ChatError::BadToken)
        );
        assert_eq!(
            TokenKey::new(b"other").verify("live/test", "alice", &token, 0),
            Err(ChatError::BadToken)
        );
        for junk in [
            "", ".", "1000", "1000.", "x.abcd", "1000.zz", "-1.00", "1000.é",
        ] {
            assert_eq!(
                bad("live/test", "alice", junk),
                Err(ChatError::BadToken),
                "{junk}"
            );
        }
        assert_eq!(
            bad("live/test", "alice", &format!("{token}0")),
            Err(ChatError::BadToken)
        );
    }
}
