//! Low-latency HLS: `GET /{app}/{stream}/llhls.m3u8` (with the blocking
//! reload and delta update directives `_HLS_msn`, `_HLS_part`,
//! `_HLS_skip`) and the media files it names below the same path: init
//! segments, parts and whole segments, all from memory.
//!
//! One [`LlSession`] per stream makes the parts once (a live fMP4 muxer
//! with `max_fragment_ms = part_ms`); every request reads them under a
//! short lock. A request for something not made yet is held until it is,
//! within bounds: at most [`MAX_HELD_PER_STREAM`] held requests per stream
//! and [`MAX_HELD`] in all (more are answered 503 and counted), each for at
//! most three target durations, and all of them answered when the stream
//! ends or the server stops.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::time::Instant;
use weir_hls::{Blocking, Directives, LlFile, PartState};
use weir_media::StreamKey;

use super::ll_session::{HeldHere, LlSession};
use super::{not_found, PLAYLIST_TYPE, SEGMENT_CACHE};
use crate::{Peer, Shared};

/// The playlist's file name below `/{app}/{stream}/`.
pub(crate) const PLAYLIST: &str = "llhls.m3u8";
/// Most requests held at once for one stream.
pub(crate) const MAX_HELD_PER_STREAM: usize = 2_000;
/// Most requests held at once in all.
pub(crate) const MAX_HELD: usize = 10_000;
/// Protocol name in the client registry and error counts.
const PROTOCOL: &str = "llhls";
/// A playlist without directives changes with every part.
const LIVE_PLAYLIST_CACHE: &str = "no-cache";
/// A blocking request's URL names one version of the playlist (the first
/// to hold its part), so a CDN may keep the answer for a while and
/// collapse the identical requests of every viewer into one.
const BLOCKING_PLAYLIST_CACHE: &str = "public, max-age=6";
const MEDIA_TYPE: &str = "video/mp4";

/// Requests held now, over every stream.
#[derive(Default)]
pub(crate) struct Held(AtomicUsize);

/// A held request's place in the server-wide count; freed on drop.
struct HeldAll<'a>(&'a Held);

impl Drop for HeldAll<'_> {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Held {
    fn take(&self) -> Option<HeldAll<'_>> {
        if self.0.fetch_add(1, Ordering::AcqRel) >= MAX_HELD {
            self.0.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(HeldAll(self))
    }
}

/// Both places a held request takes: server-wide and in its stream.
struct Places<'a> {
    _all: HeldAll<'a>,
    _here: HeldHere,
}

/// `GET /{app}/{stream}/{file}`.
pub(crate) async fn media(
    State(shared): State<Arc<Shared>>,
    Path((app, stream, file)): Path<(String, String, String)>,
    peer: Peer,
    req: Request,
) -> Response {
    let Ok(key) = StreamKey::new(&app, &stream) else {
        return (StatusCode::BAD_REQUEST, "no such stream\n").into_response();
    };
    let query = req.uri().query();
    let headers = req.headers();
    if file == PLAYLIST {
        playlist(&shared, &key, peer.0, headers, query).await
    } else if file == super::master::MASTER || file == super::master::LL_MASTER {
        let low_latency = file == super::master::LL_MASTER;
        super::master::answer(&shared, &key, peer.0, headers, query, low_latency).await
    } else {
        file_of(&shared, &key, &file, peer.0, headers, query).await
    }
}

