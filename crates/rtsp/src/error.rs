//! The one error type of this crate.

/// Why peer bytes (an RTSP message, a header, an SDP body, an RTP or RTCP
/// packet) were refused, or why our own output could not be built.
///
/// Errors about an RTSP request carry the status code a server should answer
/// with ([`RtspError::status`]), so the adapter never has to guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtspError {
    /// The start line or a header line is not RTSP syntax.
    #[error("malformed RTSP message: {0}")]
    Malformed(&'static str),
    /// The protocol version is not `RTSP/1.0`.
    #[error("unsupported RTSP version {0:?}")]
    Version(String),
    /// One line of the head is longer than the limit.
    #[error("RTSP line longer than {limit} bytes")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The head (start line and headers) is larger than the limit.
    #[error("RTSP head larger than {limit} bytes")]
    HeadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// More header lines than the limit.
    #[error("more than {limit} RTSP headers")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// `Content-Length` announces more than the body limit.
    #[error("RTSP body of {len} bytes exceeds the {limit} byte limit")]
    BodyTooLarge {
        /// The announced length.
        len: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A header's value could not be parsed.
    #[error("bad {header} header: {reason}")]
    Header {
        /// Header name.
        header: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// The SDP body could not be used.
    #[error("bad SDP at line {line}: {reason}")]
    Sdp {
        /// 1-based line number (0 when the body as a whole is at fault).
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// An RTP packet could not be parsed or depacketized.
    #[error("bad RTP packet: {0}")]
    Rtp(&'static str),
    /// An RTCP packet could not be parsed.
    #[error("bad RTCP packet: {0}")]
    Rtcp(&'static str),
    /// Something we were asked to write does not fit its wire format.
    #[error("cannot write: {0}")]
    Write(&'static str),
}

impl RtspError {
    /// The RTSP status a server answers a request with when parsing it failed
    /// this way: 505 for a foreign version, 413 for an oversized body, 400 for
    /// everything else (RTSP 1.0 has no 431; oversized heads are 400 too).
    pub fn status(&self) -> u16 {
        match self {
            RtspError::Version(_) => 505,
            RtspError::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }
}
