//! Client side of the RTMPE handshake.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::dh::{KeyPair, KEY_LEN};
use super::{place_key, public_key, RtmpeCiphers, RTMPE_VERSION};
use crate::error::HandshakeError;
use crate::handshake::digest::{self, Scheme, CLIENT_KEY, CLIENT_KEY_TEXT_LEN, DIGEST_LEN};
use crate::handshake::{check_version, fill_random, new_block, read_block, BLOCK_LEN, RANDOM_LEN};

/// Version field of C1: Flash Player 9.0.124.2. A first byte of 128 (what
/// later players send) makes rtmpdump-based servers answer type 8, whose
/// Blowfish-encrypted signatures this client does not speak.
const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];

#[derive(Debug, Clone)]
enum State {
    AwaitS0S1,
    AwaitS2,
    Done,
    Failed(HandshakeError),
}

/// Performs an RTMPE client handshake: queues C0+C1, reads S0+S1, queues
/// C2, reads S2, then hands out the keystreams
/// ([`take_ciphers`](Self::take_ciphers)).
///
/// Unlike the plain client this one is strict: a server that answers
/// another type than 6, has no digest in S1, sends a weak DH key or an S2
/// that does not sign our C1 is refused, since the keystreams would not
/// match anyway.
#[derive(Debug)]
pub struct RtmpeClientHandshake {
    state: State,
    random: Vec<u8>,
    keys: KeyPair,
    c1_digest: [u8; DIGEST_LEN],
    ciphers: Option<RtmpeCiphers>,
    output: BytesMut,
}

impl RtmpeClientHandshake {
    /// Queues C0+C1. `random`: at least [`RANDOM_LEN`] + 1504 random bytes
    /// for C1 and C2 (shorter input is cycled). `secret`: the DH private
    /// key's random bytes, not reused from `random` (C1 shows those).
    /// `epoch`: the client's uptime in milliseconds.
    pub fn new(random: &[u8], secret: &[u8; KEY_LEN], epoch: u32) -> Self {
        let keys = KeyPair::new(secret);
        let mut c1 = new_block(epoch, CLIENT_VERSION, random);
        // The layout rtmpdump and ffmpeg use for RTMPE: digest in the
        // second half, key in the first.
        place_key(&mut c1, Scheme::One, &keys.public);
        let c1_digest = digest::imprint(&mut c1, Scheme::One, &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]);
        let mut output = BytesMut::with_capacity(1 + BLOCK_LEN);
        output.put_u8(RTMPE_VERSION);
        output.put_slice(&c1);
        Self {
            state: State::AwaitS0S1,
            random: random.to_vec(),
            keys,
            c1_digest,
            ciphers: None,
            output,
        }
    }

    /// Consumes handshake bytes from `buf`. Bytes after S2 stay in `buf`,
    /// still encrypted. Once this returns an error it returns it again on
    /// every call.
    pub fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), HandshakeError> {
        loop {
            match &self.state {
                State::AwaitS0S1 => {
                    let Some(&version) = buf.first() else {
                        return Ok(());
                    };
                    if let Err(e) = check_version(version) {
                        return self.fail(e);
                    }
                    if version != RTMPE_VERSION {
                        return self.fail(HandshakeError::NotRtmpe { version });
                    }
                    let Some(s1) = read_block(buf, 1) else {
                        return Ok(());
                    };
                    buf.advance(1 + BLOCK_LEN);
                    match self.answer(&s1) {
                        Ok(c2) => self.output.put_slice(&c2),
                        Err(e) => return self.fail(e),
                    }
                    self.random = Vec::new();
                    self.state = State::AwaitS2;
                }
                State::AwaitS2 => {
                    let Some(s2) = read_block(buf, 0) else {
                        return Ok(());
                    };
                    buf.advance(BLOCK_LEN);
                    if !digest::verify_signature(&s2, &digest::SERVER_KEY, &self.c1_digest) {
                        return self.fail(HandshakeError::BadSignature);
                    }
                    self.state = State::Done;
                }
                State::Done => return Ok(()),
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }

    fn fail(&mut self, e: HandshakeError) -> Result<(), HandshakeError> {
        self.state = State::Failed(e.clone());
        Err(e)
    }

    /// C0+C1 at first, then C2 once S1 has been read. Everything this
    /// returns goes out unencrypted, before any keystream byte is used.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            return None;
        }
        Some(self.output.split().freeze())
    }

    /// Whether S2 has been read and checked.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The keystreams, once the handshake is done; `None` before, and
    /// after the first call.
    pub fn take_ciphers(&mut self) -> Option<RtmpeCiphers> {
        if !self.is_done() {
            return None;
        }
        self.ciphers.take()
    }

    /// Reads the server's key from S1, derives the keystreams and builds a
    /// signed C2.
    fn answer(&mut self, s1: &[u8; BLOCK_LEN]) -> Result<[u8; BLOCK_LEN], HandshakeError> {
        let (scheme, s1_digest) =
            digest::find_digest(s1, &digest::SERVER_KEY[..digest::SERVER_KEY_TEXT_LEN])
                .ok_or(HandshakeError::MissingDigest)?;
        let server_key = public_key(s1, scheme);
        let secret = self.keys.shared_secret(server_key)?;
        self.ciphers = Some(RtmpeCiphers::derive(&secret, &self.keys.public, server_key));
        let mut c2 = [0u8; BLOCK_LEN];
        fill_random(&mut c2, &self.random, RANDOM_LEN);
        digest::sign(&mut c2, &CLIENT_KEY, &s1_digest);
        Ok(c2)
    }
}
