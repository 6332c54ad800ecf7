//! Operations for the people who run weir and the people who watch it: a
//! JSON stats and control API (`/api/v1/...`), an nginx-rtmp-compatible
//! `/stat` and `/control/drop/...`, Prometheus `/metrics`, a web console
//! (`/console`) and player pages (`/`, `/play/{app}/{stream}`).
//!
//! # Design
//!
//! * **Read, never push.** Adapters count traffic in relaxed atomics on
//!   their [`weir_hub::ClientHandle`] and the hub counts frames under the
//!   lock `Publisher::send` takes anyway. Nothing here runs on the media
//!   path: a background task ([`sampler`]) reads those counters once per
//!   second into rings of ten samples, from which every bit rate is the
//!   difference over the last ten seconds.
//! * **One snapshot, many views.** JSON, `/stat` XML and Prometheus text
//!   are all built from the hub's stream and client snapshots plus the
//!   sampler's rates, so they never disagree.
//! * **No state to leak.** Per-stream Prometheus series are produced at
//!   scrape time from the live streams, so a stream that ends leaves no
//!   series behind; the sampler forgets streams and clients that are gone.
//! * **Mutations need a credential.** Kicks and drops need the console's
//!   session cookie (from a page of this origin only: no CSRF) or
//!   `Authorization: Bearer <api token>`; with neither a console password
//!   nor a token configured they are refused (403). `HEAD` never mutates. The
//!   check is an [`ApiAuth`] the app builds and may also hand to routes of
//!   other crates (chat moderation), so one login works everywhere.
//! * **The pages are ours.** HTML, CSS and JS are embedded with
//!   `include_str!`, written for weir, with no third-party script and no
//!   build step: the binary works on a closed LAN.
//!
//! The app hands over everything through [`ApiContext`] and merges
//! [`router`] into the HTTP listener; app-specific knowledge (its version,
//! which playback formats it serves) comes through the [`AppHooks`] trait,
//! so this crate imports no adapter.

#![warn(missing_docs, unreachable_pub)]

mod auth;
mod control;
mod login;
mod metrics;
mod origin;
mod pages;
mod procstat;
mod recordings;
mod rest;
mod sampler;
mod stat;
mod views;

use std::sync::Arc;
use std::time::Instant;

use axum::routing::{delete, get, post};
use axum::Router;
use weir_hub::Hub;
use weir_media::{Codec, StreamKey};

pub use auth::{check_password_hash, hash_password, ApiAuth};

/// What only the app knows, asked for when a page or the API needs it.
pub trait AppHooks: Send + Sync + 'static {
    /// The server's version, shown by the API, `/stat` and the pages.
    fn version(&self) -> String;
    /// Where a browser can play `key` on the HTTP listener, preferred
    /// format first. Only formats the app actually serves.
    fn playback(&self, key: &StreamKey) -> Vec<Playback>;

    /// The outputs and whether each carries these codecs (none known:
    /// empty).
    fn outputs(&self, _video: Option<Codec>, _audio: Option<Codec>) -> Vec<Output> {
        Vec::new()
    }
    /// HLS segments produced since start (`weir_hls_segments_total`), or
    /// `None` when the app serves no HLS (the series is then left out).
    fn hls_segments(&self) -> Option<u64> {
        None
    }
    /// Live chat counters for `/metrics` (`weir_chat_*`), or `None` when
    /// the app runs no chat. A plain struct, so this crate needs no chat
    /// crate: the app copies its chat server's counters into it.
    fn chat(&self) -> Option<ChatStats> {
        None
    }
    /// The camera pulls (`GET /api/v1/pulls`, `weir_pull_*` in
    /// `/metrics`), or `None` when the app runs none (the routes then
    /// answer 404).
    fn pulls(&self) -> Option<Vec<PullView>> {
        None
    }
    /// Adds a camera pull (`POST /api/v1/pulls`, already authorized).
    fn add_pull(&self, _pull: NewPull) -> Result<(), PullRefusal> {
        Err(PullRefusal::Unsupported)
    }
    /// Stops and removes the pull of `key` (`DELETE /api/v1/pulls/...`,
    /// already authorized); false if there is none.
    fn remove_pull(&self, _key: &StreamKey) -> bool {
        false
    }

    /// The transcoding ladders (`GET /api/v1/transcodes`), or `None` when
    /// the app runs none (the route then answers 404).
    fn transcodes(&self) -> Option<Vec<TranscodeView>> {
        None
    }
    /// The pushes (`GET /api/v1/pushes`), or `None` when the app runs
    /// none (the routes then answer 404).
    fn pushes(&self) -> Option<Vec<PushView>> {
        None
    }
    /// Adds a push of `key` to `url` (`POST /api/v1/pushes`, already
    /// authorized); its id.
    fn add_push(&self, _key: StreamKey, _url: &str) -> Result<u64, PushRefusal> {
        Err(PushRefusal::Unsupported)
    }
    /// Stops and removes push `id` (`DELETE /api/v1/pushes/{id}`, already
    /// authorized); `Ok(false)` if there is none.
    fn remove_push(&self, _id: u64) -> Result<bool, PushRefusal> {
        Err(PushRefusal::Unsupported)
    }
    /// Counters of every push together, for `weir_push_*` in `/metrics`.
    fn push_stats(&self) -> Option<PushStatsView> {
        None
    }
    /// The cluster's figures for `weir_cluster_*` in `/metrics`, or
    /// `None` when the node runs alone (the series are then left out).
    fn cluster_stats(&self) -> Option<ClusterStatsView> {
        None
    }

    /// The recordings `query` asks for (`None`: this server has no
    /// recorder, and the API answers 404).
    fn recordings(&self, _query: &RecordingQuery) -> Option<Vec<RecordingView>> {
        None
    }

    /// Deletes a finished recording: `Ok(false)` if there is none.
    fn delete_recording(&self, _id: &str) -> Result<bool, RecordRefusal> {
        Err(RecordRefusal::Unsupported)
    }

    /// Starts (`start`) or stops recording `key`; the answer is whether
    /// it is recorded now.
    fn record(&self, _key: &StreamKey, _start: bool) -> Result<bool, RecordRefusal> {
        Err(RecordRefusal::Unsupported)
    }

    /// Recorder counters for `/metrics`.
    fn record_stats(&self) -> Option<RecordStatsView> {
        None
    }
}

