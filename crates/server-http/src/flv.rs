//! HTTP-FLV and WebSocket-FLV: FLV tags muxed once per stream.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tracing::info;
use weir_hub::{Class, Entry, Muxer, StreamEvent};
use weir_media::{StreamKey, TrackKind};

use crate::access::Admitted;
use crate::viewer::{Payload, Viewer};
use crate::Shared;

/// One entry of a stream's FLV egress: a complete FLV tag (header, body,
/// PreviousTagSize), shared by every HTTP-FLV and WS-FLV viewer.
#[derive(Debug, Clone)]
pub struct FlvEntry {
    class: Class,
    /// Audio or video for media tags, so a `?only=` viewer can skip the
    /// other track; `None` for script data and markers.
    track: Option<TrackKind>,
    /// Empty for publisher boundary markers.
    bytes: Bytes,
}

impl Entry for FlvEntry {
    fn class(&self) -> Class {
        self.class
    }

    fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

impl Payload for FlvEntry {
    fn payload(&self) -> Option<&Bytes> {
        Some(&self.bytes)
    }

    fn track(&self) -> Option<TrackKind> {
        self.track
    }
}

/// Muxes hub events into FLV tags, once per stream.
#[derive(Default)]
pub struct FlvMuxer {
    scratch: BytesMut,
}

impl FlvMuxer {
    /// A new muxer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Muxer for FlvMuxer {
    type Out = FlvEntry;

    fn mux(&mut self, ev: &StreamEvent, class: Class, out: &mut Vec<FlvEntry>) {
        let (track, bytes) = match ev {
            StreamEvent::Frame(frame) => {
                weir_flv::write_frame_tag(frame, &mut self.scratch);
                let track = (frame.kind != TrackKind::Data).then_some(frame.kind);
                (track, self.scratch.split().freeze())
            }
            // A new publisher's sequence headers follow as header entries;
            // FLV players take them in-band, so the response goes on.
            StreamEvent::Published | StreamEvent::Unpublished | StreamEvent::Replaced => {
                (None, Bytes::new())
            }
        };
        out.push(FlvEntry {
            class,
            track,
            bytes,
        });
    }
}

/// The FLV file header for a viewer: both tracks announced, or only the
/// one `?only=` asked for, so the player does not wait for the other.
pub(crate) fn file_header(only: Option<TrackKind>) -> Bytes {
    match only {
        Some(TrackKind::Audio) => Bytes::from_static(&AUDIO_ONLY),
        Some(TrackKind::Video) => Bytes::from_static(&VIDEO_ONLY),
        _ => Bytes::from_static(&weir_flv::FLV_HEADER_AV),
    }
}

const AUDIO_ONLY: [u8; 13] = weir_flv::file_header(true, false);
const VIDEO_ONLY: [u8; 13] = weir_flv::file_header(false, true);

/// The 404 for a stream that is not (or not yet) live.
pub(crate) fn not_live(key: &StreamKey) -> Response {
    (StatusCode::NOT_FOUND, format!("{key} is not live\n")).into_response()
}

/// `GET /{app}/{stream}.flv`: a chunked response that never ends while the
/// viewer keeps up.
pub(crate) async fn http(
    shared: Arc<Shared>,
    key: StreamKey,
    peer: SocketAddr,
    admitted: Admitted,
    only: Option<TrackKind>,
    head: bool,
) -> Response {
    let rx = shared.flv.subscribe(&key);
    if !shared.hub.wait_live(&key, shared.config.play_wait).await {
        return not_live(&key);
    }
    let ok = |body: Body| {
        (
            [
                (header::CONTENT_TYPE, "video/x-flv"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response()
    };
    if head {
        return ok(Body::empty());
    }
    info!(%peer, stream = %key, "http-flv play");
    let viewer = Viewer::new(rx, admitted, shared.config.max_lag).only(only);
    ok(viewer.into_body(Some(file_header(only)), shared.shutdown.clone()))
}

/// The same stream over a WebSocket: one binary message per FLV tag, the
/// first carrying the FLV file header (what flv.js / mpegts.js expect).
pub(crate) async fn websocket(
    shared: Arc<Shared>,
    key: StreamKey,
    peer: SocketAddr,
    admitted: Admitted,
    only: Option<TrackKind>,
    ws: WebSocketUpgrade,
) -> Response {
    let rx = shared.flv.subscribe(&key);
    if !shared.hub.wait_live(&key, shared.config.play_wait).await {
        return not_live(&key);
    }
    ws.on_upgrade(move |socket| async move {
        info!(%peer, stream = %key, "ws-flv play");
        let viewer = Viewer::new(rx, admitted, shared.config.max_lag).only(only);
        serve_ws(socket, viewer, file_header(only), shared).await;
    })
}

async fn serve_ws(
    socket: WebSocket,
    mut viewer: Viewer<FlvEntry>,
    header: Bytes,
    shared: Arc<Shared>,
) {
    let (mut tx, mut rx) = socket.split();
    if tx.send(Message::Binary(header)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            b = viewer.next() => match b {
                Some(b) => if tx.send(Message::Binary(b)).await.is_err() { break },
                None => break,
            },
            msg = rx.next() => match msg {
                // Pings are answered by the WebSocket layer; text is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = shared.shutdown.cancelled() => break,
        }
    }
    let _ = viewer.client();
    let _ = tx.close().await;
}
