//! One RTSP session with a camera (retina): DESCRIBE, SETUP of the tracks
//! weir reads, PLAY, then frames into the pull's feed until something
//! ends it.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use retina::client::{
    Credentials, InitialTimestampPolicy, PlayOptions, SessionOptions, SetupOptions,
    Transport as RtpTransport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParameters, VideoParametersCodec};
use weir_media::Frame;

use crate::config::Creds;
use crate::convert::{AudioTrack, VideoTrack};
use crate::feed::Feed;
use crate::session::{peer_addr, Mode, Never, CONNECT_TIMEOUT, STALL_TIMEOUT};
use crate::PullError;

/// Transport `auto` over UDP: this many RTP packets lost within
/// [`LOSS_WINDOW`] end the session, and the pull goes on over TCP.
pub const LOSS_LIMIT: u64 = 20;
/// See [`LOSS_LIMIT`].
pub const LOSS_WINDOW: Duration = Duration::from_secs(10);
/// The protocol name an RTSP pull is listed with among the clients.
pub const PROTOCOL: &str = "rtsp-pull";

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

/// Runs one session of the camera at `url` (credentials taken out)
/// until it ends; frames go to `feed` from PLAY on.
pub(crate) async fn session(
    feed: &mut Feed<'_>,
    url: url::Url,
    creds: Option<Creds>,
    mode: Mode,
) -> Result<Never, PullError> {
    let udp = mode.udp;
    let addr = peer_addr(
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(554),
    )
    .await;
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

    feed.playing(PROTOCOL, addr)?;
    let mut out: Vec<Frame> = Vec::new();
    for (i, track) in tracks.iter_mut().enumerate() {
        if let (Some(Track::Video(v)), Some(ParametersRef::Video(p))) =
            (track, demuxed.streams()[i].parameters())
        {
            params(v, p, &mut out);
        }
    }

    let mut losses = LossWindow::default();
    loop {
        for frame in out.drain(..) {
            if feed.send(frame) {
                tracing::info!(stream = %feed.key(), udp, "camera pull running");
            }
        }
        let item = tokio::select! {
            item = tokio::time::timeout(STALL_TIMEOUT, demuxed.next()) => item,
            error = feed.closed() => return Err(error),
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
