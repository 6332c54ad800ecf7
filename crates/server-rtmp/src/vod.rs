//! Video on demand over RTMP: `rtmp://HOST/vod/{path}` plays a file of the
//! VOD library (the app gives the one the `/vod/` HTTP routes serve), paced
//! at real time, with a start time, `seek` and `pause`.
//!
//! Unlike a live player, a VOD player has a position of its own, so it
//! muxes for itself: a [`Playhead`] says which samples are due, a blocking
//! positional read fetches the one bounded byte range that holds them, and
//! the frames are chunked like the shared muxer chunks live ones. Players
//! are sent [`LEAD`] ahead of real time, so that they start at once and
//! keep a buffer; a slow socket simply delays the next read.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};
use weir_amf0::Value;
use weir_hub::Admission;
use weir_media::{Codec, Frame, StreamKey, TrackKind};
use weir_rtmp::server::ServerSession;
use weir_vod::{Batch, Index, Playhead};

use crate::conn::Peer;
use crate::muxer::chunk;
use crate::park::Tracks;
use crate::wire::Wire;

/// A boxed future, as the library's index lookup returns it.
pub type IndexFuture = Pin<Box<dyn Future<Output = Result<Arc<Index>, String>> + Send>>;

/// Where RTMP VOD finds its files: the app implements it over the same
/// mounts (and index cache) as the `/vod/` HTTP routes, so that a path
/// means the same file, admitted as the same stream, over both.
pub trait VodLibrary: Send + Sync + 'static {
    /// The file a VOD path names (e.g. `recordings/live/cam/x.mp4`), and
    /// the stream whose play rules admit its players.
    fn locate(&self, path: &str) -> Result<(PathBuf, StreamKey), VodRefused>;
    /// The index of a located file.
    fn index(&self, file: &Path) -> IndexFuture;
}

/// Why a VOD path names no playable file.
#[derive(Debug, thiserror::Error)]
pub enum VodRefused {
    /// The path is malformed (`..`, NUL, too long...).
    #[error("bad path: {0}")]
    BadPath(String),
    /// No such file under any mount.
    #[error("no such file")]
    NotFound,
}

/// The library, in the adapter's config (a newtype for its `Debug`).
#[derive(Clone)]
pub struct VodFiles(pub Arc<dyn VodLibrary>);

impl std::fmt::Debug for VodFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VodFiles")
    }
}

/// The app name that plays files: `vod`, or `vod/...` when the client's
/// URL parser put part of the path in the app (ffmpeg and librtmp both
/// do, differently).
pub(crate) fn is_vod_app(app: &str) -> bool {
    app == "vod" || app.starts_with("vod/")
}

/// The library path an app and play name ask for: the app's part after
/// `vod`, then the name without its `mp4:`/`f4v:`/`flv:` prefix; a name
/// without an extension means `.mp4` (ffmpeg and librtmp add `mp4:` and
/// keep the extension for `.mp4` URLs).
pub(crate) fn library_path(app: &str, name: &str) -> String {
    let lower = name.get(..4).map(str::to_ascii_lowercase);
    let name = match lower.as_deref() {
        Some("mp4:" | "f4v:" | "flv:") => &name[4..],
        _ => name,
    };
    let mut path = app
        .strip_prefix("vod")
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    if !path.is_empty() {
        path.push('/');
    }
    path.push_str(name);
    let file = path.rsplit('/').next().unwrap_or_default();
    if !file.contains('.') {
        path.push_str(".mp4");
    }
    path
}

/// How far ahead of real time a player is sent: it starts with this much
/// buffered, and keeps it.
const LEAD: Duration = Duration::from_millis(1500);
/// Samples due within this much more are sent in the same wakeup: about
/// ten reads and writes a second.
const SLACK: Duration = Duration::from_millis(100);
/// Most file bytes one read fetches.
const MAX_SPAN: u64 = 4 << 20;

fn us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// What a VOD player's task has to do next.
pub(crate) enum VodNext {
    /// Frames read and due: queue them.
    Frames(Vec<Frame>),
    /// Everything was sent: tell the player.
    Complete,
    /// The file could not be read any further.
    Failed(String),
}

