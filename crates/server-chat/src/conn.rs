//! One chat connection: the WebSocket upgrade, a reader loop that applies
//! frames to the room and enforces the heartbeat timeout, and a writer task
//! that drains the member's queue.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::{ConnectInfo, Path, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use weir_api_error::ApiError;
use weir_chat::{CloseCode, ConnId, Entry, Gate, Refusal, TokenKey};
use weir_media::StreamKey;

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
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: WebSocketUpgrade,
) -> Response {
    // For logging limit hits per peer; unknown when the listener does not
    // say (tests serving the router bare).
    let peer = peer.map_or(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        |Extension(ConnectInfo(a))| a.ip(),
    );
    let key = match StreamKey::new(&app, &stream) {
        Ok(key) => key,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    // Frames up to twice what the room parses still get an error event
    // from the room; the transport cuts anything larger from its header, and
    // `read_error_code` closes with 1009.
    let max = shared.rules.max_frame() * 2;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| run(shared, key, peer, socket))
}

/// One connection, from the upgrade to the close frame.
async fn run(shared: Arc<Shared>, key: StreamKey, peer: IpAddr, socket: WebSocket) {
    let conn = shared.next_conn();
    let (tx, rx) = mpsc::channel(shared.config.send_queue);
    let kill = Arc::new(Kill::default());
    let (sink, mut stream) = socket.split();
    let pacing = shared.config.write_pacing;
    let metrics = shared.metrics.clone();
    let writer = tokio::spawn(writer(sink, rx, kill.clone(), pacing, Some(metrics)));
    let peer_of = Peer {
        key: &key,
        addr: peer,
        conn,
    };
    let joined = match &shared.config.tokens {
        None => {
            let sink = Sink {
                tx: tx.clone(),
                kill: kill.clone(),
            };
            shared
                .enter(&key, conn, sink, None)
                .await
                .map_err(|r| match r {
                    Refusal::Close(code) => Some(code),
                    Refusal::Nick(_) => None,
                })
        }
        Some(tokens) => admit(&shared, &peer_of, &mut stream, &tx, &kill, tokens).await,
    };
    match joined {
        Ok(cell) => {
            tracing::debug!(room = %key, conn, "chat connected");
            read(&shared, &peer_of, &cell, stream, &tx, &kill).await;
            shared.leave(&key, &cell, conn);
        }
        Err(Some(code)) => {
            kill.close(code);
        }
        Err(None) => {}
    }
    kill.token.cancel();
    drop(tx);
    let _ = writer.await;
    let reason = kill.reason();
    if let Some(
        code @ (CloseCode::RoomFull | CloseCode::TooSlow | CloseCode::TooBig | CloseCode::Flooding),
    ) = reason
    {
        shared.limit_hit(peer, &key, code.reason());
    }
    tracing::debug!(room = %key, conn, ?reason, "chat closed");
}

/// Who is on the other end, for logs.
struct Peer<'a> {
    key: &'a StreamKey,
    addr: IpAddr,
    conn: ConnId,
}

/// The next text or binary frame from the peer, or `None` once the
/// connection is over: the peer left or broke the protocol, went silent
/// for the heartbeat timeout, was closed, or the server is shutting down.
/// WebSocket pings and pongs are answered by the transport and only prove
/// the peer is there.
async fn next_frame(
    shared: &Shared,
    conn: ConnId,
    stream: &mut SplitStream<WebSocket>,
    kill: &Kill,
) -> Option<Message> {
    let m = &shared.metrics;
    loop {
        let next = tokio::select! {
            biased;
            _ = kill.token.cancelled() => return None,
            _ = shared.shutdown.cancelled() => {
                kill.close(CloseCode::GoingAway);
                return None;
            }
            next = tokio::time::timeout(shared.config.heartbeat_timeout, stream.next()) => next,
        };
        let msg = match next {
            Err(_silent) => {
                if kill.close(CloseCode::HeartbeatTimeout) {
                    ChatMetrics::add(&m.timeouts, 1);
                }
                return None;
            }
            Ok(None) => return None,
            Ok(Some(Err(e))) => {
                tracing::debug!(conn, error = %e, "chat read error");
                kill.close(read_error_code(&e));
                return None;
            }
            Ok(Some(Ok(msg))) => msg,
        };
        ChatMetrics::add(&m.frames_in, 1);
        match msg {
            Message::Text(_) | Message::Binary(_) => return Some(msg),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return None,
        }
    }
}

