//! UDP multicast for players: one group address per stream and track,
//! one sender per stream (mux once: every multicast player of a stream
//! receives the very same datagrams, sent once).
//!
//! A stream gets a slot of the configured range when a SETUP first asks
//! for multicast (two addresses: video, then audio; RTP on `port`, RTCP on
//! `port + 1`) and keeps it while any session holds it. The sender is a
//! server-internal reader of the stream's RTSP egress channel
//! (`Hub::admit_internal`): started by the first multicast PLAY, stopped
//! when the last multicast player leaves. It sends the same packets TCP
//! players get, without their interleaved headers.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use weir_hub::{Egress, Hub};
use weir_media::{StreamKey, TrackKind};
use weir_rtsp::session::MulticastGroup;

use crate::muxer::{route, Rtp, RtspMuxer};

/// Entries taken from the egress channel per wakeup.
const MAX_BATCH: usize = 256;

/// Multicast settings (the app maps `[rtsp] multicast*` onto this).
#[derive(Debug, Clone)]
pub struct MulticastConfig {
    /// First group address of the range.
    pub first: Ipv4Addr,
    /// How many addresses the range holds (two per stream).
    pub size: u32,
    /// RTP port of every group (RTCP on the next).
    pub port: u16,
    /// Time to live of the datagrams.
    pub ttl: u8,
}

/// The range, the socket every sender uses, and the streams' slots.
pub(crate) struct Multicast {
    config: MulticastConfig,
    socket: Arc<UdpSocket>,
    slots: Mutex<HashMap<StreamKey, Weak<Groups>>>,
}

/// One stream's groups, held by every session that set them up.
pub(crate) struct Groups {
    multicast: Arc<Multicast>,
    key: StreamKey,
    slot: u32,
    /// The running sender and how many players it serves.
    sender: Mutex<(usize, Option<CancellationToken>)>,
}

/// A multicast player: the stream's sender runs while one exists.
pub(crate) struct Player {
    groups: Arc<Groups>,
}

impl Multicast {
    /// Wraps the socket the senders send from.
    pub(crate) fn new(config: MulticastConfig, socket: UdpSocket) -> Arc<Multicast> {
        Arc::new(Multicast {
            config,
            socket: Arc::new(socket),
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// The stream's groups, given a slot now if it has none. `None` when
    /// every slot of the range is taken (the SETUP then gets 461).
    pub(crate) fn groups(self: &Arc<Self>, key: &StreamKey) -> Option<Arc<Groups>> {
        let mut slots = self.slots.lock();
        if let Some(g) = slots.get(key).and_then(Weak::upgrade) {
            return Some(g);
        }
        slots.retain(|_, g| g.strong_count() > 0);
        let taken: Vec<u32> = slots
            .values()
            .filter_map(Weak::upgrade)
            .map(|g| g.slot)
            .collect();
        let slot = (0..self.config.size / 2).find(|s| !taken.contains(s))?;
        let groups = Arc::new(Groups {
            multicast: self.clone(),
            key: key.clone(),
            slot,
            sender: Mutex::new((0, None)),
        });
        slots.insert(key.clone(), Arc::downgrade(&groups));
        Some(groups)
    }
}

impl Groups {
    fn address(&self, kind: TrackKind) -> Ipv4Addr {
        let index = 2 * self.slot + u32::from(kind == TrackKind::Audio);
        Ipv4Addr::from(u32::from(self.multicast.config.first).wrapping_add(index))
    }

    /// The group a SETUP of a `kind` track is told.
    pub(crate) fn group(&self, kind: TrackKind) -> MulticastGroup {
        let c = &self.multicast.config;
        MulticastGroup {
            destination: self.address(kind).to_string(),
            ports: (c.port, c.port.wrapping_add(1)),
            ttl: c.ttl,
        }
    }

    /// A player joins: starts the stream's sender unless it runs.
    pub(crate) fn play(
        self: &Arc<Self>,
        hub: &Hub,
        egress: &Egress<RtspMuxer>,
        shutdown: &CancellationToken,
    ) -> Player {
        let mut sender = self.sender.lock();
        sender.0 += 1;
        if sender
            .1
            .as_ref()
            .is_none_or(CancellationToken::is_cancelled)
        {
            let stop = shutdown.child_token();
            let admission = hub.admit_internal(&self.key, "rtsp-multicast");
            let rx = egress.subscribe(&admission);
            tokio::spawn(send(self.clone(), rx, stop.clone(), admission));
            sender.1 = Some(stop);
        }
        Player {
            groups: self.clone(),
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let mut sender = self.groups.sender.lock();
        sender.0 -= 1;
        if sender.0 == 0 {
            if let Some(stop) = sender.1.take() {
                stop.cancel();
            }
        }
    }
}

/// Sends the stream's packets to its groups until stopped.
async fn send(
    groups: Arc<Groups>,
    mut rx: weir_hub::Receiver<Rtp>,
    stop: CancellationToken,
    _admission: weir_hub::Admission,
) {
    let port = groups.multicast.config.port;
    let socket = groups.multicast.socket.clone();
    let video = groups.address(TrackKind::Video);
    let audio = groups.address(TrackKind::Audio);
    info!(stream = %groups.key, %video, %audio, port, "rtsp multicast sender started");
    let (mut datagrams, mut bytes, mut failed) = (0u64, 0u64, 0u64);
    let mut warned = false;
    let mut batch = Vec::new();
    loop {
        let why = tokio::select! {
            _ = stop.cancelled() => Some("no multicast player left"),
            got = rx.recv_batch(&mut batch, MAX_BATCH) => got.is_err().then(|| {
                // The stream is gone: the next multicast PLAY starts anew.
                stop.cancel();
                "stream ended"
            }),
        };
        if let Some(why) = why {
            info!(stream = %groups.key, datagrams, bytes, failed, why, "rtsp multicast sender stopped");
            return;
        }
        for entry in batch.drain(..) {
            let Rtp::Media { packets, .. } = entry else {
                continue;
            };
            for p in packets.iter() {
                let Some((kind, rtcp)) = route(p) else {
                    continue;
                };
                let ip = groups.address(kind);
                let to = SocketAddr::from((ip, if rtcp { port.wrapping_add(1) } else { port }));
                // Datagrams: a full socket buffer drops, as the network would.
                let data = p.get(4..).unwrap_or_default();
                match socket.try_send_to(data, to) {
                    Ok(n) => {
                        datagrams += 1;
                        bytes += n as u64;
                    }
                    Err(e) => {
                        failed += 1;
                        // A full buffer is the network dropping; anything
                        // else (typically no route to the range from the
                        // listen address) is said once per sender.
                        if e.kind() != std::io::ErrorKind::WouldBlock && !warned {
                            warned = true;
                            warn!(stream = %groups.key, %to, error = %e, "rtsp multicast send failed");
                        }
                    }
                }
            }
        }
    }
}
