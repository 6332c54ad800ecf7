//! Socket code the adapters share: how a listener accepts, and how the
//! adapters that stream the same muxed bytes to many viewers (RTMP,
//! HTTP-FLV) write them.
//!
//! Written in-house: the hot path of the fan-out is one vectored write of
//! reference-counted `Bytes` per viewer per wakeup, with no copy, no
//! allocation and no future, which tokio's `AsyncWrite` helpers do not
//! offer for a list of buffers.
//!
//! - [`accept`]: the one accept loop ([`serve`]): limits, TLS handshake,
//!   backoff, shutdown; a protocol only handles the connections.
//! - [`backoff`]: the jittered 1 s → 30 s retry schedule of everything
//!   that reconnects or restarts (camera pulls, pushes, transcoders).
//! - [`write`]: a non-blocking `writev` first ([`try_write_now`]), a
//!   waiting one for what a full socket left ([`write_all_vectored`]).
//! - [`sink`]: [`SocketSink`], what a caught-up viewer parks with its
//!   stream's egress channel so that the muxer task writes to its socket
//!   directly (`weir_hub::Receiver::park`).
//! - [`shared`]: [`SharedTcp`], a socket the viewer's task and the write
//!   pass both hold.
//! - [`feed`]: [`Feed`], a viewer's receiver or its parking, and the
//!   moves between the two.
//! - [`keystream`]: [`KeystreamStream`], a stream encrypted per
//!   connection by a stream cipher (RTMPE's RC4).

#![warn(missing_docs, unreachable_pub)]

pub mod accept;
pub mod backoff;
pub mod feed;
pub mod keystream;
pub mod shared;
pub mod sink;
pub mod write;

pub use accept::{serve, Accept, Conn, Limits, Slot};
pub use backoff::Backoff;
pub use feed::{Feed, Next, PassFailed};
pub use keystream::{Keystream, KeystreamStream};
pub use shared::SharedTcp;
pub use sink::{Pick, Picker, SocketSink};
pub use write::{try_write_now, write_all_vectored, MAX_IOV};
