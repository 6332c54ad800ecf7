//! `GET /stat`: the server in nginx-rtmp's statistics XML, element for
//! element, so that `stat.xsl` pages and dashboards written for
//! nginx-rtmp's `rtmp_stat` work unchanged.
//!
//! The structure is nginx-rtmp's (checked against a capture from Debian's
//! `libnginx-mod-rtmp` in `testdata/`): `rtmp` holds server-wide counters
//! and `server/application/live/stream/client`. Where weir differs from
//! nginx-rtmp the fields are mapped as follows:
//!
//! * `nginx_version` carries weir's version; `nginx_rtmp_version` the
//!   nginx-rtmp version whose format this copies.
//! * Applications are the `app` parts of the current streams (weir has no
//!   configured application list).
//! * Every client of a stream is listed whatever its protocol (HTTP-FLV,
//!   fMP4... viewers count too); `flashver` holds the protocol name for
//!   clients that have no Flash version.
//! * `bw_*` are bits per second over the last 10 s, like nginx-rtmp's.
//!   `avsync` is not measured and reads 0.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use weir_hub::{Role, StreamInfo};
use weir_media::{us_to_ms, Codec};

use crate::views::{self, age_ms, Snapshot};
use crate::State;

/// The nginx-rtmp release whose `/stat` format this reproduces.
const NGINX_RTMP_VERSION: &str = "1.1.4";

/// Escapes text for an XML element.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /stat`
pub(crate) async fn stat(AxState(state): AxState<Arc<State>>) -> Response {
    let snap = Snapshot::take(&state);
    let xml = render(&state, &snap);
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

/// Writes the whole document. `write!` into a `String` cannot fail.
pub(crate) fn render(state: &State, snap: &Snapshot) -> String {
    let totals = state.ctx.hub.clients().totals();
    let bw = state.sampler.total();
    let sum = |f: fn(&weir_hub::ProtocolTotals) -> u64| totals.iter().map(f).sum::<u64>();
    let version = esc(&state.ctx.app.version());
    let mut x = String::with_capacity(4096);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<rtmp>\n");
    let _ = writeln!(x, "<nginx_version>weir {version}</nginx_version>");
    let _ = writeln!(
        x,
        "<nginx_rtmp_version>{NGINX_RTMP_VERSION}</nginx_rtmp_version>"
    );
    let _ = writeln!(x, "<built>weir {version}</built>");
    let _ = writeln!(x, "<pid>{}</pid>", std::process::id());
    let _ = writeln!(
        x,
        "<uptime>{}</uptime>",
        state.ctx.started.elapsed().as_secs()
    );
    let _ = writeln!(x, "<naccepted>{}</naccepted>", sum(|t| t.accepted));
    let _ = writeln!(x, "<bw_in>{}</bw_in>", bw.in_bps);
    let _ = writeln!(x, "<bytes_in>{}</bytes_in>", sum(|t| t.bytes_in));
    let _ = writeln!(x, "<bw_out>{}</bw_out>", bw.out_bps);
    let _ = writeln!(x, "<bytes_out>{}</bytes_out>", sum(|t| t.bytes_out));
    x.push_str("<server>\n");
    // Streams are sorted by key, so each application's streams are adjacent.
    let mut i = 0;
    while i < snap.streams.len() {
        let app = snap.streams[i].key.app();
        let end = snap.streams[i..]
            .iter()
            .position(|s| s.key.app() != app)
            .map_or(snap.streams.len(), |n| i + n);
        let _ = writeln!(x, "<application>\n<name>{}</name>\n<live>", esc(app));
        let mut app_clients = 0;
        for info in &snap.streams[i..end] {
            app_clients += write_stream(&mut x, state, snap, info);
        }
        let _ = writeln!(
            x,
            "<nclients>{app_clients}</nclients>\n</live>\n</application>"
        );
        i = end;
    }
    x.push_str("</server>\n</rtmp>\n");
    x
}

/// Writes one `<stream>`; returns its client count.
fn write_stream(x: &mut String, state: &State, snap: &Snapshot, info: &StreamInfo) -> usize {
    let rates = state.sampler.stream(&info.key);
    let clients: Vec<_> = snap.clients_of(&info.key).collect();
    let (mut bytes_out, mut bw_out) = (0, 0);
    for c in clients.iter().filter(|c| c.role == Some(Role::Play)) {
        bytes_out += c.bytes_out;
        bw_out += state.sampler.client(c.id).out_bps;
    }
    let time = info.started_at.map_or(0, age_ms);
    let _ = writeln!(x, "<stream>\n<name>{}</name>", esc(info.key.stream()));
    let _ = write!(x, "<time>{time}</time>");
    let _ = writeln!(x, "<bw_in>{}</bw_in>", rates.bps);
    let _ = writeln!(x, "<bytes_in>{}</bytes_in>", info.bytes_in);
    let _ = writeln!(x, "<bw_out>{bw_out}</bw_out>");
    let _ = writeln!(x, "<bytes_out>{bytes_out}</bytes_out>");
    let _ = writeln!(x, "<bw_audio>{}</bw_audio>", rates.audio_bps);
    let _ = writeln!(x, "<bw_video>{}</bw_video>", rates.video_bps);
    // nginx-rtmp reports RTMP timestamps: milliseconds.
    let timestamp = info.last_dts_us.map_or(0, us_to_ms);
    for c in &clients {
        let publishing = info.publisher == Some(c.id);
        // nginx-rtmp's Flash version field names the protocol (and the
        // transport where there are several: `rtsp/udp`).
        let flashver = match c.transport {
            Some(t) => format!("{}/{t}", c.protocol),
            None => c.protocol.to_owned(),
        };
        let _ = write!(
            x,
            "<client><id>{}</id><address>{}</address><time>{}</time><flashver>{}</flashver>\
             <dropped>{}</dropped><avsync>0</avsync><timestamp>{timestamp}</timestamp>",
            c.id,
            esc(&c.addr.ip().to_string()),
            age_ms(c.connected_at),
            esc(&flashver),
            c.dropped,
        );
        if publishing {
            x.push_str("<publishing/>");
        }
        x.push_str("<active/></client>\n");
    }
    write_meta(x, info, rates.fps);
    let _ = writeln!(x, "<nclients>{}</nclients>", clients.len());
    if info.live {
        x.push_str("<publishing/>\n<active/>\n");
    }
    x.push_str("</stream>\n");
    clients.len()
}

/// nginx-rtmp's codec names.
fn meta_codec(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "H264",
        Codec::H265 => "HEVC",
        Codec::Av1 => "AV1",
        Codec::Vp9 => "VP9",
        Codec::Aac => "AAC",
        Codec::Mp3 { .. } => "MP3",
        Codec::Opus => "Opus",
        Codec::Ac3 => "AC3",
        Codec::Eac3 => "EAC3",
        Codec::Flac => "FLAC",
        Codec::Pcma { .. } => "G711A",
        Codec::Pcmu { .. } => "G711U",
        other => other.name(),
    }
}

