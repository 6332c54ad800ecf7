//! FLV files over RTMP: publish a file paced by its timestamps, or play a
//! stream into a file.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weir_flv::{Demuxer, Tag};
use weir_rtmp::client::{ClientEvent, ClientMode};
use weir_rtmp::message::type_id;

use crate::{io, Client, ClientError, Options};

/// Largest FLV tag accepted from a file.
const MAX_TAG: u32 = 64 << 20;
/// Gap inserted between the end of a file and its next loop.
const LOOP_GAP_MS: u32 = 40;

/// What a publish run sent.
#[derive(Debug, Default, Clone)]
pub struct PublishStats {
    /// Tags sent.
    pub tags: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Times the file was (re)started.
    pub loops: u64,
}

/// What a play run received.
#[derive(Debug, Default, Clone)]
pub struct PlayStats {
    /// Video messages received.
    pub video: u64,
    /// Audio messages received.
    pub audio: u64,
    /// Script data messages received.
    pub data: u64,
    /// Bytes read from the socket.
    pub bytes: u64,
}

/// Publishes the FLV file at `path` to `url`, sending each tag when its
/// timestamp comes due (real-time pacing), optionally looping forever.
pub async fn publish_file(
    path: &Path,
    url: &str,
    looping: bool,
    opts: &Options,
) -> Result<PublishStats, ClientError> {
    let mut client = Client::connect(url, ClientMode::Publish, opts).await?;
    let mut stats = PublishStats::default();
    let start = Instant::now();
    // Timeline offset so that timestamps keep rising across loops.
    let mut offset: u32 = 0;
    loop {
        stats.loops += 1;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(io("opening the FLV file"))?;
        let (first, last) = publish_pass(&mut client, file, start, offset, &mut stats).await?;
        if !looping {
            break;
        }
        offset = offset
            .wrapping_add(last.wrapping_sub(first))
            .wrapping_add(LOOP_GAP_MS);
    }
    client.close().await?;
    Ok(stats)
}

/// Sends one pass over the file; returns its first and last timestamps.
async fn publish_pass<R: AsyncRead + Unpin>(
    client: &mut Client,
    mut file: R,
    start: Instant,
    offset: u32,
    stats: &mut PublishStats,
) -> Result<(u32, u32), ClientError> {
    let mut demuxer = Demuxer::new(MAX_TAG);
    let mut buf = vec![0u8; 64 * 1024];
    let mut first: Option<u32> = None;
    let mut last = 0;
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(io("reading the FLV file"))?;
        if n == 0 {
            break;
        }
        demuxer.push(&buf[..n]);
        while let Some(tag) = demuxer
            .poll()
            .map_err(|e| ClientError::Protocol(format!("bad FLV file: {e}")))?
        {
            let base = *first.get_or_insert(tag.timestamp);
            last = tag.timestamp;
            let due = start
                + Duration::from_millis(u64::from(
                    offset.wrapping_add(tag.timestamp.wrapping_sub(base)),
                ));
            tokio::time::sleep_until(due.into()).await;
            send_tag(
                client,
                tag,
                offset.wrapping_add(last.wrapping_sub(base)),
                stats,
            )
            .await?;
            if let Some(ClientEvent::Error { code, description }) = client.poll_server().await? {
                return Err(ClientError::Refused { code, description });
            }
        }
    }
    Ok((first.unwrap_or(0), last))
}

async fn send_tag(
    client: &mut Client,
    tag: Tag,
    timestamp: u32,
    stats: &mut PublishStats,
) -> Result<(), ClientError> {
    stats.tags += 1;
    stats.bytes += tag.body.len() as u64;
    match tag.tag_type as u8 {
        type_id::AUDIO | type_id::VIDEO => {
            client
                .send_media(tag.tag_type as u8, timestamp, tag.body)
                .await
        }
        type_id::DATA_AMF0 => {
            // Files hold `onMetaData`; RTMP publishers wrap it in @setDataFrame,
            // which the session adds. Strip one if the file has it.
            match weir_flv::frame_from_tag(type_id::DATA_AMF0, 0, tag.body) {
                Ok(Some(frame)) => client.send_metadata(frame.data).await,
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Plays `url` into `out` as an FLV file, for at most `duration` (or until
/// the publisher stops when no duration is given). Timestamps start at 0.
pub async fn play_to<W: AsyncWrite + Unpin>(
    url: &str,
    out: &mut W,
    duration: Option<Duration>,
    opts: &Options,
) -> Result<PlayStats, ClientError> {
    let mut client = Client::connect(url, ClientMode::Play, opts).await?;
    let deadline = duration.map(|d| tokio::time::Instant::now() + d);
    out.write_all(&weir_flv::file_header(true, true))
        .await
        .map_err(io("writing the FLV header"))?;
    let mut stats = PlayStats::default();
    let mut base: Option<u32> = None;
    let mut tag = BytesMut::new();
    loop {
        let ev = match deadline {
            Some(d) => match tokio::time::timeout_at(d, client.next_event()).await {
                Ok(ev) => ev?,
                Err(_) => break,
            },
            None => client.next_event().await?,
        };
        let (type_id, timestamp, payload) = match ev {
            None => break,
            Some(ClientEvent::Media {
                type_id,
                timestamp,
                payload,
            }) => (type_id, timestamp, payload),
            Some(ClientEvent::Metadata { timestamp, payload }) => {
                (type_id::DATA_AMF0, timestamp, payload)
            }
            Some(ClientEvent::StreamEof) if deadline.is_none() => break,
            Some(ClientEvent::Error { code, description }) => {
                return Err(ClientError::Refused { code, description })
            }
            Some(_) => continue,
        };
        match type_id {
            8 => stats.audio += 1,
            9 => stats.video += 1,
            _ => stats.data += 1,
        }
        let ts = timestamp.wrapping_sub(*base.get_or_insert(timestamp));
        weir_flv::write_tag(type_id, ts, &[&payload], &mut tag);
        out.write_all(&tag)
            .await
            .map_err(io("writing the FLV file"))?;
        tag.clear();
    }
    out.flush().await.map_err(io("writing the FLV file"))?;
    stats.bytes = client.bytes_in();
    let _ = client.close().await;
    Ok(stats)
}
