//! The RTMP adapter: accepts TCP connections, drives a sans-IO
//! [`weir_rtmp::server::ServerSession`] for each, and connects publishers and
//! players to the [`weir_hub::Hub`].
//!
//! Players never get per-player muxing: one `RtmpMuxer` per stream
//! (a hub subscriber run by [`weir_hub::Egress`]) chunks each message once,
//! and every player's connection writes those same bytes with vectored
//! writes, draining whatever is queued each time it wakes.
//!
//! The same server accepts RTMPS (RTMP over TLS) on any listener given a
//! [`TlsAcceptor`], and RTMPE (the Flash-era RC4 obfuscation, see
//! [`Config::rtmpe`]) on plain listeners; only the byte stream under a
//! connection differs. RTMPT (RTMP tunnelled over HTTP) is one more byte
//! stream: the routes [`RtmpServer::rtmpt_routes`] makes run on the HTTP
//! listener and feed the same connection loop.
//!
//! The app `vod` plays files rather than streams ([`VodLibrary`]): each
//! such player reads and chunks its file itself, paced at real time.

#![warn(missing_docs, unreachable_pub)]

mod admit;
mod conn;
mod end;
mod muxer;
mod park;
mod play;
mod publish;
mod rtmpe;
mod rtmpt;
mod transport;
mod vod;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use weir_hub::{ChannelConfig, Coalesce, Egress, Hub};
use weir_netio::{Accept, Limits};

use crate::muxer::RtmpMuxer;

pub use vod::{IndexFuture, VodFiles, VodLibrary, VodRefused};

/// RTMP adapter settings (the app maps its config file onto this).
#[derive(Debug, Clone)]
pub struct Config {
    /// Outgoing chunk size for every player; also used by the shared muxer.
    pub chunk_size: u32,
    /// How long a player of a stream that is not live waits for a publisher.
    pub play_wait: Duration,
    /// Handshake deadline.
    pub handshake_timeout: Duration,
    /// Close publishers and idle clients that send nothing for this long.
    pub idle_timeout: Duration,
    /// Drop a player whose socket accepts nothing for this long.
    pub player_write_timeout: Duration,
    /// Largest RTMP message accepted from a peer.
    pub max_message_len: u32,
    /// Most chunk streams with a partial message at once.
    pub max_chunk_streams: usize,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// Most simultaneous connections from one IP address (0 = no limit).
    pub max_connections_per_ip: usize,
    /// Queue and GOP cache settings of the per-stream muxer channels.
    pub channel: ChannelConfig,
    /// Merged writes: after writing to a player, wait this long before its
    /// next write and send everything queued meanwhile in one `writev`.
    /// Fewer, larger writes cost the server much less per viewer, at the
    /// price of up to this much added latency. Zero (the default) writes
    /// as soon as something is queued.
    pub merge_write: Duration,
    /// Adaptive write coalescing: on a stream with at least
    /// `min_viewers` players, audio that arrives between video frames
    /// waits (at most `max_hold`) for the next video frame and goes out
    /// with it in one `writev` per player; video is never held. See
    /// [`Coalesce`].
    pub coalesce: Coalesce,
    /// Answer RTMPE clients (C0 = 6, 8 or 9) on plain listeners; when
    /// false they are refused at their first byte. RTMPE is obfuscation,
    /// not security.
    pub rtmpe: bool,
    /// RTMPT sessions (see [`RtmptConfig`]).
    pub rtmpt: RtmptConfig,
    /// The files `rtmp://HOST/vod/{path}` plays; `None` refuses the `vod`
    /// app.
    pub vod: Option<VodFiles>,
}

/// How RTMPT sessions (RTMP tunnelled over HTTP) are bounded.
#[derive(Debug, Clone)]
pub struct RtmptConfig {
    /// A session the client has not polled (or sent to) for this long is
    /// closed: its RTMP connection ends and its callbacks fire.
    pub idle_timeout: Duration,
    /// Largest POST body accepted; a larger one is answered 413 unread.
    pub max_body_bytes: usize,
    /// The session's pipe holds at most this many bytes each way, and an
    /// answer carries at most this many.
    pub buffer_bytes: usize,
    /// How long an idle poll waits for the server's bytes before it is
    /// answered with none: a player gets its next frame as soon as it is
    /// written instead of polling in a loop.
    pub hold: Duration,
}

