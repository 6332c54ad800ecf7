//! What the JSON API shows: serializable views built from one snapshot of
//! the hub (streams and clients) and the sampler's rates. `/stat` and
//! `/metrics` read the same snapshot.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use weir_hub::{ClientSnapshot, Role, StreamInfo};
use weir_media::{Codec, StreamKey};

use crate::{procstat, Output, Playback, State};

/// The hub as it is now.
pub(crate) struct Snapshot {
    /// Every stream, sorted by key (live or waited for).
    pub(crate) streams: Vec<StreamInfo>,
    /// Every client, sorted by id.
    pub(crate) clients: Vec<ClientSnapshot>,
}

impl Snapshot {
    pub(crate) fn take(state: &State) -> Snapshot {
        Snapshot {
            streams: state.ctx.hub.streams(),
            clients: state.ctx.hub.clients().list(),
        }
    }

    /// Clients publishing or playing `key`.
    pub(crate) fn clients_of<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> impl Iterator<Item = &'a ClientSnapshot> + 'a {
        self.clients
            .iter()
            .filter(move |c| c.stream.as_ref() == Some(key))
    }

    /// Players of `key`.
    pub(crate) fn viewers_of<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> impl Iterator<Item = &'a ClientSnapshot> + 'a {
        self.clients_of(key).filter(|c| c.role == Some(Role::Play))
    }
}

/// Seconds since the Unix epoch (0 for times before it).
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Milliseconds from `t` to now (0 if `t` is in the future).
pub(crate) fn age_ms(t: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `GET /api/v1/summary`
#[derive(Serialize)]
pub(crate) struct Summary {
    version: String,
    uptime_secs: u64,
    /// Process CPU over the last 10 s, percent of one core.
    cpu_percent: f64,
    /// Process CPU time since start.
    cpu_seconds: Option<f64>,
    rss_bytes: Option<u64>,
    /// Connected clients by protocol.
    connections: BTreeMap<&'static str, u64>,
    connections_total: u64,
    /// Bit/s over the last 10 s, all protocols.
    bandwidth_in_bps: u64,
    bandwidth_out_bps: u64,
    streams_live: usize,
    /// Streams with players waiting for a publisher.
    streams_waiting: usize,
    /// Keys of the live streams.
    streams: Vec<String>,
}

pub(crate) fn summary(state: &State, snap: &Snapshot) -> Summary {
    let proc = procstat::read_self();
    let mut connections = BTreeMap::new();
    for c in &snap.clients {
        *connections.entry(c.protocol).or_insert(0) += 1;
    }
    let bw = state.sampler.total();
    let live: Vec<String> = snap
        .streams
        .iter()
        .filter(|s| s.live)
        .map(|s| s.key.to_string())
        .collect();
    Summary {
        version: state.ctx.app.version(),
        uptime_secs: state.ctx.started.elapsed().as_secs(),
        cpu_percent: (state.sampler.cpu_percent() * 10.0).round() / 10.0,
        cpu_seconds: proc.map(|p| p.cpu_ticks as f64 / procstat::TICKS_PER_SEC as f64),
        rss_bytes: proc.map(|p| p.rss_bytes),
        connections_total: snap.clients.len() as u64,
        connections,
        bandwidth_in_bps: bw.in_bps,
        bandwidth_out_bps: bw.out_bps,
        streams_live: live.len(),
        streams_waiting: snap.streams.len() - live.len(),
        streams: live,
    }
}

/// One stream in `GET /api/v1/streams`.
#[derive(Serialize)]
pub(crate) struct StreamView {
    app: String,
    stream: String,
    /// `app/stream`.
    key: String,
    /// A publisher is attached.
    live: bool,
    publisher: Option<PublisherView>,
    video: Option<VideoView>,
    audio: Option<AudioView>,
    /// Payload bits per second received over the last 10 s.
    bitrate_in_bps: u64,
    video_bps: u64,
    audio_bps: u64,
    /// Bits per second sent to all viewers over the last 10 s.
    bitrate_out_bps: u64,
    bytes_in: u64,
    frames_in: u64,
    keyframe_interval_ms: Option<i64>,
    viewers: ViewersView,
    /// Frames the current viewers missed because they were too slow.
    dropped_frames: u64,
    /// Where a browser can play it.
    playback: Vec<Playback>,
    /// Every output format and whether it carries the stream's video and
    /// audio codecs (`null` where the stream has no such track).
    outputs: Vec<Output>,
    /// `[unix seconds, bit/s]` every 5 s, last 10 minutes (single-stream
    /// view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    bitrate_history: Option<Vec<(u64, u64)>>,
}

#[derive(Serialize)]
struct PublisherView {
    id: u64,
    protocol: Option<&'static str>,
    address: Option<String>,
    /// Unix seconds.
    since: Option<u64>,
}

#[derive(Serialize)]
struct VideoView {
    codec: &'static str,
    profile: Option<String>,
    level: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    /// Frames per second received over the last 10 s.
    fps: f64,
    /// RFC 6381 codec string.
    codec_string: Option<String>,
}

#[derive(Serialize)]
struct AudioView {
    codec: &'static str,
    profile: Option<&'static str>,
    sample_rate: Option<u32>,
    channels: Option<u8>,
    codec_string: Option<String>,
}

#[derive(Serialize)]
struct ViewersView {
    total: usize,
    by_protocol: BTreeMap<&'static str, usize>,
}

/// Profile name from `profile_idc`, as nginx-rtmp and encoders name them.
pub(crate) fn video_profile(codec: Codec, profile: u8) -> Option<&'static str> {
    match (codec, profile) {
        (Codec::H264, 66) => Some("Baseline"),
        (Codec::H264, 77) => Some("Main"),
        (Codec::H264, 88) => Some("Extended"),
        (Codec::H264, 100) => Some("High"),
        (Codec::H264, 110) => Some("High 10"),
        (Codec::H264, 122) => Some("High 4:2:2"),
        (Codec::H264, 244) => Some("High 4:4:4"),
        (Codec::H265, 1) => Some("Main"),
        (Codec::H265, 2) => Some("Main 10"),
        (Codec::H265, 3) => Some("Main Still Picture"),
        (Codec::H265, 4) => Some("Range Extensions"),
        (Codec::Av1, 0) => Some("Main"),
        (Codec::Av1, 1) => Some("High"),
        (Codec::Av1, 2) => Some("Professional"),
        (Codec::Vp9, 0) => Some("Profile 0"),
        (Codec::Vp9, 1) => Some("Profile 1"),
        (Codec::Vp9, 2) => Some("Profile 2"),
        (Codec::Vp9, 3) => Some("Profile 3"),
        _ => None,
    }
}

