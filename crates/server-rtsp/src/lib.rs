//! The RTSP adapter: `rtsp://HOST:8554/{app}/{stream}`.
//!
//! Publishers (encoders, cameras) ANNOUNCE an SDP, SETUP each track and
//! RECORD; their RTP is depacketized by `weir-rtsp` and sent to the hub as
//! frames. Players DESCRIBE (the SDP is built from the stream's current
//! codec configuration), SETUP and PLAY; one [`muxer::RtspMuxer`] per stream
//! packetizes each frame once for all of them through a
//! [`weir_hub::Egress`], so the GOP cache gives a new player a keyframe at
//! once and a slow one skips to the next keyframe. Both go through
//! [`weir_hub::Hub::admit`] (query keys and signed URLs on the RTSP URL).
//!
//! Transports: RTP interleaved on the RTSP TCP connection, and UDP unicast
//! on one server socket pair shared by every session (when the app gives
//! one). The same server runs on a second listener with TLS (RTSPS), and
//! RTSP Basic/Digest credentials stand in for stream keys (`auth.rs`).
//!
//! Each connection drives `weir_rtsp::server::ServerSession` (sans-IO:
//! requests, answers, session state, challenges) and decides its events
//! here: `answer.rs` (admission, DESCRIBE, SETUP routes, PLAY, RECORD),
//! `record.rs` (publishers' RTP), `play.rs` (players' packets).

#![warn(missing_docs, unreachable_pub)]

mod answer;
mod auth;
mod conn;
mod describe;
mod multicast;
mod muxer;
mod play;
mod publish;
mod record;
mod reports;
mod udp;
mod url;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use weir_hub::{ChannelConfig, Coalesce, Egress, Hub};
use weir_netio::{Accept, Conn, Limits, SharedTcp};

use crate::multicast::Multicast;
pub use crate::multicast::MulticastConfig;
pub use crate::muxer::carries;
use crate::muxer::RtspMuxer;
use crate::udp::Udp;

/// RTSP adapter settings (the app maps its `[rtsp]` section onto this).
#[derive(Debug, Clone)]
pub struct Config {
    /// Advertised in `Session: id;timeout=N`; a connection whose session
    /// sees no request and no packet for this long (and that is not
    /// playing) is closed.
    pub session_timeout: Duration,
    /// How long DESCRIBE waits for a stream that is not live yet.
    pub play_wait: Duration,
    /// Drop a player whose socket accepts nothing for this long.
    pub player_write_timeout: Duration,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// Most simultaneous connections from one IP address (0 = no limit).
    pub max_connections_per_ip: usize,
    /// Queue and GOP cache settings of the per-stream muxer channels.
    pub channel: ChannelConfig,
    /// When the muxer wakes its players: audio waits for the next video
    /// frame on busy streams, as for RTMP (see [`Coalesce`]).
    pub coalesce: Coalesce,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_timeout: Duration::from_secs(60),
            play_wait: Duration::from_secs(5),
            player_write_timeout: Duration::from_secs(15),
            max_connections: 10_000,
            max_connections_per_ip: 0,
            channel: ChannelConfig::default(),
            coalesce: Coalesce::default(),
        }
    }
}

/// State shared by every connection.
struct Shared {
    hub: Hub,
    limit: Limits,
    egress: Egress<RtspMuxer>,
    config: Config,
    shutdown: CancellationToken,
    /// The RTP/RTCP socket pair, when UDP is on.
    udp: Option<Arc<Udp>>,
    /// Multicast groups and senders, when a range is configured.
    multicast: Option<Arc<Multicast>>,
    /// Whether a listener started the UDP receivers (the first does:
    /// RTSP and RTSPS share them).
    udp_started: AtomicBool,
}

/// An RTSP server bound to one hub.
#[derive(Clone)]
pub struct RtspServer {
    shared: Arc<Shared>,
}

impl RtspServer {
    /// Builds a server; `shutdown` stops the accept loop and every
    /// connection. `udp` is the bound RTP and RTCP socket pair every UDP
    /// session shares; without it SETUPs offering only UDP get 461.
    /// `multicast` is the range and the socket the multicast senders send
    /// from (its TTL set); without it a SETUP asking only for multicast
    /// gets 461.
    pub fn new(
        hub: Hub,
        config: Config,
        shutdown: CancellationToken,
        udp: Option<(UdpSocket, UdpSocket)>,
        multicast: Option<(MulticastConfig, UdpSocket)>,
    ) -> std::io::Result<Self> {
        let udp = match udp {
            Some((rtp, rtcp)) => Some(Udp::new(rtp, rtcp)?),
            None => None,
        };
        let egress = Egress::with_coalesce(
            hub.clone(),
            config.channel.clone(),
            config.coalesce,
            |key| RtspMuxer::new(format!("weir/{key}")),
        );
        Ok(RtspServer {
            shared: Arc::new(Shared {
                limit: Limits::refusing(config.max_connections, config.max_connections_per_ip),
                hub,
                egress,
                config,
                shutdown,
                udp,
                multicast: multicast.map(|(c, socket)| Multicast::new(c, socket)),
                udp_started: AtomicBool::new(false),
            }),
        })
    }

    /// Accepts connections until shutdown (`weir_netio::serve`: limits,
    /// backoff, errors counted under protocol `rtsp`); each runs in its own
    /// task. With `tls` the listener is RTSPS: the handshake happens in
    /// the accept loop, under a 10 s deadline. Both listeners may run on
    /// one server (same streams, muxers and UDP ports).
    pub async fn run(self, listener: TcpListener, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
        let accept = Accept {
            protocol: "rtsp",
            limits: self.shared.limit.clone(),
            refusal: None,
            tls,
            tls_timeout: Duration::from_secs(10),
            clients: self.shared.hub.clients().clone(),
            shutdown: self.shared.shutdown.clone(),
        };
        let shared = self.shared;
        if let Some(udp) = &shared.udp {
            if !shared.udp_started.swap(true, Ordering::Relaxed) {
                tokio::spawn(
                    udp.clone()
                        .run(shared.hub.clients().clone(), shared.shutdown.clone()),
                );
            }
        }
        weir_netio::serve(listener, accept, move |conn, peer, slot| {
            let shared = shared.clone();
            async move {
                match conn {
                    Conn::Tcp(socket) => {
                        // Shared so that a parked player's write pass can
                        // write to it too.
                        let socket = SharedTcp::new(socket);
                        let (r, w) = (Box::new(socket.clone()), Box::new(socket.clone()));
                        conn::serve(r, w, Some(socket), false, peer, shared).await;
                    }
                    Conn::Tls(stream) => {
                        let (r, w) = tokio::io::split(*stream);
                        conn::serve(Box::new(r), Box::new(w), None, true, peer, shared).await;
                    }
                }
                drop(slot);
            }
        })
        .await
    }
}
