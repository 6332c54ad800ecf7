//! Push (restream): weir publishes a live stream to other servers —
//! YouTube, Twitch, another weir, nginx-rtmp — with its own RTMP client
//! (`weir-rtmp-client`: `rtmp://`, `rtmps://`, `rtmpe://`, `rtmpt://`,
//! `rtmpts://`).
//!
//! - **Which.** `[[push]]` entries choose streams by `app` and/or
//!   `streams` patterns (`*` wildcards) and give a `url` template
//!   (`{app}`, `{stream}`); every publish of a chosen stream starts a push
//!   per entry, which ends with the publish ([`weir_hub::Hub::watch_publish`]).
//!   Pushes added through the API ([`Pushes::add`]) are for one stream and
//!   last until deleted: each publish of the stream is pushed.
//! - **Independent.** Each (stream, destination) is one task with its own
//!   hub subscription ([`weir_hub::Hub::admit_internal`] as `push`): a
//!   destination that is slow skips to the next keyframe like any slow
//!   viewer (the hub never waits), one that stalls hits
//!   [`WRITE_TIMEOUT`] (or [`CONNECT_TIMEOUT`] while connecting) and
//!   reconnects. Nothing a destination does reaches the source, the
//!   viewers or the other destinations.
//! - **Reconnect.** A failed connection is retried after 1 s, doubling to
//!   30 s, jittered ([`weir_netio::backoff`]), for as long as the source
//!   is live; a connection that pushed for 5 s resets the schedule. Each
//!   connection starts at the stream's latest keyframe, with its headers,
//!   and its timestamps at 0.
//! - **Seen.** State, last error, bit rate, bytes and reconnects per push
//!   ([`PushStatus`]); counters of every push together ([`PushStats`],
//!   `weir_push_*`). A failing push logs at most one line a minute.
//!
//! A push does not count as demand for an on-demand camera pull: it
//! pushes what is live. Destination URLs carry stream keys, so logs and
//! the API show them redacted ([`redact`]).

#![warn(missing_docs, unreachable_pub)]

mod config;
mod error;
mod manager;
mod session;
mod status;

pub use config::{check_template, expand, redact, PushConfig};
pub use error::{PushError, ERROR_KINDS};
pub use manager::Pushes;
pub use session::{CONNECT_TIMEOUT, WRITE_TIMEOUT};
pub use status::{PushState, PushStats, PushStatus, LOG_EVERY};