/// What `GET /api/v1/recordings` asks for.
#[derive(Debug, Clone, Default)]
pub struct RecordingQuery {
    /// Only this app.
    pub app: Option<String>,
    /// Only this stream name.
    pub stream: Option<String>,
    /// Only recordings that end at or after this time.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only recordings that start before this time.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// The host name the client reached this server by (its `Host`
    /// header without the port), for URLs on other ports (`rtmp_url`).
    pub host: Option<String>,
}

/// One recording, as `GET /api/v1/recordings` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordingView {
    /// The file below the recordings directory: what `DELETE` takes.
    pub id: String,
    /// The stream's app.
    pub app: String,
    /// The stream's name.
    pub stream: String,
    /// When it started, RFC 3339.
    pub start: String,
    /// Media time it covers.
    pub duration_secs: f64,
    /// Size of the file.
    pub bytes: u64,
    /// `mp4` or `flv`.
    pub format: &'static str,
    /// The file over HTTP (ranges, for players and downloads).
    pub url: String,
    /// An HLS VOD playlist of it (mp4 only).
    pub hls_url: Option<String>,
    /// The file over RTMP, seekable (mp4 only; absolute: RTMP has its own
    /// port).
    pub rtmp_url: Option<String>,
    /// Still being written.
    pub recording: bool,
    /// Closed cleanly (false after a crash or a write error).
    pub complete: bool,
}

/// Recorder counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordStatsView {
    /// Recorders running.
    pub active: u64,
    /// Files opened.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Recordings stopped by a write error.
    pub errors: u64,
    /// Recordings deleted by retention.
    pub expired: u64,
}

/// Why a recordings call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordRefusal {
    /// No recorder: 404.
    Unsupported,
    /// Not now (the stream is not live, the file is being written): 409.
    Conflict(String),
    /// The disk said no: 500.
    Failed(String),
}

/// A camera pull as the API shows it: the app copies its pulls' status
/// into it, so this crate needs no pull crate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PullView {
    /// App of the stream it feeds.
    pub app: String,
    /// Name of the stream it feeds.
    pub stream: String,
    /// Camera URL, password redacted.
    pub url: String,
    /// `"tcp"`, `"udp"` or `"auto"`.
    pub transport: &'static str,
    /// Pulled only while watched.
    pub on_demand: bool,
    /// Seconds an on-demand pull outlives its last viewer.
    #[serde(rename = "close_after_secs")]
    pub idle_secs: f64,
    /// Added through the API (gone at restart) rather than `[[pull]]`.
    pub from_api: bool,
    /// Added by the cluster: this edge pulls the stream from its origin.
    pub cluster: bool,
    /// `"idle"`, `"connecting"`, `"running"` or `"retrying"`.
    pub state: &'static str,
    /// Since when (Unix seconds).
    pub since: u64,
    /// Why the last session ended, if one did.
    pub last_error: Option<String>,
    /// Media bit rate while running.
    pub bitrate_kbps: u64,
    /// Connection attempts after a failed or ended session.
    #[serde(rename = "retries")]
    pub reconnects: u64,
}

