//! The digest ("complex", Flash Player 9+) handshake's HMAC-SHA256 scheme.
//!
//! Adobe never documented it, but it was published by reverse engineering
//! long ago and every RTMP implementation that talks to Flash-era peers uses
//! the same constants: a handshake block (C1 or S1) hides a 32-byte digest
//! at a position derived from four "offset" bytes, keyed with a text that
//! names the sender; the answer block (S2 or C2) ends with a signature
//! keyed by a hash of the peer's digest, proving the sender read it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::BLOCK_LEN;

type HmacSha256 = Hmac<Sha256>;

/// Length of a digest and of a signature (SHA-256).
pub(super) const DIGEST_LEN: usize = 32;

/// Bytes of an answer block before its signature.
const SIGNED_LEN: usize = BLOCK_LEN - DIGEST_LEN;

/// The 32 bytes appended to both key texts to form the "full" keys used
/// for answer signatures. Part of the published Flash handshake.
const KEY_SUFFIX: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

/// Client key of the published Flash handshake: its 30-byte text keys the
/// C1 digest; the whole 62 bytes key the hash that signs C2.
pub(super) const CLIENT_KEY: [u8; 62] = concat(b"Genuine Adobe Flash Player 001", &KEY_SUFFIX);

/// Length of the client key's text part, which alone keys the C1 digest.
pub(super) const CLIENT_KEY_TEXT_LEN: usize = 30;

/// Server key of the published Flash handshake: its 36-byte text keys the
/// S1 digest; the whole 68 bytes key the hash that signs S2.
pub(super) const SERVER_KEY: [u8; 68] =
    concat(b"Genuine Adobe Flash Media Server 001", &KEY_SUFFIX);

/// Length of the server key's text part, which alone keys the S1 digest.
pub(super) const SERVER_KEY_TEXT_LEN: usize = 36;

const fn concat<const A: usize, const B: usize, const C: usize>(
    a: &[u8; A],
    b: &[u8; B],
) -> [u8; C] {
    let mut out = [0u8; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    out
}

/// Where a block keeps the digest: the two published layouts differ in
/// whether the digest half or the key half of the block comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    /// Offset bytes at 8..12, digest within 12..740 (Flash Player's default).
    Zero,
    /// Offset bytes at 772..776, digest within 776..1504.
    One,
}

impl Scheme {
    /// Position of the digest in `block`.
    pub(super) fn position(self, block: &[u8; BLOCK_LEN]) -> usize {
        let (at, base) = match self {
            Scheme::Zero => (8, 12),
            Scheme::One => (772, 776),
        };
        let sum: usize = block[at..at + 4].iter().map(|&b| usize::from(b)).sum();
        base + sum % 728
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// HMAC of the block minus the 32 digest bytes at `pos`.
fn block_mac(block: &[u8; BLOCK_LEN], pos: usize, key: &[u8]) -> HmacSha256 {
    let mut m = mac(key);
    m.update(&block[..pos]);
    m.update(&block[pos + DIGEST_LEN..]);
    m
}

/// Writes the digest into `block` at the position `scheme` picks and
/// returns it.
pub(super) fn imprint(block: &mut [u8; BLOCK_LEN], scheme: Scheme, key: &[u8]) -> [u8; DIGEST_LEN] {
    let pos = scheme.position(block);
    let digest: [u8; DIGEST_LEN] = block_mac(block, pos, key).finalize().into_bytes().into();
    block[pos..pos + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// Finds a valid digest in `block`, trying both layouts; returns the
/// layout and the digest (which keys the answer's signature).
pub(super) fn find_digest(
    block: &[u8; BLOCK_LEN],
    key: &[u8],
) -> Option<(Scheme, [u8; DIGEST_LEN])> {
    [Scheme::Zero, Scheme::One].into_iter().find_map(|scheme| {
        let pos = scheme.position(block);
        let stored = &block[pos..pos + DIGEST_LEN];
        block_mac(block, pos, key).verify_slice(stored).ok()?;
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(stored);
        Some((scheme, digest))
    })
}

/// The signature MAC for an answer to a block whose digest is `peer_digest`.
fn signature_mac(
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
    block: &[u8; BLOCK_LEN],
) -> HmacSha256 {
    let mut k = mac(full_key);
    k.update(peer_digest);
    let mut m = mac(&k.finalize().into_bytes());
    m.update(&block[..SIGNED_LEN]);
    m
}

/// Signs an answer block (S2 or C2) in its last 32 bytes.
pub(super) fn sign(block: &mut [u8; BLOCK_LEN], full_key: &[u8], peer_digest: &[u8; DIGEST_LEN]) {
    let sig = signature_mac(full_key, peer_digest, block)
        .finalize()
        .into_bytes();
    block[SIGNED_LEN..].copy_from_slice(&sig);
}

/// Whether an answer block carries the signature for `peer_digest`.
pub(super) fn verify_signature(
    block: &[u8; BLOCK_LEN],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
) -> bool {
    signature_mac(full_key, peer_digest, block)
        .verify_slice(&block[SIGNED_LEN..])
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(seed: u8) -> [u8; BLOCK_LEN] {
        let mut b = [0u8; BLOCK_LEN];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i as u8).wrapping_mul(31).wrapping_add(seed);
        }
        b
    }

    #[test]
    fn keys_have_the_published_lengths() {
        assert_eq!(
            &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN],
            b"Genuine Adobe Flash Player 001"
        );
        assert_eq!(
            &SERVER_KEY[..SERVER_KEY_TEXT_LEN],
            b"Genuine Adobe Flash Media Server 001"
        );
        assert_eq!(
            &SERVER_KEY[SERVER_KEY_TEXT_LEN..],
            &CLIENT_KEY[CLIENT_KEY_TEXT_LEN..]
        );
    }

    #[test]
    fn digest_positions_stay_inside_the_block() {
        let mut b = [0xFFu8; BLOCK_LEN];
        assert_eq!(Scheme::Zero.position(&b), 12 + 1020 % 728);
        assert_eq!(Scheme::One.position(&b), 776 + 1020 % 728);
        b.fill(0);
        assert_eq!(Scheme::Zero.position(&b), 12);
        assert_eq!(Scheme::One.position(&b), 776);
        // The largest reachable position still leaves room for the digest.
        const { assert!(776 + 727 + DIGEST_LEN <= BLOCK_LEN) };
    }

    #[test]
    fn imprinted_digest_is_found_in_its_scheme_only_with_its_key() {
        for scheme in [Scheme::Zero, Scheme::One] {
            let mut b = block(7);
            imprint(&mut b, scheme, &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]);
            let (found, digest) = find_digest(&b, &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]).unwrap();
            assert_eq!(found, scheme);
            let pos = scheme.position(&b);
            assert_eq!(&b[pos..pos + DIGEST_LEN], &digest);
            assert!(find_digest(&b, &SERVER_KEY[..SERVER_KEY_TEXT_LEN]).is_none());
        }
        assert!(find_digest(&block(7), &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]).is_none());
    }

    #[test]
    fn signatures_verify_only_for_the_digest_they_answer() {
        let mut b = block(3);
        sign(&mut b, &SERVER_KEY, &[1; DIGEST_LEN]);
        assert!(verify_signature(&b, &SERVER_KEY, &[1; DIGEST_LEN]));
        assert!(!verify_signature(&b, &SERVER_KEY, &[2; DIGEST_LEN]));
        assert!(!verify_signature(&b, &CLIENT_KEY, &[1; DIGEST_LEN]));
    }
}
