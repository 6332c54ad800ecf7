//! The cluster's HTTP routes: `GET /api/v1/cluster` (operators) and `GET
//! /api/v1/play/endpoint` (players, embedded in other sites: the app
//! merges it with the media routes' CORS).

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use weir_api_error::ApiError;
use weir_media::StreamKey;

use crate::config::valid_host;
use crate::node::NodeInfo;
use crate::{redact, Cluster};

/// The formats the play endpoint names, and the URL of each.
const FORMATS: [&str; 6] = ["flv", "ws_flv", "hls", "llhls", "mp4", "rtmp"];

impl Cluster {
    /// `GET /api/v1/play/endpoint`: for players, merged by the app with
    /// the media routes (and their CORS).
    pub fn viewer_routes(&self) -> Router {
        Router::new()
            .route("/api/v1/play/endpoint", get(play_endpoint))
            .with_state(self.clone())
    }

    /// `GET /api/v1/cluster`: for operators.
    pub fn operator_routes(&self) -> Router {
        Router::new()
            .route("/api/v1/cluster", get(cluster))
            .with_state(self.clone())
    }
}

/// `GET /api/v1/cluster`: the nodes, their load and streams, this node's
/// pulls and its link to Redis.
async fn cluster(State(c): State<Cluster>) -> Response {
    let view = c.shared.view.read().clone();
    let now = crate::unix_ms();
    let nodes: Vec<_> = c
        .nodes()
        .iter()
        .map(|n| {
            json!({
                "node": n.node,
                "self": n.node == c.shared.node_id,
                "rtmp": n.rtmp,
                "http": n.http,
                "connections": n.connections,
                "viewers": n.viewers,
                "chat_members": n.chat_members,
                "egress_mbps": (n.egress_mbps * 1000.0).round() / 1000.0,
                "cpu": (n.cpu * 1000.0).round() / 1000.0,
                "started_ms": n.started_ms,
                "beat_age_ms": now.saturating_sub(n.beat_ms),
                "streams": n.streams.iter().map(|s| &s.stream).collect::<Vec<_>>(),
                "rooms": n.rooms.len(),
            })
        })
        .collect();
    let mut streams: Vec<_> = view
        .owners
        .iter()
        .map(|(k, o)| (k.to_string(), o.node.clone(), o.since_ms))
        .collect();
    streams.sort();
    let stats = c.bus_stats();
    let counter = |f: fn(&crate::BusStats) -> u64| stats.as_deref().map_or(0, f);
    Json(json!({
        "enabled": c.enabled(),
        "node_id": c.shared.node_id,
        "redis": c.enabled().then(|| redact(&c.shared.cfg.redis)),
        "connected": c.connected(),
        "last_error": view.last_error,
        "corrupt_heartbeats": view.bad_beats,
        "heartbeat_secs": c.shared.cfg.heartbeat_secs,
        "ttl_secs": c.shared.cfg.ttl_secs,
        "nodes": nodes,
        "streams": streams
            .iter()
            .map(|(s, n, t)| json!({"stream": s, "node": n, "since_ms": t}))
            .collect::<Vec<_>>(),
        "pulls": view
            .pulls
            .iter()
            .map(|(k, url)| json!({"stream": k.to_string(), "url": url}))
            .collect::<Vec<_>>(),
        "bus": {
            "sent": counter(|s| s.sent.load(std::sync::atomic::Ordering::Relaxed)),
            "received": counter(|s| s.received.load(std::sync::atomic::Ordering::Relaxed)),
            "dropped": counter(|s| s.dropped.load(std::sync::atomic::Ordering::Relaxed)),
            "malformed": counter(|s| s.malformed.load(std::sync::atomic::Ordering::Relaxed)),
        },
    }))
    .into_response()
}

/// The query of the play endpoint, parsed by hand: parameters other than
/// its own are passed on to the media URLs (a play key, a signature).
struct PlayQuery {
    app: String,
    stream: String,
    format: String,
    redirect: bool,
    /// The other parameters, as sent (already percent-encoded).
    rest: Vec<String>,
}

fn parse_query(raw: &str) -> Result<PlayQuery, ApiError> {
    let mut q = PlayQuery {
        app: String::new(),
        stream: String::new(),
        format: "flv".into(),
        redirect: false,
        rest: Vec::new(),
    };
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || {
            percent_decode(value)
                .ok_or_else(|| ApiError::bad_request(format!("{name}: bad percent-encoding")))
        };
        match name {
            "app" => q.app = decoded()?,
            "stream" => q.stream = decoded()?,
            "format" => q.format = decoded()?,
            "redirect" => q.redirect = matches!(value, "1" | "true" | "yes"),
            _ => {
                if !pair.bytes().all(|b| {
                    b.is_ascii_graphic() && !matches!(b, b'#' | b'\\' | b'"' | b'<' | b'>')
                }) {
                    return Err(ApiError::bad_request(
                        "the query holds characters a URL cannot carry",
                    ));
                }
                q.rest.push(pair.to_owned());
            }
        }
    }
    if !FORMATS.contains(&q.format.as_str()) {
        return Err(ApiError::bad_request(format!(
            "format {:?} is not one of {}",
            q.format,
            FORMATS.join(", ")
        )));
    }
    Ok(q)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Every URL of `key` on a node reached at `rtmp` and `http`.