/// How to close after the transport failed to read a frame. The
/// transport refuses a frame, or a fragmented message, over the size set at
/// the upgrade as soon as it has read the length in the frame header,
/// before any payload: that keeps a peer from making the server buffer a
/// huge frame, and it is "message too big" (1009), which a client must be
/// able to tell from a broken protocol (1002, everything else). The error
/// is told by its type, not its text: axum wraps tungstenite's error, and
/// `tungstenite` is a dependency of this crate at axum's version for this
/// one match (the chat's tests fail if the versions ever part).
fn read_error_code(e: &axum::Error) -> CloseCode {
    use std::error::Error as _;
    match e
        .source()
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
    {
        Some(tungstenite::Error::Capacity(_)) => CloseCode::TooBig,
        _ => CloseCode::Protocol,
    }
}

/// The frame's bytes (text frames were checked as UTF-8 by the transport;
/// binary ones are parsed the same way, which is how invalid UTF-8 gets its
/// error).
fn payload(msg: &Message) -> &[u8] {
    match msg {
        Message::Text(t) => t.as_str().as_bytes(),
        Message::Binary(b) => b,
        _ => &[],
    }
}

/// Counts a refused frame and logs the limits among the refusals
/// (throttled per peer).
fn count_refusal(shared: &Shared, peer: &Peer<'_>, code: &str) {
    let m = &shared.metrics;
    let counter = if code == "rate_limited" {
        &m.rate_limited
    } else {
        &m.refused
    };
    ChatMetrics::add(counter, 1);
    if code == "rate_limited" || code == "too_long" {
        shared.limit_hit(peer.addr, peer.key, code);
    }
}

/// Queues a reply for the connection itself; a full queue means it does
/// not read, and it is closed as too slow.
fn reply(shared: &Shared, tx: &mpsc::Sender<Utf8Bytes>, kill: &Kill, frame: bytes::Bytes) {
    if let Some(text) = utf8(frame) {
        if tx.try_send(text).is_err() && kill.close(CloseCode::TooSlow) {
            ChatMetrics::add(&shared.metrics.dropped, 1);
        }
    }
}

/// The door of a room that needs join tokens: the connection is no member
/// (it gets no broadcasts) until a `join` with a valid token admits it
/// under the token's nickname. `Err` carries the close reason, if the
/// server is the one ending it.
async fn admit(
    shared: &Shared,
    peer: &Peer<'_>,
    stream: &mut SplitStream<WebSocket>,
    tx: &mpsc::Sender<Utf8Bytes>,
    kill: &Arc<Kill>,
    tokens: &TokenKey,
) -> Result<Arc<RoomCell>, Option<CloseCode>> {
    let mut gate = Gate::new(
        shared.rules.clone(),
        tokens.clone(),
        peer.key.to_string(),
        shared.now(),
    );
    loop {
        let Some(msg) = next_frame(shared, peer.conn, stream, kill).await else {
            return Err(None);
        };
        let entry = match gate.handle(payload(&msg), shared.now()) {
            Entry::Admit { nick } => {
                let sink = Sink {
                    tx: tx.clone(),
                    kill: kill.clone(),
                };
                match shared.enter(peer.key, peer.conn, sink, Some(&nick)).await {
                    Ok(cell) => {
                        tracing::debug!(room = %peer.key, conn = peer.conn, %nick, "chat token accepted");
                        return Ok(cell);
                    }
                    Err(Refusal::Close(code)) => return Err(Some(code)),
                    Err(Refusal::Nick(e)) => gate.refuse(&e),
                }
            }
            other => other,
        };
        match entry {
            Entry::Wait {
                reply: frame,
                refused,
            } => {
                if let Some(code) = refused {
                    count_refusal(shared, peer, code);
                }
                reply(shared, tx, kill, frame);
            }
            Entry::Close(code) => return Err(Some(code)),
            // `refuse` never admits.
            Entry::Admit { .. } => {}
        }
    }
}

/// Applies the peer's frames until it leaves, goes silent, or is closed.
async fn read(
    shared: &Shared,
    peer: &Peer<'_>,
    cell: &RoomCell,
    mut stream: SplitStream<WebSocket>,
    tx: &mpsc::Sender<Utf8Bytes>,
    kill: &Kill,
) {
    let m = &shared.metrics;
    while let Some(msg) = next_frame(shared, peer.conn, &mut stream, kill).await {
        let mut room = cell.lock();
        let action = room.handle(peer.conn, payload(&msg), shared.now());
        if let Some(code) = action.refused {
            count_refusal(shared, peer, code);
        }
        if let Some(frame) = action.reply {
            reply(shared, tx, kill, frame);
        }
        if action.chat_id.is_some() {
            ChatMetrics::add(&m.messages_in, 1);
        }
        if let Some(frame) = action.broadcast {
            // A chat message or a join: the other nodes' members get it too.
            shared.relay_frame(peer.key, &frame);
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
    mut rx: mpsc::Receiver<Utf8Bytes>,
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
