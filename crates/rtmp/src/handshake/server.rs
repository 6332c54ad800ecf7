//! Server side of the handshake.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::digest::{self, SERVER_KEY, SERVER_KEY_TEXT_LEN};
use super::{
    check_version, fill_random, new_block, read_block, BLOCK_LEN, RANDOM_LEN, RTMP_VERSION,
};
use crate::error::HandshakeError;

/// Version field of a digest-handshake S1. Any non-zero value tells the
/// client a digest follows; ffmpeg verifies the digest and S2 signature
/// only when the first byte is 3 or more.
const SERVER_VERSION: [u8; 4] = [0x0D, 0x0E, 0x0A, 0x0D];

#[derive(Debug, Clone)]
enum State {
    AwaitC0C1,
    AwaitC2,
    Done,
    Failed(HandshakeError),
}

/// Answers a client's handshake: reads C0+C1, queues S0+S1+S2, reads C2.
///
/// If C1 carries a valid Flash Player digest (either layout) the answer is
/// a digest handshake, which Flash-era players and ffmpeg verify; otherwise
/// the simple one. C2 is read but not checked: clients are inconsistent
/// about it and nothing depends on it.
#[derive(Debug)]
pub struct ServerHandshake {
    state: State,
    random: Vec<u8>,
    epoch: u32,
    output: Option<Bytes>,
    complex: bool,
}

impl ServerHandshake {
    /// `random`: at least [`RANDOM_LEN`] (1528) random bytes from the
    /// caller, which owns the RNG; a digest handshake uses 1504 more if
    /// given (shorter input is cycled). `epoch`: the server's uptime in
    /// milliseconds, sent as S1's time field.
    pub fn new(random: &[u8], epoch: u32) -> Self {
        Self {
            state: State::AwaitC0C1,
            random: random.to_vec(),
            epoch,
            output: None,
            complex: false,
        }
    }

    /// Consumes handshake bytes from `buf`. Bytes after C2 stay in `buf`:
    /// they are the client's first chunks. Once this returns an error it
    /// returns it again on every call.
    pub fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), HandshakeError> {
        loop {
            match &self.state {
                State::AwaitC0C1 => {
                    let Some(&version) = buf.first() else {
                        return Ok(());
                    };
                    if let Err(e) = check_version(version) {
                        self.state = State::Failed(e.clone());
                        return Err(e);
                    }
                    let Some(c1) = read_block(buf, 1) else {
                        return Ok(());
                    };
                    buf.advance(1 + BLOCK_LEN);
                    self.output = Some(self.answer(&c1));
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

    /// S0+S1+S2, once C0+C1 have been read.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        self.output.take()
    }

    /// Whether C2 has been read: what follows is the chunk stream.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the client used the digest handshake (and got one back).
    pub fn is_complex(&self) -> bool {
        self.complex
    }

    /// Builds S0+S1+S2 for `c1`.
    fn answer(&mut self, c1: &[u8; BLOCK_LEN]) -> Bytes {
        let mut out = BytesMut::with_capacity(1 + 2 * BLOCK_LEN);
        out.put_u8(RTMP_VERSION);
        match digest::find_digest(c1, &digest::CLIENT_KEY[..digest::CLIENT_KEY_TEXT_LEN]) {
            Some((scheme, c1_digest)) => {
                self.complex = true;
                let mut s1 = new_block(self.epoch, SERVER_VERSION, &self.random);
                digest::imprint(&mut s1, scheme, &SERVER_KEY[..SERVER_KEY_TEXT_LEN]);
                let mut s2 = [0u8; BLOCK_LEN];
                fill_random(&mut s2, &self.random, RANDOM_LEN);
                digest::sign(&mut s2, &SERVER_KEY, &c1_digest);
                out.put_slice(&s1);
                out.put_slice(&s2);
            }
            None => {
                out.put_slice(&new_block(self.epoch, [0; 4], &self.random));
                out.put_slice(c1);
            }
        }
        out.freeze()
    }
}
