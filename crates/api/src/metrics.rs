//! `GET /metrics`: Prometheus (OpenMetrics text) exposition.
//!
//! One [`Collector`] reads the hub, the client registry's totals and the
//! sampler at scrape time. Nothing is stored between scrapes, so per-stream
//! series exist exactly while their stream is live: a stream that ends
//! leaves no series behind and label sets cannot pile up. Server-wide
//! counters come from the registry's totals, which include clients that
//! left, so they only grow.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::sampler::Sampler;
use crate::views::Snapshot;
use crate::{procstat, ApiContext, State};

/// Label pairs of one series.
type Labels = Vec<(&'static str, String)>;

/// Reads everything at scrape time.
struct Stats {
    ctx: ApiContext,
    sampler: Arc<Sampler>,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats").finish_non_exhaustive()
    }
}

/// The registry `/metrics` encodes, with the weir collector in it.
pub(crate) fn registry(ctx: ApiContext, sampler: Arc<Sampler>) -> Registry {
    let mut registry = Registry::with_prefix("weir");
    registry.register_collector(Box::new(Stats { ctx, sampler }));
    registry
}

/// Writes one metric family: `series` as (labels, value) pairs.
fn family<V: Copy>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    series: &[(Labels, V)],
    encode: impl Fn(V, prometheus_client::encoding::MetricEncoder) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut metric = enc.encode_descriptor(name, help, unit, kind)?;
    for (labels, value) in series {
        if labels.is_empty() {
            // A series without labels is written bare (`name 1`), not as
            // `name{} 1`, which some parsers reject.
            return encode(*value, metric);
        }
        encode(*value, metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: &[(Labels, u64)],
) -> Result<(), std::fmt::Error> {
    family(
        enc,
        name,
        help,
        unit,
        MetricType::Counter,
        series,
        |v, e| ConstCounter::new(v).encode(e),
    )
}

fn gauges<V: Copy + prometheus_client::encoding::EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: &[(Labels, V)],
) -> Result<(), std::fmt::Error> {
    family(enc, name, help, unit, MetricType::Gauge, series, |v, e| {
        ConstGauge::new(v).encode(e)
    })
}

impl Collector for Stats {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let hub = &self.ctx.hub;
        let totals = hub.clients().totals();
        let by_protocol = |f: fn(&weir_hub::ProtocolTotals) -> u64| -> Vec<(Labels, u64)> {
            totals
                .iter()
                .map(|t| (vec![("protocol", t.protocol.to_owned())], f(t)))
                .collect()
        };
        let none: Labels = Vec::new();

