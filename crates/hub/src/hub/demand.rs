//! Demand: which streams somebody wants to watch, for sources the server
//! starts itself (camera pulls) only while they have viewers.
//!
//! The hub knows no source. It tells one registered watcher each time a
//! stream's subscriber count leaves or reaches zero ([`Demand`]); a
//! player waiting for a publisher that is not there yet counts (it
//! subscribes, or calls [`crate::Hub::wait_live`], which does), so a
//! watcher that starts a source on `subscribers > 0` feeds the players
//! that are already waiting. Events are hints sent in order under the
//! stream map lock; a watcher that wants the exact count now asks
//! [`crate::Hub::subscribers`].

use tokio::sync::mpsc;
use weir_media::StreamKey;

/// A stream's subscriber count left zero (`subscribers > 0`) or reached
/// it (`subscribers == 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// The stream.
    pub key: StreamKey,
    /// Its subscribers right after the change.
    pub subscribers: usize,
}

/// The receiving end of [`crate::Hub::watch_demand`].
#[derive(Debug)]
pub struct DemandWatch {
    pub(super) rx: mpsc::UnboundedReceiver<Demand>,
}

impl DemandWatch {
    /// The next change; `None` once the hub is gone or another watcher
    /// replaced this one.
    pub async fn recv(&mut self) -> Option<Demand> {
        self.rx.recv().await
    }
}