/// Level as a decimal string ("3.0", "3.1").
pub(crate) fn video_level(codec: Codec, level: u8) -> Option<String> {
    let tenths = match codec {
        Codec::H264 | Codec::Vp9 => u32::from(level),
        Codec::H265 => u32::from(level) / 3,
        // seq_level_idx: 2.0 + (idx >> 2) . (idx & 3); 31 means no limit.
        Codec::Av1 if level < 24 => 20 + u32::from(level >> 2) * 10 + u32::from(level & 3),
        _ => return None,
    };
    Some(format!("{}.{}", tenths / 10, tenths % 10))
}

/// AAC profile name by audio object type.
pub(crate) fn aac_profile(object_type: u8) -> Option<&'static str> {
    match object_type {
        1 => Some("Main"),
        2 => Some("LC"),
        3 => Some("SSR"),
        4 => Some("LTP"),
        5 => Some("HE"),
        29 => Some("HEv2"),
        _ => None,
    }
}

pub(crate) fn stream_view(state: &State, snap: &Snapshot, info: &StreamInfo) -> StreamView {
    let key = &info.key;
    let rates = state.sampler.stream(key);
    let publisher = info.publisher.map(|id| {
        let client = snap.clients.iter().find(|c| c.id == id);
        PublisherView {
            id,
            protocol: client.map(|c| c.protocol),
            address: client.map(|c| c.addr.to_string()),
            since: info.started_at.map(unix),
        }
    });
    let video = info.video_codec.map(|codec| VideoView {
        codec: codec.name(),
        profile: info
            .video
            .as_ref()
            .and_then(|v| video_profile(codec, v.profile))
            .map(str::to_owned),
        level: info
            .video
            .as_ref()
            .and_then(|v| video_level(codec, v.level)),
        width: info.video.as_ref().map(|v| v.width),
        height: info.video.as_ref().map(|v| v.height),
        fps: (rates.fps * 100.0).round() / 100.0,
        codec_string: info.video.as_ref().map(|v| v.codec_string.clone()),
    });
    let audio = info.audio_codec.map(|codec| {
        let (sample_rate, channels) = match (codec.audio_format(), &info.audio) {
            (Some((rate, channels)), _) => (Some(rate), Some(channels)),
            (None, Some(a)) => (Some(a.sample_rate), Some(a.channels)),
            (None, None) => (None, None),
        };
        AudioView {
            codec: codec.name(),
            profile: info.audio.as_ref().and_then(|a| aac_profile(a.object_type)),
            sample_rate,
            channels,
            codec_string: info.audio.as_ref().map(|a| a.codec_string.clone()),
        }
    });
    let mut by_protocol = BTreeMap::new();
    let (mut total, mut dropped, mut out_bps) = (0, 0, 0);
    for c in snap.viewers_of(key) {
        *by_protocol.entry(c.protocol).or_insert(0) += 1;
        total += 1;
        dropped += c.dropped;
        out_bps += state.sampler.client(c.id).out_bps;
    }
    StreamView {
        app: key.app().to_owned(),
        stream: key.stream().to_owned(),
        key: key.to_string(),
        live: info.live,
        publisher,
        video,
        audio,
        bitrate_in_bps: rates.bps,
        video_bps: rates.video_bps,
        audio_bps: rates.audio_bps,
        bitrate_out_bps: out_bps,
        bytes_in: info.bytes_in,
        frames_in: info.frames_in,
        keyframe_interval_ms: info.keyframe_interval_ms,
        viewers: ViewersView { total, by_protocol },
        dropped_frames: dropped,
        playback: if info.live {
            state.ctx.app.playback(key)
        } else {
            Vec::new()
        },
        outputs: state.ctx.app.outputs(info.video_codec, info.audio_codec),
        bitrate_history: None,
    }
}

