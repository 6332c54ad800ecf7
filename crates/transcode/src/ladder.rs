//! One source's ladder: ffmpeg supervised for as long as the source is
//! live (or, on demand, while a rendition has viewers), restarted with
//! backoff when it fails.
//!
//! The source reaches ffmpeg as FLV on its stdin, from a hub subscription
//! (bounded: if ffmpeg falls behind, the hub skips it to the next keyframe
//! like any slow viewer, and nobody else waits). Each rendition comes back
//! as FLV over a loopback TCP connection to a listener weir opened for it
//! (ffmpeg connects; no port is configured, no credential is needed, and
//! no other client shares the path), and is published into the hub as
//! `{stream}_{name}`, where every protocol plays it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{ChildStderr, ChildStdin, Command};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use weir_hub::{Action, ClientInfo, Hub, StreamEvent, Subscription};
use weir_media::{StreamKey, Unwrapper};
use weir_netio::Backoff;

use crate::status::{LadderState, Status};
use crate::{command, TranscodeConfig};

/// How often an on-demand ladder looks at its renditions' viewers.
const DEMAND_POLL: Duration = Duration::from_millis(250);
/// An on-demand ladder stops this long after its last viewer left.
const IDLE_AFTER: Duration = Duration::from_secs(10);
/// ffmpeg must connect every output within this after it starts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// A run that lasted this long was healthy: the backoff starts over.
const HEALTHY: Duration = Duration::from_secs(30);
/// After its stdin closes, ffmpeg gets this long to finish before a kill.
const EXIT_GRACE: Duration = Duration::from_secs(3);
/// ffmpeg's stderr lines, and its failures, are logged as warnings at
/// most this often per ladder (every one at debug).
const WARN_EVERY: Duration = Duration::from_secs(60);
/// Hub events taken at once.
const BATCH: usize = 256;
/// Read size of a rendition's connection.
const READ_BUF: usize = 64 << 10;

/// How one ffmpeg run ended.
enum End {
    /// The source stopped publishing: the ladder is over.
    SourceGone,
    /// Shutdown or the ladder was removed.
    Stopped,
    /// On demand, and nobody has watched for [`IDLE_AFTER`].
    Idle,
    /// ffmpeg (or an output) failed: retry after a backoff.
    Failed(String),
}