        gauges(
            &mut enc,
            "build_info",
            "Version of the running weir.",
            None,
            &[(vec![("version", self.ctx.app.version())], 1u64)],
        )?;
        gauges(
            &mut enc,
            "uptime",
            "Time since the server started.",
            Some(&Unit::Seconds),
            &[(none.clone(), self.ctx.started.elapsed().as_secs())],
        )?;
        if let Some(p) = procstat::read_self() {
            let cpu = p.cpu_ticks as f64 / procstat::TICKS_PER_SEC as f64;
            family(
                &mut enc,
                "process_cpu",
                "User and system CPU time of the process.",
                Some(&Unit::Seconds),
                MetricType::Counter,
                &[(none.clone(), cpu)],
                |v, e| ConstCounter::new(v).encode(e),
            )?;
            gauges(
                &mut enc,
                "process_resident_memory",
                "Resident set size of the process.",
                Some(&Unit::Bytes),
                &[(none.clone(), p.rss_bytes)],
            )?;
        }
        gauges(
            &mut enc,
            "connections",
            "Clients connected now, by protocol.",
            None,
            &by_protocol(|t| t.connected),
        )?;
        counters(
            &mut enc,
            "connections_accepted",
            "Clients accepted since start, by protocol.",
            None,
            &by_protocol(|t| t.accepted),
        )?;
        let mut bytes: Vec<(Labels, u64)> = Vec::new();
        for t in &totals {
            for (direction, v) in [("in", t.bytes_in), ("out", t.bytes_out)] {
                let labels = vec![
                    ("protocol", t.protocol.to_owned()),
                    ("direction", direction.into()),
                ];
                bytes.push((labels, v));
            }
        }
        counters(
            &mut enc,
            "traffic",
            "Bytes received (in) and sent (out), by protocol.",
            Some(&Unit::Bytes),
            &bytes,
        )?;
        counters(
            &mut enc,
            "dropped_frames",
            "Frames or messages clients missed because they were too slow, by protocol.",
            None,
            &by_protocol(|t| t.dropped),
        )?;
        // RTP clients only (RTSP): the publishers' received packets and
        // the players' sent ones; losses as the receiving side saw them.
        let rtp = |f: fn(&weir_hub::ProtocolTotals) -> u64| -> Vec<(Labels, u64)> {
            totals
                .iter()
                .filter(|t| t.packets > 0)
                .map(|t| (vec![("protocol", t.protocol.to_owned())], f(t)))
                .collect()
        };
        counters(
            &mut enc,
            "rtp_packets",
            "RTP packets received from publishers and sent to players, by protocol.",
            None,
            &rtp(|t| t.packets),
        )?;
        counters(
            &mut enc,
            "rtp_packets_lost",
            "RTP packets lost on the way (publishers: by sequence numbers; players: by their receiver reports), by protocol.",
            None,
            &rtp(|t| t.packets_lost),
        )?;
        let errors: Vec<(Labels, u64)> = hub
            .clients()
            .errors()
            .into_iter()
            .map(|e| {
                let labels = vec![
                    ("protocol", e.protocol.to_owned()),
                    ("kind", e.kind.to_owned()),
                ];
                (labels, e.count)
            })
            .collect();
        counters(
            &mut enc,
            "connection_errors",
            "Failed connections (handshake, protocol, timeout...), by protocol and kind.",
            None,
            &errors,
        )?;
        if let Some(n) = self.ctx.app.hls_segments() {
            counters(
                &mut enc,
                "hls_segments",
                "HLS segments produced since start.",
                None,
                &[(none.clone(), n)],
            )?;
        }
        if let Some(chat) = self.ctx.app.chat() {
            encode_chat(&mut enc, &chat)?;
        }
        if let Some(pulls) = self.ctx.app.pulls() {
            encode_pulls(&mut enc, &pulls)?;
        }
        if let (Some(pushes), Some(stats)) = (self.ctx.app.pushes(), self.ctx.app.push_stats()) {
            encode_pushes(&mut enc, &pushes, &stats)?;
        }
        if let Some(cluster) = self.ctx.app.cluster_stats() {
            encode_cluster(&mut enc, &cluster)?;
        }
        if let Some(rec) = self.ctx.app.record_stats() {
            encode_record(&mut enc, &rec, &none)?;
        }
        self.encode_streams(&mut enc)
    }
}

/// `weir_record_*`: the recorder's counters.
fn encode_record(
    enc: &mut DescriptorEncoder,
    rec: &crate::RecordStatsView,
    none: &Labels,
) -> Result<(), std::fmt::Error> {
    gauges(
        enc,
        "record_active",
        "Streams being recorded now.",
        None,
        &[(none.clone(), rec.active)],
    )?;
    let all: [(&str, &str, u64); 4] = [
        (
            "record_files",
            "Recording files opened since start.",
            rec.files,
        ),
        (
            "record_bytes",
            "Bytes written to recordings since start.",
            rec.bytes,
        ),
        (
            "record_errors",
            "Recordings stopped by a write error (disk full, unwritable path).",
            rec.errors,
        ),
        (
            "record_expired",
            "Recordings deleted by retention.",
            rec.expired,
        ),
    ];
    for (name, help, value) in all {
        counters(enc, name, help, None, &[(none.clone(), value)])?;
    }
    Ok(())
}

