//! Video on demand over HTTP: `GET`/`HEAD /vod/{path}` serves the files
//! under the VOD roots (Range, `ETag`/`If-None-Match`, `Last-Modified`/
//! `If-Modified-Since`; 206 and 416 as RFC 9110 says, through
//! `tower-http`'s `ServeFile`), and `GET /vod/{path}.mp4.m3u8` answers an
//! HLS VOD playlist of the MP4 `{path}.mp4` (see [`weir_vod::hls`]):
//! byte ranges of the file itself when it is fragmented (weir's
//! recordings), segments made on the fly from its sample tables
//! (`{path}.mp4?hls=init`, `?hls={n}`) when it is plain.
//!
//! Paths are checked as text (400) and then resolved, symlinks included,
//! to a regular file under the root's canonical path (404 otherwise): no
//! byte outside a root is ever served. See `docs/vod.md`.
//!
//! Every request then passes the hub's access check like a live viewer
//! ([`weir_hub::Hub::admit_new_client`], protocol `vod`) as a player of the
//! stream its mount says the file belongs to ([`Mount::key_of`]): a
//! recording by its stream's play rules, so that a stream's keys or
//! signatures guard its recordings too. A playlist's segment URIs carry
//! the playlist request's query, so a player's key travels with it.
//!
//! With [`VodConfig::recordings`] set, `GET /api/v1/recordings/get?app=&
//! stream=&start=&duration=` answers one MP4 stitched from the recordings
//! of a stream that cover a wall-clock range (see `stitch`), admitted the
//! same way as a player of that stream.

#![warn(missing_docs, unreachable_pub)]

mod cache;
mod error;
mod etag;
mod path;
mod range_query;
mod stitch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use weir_hub::{Action, Hub};

pub use error::VodHttpError;
pub use path::{KeyOf, Mount, MAX_COMPONENT_BYTES, MAX_PATH_BYTES};
pub use stitch::{RecordedFile, Recordings};

/// Settings of the VOD routes.
#[derive(Clone)]
pub struct VodConfig {
    /// The directories served; the one with an empty prefix takes every
    /// path no other claims.
    pub mounts: Vec<Mount>,
    /// HLS segments last at least this long, where keyframes allow.
    pub segment_target: Duration,
    /// Most file indexes kept in memory.
    pub cache_entries: usize,
    /// Most file bytes one generated segment may read.
    pub max_segment_bytes: u64,
    /// The recorder's catalog, for `GET /api/v1/recordings/get` (the
    /// route exists only when this is set).
    pub recordings: Option<Recordings>,
    /// Longest time range one request may ask for (400 beyond).
    pub max_range: Duration,
    /// Most media bytes one time range may read (413 beyond): a range is
    /// read into memory and written out whole.
    pub max_range_bytes: u64,
    /// Time ranges made at once; more wait their turn (each holds up to
    /// twice `max_range_bytes`).
    pub ranges_at_once: usize,
}

impl std::fmt::Debug for VodConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VodConfig")
            .field("mounts", &self.mounts)
            .field("segment_target", &self.segment_target)
            .field("cache_entries", &self.cache_entries)
            .field("max_segment_bytes", &self.max_segment_bytes)
            .field("recordings", &self.recordings.is_some())
            .field("max_range", &self.max_range)
            .field("max_range_bytes", &self.max_range_bytes)
            .field("ranges_at_once", &self.ranges_at_once)
            .finish()
    }
}

impl Default for VodConfig {
    fn default() -> Self {
        VodConfig {
            mounts: Vec::new(),
            segment_target: Duration::from_secs(2),
            cache_entries: 256,
            max_segment_bytes: 64 << 20,
            recordings: None,
            max_range: Duration::from_secs(24 * 3600),
            max_range_bytes: 512 << 20,
            ranges_at_once: 2,
        }
    }
}

struct Vod {
    hub: Hub,
    library: Arc<Library>,
}

