//! Client side of the handshake.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::digest::{self, Scheme, CLIENT_KEY, CLIENT_KEY_TEXT_LEN, DIGEST_LEN};
use super::{
    check_version, fill_random, new_block, read_block, BLOCK_LEN, RANDOM_LEN, RTMP_VERSION,
};
use crate::error::HandshakeError;

/// Version field of a digest-handshake C1: a Flash Player version
/// (9.0.124.2 style, top bit set as players send it). Some servers only
/// answer with a digest when this is non-zero.
const CLIENT_VERSION: [u8; 4] = [0x80, 0x00, 0x07, 0x02];

/// Which handshake a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientHandshakeMode {
    /// Zero version field, no digest: what most encoders send.
    Simple,
    /// Flash Player style C1 with a digest. Some CDNs and Flash-era servers
    /// require it (e.g. for playback); servers that answer simply still work.
    Digest,
}

#[derive(Debug, Clone)]
enum State {
    AwaitS0S1,
    AwaitS2,
    Done,
    Failed(HandshakeError),
}

/// Performs a client's handshake: queues C0+C1, reads S0+S1, queues C2,
/// reads S2.
///
/// Nothing about the server's answer is fatal except a version byte of 32
/// or more: in digest mode a server that answers simply gets an echo C2,
/// and a digest answer whose S2 signature does not verify is only reported
/// by [`is_complex`](Self::is_complex) returning false.
#[derive(Debug)]
pub struct ClientHandshake {
    mode: ClientHandshakeMode,
    state: State,
    random: Vec<u8>,
    /// Digest of our C1 in digest mode; the server's S2 signature answers it.
    c1_digest: Option<[u8; DIGEST_LEN]>,
    /// S1 carried a valid server digest, so C2 was signed.
    s1_signed: bool,
    /// S1 digest and S2 signature both verified.
    complex: bool,
    output: BytesMut,
}

impl ClientHandshake {
    /// Queues C0+C1. `random`: at least [`RANDOM_LEN`] (1528) random bytes
    /// from the caller; a digest-signed C2 uses 1504 more if given (shorter
    /// input is cycled). `epoch`: the client's uptime in milliseconds, sent
    /// as C1's time field.
    pub fn new(mode: ClientHandshakeMode, random: &[u8], epoch: u32) -> Self {
        let mut output = BytesMut::with_capacity(1 + BLOCK_LEN);
        output.put_u8(RTMP_VERSION);
        let c1_digest = match mode {
            ClientHandshakeMode::Simple => {
                output.put_slice(&new_block(epoch, [0; 4], random));
                None
            }
            ClientHandshakeMode::Digest => {
                let mut c1 = new_block(epoch, CLIENT_VERSION, random);
                let d = digest::imprint(&mut c1, Scheme::Zero, &CLIENT_KEY[..CLIENT_KEY_TEXT_LEN]);
                output.put_slice(&c1);
                Some(d)
            }
        };
        Self {
            mode,
            state: State::AwaitS0S1,
            random: random.to_vec(),
            c1_digest,
            s1_signed: false,
            complex: false,
            output,
        }
    }

    /// Consumes handshake bytes from `buf`. Bytes after S2 stay in `buf`:
    /// they are the server's first chunks. Once this returns an error it
    /// returns it again on every call.
    pub fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), HandshakeError> {
        loop {
            match &self.state {
                State::AwaitS0S1 => {
                    let Some(&version) = buf.first() else {
                        return Ok(());
                    };
                    if let Err(e) = check_version(version) {
                        self.state = State::Failed(e.clone());
                        return Err(e);
                    }
                    let Some(s1) = read_block(buf, 1) else {
                        return Ok(());
                    };
                    buf.advance(1 + BLOCK_LEN);
                    let c2 = self.answer(&s1);
                    self.output.put_slice(&c2);
                    self.random = Vec::new();
                    self.state = State::AwaitS2;
                }
                State::AwaitS2 => {
                    let Some(s2) = read_block(buf, 0) else {
                        return Ok(());
                    };
                    buf.advance(BLOCK_LEN);
                    if let (true, Some(c1_digest)) = (self.s1_signed, &self.c1_digest) {
                        self.complex =
                            digest::verify_signature(&s2, &digest::SERVER_KEY, c1_digest);
                    }
                    self.state = State::Done;
                }
                State::Done => return Ok(()),
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }

    /// C0+C1 at first, then C2 once S1 has been read (concatenated if not
    /// polled in between).
    pub fn poll_output(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            return None;
        }
        Some(self.output.split().freeze())
    }

    /// Whether S2 has been read: what follows is the chunk stream.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the server completed a digest handshake: its S1 digest and
    /// S2 signature both verified. Always false in simple mode.
    pub fn is_complex(&self) -> bool {
        self.complex
    }

    /// Builds C2 for `s1`: signed if we offered a digest and S1 carries
    /// the server's, else an echo of S1.
    fn answer(&mut self, s1: &[u8; BLOCK_LEN]) -> [u8; BLOCK_LEN] {
        let server_digest = match self.mode {
            ClientHandshakeMode::Simple => None,
            ClientHandshakeMode::Digest => {
                digest::find_digest(s1, &digest::SERVER_KEY[..digest::SERVER_KEY_TEXT_LEN])
            }
        };
        match server_digest {
            Some((_, s1_digest)) => {
                self.s1_signed = true;
                let mut c2 = [0u8; BLOCK_LEN];
                fill_random(&mut c2, &self.random, RANDOM_LEN);
                digest::sign(&mut c2, &CLIENT_KEY, &s1_digest);
                c2
            }
            None => *s1,
        }
    }
}
