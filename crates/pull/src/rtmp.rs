//! One RTMP session with a source server (weir's own client): connect,
//! `play`, then its messages as frames into the pull's feed until
//! something ends it.
//!
//! Messages become frames with [`weir_flv::frame_from_tag`], exactly as
//! the RTMP server's publish path makes them; RTMP's 32-bit millisecond
//! timestamps are unwrapped first ([`weir_media::Unwrapper`]).

use weir_flv::FlvError;
use weir_media::Unwrapper;
use weir_rtmp::client::{ClientEvent, ClientMode};
use weir_rtmp::message::type_id;
use weir_rtmp::url::RtmpUrl;
use weir_rtmp_client::{Client, ClientError, Options};

use crate::feed::Feed;
use crate::session::{peer_addr, Never, CONNECT_TIMEOUT, STALL_TIMEOUT};
use crate::PullError;

/// The protocol name an RTMP pull is listed with among the clients.
pub const RTMP_PROTOCOL: &str = "rtmp-pull";

/// Status codes that say the source stream is over (its publisher left,
/// or the server stopped playing it).
const ENDED: &[&str] = &["NetStream.Play.UnpublishNotify", "NetStream.Play.Stop"];

fn rtmp(e: ClientError) -> PullError {
    match e {
        // The URL was checked when the pull was added; never echo it (its
        // query may hold a key).
        ClientError::Url { reason, .. } => PullError::Rtmp(format!("bad URL: {reason}")),
        other => PullError::Rtmp(other.to_string()),
    }
}

/// Runs one session playing `url` until it ends; frames go to `feed` from
/// `NetStream.Play.Start` on.
pub(crate) async fn session(feed: &mut Feed<'_>, url: &str) -> Result<Never, PullError> {
    let parsed = RtmpUrl::parse(url).map_err(|e| PullError::Rtmp(format!("bad URL: {e}")))?;
    let addr = peer_addr(&parsed.host, parsed.port).await;
    let opts = Options {
        digest_handshake: false,
        connect_timeout: CONNECT_TIMEOUT,
        ..Options::default()
    };
    let mut client = Client::connect(url, ClientMode::Play, &opts)
        .await
        .map_err(rtmp)?;
    feed.playing(RTMP_PROTOCOL, addr)?;
    let mut clock = Unwrapper::new();
    let mut refused = 0u64;
    // No frame for STALL_TIMEOUT ends the session, whatever else comes.
    let mut stall_at = tokio::time::Instant::now() + STALL_TIMEOUT;
    loop {
        let event = tokio::select! {
            event = tokio::time::timeout_at(stall_at, client.next_event()) => event,
            error = feed.closed() => return Err(error),
        };
        let (tag_type, timestamp, payload) = match event {
            Err(_) => {
                return Err(PullError::Timeout {
                    what: "waiting for media",
                    after: STALL_TIMEOUT,
                })
            }
            Ok(Err(e)) => return Err(rtmp(e)),
            Ok(Ok(None)) => return Err(PullError::Ended),
            Ok(Ok(Some(event))) => match event {
                ClientEvent::Media {
                    type_id,
                    timestamp,
                    payload,
                } => (type_id, timestamp, payload),
                ClientEvent::Metadata { timestamp, payload } => {
                    (type_id::DATA_AMF0, timestamp, payload)
                }
                ClientEvent::StreamEof => return Err(PullError::Ended),
                ClientEvent::Status { code, .. } if ENDED.contains(&code.as_str()) => {
                    return Err(PullError::Ended)
                }
                ClientEvent::Error { code, description } => {
                    return Err(PullError::Rtmp(format!("{code}: {description}")))
                }
                _ => continue,
            },
        };
        let dts = clock.unwrap(timestamp);
        match weir_flv::frame_from_tag(tag_type, dts, payload) {
            Ok(Some(frame)) => {
                if !frame.is_header() {
                    stall_at = tokio::time::Instant::now() + STALL_TIMEOUT;
                }
                if feed.send(frame) {
                    tracing::info!(stream = %feed.key(), "rtmp pull running");
                }
            }
            Ok(None) => {}
            // A codec nothing downstream can carry: dropped and counted,
            // the rest of the stream goes on (as for RTMP publishers).
            Err(FlvError::UnsupportedCodec(codec)) => {
                if refused == 0 {
                    tracing::warn!(stream = %feed.key(), %codec, "rtmp pull: frames of an unsupported codec dropped");
                }
                refused += 1;
                feed.count_error(RTMP_PROTOCOL, "unsupported_codec");
            }
            Err(e) => return Err(PullError::Rtmp(format!("bad media message: {e}"))),
        }
    }
}
