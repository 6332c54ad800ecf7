//! HTTP/1.1 chunked transfer decoding, fed in pieces of any size.

use super::ProbeError;

/// Longest chunk-size line (hex digits plus extensions) accepted.
const MAX_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of the next chunk size.
    Size,
    /// After the digits: skipping an extension up to CR.
    Extension,
    /// Expecting the LF ending the size line.
    SizeLf,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting CR, then LF, after chunk data.
    DataCr,
    DataLf,
    /// After the last (0-size) chunk: trailer lines until an empty one.
    /// The flag says whether the current line has any byte yet.
    Trailer(bool),
    TrailerLf(bool),
    /// The body ended; anything more is ignored.
    Done,
}

/// Turns a chunked body into its payload bytes.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    size: u64,
    line: usize,
    /// Input bytes consumed, for error offsets.
    offset: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size,
            size: 0,
            line: 0,
            offset: 0,
        }
    }
}

impl ChunkedDecoder {
    /// Whether the terminating chunk (and trailer) has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, appending payload bytes to `out`.
    pub(crate) fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), ProbeError> {
        while let Some(&b) = input.first() {
            if let State::Data(left) = self.state {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                out.extend_from_slice(&input[..n]);
                input = &input[n..];
                self.offset += n as u64;
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data(left)
                };
                continue;
            }
            input = &input[1..];
            self.state = self.step(b)?;
            self.offset += 1;
        }
        Ok(())
    }

    fn fail(&self, what: &'static str) -> ProbeError {
        ProbeError::Http {
            what,
            offset: self.offset,
        }
    }

    /// One byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<State, ProbeError> {
        Ok(match self.state {
            State::Size => {
                self.line += 1;
                if self.line > MAX_LINE {
                    return Err(self.fail("chunk size line too long"));
                }
                match (b as char).to_digit(16) {
                    Some(d) => {
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(d)))
                            .ok_or_else(|| self.fail("chunk size overflows"))?;
                        State::Size
                    }
                    None if self.line == 1 => return Err(self.fail("chunk size expected")),
                    None if b == b'\r' => State::SizeLf,
                    None if b == b';' || b == b' ' || b == b'\t' => State::Extension,
                    None => return Err(self.fail("bad chunk size")),
                }
            }
            State::Extension => {
                self.line += 1;
                if self.line > MAX_LINE {
                    return Err(self.fail("chunk size line too long"));
                }
                if b == b'\r' {
                    State::SizeLf
                } else {
                    State::Extension
                }
            }
            State::SizeLf => {
                if b != b'\n' {
                    return Err(self.fail("LF expected after chunk size"));
                }
                let size = std::mem::take(&mut self.size);
                self.line = 0;
                if size == 0 {
                    State::Trailer(false)
                } else {
                    State::Data(size)
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size,
            State::DataCr | State::DataLf => {
                return Err(self.fail("CRLF expected after chunk data"))
            }
            State::Trailer(any) => {
                self.line += 1;
                if self.line > MAX_LINE {
                    return Err(self.fail("trailer line too long"));
                }
                if b == b'\r' {
                    State::TrailerLf(any)
                } else {
                    State::Trailer(true)
                }
            }
            State::TrailerLf(any) => {
                if b != b'\n' {
                    return Err(self.fail("LF expected in trailer"));
                }
                self.line = 0;
                if any {
                    State::Trailer(false)
                } else {
                    State::Done
                }
            }
            State::Done => State::Done,
            State::Data(_) => unreachable!("chunk data is handled by decode"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i % 2 == 0 {
                v.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
            } else {
                // Upper-case hex and an extension, as some servers send.
                v.extend_from_slice(format!("{:X};ext=1\r\n", p.len()).as_bytes());
            }
            v.extend_from_slice(p);
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        v
    }

    #[test]
    fn decodes_across_every_split_point() {
        let big: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let parts: [&[u8]; 4] = [b"hello", &big, b"x", b"0123456789abcdefXYZ"];
        let wire = encode(&parts);
        let want: Vec<u8> = parts.concat();
        for a in 0..=wire.len() {
            for b in [
                a,
                (a + 1).min(wire.len()),
                (a + 7).min(wire.len()),
                wire.len(),
            ] {
                let mut d = ChunkedDecoder::default();
                let mut out = Vec::new();
                d.decode(&wire[..a], &mut out).unwrap();
                d.decode(&wire[a..b], &mut out).unwrap();
                d.decode(&wire[b..], &mut out).unwrap();
                assert_eq!(out, want, "split at {a}/{b}");
                assert!(d.is_done());
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let wire = encode(&[b"abc", b"defgh"]);
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        for b in &wire {
            d.decode(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert_eq!(out, b"abcdefgh");
        assert!(d.is_done());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"3\rX",
            b"ffffffffffffffffff\r\n",
        ] {
            let mut d = ChunkedDecoder::default();
            assert!(d.decode(bad, &mut Vec::new()).is_err(), "{bad:?}");
        }
        let long = vec![b'1'; MAX_LINE + 1];
        let mut d = ChunkedDecoder::default();
        assert!(d.decode(&long, &mut Vec::new()).is_err());
    }
}