/// A transcoding ladder as the API shows it: the app copies its ladders'
/// status into it, so this crate needs no transcode crate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TranscodeView {
    /// The source stream, `app/stream`.
    pub stream: String,
    /// The rendition streams, `app/stream_name`.
    pub renditions: Vec<String>,
    /// `"starting"`, `"running"`, `"backoff"` or `"idle"`.
    pub state: &'static str,
    /// Runs only while a rendition has viewers.
    pub on_demand: bool,
    /// ffmpeg's process id while it runs.
    pub pid: Option<u32>,
    /// ffmpeg starts after the first.
    pub restarts: u64,
    /// Why ffmpeg last failed (its last error line).
    pub last_error: Option<String>,
    /// Since when (Unix seconds).
    pub since: u64,
}

/// The body of `POST /api/v1/pulls`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPull {
    /// App of the stream to feed (or name both in `stream`).
    #[serde(default)]
    pub app: String,
    /// The stream to feed: `"live/cam"`, or its name with `app`.
    pub stream: String,
    /// `rtsp://user:password@camera/path`.
    pub url: String,
    /// `"tcp"` (default), `"udp"` or `"auto"`.
    pub transport: Option<String>,
    /// Default true.
    pub on_demand: Option<bool>,
    /// Default 10 (`idle_secs` is read too).
    #[serde(rename = "close_after_secs", alias = "idle_secs")]
    pub idle_secs: Option<f64>,
}

/// Why a pull was not added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullRefusal {
    /// The app runs no pulls.
    Unsupported,
    /// A pull of that stream exists (409).
    Exists(String),
    /// A field is wrong (400); the message says which.
    Invalid(String),
}

/// A push as the API shows it: the app copies its pushes' status into
/// it, so this crate needs no push crate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PushView {
    /// What `DELETE /api/v1/pushes/{id}` takes.
    pub id: u64,
    /// App of the pushed stream.
    pub app: String,
    /// Name of the pushed stream.
    pub stream: String,
    /// The destination, its stream name (where the key goes) shown as
    /// `***`.
    pub url: String,
    /// Added through the API (until deleted) rather than by `[[push]]`.
    pub from_api: bool,
    /// `"idle"`, `"connecting"`, `"pushing"` or `"backoff"`.
    pub state: &'static str,
    /// Since when (Unix seconds).
    pub since: u64,
    /// Why the last connection failed, if one did.
    pub last_error: Option<String>,
    /// What goes out while pushing.
    pub bitrate_kbps: u64,
    /// Media bytes sent.
    pub bytes: u64,
    /// Connection attempts after a failed one.
    pub reconnects: u64,
}

/// The body of `POST /api/v1/pushes`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPush {
    /// App of the stream (or name both in `stream`).
    #[serde(default)]
    pub app: String,
    /// The stream to push: `"live/x"`, or its name with `app`.
    pub stream: String,
    /// The destination: `rtmp://host/app/KEY` (`{app}` and `{stream}`
    /// are replaced).
    pub url: String,
}

/// Why a push was not added or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefusal {
    /// The app runs no pushes (404).
    Unsupported,
    /// A field is wrong (400); the message says which.
    Invalid(String),
    /// The push comes from the configuration, or the same push exists
    /// (409).
    Conflict(String),
}

/// Counters of every push together, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStatsView {
    /// Connection attempts after a failed one.
    pub reconnects: u64,
    /// Media bytes sent.
    pub bytes: u64,
    /// Failed connections by kind (`connect`, `refused`, `timeout`...).
    pub errors: Vec<(&'static str, u64)>,
}

/// The cluster's figures as `/metrics` exports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStatsView {
    /// Redis reachable (1) or not (0).
    pub connected: bool,
    /// Live nodes, this one included.
    pub nodes: u64,
    /// Streams in the directory.
    pub streams: u64,
    /// Streams this node pulls from their origins.
    pub edge_pulls: u64,
    /// Heartbeats ignored as malformed at the last read.
    pub corrupt_heartbeats: u64,
    /// Bus messages: published, received, dropped, malformed.
    pub bus: [u64; 4],
}