/// The files of the VOD mounts and a bounded cache of their indexes: what
/// the `/vod/` routes serve, shared with the app's other VOD players
/// (RTMP VOD), so that a path names the same file, admitted as the same
/// stream, whatever protocol asks.
pub struct Library {
    config: VodConfig,
    cache: cache::IndexCache,
    /// Permits of the time ranges being made.
    ranges: tokio::sync::Semaphore,
}

impl Library {
    /// The library of `config`'s mounts.
    pub fn new(config: VodConfig) -> Self {
        Library {
            cache: cache::IndexCache::new(config.cache_entries),
            ranges: tokio::sync::Semaphore::new(config.ranges_at_once.max(1)),
            config,
        }
    }

    /// The file `path` (relative to `/vod/`) names, resolved under its
    /// mount's root, and the stream whose play rules admit it: 400 for a
    /// malformed path, 404 for no such file (or one outside the root).
    pub fn locate(&self, path: &str) -> Result<(PathBuf, weir_media::StreamKey), VodHttpError> {
        path::check(path).map_err(refused)?;
        let (mount, rel) = path::split(&self.config.mounts, path).ok_or(VodHttpError::NotFound)?;
        let file = path::resolve(&mount.root, rel).map_err(refused)?;
        let key = (mount.key_of)(rel).ok_or(VodHttpError::NotFound)?;
        Ok((file, key))
    }

    /// The index of a located MP4, from the cache while the file is
    /// unchanged.
    pub async fn index(
        &self,
        file: &std::path::Path,
    ) -> Result<Arc<weir_vod::Index>, VodHttpError> {
        self.cache.get(file).await
    }
}

/// The router of `GET`/`HEAD /vod/{*path}` over `library` (and of
/// `GET /api/v1/recordings/get` when its config has `recordings`), whose
/// requests `hub` admits. The app merges it into the viewer routes, which
/// gives it the media routes' CORS: both are media for players.
pub fn router(hub: Hub, library: Arc<Library>) -> Router {
    let stitches = library.config.recordings.is_some();
    let vod = Arc::new(Vod { hub, library });
    let mut router = Router::new().route("/vod/{*path}", get(serve));
    if stitches {
        router = router.route("/api/v1/recordings/get", get(stitch::get));
    }
    router.with_state(vod)
}

/// Playlists and generated segments may change when the file does (a
/// recording still being written): revalidate every time.
const NO_CACHE: &str = "no-cache";

async fn serve(
    State(vod): State<Arc<Vod>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    req: Request,
) -> Response {
    match answer(&vod, peer, &path, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn is_mp4(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".mp4") || lower.ends_with(".m4v") || lower.ends_with(".mov")
}

async fn answer(
    vod: &Vod,
    peer: SocketAddr,
    path: &str,
    req: Request,
) -> Result<Response, VodHttpError> {
    let playlist_of = path.strip_suffix(".m3u8").filter(|p| is_mp4(p));
    let (file, key) = vod.library.locate(playlist_of.unwrap_or(path))?;
    // The query without our own `hls=` parameter: the player's key or
    // signature, for the access check and the playlist's segment URIs.
    let mut hls = None;
    let mut rest = Vec::new();
    for kv in req.uri().query().unwrap_or_default().split('&') {
        match kv.strip_prefix("hls=") {
            Some(which) => hls = Some(which.to_owned()),
            None if !kv.is_empty() => rest.push(kv),
            None => {}
        }
    }
    let query = rest.join("&");
    // Held until the answer is made: the client is listed meanwhile, and
    // its end reported (`on_stop`) when it is dropped.
    let _admitted = vod
        .hub
        .admit_new_client(peer, "vod", Action::Play, &key, &query)
        .await
        .map_err(|denied| VodHttpError::Denied(denied.to_string()))?;
    if let Some(mp4) = playlist_of {
        return playlist(vod, &file, mp4, &query).await;
    }
    match hls {
        Some(which) if is_mp4(path) => segment(vod, &file, &which).await,
        _ => serve_file(file, req).await,
    }
}

fn refused(r: path::Refused) -> VodHttpError {
    match r {
        path::Refused::Bad(why) => VodHttpError::BadPath(why),
        path::Refused::NotFound => VodHttpError::NotFound,
    }
}

fn target_us(vod: &Vod) -> i64 {
    i64::try_from(vod.library.config.segment_target.as_micros()).unwrap_or(i64::MAX)
}

async fn playlist(
    vod: &Vod,
    file: &std::path::Path,
    rel: &str,
    query: &str,
) -> Result<Response, VodHttpError> {
    let index = vod.library.index(file).await?;
    let segments = weir_vod::hls::segments(&index, target_us(vod));
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let mut uri = percent_encoding::utf8_percent_encode(name, URI_UNSAFE).to_string();
    if !query.is_empty() {
        // Kept as the player sent it, but never able to end the quoted
        // URI attribute or the line.
        uri.push('?');
        uri.extend(query.chars().filter(|c| !matches!(c, '"' | '\r' | '\n')));
    }
    let text = weir_vod::hls::playlist(&index, &segments, &uri);
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        text,
    )
        .into_response())
}

