//! Camera pull: weir connects to a camera (or any RTSP server, or another
//! RTMP server) and publishes what it sends into the hub, so every output
//! plays it.
//!
//! The RTSP client is [`retina`] (made for IP cameras: odd SDP, Digest
//! auth, interleaved TCP and UDP); this adapter only maps its demuxed
//! frames to hub [`weir_media::Frame`]s ([`convert`]). `rtmp://` sources
//! are played with weir's own RTMP client (`weir-rtmp-client`), their
//! messages mapped as the RTMP server maps a publisher's
//! (`weir_flv::frame_from_tag`). One manager keeps either kind of session
//! going ([`Pulls`]):
//!
//! - **On demand** (the default): a pull starts when its stream gets its
//!   first subscriber — a player waiting for the publisher counts
//!   ([`weir_hub::Demand`]) — and stops `idle_secs` after the last one
//!   left. **Always-on** pulls start at once and run until removed.
//! - **Reconnect**: a session that fails or ends is retried after 1 s,
//!   doubling to 30 s, jittered ([`weir_netio::backoff`]); a session whose frames
//!   flowed for 5 s resets the schedule. A session with no frame for
//!   [`STALL_TIMEOUT`] is given up. The hub publisher stays while the
//!   pull reconnects, so players stay too, and the next session's
//!   timestamps continue the timeline after the wall-clock gap.
//! - **Access**: a pull publishes through [`weir_hub::Hub::admit_source`]
//!   and is listed among the clients as `rtsp-pull` or `rtmp-pull`, so
//!   the API shows it like any publisher (and can kick it: it then
//!   reconnects).

#![warn(missing_docs, unreachable_pub)]

mod config;
pub mod convert;
mod error;
mod feed;
mod manager;
mod rtmp;
mod rtsp;
mod session;
mod status;
mod timeline;

pub use config::{redact, PullConfig, Transport, DEFAULT_IDLE_SECS};
pub use error::PullError;
pub use manager::Pulls;
pub use rtmp::RTMP_PROTOCOL;
pub use rtsp::{LOSS_LIMIT, LOSS_WINDOW, PROTOCOL};
pub use session::{CONNECT_TIMEOUT, STALL_TIMEOUT};
pub use status::{PullState, PullStatus};
