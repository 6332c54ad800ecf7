//! What can go wrong: refusals a client is told about ([`ChatError`], sent
//! as `error` events), reasons a connection is closed ([`CloseCode`]), and
//! moderation failures ([`ModError`]).

/// A client's message was refused. The connection stays open; the client
/// gets `{"type":"error","code":...,"message":...}` with [`ChatError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The frame is not UTF-8 (only possible in binary frames; WebSocket
    /// text frames are checked by the transport).
    #[error("message is not valid UTF-8 (invalid byte at offset {offset})")]
    InvalidUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// The frame is not a JSON object of the protocol.
    #[error("message is not valid JSON: {0}")]
    InvalidJson(String),
    /// The `type` is not one the server knows.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A field the type needs is missing.
    #[error("{kind} message needs a {field:?} field")]
    MissingField {
        /// The message type.
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// The frame or the text is longer than allowed.
    #[error("message too long ({len} > {max} {unit})")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
        /// What is counted: `"bytes"` (frame) or `"characters"` (text).
        unit: &'static str,
    },
    /// Nothing but whitespace.
    #[error("empty message")]
    Empty,
    /// The text contains a banned word.
    #[error("message contains a banned word")]
    BannedWord,
    /// The connection sends faster than the rate limit.
    #[error("too many messages; retry in {retry_ms} ms")]
    RateLimited {
        /// When the next message would be accepted.
        retry_ms: u64,
    },
    /// A moderator muted this user.
    #[error("you are muted until {until_ms} (unix ms)")]
    Muted {
        /// When the mute ends, wall-clock ms.
        until_ms: u64,
    },
    /// The nickname breaks the rules.
    #[error("nickname not allowed: {0}")]
    BadNick(&'static str),
    /// Somebody in the room already has this nickname.
    #[error("nickname {0:?} is taken in this room")]
    NickTaken(String),
    /// `join` after joining or after chatting as a guest.
    #[error("already joined as {0:?}")]
    AlreadyJoined(String),
    /// The room admits only users with a join token, and this frame came
    /// before a `join` with a valid one.
    #[error("this room needs a join token: send {{\"type\":\"join\",\"nick\":...,\"token\":...}}")]
    TokenRequired,
    /// The token is malformed, or not signed for this room and nickname.
    #[error("invalid join token for this room and nickname")]
    BadToken,
    /// A genuine token whose time is up.
    #[error("join token expired at {expires} (unix seconds)")]
    TokenExpired {
        /// When it expired, unix seconds.
        expires: u64,
    },
}

impl ChatError {
    /// The machine-readable code sent as the error event's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::InvalidUtf8 { .. } => "invalid_utf8",
            ChatError::InvalidJson(_) => "invalid_json",
            ChatError::UnknownType(_) => "unknown_type",
            ChatError::MissingField { .. } => "missing_field",
            ChatError::TooLong { .. } => "too_long",
            ChatError::Empty => "empty",
            ChatError::BannedWord => "banned_word",
            ChatError::RateLimited { .. } => "rate_limited",
            ChatError::Muted { .. } => "muted",
            ChatError::BadNick(_) => "bad_nick",
            ChatError::NickTaken(_) => "nick_taken",
            ChatError::AlreadyJoined(_) => "already_joined",
            ChatError::TokenRequired => "token_required",
            ChatError::BadToken => "bad_token",
            ChatError::TokenExpired { .. } => "token_expired",
        }
    }
}

/// Why the server closes a chat connection: the WebSocket close code and
/// reason the client sees. Codes 4000-4999 are ours (RFC 6455 leaves them
/// to applications); a client should reconnect after all of them except
/// [`CloseCode::Kicked`] and [`CloseCode::Flooding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// The server is shutting down (1001).
    GoingAway,
    /// The room has `max_members` members (1013, try again later).
    RoomFull,
    /// Nothing received for the heartbeat timeout (4000).
    HeartbeatTimeout,
    /// The member's send queue overflowed: it cannot keep up (4001).
    TooSlow,
    /// A moderator kicked the user (4002).
    Kicked,
    /// Refused messages kept coming after the rate-limit errors (4003).
    Flooding,
    /// A frame larger than the transport accepts (1009).
    TooBig,
    /// The client broke the WebSocket protocol (1002).
    Protocol,
}

impl CloseCode {
    /// The numeric WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::GoingAway => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::TooBig => 1009,
            CloseCode::RoomFull => 1013,
            CloseCode::HeartbeatTimeout => 4000,
            CloseCode::TooSlow => 4001,
            CloseCode::Kicked => 4002,
            CloseCode::Flooding => 4003,
        }
    }

    /// The close reason text (short: a close frame allows 123 bytes).
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::GoingAway => "server shutting down",
            CloseCode::Protocol => "protocol error",
            CloseCode::TooBig => "frame too big",
            CloseCode::RoomFull => "room full",
            CloseCode::HeartbeatTimeout => "heartbeat timeout",
            CloseCode::TooSlow => "too slow: send queue overflowed",
            CloseCode::Kicked => "kicked by a moderator",
            CloseCode::Flooding => "flooding",
        }
    }
}

/// A moderation request that could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModError {
    /// Nobody with that nickname is in the room.
    #[error("no user {0:?} in this room")]
    NoSuchUser(String),
    /// The name cannot be anybody's (empty, too long, control
    /// characters).
    #[error("{0:?} is not a user name")]
    BadName(String),
    /// The message id is not in the room's history.
    #[error("no message {0} in this room's history")]
    NoSuchMessage(u64),
    /// A mute longer than allowed.
    #[error("mute of {minutes} minutes is longer than the maximum of {max}")]
    MuteTooLong {
        /// Requested minutes.
        minutes: u64,
        /// Longest mute.
        max: u64,
    },
}
