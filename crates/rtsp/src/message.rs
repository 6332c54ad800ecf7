//! RTSP 1.0 messages (RFC 2326 §4–§7) and the `$`-framed interleaved binary
//! data (§10.12) that shares the TCP stream with them.
//!
//! Written here rather than with `rtsp-types`: its parser takes a whole
//! message and has no limits on line length, header count or body size, and
//! its errors do not say which status a server should answer. A server reading
//! a socket needs "need more bytes" versus "refuse with 400/413/505" decided
//! before anything is buffered without bound, and it needs the interleaved
//! frames (which `rtsp-types` also handles, but through the same unbounded
//! path) on the same cursor.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::RtspError;

/// Size limits for what a peer may send, checked before anything is kept.
///
/// The defaults are generous for real clients (ffmpeg's and GStreamer's
/// requests are a few hundred bytes; a camera's SDP a few KiB) and small
/// enough that a thousand hostile connections cost a few MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest start or header line in bytes (default 4 KiB: URLs with a
    /// signed query string fit, a 100 kB request line does not).
    pub max_line: usize,
    /// Most header lines in one message (default 64).
    pub max_headers: usize,
    /// Largest head (start line plus headers) in bytes (default 16 KiB).
    pub max_head: usize,
    /// Largest body in bytes (default 64 KiB, ample for any SDP).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 4096,
            max_headers: 64,
            max_head: 16 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// An RTSP method. Unknown methods are kept so a server can answer 501.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `OPTIONS`
    Options,
    /// `DESCRIBE`
    Describe,
    /// `ANNOUNCE`
    Announce,
    /// `SETUP`
    Setup,
    /// `PLAY`
    Play,
    /// `PAUSE`
    Pause,
    /// `RECORD`
    Record,
    /// `TEARDOWN`
    Teardown,
    /// `GET_PARAMETER`
    GetParameter,
    /// `SET_PARAMETER`
    SetParameter,
    /// `REDIRECT`
    Redirect,
    /// Anything else, verbatim.
    Other(String),
}

impl Method {
    fn parse(s: &str) -> Method {
        match s {
            "OPTIONS" => Method::Options,
            "DESCRIBE" => Method::Describe,
            "ANNOUNCE" => Method::Announce,
            "SETUP" => Method::Setup,
            "PLAY" => Method::Play,
            "PAUSE" => Method::Pause,
            "RECORD" => Method::Record,
            "TEARDOWN" => Method::Teardown,
            "GET_PARAMETER" => Method::GetParameter,
            "SET_PARAMETER" => Method::SetParameter,
            "REDIRECT" => Method::Redirect,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method's name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Options => "OPTIONS",
            Method::Describe => "DESCRIBE",
            Method::Announce => "ANNOUNCE",
            Method::Setup => "SETUP",
            Method::Play => "PLAY",
            Method::Pause => "PAUSE",
            Method::Record => "RECORD",
            Method::Teardown => "TEARDOWN",
            Method::GetParameter => "GET_PARAMETER",
            Method::SetParameter => "SET_PARAMETER",
            Method::Redirect => "REDIRECT",
            Method::Other(s) => s,
        }
    }
}