/// Runs the ladder of `key` until its source is gone or `stop` fires.
pub(crate) async fn run(
    hub: Hub,
    key: StreamKey,
    entry: Arc<TranscodeConfig>,
    status: Arc<Status>,
    stop: CancellationToken,
) {
    let renditions: Vec<StreamKey> = entry
        .renditions
        .iter()
        .filter_map(|r| TranscodeConfig::rendition_key(&key, r))
        .collect();
    let mut backoff = Backoff::new();
    let mut starts = 0u64;
    // ffmpeg failing in a loop is logged once a minute, with how many
    // failures each line stands for.
    let mut warned: Option<Instant> = None;
    let mut quiet = 0u64;
    loop {
        if stop.is_cancelled() || !hub.is_live(&key) {
            break;
        }
        if entry.on_demand && !wanted(&hub, &renditions) {
            status.set(LadderState::Idle);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(DEMAND_POLL) => continue,
            }
        }
        let began = Instant::now();
        let end = run_ffmpeg(&hub, &key, &entry, &renditions, &status, starts > 0, &stop).await;
        starts += 1;
        match end {
            End::SourceGone | End::Stopped => break,
            End::Idle => {
                tracing::info!(stream = %key, "transcode: no viewers, ffmpeg stopped");
                continue;
            }
            End::Failed(why) => {
                if began.elapsed() >= HEALTHY {
                    backoff.reset();
                }
                let delay = backoff.next_delay(rand::random());
                if warned.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    tracing::warn!(stream = %key, error = %why, retry_in = ?delay, suppressed = quiet, "transcode: ffmpeg failed");
                    warned = Some(Instant::now());
                    quiet = 0;
                } else {
                    tracing::debug!(stream = %key, error = %why, retry_in = ?delay, "transcode: ffmpeg failed");
                    quiet += 1;
                }
                status.failed(why);
                status.set(LadderState::Backoff);
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Whether any rendition has a viewer (or a player waiting for it).
fn wanted(hub: &Hub, renditions: &[StreamKey]) -> bool {
    renditions.iter().any(|k| hub.subscribers(k) > 0)
}

/// One ffmpeg process, from its start to its end.
async fn run_ffmpeg(
    hub: &Hub,
    key: &StreamKey,
    entry: &TranscodeConfig,
    renditions: &[StreamKey],
    status: &Status,
    restart: bool,
    stop: &CancellationToken,
) -> End {
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for _ in &entry.renditions {
        match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => {
                addrs.push(l.local_addr().map_err(|e| e.to_string()));
                listeners.push(l);
            }
            Err(e) => return End::Failed(format!("loopback listener: {e}")),
        }
    }
    let addrs: Vec<_> = match addrs.into_iter().collect::<Result<_, _>>() {
        Ok(a) => a,
        Err(e) => return End::Failed(format!("loopback listener: {e}")),
    };
    let mut child = match Command::new(&entry.ffmpeg)
        .args(command::args(&entry.renditions, &addrs))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return End::Failed(format!("cannot run {}: {e}", entry.ffmpeg)),
    };
    status.started(child.id(), restart);
    tracing::info!(stream = %key, pid = child.id(), renditions = renditions.len(), "transcode: ffmpeg started");
    let last_line = Arc::new(Mutex::new(None::<String>));
    let mut tasks = JoinSet::new();
    if let Some(stderr) = child.stderr.take() {
        tasks.spawn(log_stderr(stderr, key.clone(), last_line.clone()));
    }
    let (up_tx, mut up_rx) = tokio::sync::mpsc::channel::<()>(renditions.len().max(1));
    for (listener, rkey) in listeners.into_iter().zip(renditions) {
        tasks.spawn(output(hub.clone(), listener, rkey.clone(), up_tx.clone()));
    }
    drop(up_tx);
    let Some(stdin) = child.stdin.take() else {
        return End::Failed("ffmpeg has no stdin".into());
    };
    let admission = hub.admit_internal(key, "transcode");
    let sub = hub.subscribe(&admission);
    // Boxed so that it can be dropped (closing ffmpeg's stdin) before
    // waiting for ffmpeg to exit.
    let mut feeding = Box::pin(feed(sub, stdin));
    let mut up = 0;
    let mut unwatched_since: Option<Instant> = None;
    let mut demand = tokio::time::interval(DEMAND_POLL);
    let end = loop {
        tokio::select! {
            _ = stop.cancelled() => break End::Stopped,
            end = &mut feeding => break end,
            exit = child.wait() => {
                let line = last_line.lock().clone();
                let status = exit.map_or_else(|e| e.to_string(), |s| s.to_string());
                break End::Failed(match line {
                    Some(l) => format!("ffmpeg exited ({status}): {l}"),
                    None => format!("ffmpeg exited ({status})"),
                });
            }
            done = tasks.join_next(), if !tasks.is_empty() => match done {
                Some(Ok(Err(why))) => break End::Failed(why),
                Some(Err(e)) => break End::Failed(e.to_string()),
                // The stderr task ends with ffmpeg: its exit comes next.
                Some(Ok(Ok(()))) | None => {}
            },
            Some(()) = up_rx.recv() => {
                up += 1;
                if up == renditions.len() {
                    status.set(LadderState::Running);
                }
            }
            _ = demand.tick(), if entry.on_demand => {
                if wanted(hub, renditions) {
                    unwatched_since = None;
                } else if unwatched_since.get_or_insert_with(Instant::now).elapsed() >= IDLE_AFTER {
                    break End::Idle;
                }
            }
        }
    };
    // Closing stdin (dropping the feed) lets ffmpeg flush and exit; a
    // stuck one is killed.
    drop(feeding);
    if tokio::time::timeout(EXIT_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    end
}

/// Writes the source's frames to ffmpeg's stdin as FLV until the source
/// stops publishing or ffmpeg stops reading.
async fn feed(mut sub: Subscription, mut stdin: ChildStdin) -> End {
    let mut buf = BytesMut::with_capacity(READ_BUF);
    buf.extend_from_slice(&weir_flv::file_header(true, true));
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        for ev in batch.drain(..) {
            match ev {
                StreamEvent::Frame(frame) => weir_flv::write_frame_tag(&frame, &mut buf),
                StreamEvent::Unpublished => {
                    let _ = stdin.write_all(&buf).await;
                    return End::SourceGone;
                }
                // A new encoder may change the codec parameters
                // mid-stream; ffmpeg takes new H.264/AAC headers in
                // band. `Published` starts a stream it already reads.
                StreamEvent::Replaced | StreamEvent::Published => {}
            }
        }
        if !buf.is_empty() {
            if let Err(e) = stdin.write_all(&buf).await {
                return End::Failed(format!("ffmpeg stopped reading: {e}"));
            }
            buf.clear();
        }
        if sub.recv_batch(&mut batch, BATCH).await.is_err() {
            return End::SourceGone;
        }
    }
}

