//! HTTP-FLV player: one GET, a response head, then an FLV stream either
//! as a plain body (read until close) or chunked.

use weir_flv::{Demuxer, TagType};

use super::{ChunkedDecoder, ProbeError};
use crate::marker::{audio_key, frame_key, Kind, Seen};

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Largest FLV tag accepted from a server.
const MAX_TAG: u32 = 16 << 20;

enum Body {
    Plain,
    Chunked(ChunkedDecoder),
}

/// HTTP-FLV play state.
pub(crate) struct HttpFlvProbe {
    request: Vec<u8>,
    parse: bool,
    head: Vec<u8>,
    /// `None` until the response head has been read.
    body: Option<Body>,
    demux: Demuxer,
    /// Payload decoded from chunks, before it goes to the demuxer.
    scratch: Vec<u8>,
}

impl HttpFlvProbe {
    /// A player of `path` (e.g. `/live/bench.flv`) on `host` (the `Host`
    /// header); `parse` decodes every tag instead of only counting.
    pub(crate) fn new(host: &str, path: &str, parse: bool) -> Self {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: weir-bench\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
        )
        .into_bytes();
        HttpFlvProbe {
            request,
            parse,
            head: Vec::new(),
            body: None,
            demux: Demuxer::new(MAX_TAG),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn start(&mut self, reply: &mut Vec<u8>) {
        reply.extend_from_slice(&self.request);
    }

    pub(crate) fn playing(&self) -> bool {
        self.body.is_some()
    }

    pub(crate) fn feed(&mut self, data: &[u8], seen: &mut Vec<Seen>) -> Result<(), ProbeError> {
        let rest = match self.body {
            Some(_) => data,
            None => {
                let before = self.head.len();
                self.head.extend_from_slice(data);
                let Some(end) = find_head_end(&self.head, before) else {
                    if self.head.len() > MAX_HEAD {
                        return Err(ProbeError::Http {
                            what: "response head too long",
                            offset: self.head.len() as u64,
                        });
                    }
                    return Ok(());
                };
                self.body = Some(parse_head(&self.head[..end])?);
                // What followed the head in this read is body.
                &data[end - before..]
            }
        };
        if !self.parse || rest.is_empty() {
            return Ok(());
        }
        match &mut self.body {
            Some(Body::Chunked(dec)) => {
                self.scratch.clear();
                dec.decode(rest, &mut self.scratch)?;
                self.demux.push(&self.scratch);
                if dec.is_done() {
                    // A live stream has no end: the server gave up on us.
                    return Err(ProbeError::Http {
                        what: "the server ended the chunked response",
                        offset: 0,
                    });
                }
            }
            _ => self.demux.push(rest),
        }
        while let Some(tag) = self
            .demux
            .poll()
            .map_err(|e| ProbeError::Flv(e.to_string()))?
        {
            let key = match tag.tag_type {
                TagType::Video => frame_key(&tag.body).map(|k| (Kind::Video, k)),
                TagType::Audio => audio_key(&tag.body).map(|k| (Kind::Audio, k)),
                TagType::Script => None,
            };
            seen.extend(key);
        }
        Ok(())
    }
}

/// Offset just past the blank line ending the head, searching from a few
/// bytes before `from` (the terminator may straddle two reads).
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    buf.get(start..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| start + p + 4)
}