/// A connection playing a file.
pub(crate) struct VodPlayer {
    path: String,
    /// Held while playing; dropping it sends `on_stop`.
    _admission: Admission,
    stream_id: u32,
    index: Arc<Index>,
    file: Arc<std::fs::File>,
    head: Playhead,
    /// The file time (µs) due at an instant; `None` while paused.
    clock: Option<(Instant, i64)>,
    /// Nothing at or after this file time (µs) is played (`play`'s
    /// duration).
    end_us: i64,
    /// Subtracted from file times to make message timestamps: where a
    /// `play` with a start time began (see [`VodPlayer::start`]), 0 after a
    /// `seek`.
    base_us: i64,
    /// A read in flight and the samples it is for: kept here so that the
    /// connection loop may drop [`VodPlayer::next`] at any point.
    reading: Option<(JoinHandle<io::Result<Bytes>>, Batch)>,
    /// `NetStream.Play.Complete` sent.
    complete: bool,
    tracks: Tracks,
    chunk_size: u32,
    scratch: BytesMut,
    /// Media bytes sent, for `onPlayStatus`.
    sent: u64,
}

/// What `play` asked for.
pub(crate) struct Request {
    pub(crate) stream_id: u32,
    /// Milliseconds; negative means from the start.
    pub(crate) start_ms: f64,
    /// Seconds; negative means to the end.
    pub(crate) duration: f64,
    pub(crate) reset: bool,
}

