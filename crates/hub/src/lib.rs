//! The media hub: streams, GOP-aware fan-out, egress muxers, and the
//! registry of connected clients. It knows frames and stream keys, never a
//! protocol: ingest adapters hand it [`weir_media::Frame`]s, egress
//! adapters read them back (or read what a shared [`egress::Muxer`] made of
//! them).
//!
//! # Design
//!
//! The core is [`channel::Channel`], one broadcast primitive used twice:
//! each stream is a `Channel<StreamEvent>`, and each (stream, output format)
//! pair is a `Channel<M::Out>` filled by one muxer task. So a frame is
//! muxed once per format, not once per viewer, and every layer has the same
//! join and lag rules:
//!
//! * **Fan-out copies references.** A frame's payload is `Bytes`; giving it
//!   to a receiver is a reference-count increment.
//! * **A push is O(1).** The channel is a ring indexed by a sequence number
//!   and a receiver is only a cursor into it, so a push writes one slot,
//!   updates the GOP cache / header slots, bumps an atomic head and calls
//!   one `Notify::notify_waiters`. There is no per-receiver queue and no
//!   per-receiver loop under a lock; receivers that are busy are not even
//!   woken (they find the new entries when they come back).
//! * **Nobody waits for a slow receiver.** A receiver more than `capacity`
//!   entries behind lost entries; it re-joins like a new receiver (headers,
//!   then the GOP from its keyframe), so it never decodes a partial GOP, and
//!   its `dropped` counter says how much it missed. Memory is bounded by the
//!   ring, the GOP cache limits and eight header slots, whatever the
//!   receivers do.
//! * **Instant start.** A new receiver gets the sticky headers (codec
//!   configs, metadata) and the GOP since the last keyframe before live
//!   entries, so a player shows a picture at once.
//! * **Batching.** Receivers take everything queued in one call
//!   ([`channel::Receiver::recv_batch`]) so a writer can issue one vectored
//!   write per wakeup; a push that arrives while a receiver is busy costs it
//!   no wakeup at all.
//!
//! On top of that, [`hub::Hub`] maps keys to streams, handles publisher
//! takeover and kicks, rebases timestamps so subscribers always see a
//! monotonic DTS per track, and frees a stream as soon as it has neither a
//! publisher nor a subscriber. [`clients::Clients`] lists connections with
//! relaxed atomic traffic counters for the API. [`gate::Gate`] is the one
//! access check (publish/play auth) every adapter asks through
//! [`hub::Hub::admit`].

#![warn(missing_docs, unreachable_pub)]

pub mod channel;
pub mod clients;
pub mod coalesce;
pub mod egress;
pub mod gate;
pub mod hub;
pub mod limits;
pub mod log;

pub use channel::{
    Channel, ChannelConfig, ChannelStats, Class, Closed, Entry, Offer, Parking, Receiver, Sink,
};
pub use clients::{
    ClientHandle, ClientInfo, ClientSnapshot, Clients, ErrorCount, OutCounter, PacketStats,
    ProtocolTotals, Role,
};
pub use coalesce::Coalesce;
pub use egress::{Egress, Muxer};
pub use gate::{AccessRequest, Action, Admission, ConnectInfo, Denied, Gate, OpenGate, Verdict};
pub use hub::{
    AudioParams, Classifier, CloseReason, Demand, DemandWatch, Hub, HubConfig, HubError, Publisher,
    StreamEvent, StreamInfo, Subscription, VideoParams,
};
pub use limits::{ConnLimitHit, ConnLimits, ConnSlot, LogThrottle};
