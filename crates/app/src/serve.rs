//! `weir serve`: builds the hub, starts the adapters, waits for a signal.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use weir_hub::{ChannelConfig, Hub, HubConfig};

use crate::cli::ServeArgs;
use crate::config::{secs, Config};

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = Config::from_args(&args)?;
    // First line of the log: who may publish. Out of the box only this
    // machine may, so a fresh server on the internet is nobody's relay.
    info!("{}", cfg.auth.publish_summary());
    for note in &cfg.deprecations {
        warn!("config: {note}");
    }
    let started = std::time::Instant::now();
    let shutdown = CancellationToken::new();
    let tls = crate::tls::start(&cfg, &shutdown)?;

    let channel = ChannelConfig {
        capacity: cfg.hub.queue_entries,
        gop_max_bytes: cfg.hub.gop_max_bytes,
        ..ChannelConfig::default()
    };
    let access = std::sync::Arc::new(weir_access::Access::new(&cfg.auth)?);
    let hub = Hub::with_gate(
        HubConfig {
            takeover: cfg.hub.takeover,
            channel: channel.clone(),
        },
        access.clone(),
    );

    // Recording: the catalog is always open (the API lists and serves
    // what earlier runs recorded); streams are recorded when `[record]`
    // chooses them or the API asks.
    let recorder = crate::recordings::start(&cfg, &hub, access, &shutdown)?;

    // Transcoding ladders: ffmpeg per chosen stream while it is live (or
    // watched). A missing ffmpeg stops the start only when one is set up.
    let transcoder =
        weir_transcode::Transcoder::start(hub.clone(), cfg.transcode.clone(), shutdown.clone())?;
    if !cfg.transcode.is_empty() {
        info!(ladders = cfg.transcode.len(), "transcoding configured");
    }

    // Camera pulls: always-on ones start now, on-demand ones when their
    // stream gets a viewer (the hub's demand watcher).
    let pulls = weir_pull::Pulls::start(hub.clone(), &cfg.pull, shutdown.clone())?;
    if !cfg.pull.is_empty() {
        info!(pulls = cfg.pull.len(), "camera pulls configured");
    }

    // Pushes: `[[push]]` entries follow every publish of the streams they
    // choose; the API adds more.
    let pushes = weir_push::Pushes::start(hub.clone(), &cfg.push, shutdown.clone())?;
    if !cfg.push.is_empty() {
        info!(pushes = cfg.push.len(), "pushes configured");
    }

    let rtmp_listener = TcpListener::bind(cfg.server.rtmp_listen)
        .await
        .with_context(|| format!("binding RTMP listener on {}", cfg.server.rtmp_listen))?;
    info!(
        addr = %rtmp_listener.local_addr()?,
        takeover = cfg.hub.takeover,
        "rtmp listening"
    );
    let channel_for_http = channel.clone();
    // Video on demand: one library of files for `/vod/` and RTMP's `vod`
    // app.
    let vod = crate::vod::library(&cfg, &recorder)?;
    let mut rtmp_cfg = rtmp_config(&cfg, channel.clone());
    rtmp_cfg.vod = vod.clone().map(crate::vod::rtmp_files);
    let rtmp = weir_server_rtmp::RtmpServer::new(hub.clone(), rtmp_cfg, shutdown.clone());
    let rtmps_task = crate::tls::start_rtmps(&cfg, tls.as_ref(), &rtmp).await?;
    let rtmp_addr = rtmp_listener.local_addr()?;
    let rtmp_task = tokio::spawn(rtmp.clone().run(rtmp_listener, None));

    let http_listener = TcpListener::bind(cfg.server.http_listen)
        .await
        .with_context(|| format!("binding HTTP listener on {}", cfg.server.http_listen))?;
    info!(addr = %http_listener.local_addr()?, "http listening");
    let mut http_cfg = http_config(&cfg, channel_for_http);
    // The multivariant playlists list each stream's ladder renditions.
    let ladders = transcoder.clone();
    http_cfg.hls.renditions = Some(weir_server_http::Renditions(std::sync::Arc::new(
        move |key| ladders.rendition_keys(key),
    )));
    let hls_segments = http_cfg.hls.produced.clone();
    // The cluster: alone without `[cluster] redis`, but its endpoint API
    // answers either way.
    let cluster = crate::cluster::build(
        &cfg.cluster,
        &hub,
        rtmp_addr,
        http_listener.local_addr()?,
        &shutdown,
    )?;
    let routes = crate::api::routes(
        &cfg,
        hub.clone(),
        started,
        hls_segments,
        crate::api::Managed {
            pulls: pulls.clone(),
            pushes: pushes.clone(),
            recorder: recorder.clone(),
            transcoder: transcoder.clone(),
            cluster: cluster.clone(),
            chat_id_slot: weir_server_chat::IdSlot {
                slot: cluster.claim_slot(crate::chat::CHAT_ID_SLOTS).await,
                slots: if cluster.enabled() {
                    crate::chat::CHAT_ID_SLOTS
                } else {
                    1
                },
            },
        },
        shutdown.clone(),
    )?;
    let https = crate::tls::https_acceptor(tls.as_ref())?;
    let mut viewer = routes.viewer;
    if let Some(library) = vod {
        // Viewer-facing media: the media routes' CORS.
        viewer = viewer.merge(crate::vod::routes(&hub, library));
    }
    if cfg.rtmp.rtmpt {
        // RTMPT sessions are RTMP connections of the RTMP server, reached
        // through the HTTP listener.
        viewer = viewer.merge(rtmp.rtmpt_routes(https.is_some()));
    }
    let http = weir_server_http::HttpServer::new(hub.clone(), http_cfg, shutdown.clone(), viewer)
        .with_operator_routes(routes.operator);
    let http_task = tokio::spawn(http.run(http_listener, https));

    let rtsp_task = match cfg.rtsp.listen_addr()? {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding RTSP listener on {addr}"))?;
            let udp = match (cfg.rtsp.rtp_port, cfg.rtsp.rtcp_port) {
                (0, _) | (_, 0) => None,
                (rtp, rtcp) => {
                    let bind = |port| {
                        let at = std::net::SocketAddr::new(addr.ip(), port);
                        async move {
                            tokio::net::UdpSocket::bind(at)
                                .await
                                .with_context(|| format!("binding RTSP UDP port {at}"))
                        }
                    };
                    Some((bind(rtp).await?, bind(rtcp).await?))
                }
            };
            info!(
                addr = %listener.local_addr()?,
                rtp_port = cfg.rtsp.rtp_port,
                rtcp_port = cfg.rtsp.rtcp_port,
                "rtsp listening"
            );
            let multicast = match cfg.rtsp.multicast_range()? {
                Some((first, size)) => {
                    let socket = tokio::net::UdpSocket::bind((addr.ip(), 0))
                        .await
                        .context("binding the RTSP multicast sender")?;
                    socket.set_multicast_ttl_v4(u32::from(cfg.rtsp.multicast_ttl))?;
                    socket.set_multicast_loop_v4(true)?;
                    info!(range = %cfg.rtsp.multicast, port = cfg.rtsp.multicast_port, "rtsp multicast");
                    let config = weir_server_rtsp::MulticastConfig {
                        first,
                        size,
                        port: cfg.rtsp.multicast_port,
                        ttl: cfg.rtsp.multicast_ttl,
                    };
                    Some((config, socket))
                }
                None => None,
            };
            let rtsp = weir_server_rtsp::RtspServer::new(
                hub.clone(),
                rtsp_config(&cfg, channel.clone()),
                shutdown.clone(),
                udp,
                multicast,
            )?;
            let rtsps = crate::tls::start_rtsps(&cfg, tls.as_ref(), &rtsp).await?;
            Some((tokio::spawn(rtsp.run(listener, None)), rtsps))
        }
        None => None,
    };
    let (rtsp_task, rtsps_task) = match rtsp_task {
        Some((rtsp, rtsps)) => (Some(rtsp), rtsps),
        None => (None, None),
    };

    wait_for_signal().await;
    info!("shutting down");
    shutdown.cancel();
    let mut listeners = vec![("rtmp", rtmp_task), ("http", http_task)];
    listeners.extend(rtmps_task.map(|task| ("rtmps", task)));
    listeners.extend(rtsp_task.map(|task| ("rtsp", task)));
    listeners.extend(rtsps_task.map(|task| ("rtsps", task)));
    join_listeners(listeners).await;
    // Recorders finalize their files (FLV duration patches, syncs).
    if tokio::time::timeout(SHUTDOWN_GRACE, recorder.wait())
        .await
        .is_err()
    {
        warn!("recordings were not finalized in time");
    }
    // The pulls end with the shutdown token; their sessions are dropped
    // (TEARDOWN sent where retina does) within the same grace.
    if tokio::time::timeout(SHUTDOWN_GRACE, pulls.wait())
        .await
        .is_err()
    {
        warn!("camera pulls did not stop in time");
    }
    // The node leaves the cluster: its heartbeat and directory entries
    // go, so the others forget it now rather than after the TTL.
    if tokio::time::timeout(SHUTDOWN_GRACE, cluster.wait())
        .await
        .is_err()
    {
        warn!("the cluster was not left in time");
    }
    // Pushes end with the shutdown token (their connections are dropped).
    if tokio::time::timeout(SHUTDOWN_GRACE, pushes.wait())
        .await
        .is_err()
    {
        warn!("pushes did not stop in time");
    }
    info!("bye");
    Ok(())
}

