//! RTMPE: the Flash-era "encrypted" handshake, both sides.
//!
//! RTMPE is the digest handshake with a Diffie-Hellman exchange hidden in
//! C1 and S1, after which both directions are RC4-encrypted. It is
//! obfuscation, not security: nothing authenticates the server, so anyone
//! in the middle can run the exchange with each side (docs/security.md).
//! weir speaks it because rtmpdump, ffmpeg's `rtmpe://` and Flash-era
//! encoders do.
//!
//! What the peers do, as rtmpdump and ffmpeg implement it:
//! - C0 is 6 (8 and 9 ask for signature variants encrypted with Blowfish
//!   or XTEA; every client follows the type the server answers, and weir's
//!   server always answers 6).
//! - C1 and S1 are digest-handshake blocks whose random part also carries
//!   a 128-byte DH public key. Where it sits depends on the digest layout:
//!   with the digest in the first half ([`Scheme::Zero`]) the key lies in
//!   the second, at 772 + (sum of bytes 1532..1536) % 632; with the digest
//!   in the second half ([`Scheme::One`]) it lies at 8 + (sum of bytes
//!   768..772) % 632.
//! - The RC4 key each side encrypts with is the first 16 bytes of
//!   HMAC-SHA256 keyed by the shared secret over the *peer's* public key;
//!   it decrypts with the one over its own. Both keystreams are advanced
//!   1536 bytes before the first byte after C2 (client) or S2 (server).

mod client;
mod dh;
mod server;

pub use client::RtmpeClientHandshake;
pub use server::RtmpeServerHandshake;

use hmac::{Hmac, Mac};
use rc4::consts::U16;
use rc4::{KeyInit, Rc4, StreamCipher};
use sha2::Sha256;

use super::digest::Scheme;
use super::BLOCK_LEN;

/// The handshake type an RTMPE client sends and weir's server answers.
pub const RTMPE_VERSION: u8 = 6;

/// Length of the private-key randomness each side needs.
pub const SECRET_LEN: usize = dh::KEY_LEN;

/// Whether a C0 asks for RTMPE: 6, or 8 and 9 (which weir answers as 6).
pub fn is_rtmpe(version: u8) -> bool {
    matches!(version, 6 | 8 | 9)
}

/// One direction's RC4 keystream.
pub struct Rc4Cipher(Rc4<U16>);

impl Rc4Cipher {
    fn new(key: &[u8]) -> Self {
        // The key is always the 16 bytes the type names.
        Rc4Cipher(Rc4::new_from_slice(key).expect("RC4 key of 16 bytes"))
    }

    /// Encrypts or decrypts `data` in place (RC4 is its own inverse),
    /// advancing the keystream.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

impl std::fmt::Debug for Rc4Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keystream state stays out of logs.
        f.write_str("Rc4Cipher")
    }
}

/// The two keystreams of an RTMPE connection, ready for the first byte
/// after the handshake.
#[derive(Debug)]
pub struct RtmpeCiphers {
    /// Decrypts what the peer sends.
    pub decrypt: Rc4Cipher,
    /// Encrypts what we send.
    pub encrypt: Rc4Cipher,
}

impl RtmpeCiphers {
    /// Derives both keystreams from the shared secret and the two public
    /// keys, and skips the first [`BLOCK_LEN`] bytes of each as both peers
    /// do.
    fn derive(secret: &[u8], own_public: &[u8], peer_public: &[u8]) -> Self {
        let key = |public: &[u8]| {
            let mut m =
                <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
            m.update(public);
            let digest = m.finalize().into_bytes();
            let mut cipher = Rc4Cipher::new(&digest[..16]);
            cipher.apply(&mut [0u8; BLOCK_LEN]);
            cipher
        };
        RtmpeCiphers {
            encrypt: key(peer_public),
            decrypt: key(own_public),
        }
    }
}

/// Where a block whose digest uses `scheme` keeps its DH public key.
fn dh_position(block: &[u8; BLOCK_LEN], scheme: Scheme) -> usize {
    let (at, base) = match scheme {
        Scheme::Zero => (1532, 772),
        Scheme::One => (768, 8),
    };
    let sum: usize = block[at..at + 4].iter().map(|&b| usize::from(b)).sum();
    base + sum % 632
}

/// The DH public key inside `block`.
fn public_key(block: &[u8; BLOCK_LEN], scheme: Scheme) -> &[u8] {
    let pos = dh_position(block, scheme);
    &block[pos..pos + dh::KEY_LEN]
}

/// Writes our public key into `block` where `scheme` puts it.
fn place_key(block: &mut [u8; BLOCK_LEN], scheme: Scheme, key: &[u8; dh::KEY_LEN]) {
    let pos = dh_position(block, scheme);
    block[pos..pos + dh::KEY_LEN].copy_from_slice(key);
}

#[cfg(test)]
mod tests;
