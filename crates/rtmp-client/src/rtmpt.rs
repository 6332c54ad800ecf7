//! RTMPT client side: an RTMP byte stream tunnelled through HTTP/1.1 POST
//! requests on one kept-alive connection.
//!
//! [`connect`] opens a session (`POST /open/1`) and returns an
//! [`RtmptStream`], which reads and writes like a socket: a task owns the
//! HTTP connection and sends what was written as `POST /send/{id}/{seq}`,
//! or, with nothing to send, polls with `POST /idle/{id}/{seq}` after the
//! wait the server's polling-interval byte asks for
//! ([`weir_rtmp::rtmpt::poll_delay`]), waking early when there is
//! something to send. Answers (after their interval byte) become what the
//! stream reads. Dropping the stream sends `POST /close/{id}/{seq}`.
//!
//! Between the task and the stream is a bounded in-memory pipe, so a
//! reader that stops reading stops the polling instead of growing a
//! buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use weir_rtmp::rtmpt::{check_session_id, poll_delay, CONTENT_TYPE};

use crate::Stream;

/// Bytes the pipe between the stream and its task holds each way; also
/// the most one send carries.
const PIPE_BYTES: usize = 256 * 1024;

/// Largest answer head read.
const MAX_HEAD: usize = 16 * 1024;

/// Largest answer body accepted.
const MAX_BODY: usize = 16 << 20;

/// How long one request may take once sent (a server holds an idle poll
/// for a moment; it never takes this long).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An RTMP byte stream over RTMPT. Reads and writes as a socket would.
pub struct RtmptStream {
    pipe: DuplexStream,
    session: String,
}

impl RtmptStream {
    /// The session id the server gave.
    pub fn session(&self) -> &str {
        &self.session
    }
}

/// Opens an RTMPT session on `host:port` (an HTTP listener) within
/// `timeout`.
pub async fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<RtmptStream> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting"))??;
    let _ = tcp.set_nodelay(true);
    connect_over(Box::new(tcp), host, port, timeout).await
}

/// Opens an RTMPT session over an HTTP connection already made to
/// `host:port`: a TLS stream for RTMPTS.
pub async fn connect_over(
    conn: Box<dyn Stream>,
    host: &str,
    port: u16,
    timeout: Duration,
) -> io::Result<RtmptStream> {
    let open = async {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut http = Http {
            tcp: conn,
            authority,
            head: Vec::new(),
        };
        let body = http.post("/open/1", &[0]).await?;
        let id = std::str::from_utf8(&body)
            .map(str::trim)
            .map_err(|_| bad("session id is not text"))?
            .to_owned();
        check_session_id(&id).map_err(|e| bad(&e.to_string()))?;
        Ok::<_, io::Error>((http, id))
    };
    let (http, id) = tokio::time::timeout(timeout, open)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "opening the RTMPT session"))??;
    let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(drive(http, id.clone(), theirs));
    Ok(RtmptStream {
        pipe: ours,
        session: id,
    })
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("rtmpt: {why}"))
}

/// The task behind a stream: sends what was written, polls otherwise,
/// until the stream is dropped or the server ends the session.
async fn drive(mut http: Http, id: String, mut pipe: DuplexStream) {
    let mut seq: u64 = 0;
    let mut delay = Duration::ZERO;
    let mut out = vec![0u8; PIPE_BYTES];
    loop {
        // What the stream's writer has for the server, waiting at most
        // the polling interval for it.
        let n = match tokio::time::timeout(delay, pipe.read(&mut out)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => 0,
        };
        seq += 1;
        let answer = if n > 0 {
            http.post(&format!("/send/{id}/{seq}"), &out[..n]).await
        } else {
            http.post(&format!("/idle/{id}/{seq}"), &[0]).await
        };
        let Ok(answer) = answer else {
            // The session is gone (404) or the connection failed: the
            // stream reads its end.
            return;
        };
        let Some((&interval, data)) = answer.split_first() else {
            return;
        };
        if !data.is_empty() && pipe.write_all(data).await.is_err() {
            break;
        }
        delay = if n > 0 || !data.is_empty() {
            Duration::ZERO
        } else {
            poll_delay(interval)
        };
    }
    seq += 1;
    let _ = http.post(&format!("/close/{id}/{seq}"), &[0]).await;
}

/// One kept-alive HTTP/1.1 connection (TCP, or TLS for RTMPTS), one
/// request at a time.
struct Http {
    tcp: Box<dyn Stream>,
    authority: String,
    /// Bytes read past the last answer (none from a well-behaved server).
    head: Vec<u8>,
}