/// How long the listeners get, together, to close their connections after
/// the shutdown signal: long enough for a goodbye (close frames, RTMP
/// status messages), short enough that a stuck peer cannot hold a restart.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Waits, after cancellation, for the named listener tasks to end, all
/// within one [`SHUTDOWN_GRACE`] (they wind down concurrently, so one
/// deadline bounds the whole shutdown). A listener that fails or overruns
/// is logged and left behind: the process is exiting anyway.
async fn join_listeners<E: std::fmt::Display>(
    tasks: Vec<(&'static str, JoinHandle<Result<(), E>>)>,
) {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    for (listener, task) in tasks {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(listener, error = %e, "listener ended with an error"),
            Ok(Err(e)) => warn!(listener, error = %e, "listener task failed"),
            Err(_) => warn!(
                listener,
                grace = ?SHUTDOWN_GRACE,
                "listener did not stop in time"
            ),
        }
    }
}

fn rtmp_config(cfg: &Config, channel: ChannelConfig) -> weir_server_rtmp::Config {
    let r = &cfg.rtmp;
    weir_server_rtmp::Config {
        chunk_size: r.chunk_size,
        play_wait: secs(r.play_wait_secs),
        handshake_timeout: secs(r.handshake_timeout_secs),
        idle_timeout: secs(r.idle_timeout_secs),
        player_write_timeout: secs(r.player_write_timeout_secs),
        max_message_len: r.max_message_len,
        max_chunk_streams: r.max_chunk_streams,
        max_connections: r.max_connections,
        max_connections_per_ip: r.max_connections_per_ip,
        channel,
        merge_write: std::time::Duration::from_millis(r.merge_write_ms),
        coalesce: coalesce(cfg),
        rtmpt: weir_server_rtmp::RtmptConfig {
            idle_timeout: secs(r.rtmpt_idle_timeout_secs),
            max_body_bytes: r.rtmpt_max_body_bytes,
            ..weir_server_rtmp::RtmptConfig::default()
        },
        rtmpe: r.rtmpe,
        vod: None,
    }
}