/// `weir_pull_*`: each camera pull's state (1 for the current one) and
/// reconnects, produced at scrape time (a removed pull leaves no series).
fn encode_pulls(
    enc: &mut DescriptorEncoder,
    pulls: &[crate::PullView],
) -> Result<(), std::fmt::Error> {
    let labels = |p: &crate::PullView| -> Labels {
        vec![("app", p.app.clone()), ("stream", p.stream.clone())]
    };
    let states: Vec<(Labels, u64)> = pulls
        .iter()
        .flat_map(|p| {
            ["idle", "connecting", "running", "retrying"]
                .into_iter()
                .map(move |s| {
                    let mut l = labels(p);
                    l.push(("state", s.to_owned()));
                    (l, u64::from(p.state == s))
                })
        })
        .collect();
    gauges(
        enc,
        "pull_state",
        "Camera pulls by state: 1 for the state each is in.",
        None,
        &states,
    )?;
    let reconnects: Vec<(Labels, u64)> = pulls.iter().map(|p| (labels(p), p.reconnects)).collect();
    counters(
        enc,
        "pull_reconnects",
        "Connection attempts of each camera pull after a failed or ended session.",
        None,
        &reconnects,
    )
}

/// `weir_cluster_*`: the node's view of the cluster and its bus.
fn encode_cluster(
    enc: &mut DescriptorEncoder,
    c: &crate::ClusterStatsView,
) -> Result<(), std::fmt::Error> {
    let none: Labels = Vec::new();
    for (name, help, v) in [
        (
            "cluster_connected",
            "Whether Redis answered the last heartbeat (1) or not (0).",
            u64::from(c.connected),
        ),
        (
            "cluster_nodes",
            "Live nodes in the cluster, this one included.",
            c.nodes,
        ),
        (
            "cluster_streams",
            "Streams in the cluster's directory.",
            c.streams,
        ),
        (
            "cluster_edge_pulls",
            "Streams this node pulls from their origin node.",
            c.edge_pulls,
        ),
        (
            "cluster_corrupt_heartbeats",
            "Heartbeats in Redis ignored as malformed at the last read.",
            c.corrupt_heartbeats,
        ),
    ] {
        gauges(enc, name, help, None, &[(none.clone(), v)])?;
    }
    let bus: Vec<(Labels, u64)> = ["sent", "received", "dropped", "malformed"]
        .iter()
        .zip(c.bus)
        .map(|(what, n)| (vec![("what", (*what).to_owned())], n))
        .collect();
    counters(
        enc,
        "cluster_bus_messages",
        "Messages of the cluster bus (chat between nodes): sent, received, dropped, malformed.",
        None,
        &bus,
    )
}

/// `weir_push_*`: how many pushes run and push now, and the counters of
/// every push together (they survive the pushes, so they only grow).
fn encode_pushes(
    enc: &mut DescriptorEncoder,
    pushes: &[crate::PushView],
    stats: &crate::PushStatsView,
) -> Result<(), std::fmt::Error> {
    let none: Labels = Vec::new();
    let active = pushes.iter().filter(|p| p.state != "idle").count() as u64;
    let connected = pushes.iter().filter(|p| p.state == "pushing").count() as u64;
    gauges(
        enc,
        "push_active",
        "Pushes whose source is live (connecting, pushing or in backoff).",
        None,
        &[(none.clone(), active)],
    )?;
    gauges(
        enc,
        "push_connected",
        "Pushes whose destination accepted the publish and gets frames.",
        None,
        &[(none.clone(), connected)],
    )?;
    counters(
        enc,
        "push_reconnects",
        "Push connection attempts after a failed one.",
        None,
        &[(none.clone(), stats.reconnects)],
    )?;
    counters(
        enc,
        "push_bytes",
        "Media bytes pushed to destinations.",
        None,
        &[(none, stats.bytes)],
    )?;
    let errors: Vec<(Labels, u64)> = stats
        .errors
        .iter()
        .map(|(kind, n)| (vec![("kind", (*kind).to_owned())], *n))
        .collect();
    counters(
        enc,
        "push_errors",
        "Failed push connections, by kind (connect, tls, refused, timeout, io, protocol, closed).",
        None,
        &errors,
    )
}