fn parse_head(head: &[u8]) -> Result<Body, ProbeError> {
    let bad = |what| ProbeError::Http { what, offset: 0 };
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status = lines.next().ok_or_else(|| bad("empty response"))?;
    let mut words = status.split(' ');
    let version = words.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1.x response"));
    }
    let code: u16 = words
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    if code != 200 {
        return Err(ProbeError::Status(code));
    }
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    Ok(if chunked {
        Body::Chunked(ChunkedDecoder::default())
    } else {
        Body::Plain
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_flv::{file_header, write_tag};

    /// An FLV stream: header, video and audio sequence headers, three
    /// coded video frames each followed by an AAC frame; returns it with the
    /// kinds and keys a player must report, in order.
    fn flv_stream() -> (Vec<u8>, Vec<Seen>) {
        let mut out = bytes::BytesMut::new();
        out.extend_from_slice(&file_header(true, true));
        write_tag(9, 0, &[&[0x17, 0, 0, 0, 0, 1, 2, 3]], &mut out);
        write_tag(8, 0, &[&[0xaf, 0, 0x12, 0x10]], &mut out);
        let mut keys = Vec::new();
        for i in 0..3u8 {
            let body: Vec<u8> = [0x27, 1, 0, 0, 0]
                .into_iter()
                .chain((0..100u8).map(|b| b.wrapping_mul(i + 1)))
                .collect();
            keys.push((Kind::Video, frame_key(&body).unwrap()));
            write_tag(9, u32::from(i) * 33, &[&body], &mut out);
            let aac = [0xaf, 1, 9, i];
            keys.push((Kind::Audio, audio_key(&aac).unwrap()));
            write_tag(8, u32::from(i) * 33, &[&aac], &mut out);
        }
        (out.to_vec(), keys)
    }

    fn chunk(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut v = Vec::new();
        let mut rest = body;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            v.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            v.extend_from_slice(&rest[..n]);
            v.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        v
    }

    fn run(wire: &[u8], split: usize) -> Result<Vec<Seen>, ProbeError> {
        let mut p = HttpFlvProbe::new("h", "/live/x.flv", true);
        let mut seen = Vec::new();
        for piece in wire.chunks(split.max(1)) {
            p.feed(piece, &mut seen)?;
        }
        assert!(p.playing());
        Ok(seen)
    }

    #[test]
    fn chunked_flv_frames_survive_any_read_boundary() {
        let (flv, keys) = flv_stream();
        let mut wire =
            b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\ntransfer-encoding: chunked\r\n\r\n"
                .to_vec();
        wire.extend_from_slice(&chunk(&flv, &[7, 50, 3]));
        for split in 1..=wire.len() {
            assert_eq!(run(&wire, split).unwrap(), keys, "reads of {split} bytes");
        }
        // Two reads, split at every point.
        for at in 0..=wire.len() {
            let mut p = HttpFlvProbe::new("h", "/x.flv", true);
            let mut seen = Vec::new();
            p.feed(&wire[..at], &mut seen).unwrap();
            p.feed(&wire[at..], &mut seen).unwrap();
            assert_eq!(seen, keys, "split at {at}");
        }
    }

    #[test]
    fn plain_body_until_close() {
        let (flv, keys) = flv_stream();
        let mut wire = b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        wire.extend_from_slice(&flv);
        for split in [1, 2, 5, 13, 64, wire.len()] {
            assert_eq!(run(&wire, split).unwrap(), keys);
        }
    }

    #[test]
    fn counting_player_only_reads_the_head() {
        let mut p = HttpFlvProbe::new("h", "/x.flv", false);
        let mut reply = Vec::new();
        p.start(&mut reply);
        assert!(reply.starts_with(b"GET /x.flv HTTP/1.1\r\nHost: h\r\n"));
        let mut seen = Vec::new();
        p.feed(b"HTTP/1.1 200 OK\r\n\r\ngarbage that is not FLV", &mut seen)
            .unwrap();
        assert!(p.playing());
        assert!(seen.is_empty());
    }

    #[test]
    fn errors_are_reported() {
        let mut p = HttpFlvProbe::new("h", "/x.flv", true);
        let e = p.feed(b"HTTP/1.1 404 Not Found\r\n\r\n", &mut Vec::new());
        assert!(matches!(e, Err(ProbeError::Status(404))));
        let mut p = HttpFlvProbe::new("h", "/x.flv", true);
        assert!(p.feed(b"SSH-2.0\r\n\r\n", &mut Vec::new()).is_err());
        let mut p = HttpFlvProbe::new("h", "/x.flv", true);
        assert!(p.feed(&vec![b'a'; MAX_HEAD + 10], &mut Vec::new()).is_err());
    }
}