fn rtsp_config(cfg: &Config, channel: ChannelConfig) -> weir_server_rtsp::Config {
    let r = &cfg.rtsp;
    weir_server_rtsp::Config {
        session_timeout: secs(r.session_timeout_secs),
        play_wait: secs(r.play_wait_secs),
        player_write_timeout: secs(r.player_write_timeout_secs),
        max_connections: r.max_connections,
        max_connections_per_ip: r.max_connections_per_ip,
        channel,
        coalesce: coalesce(cfg),
    }
}

fn http_config(cfg: &Config, channel: ChannelConfig) -> weir_server_http::Config {
    let h = &cfg.http;
    weir_server_http::Config {
        allow_origin: if h.allow_origin.is_empty() {
            None
        } else {
            Some(h.allow_origin.clone())
        },
        api_allow_origin: (!h.api_allow_origin.is_empty()).then(|| h.api_allow_origin.clone()),
        play_wait: secs(h.play_wait_secs),
        max_lag: secs(h.max_lag_secs),
        channel,
        max_connections: h.max_connections,
        max_connections_per_ip: h.max_connections_per_ip,
        max_ws_message_bytes: h.max_ws_message_bytes,
        max_header_bytes: h.max_header_bytes,
        body_timeout: secs(h.body_timeout_secs),
        max_idle_per_ip: h.max_idle_per_ip,
        hls: weir_server_http::HlsSettings {
            fragment: secs(cfg.hls.fragment_secs),
            part: std::time::Duration::from_millis(u64::from(cfg.hls.part_ms)),
            window: secs(cfg.hls.window_secs),
            idle_timeout: secs(cfg.hls.idle_timeout_secs),
            always_on: cfg.hls.always_on,
            disk_dir: cfg
                .hls
                .write_to_disk
                .then(|| cfg.server.data_dir.join("hls")),
            produced: weir_server_http::HlsSegments::default(),
            // Set by `run` from the transcoder.
            renditions: None,
        },
        coalesce: coalesce(cfg),
    }
}

fn coalesce(cfg: &Config) -> weir_hub::Coalesce {
    weir_hub::Coalesce {
        max_hold: std::time::Duration::from_millis(cfg.hub.coalesce_audio_ms),
        min_viewers: cfg.hub.coalesce_min_viewers,
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