/// `weir_chat_*`: the live chat's rooms, members and message counters.
fn encode_chat(enc: &mut DescriptorEncoder, c: &crate::ChatStats) -> Result<(), std::fmt::Error> {
    let none = || -> Labels { Vec::new() };
    gauges(
        enc,
        "chat_rooms",
        "Chat rooms with anyone in them.",
        None,
        &[(none(), c.rooms)],
    )?;
    gauges(
        enc,
        "chat_members",
        "Connections in chat rooms.",
        None,
        &[(none(), c.members)],
    )?;
    counters(
        enc,
        "chat_connections",
        "Chat connections accepted since start.",
        None,
        &[(none(), c.connections)],
    )?;
    counters(
        enc,
        "chat_messages",
        "Chat messages accepted from clients (in) and broadcast frames queued to members (out).",
        None,
        &[
            (vec![("direction", "in".into())], c.messages_in),
            (vec![("direction", "out".into())], c.messages_out),
        ],
    )?;
    counters(
        enc,
        "chat_relayed",
        "Chat messages relayed to the cluster's other nodes (out) and applied from them (in).",
        None,
        &[
            (vec![("direction", "in".into())], c.relayed_in),
            (vec![("direction", "out".into())], c.relayed_out),
        ],
    )?;
    counters(
        enc,
        "chat_relay_errors",
        "Chat messages from other nodes refused as malformed or out of limits.",
        None,
        &[(none(), c.relay_errors)],
    )?;
    counters(
        enc,
        "chat_rate_limited",
        "Chat frames refused by the per-connection rate limit.",
        None,
        &[(none(), c.rate_limited)],
    )?;
    counters(
        enc,
        "chat_refused",
        "Chat frames refused for other reasons (length, UTF-8, mute, token...).",
        None,
        &[(none(), c.refused)],
    )?;
    counters(
        enc,
        "chat_dropped",
        "Chat members closed because they could not keep up.",
        None,
        &[(none(), c.dropped)],
    )?;
    counters(
        enc,
        "chat_timeouts",
        "Chat connections closed by the heartbeat timeout.",
        None,
        &[(none(), c.timeouts)],
    )
}

impl Stats {
    /// Per-stream series, for live streams only.
    fn encode_streams(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = Snapshot {
            streams: self.ctx.hub.streams(),
            clients: self.ctx.hub.clients().list(),
        };
        let live: Vec<_> = snap.streams.iter().filter(|s| s.live).collect();
        gauges(
            enc,
            "streams",
            "Streams with a publisher.",
            None,
            &[(Vec::new(), live.len() as u64)],
        )?;
        let (mut viewers, mut bytes_in, mut bitrate, mut dropped) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for info in live {
            let key_labels = || -> Labels {
                vec![
                    ("app", info.key.app().to_owned()),
                    ("stream", info.key.stream().to_owned()),
                ]
            };
            let mut by_protocol: BTreeMap<&str, u64> = BTreeMap::new();
            let mut lost = 0;
            for c in snap.viewers_of(&info.key) {
                *by_protocol.entry(c.protocol).or_default() += 1;
                lost += c.dropped;
            }
            for (protocol, n) in by_protocol {
                let mut labels = key_labels();
                labels.push(("protocol", protocol.to_owned()));
                viewers.push((labels, n));
            }
            bytes_in.push((key_labels(), info.bytes_in));
            bitrate.push((key_labels(), self.sampler.stream(&info.key).bps));
            dropped.push((key_labels(), lost));
        }
        gauges(
            enc,
            "stream_viewers",
            "Players of a live stream, by protocol.",
            None,
            &viewers,
        )?;
        counters(
            enc,
            "stream_ingest",
            "Payload bytes received from the stream's current publisher.",
            Some(&Unit::Bytes),
            &bytes_in,
        )?;
        gauges(
            enc,
            "stream_ingest_bits_per_second",
            "Payload bits per second received over the last 10 s.",
            None,
            &bitrate,
        )?;
        gauges(
            enc,
            "stream_dropped_frames",
            "Frames the stream's current viewers missed.",
            None,
            &dropped,
        )
    }
}