/// Header fields in arrival order. Names compare case-insensitively, as
/// RFC 2326 §4.2 says; a list rather than a map because headers are few and
/// order matters when writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (e.g. several `WWW-Authenticate`).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds a field, keeping any existing one of the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Replaces every field of that name with one value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.0.push((name, value.into()));
    }

    /// Removes every field of that name.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `CSeq` every request and response must carry (§12.17).
    pub fn cseq(&self) -> Option<u32> {
        self.get("CSeq")?.trim().parse().ok()
    }

    fn write(&self, body_len: usize, out: &mut Vec<u8>) {
        for (n, v) in &self.0 {
            if n.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if body_len > 0 {
            out.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// An RTSP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request URI as sent (`rtsp://host/app/stream/trackID=0`, or `*`).
    pub uri: String,
    /// Header fields.
    pub headers: Headers,
    /// The body (an SDP for ANNOUNCE, parameters for SET_PARAMETER).
    pub body: Bytes,
}

impl Request {
    /// A request with no headers but `CSeq`, for the pull client.
    pub fn new(method: Method, uri: impl Into<String>, cseq: u32) -> Self {
        let mut headers = Headers::new();
        headers.append("CSeq", cseq.to_string());
        Request {
            method,
            uri: uri.into(),
            headers,
            body: Bytes::new(),
        }
    }

    /// Appends the wire form; `Content-Length` is written from the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_bytes());
        out.extend_from_slice(b" RTSP/1.0\r\n");
        self.headers.write(self.body.len(), out);
        out.extend_from_slice(&self.body);
    }
}

/// An RTSP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code (200, 401, 454...).
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields.
    pub headers: Headers,
    /// The body (an SDP for DESCRIBE).
    pub body: Bytes,
}

impl Response {
    /// A response to a request with that `CSeq` (echoed as §12.17 requires),
    /// with the standard reason phrase for `status`.
    pub fn new(status: u16, cseq: Option<u32>) -> Self {
        let mut headers = Headers::new();
        if let Some(cseq) = cseq {
            headers.append("CSeq", cseq.to_string());
        }
        Response {
            status,
            reason: reason_phrase(status).to_owned(),
            headers,
            body: Bytes::new(),
        }
    }

    /// Appends the wire form; `Content-Length` is written from the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("RTSP/1.0 {} {}\r\n", self.status, self.reason).as_bytes());
        self.headers.write(self.body.len(), out);
        out.extend_from_slice(&self.body);
    }
}

/// The reason phrase RFC 2326 §7.1.1 gives a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        451 => "Parameter Not Understood",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        456 => "Header Field Not Valid for Resource",
        457 => "Invalid Range",
        459 => "Aggregate Operation Not Allowed",
        460 => "Only Aggregate Operation Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "RTSP Version Not Supported",
        _ => "Unknown",
    }
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Sent by a client (or by a server, e.g. GET_PARAMETER keep-alives).
    Request(Request),
    /// An answer.
    Response(Response),
}

/// One item read from an RTSP TCP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A complete RTSP message.
    Message(Message),
    /// A `$`-framed interleaved packet: RTP or RTCP on `channel`.
    Interleaved {
        /// The channel byte (the `interleaved=` numbers of a SETUP).
        channel: u8,
        /// The packet, without the 4-byte frame header.
        data: Bytes,
    },
}

/// Reads [`Item`]s from the bytes of an RTSP TCP connection.
///
/// Call [`Decoder::decode`] whenever bytes arrive; it consumes one complete
/// item from the front of the buffer, or nothing when more bytes are needed.
/// The buffer never has to hold more than `max_head + max_body` bytes (or a
/// 64 KiB interleaved frame), because an over-limit item is an error as soon
/// as it is recognisable.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    limits: Limits,
    scan: Scan,
}