fn write_meta(x: &mut String, info: &StreamInfo, fps: f64) {
    if info.video_codec.is_none() && info.audio_codec.is_none() {
        return;
    }
    x.push_str("<meta>");
    if let Some(codec) = info.video_codec {
        x.push_str("<video>");
        if let Some(v) = &info.video {
            let _ = write!(x, "<width>{}</width><height>{}</height>", v.width, v.height);
        }
        let _ = write!(x, "<frame_rate>{}</frame_rate>", fps.round() as u64);
        let _ = write!(x, "<codec>{}</codec>", meta_codec(codec));
        if let Some(v) = &info.video {
            let profile = views::video_profile(codec, v.profile).unwrap_or("");
            let level = views::video_level(codec, v.level).unwrap_or_default();
            let _ = write!(
                x,
                "<profile>{profile}</profile><compat>{}</compat><level>{level}</level>",
                v.compat
            );
        }
        x.push_str("</video>");
    }
    if let Some(codec) = info.audio_codec {
        let _ = write!(x, "<audio><codec>{}</codec>", meta_codec(codec));
        let (channels, rate) = match (codec.audio_format(), &info.audio) {
            (Some((rate, channels)), _) => (Some(channels), Some(rate)),
            (None, Some(a)) => {
                let profile = views::aac_profile(a.object_type).unwrap_or("");
                let _ = write!(x, "<profile>{profile}</profile>");
                (Some(a.channels), Some(a.sample_rate))
            }
            (None, None) => (None, None),
        };
        if let (Some(channels), Some(rate)) = (channels, rate) {
            let _ = write!(
                x,
                "<channels>{channels}</channels><sample_rate>{rate}</sample_rate>"
            );
        }
        x.push_str("</audio>");
    }
    x.push_str("</meta>\n");
}