/// Refuses a request the rules call bad: counted, logged at most once a
/// minute per peer.
fn bad_request(shared: &Shared, peer: SocketAddr, kind: &'static str, why: &str) -> Response {
    if shared.hub.clients().report(PROTOCOL, kind, peer.ip()) {
        tracing::info!(%peer, kind, why, "llhls: request refused");
    }
    (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response()
}

fn unavailable(shared: &Shared, peer: SocketAddr) -> Response {
    if shared
        .hub
        .clients()
        .report(PROTOCOL, "held_requests_full", peer.ip())
    {
        tracing::warn!(%peer, "llhls: too many held requests, answering 503");
    }
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        "too many blocking requests\n",
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// `llhls.m3u8`: starts the stream's session if needed; answers at once
/// without directives (once the first segment exists, bounded), holds a
/// blocking request until its part exists.
async fn playlist(
    shared: &Shared,
    key: &StreamKey,
    peer: SocketAddr,
    req: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let directives = match weir_hls::parse_query(query) {
        Ok(d) => d,
        Err(e) => return bad_request(shared, peer, "bad_directive", &e.to_string()),
    };
    let hls = &shared.hls;
    if let Err(refused) = hls
        .inner
        .viewers
        .admit(key, peer, req, query, PROTOCOL)
        .await
    {
        return refused;
    }
    let session = match hls.get_ll(key) {
        Some(s) => s,
        None => {
            if let Err(refused) =
                super::may_start(shared, key, "LL-HLS (fMP4)", weir_fmp4::carries).await
            {
                return refused;
            }
            hls.get_or_start_ll(key)
        }
    };
    session.touch();
    let resp = match directives {
        Directives { msn: Some(msn), .. } => {
            match blocking(shared, &session, peer, msn, directives).await {
                Ok(body) => {
                    let body = with_reports(shared, key, body);
                    crate::range::respond(req, body, PLAYLIST_TYPE, BLOCKING_PLAYLIST_CACHE)
                }
                Err(resp) => return resp,
            }
        }
        _ => {
            // The first request of a new session waits (as long as a
            // blocking request may) for a whole segment: players that
            // ignore parts (ffmpeg) give up on a playlist without one.
            // Segment 0 is `Wait` until it is finished or the stream ends.
            let deadline = Instant::now() + hold_time(&session);
            let body = wait_for(shared, &session, deadline, |st| {
                (st.ll.blocking(0, None) != Blocking::Wait).then(|| pick(st, directives.skip))
            })
            .await
            .unwrap_or_else(|| pick(&session.state.lock(), directives.skip));
            let body = with_reports(shared, key, body);
            crate::range::respond(req, body, PLAYLIST_TYPE, LIVE_PLAYLIST_CACHE)
        }
    };
    hls.record(key, peer, req, &resp);
    resp
}

/// `body` with an `#EXT-X-RENDITION-REPORT` for every other variant of
/// the stream's ladder whose LL-HLS playlist is being made: its newest
/// segment and part, so that a player switching to it asks for the right
/// part at once. Added per request (the other playlists move on their
/// own); a playlist of a stream without a ladder is sent as it is.
///
/// A watched variant keeps every live variant of its ladder segmenting
/// (started here if need be, kept from idling out): a player that switches
/// finds the other playlist made, and reported with its own numbers,
/// rather than asking it for this playlist's segment numbers (which a
/// later-started variant is behind on, and would refuse as too far ahead).
fn with_reports(shared: &Shared, key: &StreamKey, body: Bytes) -> Bytes {
    let others = super::master::group_of(shared, key);
    let mut reports = String::new();
    for other in &others {
        if !shared.hub.is_live(other) {
            continue;
        }
        let session = shared.hls.get_or_start_ll(other);
        session.touch();
        let Some((msn, part)) = session.state.lock().ll.last_part() else {
            continue;
        };
        reports.push_str(&format!(
            "#EXT-X-RENDITION-REPORT:URI=\"../{}/{PLAYLIST}\",LAST-MSN={msn},LAST-PART={part}\n",
            other.stream()
        ));
    }
    if reports.is_empty() {
        return body;
    }
    let mut out = Vec::with_capacity(body.len() + reports.len());
    out.extend_from_slice(&body);
    out.extend_from_slice(reports.as_bytes());
    Bytes::from(out)
}

fn pick(st: &super::ll_session::LlState, skip: bool) -> Bytes {
    if skip {
        st.delta.clone()
    } else {
        st.full.clone()
    }
}

/// How long a request may be held: three target durations, as the spec
/// lets a client expect.
fn hold_time(session: &LlSession) -> std::time::Duration {
    session.state.lock().ll.target_duration() * 3
}

/// A blocking reload: the playlist once it holds `(msn, part)`; 400 at
/// once when that is too far ahead; 503 when too many requests are held;
/// the playlist as it stands when the wait times out.
async fn blocking(
    shared: &Shared,
    session: &Arc<LlSession>,
    peer: SocketAddr,
    msn: u64,
    d: Directives,
) -> Result<Bytes, Response> {
    let ready = |st: &super::ll_session::LlState| st.ll.blocking(msn, d.part);
    let deadline = Instant::now() + hold_time(session);
    {
        let st = session.state.lock();
        match ready(&st) {
            Blocking::Ready => return Ok(pick(&st, d.skip)),
            Blocking::TooFar => {
                drop(st);
                let why = "_HLS_msn/_HLS_part too far ahead of the playlist";
                return Err(bad_request(shared, peer, "too_far_ahead", why));
            }
            Blocking::Wait => {}
        }
    }
    let _places = hold(shared, session).ok_or_else(|| unavailable(shared, peer))?;
    let got = wait_for(shared, session, deadline, |st| match ready(st) {
        Blocking::Wait => None,
        _ => Some(pick(st, d.skip)),
    })
    .await;
    Ok(got.unwrap_or_else(|| pick(&session.state.lock(), d.skip)))
}

fn hold<'a>(shared: &'a Shared, session: &Arc<LlSession>) -> Option<Places<'a>> {
    let all = shared.hls.inner.held.take()?;
    let here = session.hold(MAX_HELD_PER_STREAM)?;
    Some(Places {
        _all: all,
        _here: here,
    })
}

