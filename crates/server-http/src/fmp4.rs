//! Live fragmented MP4 (`/{app}/{stream}.mp4`, over HTTP or WebSocket):
//! an init segment, then `moof`+`mdat` fragments, muxed once per stream, so
//! that a browser plays with plain Media Source Extensions.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tracing::{info, warn};
use weir_fmp4::{Fmp4Config, Fmp4Muxer, Fmp4Output, Rebaser};
use weir_hub::{Class, Entry, Muxer, Receiver, StreamEvent};
use weir_media::StreamKey;

use crate::access::Admitted;
use crate::viewer::{Payload, Viewer};
use crate::{Shared, CODECS_HEADER};

/// Header slot of the init segment in the fMP4 channel: new viewers get the
/// latest init segment before any fragment.
const SLOT_INIT: u8 = 0;

/// How long a new viewer of a live stream waits for the init segment, so
/// that its response can name the codecs. The hub replays the stream's
/// headers and GOP at once, so this only runs out for a stream that has
/// sent no media yet.
const INIT_WAIT: Duration = Duration::from_secs(5);

/// One entry of a stream's fMP4 egress, shared by every viewer.
#[derive(Debug, Clone)]
pub struct Mp4Entry {
    class: Class,
    /// Empty for publisher boundary markers.
    bytes: Bytes,
    /// For init segments: the MIME type with codecs that describes them.
    mime: Option<Arc<str>>,
}

impl Entry for Mp4Entry {
    fn class(&self) -> Class {
        self.class
    }

    fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

impl Payload for Mp4Entry {
    fn payload(&self) -> Option<&Bytes> {
        Some(&self.bytes)
    }
}

/// Muxes hub events into fMP4 once per stream: the init segment is a
/// sticky header, a fragment that starts with a keyframe is a key entry,
/// so viewers start with init + the fragments since the latest keyframe.
pub struct Mp4Muxer {
    inner: Fmp4Muxer,
    /// Frames refused so far (logged once per muxer, not per frame).
    refused: u64,
}

impl Mp4Muxer {
    /// A new muxer with weir's fragment policy (fragments of at most
    /// 100 ms, cut at every keyframe).
    pub fn new() -> Self {
        Mp4Muxer {
            inner: Fmp4Muxer::new(Fmp4Config::default()),
            refused: 0,
        }
    }

    fn emit(&self, outputs: Vec<Fmp4Output>, out: &mut Vec<Mp4Entry>) {
        for o in outputs {
            out.push(match o {
                Fmp4Output::Init(bytes) => Mp4Entry {
                    class: Class::Header(SLOT_INIT),
                    bytes,
                    mime: self.inner.codecs_string().map(Arc::from),
                },
                Fmp4Output::Fragment { data, key, .. } => Mp4Entry {
                    class: if key { Class::Key } else { Class::Delta },
                    bytes: data,
                    mime: None,
                },
            });
        }
    }
}

impl Default for Mp4Muxer {
    fn default() -> Self {
        Self::new()
    }
}

impl Muxer for Mp4Muxer {
    type Out = Mp4Entry;

