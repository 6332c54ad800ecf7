//! RTMPE tests: both sides against each other, against captured clients,
//! against keystreams computed independently, and against bad peers.

use bytes::{BufMut, BytesMut};

use super::dh::{KeyPair, KEY_LEN};
use super::*;
use crate::error::HandshakeError;
use crate::handshake::digest::{self, CLIENT_KEY, CLIENT_KEY_TEXT_LEN};
use crate::handshake::tests::run;
use crate::handshake::{read_block, RANDOM_LEN};

/// C0+C1 as rtmpdump 2.4 (Debian's librtmp) sent it for
/// `rtmpdump -r rtmpe://127.0.0.1:PORT/live/x`, captured with a TCP
/// listener.
const RTMPDUMP_C0C1: &[u8] = include_bytes!("rtmpdump-c0c1.bin");
/// The same from ffmpeg 9.0 (`ffmpeg -i rtmpe://127.0.0.1:PORT/live/x`).
const FFMPEG9_C0C1: &[u8] = include_bytes!("ffmpeg9-c0c1.bin");

fn pattern(len: usize, mul: usize, add: usize) -> Vec<u8> {
    (0..len).map(|i| (i * mul + add) as u8).collect()
}

fn server() -> RtmpeServerHandshake {
    RtmpeServerHandshake::new(&pattern(RANDOM_LEN + 1504, 7, 13), &[0x42; KEY_LEN], 1000)
}

fn client() -> RtmpeClientHandshake {
    RtmpeClientHandshake::new(&pattern(RANDOM_LEN + 1504, 11, 5), &[0x17; KEY_LEN], 0)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Both directions decrypt to what was encrypted.
fn assert_paired(c: &mut RtmpeCiphers, s: &mut RtmpeCiphers) {
    for len in [1usize, 100, 5000] {
        let plain = pattern(len, 3, len);
        let mut wire = plain.clone();
        c.encrypt.apply(&mut wire);
        assert_ne!(wire, plain);
        s.decrypt.apply(&mut wire);
        assert_eq!(wire, plain);
        let mut wire = plain.clone();
        s.encrypt.apply(&mut wire);
        c.decrypt.apply(&mut wire);
        assert_eq!(wire, plain);
    }
}

#[test]
fn client_and_server_agree_on_both_keystreams() {
    for step in [1, 7, 1536, 1537, usize::MAX] {
        let (mut c, mut s) = (client(), server());
        let (sent_c, sent_s) = run(&mut c, &mut s, step);
        assert_eq!(sent_c.len(), 1 + 2 * BLOCK_LEN);
        assert_eq!(sent_s.len(), 1 + 2 * BLOCK_LEN);
        assert_eq!((sent_c[0], sent_s[0]), (6, 6));
        assert_eq!(s.requested_type(), Some(6));
        let mut cc = c.take_ciphers().unwrap();
        let mut sc = s.take_ciphers().unwrap();
        assert!(c.take_ciphers().is_none(), "handed out once");
        assert_paired(&mut cc, &mut sc);
    }
}

#[test]
fn ciphers_are_not_handed_out_before_the_end() {
    let (mut c, mut s) = (client(), server());
    let mut input = BytesMut::from(&c.poll_output().unwrap()[..]);
    s.handle_input(&mut input).unwrap();
    assert!(s.poll_output().is_some());
    assert!(s.take_ciphers().is_none(), "C2 not read yet");
    assert!(c.take_ciphers().is_none());
}

#[test]
fn the_blocks_follow_the_published_layouts() {
    let (mut c, mut s) = (client(), server());
    let (sent_c, sent_s) = run(&mut c, &mut s, usize::MAX);
    let c1 = read_block(&sent_c, 1).unwrap();
    let (scheme, _) = digest::find_digest(&c1, &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]).unwrap();
    assert_eq!(scheme, Scheme::One);
    assert_eq!(
        public_key(&c1, Scheme::One),
        KeyPair::new(&[0x17; KEY_LEN]).public
    );
    assert_eq!(&c1[4..8], &[9, 0, 124, 2]);
    let s1 = read_block(&sent_s, 1).unwrap();
    let (scheme, _) =
        digest::find_digest(&s1, &digest::SERVER_KEY[..digest::SERVER_KEY_TEXT_LEN]).unwrap();
    assert_eq!(scheme, Scheme::Zero);
    assert_eq!(
        public_key(&s1, Scheme::Zero),
        KeyPair::new(&[0x42; KEY_LEN]).public
    );
}

/// Keystreams computed by a separate implementation (Python's `pow`,
/// `hmac` and a textbook RC4) from the bytes this exchange sent and the
/// two private keys: the first 16 bytes each side encrypts with after the
/// 1536 skipped ones.
#[test]
fn keystreams_match_independent_vectors() {
    let (mut c, mut s) = (client(), server());
    run(&mut c, &mut s, usize::MAX);
    let mut cc = c.take_ciphers().unwrap();
    let mut sc = s.take_ciphers().unwrap();
    let mut a = [0u8; 16];
    cc.encrypt.apply(&mut a);
    let mut b = [0u8; 16];
    sc.encrypt.apply(&mut b);
    assert_eq!(hex(&a), "f7383fbd5caff1b3ae5459f879279663");
    assert_eq!(hex(&b), "fc57b0629ac8951b1cc681cf22b841d2");
}

