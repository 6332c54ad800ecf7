//! HLS: one segmenter task per watched stream, and the playlist and
//! segment handlers that read from it.
//!
//! A stream's [`Session`] starts with the first playlist request (or when
//! the stream is published, with `always_on`): a task subscribes to the hub
//! and feeds [`weir_hls::Segmenter`], which keeps the recent segments in
//! memory. Requests read the segmenter under a short lock; nothing is
//! muxed per request. The task stops after `idle_timeout` without requests.
//!
//! Segment names carry a session id, `{stream}-{sid}-{seq}.ts`: media
//! sequence numbers restart with every session, and without the id a
//! segment URL would name different bytes after a restart, which would make
//! the long `Cache-Control` on segments a lie.

mod disk;
pub(crate) mod ll;
mod master;

pub use master::{Renditions, RenditionsOf};
mod ll_session;
mod session;
mod viewers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::HttpBody;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_hub::Hub;
use weir_media::StreamKey;

use crate::{HlsSettings, Shared};
use ll_session::LlSession;
use session::Session;
use viewers::Viewers;

/// Playlists change with every segment: never cache them.
const PLAYLIST_CACHE: &str = "no-cache";
/// A segment URL always names the same bytes (see the module docs).
const SEGMENT_CACHE: &str = "public, max-age=86400, immutable";
const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE: &str = "video/mp2t";

/// How often the always-on watcher looks for newly published streams.
const ALWAYS_ON_POLL: Duration = Duration::from_millis(250);

/// The HLS sessions of the server.
pub(crate) struct Hls {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    cfg: HlsSettings,
    shutdown: CancellationToken,
    sessions: Mutex<HashMap<StreamKey, Arc<Session>>>,
    /// LL-HLS sessions, one per stream whose `llhls.m3u8` is watched.
    ll_sessions: Mutex<HashMap<StreamKey, Arc<LlSession>>>,
    /// LL-HLS requests held now, over every stream.
    held: ll::Held,
    /// Makes session ids unique within the process even when the clock
    /// gives two sessions the same millisecond.
    next_sid: Mutex<u64>,
    /// Viewers, for the client registry.
    viewers: Viewers,
}

impl Hls {
    pub(crate) fn new(hub: Hub, cfg: HlsSettings, shutdown: CancellationToken) -> Self {
        Hls {
            inner: Arc::new(Inner {
                sessions: Mutex::new(HashMap::new()),
                ll_sessions: Mutex::new(HashMap::new()),
                held: ll::Held::default(),
                next_sid: Mutex::new(0),
                // A player polls the playlist about once per target
                // duration; three missed polls mean it has gone.
                viewers: Viewers::new(hub.clone(), cfg.fragment * 3),
                hub,
                cfg,
                shutdown,
            }),
        }
    }

    /// Sessions running.
    pub(crate) fn active(&self) -> usize {
        self.inner.sessions.lock().len()
    }

    /// The running LL-HLS session of `key`, if any.
    fn get_ll(&self, key: &StreamKey) -> Option<Arc<LlSession>> {
        self.inner.ll_sessions.lock().get(key).cloned()
    }

    /// The LL-HLS session of `key`, started if there is none (under the
    /// map lock, so two first requests cannot start two).
    fn get_or_start_ll(&self, key: &StreamKey) -> Arc<LlSession> {
        let mut sessions = self.inner.ll_sessions.lock();
        if let Some(s) = sessions.get(key) {
            return s.clone();
        }
        let sid = self.session_id();
        let session = Arc::new(LlSession::new(key.clone(), &sid, &self.inner.cfg));
        sessions.insert(key.clone(), session.clone());
        // One muxer serves every viewer of the stream (each admitted on
        // its own request) and outlives any one of them.
        let admission = self.inner.hub.admit_internal(key, "llhls");
        let sub = self.inner.hub.subscribe(&admission);
        tokio::spawn(ll_session::run(self.inner.clone(), session.clone(), sub));
        tracing::info!(stream = %key, sid, "llhls started");
        session
    }

    /// Lists the viewer of a request in the client registry and counts the
    /// bytes of its response.
    fn record(&self, key: &StreamKey, peer: SocketAddr, req: &HeaderMap, resp: &Response) {
        let bytes = resp.body().size_hint().exact().unwrap_or(0);
        self.inner.viewers.record(key, peer, req, bytes);
    }

    /// The running session of `key`, if any.
    fn get(&self, key: &StreamKey) -> Option<Arc<Session>> {
        self.inner.sessions.lock().get(key).cloned()
    }

    /// The session of `key`, started if there is none. Starting under the
    /// map lock means two first requests cannot start two sessions.
    fn get_or_start(&self, key: &StreamKey) -> Arc<Session> {
        let mut sessions = self.inner.sessions.lock();
        if let Some(s) = sessions.get(key) {
            return s.clone();
        }
        let sid = self.session_id();
        let session = Arc::new(Session::new(key.clone(), &sid, &self.inner.cfg));
        sessions.insert(key.clone(), session.clone());
        // The segmenter serves every viewer of the stream (each admitted
        // on its own request) and outlives any one of them.
        let admission = self.inner.hub.admit_internal(key, "hls");
        let sub = self.inner.hub.subscribe(&admission);
        tokio::spawn(session::run(self.inner.clone(), session.clone(), sub));
        tracing::info!(stream = %key, sid, "hls started");
        session
    }