/// Waits until `done` says something (checked now and after every change
/// of the session), the deadline passes or the server stops.
async fn wait_for<T>(
    shared: &Shared,
    session: &LlSession,
    deadline: Instant,
    done: impl Fn(&super::ll_session::LlState) -> Option<T>,
) -> Option<T> {
    let mut changed = session.changed.subscribe();
    loop {
        if let Some(v) = done(&session.state.lock()) {
            return Some(v);
        }
        tokio::select! {
            res = changed.changed() => if res.is_err() { return None },
            () = tokio::time::sleep_until(deadline) => return None,
            () = shared.shutdown.cancelled() => return None,
        }
    }
}

/// An init segment, part or segment of the stream's session. A part not
/// made yet but due soon (the preload hint's) is held until it exists.
async fn file_of(
    shared: &Shared,
    key: &StreamKey,
    name: &str,
    peer: SocketAddr,
    req: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let hls = &shared.hls;
    let Some(session) = hls.get_ll(key) else {
        return not_found("no such file");
    };
    let Some(file) = LlFile::parse(&session.prefix, name) else {
        return not_found("no such file");
    };
    if let Err(refused) = hls
        .inner
        .viewers
        .admit(key, peer, req, query, PROTOCOL)
        .await
    {
        return refused;
    }
    session.touch();
    let found = match file {
        LlFile::Init(v) => session.state.lock().ll.init(v),
        LlFile::Segment(msn) => session.state.lock().ll.segment(msn),
        LlFile::Part(n) => {
            let state = session.state.lock().ll.part(n);
            match state {
                PartState::Ready(data) => Some(data),
                PartState::Missing => None,
                PartState::Wait => {
                    let Some(_places) = hold(shared, &session) else {
                        return unavailable(shared, peer);
                    };
                    let deadline = Instant::now() + hold_time(&session);
                    wait_for(shared, &session, deadline, |st| match st.ll.part(n) {
                        PartState::Ready(data) => Some(Some(data)),
                        PartState::Missing => Some(None),
                        PartState::Wait => None,
                    })
                    .await
                    .flatten()
                }
            }
        }
    };
    let Some(data) = found else {
        return not_found("no such file");
    };
    let resp = crate::range::respond(req, data, MEDIA_TYPE, SEGMENT_CACHE);
    hls.record(key, peer, req, &resp);
    resp
}
