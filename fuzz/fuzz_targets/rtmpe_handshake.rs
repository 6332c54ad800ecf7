//! Fuzzes both sides of the RTMPE handshake: C1/S1 parsing, digest
//! search, DH public keys taken from peer bytes, key derivation.
//!
//! The first input byte picks whether the rest replaces the honest peer's
//! bytes or is XORed into them (mutations of a valid exchange reach the DH
//! and key code, which random bytes rarely do: a valid digest is needed
//! first) and the sizes bytes are fed in. Errors are fine; panics are bugs,
//! and so are outputs of the wrong size or an honest exchange whose
//! keystreams do not pair.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use weir_rtmp::handshake::rtmpe::{RtmpeClientHandshake, RtmpeServerHandshake, SECRET_LEN};
use weir_rtmp::handshake::BLOCK_LEN;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let replace = control & 1 != 0;
    let step = usize::from(control >> 1) * 53 + 1;
    let random: Vec<u8> = (0..3100u32).map(|i| (i * 131) as u8 ^ control).collect();
    let mut client = RtmpeClientHandshake::new(&random, &[control; SECRET_LEN], 9);
    let mut server = RtmpeServerHandshake::new(&random[17..], &[!control; SECRET_LEN], 7);

    let c0c1 = client.poll_output().unwrap();
    assert_eq!(c0c1.len(), 1 + BLOCK_LEN);
    let to_server = if replace {
        Bytes::copy_from_slice(input)
    } else {
        mix(&c0c1, input)
    };
    let server_ok = feed(&to_server, step, |b| server.handle_input(b));
    let Some(s) = server.poll_output() else {
        assert!(!server_ok || to_server.len() < 1 + BLOCK_LEN);
        return;
    };
    assert_eq!(s.len(), 1 + 2 * BLOCK_LEN);

    let to_client = if replace {
        s
    } else {
        mix(&s, input.get(1 + BLOCK_LEN..).unwrap_or(&[]))
    };
    if feed(&to_client, step, |b| client.handle_input(b)) && client.is_done() {
        let c2 = client.poll_output().unwrap();
        assert_eq!(c2.len(), BLOCK_LEN);
        if !replace && input.is_empty() {
            assert!(feed(&c2, step, |b| server.handle_input(b)));
            let mut c = client.take_ciphers().unwrap();
            let mut s = server.take_ciphers().unwrap();
            let mut wire = *b"connect";
            c.encrypt.apply(&mut wire);
            s.decrypt.apply(&mut wire);
            assert_eq!(&wire, b"connect");
        }
    }
});

/// `bytes` with `noise` XORed over its start.
fn mix(bytes: &[u8], noise: &[u8]) -> Bytes {
    let mut out = bytes.to_vec();
    for (o, n) in out.iter_mut().zip(noise) {
        *o ^= n;
    }
    out.into()
}

/// Feeds `bytes` `step` at a time; false once the handshake failed.
fn feed(
    bytes: &[u8],
    step: usize,
    mut handle: impl FnMut(&mut BytesMut) -> Result<(), weir_rtmp::error::HandshakeError>,
) -> bool {
    let mut buf = BytesMut::new();
    for piece in bytes.chunks(step) {
        buf.extend_from_slice(piece);
        if handle(&mut buf).is_err() {
            return false;
        }
    }
    true
}