    /// Base-36 milliseconds since the epoch, bumped past the previous id:
    /// unique in this process and, in practice, across restarts.
    fn session_id(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut last = self.inner.next_sid.lock();
        *last = now.max(*last + 1);
        base36(*last)
    }
}

impl Inner {
    /// Removes the LL-HLS `session` from its map if it is still the
    /// current one.
    fn retire_ll(&self, session: &Arc<LlSession>) {
        let mut sessions = self.ll_sessions.lock();
        if sessions
            .get(session.key())
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            sessions.remove(session.key());
        }
    }

    /// Removes `session` from the map if it is still the current one.
    fn retire(&self, session: &Arc<Session>) {
        let mut sessions = self.sessions.lock();
        if sessions
            .get(session.key())
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            sessions.remove(session.key());
        }
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The stream name in a segment's file stem `{stream}-{sid}-{seq}`, if the
/// stem has that shape.
pub(crate) fn stream_of_segment(stem: &str) -> Option<&str> {
    let (rest, seq) = stem.rsplit_once('-')?;
    let (stream, sid) = rest.rsplit_once('-')?;
    let digits =
        |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| f(&b));
    (digits(seq, u8::is_ascii_digit) && digits(sid, u8::is_ascii_alphanumeric)).then_some(stream)
}

/// Whether a producer of `format` may start for `key`, the refusal
/// otherwise: the stream must be live (a request waits `play_wait` for
/// its publisher, 404 after) and have a track the format `carries` (415
/// with the reason). Shared by the TS and the LL-HLS producers.
async fn may_start(
    shared: &Shared,
    key: &StreamKey,
    format: &str,
    carries: fn(weir_media::Codec) -> bool,
) -> Result<(), Response> {
    if !shared.hub.wait_live(key, shared.config.play_wait).await {
        return Err(not_found(&format!("{key} is not live")));
    }
    match crate::codecs::refuse_uncarried(&shared.hub, key, format, carries) {
        Some(refused) => Err(refused),
        None => Ok(()),
    }
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("{what}\n")).into_response()
}

/// `GET /{app}/{stream}.m3u8`. Starts the stream's segmenter if needed and
/// then waits (bounded) for its first segment, so that the first request
/// for a live stream gets a playable playlist rather than a 404.
pub(crate) async fn playlist(
    shared: &Shared,
    key: &StreamKey,
    peer: SocketAddr,
    req: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let hls = &shared.hls;
    if let Err(refused) = hls.inner.viewers.admit(key, peer, req, query, "hls").await {
        return refused;
    }
    let session = match hls.get(key) {
        Some(s) => s,
        None => {
            if let Err(refused) =
                may_start(shared, key, "HLS (MPEG-TS)", weir_mpegts::carries).await
            {
                return refused;
            }
            hls.get_or_start(key)
        }
    };
    session.touch();
    let wait = hls.inner.cfg.fragment.mul_f64(2.5);
    let body = session.playlist_after_first(Instant::now() + wait).await;
    let resp = crate::range::respond(req, body, PLAYLIST_TYPE, PLAYLIST_CACHE);
    hls.record(key, peer, req, &resp);
    resp
}

/// `GET /{app}/{stream}-{sid}-{seq}.ts`, from memory, with byte ranges.
pub(crate) async fn segment(
    shared: &Shared,
    key: &StreamKey,
    name: &str,
    peer: SocketAddr,
    req: &HeaderMap,
    query: Option<&str>,
) -> Response {
    if let Err(refused) = shared
        .hls
        .inner
        .viewers
        .admit(key, peer, req, query, "hls")
        .await
    {
        return refused;
    }
    let Some(session) = shared.hls.get(key) else {
        return not_found("no such segment");
    };
    session.touch();
    match session.segment(name) {
        Some(data) => {
            let resp = crate::range::respond(req, data, SEGMENT_TYPE, SEGMENT_CACHE);
            shared.hls.record(key, peer, req, &resp);
            resp
        }
        None => not_found("no such segment"),
    }
}

/// With `always_on`: starts a session for every live stream that has none.
pub(crate) async fn always_on(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(ALWAYS_ON_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shared.shutdown.cancelled() => return,
        }
        for info in shared.hub.streams() {
            if info.live && shared.hls.get(&info.key).is_none() {
                shared.hls.get_or_start(&info.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_stems_name_their_stream() {
        assert_eq!(stream_of_segment("cam-k2x9-17"), Some("cam"));
        assert_eq!(stream_of_segment("a-b-k2x9-0"), Some("a-b"));
        assert_eq!(stream_of_segment("cam-17"), None);
        assert_eq!(stream_of_segment("cam-k2-x"), None);
        assert_eq!(stream_of_segment("cam--17"), None);
        assert_eq!(base36(0), "0");
        assert_eq!(base36(36 * 36 + 35), "10z");
    }
}
