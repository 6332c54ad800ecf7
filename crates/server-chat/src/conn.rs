//! One chat connection: the WebSocket upgrade, a reader loop that applies
//! frames to the room and enforces the heartbeat timeout, and a writer task
//! that drains the member's queue.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use weir_chat::{CloseCode, ConnId};
use weir_media::StreamKey;

use crate::api::ApiError;
use crate::metrics::ChatMetrics;
use crate::rooms::{utf8, Kill, RoomCell, Shared, Sink};

/// Most frames a writer sends before flushing: one flush (one syscall,
/// mostly) per batch.
const WRITE_BATCH: usize = 256;
/// Per-connection read buffer: client frames are small, and 5,000 members
/// with the transport's default 128 KiB each would be 640 MB.
const READ_BUFFER: usize = 4096;
/// Bytes a writer buffers before writing through (a flush always writes).
const WRITE_BUFFER: usize = 16 * 1024;
/// A write (batch) that takes longer than this means the peer stopped
/// reading; the connection is closed as too slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the close handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /chat/{app}/{stream}`: upgrades to a chat connection.
pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Path((app, stream)): Path<(String, String)>,
    ws: WebSocketUpgrade,
) -> Response {
    let key = match StreamKey::new(&app, &stream) {
        Ok(key) => key,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    // Frames up to twice what the room parses still get an error event
    // from the room; the transport cuts anything larger (1009).
    let max = shared.rules.max_frame() * 2;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| run(shared, key, socket))
}

async fn run(shared: Arc<Shared>, key: StreamKey, socket: WebSocket) {
    let conn = shared.next_conn();
    let (tx, rx) = mpsc::channel(shared.config.send_queue);
    let kill = Arc::new(Kill::default());
    let (sink, stream) = socket.split();
    let sink_for_room = Sink {
        tx: tx.clone(),
        kill: kill.clone(),
    };
    let cell = match shared.join(&key, conn, sink_for_room) {
        Ok(cell) => cell,
        Err(code) => {
            kill.close(code);
            drop(tx);
            writer(sink, rx, kill, Duration::ZERO, None).await;
            return;
        }
    };
    tracing::debug!(room = %key, conn, "chat connected");
    let pacing = shared.config.write_pacing;
    let metrics = shared.metrics.clone();
    let writer = tokio::spawn(writer(sink, rx, kill.clone(), pacing, Some(metrics)));
    read(&shared, &cell, conn, stream, &tx, &kill).await;
    shared.leave(&key, &cell, conn);
    kill.token.cancel();
    drop(tx);
    let _ = writer.await;
    tracing::debug!(room = %key, conn, reason = ?kill.reason(), "chat closed");
}

/// Applies the peer's frames until it leaves, goes silent, or is closed.
async fn read(
    shared: &Shared,
    cell: &RoomCell,
    conn: ConnId,
    mut stream: SplitStream<WebSocket>,
    tx: &mpsc::Sender<axum::extract::ws::Utf8Bytes>,
    kill: &Kill,
) {
    let m = &shared.metrics;
    loop {
        let next = tokio::select! {
            biased;
            _ = kill.token.cancelled() => return,
            _ = shared.shutdown.cancelled() => {
                kill.close(CloseCode::GoingAway);
                return;
            }
            next = tokio::time::timeout(shared.config.heartbeat_timeout, stream.next()) => next,
        };
        let msg = match next {
            Err(_silent) => {
                if kill.close(CloseCode::HeartbeatTimeout) {
                    ChatMetrics::add(&m.timeouts, 1);
                }
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                let code = if e.to_string().to_lowercase().contains("size") {
                    CloseCode::TooBig
                } else {
                    CloseCode::Protocol
                };
                tracing::debug!(conn, error = %e, "chat read error");
                kill.close(code);
                return;
            }
            Ok(Some(Ok(msg))) => msg,
        };
        ChatMetrics::add(&m.frames_in, 1);
        let data: &[u8] = match &msg {
            Message::Text(t) => t.as_str().as_bytes(),
            Message::Binary(b) => b,
            // Transport pings are answered by the WebSocket layer; like
            // pongs they only prove the peer is there.
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return,
        };
        let mut room = cell.lock();
        let action = room.handle(conn, data, shared.now());
        if let Some(code) = action.refused {
            let counter = if code == "rate_limited" {
                &m.rate_limited
            } else {
                &m.refused
            };
            ChatMetrics::add(counter, 1);
        }
        if let Some(reply) = action.reply.and_then(utf8) {
            if tx.try_send(reply).is_err() && kill.close(CloseCode::TooSlow) {
                ChatMetrics::add(&m.dropped, 1);
            }
        }
        if action.chat_id.is_some() {
            ChatMetrics::add(&m.messages_in, 1);
        }
        if let Some(frame) = action.broadcast {
            shared.fan_out(&room, frame);
        }
        drop(room);
        if let Some(code) = action.close {
            kill.close(code);
            return;
        }
    }
}

/// Sends queued frames until the connection is closed, then the close
/// frame with the reason (if the server is the one closing).
///
/// Writes are paced: after a write the next one waits until `pacing` has
/// passed, and everything queued meanwhile goes out in one batch. A frame
/// after a quiet spell goes out at once; in a busy room each member costs
/// at most one write (and one wakeup) per `pacing` instead of one per
/// message.
async fn writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<axum::extract::ws::Utf8Bytes>,
    kill: Arc<Kill>,
    pacing: Duration,
    metrics: Option<Arc<ChatMetrics>>,
) {
    let mut next_write = tokio::time::Instant::now();
    loop {
        let first = tokio::select! {
            biased;
            _ = kill.token.cancelled() => break,
            next = rx.recv() => match next {
                Some(frame) => frame,
                None => break,
            },
        };
        if tokio::time::Instant::now() < next_write {
            tokio::select! {
                biased;
                _ = kill.token.cancelled() => break,
                _ = tokio::time::sleep_until(next_write) => {}
            }
        }
        let batch = async {
            sink.feed(Message::Text(first)).await?;
            for _ in 1..WRITE_BATCH {
                match rx.try_recv() {
                    Ok(frame) => sink.feed(Message::Text(frame)).await?,
                    Err(_) => break,
                }
            }
            sink.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, batch).await {
            Ok(Ok(())) => next_write = tokio::time::Instant::now() + pacing,
            Ok(Err(_gone)) => break,
            Err(_stuck) => {
                if kill.close(CloseCode::TooSlow) {
                    if let Some(m) = &metrics {
                        ChatMetrics::add(&m.dropped, 1);
                    }
                }
                break;
            }
        }
    }
    if let Some(code) = kill.reason() {
        let frame = CloseFrame {
            code: code.code(),
            reason: code.reason().into(),
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
}