/// The single-stream view: the list view plus its bit-rate history.
pub(crate) fn stream_detail(state: &State, snap: &Snapshot, info: &StreamInfo) -> StreamView {
    let mut view = stream_view(state, snap, info);
    view.bitrate_history = Some(state.sampler.history(&info.key));
    view
}

/// One client in `GET /api/v1/clients`.
#[derive(Serialize)]
pub(crate) struct ClientView {
    id: u64,
    address: String,
    protocol: &'static str,
    /// `"publish"`, `"play"`, or null before the client said.
    role: Option<&'static str>,
    app: Option<String>,
    stream: Option<String>,
    /// Unix seconds.
    connected_at: u64,
    connected_secs: u64,
    bytes_in: u64,
    bytes_out: u64,
    in_bps: u64,
    out_bps: u64,
    dropped_frames: u64,
    /// RTP clients (RTSP): packets received from a publisher or sent to a
    /// player, packets lost (a player's by its receiver reports) and
    /// interarrival jitter in milliseconds; absent for other protocols.
    #[serde(skip_serializing_if = "Option::is_none")]
    packets: Option<PacketsView>,
    /// RTSP: `"tcp"`, `"udp"` or `"multicast"`; absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'static str>,
}

/// Packet-level quality of an RTP client.
#[derive(Serialize)]
pub(crate) struct PacketsView {
    total: u64,
    lost: u64,
    jitter_ms: f64,
}

pub(crate) fn client_view(state: &State, c: &ClientSnapshot) -> ClientView {
    let bw = state.sampler.client(c.id);
    ClientView {
        id: c.id,
        address: c.addr.to_string(),
        protocol: c.protocol,
        role: c.role.map(|r| match r {
            Role::Publish => "publish",
            Role::Play => "play",
        }),
        app: c.stream.as_ref().map(|k| k.app().to_owned()),
        stream: c.stream.as_ref().map(|k| k.stream().to_owned()),
        connected_at: unix(c.connected_at),
        connected_secs: age_ms(c.connected_at) / 1000,
        bytes_in: c.bytes_in,
        bytes_out: c.bytes_out,
        in_bps: bw.in_bps,
        out_bps: bw.out_bps,
        dropped_frames: c.dropped,
        packets: c.packets.map(|p| PacketsView {
            total: p.packets,
            lost: p.lost,
            jitter_ms: p.jitter_us as f64 / 1000.0,
        }),
        transport: c.transport,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_profiles_and_levels() {
        assert_eq!(video_profile(Codec::H264, 100), Some("High"));
        assert_eq!(video_profile(Codec::H265, 2), Some("Main 10"));
        assert_eq!(video_profile(Codec::Opus, 2), None);
        assert_eq!(video_profile(Codec::Av1, 0), Some("Main"));
        assert_eq!(video_level(Codec::Av1, 8).as_deref(), Some("4.0"));
        assert_eq!(video_level(Codec::Av1, 13).as_deref(), Some("5.1"));
        assert_eq!(video_level(Codec::Av1, 31), None);
        assert_eq!(video_level(Codec::Vp9, 31).as_deref(), Some("3.1"));
        assert_eq!(video_level(Codec::H264, 30).as_deref(), Some("3.0"));
        assert_eq!(video_level(Codec::H264, 31).as_deref(), Some("3.1"));
        assert_eq!(video_level(Codec::H265, 93).as_deref(), Some("3.1"));
        assert_eq!(video_level(Codec::H265, 120).as_deref(), Some("4.0"));
        assert_eq!(aac_profile(2), Some("LC"));
    }
}