impl Default for RtmptConfig {
    fn default() -> Self {
        RtmptConfig {
            idle_timeout: Duration::from_secs(15),
            max_body_bytes: 2 << 20,
            buffer_bytes: 128 << 10,
            hold: Duration::from_millis(100),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            chunk_size: 4096,
            play_wait: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            player_write_timeout: Duration::from_secs(15),
            max_message_len: 32 << 20,
            max_chunk_streams: 64,
            max_connections: 10_000,
            max_connections_per_ip: 0,
            channel: ChannelConfig::default(),
            merge_write: Duration::ZERO,
            coalesce: Coalesce::default(),
            rtmpt: RtmptConfig::default(),
            rtmpe: true,
            vod: None,
        }
    }
}

/// State shared by every connection of every listener of one server.
struct Shared {
    hub: Hub,
    /// `max_connections`, counted over the plain and the TLS listener.
    limit: Limits,
    egress: Egress<RtmpMuxer>,
    config: Config,
    shutdown: CancellationToken,
    started: Instant,
}

/// An RTMP server bound to one hub. Clones share everything (streams'
/// muxers, the connection limit), so one server can run an RTMP and an
/// RTMPS listener.
#[derive(Clone)]
pub struct RtmpServer {
    shared: Arc<Shared>,
}

impl RtmpServer {
    /// Builds a server; `shutdown` stops the accept loop and every
    /// connection.
    pub fn new(hub: Hub, config: Config, shutdown: CancellationToken) -> Self {
        let chunk_size = config.chunk_size;
        let egress = Egress::with_coalesce(
            hub.clone(),
            config.channel.clone(),
            config.coalesce,
            move |_key| RtmpMuxer::new(chunk_size),
        );
        RtmpServer {
            shared: Arc::new(Shared {
                hub,
                limit: Limits::refusing(config.max_connections, config.max_connections_per_ip),
                egress,
                config,
                shutdown,
                started: Instant::now(),
            }),
        }
    }

    /// The RTMPT routes (`POST /fcs/ident2`, `/open/1`,
    /// `/send|idle|close/{session}/{seq}`) for the app to merge into the
    /// HTTP listener's router. Each session is an RTMP connection of this
    /// server with protocol `"rtmpt"`, or `"rtmpts"` when `https` says
    /// the listener is HTTPS. Call once: the routes own the session table.
    pub fn rtmpt_routes(&self, https: bool) -> axum::Router {
        rtmpt::routes(self.shared.clone(), https)
    }

    /// Accepts connections until shutdown (`weir_netio::serve`: limits,
    /// backoff, TLS). Each connection runs in its own task; an error on one
    /// never affects the others. With `tls` every connection starts with a
    /// TLS handshake (RTMPS), which must finish within the handshake
    /// timeout.
    pub async fn run(self, listener: TcpListener, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
        let accept = Accept {
            protocol: "rtmp",
            limits: self.shared.limit.clone(),
            refusal: None,
            tls,
            tls_timeout: self.shared.config.handshake_timeout,
            clients: self.shared.hub.clients().clone(),
            shutdown: self.shared.shutdown.clone(),
        };
        let shared = self.shared;
        weir_netio::serve(listener, accept, move |conn, peer, slot| {
            let shared = shared.clone();
            async move {
                // One deadline for the first byte, an RTMPE handshake if
                // asked for, and the RTMP handshake.
                let deadline = tokio::time::Instant::now() + shared.config.handshake_timeout;
                if let Some(transport) = rtmpe::open(conn, peer, &shared, deadline).await {
                    conn::serve(transport, peer, shared, deadline).await;
                }
                drop(slot);
            }
        })
        .await
    }
}