/// Captured C0+C1 of real clients: the server finds their digest and key
/// and answers; for rtmpdump the keystreams are checked against the same
/// independent computation.
#[test]
fn real_clients_c0c1_are_answered() {
    for (name, c0c1) in [("rtmpdump", RTMPDUMP_C0C1), ("ffmpeg 9", FFMPEG9_C0C1)] {
        assert_eq!(c0c1.len(), 1 + BLOCK_LEN, "{name}");
        assert_eq!(c0c1[0], 6, "{name}");
        let mut s = server();
        let mut input = BytesMut::from(c0c1);
        s.handle_input(&mut input).unwrap();
        assert!(input.is_empty());
        let out = s.poll_output().unwrap();
        assert_eq!(out.len(), 1 + 2 * BLOCK_LEN, "{name}");
        assert_eq!(out[0], 6);
        let c1 = read_block(c0c1, 1).unwrap();
        let (_, c1_digest) = digest::find_digest(&c1, &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]).unwrap();
        let s2 = read_block(&out, 1 + BLOCK_LEN).unwrap();
        assert!(digest::verify_signature(
            &s2,
            &digest::SERVER_KEY,
            &c1_digest
        ));
        let mut input = BytesMut::from(&[0u8; BLOCK_LEN][..]);
        input.put_slice(b"after");
        s.handle_input(&mut input).unwrap();
        assert!(s.is_done());
        assert_eq!(&input[..], b"after", "bytes after C2 stay for the caller");
        let mut ciphers = s.take_ciphers().unwrap();
        if name == "rtmpdump" {
            let mut a = [0u8; 16];
            ciphers.decrypt.apply(&mut a);
            let mut b = [0u8; 16];
            ciphers.encrypt.apply(&mut b);
            assert_eq!(
                (hex(&a), hex(&b)),
                (
                    "c40af78d8f6d807889b126b88635ca47".into(),
                    "91fb8059b630f6d8afc44a43c1c00542".into()
                )
            );
        }
    }
}

#[test]
fn truncated_input_waits_and_plain_rtmp_is_refused() {
    let mut s = server();
    let mut input = BytesMut::from(&RTMPDUMP_C0C1[..700]);
    s.handle_input(&mut input).unwrap();
    assert!(s.poll_output().is_none() && !s.is_done());
    let mut s = server();
    let mut input = BytesMut::from(&[3u8, 0, 0][..]);
    assert_eq!(
        s.handle_input(&mut input),
        Err(HandshakeError::NotRtmpe { version: 3 })
    );
    let mut s = server();
    let mut input = BytesMut::from(&b"GET /"[..]);
    assert_eq!(
        s.handle_input(&mut input),
        Err(HandshakeError::UnsupportedVersion { version: b'G' })
    );
    for version in [8u8, 9] {
        let mut s = server();
        let mut input = BytesMut::from(RTMPDUMP_C0C1);
        input[0] = version;
        s.handle_input(&mut input).unwrap();
        assert_eq!(
            s.poll_output().unwrap()[0],
            6,
            "type {version} is answered as 6"
        );
        assert_eq!(s.requested_type(), Some(version));
    }
}

#[test]
fn garbage_c1_without_digest_is_refused_for_good() {
    let mut s = server();
    let mut input = BytesMut::new();
    input.put_u8(6);
    input.put_slice(&pattern(BLOCK_LEN, 13, 3));
    let err = s.handle_input(&mut input).unwrap_err();
    assert_eq!(err, HandshakeError::MissingDigest);
    assert!(s.poll_output().is_none());
    assert_eq!(s.handle_input(&mut BytesMut::new()), Err(err));
}

/// A C1 with a valid digest around a weak DH key: 0, 1, p-1 and p.
#[test]
fn weak_client_keys_are_refused() {
    let p = KeyPair::prime_bytes();
    let mut p_minus_1 = p;
    p_minus_1[KEY_LEN - 1] -= 1;
    let mut one = [0u8; KEY_LEN];
    one[KEY_LEN - 1] = 1;
    for key in [[0u8; KEY_LEN], one, p_minus_1, p] {
        let mut c1 = read_block(RTMPDUMP_C0C1, 1).unwrap();
        place_key(&mut c1, Scheme::One, &key);
        digest::imprint(&mut c1, Scheme::One, &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]);
        let mut input = BytesMut::new();
        input.put_u8(6);
        input.put_slice(&c1);
        let mut s = server();
        assert_eq!(
            s.handle_input(&mut input),
            Err(HandshakeError::BadPublicKey)
        );
        assert!(s.poll_output().is_none());
    }
}

#[test]
fn client_refuses_plain_and_unsigned_servers() {
    let mut c = client();
    c.poll_output();
    let mut input = BytesMut::from(&[3u8][..]);
    assert_eq!(
        c.handle_input(&mut input),
        Err(HandshakeError::NotRtmpe { version: 3 })
    );

    let (mut c, mut s) = (client(), server());
    let mut to_server = BytesMut::from(&c.poll_output().unwrap()[..]);
    s.handle_input(&mut to_server).unwrap();
    let mut answer = BytesMut::from(&s.poll_output().unwrap()[..]);
    let last = answer.len() - 1;
    answer[last] ^= 1;
    assert_eq!(
        c.handle_input(&mut answer),
        Err(HandshakeError::BadSignature)
    );
    assert!(c.take_ciphers().is_none());

    let mut c = client();
    c.poll_output();
    let mut input = BytesMut::new();
    input.put_u8(6);
    input.put_slice(&pattern(2 * BLOCK_LEN, 5, 1));
    assert_eq!(
        c.handle_input(&mut input),
        Err(HandshakeError::MissingDigest)
    );
}