fn urls(rtmp: &str, http: &str, key: &StreamKey, query: &str) -> BTreeMap<&'static str, String> {
    let (app, stream) = (key.app(), key.stream());
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    BTreeMap::from([
        ("rtmp", format!("rtmp://{rtmp}/{app}/{stream}{q}")),
        ("flv", format!("http://{http}/{app}/{stream}.flv{q}")),
        ("ws_flv", format!("ws://{http}/{app}/{stream}.flv{q}")),
        ("hls", format!("http://{http}/{app}/{stream}.m3u8{q}")),
        (
            "llhls",
            format!("http://{http}/{app}/{stream}/llhls.m3u8{q}"),
        ),
        ("mp4", format!("http://{http}/{app}/{stream}.mp4{q}")),
    ])
}

/// Picks the node a new viewer of `key` should use: the fewest
/// connections, then the stream's origin (no pull needed), then the id.
fn least_loaded<'a>(nodes: &'a [NodeInfo], origin: &str) -> Option<&'a NodeInfo> {
    nodes
        .iter()
        .min_by_key(|n| (n.connections, n.node != origin, n.node.clone()))
}

/// `GET /api/v1/play/endpoint?app=&stream=[&format=flv|ws_flv|hls|llhls|mp4|rtmp][&redirect=1]`:
/// where a player should play a stream: the least-loaded live node. 404
/// when no node publishes it. With `redirect=1`, a 302 to that URL.
async fn play_endpoint(
    State(c): State<Cluster>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = parse_query(raw.as_deref().unwrap_or(""))?;
    let key =
        StreamKey::new(&q.app, &q.stream).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let origin = c.owner(&key).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("stream {key} is not live on any node"),
        )
    })?;
    let nodes = c.nodes();
    let chosen = least_loaded(&nodes, &origin)
        .cloned()
        .unwrap_or_else(|| c.local_info());
    // Alone, this node is reached by the name the client used.
    let (rtmp, http) = if !c.enabled() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| valid_host(h))
            .ok_or_else(|| ApiError::bad_request("the request has no usable Host header"))?;
        let name = match host.rfind(':') {
            Some(i) if !host[i..].contains(']') => &host[..i],
            _ => host,
        };
        let rtmp_port = chosen.rtmp.rsplit_once(':').map_or("1935", |(_, p)| p);
        (format!("{name}:{rtmp_port}"), host.to_owned())
    } else {
        (chosen.rtmp.clone(), chosen.http.clone())
    };
    let urls = urls(&rtmp, &http, &key, &q.rest.join("&"));
    let url = urls.get(q.format.as_str()).cloned().unwrap_or_default();
    let no_store = [(header::CACHE_CONTROL, "no-store"), (header::VARY, "host")];
    if q.redirect {
        return Ok((StatusCode::FOUND, no_store, [(header::LOCATION, url)]).into_response());
    }
    Ok((
        no_store,
        Json(json!({
            "stream": key.to_string(),
            "node": chosen.node,
            "origin": origin,
            "format": q.format,
            "url": url,
            "urls": urls,
            "connections": chosen.connections,
        })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q =
            parse_query("app=live&stream=a%20b&format=hls&redirect=1&key=s3cr%2Bt&sig=x").unwrap();
        assert_eq!(
            (q.app.as_str(), q.stream.as_str(), q.format.as_str()),
            ("live", "a b", "hls")
        );
        assert!(q.redirect);
        assert_eq!(q.rest, vec!["key=s3cr%2Bt", "sig=x"]);
        assert!(parse_query("app=live&stream=x&format=ogg").is_err());
        assert!(parse_query("app=%zz").is_err());
        assert!(parse_query("app=live&stream=x&k=<script>").is_err());
        assert_eq!(parse_query("").unwrap().format, "flv");
    }

    #[test]
    fn urls_carry_the_query() {
        let key = StreamKey::new("live", "x").unwrap();
        let u = urls("h:1935", "h:8080", &key, "key=k");
        assert_eq!(u["flv"], "http://h:8080/live/x.flv?key=k");
        assert_eq!(u["rtmp"], "rtmp://h:1935/live/x?key=k");
        assert_eq!(u["llhls"], "http://h:8080/live/x/llhls.m3u8?key=k");
        assert_eq!(
            urls("h:1", "h:2", &key, "")["hls"],
            "http://h:2/live/x.m3u8"
        );
    }

    #[test]
    fn the_least_loaded_node_wins_then_the_origin() {
        let node = |id: &str, connections| NodeInfo {
            connections,
            ..crate::node::tests::beat(id)
        };
        let nodes = [node("a", 5), node("b", 2), node("c", 2)];
        assert_eq!(least_loaded(&nodes, "a").unwrap().node, "b");
        assert_eq!(least_loaded(&nodes, "c").unwrap().node, "c");
        assert!(least_loaded(&[], "a").is_none());
    }
}