impl Decoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            scan: Scan::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes one item off the front of `buf`: `Ok(None)` means "need more
    /// bytes" (nothing consumed). After an error the connection should be
    /// answered with [`RtspError::status`] and closed: the stream is no
    /// longer in sync. Use one decoder per connection and pass the same
    /// buffer every time, only appending to it in between: the decoder
    /// remembers how far it has looked.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, RtspError> {
        // Some clients send stray CR/LF between messages (keep-alives).
        let skip = buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        buf.advance(skip);
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if first == b'$' {
            if buf.len() < 4 {
                return Ok(None);
            }
            let channel = buf[1];
            let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() < 4 + len {
                return Ok(None);
            }
            buf.advance(4);
            let data = buf.split_to(len).freeze();
            return Ok(Some(Item::Interleaved { channel, data }));
        }
        let Some(head_len) = self.head_len(buf)? else {
            return Ok(None);
        };
        let body_len = match self.scan.body_len {
            Some(len) => len,
            None => {
                let head = parse_head(&buf[..head_len], &self.limits)?;
                let len = self.content_length(&head.headers)?;
                self.scan.body_len = Some(len);
                len
            }
        };
        if buf.len() < head_len + body_len {
            return Ok(None);
        }
        // Parsed a second time now that it is complete, rather than kept
        // across calls: twice per message is cheap, and the state stays small.
        let head = parse_head(&buf[..head_len], &self.limits)?;
        buf.advance(head_len);
        self.scan = Scan::default();
        let body = buf.split_to(body_len).freeze();
        let message = match head.start {
            Start::Request { method, uri } => Message::Request(Request {
                method,
                uri,
                headers: head.headers,
                body,
            }),
            Start::Response { status, reason } => Message::Response(Response {
                status,
                reason,
                headers: head.headers,
                body,
            }),
        };
        Ok(Some(Item::Message(message)))
    }

    /// Where the head ends (after the blank line), checking the line and
    /// head limits on what is there so far.
    fn content_length(&self, headers: &Headers) -> Result<usize, RtspError> {
        let Some(v) = headers.get("Content-Length") else {
            return Ok(0);
        };
        let len: u64 = v.trim().parse().map_err(|_| RtspError::Header {
            header: "Content-Length",
            reason: "not a number",
        })?;
        if len > self.limits.max_body as u64 {
            return Err(RtspError::BodyTooLarge {
                len,
                limit: self.limits.max_body,
            });
        }
        Ok(len as usize)
    }

    fn head_len(&mut self, buf: &[u8]) -> Result<Option<usize>, RtspError> {
        if let Some(end) = self.scan.head_end {
            return Ok(Some(end));
        }
        let limits = self.limits;
        let scan = &mut self.scan;
        while scan.pos < buf.len() {
            let i = scan.pos;
            scan.pos += 1;
            // +1 for the CR that may end the line.
            if i - scan.line_start > limits.max_line + 1 {
                return Err(RtspError::LineTooLong {
                    limit: limits.max_line,
                });
            }
            if i >= limits.max_head {
                return Err(RtspError::HeadTooLarge {
                    limit: limits.max_head,
                });
            }
            if buf[i] != b'\n' {
                continue;
            }
            let line = &buf[scan.line_start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                scan.head_end = Some(i + 1);
                return Ok(Some(i + 1));
            }
            if line.len() > limits.max_line {
                return Err(RtspError::LineTooLong {
                    limit: limits.max_line,
                });
            }
            scan.lines += 1;
            // The start line is not a header.
            if scan.lines > limits.max_headers + 1 {
                return Err(RtspError::TooManyHeaders {
                    limit: limits.max_headers,
                });
            }
            scan.line_start = i + 1;
        }
        if buf.len() - scan.line_start > limits.max_line {
            return Err(RtspError::LineTooLong {
                limit: limits.max_line,
            });
        }
        Ok(None)
    }
}

/// How far the head of the message at the front of the buffer has been
/// scanned, so bytes arriving one at a time are each looked at once, not
/// once per arrival (a slow sender must not cost quadratic work).
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    pos: usize,
    line_start: usize,
    lines: usize,
    head_end: Option<usize>,
    body_len: Option<usize>,
}

enum Start {
    Request { method: Method, uri: String },
    Response { status: u16, reason: String },
}

struct Head {
    start: Start,
    headers: Headers,
}

