//! Handshake tests: both sides against each other, against hand-built peers,
//! and against digests computed independently of this crate.

use bytes::{BufMut, Bytes, BytesMut};

use super::digest::{self, CLIENT_KEY, CLIENT_KEY_TEXT_LEN, SERVER_KEY, SERVER_KEY_TEXT_LEN};
use super::*;
use crate::error::HandshakeError;

fn pattern(len: usize, mul: usize, add: usize) -> Vec<u8> {
    (0..len).map(|i| (i * mul + add) as u8).collect()
}

fn client_random() -> Vec<u8> {
    pattern(RANDOM_LEN, 11, 5)
}

fn server_random() -> Vec<u8> {
    pattern(RANDOM_LEN + 1504, 7, 13)
}

fn block_at(bytes: &[u8], at: usize) -> [u8; BLOCK_LEN] {
    read_block(bytes, at).unwrap()
}

/// One side of a handshake as the tests drive it: plain, digest or RTMPE,
/// client or server.
pub(super) trait Side {
    fn poll_output(&mut self) -> Option<Bytes>;
    fn is_done(&self) -> bool;
    fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), HandshakeError>;
}

macro_rules! side {
    ($($t:ty),*) => {$(
        impl Side for $t {
            fn poll_output(&mut self) -> Option<Bytes> {
                <$t>::poll_output(self)
            }
            fn is_done(&self) -> bool {
                <$t>::is_done(self)
            }
            fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), HandshakeError> {
                <$t>::handle_input(self, buf)
            }
        }
    )*};
}
side!(
    ClientHandshake,
    ServerHandshake,
    super::rtmpe::RtmpeClientHandshake,
    super::rtmpe::RtmpeServerHandshake
);

/// Runs client and server against each other, feeding each side's output
/// to the other `step` bytes at a time. Returns what each side sent.
pub(super) fn run(
    client: &mut impl Side,
    server: &mut impl Side,
    step: usize,
) -> (Vec<u8>, Vec<u8>) {
    let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
    let (mut sent_c, mut sent_s) = (Vec::new(), Vec::new());
    let (mut pending_c, mut pending_s) = (Vec::<u8>::new(), Vec::<u8>::new());
    for _ in 0..100_000 {
        if let Some(b) = client.poll_output() {
            sent_c.extend_from_slice(&b);
            pending_c.extend_from_slice(&b);
        }
        if let Some(b) = server.poll_output() {
            sent_s.extend_from_slice(&b);
            pending_s.extend_from_slice(&b);
        }
        if client.is_done() && server.is_done() {
            return (sent_c, sent_s);
        }
        let n = step.min(pending_c.len());
        to_server.extend_from_slice(&pending_c.drain(..n).collect::<Vec<_>>());
        let n = step.min(pending_s.len());
        to_client.extend_from_slice(&pending_s.drain(..n).collect::<Vec<_>>());
        server.handle_input(&mut to_server).unwrap();
        client.handle_input(&mut to_client).unwrap();
    }
    panic!("handshake did not finish");
}

#[test]
fn digest_client_and_server_verify_each_other() {
    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &client_random(), 0);
    let mut server = ServerHandshake::new(&server_random(), 1000);
    let (c, s) = run(&mut client, &mut server, usize::MAX);
    assert!(server.is_complex());
    assert!(client.is_complex());
    assert_eq!((c.len(), s.len()), (1 + 2 * BLOCK_LEN, 1 + 2 * BLOCK_LEN));
    assert_eq!((c[0], s[0]), (3, 3));

    let c1 = block_at(&c, 1);
    let (_, c1_digest) = digest::find_digest(&c1, &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]).unwrap();
    let s1 = block_at(&s, 1);
    assert_eq!(&s1[..8], &[0, 0, 0x03, 0xE8, 0x0D, 0x0E, 0x0A, 0x0D]);
    let (_, s1_digest) = digest::find_digest(&s1, &SERVER_KEY[..SERVER_KEY_TEXT_LEN]).unwrap();
    let s2 = block_at(&s, 1 + BLOCK_LEN);
    assert!(digest::verify_signature(&s2, &SERVER_KEY, &c1_digest));
    let c2 = block_at(&c, 1 + BLOCK_LEN);
    assert!(digest::verify_signature(&c2, &CLIENT_KEY, &s1_digest));
}

