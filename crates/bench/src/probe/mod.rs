//! Sans-IO player protocol state: bytes read from a server go in, bytes to
//! write back and the video and audio frames seen come out.
//!
//! Every player, cheap or measuring, runs one of these; the async player
//! task only moves bytes. Keeping the protocol side free of sockets is what
//! lets the tests split a recorded server byte stream at every possible
//! read boundary.
//!
//! A *counting* probe stops interpreting the stream once playback started
//! (it only answers what keeps the connection alive), so that thousands of
//! players cost the tool little CPU; a *parsing* probe decodes every
//! message and reports each coded video and AAC frame's content key.

mod chunked;
mod http;
mod rtmp;
mod rtsp;

pub(crate) use chunked::ChunkedDecoder;
pub(crate) use http::HttpFlvProbe;
pub(crate) use rtmp::RtmpProbe;
pub(crate) use rtsp::RtspProbe;

use crate::marker::Seen;

/// Why a player gave up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    /// The RTMP session reported a protocol violation.
    #[error("rtmp: {0}")]
    Rtmp(String),
    /// The server refused to play (error status or `_error`).
    #[error("refused: {code}: {description}")]
    Refused {
        /// Status code, e.g. `NetStream.Play.StreamNotFound`.
        code: String,
        /// The server's text.
        description: String,
    },
    /// Bad HTTP response head or chunk framing.
    #[error("http: {what} at body offset {offset}")]
    Http {
        /// What was wrong.
        what: &'static str,
        /// Bytes of the response consumed before the problem.
        offset: u64,
    },
    /// The server answered with something other than 200.
    #[error("http status {0}")]
    Status(u16),
    /// The FLV stream inside the response is malformed.
    #[error("flv: {0}")]
    Flv(String),
    /// Bad RTSP framing, SDP or RTP, or an answer out of turn.
    #[error("rtsp: {0}")]
    Rtsp(String),
    /// The RTSP server answered with something other than 200.
    #[error("rtsp status {0}")]
    RtspStatus(u16),
}

/// One player's protocol state, whatever the protocol.
pub(crate) enum Probe {
    /// RTMP play.
    Rtmp(Box<RtmpProbe>),
    /// HTTP-FLV (plain or chunked response).
    HttpFlv(Box<HttpFlvProbe>),
    /// RTSP over TCP interleaved.
    Rtsp(Box<RtspProbe>),
}

impl Probe {
    /// Bytes to send right after connecting (C0+C1, the HTTP request or
    /// the RTSP DESCRIBE).
    pub(crate) fn start(&mut self, reply: &mut Vec<u8>) {
        match self {
            Probe::Rtmp(p) => p.start(reply),
            Probe::HttpFlv(p) => p.start(reply),
            Probe::Rtsp(p) => p.start(reply),
        }
    }

    /// Takes in bytes read from the server; appends what must be written
    /// back to `reply` and the kinds and keys of coded video and AAC frames
    /// to `seen`.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        reply: &mut Vec<u8>,
        seen: &mut Vec<Seen>,
    ) -> Result<(), ProbeError> {
        match self {
            Probe::Rtmp(p) => p.feed(data, reply, seen),
            Probe::HttpFlv(p) => p.feed(data, seen),
            Probe::Rtsp(p) => p.feed(data, reply, seen),
        }
    }

    /// Whether the server has started playback (Play.Start, a 200 to the
    /// GET or to PLAY).
    pub(crate) fn playing(&self) -> bool {
        match self {
            Probe::Rtmp(p) => p.playing(),
            Probe::HttpFlv(p) => p.playing(),
            Probe::Rtsp(p) => p.playing(),
        }
    }
}
