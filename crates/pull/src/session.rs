//! One session with a source, whatever its protocol: RTSP through retina
//! ([`crate::rtsp`]) or RTMP through weir's own client ([`crate::rtmp`]).
//! Both publish through the pull's [`Feed`], which outlives the session.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::config::{source_url, SourceUrl};
use crate::feed::Feed;
use crate::{rtmp, rtsp, PullError};

/// Longest connection set-up: DESCRIBE + SETUP + PLAY (RTSP), TCP connect +
/// handshake + `connect` + `play` (RTMP).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A session that delivers no frame for this long is given up (a camera
/// that died without closing the connection, UDP packets that never come,
/// an RTMP source whose publisher left).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(3);

/// How a session ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// How long frames flowed (zero if none came).
    pub(crate) ran: Duration,
    pub(crate) error: PullError,
}

/// How one session is made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    /// RTP over UDP rather than interleaved (RTSP only).
    pub(crate) udp: bool,
    /// End the session when UDP loses [`rtsp::LOSS_LIMIT`] packets within
    /// [`rtsp::LOSS_WINDOW`] (transport `auto`).
    pub(crate) loss_limit: bool,
}

/// A session that only ends with an error.
pub(crate) enum Never {}

/// Runs one session of `url` feeding `feed` until it ends. A publisher
/// the hub took away (kick, takeover) is dropped; otherwise it stays for
/// the next session.
pub(crate) async fn run(feed: &mut Feed<'_>, url: &str, mode: Mode) -> Outcome {
    feed.begin();
    let result = match source_url(url) {
        Ok(SourceUrl::Rtsp { url, creds }) => rtsp::session(feed, url, creds, mode).await,
        Ok(SourceUrl::Rtmp(url)) => rtmp::session(feed, &url).await,
        Err(e) => Err(e),
    };
    let error = match result {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if matches!(error, PullError::Closed(_)) {
        feed.detach();
    }
    Outcome {
        ran: feed.ran(),
        error,
    }
}

/// The source's address, for the client list (unspecified if its name
/// does not resolve; the session then fails on its own).
pub(crate) async fn peer_addr(host: &str, port: u16) -> SocketAddr {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return SocketAddr::new(ip, port);
    }
    tokio::net::lookup_host((host, port))
        .await
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
}
