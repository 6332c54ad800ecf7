//! RTP and RTCP over UDP: one socket pair (`[rtsp] rtp_port`/`rtcp_port`)
//! for every session, as RFC 2326's `server_port` allows.
//!
//! Incoming datagrams are routed by their source address, which a SETUP
//! registered (the client's `client_port` pair on the RTSP connection's
//! address), to the connection task of that session through a bounded
//! queue: a datagram from an unknown source, or for a session whose queue
//! is full, is dropped and counted, so junk sent to the ports costs one
//! receive each and touches no session. Outgoing packets to players are
//! sent without waiting (a full socket buffer drops, as UDP would).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use weir_hub::Clients;

/// Datagrams queued per session before more are dropped.
pub(crate) const QUEUE: usize = 1024;
/// Largest datagram read (the UDP maximum).
const MAX_DATAGRAM: usize = 65_536;

/// A datagram for a session.
#[derive(Debug)]
pub(crate) struct UdpIn {
    /// The SDP track it belongs to.
    pub(crate) track: usize,
    /// It came to the RTCP port.
    pub(crate) rtcp: bool,
    pub(crate) data: Bytes,
}

#[derive(Clone)]
struct Route {
    tx: mpsc::Sender<UdpIn>,
    track: usize,
}

/// The shared socket pair and its routes.
pub(crate) struct Udp {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    ports: (u16, u16),
    /// Routes of the RTP and of the RTCP socket, by source address.
    routes: Mutex<[HashMap<SocketAddr, Route>; 2]>,
}

/// Removes a session's routes when the session ends.
pub(crate) struct RouteGuard {
    udp: Arc<Udp>,
    addrs: [SocketAddr; 2],
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        let mut routes = self.udp.routes.lock();
        routes[0].remove(&self.addrs[0]);
        routes[1].remove(&self.addrs[1]);
    }
}

impl Udp {
    /// Wraps bound sockets.
    pub(crate) fn new(rtp: UdpSocket, rtcp: UdpSocket) -> std::io::Result<Arc<Udp>> {
        let ports = (rtp.local_addr()?.port(), rtcp.local_addr()?.port());
        Ok(Arc::new(Udp {
            rtp,
            rtcp,
            ports,
            routes: Mutex::new([HashMap::new(), HashMap::new()]),
        }))
    }

    /// The server's RTP and RTCP ports, for `server_port=`.
    pub(crate) fn ports(&self) -> (u16, u16) {
        self.ports
    }

    /// Routes what `rtp` and `rtcp` send to the session's queue as `track`,
    /// until the guard is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        rtp: SocketAddr,
        rtcp: SocketAddr,
        track: usize,
        tx: mpsc::Sender<UdpIn>,
    ) -> RouteGuard {
        let mut routes = self.routes.lock();
        let route = Route { tx, track };
        routes[0].insert(rtp, route.clone());
        routes[1].insert(rtcp, route);
        RouteGuard {
            udp: self.clone(),
            addrs: [rtp, rtcp],
        }
    }

    /// Sends one packet to a player without waiting.
    pub(crate) fn send(&self, rtcp: bool, to: SocketAddr, data: &[u8]) -> bool {
        let socket = if rtcp { &self.rtcp } else { &self.rtp };
        socket.try_send_to(data, to).is_ok()
    }

    /// Receives on both sockets until shutdown.
    pub(crate) async fn run(self: Arc<Self>, clients: Clients, shutdown: CancellationToken) {
        tokio::join!(
            self.receive(false, &clients, &shutdown),
            self.receive(true, &clients, &shutdown)
        );
    }

    async fn receive(&self, rtcp: bool, clients: &Clients, shutdown: &CancellationToken) {
        let socket = if rtcp { &self.rtcp } else { &self.rtp };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (n, from) = tokio::select! {
                r = socket.recv_from(&mut buf) => match r {
                    Ok(x) => x,
                    // ICMP port unreachable from a player that left, and
                    // the like: the socket itself is fine.
                    Err(_) => continue,
                },
                _ = shutdown.cancelled() => return,
            };
            let route = self.routes.lock()[usize::from(rtcp)].get(&from).cloned();
            let Some(route) = route else {
                clients.count_error("rtsp", "udp_unknown_source");
                continue;
            };
            let item = UdpIn {
                track: route.track,
                rtcp,
                data: Bytes::copy_from_slice(&buf[..n]),
            };
            if route.tx.try_send(item).is_err() {
                clients.count_error("rtsp", "udp_queue_full");
            }
        }
    }
}
