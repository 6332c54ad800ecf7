//! Player tasks: connect, run a [`Probe`], count bytes, and (for the
//! measuring subset) time first frames and per-frame latency of video and
//! audio.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_rtmp::url::RtmpUrl;

use crate::llhls::{LlMeasure, LlTarget};
use crate::marker::{Kind, Markers};
use crate::probe::{HttpFlvProbe, Probe, RtmpProbe, RtspProbe};

/// Where players connect and how they ask for the stream.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// `rtmp://host:port/app/stream`
    Rtmp(RtmpUrl),
    /// `rtmpt://host:port/app/stream`: RTMP tunnelled over HTTP POSTs
    /// (`weir_rtmp_client::rtmpt`) to an HTTP port (default 80).
    Rtmpt(RtmpUrl),
    /// `http://host:port/path.flv`
    HttpFlv {
        /// `host:port`, also the Host header.
        authority: String,
        /// Path and query.
        path: String,
    },
    /// `rtsp://host:port/app/stream`, played over TCP interleaved.
    Rtsp {
        /// `host:port` to connect to.
        authority: String,
        /// The whole URL, as DESCRIBE names it.
        url: String,
    },
    /// `http://host:port/app/stream/llhls.m3u8`: LL-HLS viewers
    /// ([`crate::llhls`]).
    Llhls(LlTarget),
}

impl Target {
    /// Parses an `rtmp://`, `rtmpt://`, `http://` or `rtsp://` play URL
    /// (an `http://` path ending in `/llhls.m3u8` is LL-HLS).
    pub(crate) fn parse(url: &str) -> anyhow::Result<Target> {
        if let Some(rest) = url.strip_prefix("rtmpt://") {
            // The RTMP URL rules, with HTTP's default port.
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            let with_port = if authority.contains(':') {
                url.replacen("rtmpt://", "rtmp://", 1)
            } else {
                url.replacen(authority, &format!("{authority}:80"), 1)
                    .replacen("rtmpt://", "rtmp://", 1)
            };
            let mut parsed = RtmpUrl::parse(&with_port)
                .map_err(|e| anyhow::anyhow!("bad play URL {url}: {e}"))?;
            parsed.tc_url = parsed.tc_url.replacen("rtmp://", "rtmpt://", 1);
            return Ok(Target::Rtmpt(parsed));
        }
        if let Some(rest) = url.strip_prefix("rtsp://") {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            anyhow::ensure!(!authority.is_empty(), "bad play URL {url}: no host");
            let authority = if authority.contains(':') {
                authority.to_owned()
            } else {
                format!("{authority}:554")
            };
            return Ok(Target::Rtsp {
                authority,
                url: url.to_owned(),
            });
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let authority = if authority.contains(':') {
                authority.to_owned()
            } else {
                format!("{authority}:80")
            };
            if LlTarget::matches(path) {
                return Ok(Target::Llhls(LlTarget::new(authority, path)));
            }
            return Ok(Target::HttpFlv {
                authority,
                path: path.to_owned(),
            });
        }
        let parsed = RtmpUrl::parse(url).map_err(|e| anyhow::anyhow!("bad play URL {url}: {e}"))?;
        anyhow::ensure!(!parsed.tls, "rtmps:// is not supported");
        Ok(Target::Rtmp(parsed))
    }