impl Http {
    /// POSTs `body` to `path`; the answer's body, or an error for any
    /// status but 200.
    async fn post(&mut self, path: &str, body: &[u8]) -> io::Result<Vec<u8>> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(path, body))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "rtmpt request"))?
    }

    async fn exchange(&mut self, path: &str, body: &[u8]) -> io::Result<Vec<u8>> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {CONTENT_TYPE}\r\n\
             Content-Length: {}\r\nCache-Control: no-cache\r\n\r\n",
            self.authority,
            body.len()
        );
        let mut request = Vec::with_capacity(head.len() + body.len());
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(body);
        self.tcp.write_all(&request).await?;
        let end = loop {
            if let Some(i) = find(&self.head, b"\r\n\r\n") {
                break i + 4;
            }
            if self.head.len() > MAX_HEAD {
                return Err(bad("answer head too large"));
            }
            let mut piece = [0u8; 4096];
            let n = self.tcp.read(&mut piece).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.head.extend_from_slice(&piece[..n]);
        };
        let (status, len) = parse_head(&self.head[..end])?;
        if status != 200 {
            return Err(io::Error::other(format!("rtmpt: server answered {status}")));
        }
        let mut answer = self.head.split_off(end);
        self.head.clear();
        if answer.len() > len {
            self.head = answer.split_off(len);
        }
        let have = answer.len();
        answer.resize(len, 0);
        self.tcp.read_exact(&mut answer[have..]).await?;
        Ok(answer)
    }
}

/// The status and `Content-Length` of an answer head.
fn parse_head(head: &[u8]) -> io::Result<(u16, usize)> {
    let text = std::str::from_utf8(head).map_err(|_| bad("answer head is not text"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| {
            l.strip_prefix("HTTP/1.1 ")
                .or_else(|| l.strip_prefix("HTTP/1.0 "))
        })
        .and_then(|l| l.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let mut len = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                len = value.trim().parse::<usize>().ok();
            }
        }
    }
    // Errors may come without a body length; only a 200 needs one.
    let len = match (status, len) {
        (200, None) => return Err(bad("answer without Content-Length")),
        (_, len) => len.unwrap_or(0),
    };
    if len > MAX_BODY {
        return Err(bad("answer too large"));
    }
    Ok((status, len))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl AsyncRead for RtmptStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_read(cx, buf)
    }
}

impl AsyncWrite for RtmptStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().pipe).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn answer_heads() {
        let h = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-fcs\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(parse_head(h).unwrap(), (200, 12));
        let h = b"HTTP/1.1 200 OK\r\ncontent-length:3\r\n\r\n";
        assert_eq!(parse_head(h).unwrap(), (200, 3));
        assert_eq!(
            parse_head(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap(),
            (404, 0)
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(parse_head(huge.as_bytes()).is_err());
    }

    /// A scripted server: the stream opens, what is written goes out in a
    /// send, an idle poll's answer is what the stream reads, and dropping
    /// the stream closes the session.
    #[tokio::test]
    async fn requests_follow_the_protocol() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = Vec::new();
            loop {
                let Some((path, body)) = read_request(&mut tcp, &mut buf).await else {
                    return seen;
                };
                let answer: Vec<u8> = if path == "/open/1" {
                    b"s1\n".to_vec()
                } else if path.starts_with("/send/") {
                    [&[1u8][..], b"pong"].concat()
                } else {
                    vec![0x21]
                };
                let closing = path.starts_with("/close/");
                seen.push((path, body));
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    answer.len()
                );
                tcp.write_all(head.as_bytes()).await.unwrap();
                tcp.write_all(&answer).await.unwrap();
                if closing {
                    return seen;
                }
            }
        });
        let mut s = connect("127.0.0.1", port, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(s.session(), "s1");
        s.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got, b"pong");
        // Let it poll idle once or twice, then close.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(s);
        let seen = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen[0].0, "/open/1");
        assert_eq!(seen[1], ("/send/s1/1".to_owned(), b"ping".to_vec()));
        assert!(seen[2].0.starts_with("/idle/s1/2"), "{seen:?}");
        let last = seen.last().unwrap();
        assert!(last.0.starts_with("/close/s1/"), "{seen:?}");
        // Numbers go up by one.
        let nums: Vec<u64> = seen[1..]
            .iter()
            .map(|(p, _)| p.rsplit('/').next().unwrap().parse().unwrap())
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
    }

    async fn read_request(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
        let end = loop {
            if let Some(i) = find(buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut piece = [0u8; 4096];
            let n = tcp.read(&mut piece).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&piece[..n]);
        };
        let head = String::from_utf8(buf[..end].to_vec()).unwrap();
        let path = head.split(' ').nth(1).unwrap().to_owned();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        while buf.len() < end + len {
            let mut piece = [0u8; 4096];
            let n = tcp.read(&mut piece).await.ok()?;
            buf.extend_from_slice(&piece[..n]);
        }
        let body = buf[end..end + len].to_vec();
        buf.drain(..end + len);
        Some((path, body))
    }
}
