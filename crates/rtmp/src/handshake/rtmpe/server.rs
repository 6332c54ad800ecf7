//! Server side of the RTMPE handshake.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::dh::{KeyPair, KEY_LEN};
use super::{is_rtmpe, place_key, public_key, RtmpeCiphers, RTMPE_VERSION};
use crate::error::HandshakeError;
use crate::handshake::digest::{self, Scheme, SERVER_KEY, SERVER_KEY_TEXT_LEN};
use crate::handshake::{check_version, fill_random, new_block, read_block, BLOCK_LEN, RANDOM_LEN};

/// Version field of S1: a Flash Media Server version. ffmpeg checks the
/// digest and signature only when its first byte is 3 or more.
const SERVER_VERSION: [u8; 4] = [0x0D, 0x0E, 0x0A, 0x0D];

#[derive(Debug, Clone)]
enum State {
    AwaitC0C1,
    AwaitC2,
    Done,
    Failed(HandshakeError),
}

/// Answers an RTMPE client: reads C0+C1, queues S0+S1+S2, reads C2, then
/// hands out the connection's keystreams ([`take_ciphers`](Self::take_ciphers)).
///
/// S1 always keeps its digest in the first half and its DH key in the
/// second ([`Scheme::Zero`]): ffmpeg's publisher looks for the server's key
/// there without checking the digest, and every player that does check
/// tries both layouts. C2 is read but not checked, as in the plain
/// handshake.
#[derive(Debug)]
pub struct RtmpeServerHandshake {
    state: State,
    random: Vec<u8>,
    keys: KeyPair,
    epoch: u32,
    output: Option<Bytes>,
    ciphers: Option<RtmpeCiphers>,
    requested: Option<u8>,
}

impl RtmpeServerHandshake {
    /// `random`: at least [`RANDOM_LEN`] + 1504 random bytes for S1 and S2
    /// (shorter input is cycled). `secret`: the DH private key's random
    /// bytes, which must not be reused from `random` (S1 shows those).
    /// `epoch`: the server's uptime in milliseconds, S1's time field.
    pub fn new(random: &[u8], secret: &[u8; KEY_LEN], epoch: u32) -> Self {
        Self {
            state: State::AwaitC0C1,
            random: random.to_vec(),
            keys: KeyPair::new(secret),
            epoch,
            output: None,
            ciphers: None,
            requested: None,
        }
    }

    /// Consumes handshake bytes from `buf`. Bytes after C2 stay in `buf`,
    /// still encrypted: decrypt them with the keystream from
    /// [`take_ciphers`](Self::take_ciphers) before anything read later.
    /// Once this returns an error it returns it again on every call.
    pub fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), HandshakeError> {
        loop {
            match &self.state {
                State::AwaitC0C1 => {
                    let Some(&version) = buf.first() else {
                        return Ok(());
                    };
                    if let Err(e) = check_version(version) {
                        return self.fail(e);
                    }
                    if !is_rtmpe(version) {
                        return self.fail(HandshakeError::NotRtmpe { version });
                    }
                    let Some(c1) = read_block(buf, 1) else {
                        return Ok(());
                    };
                    buf.advance(1 + BLOCK_LEN);
                    self.requested = Some(version);
                    match self.answer(&c1) {
                        Ok(out) => self.output = Some(out),
                        Err(e) => return self.fail(e),
                    }
                    self.random = Vec::new();
                    self.state = State::AwaitC2;
                }
                State::AwaitC2 => {
                    if buf.len() < BLOCK_LEN {
                        return Ok(());
                    }
                    buf.advance(BLOCK_LEN);
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

    /// S0+S1+S2, once C0+C1 have been read.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        self.output.take()
    }

    /// Whether C2 has been read: what follows is the encrypted chunk
    /// stream.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The C0 type the client sent (6, 8 or 9), once read.
    pub fn requested_type(&self) -> Option<u8> {
        self.requested
    }

    /// The keystreams, once the handshake is done; `None` before, and
    /// after the first call.
    pub fn take_ciphers(&mut self) -> Option<RtmpeCiphers> {
        if !self.is_done() {
            return None;
        }
        self.ciphers.take()
    }

    /// Checks C1, derives the keystreams and builds S0+S1+S2.
    fn answer(&mut self, c1: &[u8; BLOCK_LEN]) -> Result<Bytes, HandshakeError> {
        let (scheme, c1_digest) =
            digest::find_digest(c1, &digest::CLIENT_KEY[..digest::CLIENT_KEY_TEXT_LEN])
                .ok_or(HandshakeError::MissingDigest)?;
        let client_key = public_key(c1, scheme);
        let secret = self.keys.shared_secret(client_key)?;
        self.ciphers = Some(RtmpeCiphers::derive(&secret, &self.keys.public, client_key));

        let mut s1 = new_block(self.epoch, SERVER_VERSION, &self.random);
        place_key(&mut s1, Scheme::Zero, &self.keys.public);
        digest::imprint(&mut s1, Scheme::Zero, &SERVER_KEY[..SERVER_KEY_TEXT_LEN]);
        let mut s2 = [0u8; BLOCK_LEN];
        fill_random(&mut s2, &self.random, RANDOM_LEN);
        digest::sign(&mut s2, &SERVER_KEY, &c1_digest);

        let mut out = BytesMut::with_capacity(1 + 2 * BLOCK_LEN);
        out.put_u8(RTMPE_VERSION);
        out.put_slice(&s1);
        out.put_slice(&s2);
        Ok(out.freeze())
    }
}
