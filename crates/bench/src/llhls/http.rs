//! A minimal HTTP/1.1 keep-alive GET client over one TCP connection, as
//! much as an LL-HLS viewer needs: sequential requests, bodies framed by
//! `Content-Length` or chunked, reconnecting when the server closes.
//!
//! Bodies are either kept (playlists) or only counted (media), so
//! thousands of viewers stay cheap. Limits keep a bad server from making
//! the tool allocate without bound.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::probe::ChunkedDecoder;

/// Largest response head accepted, and the read buffer's size.
const MAX_HEAD: usize = 16 * 1024;
/// Largest body kept in memory (playlists).
const MAX_KEPT: usize = 4 << 20;
/// Longest a request may take: a held request lasts at most three target
/// durations on weir, so this only catches a hung server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("http: {0}")]
    Protocol(&'static str),
    #[error("http status {0}")]
    Status(u16),
    #[error("request timed out")]
    Timeout,
}

/// An answer: the body if it was kept, and its length either way.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) body: Vec<u8>,
    pub(crate) len: u64,
}

/// One keep-alive connection to `authority`.
pub(crate) struct Client {
    authority: String,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
    /// Bytes of `buf` read but not yet consumed.
    filled: usize,
    /// Connections opened after the first.
    pub(crate) reconnects: u64,
}

enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl Client {
    pub(crate) fn new(authority: &str) -> Client {
        Client {
            authority: authority.to_owned(),
            conn: None,
            buf: vec![0; MAX_HEAD],
            filled: 0,
            reconnects: 0,
        }
    }

    /// GETs `path`; keeps the body if `keep`. A 200 is required. A request
    /// on a kept-alive connection the server had closed is retried once on
    /// a new one.
    pub(crate) async fn get(&mut self, path: &str, keep: bool) -> Result<Answer, HttpError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.get_inner(path, keep)).await {
            Ok(r) => r,
            Err(_) => {
                self.conn = None;
                Err(HttpError::Timeout)
            }
        }
    }

    async fn get_inner(&mut self, path: &str, keep: bool) -> Result<Answer, HttpError> {
        let reused = self.conn.is_some();
        match self.exchange(path, keep).await {
            Err(HttpError::Io(e)) if reused && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.exchange(path, keep).await
            }
            r => r,
        }
    }

    async fn exchange(&mut self, path: &str, keep: bool) -> Result<Answer, HttpError> {
        if self.conn.is_none() {
            let socket = TcpStream::connect(&self.authority).await?;
            socket.set_nodelay(true)?;
            self.conn = Some(socket);
            self.filled = 0;
        }
        let result = self.exchange_on_conn(path, keep).await;
        if result.is_err() {
            // Whatever state the connection is in, it is not reusable.
            if self.conn.take().is_some() {
                self.reconnects += 1;
            }
        }
        result
    }

    async fn exchange_on_conn(&mut self, path: &str, keep: bool) -> Result<Answer, HttpError> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: weir-bench\r\nAccept: */*\r\n\r\n",
            self.authority
        );
        let Some(conn) = self.conn.as_mut() else {
            return Err(HttpError::Protocol("not connected"));
        };
        conn.write_all(request.as_bytes()).await?;
        // The head.
        let mut head = Vec::new();
        let end = loop {
            if let Some(end) = find_head_end(&self.buf[..self.filled]) {
                head.extend_from_slice(&self.buf[..end]);
                break end;
            }
            if self.filled == self.buf.len() {
                return Err(HttpError::Protocol("response head too long"));
            }
            let n = conn.read(&mut self.buf[self.filled..]).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            self.filled += n;
        };
        self.buf.copy_within(end..self.filled, 0);
        self.filled -= end;
        let (status, mut framing, close) = parse_head(&head)?;
        // The body (read even for an error status, to keep the connection).
        let mut body = Vec::new();
        let mut len = 0u64;
        let mut scratch = Vec::new();
        loop {
            let take = match &framing {
                Framing::Length(left) => usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(self.filled),
                _ => self.filled,
            };
            if take > 0 {
                let data = &self.buf[..take];
                match &mut framing {
                    Framing::Chunked(dec) => {
                        scratch.clear();
                        dec.decode(data, &mut scratch)
                            .map_err(|_| HttpError::Protocol("bad chunked body"))?;
                        len += scratch.len() as u64;
                        if keep {
                            body.extend_from_slice(&scratch);
                        }
                    }
                    Framing::Length(left) => {
                        *left -= take as u64;
                        len += take as u64;
                        if keep {
                            body.extend_from_slice(data);
                        }
                    }
                    Framing::UntilClose => {
                        len += take as u64;
                        if keep {
                            body.extend_from_slice(data);
                        }
                    }
                }
                if body.len() > MAX_KEPT {
                    return Err(HttpError::Protocol("body too long"));
                }
                self.buf.copy_within(take..self.filled, 0);
                self.filled -= take;
            }
            let done = match &framing {
                Framing::Length(left) => *left == 0,
                Framing::Chunked(dec) => dec.is_done(),
                Framing::UntilClose => false,
            };
            if done {
                break;
            }
            let n = conn.read(&mut self.buf[self.filled..]).await?;
            if n == 0 {
                if matches!(framing, Framing::UntilClose) {
                    self.conn = None;
                    break;
                }
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            self.filled += n;
        }
        if close {
            self.conn = None;
        }
        if status != 200 {
            return Err(HttpError::Status(status));
        }
        Ok(Answer { body, len })
    }
}

/// Offset just past the blank line ending the head.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Status, body framing and whether the server closes after this answer.
fn parse_head(head: &[u8]) -> Result<(u16, Framing, bool), HttpError> {
    let bad = HttpError::Protocol;
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut words = status_line.split(' ');
    let version = words.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1.x response"));
    }
    let status: u16 = words
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or(bad("bad status line"))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<u64>()
                    .map_err(|_| bad("bad content-length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            close = v.contains("close") || (close && !v.contains("keep-alive"));
        }
    }
    let framing = if chunked {
        Framing::Chunked(ChunkedDecoder::default())
    } else if let Some(n) = length {
        Framing::Length(n)
    } else if status == 204 || status == 304 {
        Framing::Length(0)
    } else {
        close = true;
        Framing::UntilClose
    };
    Ok((status, framing, close))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn heads() {
        let (s, f, c) = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n").unwrap();
        assert!(matches!((s, f, c), (200, Framing::Length(12), false)));
        let (_, f, _) =
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(matches!(f, Framing::Chunked(_)));
        let (_, f, c) = parse_head(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        assert!(matches!((f, c), (Framing::UntilClose, true)));
        let (s, _, c) =
            parse_head(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
        assert_eq!((s, c), (404, true));
        assert!(parse_head(b"ICY 200 OK\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n").is_err());
        assert!(parse_head(&[0xff, 0xfe]).is_err());
    }

    /// A server answering two requests on one connection (the first body
    /// by length, the second chunked, split across writes), then closing;
    /// the client's third request reconnects.
    #[tokio::test]
    async fn keep_alive_and_reconnect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            for round in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                let answers: &[&[&[u8]]] = if round == 0 {
                    &[
                        &[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel", b"lo"],
                        &[
                            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc",
                            b"\r\n2\r\nde\r\n0\r\n\r\n",
                        ],
                    ]
                } else {
                    &[&[b"HTTP/1.1 503 Busy\r\ncontent-length: 2\r\n\r\nno"]]
                };
                for answer in answers {
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = s.read(&mut buf).await.unwrap();
                        got.extend_from_slice(&buf[..n]);
                    }
                    got.clear();
                    for piece in *answer {
                        s.write_all(piece).await.unwrap();
                        s.flush().await.unwrap();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        });
        let mut c = Client::new(&addr);
        let a = c.get("/a", true).await.unwrap();
        assert_eq!((a.body.as_slice(), a.len), (&b"hello"[..], 5));
        let a = c.get("/b", false).await.unwrap();
        assert_eq!((a.body.len(), a.len), (0, 5));
        match c.get("/c", true).await {
            Err(HttpError::Status(503)) => {}
            r => panic!("{r:?}"),
        }
        server.await.unwrap();
    }
}
