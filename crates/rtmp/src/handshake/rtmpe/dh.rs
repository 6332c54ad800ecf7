//! Diffie-Hellman over the 1024-bit MODP group of RFC 2409 ("Oakley group
//! 2"), generator 2: the group every RTMPE peer uses.
//!
//! Public keys and the shared secret travel as 128-byte big-endian numbers,
//! left-padded with zeros. Nothing here needs to be constant-time: RTMPE is
//! obfuscation, and a key that leaks through timing protects nothing that
//! the protocol protected in the first place.

use num_bigint::BigUint;

use crate::error::HandshakeError;

/// Length of a public key and of the shared secret on the wire.
pub(crate) const KEY_LEN: usize = 128;

/// The RFC 2409 section 6.2 prime, big-endian.
const PRIME: [u8; KEY_LEN] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED,
    0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11, 0x7C, 0x4B, 0x1F, 0xE6,
    0x49, 0x28, 0x66, 0x51, 0xEC, 0xE6, 0x53, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

/// One side's key pair.
#[derive(Clone)]
pub(crate) struct KeyPair {
    private: BigUint,
    /// Our public key, as sent.
    pub(crate) public: [u8; KEY_LEN],
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("KeyPair").finish_non_exhaustive()
    }
}

fn prime() -> BigUint {
    BigUint::from_bytes_be(&PRIME)
}

/// `n` as [`KEY_LEN`] big-endian bytes (every value here is below the
/// prime, so it fits).
fn to_wire(n: &BigUint) -> [u8; KEY_LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0u8; KEY_LEN];
    out[KEY_LEN - bytes.len()..].copy_from_slice(&bytes);
    out
}

impl KeyPair {
    /// The prime, for tests that build weak keys from it.
    #[cfg(test)]
    pub(crate) fn prime_bytes() -> [u8; KEY_LEN] {
        PRIME
    }

    /// A key pair from the caller's random bytes. The private key is forced
    /// odd, so that no input (all zeros included) gives the public key 1:
    /// 2 generates the prime-order subgroup, which holds neither 1 (but for
    /// exponents that are multiples of its order) nor p-1.
    pub(crate) fn new(secret: &[u8; KEY_LEN]) -> Self {
        let mut x = *secret;
        x[KEY_LEN - 1] |= 1;
        let private = BigUint::from_bytes_be(&x);
        let public = BigUint::from(2u8).modpow(&private, &prime());
        KeyPair {
            private,
            public: to_wire(&public),
        }
    }

    /// The shared secret with a peer's public key, after checking that the
    /// key lies in 2..=p-2: 0, 1 and p-1 (and anything not reduced modulo
    /// p) would make the secret predictable.
    pub(crate) fn shared_secret(&self, peer: &[u8]) -> Result<[u8; KEY_LEN], HandshakeError> {
        let p = prime();
        let y = BigUint::from_bytes_be(peer);
        if y < BigUint::from(2u8) || y >= &p - 1u8 {
            return Err(HandshakeError::BadPublicKey);
        }
        Ok(to_wire(&y.modpow(&self.private, &p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mistyped byte would make the constant composite: Fermat's test
    /// for two bases catches that, and the safe-prime structure (p-1)/2
    /// is checked the same way.
    #[test]
    fn the_prime_is_a_safe_prime() {
        let p = prime();
        assert_eq!(p.bits(), 1024);
        let q = (&p - 1u8) >> 1;
        for base in [2u8, 3] {
            let b = BigUint::from(base);
            assert_eq!(b.modpow(&(&p - 1u8), &p), BigUint::from(1u8));
            assert_eq!(b.modpow(&(&q - 1u8), &q), BigUint::from(1u8));
        }
    }

    #[test]
    fn both_sides_agree_on_the_secret() {
        let a = KeyPair::new(&[0x5A; KEY_LEN]);
        let b = KeyPair::new(&[0xC3; KEY_LEN]);
        assert_eq!(
            a.shared_secret(&b.public).unwrap(),
            b.shared_secret(&a.public).unwrap()
        );
        assert_ne!(a.public, b.public);
    }

    #[test]
    fn zero_random_still_gives_a_usable_key() {
        let a = KeyPair::new(&[0; KEY_LEN]);
        // x = 1: the public key is the generator itself.
        let mut two = [0u8; KEY_LEN];
        two[KEY_LEN - 1] = 2;
        assert_eq!(a.public, two);
    }

    #[test]
    fn weak_public_keys_are_refused() {
        let a = KeyPair::new(&[7; KEY_LEN]);
        let p = prime();
        for bad in [
            BigUint::from(0u8),
            BigUint::from(1u8),
            &p - 1u8,
            p.clone(),
            &p + 5u8,
        ] {
            let mut wire = [0u8; KEY_LEN + 1];
            let bytes = bad.to_bytes_be();
            wire[KEY_LEN + 1 - bytes.len()..].copy_from_slice(&bytes);
            let key = if bytes.len() > KEY_LEN {
                &wire[..]
            } else {
                &wire[1..]
            };
            assert_eq!(
                a.shared_secret(key),
                Err(HandshakeError::BadPublicKey),
                "{bad}"
            );
        }
        assert!(a.shared_secret(&to_wire(&(&p - 2u8))).is_ok());
        assert!(a.shared_secret(&to_wire(&BigUint::from(2u8))).is_ok());
    }
}
