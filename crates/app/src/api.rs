//! Wiring of the stats API, console and pages (`weir-api`) and of the chat
//! (`weir-server-chat`) into the HTTP listener: what only the app knows
//! (its version, which playback formats its adapters serve, the chat's
//! counters) goes in through [`weir_api::AppHooks`], and one
//! [`weir_api::ApiAuth`] guards both, so a console login or the API token
//! works for chat moderation as for every other mutating call.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use weir_api::{
    ApiAuth, ApiContext, AppHooks, AuthConfig, ChatStats, NewPull, Output, Playback, PullRefusal,
    PullView, PushRefusal, PushStatsView, PushView, RecordRefusal, RecordStatsView, RecordingQuery,
    RecordingView, TranscodeView,
};
use weir_hub::Hub;
use weir_media::{Codec, StreamKey};
use weir_server_chat::ChatMetrics;
use weir_server_http::HlsSegments;

use crate::config::Config;

/// The app's answers to the API.
struct Hooks {
    hls_segments: HlsSegments,
    chat: Arc<ChatMetrics>,
    pulls: weir_pull::Pulls,
    pushes: weir_push::Pushes,
    recorder: weir_record::Recorder,
    transcoder: weir_transcode::Transcoder,
    /// The RTMP port recordings are played on (`rtmp_url`), when RTMP VOD
    /// is on.
    rtmp_vod_port: Option<u16>,
    cluster: weir_cluster::Cluster,
}

impl AppHooks for Hooks {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// What `weir-server-http` serves for every live stream: live fMP4 (for
    /// MSE, lowest latency), HLS, LL-HLS, HTTP-FLV.
    fn playback(&self, key: &StreamKey) -> Vec<Playback> {
        let (app, stream) = (key.app(), key.stream());
        vec![
            Playback {
                format: "fmp4",
                url: format!("/{app}/{stream}.mp4"),
            },
            Playback {
                format: "hls",
                url: format!("/{app}/{stream}.m3u8"),
            },
            Playback {
                format: "llhls",
                url: format!("/{app}/{stream}/llhls.m3u8"),
            },
            Playback {
                format: "flv",
                url: format!("/{app}/{stream}.flv"),
            },
        ]
    }