impl VodPlayer {
    /// Starts playing `file` (admitted, indexed): answers the play, queues
    /// `onMetaData` and the codec configs, and starts the clock.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        wire: &mut Wire,
        peer: &Peer,
        path: String,
        admission: Admission,
        index: Arc<Index>,
        file: Arc<std::fs::File>,
        req: Request,
        chunk_size: u32,
    ) -> VodPlayer {
        let mut head = Playhead::new(&index);
        let from_us = if req.start_ms > 0.0 {
            (req.start_ms * 1000.0) as i64
        } else {
            index.span_us().map_or(0, |(start, _)| start)
        };
        let at = head.seek(&index, from_us);
        // A play that starts into the file gets timestamps from 0 at its
        // first frame: librtmp (rtmpdump -A) adds the start it asked for
        // to what it receives, as Flash Media Server taught it. A `seek`
        // (ffmpeg's) expects the file's own times instead.
        let base_us = if req.start_ms > 0.0 { at } else { 0 };
        let end_us = if req.duration >= 0.0 {
            from_us.saturating_add((req.duration * 1e6) as i64)
        } else {
            i64::MAX
        };
        info!(id = peer.client.id(), peer = %peer.addr, path = %path, start_ms = at / 1000, "rtmp vod play");
        let mut p = VodPlayer {
            path,
            _admission: admission,
            stream_id: req.stream_id,
            index,
            file,
            head,
            clock: Some((Instant::now(), at)),
            end_us,
            base_us,
            reading: None,
            complete: false,
            tracks: Tracks {
                audio: true,
                video: true,
            },
            chunk_size,
            scratch: BytesMut::new(),
            sent: 0,
        };
        wire.session.accept_recorded_play(p.stream_id, req.reset);
        let metadata = metadata(&p.index, p.file_len());
        p.queue(wire, vec![metadata]);
        let configs = Playhead::configs(&p.index, at);
        p.queue(wire, configs);
        p
    }

    fn file_len(&self) -> u64 {
        self.file.metadata().map_or(0, |m| m.len())
    }

    /// Waits until samples are due and reads them, or for the end.
    /// Pending forever while paused or once complete. Cancel-safe: a read
    /// in flight is kept and awaited again by the next call.
    pub(crate) async fn next(&mut self) -> VodNext {
        loop {
            if let Some((handle, _)) = &mut self.reading {
                let read = handle.await;
                let Some((_, batch)) = self.reading.take() else {
                    continue;
                };
                let bytes = match read {
                    Ok(Ok(bytes)) => bytes,
                    Ok(Err(e)) => return VodNext::Failed(e.to_string()),
                    Err(e) => return VodNext::Failed(e.to_string()),
                };
                return match batch.frames(&self.index, &bytes) {
                    Ok(frames) => VodNext::Frames(frames),
                    Err(e) => VodNext::Failed(e.to_string()),
                };
            }
            let (Some((t0, f0)), false) = (self.clock, self.complete) else {
                return std::future::pending().await;
            };
            let next = self.head.next_us(&self.index).filter(|&n| n < self.end_us);
            let Some(next) = next else {
                return VodNext::Complete;
            };
            // Due LEAD before its time on the clock.
            let ahead = next.saturating_sub(f0).saturating_sub(us(LEAD));
            if let Ok(ahead) = u64::try_from(ahead) {
                tokio::time::sleep_until(t0 + Duration::from_micros(ahead)).await;
            }
            let played = us(t0.elapsed());
            let until = f0
                .saturating_add(played)
                .saturating_add(us(LEAD + SLACK))
                .min(self.end_us);
            let batch = self.head.take(&self.index, until, MAX_SPAN);
            if batch.samples.is_empty() {
                continue;
            }
            let file = self.file.clone();
            let range = batch.range.clone();
            let handle = tokio::task::spawn_blocking(move || read_range(&file, range));
            self.reading = Some((handle, batch));
        }
    }

    /// Chunks frames (those of the tracks the player receives) onto the
    /// wire.
    pub(crate) fn queue(&mut self, wire: &mut Wire, frames: Vec<Frame>) {
        for mut f in frames {
            if !self.tracks.wants(f.kind) {
                continue;
            }
            f.dts_us = f.dts_us.saturating_sub(self.base_us).max(0);
            self.sent += f.data.len() as u64;
            wire.push_media(chunk(&f, self.chunk_size, &mut self.scratch));
        }
    }

    /// Everything was sent: `NetStream.Play.Complete`; the connection
    /// stays open for another play or until the client closes it.
    pub(crate) fn complete(&mut self, session: &mut ServerSession, peer: &Peer) {
        self.complete = true;
        let secs = self.index.duration_us() as f64 / 1e6;
        session.play_complete(self.stream_id, secs, self.sent);
        info!(id = peer.client.id(), path = %self.path, bytes = self.sent, "rtmp vod complete");
    }

    /// A read failed (the file shrank or vanished): the player is told and
    /// stops.
    pub(crate) fn failed(&mut self, session: &mut ServerSession, peer: &Peer, why: &str) {
        warn!(id = peer.client.id(), path = %self.path, error = why, "rtmp vod read failed");
        self.complete = true;
        session.send_status(
            self.stream_id,
            "error",
            "NetStream.Play.Failed",
            &format!("reading the file failed: {why}"),
        );
    }

    /// `seek`: to the keyframe at or before `position_ms`, with the codec
    /// configs again; a paused player stays paused there.
    pub(crate) fn seek(&mut self, wire: &mut Wire, position_ms: f64) {
        // A read in flight is for the old position: its result is dropped.
        self.reading = None;
        let at = self.head.seek(&self.index, (position_ms * 1000.0) as i64);
        self.base_us = 0;
        self.complete = false;
        if self.clock.is_some() {
            self.clock = Some((Instant::now(), at));
        }
        wire.session.accept_seek(self.stream_id);
        let configs = Playhead::configs(&self.index, at);
        self.queue(wire, configs);
    }

    /// `pause`: the clock stops, or starts again from where it stopped.
    pub(crate) fn pause(&mut self, paused: bool) {
        if paused {
            self.clock = None;
        } else if self.clock.is_none() {
            let at = self.head.next_us(&self.index).unwrap_or(0);
            self.clock = Some((Instant::now(), at));
        }
    }

    /// receiveAudio / receiveVideo.
    pub(crate) fn set_receive(&mut self, audio: bool, enabled: bool) {
        if audio {
            self.tracks.audio = enabled;
        } else {
            self.tracks.video = enabled;
        }
    }

    /// Played to the end: the connection may idle out.
    pub(crate) fn is_complete(&self) -> bool {
        self.complete
    }

    /// Ends playing.
    pub(crate) fn stop(self, peer: &Peer) {
        info!(id = peer.client.id(), peer = %peer.addr, path = %self.path, "rtmp vod stop");
    }
}

