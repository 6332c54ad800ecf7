//! The one publisher: sends the source in real time over weir's RTMP
//! client, looping, and records when each video and AAC frame left.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use weir_flv::TagType;
use weir_rtmp::client::{ClientEvent, ClientMode};
use weir_rtmp_client::{Client, ClientError, Options};

use crate::marker::{audio_key, frame_key, Markers};
use crate::source::Source;

/// Pause between the end of one pass over the file and the next, so the
/// timeline stays strictly increasing.
const LOOP_GAP_MS: u32 = 40;

/// What the publisher has sent so far (read by the sampler).
#[derive(Debug, Default)]
pub(crate) struct PublishCounters {
    /// Tag body bytes sent: what every player is expected to receive.
    pub(crate) bytes: AtomicU64,
    /// Video frames sent.
    pub(crate) frames: AtomicU64,
    /// Passes over the file started.
    pub(crate) loops: AtomicU64,
    /// Largest delay of a send behind its due time, microseconds: a
    /// publisher that cannot keep its pace makes the run meaningless.
    pub(crate) max_late_us: AtomicU64,
}

/// Connects and publishes until the task is dropped or the server fails.
/// `ready` is called once the server said Publish.Start.
pub(crate) async fn run(
    url: String,
    source: Arc<Source>,
    markers: Arc<Markers>,
    counters: Arc<PublishCounters>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    let mut client = Client::connect(&url, ClientMode::Publish, &Options::default())
        .await
        .with_context(|| format!("publishing to {url}"))?;
    ready();
    let start = Instant::now();
    let mut offset: u32 = 0;
    loop {
        counters.loops.fetch_add(1, Ordering::Relaxed);
        for tag in &source.tags {
            let ts = offset.wrapping_add(tag.time_ms);
            let due = start + Duration::from_millis(u64::from(ts));
            tokio::time::sleep_until(due.into()).await;
            let late = Instant::now().saturating_duration_since(due).as_micros() as u64;
            counters.max_late_us.fetch_max(late, Ordering::Relaxed);
            if let Some(key) = tag.rtsp_key {
                markers.sent(key, Instant::now());
            }
            send(
                &mut client,
                tag.tag_type,
                ts,
                tag.body.clone(),
                &markers,
                &counters,
            )
            .await?;
            if let Some(ClientEvent::Error { code, description }) = client.poll_server().await? {
                return Err(ClientError::Refused { code, description }.into());
            }
        }
        offset = offset
            .wrapping_add(source.duration_ms)
            .wrapping_add(LOOP_GAP_MS);
    }
}

async fn send(
    client: &mut Client,
    tag_type: TagType,
    ts: u32,
    body: bytes::Bytes,
    markers: &Markers,
    counters: &PublishCounters,
) -> Result<(), ClientError> {
    let len = body.len() as u64;
    match tag_type {
        TagType::Video => {
            if let Some(key) = frame_key(&body) {
                markers.sent(key, Instant::now());
                counters.frames.fetch_add(1, Ordering::Relaxed);
            }
            client.send_media(9, ts, body).await?;
        }
        TagType::Audio => {
            if let Some(key) = audio_key(&body) {
                markers.sent(key, Instant::now());
            }
            client.send_media(8, ts, body).await?;
        }
        TagType::Script => {
            // Files hold `onMetaData`; the client wraps it in
            // @setDataFrame itself, so strip one the file may carry.
            if let Ok(Some(frame)) = weir_flv::frame_from_tag(18, 0, body) {
                client.send_metadata(frame.data).await?;
            }
        }
    }
    counters.bytes.fetch_add(len, Ordering::Relaxed);
    Ok(())
}