    /// Short protocol name for reports.
    pub(crate) fn protocol(&self) -> &'static str {
        match self {
            Target::Rtmp(_) => "rtmp",
            Target::Rtmpt(_) => "rtmpt",
            Target::HttpFlv { .. } => "http-flv",
            Target::Rtsp { .. } => "rtsp",
            Target::Llhls(_) => "llhls",
        }
    }

    fn addr(&self) -> String {
        match self {
            Target::Rtmp(u) | Target::Rtmpt(u) if u.host.contains(':') => {
                format!("[{}]:{}", u.host, u.port)
            }
            Target::Rtmp(u) | Target::Rtmpt(u) => format!("{}:{}", u.host, u.port),
            Target::HttpFlv { authority, .. } | Target::Rtsp { authority, .. } => authority.clone(),
            Target::Llhls(t) => t.authority.clone(),
        }
    }

    fn probe(&self, parse: bool) -> anyhow::Result<Probe> {
        Ok(match self {
            Target::Rtmp(url) | Target::Rtmpt(url) => {
                let mut random = [0u8; 1536];
                rand::thread_rng().fill_bytes(&mut random);
                Probe::Rtmp(Box::new(RtmpProbe::new(url, &random, parse)))
            }
            Target::HttpFlv { authority, path } => {
                Probe::HttpFlv(Box::new(HttpFlvProbe::new(authority, path, parse)))
            }
            Target::Rtsp { url, .. } => Probe::Rtsp(Box::new(RtspProbe::new(url, parse))),
            Target::Llhls(_) => anyhow::bail!("LL-HLS viewers have no probe"),
        })
    }
}

/// Player states, stored in [`Slot::state`].
pub(crate) mod state {
    // 0, the default, is connecting: handshaking or waiting for Play.Start.
    /// The server started playback.
    pub(crate) const PLAYING: u8 = 1;
    /// Connection refused, protocol error or closed by the server.
    pub(crate) const FAILED: u8 = 2;
}

/// One player's counters, read by the sampler without locks.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) bytes: AtomicU64,
    pub(crate) state: AtomicU8,
}

/// What measuring players share.
#[derive(Default)]
pub(crate) struct Measure {
    pub(crate) markers: Arc<Markers>,
    /// Latency is only recorded inside the measurement window.
    pub(crate) window_open: AtomicBool,
    /// Arrival minus send instant of video frames, microseconds.
    pub(crate) latency_us: Mutex<Vec<u64>>,
    /// The same for AAC frames, kept apart because a server may hold audio
    /// back (weir's write coalescing) while video goes out at once.
    pub(crate) latency_audio_us: Mutex<Vec<u64>>,
    /// Connect start to first coded video frame, microseconds.
    pub(crate) first_frame_us: Mutex<Vec<u64>>,
    /// Video frames whose key the publisher never recorded (content
    /// rewritten by the server, or a hash collision).
    pub(crate) unmatched: AtomicU64,
    /// The same for AAC frames.
    pub(crate) unmatched_audio: AtomicU64,
    /// Why players failed, with counts (LL-HLS viewers also note what
    /// they skipped or retried here).
    pub(crate) errors: Mutex<BTreeMap<String, u64>>,
    /// LL-HLS part timings and request counts.
    pub(crate) llhls: LlMeasure,
}

/// A player's byte stream: a TCP socket, or an RTMPT tunnel.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How long opening an RTMPT session may take.
const RTMPT_OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs one player until its connection ends; the outcome is in `slot`.
pub(crate) async fn run(target: Arc<Target>, parse: bool, slot: Arc<Slot>, measure: Arc<Measure>) {
    if let Target::Llhls(t) = &*target {
        return crate::llhls::run(t, parse, &slot, &measure).await;
    }
    if let Err(e) = play(&target, parse, &slot, &measure).await {
        slot.state.store(state::FAILED, Ordering::Relaxed);
        let mut text = e.to_string();
        text.truncate(120);
        *measure.errors.lock().entry(text).or_default() += 1;
    }
}

