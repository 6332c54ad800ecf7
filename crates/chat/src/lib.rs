//! Live chat (danmaku) beside every stream, as a sans-IO core: rooms, the
//! JSON wire protocol, per-connection rate limits, text rules, a history
//! ring and moderation. No sockets, no tasks, no clock: the WebSocket
//! adapter (`weir-server-chat`) feeds frames and the current time in and
//! sends the bytes that come out.
//!
//! # Design
//!
//! * **Serialize once.** Every broadcast leaves [`Room`] as one [`Bytes`]
//!   of JSON; the adapter hands clones of it (reference-count increments)
//!   to every member. The history ring stores those same bytes, so the
//!   history a joiner gets is a concatenation, not a re-encoding.
//! * **The room holds the sinks.** [`Room<T>`] is generic over the
//!   adapter's per-member handle `T` (a bounded queue sender), so there is
//!   one member table, and fan-out is a walk over [`Room::sinks`].
//! * **Peer input never panics and memory is bounded.** Frames larger than
//!   the rules allow are refused before parsing; rooms have a member cap;
//!   history and mute tables are bounded.
//! * **Clusters relay, the room decides.** A room on several nodes
//!   exchanges [`RelayMsg`]s (what one node broadcast, and kicks), which
//!   [`Room::apply`] takes like any peer input; message ids stay unique
//!   across nodes through per-node slots ([`IdSource::for_node`]). The
//!   transport is the adapter's.
//! * **Time is passed in** as [`Now`]: wall-clock milliseconds for the
//!   timestamps users see, monotonic milliseconds for rate limits.
//!
//! The protocol is documented in `docs/chat.md`.

#![warn(missing_docs, unreachable_pub)]

mod config;
mod error;
mod gate;
mod limit;
mod protocol;
mod relay;
mod room;
mod text;
mod token;

pub use bytes::Bytes;
pub use config::{ChatConfig, ConfigError, Rules, MAX_HISTORY, MAX_NICK, MAX_TEXT_LIMIT};
pub use error::{ChatError, CloseCode, ModError};
pub use gate::{Entry, Gate};
pub use limit::TokenBucket;
pub use protocol::{parse_client, ClientMsg, ServerEvent};
pub use relay::{
    RelayError, RelayEvent, RelayMsg, MAX_MESSAGE_ID, MAX_RELAY_MSG, MAX_RELAY_USER, RELAY_VERSION,
};
pub use room::{
    moderated_name, mute_until, Action, ConnId, Greeting, IdSource, MemberInfo, Now, Refusal,
    Relayed, Room, MAX_MUTE_MINUTES,
};
pub use text::{name_key, normalize_text, validate_nick, BannedWords};
pub use token::{TokenKey, MAX_TOKEN_TTL_SECS};
