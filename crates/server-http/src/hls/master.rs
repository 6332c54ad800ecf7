//! Multivariant playlists: `/{app}/{stream}/master.m3u8` lists the
//! stream's TS playlist and those of its renditions (`{stream}_{name}`,
//! made by a transcoding ladder), `llhls-master.m3u8` their LL-HLS
//! playlists; a player (hls.js ABR, Safari) picks by bandwidth.
//!
//! Every number comes from what the hub measured of each stream since its
//! publish: the average bit rate of its media (plus the container's
//! overhead), its picture size, codecs and frame rate. Renditions that are
//! not live yet are left out; the playlist is not cached, so a player's
//! next load sees them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use weir_hls::master::{render, Variant};
use weir_hub::StreamInfo;
use weir_media::StreamKey;

use crate::Shared;

/// The TS variant's file name under `/{app}/{stream}/`.
pub(crate) const MASTER: &str = "master.m3u8";
/// The LL-HLS variant's.
pub(crate) const LL_MASTER: &str = "llhls-master.m3u8";

/// What [`Renditions`] holds: the rendition streams of a source stream.
pub type RenditionsOf = dyn Fn(&StreamKey) -> Vec<StreamKey> + Send + Sync;

/// The renditions of a stream: the app knows them (its transcoding
/// ladders), this crate only lists them.
#[derive(Clone)]
pub struct Renditions(pub Arc<RenditionsOf>);

impl std::fmt::Debug for Renditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Renditions")
    }
}

/// The other variants of `key`'s ladder: its renditions when `key` is a
/// source, or its source and sibling renditions when it is a rendition
/// (`cam_low` of `cam`); empty for a stream without a ladder.
pub(super) fn group_of(shared: &Shared, key: &StreamKey) -> Vec<StreamKey> {
    let Some(r) = &shared.config.hls.renditions else {
        return Vec::new();
    };
    let own = (r.0)(key);
    if !own.is_empty() {
        return own;
    }
    let stream = key.stream();
    for (at, _) in stream.match_indices('_').rev() {
        let Ok(source) = StreamKey::new(key.app(), &stream[..at]) else {
            continue;
        };
        let renditions = (r.0)(&source);
        if renditions.contains(key) {
            return std::iter::once(source)
                .chain(renditions.into_iter().filter(|k| k != key))
                .collect();
        }
    }
    Vec::new()
}

/// Bytes a container adds to the media: TS packetization (4 bytes of every
/// 188, PES headers, PAT/PMT) and fMP4 boxes.
const TS_OVERHEAD: f64 = 1.12;
const FMP4_OVERHEAD: f64 = 1.04;
/// `BANDWIDTH` is the peak a player must be able to sustain: a live
/// encoder's rate varies by GOP around its average, so the peak is taken
/// as half again the average.
const PEAK_OVER_AVERAGE: f64 = 1.5;

/// Answers a multivariant playlist of `key` (`low_latency`: the LL-HLS
/// one), after the same access check as the media playlists (the viewer
/// is then listed, so its media playlist requests pass at once).
pub(crate) async fn answer(
    shared: &Shared,
    key: &StreamKey,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    low_latency: bool,
) -> Response {
    let protocol = if low_latency { "llhls" } else { "hls" };
    if let Err(refused) = shared
        .hls
        .inner
        .viewers
        .admit(key, peer, headers, query, protocol)
        .await
    {
        return refused;
    }
    let Some(source) = shared.hub.stream(key).filter(|s| s.live) else {
        return (StatusCode::NOT_FOUND, format!("{key} is not live\n")).into_response();
    };
    let renditions = shared
        .config
        .hls
        .renditions
        .as_ref()
        .map(|r| (r.0)(key))
        .unwrap_or_default();
    let suffix = query_suffix(query);
    let mut variants: Vec<Variant> = Vec::new();
    for (info, is_source) in std::iter::once((source, true)).chain(
        renditions
            .iter()
            .filter_map(|k| shared.hub.stream(k).filter(|s| s.live))
            .map(|s| (s, false)),
    ) {
        let stream = info.key.stream();
        let uri = match (low_latency, is_source) {
            (false, _) => format!("../{stream}.m3u8{suffix}"),
            (true, true) => format!("llhls.m3u8{suffix}"),
            (true, false) => format!("../{stream}/llhls.m3u8{suffix}"),
        };
        let overhead = if low_latency {
            FMP4_OVERHEAD
        } else {
            TS_OVERHEAD
        };
        variants.push(variant(&info, uri, overhead));
    }
    let mut resp = render(&variants, true).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    // Renditions come and go with their ladder.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The request's query (a key, a signature) for the variant URIs, so that
/// a player with a key plays every rendition; never able to end the line.
fn query_suffix(query: Option<&str>) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => {
            let clean: String = q
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '"' | '#'))
                .collect();
            format!("?{clean}")
        }
        None => String::new(),
    }
}

/// One stream's entry, from what the hub measured of it.
fn variant(info: &StreamInfo, uri: String, overhead: f64) -> Variant {
    let secs = info
        .started_at
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let (average, frame_rate) = if secs >= 1.0 {
        (
            Some((info.bytes_in as f64 * 8.0 / secs * overhead) as u64),
            Some(info.video_frames as f64 / secs),
        )
    } else {
        (None, None)
    };
    let codecs = [
        info.video.as_ref().map(|v| v.codec_string.clone()),
        info.audio.as_ref().map(|a| a.codec_string.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let resolution = info.video.as_ref().map(|v| (v.width, v.height));
    Variant {
        uri,
        bandwidth: average.map_or(1, |a| (a as f64 * PEAK_OVER_AVERAGE) as u64),
        average_bandwidth: average,
        resolution,
        codecs,
        frame_rate: frame_rate.filter(|f| *f > 0.0),
        name: resolution
            .filter(|(_, h)| *h > 0)
            .map(|(_, h)| format!("{h}p"))
            .or_else(|| Some(info.key.stream().to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_travels_but_cannot_break_the_playlist() {
        assert_eq!(query_suffix(None), "");
        assert_eq!(query_suffix(Some("")), "");
        assert_eq!(query_suffix(Some("key=k1")), "?key=k1");
        assert_eq!(query_suffix(Some("k=a\nb\"#c")), "?k=abc");
    }
}