    fn outputs(&self, video: Option<Codec>, audio: Option<Codec>) -> Vec<Output> {
        type Carries = fn(Codec) -> bool;
        let formats: [(&'static str, Carries); 6] = [
            ("rtmp", weir_flv::carries),
            ("http-flv", weir_flv::carries),
            ("ws-flv", weir_flv::carries),
            ("hls", weir_mpegts::carries),
            ("fmp4", weir_fmp4::carries),
            ("rtsp", weir_server_rtsp::carries),
        ];
        formats
            .into_iter()
            .map(|(name, carries)| Output {
                name,
                video: video.map(carries),
                audio: audio.map(carries),
            })
            .collect()
    }

    fn hls_segments(&self) -> Option<u64> {
        Some(self.hls_segments.get())
    }

    fn recordings(&self, query: &RecordingQuery) -> Option<Vec<RecordingView>> {
        let filter = weir_record::Filter {
            app: query.app.clone(),
            stream: query.stream.clone(),
            from: query.from,
            to: query.to,
        };
        let list = self.recorder.list(&filter);
        Some(
            list.into_iter()
                .map(|r| {
                    let rtmp = match (&query.host, self.rtmp_vod_port) {
                        (Some(host), Some(port)) => Some(format!("rtmp://{host}:{port}")),
                        _ => None,
                    };
                    crate::recordings::view(&r, rtmp.as_deref())
                })
                .collect(),
        )
    }

    fn transcodes(&self) -> Option<Vec<TranscodeView>> {
        use weir_transcode::LadderState;
        Some(
            self.transcoder
                .list()
                .into_iter()
                .map(|l| TranscodeView {
                    stream: l.stream,
                    renditions: l.renditions,
                    state: match l.state {
                        LadderState::Starting => "starting",
                        LadderState::Running => "running",
                        LadderState::Backoff => "backoff",
                        LadderState::Idle => "idle",
                    },
                    on_demand: l.on_demand,
                    pid: l.pid,
                    restarts: l.restarts,
                    last_error: l.last_error,
                    since: l.since,
                })
                .collect(),
        )
    }

    fn delete_recording(&self, id: &str) -> Result<bool, RecordRefusal> {
        match self.recorder.get(id) {
            Some(r) if r.recording => Err(RecordRefusal::Conflict(format!(
                "{id} is still being recorded: stop it first"
            ))),
            _ => self
                .recorder
                .delete(id)
                .map_err(|e| RecordRefusal::Failed(e.to_string())),
        }
    }

    fn record(&self, key: &StreamKey, start: bool) -> Result<bool, RecordRefusal> {
        if start {
            self.recorder
                .start_stream(key)
                .map(|_| true)
                .map_err(|e| RecordRefusal::Conflict(e.to_string()))
        } else {
            self.recorder.stop_stream(key);
            Ok(false)
        }
    }

    fn record_stats(&self) -> Option<RecordStatsView> {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.recorder.stats();
        Some(RecordStatsView {
            active: self.recorder.active() as u64,
            files: s.files.load(Relaxed),
            bytes: s.bytes.load(Relaxed),
            errors: s.errors.load(Relaxed),
            expired: s.expired.load(Relaxed),
        })
    }

    fn chat(&self) -> Option<ChatStats> {
        let m = self.chat.snapshot();
        Some(ChatStats {
            rooms: m.rooms,
            members: m.members,
            connections: m.connections,
            messages_in: m.messages_in,
            messages_out: m.messages_out,
            rate_limited: m.rate_limited,
            refused: m.refused,
            dropped: m.dropped,
            timeouts: m.timeouts,
            relayed_out: m.relayed_out,
            relayed_in: m.relayed_in,
            relay_errors: m.relay_errors,
        })
    }

    fn pulls(&self) -> Option<Vec<PullView>> {
        let list = self.pulls.list();
        Some(
            list.into_iter()
                .map(|p| PullView {
                    app: p.app,
                    stream: p.stream,
                    url: p.url,
                    transport: p.transport.as_str(),
                    on_demand: p.on_demand,
                    idle_secs: p.idle_secs,
                    from_api: p.from_api,
                    cluster: p.cluster,
                    state: p.state.as_str(),
                    since: p
                        .since
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                    last_error: p.last_error,
                    bitrate_kbps: p.bitrate_kbps,
                    reconnects: p.reconnects,
                })
                .collect(),
        )
    }

    fn add_pull(&self, new: NewPull) -> Result<(), PullRefusal> {
        let transport = match new.transport.as_deref() {
            None => weir_pull::Transport::default(),
            Some(t) => t
                .parse()
                .map_err(|e: weir_pull::PullError| PullRefusal::Invalid(e.to_string()))?,
        };
        let cfg = weir_pull::PullConfig {
            app: new.app,
            stream: new.stream,
            url: new.url,
            transport,
            on_demand: new.on_demand.unwrap_or(true),
            idle_secs: new.idle_secs.unwrap_or(weir_pull::DEFAULT_IDLE_SECS),
        };
        self.pulls.add(cfg).map_err(|e| match e {
            weir_pull::PullError::AlreadyExists(_) => PullRefusal::Exists(e.to_string()),
            other => PullRefusal::Invalid(other.to_string()),
        })
    }

    fn remove_pull(&self, key: &StreamKey) -> bool {
        self.pulls.remove(key)
    }

    fn pushes(&self) -> Option<Vec<PushView>> {
        let list = self.pushes.list();
        Some(
            list.into_iter()
                .map(|p| PushView {
                    id: p.id,
                    app: p.app,
                    stream: p.stream,
                    url: p.url,
                    from_api: p.from_api,
                    state: p.state.as_str(),
                    since: p
                        .since
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                    last_error: p.last_error,
                    bitrate_kbps: p.bitrate_kbps,
                    bytes: p.bytes,
                    reconnects: p.reconnects,
                })
                .collect(),
        )
    }

    fn add_push(&self, key: StreamKey, url: &str) -> Result<u64, PushRefusal> {
        self.pushes.add(key, url).map_err(|e| match e {
            weir_push::PushError::AlreadyExists(_) => PushRefusal::Conflict(e.to_string()),
            other => PushRefusal::Invalid(other.to_string()),
        })
    }

    fn remove_push(&self, id: u64) -> Result<bool, PushRefusal> {
        self.pushes.remove(id).map_err(|e| match e {
            weir_push::PushError::Configured(_) => PushRefusal::Conflict(e.to_string()),
            other => PushRefusal::Invalid(other.to_string()),
        })
    }

    fn push_stats(&self) -> Option<PushStatsView> {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.pushes.stats();
        Some(PushStatsView {
            reconnects: s.reconnects.load(Relaxed),
            bytes: s.bytes.load(Relaxed),
            errors: s.errors(),
        })
    }

    fn cluster_stats(&self) -> Option<weir_api::ClusterStatsView> {
        if !self.cluster.enabled() {
            return None;
        }
        let s = self.cluster.stats();
        let n = |v: usize| v as u64;
        Some(weir_api::ClusterStatsView {
            connected: s.connected,
            nodes: n(s.nodes),
            streams: n(s.streams),
            edge_pulls: n(s.edge_pulls),
            corrupt_heartbeats: n(s.corrupt_heartbeats),
            bus: [s.bus_sent, s.bus_received, s.bus_dropped, s.bus_malformed],
        })
    }
}

/// The routes the app adds to the HTTP server, by audience: each gets
/// its own CORS there.
pub struct Routes {
    /// The API, `/stat`, `/metrics`, the console and pages.
    pub operator: axum::Router,
    /// The chat (WebSocket, endpoint, scripts): for viewers' pages on any
    /// origin the media is allowed to.
    pub viewer: axum::Router,
}

/// The components the API lists and manages besides the hub.
pub struct Managed {
    /// Camera pulls (`/api/v1/pulls`).
    pub pulls: weir_pull::Pulls,
    /// Pushes (`/api/v1/pushes`).
    pub pushes: weir_push::Pushes,
    /// Recordings (`/api/v1/recordings`, `.../record`).
    pub recorder: weir_record::Recorder,
    /// Transcoding ladders (`/api/v1/transcodes`).
    pub transcoder: weir_transcode::Transcoder,
    /// The cluster (`/api/v1/cluster`, `/api/v1/play/endpoint`), started
    /// here once the chat it relays exists.
    pub cluster: weir_cluster::Cluster,
    /// This node's share of chat message ids ([`weir_cluster::Cluster::claim_slot`]).
    pub chat_id_slot: weir_server_chat::IdSlot,
}

/// The API's and the chat's routes. `hls_segments` is the HTTP server's
/// count of HLS segments, for `/metrics`; `managed` what the API lists,
/// adds and removes besides streams and clients; `shutdown` ends the
/// chat's connections.
pub fn routes(
    cfg: &Config,
    hub: Hub,
    started: Instant,
    hls_segments: HlsSegments,
    managed: Managed,
    shutdown: CancellationToken,
) -> anyhow::Result<Routes> {
    let Managed {
        pulls,
        pushes,
        recorder,
        transcoder,
        cluster,
        chat_id_slot,
    } = managed;
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let auth = ApiAuth::new(AuthConfig {
        console_user: cfg.api.console_user.clone(),
        console_password_hash: non_empty(&cfg.api.console_password_hash),
        api_token: non_empty(&cfg.api.api_token),
    });
    let chat = crate::chat::server(cfg, hub.clone(), shutdown, &auth, chat_id_slot)?;
    let (chat, deliver) = crate::chat::join_cluster(chat, &cluster);
    let rooms = chat.clone();
    crate::cluster::run(
        &cluster,
        crate::cluster::ClusterHooks {
            pulls: pulls.clone(),
            idle_secs: cfg.cluster.idle_secs,
            auth: cfg.auth.clone(),
            chat_rooms: Box::new(move || rooms.room_counts()),
            deliver,
        },
    );
    let api = weir_api::router(ApiContext {
        hub,
        auth,
        started,
        app: Arc::new(Hooks {
            hls_segments,
            chat: chat.metrics(),
            pulls,
            pushes,
            recorder,
            transcoder,
            rtmp_vod_port: cfg.vod.enabled.then(|| cfg.server.rtmp_listen.port()),
            cluster: cluster.clone(),
        }),
    });
    Ok(Routes {
        operator: api.merge(cluster.operator_routes()),
        viewer: chat.router().merge(cluster.viewer_routes()),
    })
}