/// `GET /metrics`
pub(crate) async fn metrics(AxState(state): AxState<Arc<State>>) -> Response {
    let mut text = String::with_capacity(8192);
    if prometheus_client::encoding::text::encode(&mut text, &state.registry).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n").into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiAuth, AppHooks, AuthConfig, ChatStats, Playback};
    use weir_hub::{Hub, HubConfig};
    use weir_media::StreamKey;

    struct Hooks(Option<u64>, Option<ChatStats>);

    impl AppHooks for Hooks {
        fn version(&self) -> String {
            "test".into()
        }
        fn playback(&self, _: &StreamKey) -> Vec<Playback> {
            Vec::new()
        }
        fn hls_segments(&self) -> Option<u64> {
            self.0
        }
        fn chat(&self) -> Option<ChatStats> {
            self.1
        }
    }

    fn scrape(hls: Option<u64>, hub: Hub) -> String {
        scrape_with(hls, None, hub)
    }

    fn scrape_with(hls: Option<u64>, chat: Option<ChatStats>, hub: Hub) -> String {
        let ctx = ApiContext {
            hub: hub.clone(),
            auth: ApiAuth::new(AuthConfig::default()),
            started: std::time::Instant::now(),
            app: Arc::new(Hooks(hls, chat)),
        };
        let registry = registry(ctx, Arc::new(Sampler::new(hub)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn hls_segments_and_errors_by_kind_are_exported() {
        let hub = Hub::new(HubConfig::default());
        hub.clients().count_error("rtmp", "handshake_timeout");
        let text = scrape(Some(7), hub.clone());
        assert!(text.contains("weir_hls_segments_total 7"), "{text}");
        assert!(
            text.contains(
                "weir_connection_errors_total{protocol=\"rtmp\",kind=\"handshake_timeout\"} 1"
            ),
            "{text}"
        );
        assert!(!scrape(None, hub).contains("hls_segments"));
    }

    #[test]
    fn chat_counters_are_exported_as_documented() {
        let hub = Hub::new(HubConfig::default());
        assert!(!scrape(None, hub.clone()).contains("weir_chat"));
        let stats = ChatStats {
            rooms: 2,
            members: 5,
            connections: 9,
            messages_in: 11,
            messages_out: 44,
            rate_limited: 3,
            refused: 4,
            dropped: 1,
            timeouts: 6,
            relayed_out: 7,
            relayed_in: 8,
            relay_errors: 2,
        };
        let text = scrape_with(None, Some(stats), hub);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("weir_chat"))
            .collect();
        assert_eq!(
            lines,
            [
                "weir_chat_rooms 2",
                "weir_chat_members 5",
                "weir_chat_connections_total 9",
                "weir_chat_messages_total{direction=\"in\"} 11",
                "weir_chat_messages_total{direction=\"out\"} 44",
                "weir_chat_relayed_total{direction=\"in\"} 8",
                "weir_chat_relayed_total{direction=\"out\"} 7",
                "weir_chat_relay_errors_total 2",
                "weir_chat_rate_limited_total 3",
                "weir_chat_refused_total 4",
                "weir_chat_dropped_total 1",
                "weir_chat_timeouts_total 6",
            ],
            "{text}"
        );
        assert!(text.contains("# TYPE weir_chat_messages counter"), "{text}");
        assert!(text.contains("# TYPE weir_chat_members gauge"), "{text}");
    }
}
