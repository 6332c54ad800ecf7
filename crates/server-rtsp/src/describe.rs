//! DESCRIBE: the SDP of a live stream, from its codec configuration.
//!
//! The stream's RTSP egress channel replays its header entries (one per
//! track, each holding its SDP media section) to every new receiver before
//! any frame, so a fresh receiver's first entries are the description. A
//! stream that is not live yet is waited for (`play_wait`).

use std::time::Duration;

use tokio::time::Instant;
use weir_hub::{Admission, Class, Egress, Hub};
use weir_media::TrackKind;
use weir_rtsp::sdp::{Media, SessionDescription};

use crate::muxer::{Rtp, RtspMuxer};

/// How long to wait for the first frame after the headers, once live: a
/// stream's headers are all replayed before its first frame.
const HEADERS_WAIT: Duration = Duration::from_secs(3);

/// The tracks of a stream, video first: `None` when it is not live (or
/// has no track RTSP can carry) within `wait`.
pub(crate) async fn tracks(
    hub: &Hub,
    egress: &Egress<RtspMuxer>,
    admission: &Admission,
    wait: Duration,
) -> Option<Vec<(TrackKind, Media)>> {
    if !hub.is_live(admission.key()) && !hub.wait_live(admission.key(), wait).await {
        return None;
    }
    let mut rx = egress.subscribe(admission);
    let deadline = Instant::now() + HEADERS_WAIT;
    let (mut video, mut audio) = (None, None);
    let mut batch = Vec::new();
    'read: loop {
        let got = tokio::time::timeout_at(deadline, rx.recv_batch(&mut batch, 64)).await;
        if !matches!(got, Ok(Ok(()))) {
            break;
        }
        for entry in batch.drain(..) {
            match entry {
                Rtp::Media {
                    kind,
                    media: Some(media),
                    ..
                } => match kind {
                    TrackKind::Video => video = Some(media),
                    TrackKind::Audio => audio = Some(media),
                    TrackKind::Data => {}
                },
                // G.711 has no config frame: the muxer makes its header
                // from the first audio frame, which may follow the first
                // video frame of the replayed GOP. Keep reading for it.
                Rtp::Media { class, .. }
                    if !matches!(class, Class::Header(_))
                        && (audio.is_some() || !g711_expected(hub, admission)) =>
                {
                    break 'read
                }
                _ => {}
            }
        }
    }
    let tracks: Vec<(TrackKind, Media)> = [(TrackKind::Video, video), (TrackKind::Audio, audio)]
        .into_iter()
        .filter_map(|(k, m)| Some((k, (*m?).clone())))
        .collect();
    (!tracks.is_empty()).then_some(tracks)
}

/// The stream's audio is G.711, whose description comes with its first
/// frame rather than a config frame.
fn g711_expected(hub: &Hub, admission: &Admission) -> bool {
    hub.stream(admission.key()).is_some_and(|s| {
        matches!(
            s.audio_codec,
            Some(weir_media::Codec::Pcma { .. } | weir_media::Codec::Pcmu { .. })
        )
    })
}

/// The SDP text for `tracks`, with absolute controls
/// `{base}/trackID={i}{?query}`: clients then SETUP a URL that still
/// carries the stream key or signature.
pub(crate) fn sdp(tracks: &[(TrackKind, Media)], base: &str, query: &str, host: &str) -> String {
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let media = tracks
        .iter()
        .enumerate()
        .map(|(i, (_, m))| Media {
            control: Some(format!("{base}/trackID={i}{q}")),
            ..m.clone()
        })
        .collect();
    let ip = host.rsplit_once(':').map_or(host, |(h, _)| h);
    SessionDescription {
        name: "weir".into(),
        control: Some("*".into()),
        media,
    }
    .write(ip.trim_matches(['[', ']']), 0)
}