fn parse_head(head: &[u8], limits: &Limits) -> Result<Head, RtspError> {
    let text = std::str::from_utf8(head).map_err(|_| RtspError::Malformed("head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    // A bare CR or other control character inside a line is refused rather
    // than kept: values may be echoed into responses and logs.
    if lines
        .clone()
        .any(|l| l.chars().any(|c| c != '\t' && c.is_ascii_control()))
    {
        return Err(RtspError::Malformed("control character in the head"));
    }
    let start_line = lines.next().unwrap_or_default();
    let start = parse_start(start_line)?;
    let mut headers = Headers::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding: continue the previous value.
            let Some(last) = headers.0.last_mut() else {
                return Err(RtspError::Malformed("continuation line before any header"));
            };
            let more = line.trim();
            if !more.is_empty() && !last.1.is_empty() {
                last.1.push(' ');
            }
            last.1.push_str(more);
            if last.1.len() > limits.max_line {
                return Err(RtspError::LineTooLong {
                    limit: limits.max_line,
                });
            }
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(RtspError::Malformed("header line without a colon"))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(RtspError::Malformed("bad header name"));
        }
        headers.append(name, value.trim());
    }
    Ok(Head { start, headers })
}

fn parse_start(line: &str) -> Result<Start, RtspError> {
    if let Some(rest) = line.strip_prefix("RTSP/") {
        let (version, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        check_version(version)?;
        let rest = rest.trim_start();
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status: u16 = code
            .parse()
            .ok()
            .filter(|s| (100..1000).contains(s))
            .ok_or(RtspError::Malformed("bad status code"))?;
        return Ok(Start::Response {
            status,
            reason: reason.trim().to_owned(),
        });
    }
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RtspError::Malformed(
            "request line is not METHOD URI VERSION",
        ));
    };
    if !method.bytes().all(is_token_byte) {
        return Err(RtspError::Malformed("bad method"));
    }
    let version = version
        .strip_prefix("RTSP/")
        .ok_or_else(|| RtspError::Version(version.to_owned()))?;
    check_version(version)?;
    Ok(Start::Request {
        method: Method::parse(method),
        uri: uri.to_owned(),
    })
}