/// Digests and signatures computed by a separate implementation (Python's
/// `hmac` module following the published scheme) for the same inputs.
#[test]
fn digest_handshake_matches_independent_vectors() {
    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &client_random(), 0);
    let mut server = ServerHandshake::new(&server_random(), 1000);
    let (c, s) = run(&mut client, &mut server, usize::MAX);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(&c[1 + 98..1 + 98 + 32]),
        "261a1d8ed8194b141055d3b925fb132a09172bce0763e0865659dfec81192803"
    );
    assert_eq!(
        hex(&s[1 + 106..1 + 106 + 32]),
        "c2669bdc0ff41028f49c1401acb686222687a5e23bf21a54a5adfe3ade626198"
    );
    assert_eq!(
        hex(&s[1 + 2 * BLOCK_LEN - 32..]),
        "0e3056b2c586b8c5491d0f5968df6d0adf1856ae6b6129cead03c8025ed195ea"
    );
    assert_eq!(
        hex(&c[1 + 2 * BLOCK_LEN - 32..]),
        "1bd22ac15414d22fc3dc242c0a193470eb8e11df6e774be38ffd950c10928d0b"
    );
}

#[test]
fn server_answers_a_scheme_one_digest_in_scheme_one() {
    let mut c1 = new_block(5, [0x80, 0, 7, 2], &client_random());
    let c1_digest = digest::imprint(
        &mut c1,
        digest::Scheme::One,
        &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN],
    );
    let mut server = ServerHandshake::new(&server_random(), 0);
    let mut input = BytesMut::new();
    input.put_u8(3);
    input.put_slice(&c1);
    server.handle_input(&mut input).unwrap();
    assert!(server.is_complex());
    let s = server.poll_output().unwrap();
    let s1 = block_at(&s, 1);
    let (scheme, _) = digest::find_digest(&s1, &SERVER_KEY[..SERVER_KEY_TEXT_LEN]).unwrap();
    assert_eq!(scheme, digest::Scheme::One);
    assert!(digest::verify_signature(
        &block_at(&s, 1 + BLOCK_LEN),
        &SERVER_KEY,
        &c1_digest
    ));
}

#[test]
fn simple_client_gets_a_simple_echo_handshake() {
    let mut client = ClientHandshake::new(ClientHandshakeMode::Simple, &client_random(), 77);
    let mut server = ServerHandshake::new(&server_random(), 1000);
    let (c, s) = run(&mut client, &mut server, usize::MAX);
    assert!(!server.is_complex());
    assert!(!client.is_complex());
    assert_eq!(&c[1..9], &[0, 0, 0, 77, 0, 0, 0, 0]);
    assert_eq!(
        &s[5..9],
        &[0, 0, 0, 0],
        "simple S1 has a zero version field"
    );
    assert_eq!(&s[1 + BLOCK_LEN..], &c[1..1 + BLOCK_LEN], "S2 echoes C1");
    assert_eq!(&c[1 + BLOCK_LEN..], &s[1..1 + BLOCK_LEN], "C2 echoes S1");
}

#[test]
fn digest_client_accepts_a_simple_server() {
    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &client_random(), 0);
    let c = client.poll_output().unwrap();
    // A server that ignores digests: random S1 with zero version, S2 = C1.
    let s1 = new_block(9, [0; 4], &pattern(RANDOM_LEN, 3, 1));
    let mut input = BytesMut::new();
    input.put_u8(3);
    input.put_slice(&s1);
    input.put_slice(&c[1..]);
    client.handle_input(&mut input).unwrap();
    assert!(client.is_done());
    assert!(!client.is_complex());
    assert_eq!(&client.poll_output().unwrap()[..], &s1[..], "C2 echoes S1");
}

