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

    /// The sequence header tag (AVC, AAC...) with `first`'s tag
    /// timestamp, so a new viewer's headers do not lead its first frame
    /// (by up to a GOP, or after a takeover by however long the second
    /// publisher has been on). Only the timestamp field of the tag header
    /// changes; the body is copied as is. `None` for script data (its
    /// `onMetaData` stays at 0, see [`FlvMuxer`]), markers, and when the
    /// timestamps already agree.
    fn restamped_to(&self, first: &Self) -> Option<Self> {
        self.track?;
        let at = tag_timestamp(&first.bytes)?;
        if tag_timestamp(&self.bytes)? == at {
            return None;
        }
        let mut bytes = BytesMut::from(&self.bytes[..]);
        let [ext, b2, b1, b0] = at.to_be_bytes();
        bytes[TIMESTAMP..TIMESTAMP + 4].copy_from_slice(&[b2, b1, b0, ext]);
        Some(FlvEntry {
            bytes: bytes.freeze(),
            ..self.clone()
        })
    }
}

/// Offset of the timestamp in an FLV tag header: its low 24 bits (big
/// endian), then the upper 8 bits (TimestampExtended).
const TIMESTAMP: usize = 4;

/// The timestamp of the FLV tag `tag` starts with; `None` for an empty
/// entry (a marker).
fn tag_timestamp(tag: &[u8]) -> Option<u32> {
    let t = tag.get(TIMESTAMP..TIMESTAMP + 4)?;
    Some(u32::from_be_bytes([t[3], t[0], t[1], t[2]]))
}

impl Payload for FlvEntry {
    fn payload(&self) -> Option<&Bytes> {
        Some(&self.bytes)
    }

    fn track(&self) -> Option<TrackKind> {
        self.track
    }
}

/// Muxes hub events into FLV tags, once per stream. Tags keep the hub's
/// timestamps, except `onMetaData`, which is always at 0.
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
                // `onMetaData` comes out at 0 (`weir_flv::tag_timestamp`).
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
    let rx = shared.flv.subscribe(&admitted.admission);
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
    let viewer = Viewer::new(rx, admitted, &shared).only(only);
    ok(viewer.into_body(Some(file_header(only))))
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
    let rx = shared.flv.subscribe(&admitted.admission);
    if !shared.hub.wait_live(&key, shared.config.play_wait).await {
        return not_live(&key);
    }
    ws.on_upgrade(move |socket| async move {
        info!(%peer, stream = %key, "ws-flv play");
        let viewer = Viewer::new(rx, admitted, &shared).only(only);
        serve_ws(socket, viewer, file_header(only)).await;
    })
}

async fn serve_ws(socket: WebSocket, mut viewer: Viewer<FlvEntry>, header: Bytes) {
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
        }
    }
    let _ = tx.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_media::{Codec, Frame};

    fn tag(kind: TrackKind, dts: i64, config: bool) -> FlvEntry {
        let frame = Frame {
            kind,
            codec: match kind {
                TrackKind::Audio => Codec::Aac,
                TrackKind::Video => Codec::H264,
                TrackKind::Data => Codec::Amf0,
            },
            dts_us: dts * 1000,
            cts_us: 0,
            key: kind == TrackKind::Video && !config,
            config,
            data: Bytes::from_static(&[1, 2, 3, 4, 5]),
        };
        let mut out = Vec::new();
        FlvMuxer::new().mux(&StreamEvent::Frame(frame), Class::Delta, &mut out);
        out.pop().unwrap()
    }

    #[test]
    fn headers_take_the_first_frames_timestamp_and_keep_their_body() {
        // Past 2^24 ms, so the extended byte matters.
        let first = tag(TrackKind::Video, 0x0123_4567, false);
        for (kind, config) in [(TrackKind::Video, true), (TrackKind::Audio, true)] {
            let header = tag(kind, 5_100, config);
            let restamped = header.restamped_to(&first).expect("restamped");
            assert_eq!(
                &restamped.bytes[TIMESTAMP..TIMESTAMP + 4],
                &[0x23, 0x45, 0x67, 0x01]
            );
            // Exactly the tag the muxer writes for that header at that time.
            assert_eq!(restamped.bytes, tag(kind, 0x0123_4567, config).bytes);
            assert_eq!(
                (restamped.class, restamped.track),
                (header.class, header.track)
            );
        }
        let other_data = tag(TrackKind::Data, 5_100, false);
        assert!(other_data.restamped_to(&first).is_none(), "script data");
        let same = tag(TrackKind::Video, 0x0123_4567, true);
        assert!(same.restamped_to(&first).is_none(), "already in time");
        let marker = FlvEntry {
            class: Class::Reset,
            track: None,
            bytes: Bytes::new(),
        };
        assert!(marker.restamped_to(&first).is_none());
        assert!(first.restamped_to(&marker).is_none());
    }

    #[test]
    fn metadata_is_always_at_zero() {
        let mut out = Vec::new();
        let mut muxer = FlvMuxer::new();
        for data in [
            &b"\x02\x00\x0aonMetaData\x08\0\0\0\0\0\0\x09"[..],
            b"\x02\x00\x0aonCuePoint\x05",
        ] {
            let frame = weir_media::Frame {
                kind: TrackKind::Data,
                codec: weir_media::Codec::Amf0,
                dts_us: 5_100_000,
                cts_us: 0,
                key: false,
                config: false,
                data: Bytes::copy_from_slice(data),
            };
            muxer.mux(&StreamEvent::Frame(frame), Class::Header(2), &mut out);
        }
        let stamps: Vec<_> = out.iter().map(|e| tag_timestamp(&e.bytes)).collect();
        assert_eq!(
            stamps,
            [Some(0), Some(5_100)],
            "onMetaData at 0, other script data in time"
        );
    }
}
