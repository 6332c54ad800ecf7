//! One session with a camera: DESCRIBE, SETUP of the tracks weir reads,
//! PLAY, then frames into the hub until something ends it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use retina::client::{
    Credentials, InitialTimestampPolicy, PlayOptions, SessionOptions, SetupOptions,
    Transport as RtpTransport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParameters, VideoParametersCodec};
use weir_hub::{Action, ClientInfo, CloseReason, Hub};
use weir_media::{Frame, StreamKey};

use crate::config::camera_url;
use crate::convert::{AudioTrack, VideoTrack};
use crate::status::{PullState, Status};
use crate::PullError;

/// Longest DESCRIBE + SETUP + PLAY.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A session that delivers no frame for this long is given up (a camera
/// that died without closing the connection, UDP packets that never come).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Transport `auto` over UDP: this many RTP packets lost within
/// [`LOSS_WINDOW`] end the session, and the pull goes on over TCP.
pub const LOSS_LIMIT: u64 = 20;
/// See [`LOSS_LIMIT`].
pub const LOSS_WINDOW: Duration = Duration::from_secs(10);
/// The protocol name a pull is listed with among the clients.
pub const PROTOCOL: &str = "rtsp-pull";

/// How a session ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// How long frames flowed (zero if none came).
    pub(crate) ran: Duration,
    pub(crate) error: PullError,
}

enum Track {
    Video(VideoTrack),
    Audio(AudioTrack),
}

/// Retina's message without the connection and packet context it
/// appends after a blank line (addresses and times, for its own logs).
fn rtsp(e: retina::Error) -> PullError {
    let text = e.to_string();
    let first = text.split("\n\n").next().unwrap_or_default().trim();
    PullError::Rtsp(first.to_owned())
}

/// How one session is made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    /// RTP over UDP rather than interleaved.
    pub(crate) udp: bool,
    /// End the session when UDP loses [`LOSS_LIMIT`] packets within
    /// [`LOSS_WINDOW`] (transport `auto`).
    pub(crate) loss_limit: bool,
}

/// Counts lost packets over a sliding window.
#[derive(Debug, Default)]
pub(crate) struct LossWindow {
    /// (when, packets) of each loss still inside the window.
    events: std::collections::VecDeque<(Instant, u64)>,
    total: u64,
}

impl LossWindow {
    /// Records `lost` packets at `now`; the packets lost within
    /// [`LOSS_WINDOW`] before `now`, when that reaches [`LOSS_LIMIT`].
    pub(crate) fn add(&mut self, now: Instant, lost: u64) -> Option<u64> {
        if lost > 0 {
            self.events.push_back((now, lost));
            self.total += lost;
        }
        while let Some(&(at, n)) = self.events.front() {
            if now.duration_since(at) <= LOSS_WINDOW {
                break;
            }
            self.events.pop_front();
            self.total -= n;
        }
        (self.total >= LOSS_LIMIT).then_some(self.total)
    }
}

