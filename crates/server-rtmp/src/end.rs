//! Why a connection ended: for its close log line and the `/metrics`
//! error counters.

use weir_rtmp::error::{ChunkError, SessionError};

/// Why a connection ended, for the close log line.
#[derive(Debug)]
pub(crate) enum End {
    PeerClosed,
    Shutdown,
    Kicked,
    TakenOver,
    Timeout(&'static str),
    Protocol(String),
    /// The peer's input crossed a configured limit (the limit's name).
    Limit(&'static str, String),
    /// The access check refused a publish or play.
    Denied(String),
    Io(std::io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::PeerClosed => f.write_str("peer closed"),
            End::Shutdown => f.write_str("server shutdown"),
            End::Kicked => f.write_str("kicked"),
            End::TakenOver => f.write_str("publisher taken over or dropped"),
            End::Timeout(what) => write!(f, "{what} timeout"),
            End::Protocol(e) => write!(f, "protocol error: {e}"),
            End::Limit(limit, e) => write!(f, "{limit} exceeded: {e}"),
            End::Denied(why) => write!(f, "access denied: {why}"),
            End::Io(e) => write!(f, "io error: {e}"),
        }
    }
}

impl From<std::io::Error> for End {
    fn from(e: std::io::Error) -> Self {
        End::Io(e)
    }
}

impl From<weir_netio::PassFailed> for End {
    fn from(e: weir_netio::PassFailed) -> Self {
        End::Io(std::io::Error::other(e))
    }
}

/// How a session error ends the connection: limits by name, anything else
/// as a protocol error.
pub(crate) fn end_of(e: SessionError) -> End {
    match &e {
        SessionError::Chunk(ChunkError::MessageTooLong { .. }) => {
            End::Limit("max_message_len", e.to_string())
        }
        SessionError::Chunk(ChunkError::TooManyChunkStreams { .. }) => {
            End::Limit("max_chunk_streams", e.to_string())
        }
        _ => End::Protocol(e.to_string()),
    }
}

/// The `/metrics` error kind of a connection that ended badly: timeouts by
/// what timed out, peer input the session refused (during the handshake or
/// after it). Clean ends and socket errors are not counted: a peer that
/// hangs up is not a failure of the server or the encoder's protocol.
pub(crate) fn error_kind(end: &End, handshake_done: bool) -> Option<&'static str> {
    match end {
        End::Timeout("handshake") => Some("handshake_timeout"),
        End::Timeout("idle") => Some("idle_timeout"),
        End::Timeout("write") => Some("write_timeout"),
        End::Timeout(_) => Some("timeout"),
        End::Limit(limit, _) => Some(limit),
        End::Protocol(_) if handshake_done => Some("protocol"),
        End::Protocol(_) => Some("handshake"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ends_are_counted_by_kind() {
        assert_eq!(
            error_kind(&End::Timeout("handshake"), false),
            Some("handshake_timeout")
        );
        assert_eq!(
            error_kind(&End::Timeout("idle"), true),
            Some("idle_timeout")
        );
        assert_eq!(
            error_kind(&End::Timeout("write"), true),
            Some("write_timeout")
        );
        assert_eq!(
            error_kind(&End::Protocol("x".into()), false),
            Some("handshake")
        );
        assert_eq!(
            error_kind(&End::Protocol("x".into()), true),
            Some("protocol")
        );
        assert_eq!(
            error_kind(&End::Limit("max_message_len", "x".into()), true),
            Some("max_message_len")
        );
        assert_eq!(error_kind(&End::PeerClosed, true), None);
        assert_eq!(error_kind(&End::Kicked, true), None);
    }
}