#[test]
fn every_split_of_the_input_works() {
    for step in [1, 7, 1536, 1537, 3000] {
        for mode in [ClientHandshakeMode::Simple, ClientHandshakeMode::Digest] {
            let mut client = ClientHandshake::new(mode, &client_random(), 1);
            let mut server = ServerHandshake::new(&server_random(), 2);
            run(&mut client, &mut server, step);
            assert_eq!(server.is_complex(), mode == ClientHandshakeMode::Digest);
            assert_eq!(client.is_complex(), mode == ClientHandshakeMode::Digest);
        }
    }
}

#[test]
fn bytes_after_the_handshake_stay_in_the_buffer() {
    let mut client = ClientHandshake::new(ClientHandshakeMode::Simple, &client_random(), 0);
    let mut server = ServerHandshake::new(&server_random(), 0);
    let mut input = BytesMut::new();
    input.put_slice(&client.poll_output().unwrap());
    server.handle_input(&mut input).unwrap();
    let s = server.poll_output().unwrap();
    let mut to_client = BytesMut::from(&s[..]);
    to_client.put_slice(b"server chunks");
    client.handle_input(&mut to_client).unwrap();
    assert!(client.is_done());
    assert_eq!(&to_client[..], b"server chunks");
    let mut input = BytesMut::from(&client.poll_output().unwrap()[..]);
    input.put_slice(b"first chunk");
    server.handle_input(&mut input).unwrap();
    assert!(server.is_done());
    assert_eq!(&input[..], b"first chunk");
    // Later calls leave the chunk stream alone.
    server.handle_input(&mut input).unwrap();
    assert_eq!(&input[..], b"first chunk");
}

#[test]
fn http_request_is_rejected_at_once_and_for_good() {
    let mut server = ServerHandshake::new(&server_random(), 0);
    let mut input = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    let err = server.handle_input(&mut input).unwrap_err();
    assert_eq!(err, HandshakeError::UnsupportedVersion { version: b'G' });
    assert!(err.to_string().contains("0x47"));
    assert_eq!(server.handle_input(&mut BytesMut::new()), Err(err));
    assert!(server.poll_output().is_none());
    assert!(!server.is_done());

    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &client_random(), 0);
    let mut input = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n"[..]);
    assert_eq!(
        client.handle_input(&mut input),
        Err(HandshakeError::UnsupportedVersion { version: b'H' })
    );
}

#[test]
fn versions_below_32_are_answered_with_3() {
    for version in [0u8, 3, 6, 31] {
        let mut server = ServerHandshake::new(&server_random(), 0);
        let mut input = BytesMut::new();
        input.put_u8(version);
        input.put_slice(&[0xAB; BLOCK_LEN]);
        server.handle_input(&mut input).unwrap();
        assert_eq!(server.poll_output().unwrap()[0], 3, "version {version}");
    }
    let mut server = ServerHandshake::new(&server_random(), 0);
    let mut input = BytesMut::from(&[32u8][..]);
    assert!(server.handle_input(&mut input).is_err());
}

#[test]
fn garbage_c1_gets_a_simple_answer_and_short_random_is_cycled() {
    let mut server = ServerHandshake::new(&[], 0);
    let mut input = BytesMut::new();
    input.put_u8(3);
    input.put_slice(&pattern(2 * BLOCK_LEN, 13, 3));
    server.handle_input(&mut input).unwrap();
    assert!(server.is_done() && !server.is_complex());
    let s: Bytes = server.poll_output().unwrap();
    assert_eq!(
        &s[9..1 + BLOCK_LEN],
        &[0; RANDOM_LEN][..],
        "no random given: zeros"
    );

    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &[1, 2, 3], 0);
    let c = client.poll_output().unwrap();
    assert_eq!(&c[9..15], &[1, 2, 3, 1, 2, 3]);
}