/// `len` bytes of `file` from `offset` (on the blocking pool).
fn read_range(file: &std::fs::File, range: std::ops::Range<u64>) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let len = usize::try_from(range.end - range.start).map_err(io::Error::other)?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, range.start)?;
    Ok(buf.into())
}

/// The `onMetaData` a VOD player gets first: the duration (what players
/// show and seek within), picture size, codecs and the file size.
fn metadata(index: &Index, file_len: u64) -> Frame {
    let mut props = vec![
        ("duration", Value::Number(index.duration_us() as f64 / 1e6)),
        ("filesize", Value::Number(file_len as f64)),
        ("canSeekToEnd", Value::Boolean(true)),
    ];
    if let Some(v) = index.video() {
        props.push(("width", Value::Number(f64::from(v.width))));
        props.push(("height", Value::Number(f64::from(v.height))));
        if let Some(id) = flv_codec_id(v.codec) {
            props.push(("videocodecid", Value::Number(id)));
        }
    }
    if let Some(a) = index.audio() {
        props.push(("audiosamplerate", Value::Number(f64::from(a.sample_rate))));
        props.push(("audiochannels", Value::Number(f64::from(a.channels))));
        props.push(("stereo", Value::Boolean(a.channels > 1)));
        if let Some(id) = flv_codec_id(a.codec) {
            props.push(("audiocodecid", Value::Number(id)));
        }
    }
    let mut body = BytesMut::new();
    weir_amf0::encode_all(
        [
            &Value::String("onMetaData".into()),
            &Value::ecma_array(props),
        ],
        &mut body,
    );
    Frame {
        kind: TrackKind::Data,
        codec: Codec::Amf0,
        dts_us: 0,
        cts_us: 0,
        key: false,
        config: false,
        data: body.freeze(),
    }
}

/// The legacy FLV codec id of `codec`, for `onMetaData`; codecs that only
/// Enhanced RTMP carries have none.
fn flv_codec_id(codec: Codec) -> Option<f64> {
    match codec {
        Codec::H264 => Some(7.0),
        Codec::Aac => Some(10.0),
        Codec::Mp3 { .. } => Some(2.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_from_the_app_and_the_name_as_clients_split_them() {
        // ffmpeg: rtmp://h/vod/recordings/live/x/a.mp4
        assert_eq!(
            library_path("vod/recordings", "mp4:live/x/a.mp4"),
            "recordings/live/x/a.mp4"
        );
        // librtmp: app up to the third slash.
        assert_eq!(
            library_path("vod/recordings/live", "mp4:x/a.mp4"),
            "recordings/live/x/a.mp4"
        );
        // rtmpdump -r rtmp://h/vod -y mp4:film.mp4, and without prefix or
        // extension.
        assert_eq!(library_path("vod", "mp4:film.mp4"), "film.mp4");
        assert_eq!(library_path("vod", "MP4:film.mp4"), "film.mp4");
        assert_eq!(library_path("vod", "film"), "film.mp4");
        assert_eq!(library_path("vod", "dir.v2/film"), "dir.v2/film.mp4");
        assert!(is_vod_app("vod") && is_vod_app("vod/recordings"));
        assert!(!is_vod_app("vodka") && !is_vod_app("live"));
    }

    #[test]
    fn metadata_says_duration_size_and_codecs() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../vod/testdata/frag.mp4");
        let data = std::fs::read(path).unwrap();
        let index = Index::from_bytes(&data).unwrap();
        let frame = metadata(&index, data.len() as u64);
        assert!(weir_flv::is_on_metadata(&frame));
        let values = weir_amf0::decode_all(&frame.data).unwrap();
        let number = |k: &str| values[1].get(k).and_then(Value::as_number);
        let duration = number("duration").unwrap();
        assert!((duration - index.duration_us() as f64 / 1e6).abs() < 1e-6);
        assert!(duration > 1.0);
        assert_eq!(number("filesize"), Some(data.len() as f64));
        let v = index.video().unwrap();
        assert_eq!(number("width"), Some(f64::from(v.width)));
        assert_eq!(number("videocodecid"), Some(7.0));
        assert_eq!(number("audiocodecid"), Some(10.0));
        assert_eq!(flv_codec_id(Codec::Av1), None);
    }
}