/// Bytes escaped in a playlist's segment URIs: everything but unreserved
/// characters, so that a file name cannot break the playlist's syntax.
const URI_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

async fn segment(vod: &Vod, file: &std::path::Path, which: &str) -> Result<Response, VodHttpError> {
    let index = vod.library.index(file).await?;
    let body = if which == "init" {
        weir_vod::hls::init_segment(&index)?
    } else {
        let n: usize = which.parse().map_err(|_| VodHttpError::NoSegment)?;
        let segments = weir_vod::hls::segments(&index, target_us(vod));
        let seg = segments.get(n).ok_or(VodHttpError::NoSegment)?;
        let span = weir_vod::hls::segment_span(&index, seg).ok_or(VodHttpError::NoSegment)?;
        let len = span.end - span.start;
        if len > vod.library.config.max_segment_bytes {
            return Err(VodHttpError::TooLarge(len));
        }
        let bytes = cache::read_span(file, span.start, len as usize).await?;
        let window = weir_vod::Window {
            base: span.start,
            bytes: &bytes,
        };
        let sequence = u32::try_from(n + 1).unwrap_or(u32::MAX);
        weir_vod::hls::segment(&index, window, seg, sequence)?
    };
    Ok((
        [
            (header::CONTENT_TYPE, "video/mp4"),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        body,
    )
        .into_response())
}

fn content_type(path: &std::path::Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("mp4" | "m4v" | "m4s" | "mov") => "video/mp4",
        Some("m4a") => "audio/mp4",
        Some("flv") => "video/x-flv",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        // Anything else is bytes: never HTML or script that a browser
        // would run on this origin.
        _ => "application/octet-stream",
    }
}

async fn serve_file(file: PathBuf, req: Request) -> Result<Response, VodHttpError> {
    let meta = tokio::fs::metadata(&file)
        .await
        .map_err(|_| VodHttpError::NotFound)?;
    let tag = etag::of(&meta);
    let mut extra = [
        (header::ETAG, HeaderValue::from_str(&tag).ok()),
        (
            header::CONTENT_TYPE,
            Some(HeaderValue::from_static(content_type(&file))),
        ),
        (
            header::CACHE_CONTROL,
            Some(HeaderValue::from_static(NO_CACHE)),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            Some(HeaderValue::from_static("nosniff")),
        ),
    ];
    if etag::none_match(req.headers(), &tag) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        for (name, value) in &mut extra {
            if *name != header::CONTENT_TYPE {
                if let Some(v) = value.take() {
                    r.headers_mut().insert(name.clone(), v);
                }
            }
        }
        return Ok(r);
    }
    let response = match ServeFile::new(&file).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let mut response = response.map(Body::new);
    let status = response.status();
    for (name, value) in extra {
        if let Some(v) = value {
            if status.is_success() || name != header::CONTENT_TYPE {
                response.headers_mut().insert(name, v);
            }
        }
    }
    Ok(response)
}