async fn play(target: &Target, parse: bool, slot: &Slot, measure: &Measure) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut socket: Box<dyn Stream> = match target {
        Target::Rtmpt(url) => Box::new(
            weir_rtmp_client::rtmpt::connect(&url.host, url.port, RTMPT_OPEN_TIMEOUT).await?,
        ),
        _ => {
            let socket = TcpStream::connect(target.addr()).await?;
            socket.set_nodelay(true)?;
            Box::new(socket)
        }
    };
    let mut probe = target.probe(parse)?;
    let mut reply = Vec::new();
    probe.start(&mut reply);
    socket.write_all(&reply).await?;
    // Counting players read in small pieces: their memory, not their
    // syscalls, is what thousands of them multiply.
    let mut buf = vec![0u8; if parse { 64 * 1024 } else { 16 * 1024 }];
    let mut seen = Vec::new();
    let mut playing_since: Option<Instant> = None;
    let mut first_frame = false;
    loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            anyhow::bail!("server closed the connection");
        }
        let now = Instant::now();
        slot.bytes.fetch_add(n as u64, Ordering::Relaxed);
        reply.clear();
        probe.feed(&buf[..n], &mut reply, &mut seen)?;
        if !reply.is_empty() {
            socket.write_all(&reply).await?;
        }
        if playing_since.is_none() && probe.playing() {
            playing_since = Some(now);
            slot.state.store(state::PLAYING, Ordering::Relaxed);
        }
        if seen.is_empty() {
            continue;
        }
        if !first_frame && seen.iter().any(|&(kind, _)| kind == Kind::Video) {
            first_frame = true;
            measure
                .first_frame_us
                .lock()
                .push((now - started).as_micros() as u64);
        }
        let window = measure.window_open.load(Ordering::Relaxed);
        for (kind, key) in seen.drain(..) {
            let (latency, unmatched) = match kind {
                Kind::Video => (&measure.latency_us, &measure.unmatched),
                Kind::Audio => (&measure.latency_audio_us, &measure.unmatched_audio),
            };
            match measure.markers.lookup(key) {
                // Frames sent before playback started were replayed from a
                // GOP cache: they say how fast a player starts, not how
                // long a live frame takes.
                Some(sent) if window && playing_since.is_some_and(|p| sent >= p) => {
                    latency
                        .lock()
                        .push(now.saturating_duration_since(sent).as_micros() as u64);
                }
                Some(_) => {}
                None => {
                    unmatched.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_urls() {
        match Target::parse("http://127.0.0.1:8080/live/b.flv").unwrap() {
            Target::HttpFlv { authority, path } => {
                assert_eq!(authority, "127.0.0.1:8080");
                assert_eq!(path, "/live/b.flv");
            }
            t => panic!("{t:?}"),
        }
        let t = Target::parse("rtmp://127.0.0.1:1936/live/b").unwrap();
        assert_eq!(t.protocol(), "rtmp");
        assert_eq!(t.addr(), "127.0.0.1:1936");
        let t = Target::parse("rtsp://127.0.0.1:8554/live/b?key=k").unwrap();
        assert_eq!(t.protocol(), "rtsp");
        assert_eq!(t.addr(), "127.0.0.1:8554");
        assert_eq!(
            Target::parse("rtsp://cam/live/b").unwrap().addr(),
            "cam:554"
        );
        assert!(Target::parse("rtsp:///live/b").is_err());
        let t = Target::parse("rtmpt://127.0.0.1:8080/live/b").unwrap();
        assert_eq!(t.protocol(), "rtmpt");
        assert_eq!(t.addr(), "127.0.0.1:8080");
        match Target::parse("rtmpt://example.com/live/b").unwrap() {
            Target::Rtmpt(u) => {
                assert_eq!(u.port, 80);
                assert_eq!(u.tc_url, "rtmpt://example.com:80/live");
                assert_eq!(u.stream, "b");
            }
            t => panic!("{t:?}"),
        }
        assert!(Target::parse("ftp://x/y").is_err());
        match Target::parse("http://127.0.0.1:8080/live/b/llhls.m3u8").unwrap() {
            Target::Llhls(t) => {
                assert_eq!(t.authority, "127.0.0.1:8080");
                assert_eq!(t.playlist, "/live/b/llhls.m3u8");
            }
            t => panic!("{t:?}"),
        }
        assert_eq!(
            Target::parse("http://h/live/b/llhls.m3u8?k=1")
                .unwrap()
                .protocol(),
            "llhls"
        );
    }
}