/// Chat counters as `/metrics` exports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatStats {
    /// Rooms with anyone in them (gauge).
    pub rooms: u64,
    /// Connections in rooms (gauge).
    pub members: u64,
    /// Chat connections accepted since start.
    pub connections: u64,
    /// Chat messages accepted and broadcast.
    pub messages_in: u64,
    /// Frames queued to members (each broadcast once per member).
    pub messages_out: u64,
    /// Frames refused by the per-connection rate limit.
    pub rate_limited: u64,
    /// Frames refused for any other reason (length, UTF-8, mute, token...).
    pub refused: u64,
    /// Members closed because they could not keep up.
    pub dropped: u64,
    /// Connections closed by the heartbeat timeout.
    pub timeouts: u64,
    /// Messages relayed to other nodes of a cluster.
    pub relayed_out: u64,
    /// Messages from other nodes applied here.
    pub relayed_in: u64,
    /// Messages from other nodes refused (malformed, out of limits).
    pub relay_errors: u64,
}

/// One output format and whether it carries a stream's codecs (a codec
/// the others cannot carry is still served where it can be).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Output {
    /// `"rtmp"`, `"http-flv"`, `"ws-flv"`, `"hls"`, `"fmp4"`, `"rtsp"`.
    pub name: &'static str,
    /// Whether it carries the stream's video (`None`: the stream has none).
    pub video: Option<bool>,
    /// Whether it carries the stream's audio (`None`: the stream has none).
    pub audio: Option<bool>,
}

/// One way to play a stream from a browser.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Playback {
    /// `"fmp4"` (live fragmented MP4, for Media Source Extensions),
    /// `"hls"` (for browsers that play HLS natively) or `"flv"`.
    pub format: &'static str,
    /// Path on the HTTP listener, e.g. `/live/test.mp4`.
    pub url: String,
}

/// Credentials for the console and the mutating API calls.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Console login name.
    pub console_user: String,
    /// PHC-format argon2 hash of the console password (see
    /// [`hash_password`]); `None` disables the console login.
    pub console_password_hash: Option<String>,
    /// Token accepted as `Authorization: Bearer <token>`; `None` accepts
    /// none.
    pub api_token: Option<String>,
}

/// Everything the API needs from the app.
#[derive(Clone)]
pub struct ApiContext {
    /// The hub whose streams and clients are shown and kicked.
    pub hub: Hub,
    /// The check for mutating calls (console user, password hash, API
    /// token, login sessions); the app may share it with other routes.
    pub auth: ApiAuth,
    /// When the server started, for uptime.
    pub started: Instant,
    /// App-specific answers.
    pub app: Arc<dyn AppHooks>,
}

/// State every handler shares.
pub(crate) struct State {
    pub(crate) ctx: ApiContext,
    pub(crate) sampler: Arc<sampler::Sampler>,
    pub(crate) registry: prometheus_client::registry::Registry,
}

/// The routes of this crate, to merge into the HTTP listener's router.
///
/// Starts the sampler task (so it must be called inside a tokio runtime);
/// the task ends by itself once the router and every clone of it are
/// dropped.
pub fn router(ctx: ApiContext) -> Router {
    let sampler = Arc::new(sampler::Sampler::new(ctx.hub.clone()));
    sampler::spawn(&sampler);
    let registry = metrics::registry(ctx.clone(), sampler.clone());
    let state = Arc::new(State {
        ctx,
        sampler,
        registry,
    });
    Router::new()
        .route("/api/v1/summary", get(rest::summary))
        .route("/api/v1/streams", get(rest::streams))
        .route(
            "/api/v1/streams/{app}/{stream}",
            get(rest::stream).delete(rest::drop_stream),
        )
        .route("/api/v1/clients", get(rest::clients))
        .route("/api/v1/pulls", get(rest::pulls).post(rest::add_pull))
        .route("/api/v1/transcodes", get(rest::transcodes))
        .route("/api/v1/pulls/{app}/{stream}", delete(rest::remove_pull))
        .route("/api/v1/pushes", get(rest::pushes).post(rest::add_push))
        .route("/api/v1/pushes/{id}", delete(rest::remove_push))
        .route("/api/v1/recordings", get(recordings::list))
        .route("/api/v1/recordings/{*id}", delete(recordings::delete))
        .route(
            "/api/v1/streams/{app}/{stream}/record",
            post(recordings::control),
        )
        .route(
            "/api/v1/clients/{id}",
            get(rest::client).delete(rest::kick_client),
        )
        .route(
            "/api/v1/{*rest}",
            get(rest::not_found).delete(rest::not_found),
        )
        .route("/stat", get(stat::stat))
        .route(
            "/control/drop/{what}",
            get(control::drop).head(control::head),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/console", get(pages::console))
        .route("/console/session", get(auth::session))
        .route("/console/login", post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/", get(pages::index))
        .route("/play/{app}/{stream}", get(pages::play))
        .route("/assets/{file}", get(pages::asset))
        .with_state(state)
}
