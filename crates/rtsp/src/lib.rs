//! RTSP 1.0, SDP, RTP and RTCP for weir, sans-IO.
//!
//! Everything a camera, an encoder or a player says over RTSP goes through
//! this crate, which never touches a socket, a clock or a random number
//! generator: the server adapter reads bytes, hands them here, and gets back
//! messages, access units or packets to send. Times (wall clock for RTCP,
//! arrival times for jitter) and identifiers (SSRCs, session ids, digest
//! nonces) are passed in by the caller.
//!
//! - [`message`]: requests, responses and interleaved frames, with limits.
//! - [`headers`]: `Transport`, `Session`, `Range`, `RTP-Info`.
//! - [`server`]: one server connection (requests, answers, CSeq, session
//!   ids, auth challenges, expiry) with events the adapter decides.
//! - [`session`]: the server's per-session state machine (454/455/461).
//! - [`auth`]: Basic and Digest (RFC 7616, MD5 and SHA-256).
//! - [`sdp`]: ANNOUNCE bodies in, DESCRIBE answers out.
//! - [`depacketize`]: RTP packets to access units, per codec.
//! - [`packetize`]: access units to RTP packets, once per stream and track.
//! - [`rtcp`]: sender reports out, receiver statistics, reports in.
//! - [`rtp`]: packets and wrap-safe timestamps; [`reorder`]: the UDP
//!   reorder buffer (bounded in packets and in time).
//! - [`sync`]: a publisher's tracks on one timeline from its sender
//!   reports (A/V sync).
//!
//! Peer input never panics, and every buffer a peer can grow has a limit.
//!
//! Access units stay in RTP clock units and NAL units carry no start codes
//! or length prefixes: the adapter maps them to `weir_media::Frame`s (the
//! microsecond timebase, AVCC/hvcC via `weir-codec`). This crate depends on
//! neither, so media-model changes never reach the wire code.
//!
//! Wire types: `rtp-types` parses and writes RTP, `rtcp-types` RTCP. The
//! same author's `rtsp-types` and `sdp-types` are not used: they have no
//! input limits and are strict where cameras are sloppy (each module says
//! why in its header).

#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod depacketize;
pub mod error;
pub mod headers;
pub mod message;
pub mod packetize;
pub mod reorder;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod server;
pub mod session;
pub mod sync;

pub use error::RtspError;