/// Accepts ffmpeg's connection for one rendition and publishes what it
/// sends as `key` until it closes. `Ok` when ffmpeg closed it (it is
/// ending), `Err` with why otherwise.
async fn output(
    hub: Hub,
    listener: TcpListener,
    key: StreamKey,
    up: tokio::sync::mpsc::Sender<()>,
) -> Result<(), String> {
    let (mut conn, peer) = match tokio::time::timeout(CONNECT_TIMEOUT, listener.accept()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(format!("{key}: accept: {e}")),
        Err(_) => return Err(format!("{key}: ffmpeg did not connect its output")),
    };
    // One connection per output: nobody else may join afterwards.
    drop(listener);
    let _ = conn.set_nodelay(true);
    let client = hub.clients().register(ClientInfo {
        protocol: "transcode",
        addr: peer,
        role: Some(Action::Publish),
    });
    let admission = hub.admit_source(&client, &key);
    let mut publisher = hub.publish(&admission).map_err(|e| format!("{key}: {e}"))?;
    let _ = up.send(()).await;
    publish_flv(&mut conn, &mut publisher, &client, &key).await
}

/// Demuxes the FLV ffmpeg writes and publishes its frames.
async fn publish_flv(
    conn: &mut TcpStream,
    publisher: &mut weir_hub::Publisher,
    client: &weir_hub::ClientHandle,
    key: &StreamKey,
) -> Result<(), String> {
    let mut demux = weir_flv::Demuxer::new(weir_flv::DEFAULT_MAX_TAG_SIZE);
    let mut time = Unwrapper::new();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = tokio::select! {
            r = conn.read(&mut buf) => r.map_err(|e| format!("{key}: {e}"))?,
            _ = publisher.closed() => return Err(format!("{key}: another publisher took the rendition")),
        };
        if n == 0 {
            return Ok(());
        }
        client.add_in(n as u64);
        demux.push(&buf[..n]);
        loop {
            let tag = match demux.poll() {
                Ok(Some(tag)) => tag,
                Ok(None) => break,
                Err(e) => return Err(format!("{key}: ffmpeg's FLV: {e}")),
            };
            let ts = time.unwrap(tag.timestamp);
            match weir_flv::frame_from_tag(tag.tag_type as u8, ts, tag.body) {
                Ok(Some(frame)) => publisher.send(frame),
                Ok(None) => {}
                Err(e) => tracing::debug!(stream = %key, error = %e, "transcode: tag dropped"),
            }
        }
    }
}

/// Logs ffmpeg's stderr: every line at debug, a warning at most once a
/// minute, and keeps the last line (why it failed, usually).
async fn log_stderr(
    stderr: ChildStderr,
    key: StreamKey,
    last: Arc<Mutex<Option<String>>>,
) -> Result<(), String> {
    let mut lines = BufReader::new(stderr).lines();
    let mut warned: Option<Instant> = None;
    let mut quiet = 0u64;
    while let Ok(Some(line)) = lines.next_line().await {
        let line: String = line.chars().take(500).collect();
        if line.trim().is_empty() {
            continue;
        }
        tracing::debug!(stream = %key, "ffmpeg: {line}");
        if warned.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            tracing::warn!(stream = %key, suppressed = quiet, "ffmpeg: {line}");
            warned = Some(Instant::now());
            quiet = 0;
        } else {
            quiet += 1;
        }
        *last.lock() = Some(line);
    }
    Ok(())
}
