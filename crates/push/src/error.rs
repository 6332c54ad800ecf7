//! The one error type of this crate.

use std::time::Duration;

use weir_rtmp_client::ClientError;

/// What went wrong with a push's configuration or one of its connections.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The destination URL (or template) is not one weir can push to.
    #[error("invalid push URL {url}: {reason}")]
    BadUrl {
        /// The URL, its stream name and query redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// Another setting is wrong.
    #[error("invalid push setting: {0}")]
    BadSetting(String),
    /// An API push of this stream to this URL exists already (its id).
    #[error("push {0} already pushes this stream there")]
    AlreadyExists(u64),
    /// The push comes from `[[push]]`: only the configuration removes it.
    #[error("push {0} is configured in [[push]]: remove it from the configuration")]
    Configured(u64),
    /// The destination could not be reached (refused, unreachable, name
    /// not resolved).
    #[error("connecting: {0}")]
    Connect(String),
    /// TLS failed (`rtmps://`: certificate, server name).
    #[error("TLS: {0}")]
    Tls(String),
    /// The destination refused the publish (a wrong stream key, an
    /// unknown app): its status code and description.
    #[error("refused: {code}: {description}")]
    Refused {
        /// Status code, e.g. `NetStream.Publish.BadName`.
        code: String,
        /// The server's description.
        description: String,
    },
    /// A step took too long: the destination stalled.
    #[error("timed out {what} (after {after:?})")]
    Timeout {
        /// The step.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// Reading or writing the connection failed.
    #[error("{context}: {message}")]
    Io {
        /// What the push was doing.
        context: &'static str,
        /// The OS error.
        message: String,
    },
    /// The destination broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The destination closed the connection.
    #[error("the destination closed the connection")]
    Closed,
}

/// The kinds [`PushError::kind`] names: the `kind` label of
/// `weir_push_errors_total`.
pub const ERROR_KINDS: [&str; 7] = [
    "connect", "tls", "refused", "timeout", "io", "protocol", "closed",
];

impl PushError {
    /// Which kind of failure this is, for `/metrics`: one of
    /// [`ERROR_KINDS`] (`"config"` for the configuration errors, which are
    /// refused before any push starts).
    pub fn kind(&self) -> &'static str {
        match self {
            PushError::BadUrl { .. }
            | PushError::BadSetting(_)
            | PushError::AlreadyExists(_)
            | PushError::Configured(_) => "config",
            PushError::Connect(_) => "connect",
            PushError::Tls(_) => "tls",
            PushError::Refused { .. } => "refused",
            PushError::Timeout { .. } => "timeout",
            PushError::Io { .. } => "io",
            PushError::Protocol(_) => "protocol",
            PushError::Closed => "closed",
        }
    }

    /// The client's error, its URL never echoed (it holds the key).
    pub(crate) fn from_client(e: ClientError, timeout: Duration) -> Self {
        match e {
            ClientError::Url { reason, .. } => PushError::BadUrl {
                url: String::new(),
                reason,
            },
            ClientError::Tls(m) => PushError::Tls(m),
            ClientError::Io { context, source }
                if context == "connecting" || context.starts_with("opening") =>
            {
                PushError::Connect(source.to_string())
            }
            ClientError::Io { context, source } => PushError::Io {
                context,
                message: source.to_string(),
            },
            ClientError::Protocol(m) => PushError::Protocol(m),
            ClientError::Refused { code, description } => PushError::Refused { code, description },
            ClientError::Timeout(what) => PushError::Timeout {
                what,
                after: timeout,
            },
            ClientError::Closed => PushError::Closed,
        }
    }
}
