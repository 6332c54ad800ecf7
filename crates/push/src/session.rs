//! One connection to a destination: connect and `publish` with weir's RTMP
//! client, then the stream's frames as RTMP messages until the source
//! ends or something fails.
//!
//! Frames become message bodies with [`weir_flv::tag_header`], as the
//! RTMP server's players get them; timestamps start at 0 on every
//! connection (the destination sees a new publish each time).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use weir_hub::{Hub, StreamEvent, Subscription};
use weir_media::{us_to_ms, Frame, TrackKind};
use weir_rtmp::client::{ClientEvent, ClientMode};
use weir_rtmp_client::{Client, ClientError, Options};

use crate::status::{PushState, PushStats, Status};
use crate::PushError;

/// Longest connection set-up: TCP connect, handshake, `connect`,
/// `publish` (a destination that accepts TCP and never answers fails
/// here).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest single write: a destination that stops reading (its socket
/// buffer full) fails here, and the push reconnects.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the bit rate shown in the API is updated.
const BITRATE_WINDOW: Duration = Duration::from_secs(2);
/// Events taken from the hub at once.
const BATCH: usize = 128;

/// How a connection that did not fail ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The source unpublished.
    Source,
}

/// What one connection reports back.
pub(crate) struct Meter<'a> {
    pub(crate) status: &'a Status,
    pub(crate) stats: &'a PushStats,
    /// When the destination accepted the publish.
    pub(crate) pushing_since: Option<Instant>,
    window: (Instant, u64),
}

impl<'a> Meter<'a> {
    pub(crate) fn new(status: &'a Status, stats: &'a PushStats) -> Self {
        Meter {
            status,
            stats,
            pushing_since: None,
            window: (Instant::now(), 0),
        }
    }

    fn pushing(&mut self) {
        let now = Instant::now();
        self.pushing_since = Some(now);
        self.window = (now, 0);
        self.status.set_state(PushState::Pushing);
    }

    fn sent(&mut self, bytes: u64) {
        self.status.sent(bytes);
        self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.window.1 += bytes;
        let elapsed = self.window.0.elapsed();
        if elapsed >= BITRATE_WINDOW {
            self.status
                .set_bitrate(self.window.1 * 8 / elapsed.as_millis().max(1) as u64);
            self.window = (Instant::now(), 0);
        }
    }
}

fn client_error(e: ClientError) -> PushError {
    PushError::from_client(e, WRITE_TIMEOUT)
}

/// Runs one connection to `url`, pushing `hub`'s stream through a fresh
/// subscription made once the destination accepted (so it starts at the
/// latest keyframe, with the stream's headers, never with frames that
/// queued while it connected).
pub(crate) async fn push(
    hub: &Hub,
    admission: &weir_hub::Admission,
    url: &str,
    meter: &mut Meter<'_>,
) -> Result<Ended, PushError> {
    let opts = Options {
        connect_timeout: CONNECT_TIMEOUT,
        ..Options::default()
    };
    let mut client = Client::connect(url, ClientMode::Publish, &opts)
        .await
        .map_err(|e| PushError::from_client(e, CONNECT_TIMEOUT))?;
    let mut sub = hub.subscribe(admission);
    if !sub.is_live() {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, client.close()).await;
        return Ok(Ended::Source);
    }
    meter.pushing();
    let result = forward(&mut client, &mut sub, meter).await;
    if result.is_ok() {
        // The source ended: unpublish politely, within bounds.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, client.close()).await;
    }
    result
}

/// Frames out until the source ends or the connection fails.
async fn forward(
    client: &mut Client,
    sub: &mut Subscription,
    meter: &mut Meter<'_>,
) -> Result<Ended, PushError> {
    let mut batch = Vec::with_capacity(BATCH);
    // The connection's time zero, in stream milliseconds.
    let mut base: Option<i64> = None;
    loop {
        batch.clear();
        if sub.recv_batch(&mut batch, BATCH).await.is_err() {
            return Ok(Ended::Source);
        }
        for event in batch.drain(..) {
            match event {
                StreamEvent::Frame(frame) => send(client, &frame, &mut base, meter).await?,
                StreamEvent::Unpublished => return Ok(Ended::Source),
                // A takeover: the new publisher's headers follow as frames
                // and the hub keeps its timestamps going.
                StreamEvent::Published | StreamEvent::Replaced => {}
            }
        }
        // Acknowledgements, pings and status from the destination: a
        // refusal or a close ends the connection now, not at a later
        // write.
        match tokio::time::timeout(WRITE_TIMEOUT, client.poll_server()).await {
            Err(_) => return Err(timed_out("writing to the destination")),
            Ok(Err(e)) => return Err(client_error(e)),
            Ok(Ok(Some(ClientEvent::Error { code, description }))) => {
                return Err(PushError::Refused { code, description })
            }
            Ok(Ok(_)) => {}
        }
    }
}

fn timed_out(what: &'static str) -> PushError {
    PushError::Timeout {
        what,
        after: WRITE_TIMEOUT,
    }
}

/// Sends one frame as an RTMP message, within [`WRITE_TIMEOUT`].
async fn send(
    client: &mut Client,
    frame: &Frame,
    base: &mut Option<i64>,
    meter: &mut Meter<'_>,
) -> Result<(), PushError> {
    let write = if frame.kind == TrackKind::Data {
        // `onMetaData` is what players read; other script data (cue
        // points) is not sent: the client publishes metadata only.
        if !weir_flv::is_on_metadata(frame) {
            return Ok(());
        }
        tokio::time::timeout(WRITE_TIMEOUT, client.send_metadata(frame.data.clone())).await
    } else {
        let (tag_type, header) = weir_flv::tag_header(frame);
        let head = header.as_bytes();
        let mut body = BytesMut::with_capacity(head.len() + frame.data.len());
        body.put_slice(head);
        body.put_slice(&frame.data);
        let ms = us_to_ms(frame.dts_us);
        let zero = *base.get_or_insert(ms);
        // RTMP's 32-bit milliseconds wrap; the destination unwraps them.
        let timestamp = (ms - zero).max(0) as u32;
        tokio::time::timeout(
            WRITE_TIMEOUT,
            client.send_media(tag_type, timestamp, body.freeze()),
        )
        .await
    };
    match write {
        Err(_) => Err(timed_out("writing to the destination")),
        Ok(Err(e)) => Err(client_error(e)),
        Ok(Ok(())) => {
            meter.sent(frame.data.len() as u64);
            Ok(())
        }
    }
}
