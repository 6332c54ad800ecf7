//! The RTMP handshake, both sides, simple and digest ("complex").
//!
//! Client sends C0 (version byte) and C1 (1536 bytes: time, four bytes
//! that are zero in the simple form, random), the server answers S0, S1 and
//! S2 (an echo of C1), the client answers C2 (an echo of S1). Flash Player 9
//! and later hide an HMAC digest in C1 and expect one in S1 and a signature
//! in S2; players such as ffmpeg check them, so the
//! server answers in kind whenever C1 carries one.
//!
//! [`rtmpe`] adds the Flash-era encrypted variant (C0 = 6).
//!
//! Both sides are sans-IO: randomness and time come from the caller.

mod client;
mod digest;
pub mod rtmpe;
mod server;

pub use client::{ClientHandshake, ClientHandshakeMode};
pub use server::ServerHandshake;

use crate::error::HandshakeError;

/// The only RTMP version in use (plain, unencrypted RTMP).
pub const RTMP_VERSION: u8 = 3;

/// Size of C1, S1, C2 and S2.
pub const BLOCK_LEN: usize = 1536;

/// Random bytes a handshake block carries after its time and version
/// fields; callers should pass at least this many.
pub const RANDOM_LEN: usize = BLOCK_LEN - 8;

/// Checks a C0/S0 version byte. Versions 0..=31 are answered with 3 as the
/// specification asks of a server that does not know the requested version;
/// 32 and above are reserved so that text protocols are never mistaken for
/// RTMP.
fn check_version(version: u8) -> Result<(), HandshakeError> {
    if version >= 32 {
        return Err(HandshakeError::UnsupportedVersion { version });
    }
    Ok(())
}

/// Fills `dst` from the caller's random bytes, starting at `start` and
/// cycling if they run short (an empty source leaves zeros). Handshake
/// randomness only has to look random to peers, so reuse is harmless.
fn fill_random(dst: &mut [u8], random: &[u8], start: usize) {
    if random.is_empty() {
        return;
    }
    for (i, d) in dst.iter_mut().enumerate() {
        *d = random[(start + i) % random.len()];
    }
}

/// Writes the time and version fields of a C1/S1 block and fills the rest
/// from `random`.
fn new_block(epoch: u32, version: [u8; 4], random: &[u8]) -> [u8; BLOCK_LEN] {
    let mut block = [0u8; BLOCK_LEN];
    block[..4].copy_from_slice(&epoch.to_be_bytes());
    block[4..8].copy_from_slice(&version);
    fill_random(&mut block[8..], random, 0);
    block
}

/// Copies the first block of `buf` (which must hold [`BLOCK_LEN`] bytes
/// from `at`) into an array.
fn read_block(buf: &[u8], at: usize) -> Option<[u8; BLOCK_LEN]> {
    let mut block = [0u8; BLOCK_LEN];
    block.copy_from_slice(buf.get(at..at + BLOCK_LEN)?);
    Some(block)
}

#[cfg(test)]
mod tests;