/// Runs one session of `url` feeding `key` until it ends; frames go to a
/// publisher of `key` that exists from PLAY on.
pub(crate) async fn run(
    hub: &Hub,
    key: &StreamKey,
    url: &str,
    mode: Mode,
    status: &Status,
) -> Outcome {
    let mut ran = None;
    let error = match session(hub, key, url, mode, status, &mut ran).await {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Outcome {
        ran: ran.map_or(Duration::ZERO, |t: Instant| t.elapsed()),
        error,
    }
}

enum Never {}

async fn session(
    hub: &Hub,
    key: &StreamKey,
    raw_url: &str,
    mode: Mode,
    status: &Status,
    first_frame: &mut Option<Instant>,
) -> Result<Never, PullError> {
    let udp = mode.udp;
    let (url, creds) = camera_url(raw_url)?;
    let addr = peer_addr(&url).await;
    let options = SessionOptions::default()
        .creds(creds.map(|c| Credentials {
            username: c.username,
            password: c.password,
        }))
        .user_agent(format!("weir/{}", env!("CARGO_PKG_VERSION")));
    let transport = if udp {
        RtpTransport::Udp(Default::default())
    } else {
        RtpTransport::Tcp(Default::default())
    };
    let connect = async {
        let mut session = retina::client::Session::describe(url, options)
            .await
            .map_err(rtsp)?;
        let mut tracks: Vec<Option<Track>> = Vec::new();
        let (mut video, mut audio) = (false, false);
        let mut offered = Vec::new();
        for s in session.streams() {
            offered.push(format!("{}/{}", s.media(), s.encoding_name()));
            let clock = s.clock_rate_hz();
            let track = match (s.media(), s.encoding_name()) {
                ("video", "h264") if !video => Some(Track::Video(VideoTrack::new(false, clock))),
                ("video", "h265") if !video => Some(Track::Video(VideoTrack::new(true, clock))),
                ("audio", "mpeg4-generic") if !audio => match s.parameters() {
                    Some(ParametersRef::Audio(p)) if !p.extra_data().is_empty() => Some(
                        Track::Audio(AudioTrack::aac(clock, p.extra_data().to_vec().into())),
                    ),
                    _ => None,
                },
                ("audio", name @ ("pcma" | "pcmu")) if !audio => Some(Track::Audio(
                    AudioTrack::g711(name == "pcma", clock, s.channels().map_or(1, |c| c.get())),
                )),
                _ => None,
            };
            video |= matches!(track, Some(Track::Video(_)));
            audio |= matches!(track, Some(Track::Audio(_)));
            tracks.push(track);
        }
        if !video && !audio {
            return Err(PullError::NoTracks(offered.join(", ")));
        }
        for (i, track) in tracks.iter().enumerate() {
            if track.is_some() {
                session
                    .setup(
                        i,
                        SetupOptions::default()
                            .transport(transport.clone())
                            .frame_format(FrameFormat::MP4),
                    )
                    .await
                    .map_err(rtsp)?;
            }
        }
        // Cameras that leave `rtptime` out of RTP-Info still play; their
        // tracks then start at their own first packets.
        let playing = session
            .play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive))
            .await
            .map_err(rtsp)?;
        let demuxed = playing.demuxed().map_err(rtsp)?;
        Ok((demuxed, tracks))
    };
    let (demuxed, mut tracks) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| PullError::Timeout {
            what: "connecting to the camera",
            after: CONNECT_TIMEOUT,
        })??;
    let mut demuxed = Box::pin(demuxed);

    let client = hub.clients().register(ClientInfo {
        protocol: PROTOCOL,
        addr,
        role: Some(Action::Publish),
    });
    let admission = hub.admit_source(&client, key);
    let mut publisher = hub
        .publish(&admission)
        .map_err(|e| PullError::Hub(e.to_string()))?;
    let mut out: Vec<Frame> = Vec::new();
    for (i, track) in tracks.iter_mut().enumerate() {
        if let (Some(Track::Video(v)), Some(ParametersRef::Video(p))) =
            (track, demuxed.streams()[i].parameters())
        {
            params(v, p, &mut out);
        }
    }

    let mut window = (Instant::now(), 0u64);
    let mut losses = LossWindow::default();
    loop {
        for frame in out.drain(..) {
            let len = frame.data.len() as u64;
            window.1 += len;
            client.add_in(len);
            if first_frame.is_none() && !frame.config {
                *first_frame = Some(Instant::now());
                status.set_state(PullState::Running);
                tracing::info!(stream = %key, udp, "camera pull running");
            }
            publisher.send(frame);
        }
        let elapsed = window.0.elapsed();
        if elapsed >= Duration::from_secs(2) {
            status.set_bitrate(window.1 * 8 / elapsed.as_millis().max(1) as u64);
            window = (Instant::now(), 0);
        }
        let item = tokio::select! {
            item = tokio::time::timeout(STALL_TIMEOUT, demuxed.next()) => item,
            reason = publisher.closed() => {
                return Err(PullError::Closed(match reason {
                    CloseReason::TakenOver => "another publisher took the stream over",
                    CloseReason::Kicked => "kicked",
                }));
            }
            () = client.kicked() => return Err(PullError::Closed("kicked")),
        };
        let item = match item {
            Err(_) => {
                return Err(PullError::Timeout {
                    what: "waiting for media",
                    after: STALL_TIMEOUT,
                })
            }
            Ok(None) => return Err(PullError::Ended),
            Ok(Some(Err(e))) => return Err(rtsp(e)),
            Ok(Some(Ok(item))) => item,
        };
        let lost = match &item {
            CodecItem::VideoFrame(f) => f.loss(),
            CodecItem::AudioFrame(f) => f.loss(),
            _ => 0,
        };
        if mode.udp && mode.loss_limit {
            if let Some(lost) = losses.add(Instant::now(), u64::from(lost)) {
                return Err(PullError::UdpLoss {
                    lost,
                    within: LOSS_WINDOW,
                });
            }
        }
        match item {
            CodecItem::VideoFrame(f) => {
                let id = f.stream_id();
                let Some(Some(Track::Video(v))) = tracks.get_mut(id) else {
                    continue;
                };
                if f.has_new_parameters() {
                    if let Some(ParametersRef::Video(p)) = demuxed.streams()[id].parameters() {
                        params(v, p, &mut out);
                    }
                }
                v.frame(
                    f.timestamp().elapsed(),
                    f.is_random_access_point(),
                    f.data(),
                    &mut out,
                );
            }
            CodecItem::AudioFrame(f) => {
                if let Some(Some(Track::Audio(a))) = tracks.get_mut(f.stream_id()) {
                    a.frame(f.timestamp().elapsed(), f.data(), &mut out);
                }
            }
            _ => {}
        }
    }
}

fn params(track: &mut VideoTrack, p: &VideoParameters, out: &mut Vec<Frame>) {
    match p.codec_params() {
        VideoParametersCodec::H264 { sps, pps } => track.params(&[], sps, pps, out),
        VideoParametersCodec::H265 { vps, sps, pps } => track.params(vps, sps, pps, out),
        _ => {}
    }
}

/// The camera's address, for the client list (unspecified if its name
/// does not resolve; the session then fails on its own).
async fn peer_addr(url: &url::Url) -> SocketAddr {
    let port = url.port().unwrap_or(554);
    let unknown = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    match url.host() {
        Some(url::Host::Ipv4(ip)) => SocketAddr::new(ip.into(), port),
        Some(url::Host::Ipv6(ip)) => SocketAddr::new(ip.into(), port),
        Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or(unknown),
        None => unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_counts_within_the_window_only() {
        let t0 = Instant::now();
        let mut w = LossWindow::default();
        assert_eq!(w.add(t0, 0), None);
        assert_eq!(w.add(t0, LOSS_LIMIT - 1), None);
        // The old losses leave the window before the next ones come.
        let later = t0 + LOSS_WINDOW + Duration::from_millis(1);
        assert_eq!(w.add(later, 5), None);
        assert_eq!(w.add(later, LOSS_LIMIT - 6), None);
        assert_eq!(w.add(later + Duration::from_secs(1), 1), Some(LOSS_LIMIT));
    }
}
