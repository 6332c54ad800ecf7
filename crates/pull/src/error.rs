//! The one error type of this crate.

use std::time::Duration;

use weir_media::{StreamKey, StreamKeyError};

/// What went wrong with a pull's configuration or one of its sessions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// `app`/`stream` do not make a stream name.
    #[error("invalid stream name {app}/{stream}: {source}")]
    BadName {
        /// The app given.
        app: String,
        /// The stream given.
        stream: String,
        /// Why it is not a name.
        source: StreamKeyError,
    },
    /// The source URL is not an `rtsp://` or `rtmp://` URL weir can pull.
    #[error("invalid camera URL {url}: {reason}")]
    BadUrl {
        /// The URL, password redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// Another setting is out of range.
    #[error("invalid pull setting: {0}")]
    BadSetting(String),
    /// A pull of this stream already exists.
    #[error("a pull of {0} already exists")]
    AlreadyExists(StreamKey),
    /// The RTSP client failed (connection, DESCRIBE, SETUP, PLAY, or the
    /// stream); retina's message.
    #[error("rtsp: {0}")]
    Rtsp(String),
    /// The RTMP client failed (connection, handshake, `connect`/`play`
    /// refused, a bad message) or the source server ended the stream.
    #[error("rtmp: {0}")]
    Rtmp(String),
    /// A step took too long.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// The step.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The camera offers no track weir reads (H.264/H.265 video, AAC or
    /// G.711 audio).
    #[error("the camera offers no track weir reads (SDP media: {0})")]
    NoTracks(String),
    /// Transport `auto`: RTP over UDP lost too many packets (the pull
    /// switches to TCP).
    #[error("{lost} RTP packets lost over UDP within {within:?}")]
    UdpLoss {
        /// Packets lost.
        lost: u64,
        /// The window they were lost in.
        within: Duration,
    },
    /// The source closed the stream (the camera, or the RTMP server's
    /// publisher left).
    #[error("the source ended the stream")]
    Ended,
    /// Another publisher took the stream over, or the API kicked the pull.
    #[error("publisher closed: {0}")]
    Closed(&'static str),
    /// The hub refused to publish.
    #[error("hub: {0}")]
    Hub(String),
}