fn check_version(v: &str) -> Result<(), RtspError> {
    if v == "1.0" {
        Ok(())
    } else {
        Err(RtspError::Version(format!("RTSP/{v}")))
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Appends a `$`-framed interleaved packet (RFC 2326 §10.12).
///
/// Fails for packets over 65,535 bytes, which the 16-bit length cannot say.
pub fn write_interleaved(channel: u8, data: &[u8], out: &mut Vec<u8>) -> Result<(), RtspError> {
    let len = u16::try_from(data.len())
        .map_err(|_| RtspError::Write("interleaved frame over 65535 bytes"))?;
    out.push(b'$');
    out.push(channel);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// The 4-byte frame header alone, for vectored writes that send the shared
/// packet bytes without copying them.
pub fn interleaved_header(channel: u8, len: u16) -> [u8; 4] {
    let l = len.to_be_bytes();
    [b'$', channel, l[0], l[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Item>, RtspError> {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(input);
        let mut items = Vec::new();
        while let Some(item) = d.decode(&mut buf)? {
            items.push(item);
        }
        Ok(items)
    }

    #[test]
    fn parses_request_with_body_and_interleaved_frame() {
        let input = b"ANNOUNCE rtsp://h/live/a RTSP/1.0\r\nCSeq: 2\r\ncontent-length: 3\r\n\r\nabc$\x01\x00\x02hi";
        let items = decode_all(input).unwrap();
        assert_eq!(items.len(), 2);
        let Item::Message(Message::Request(r)) = &items[0] else {
            panic!("not a request");
        };
        assert_eq!(r.method, Method::Announce);
        assert_eq!(r.uri, "rtsp://h/live/a");
        assert_eq!(r.headers.cseq(), Some(2));
        assert_eq!(&r.body[..], b"abc");
        assert_eq!(
            items[1],
            Item::Interleaved {
                channel: 1,
                data: Bytes::from_static(b"hi")
            }
        );
    }

    #[test]
    fn needs_more_until_complete_at_every_split() {
        let input = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 2\r\n\r\nok";
        for cut in 0..input.len() {
            let mut d = Decoder::default();
            let mut buf = BytesMut::from(&input[..cut]);
            assert_eq!(d.decode(&mut buf).unwrap(), None, "cut {cut}");
            assert_eq!(
                buf.len(),
                cut - input[..cut]
                    .iter()
                    .take_while(|&&b| b == b'\r' || b == b'\n')
                    .count()
            );
        }
        assert_eq!(decode_all(input).unwrap().len(), 1);
    }

    #[test]
    fn folded_header_lines_join() {
        let input = b"OPTIONS * RTSP/1.0\r\nCSeq:\r\n 7\r\nX: a\r\n\tb\r\n  \r\n\r\n";
        let Item::Message(Message::Request(r)) = decode_all(input).unwrap().remove(0) else {
            panic!("not a request");
        };
        assert_eq!(r.headers.cseq(), Some(7));
        assert_eq!(r.headers.get("x"), Some("a b"));
    }

    #[test]
    fn one_byte_at_a_time() {
        let input = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n$\x00\x00\x01x\r\nSET_PARAMETER * RTSP/1.0\r\nContent-Length: 3\r\n\r\nabc";
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(item) = d.decode(&mut buf).unwrap() {
                items.push(item);
            }
        }
        assert_eq!(items, decode_all(input).unwrap());
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn parses_and_writes_response() {
        let mut r = Response::new(200, Some(5));
        r.headers.append("Session", "abc;timeout=60");
        r.body = Bytes::from_static(b"v=0\r\n");
        let mut out = Vec::new();
        r.write(&mut out);
        let items = decode_all(&out).unwrap();
        r.headers.append("Content-Length", "5");
        assert_eq!(items, vec![Item::Message(Message::Response(r))]);
    }

    #[test]
    fn request_round_trips() {
        let mut r = Request::new(Method::Setup, "rtsp://h/a/trackID=0", 3);
        r.headers
            .append("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1");
        let mut out = Vec::new();
        r.write(&mut out);
        assert_eq!(
            decode_all(&out).unwrap(),
            vec![Item::Message(Message::Request(r))]
        );
    }

    #[test]
    fn limits_give_the_right_status() {
        let long = format!("DESCRIBE rtsp://h/{} RTSP/1.0\r\n", "a".repeat(100_000));
        let e = decode_all(long.as_bytes()).unwrap_err();
        assert_eq!(e, RtspError::LineTooLong { limit: 4096 });
        assert_eq!(e.status(), 400);
        // Even without a newline yet, a long line is refused early.
        let e = decode_all(&long.as_bytes()[..5000]).unwrap_err();
        assert_eq!(e.status(), 400);

        let mut many = String::from("OPTIONS * RTSP/1.0\r\n");
        for i in 0..1000 {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        assert!(matches!(
            decode_all(many.as_bytes()).unwrap_err(),
            RtspError::TooManyHeaders { .. } | RtspError::HeadTooLarge { .. }
        ));

        let big = b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 99999999\r\n\r\n";
        let e = decode_all(big).unwrap_err();
        assert_eq!(e.status(), 413);

        let v2 = b"OPTIONS * RTSP/2.0\r\n\r\n";
        assert_eq!(decode_all(v2).unwrap_err().status(), 505);
        let http = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(decode_all(http).unwrap_err().status(), 505);
        assert_eq!(
            decode_all(b"\x00\x01garbage\r\n\r\n").unwrap_err().status(),
            400
        );
        let cr = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\rX: y\r\n\r\n";
        assert_eq!(decode_all(cr).unwrap_err().status(), 400);
    }

    #[test]
    fn interleaved_header_matches_write() {
        let mut out = Vec::new();
        write_interleaved(3, b"xyz", &mut out).unwrap();
        assert_eq!(out[..4], interleaved_header(3, 3));
        assert!(write_interleaved(0, &vec![0; 70_000], &mut out).is_err());
    }
}