    fn mux(&mut self, ev: &StreamEvent, _class: Class, out: &mut Vec<Mp4Entry>) {
        // The fMP4 muxer knows which fragments start at a keyframe (every
        // fragment of an audio-only stream does); the event's class says
        // nothing about the fragment it ends up in.
        match ev {
            StreamEvent::Frame(frame) => match self.inner.push(frame) {
                Ok(outputs) => self.emit(outputs, out),
                Err(e) => {
                    if self.refused == 0 {
                        warn!(error = %e, "fmp4: frame refused");
                    }
                    self.refused += 1;
                }
            },
            StreamEvent::Unpublished | StreamEvent::Replaced => {
                // Flush the tail, then start afresh: the reset clears the
                // channel's header slot, and the next publisher's frames
                // must bring a new init segment even if its codecs are the
                // same. The hub keeps timestamps monotonic across
                // publishers, so the viewers' timeline goes on.
                if let Ok(outputs) = self.inner.finish() {
                    self.emit(outputs, out);
                }
                self.inner = Fmp4Muxer::new(Fmp4Config::default());
                out.push(Mp4Entry {
                    class: Class::Reset,
                    bytes: Bytes::new(),
                    mime: None,
                });
            }
            StreamEvent::Published => {}
        }
    }
}

fn not_live(key: &StreamKey) -> Response {
    (StatusCode::NOT_FOUND, format!("{key} is not live\n")).into_response()
}

/// Subscribes and waits (bounded) for the first entries; returns them and
/// the codecs of the init segment among them, if any.
async fn first_entries(rx: &mut Receiver<Mp4Entry>) -> (Vec<Mp4Entry>, Option<Arc<str>>) {
    let mut first = Vec::new();
    let _ = tokio::time::timeout(INIT_WAIT, rx.recv_batch(&mut first, 256)).await;
    let mime = first.iter().find_map(|e| e.mime.clone());
    (first, mime)
}

/// `GET /{app}/{stream}.mp4`: a chunked response that never ends while the
/// viewer keeps up. The codecs travel in the [`CODECS_HEADER`] header.
///
/// The response reads like one fragmented MP4 file whose timeline starts
/// at zero (see [`Rebaser`]), which is what players that treat it as a
/// file (VLC) expect. It is `200` even to `Range: bytes=0-` (VLC sends
/// that), with `Accept-Ranges: none`: a live stream cannot seek, and a
/// player that believed it could would seek to the end looking for an
/// index (`mfra`) that never comes.
pub(crate) async fn http(
    shared: Arc<Shared>,
    key: StreamKey,
    peer: SocketAddr,
    admitted: Admitted,
    head: bool,
) -> Response {
    let mut rx = shared.mp4.subscribe(&admitted.admission);
    if !shared.hub.wait_live(&key, shared.config.play_wait).await {
        return not_live(&key);
    }
    if let Some(refused) =
        crate::codecs::refuse_uncarried(&shared.hub, &key, "fMP4", weir_fmp4::carries)
    {
        return refused;
    }
    let (first, mime) = first_entries(&mut rx).await;
    let mut resp = if head {
        Body::empty().into_response()
    } else {
        info!(%peer, stream = %key, "fmp4 play");
        let mut viewer = Viewer::new(rx, admitted, &shared);
        viewer.queue(first);
        rebased_body(viewer).into_response()
    };
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(v) = mime.and_then(|m| HeaderValue::from_str(&m).ok()) {
        headers.insert(CODECS_HEADER, v);
    }
    resp
}

/// The viewer's chunks on its own timeline, starting at zero.
fn rebased_body(viewer: Viewer<Mp4Entry>) -> Body {
    let chunks = futures_util::stream::unfold(
        (viewer, Rebaser::new()),
        |(mut viewer, mut rebaser)| async move {
            let chunk = viewer.next().await?;
            let parts = rebaser.rebase(&chunk);
            Some((
                futures_util::stream::iter(parts.into_iter().map(Ok::<_, Infallible>)),
                (viewer, rebaser),
            ))
        },
    )
    .flatten();
    Body::from_stream(chunks)
}

/// The same stream over a WebSocket: a text message with the MIME type and
/// codecs first (what `addSourceBuffer` needs), then one binary message
/// per init segment or fragment.
pub(crate) async fn websocket(
    shared: Arc<Shared>,
    key: StreamKey,
    peer: SocketAddr,
    admitted: Admitted,
    ws: WebSocketUpgrade,
) -> Response {
    let mut rx = shared.mp4.subscribe(&admitted.admission);
    if !shared.hub.wait_live(&key, shared.config.play_wait).await {
        return not_live(&key);
    }
    if let Some(refused) =
        crate::codecs::refuse_uncarried(&shared.hub, &key, "fMP4", weir_fmp4::carries)
    {
        return refused;
    }
    ws.on_upgrade(move |socket| async move {
        info!(%peer, stream = %key, "ws-fmp4 play");
        let (first, mime) = first_entries(&mut rx).await;
        let mut viewer = Viewer::new(rx, admitted, &shared);
        viewer.queue(first);
        serve_ws(socket, mime, viewer).await;
    })
}

async fn serve_ws(socket: WebSocket, mime: Option<Arc<str>>, mut viewer: Viewer<Mp4Entry>) {
    let (mut tx, mut rx) = socket.split();
    let text = mime.as_deref().unwrap_or("video/mp4").to_owned();
    if tx.send(Message::Text(text.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            b = viewer.next() => match b {
                Some(b) => if tx.send(Message::Binary(b)).await.is_err() { break },
                None => break,
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = tx.close().await;
}
