//! Typed RTSP headers: `Transport` (§12.39), `Session` (§12.37), `Range`
//! with NPT (§3.6, §12.29) and `RTP-Info` (§12.33).
//!
//! Own parsers rather than `rtsp-types`' typed headers: cameras and encoders
//! send quoted or upper-case `mode=`, single ports instead of pairs, and
//! unknown parameters, and we want one tolerant reader with bounded output
//! (a `Transport` header lists at most [`MAX_TRANSPORTS`] choices) whose
//! errors map to 400/461 in the adapter.

use std::fmt;

use crate::error::RtspError;

/// Most transport choices read from one `Transport` header; the rest are
/// ignored (clients offer two or three).
pub const MAX_TRANSPORTS: usize = 8;

/// The lower transport of an RTP/AVP profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowerTransport {
    /// `RTP/AVP` or `RTP/AVP/UDP`.
    Udp,
    /// `RTP/AVP/TCP`: interleaved on the RTSP connection.
    Tcp,
}

/// Which way media flows for this transport (`mode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportMode {
    /// The server sends (the default).
    Play,
    /// The client sends (ANNOUNCE/RECORD publishing).
    Record,
}

/// One transport specification of a `Transport` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// UDP or TCP.
    pub lower: LowerTransport,
    /// `multicast` rather than `unicast` (the default).
    pub multicast: bool,
    /// `interleaved=a-b`: RTP and RTCP channel numbers on TCP.
    pub interleaved: Option<(u8, u8)>,
    /// `client_port=a-b`.
    pub client_port: Option<(u16, u16)>,
    /// `server_port=a-b`.
    pub server_port: Option<(u16, u16)>,
    /// `port=a-b` (multicast).
    pub port: Option<(u16, u16)>,
    /// `destination=` address.
    pub destination: Option<String>,
    /// `source=` address.
    pub source: Option<String>,
    /// `ttl=` for multicast.
    pub ttl: Option<u8>,
    /// `mode=`; `None` means the default, PLAY.
    pub mode: Option<TransportMode>,
    /// `ssrc=` (hexadecimal on the wire).
    pub ssrc: Option<u32>,
}

impl Transport {
    /// A unicast transport with nothing else set.
    pub fn new(lower: LowerTransport) -> Self {
        Transport {
            lower,
            multicast: false,
            interleaved: None,
            client_port: None,
            server_port: None,
            port: None,
            destination: None,
            source: None,
            ttl: None,
            mode: None,
            ssrc: None,
        }
    }

    /// Parses every transport choice of a `Transport` header value, in the
    /// client's order of preference. Choices with a profile other than
    /// RTP/AVP (e.g. `RTP/SAVP`) are skipped; none left is an error (461).
    pub fn parse_list(value: &str) -> Result<Vec<Transport>, RtspError> {
        let mut out = Vec::new();
        for spec in value.split(',').take(MAX_TRANSPORTS) {
            if let Some(t) = Transport::parse_one(spec.trim())? {
                out.push(t);
            }
        }
        if out.is_empty() {
            return Err(transport_err("no RTP/AVP transport"));
        }
        Ok(out)
    }

    fn parse_one(spec: &str) -> Result<Option<Transport>, RtspError> {
        let mut params = spec.split(';').map(str::trim);
        let proto = params.next().unwrap_or_default().to_ascii_uppercase();
        let lower = match proto.as_str() {
            "RTP/AVP" | "RTP/AVP/UDP" => LowerTransport::Udp,
            "RTP/AVP/TCP" => LowerTransport::Tcp,
            _ => return Ok(None),
        };
        let mut t = Transport::new(lower);
        for p in params {
            let (key, val) = match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                None => (p, None),
            };
            match (key.to_ascii_lowercase().as_str(), val) {
                ("unicast", None) => t.multicast = false,
                ("multicast", None) => t.multicast = true,
                ("interleaved", Some(v)) => t.interleaved = Some(pair(v)?),
                ("client_port", Some(v)) => t.client_port = Some(pair(v)?),
                ("server_port", Some(v)) => t.server_port = Some(pair(v)?),
                ("port", Some(v)) => t.port = Some(pair(v)?),
                ("destination", Some(v)) => t.destination = Some(v.to_owned()),
                ("source", Some(v)) => t.source = Some(v.to_owned()),
                ("ttl", Some(v)) => t.ttl = Some(v.parse().map_err(|_| transport_err("bad ttl"))?),
                ("mode", Some(v)) => {
                    t.mode = Some(
                        if v.eq_ignore_ascii_case("record") || v.eq_ignore_ascii_case("receive") {
                            TransportMode::Record
                        } else if v.eq_ignore_ascii_case("play") {
                            TransportMode::Play
                        } else {
                            return Err(transport_err("unknown mode"));
                        },
                    )
                }
                ("ssrc", Some(v)) => {
                    t.ssrc =
                        Some(u32::from_str_radix(v, 16).map_err(|_| transport_err("bad ssrc"))?)
                }
                // Unknown parameters are ignored, as §12.39 allows.
                _ => {}
            }
        }
        Ok(Some(t))
    }
}

fn transport_err(reason: &'static str) -> RtspError {
    RtspError::Header {
        header: "Transport",
        reason,
    }
}

/// `a-b` or a single `a` (meaning `a-(a+1)`), as cameras send either.
fn pair<T>(v: &str) -> Result<(T, T), RtspError>
where
    T: std::str::FromStr + Copy + TryFrom<u32>,
    u32: From<T>,
{
    let bad = || transport_err("bad number pair");
    match v.split_once('-') {
        Some((a, b)) => Ok((
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        )),
        None => {
            let a: T = v.parse().map_err(|_| bad())?;
            let b = T::try_from(u32::from(a) + 1).map_err(|_| bad())?;
            Ok((a, b))
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.lower {
            LowerTransport::Udp => "RTP/AVP",
            LowerTransport::Tcp => "RTP/AVP/TCP",
        })?;
        f.write_str(if self.multicast {
            ";multicast"
        } else {
            ";unicast"
        })?;
        if let Some(d) = &self.destination {
            write!(f, ";destination={d}")?;
        }
        if let Some(s) = &self.source {
            write!(f, ";source={s}")?;
        }
        if let Some((a, b)) = self.interleaved {
            write!(f, ";interleaved={a}-{b}")?;
        }
        if let Some((a, b)) = self.port {
            write!(f, ";port={a}-{b}")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, ";ttl={ttl}")?;
        }
        if let Some((a, b)) = self.client_port {
            write!(f, ";client_port={a}-{b}")?;
        }
        if let Some((a, b)) = self.server_port {
            write!(f, ";server_port={a}-{b}")?;
        }
        if let Some(ssrc) = self.ssrc {
            write!(f, ";ssrc={ssrc:08X}")?;
        }
        match self.mode {
            Some(TransportMode::Record) => f.write_str(";mode=record"),
            Some(TransportMode::Play) => f.write_str(";mode=play"),
            None => Ok(()),
        }
    }
}

/// The `Session` header: the id and, in responses, the timeout in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHeader {
    /// The opaque session id (chosen by the server, passed in by the caller).
    pub id: String,
    /// `timeout=` seconds: how long the server keeps an idle session.
    pub timeout: Option<u32>,
}

impl SessionHeader {
    /// Longest session id accepted (RFC 2326 allows any length; ours are
    /// short, and a long one from a client is refused rather than stored).
    pub const MAX_ID: usize = 128;

    /// Parses `id[;timeout=n]`.
    pub fn parse(value: &str) -> Result<SessionHeader, RtspError> {
        let err = |reason| RtspError::Header {
            header: "Session",
            reason,
        };
        let mut parts = value.split(';');
        let id = parts.next().unwrap_or_default().trim();
        if id.is_empty() || id.len() > Self::MAX_ID {
            return Err(err("bad session id"));
        }
        let mut timeout = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("timeout") {
                    timeout = Some(v.trim().parse().map_err(|_| err("bad timeout"))?);
                }
            }
        }
        Ok(SessionHeader {
            id: id.to_owned(),
            timeout,
        })
    }
}

impl fmt::Display for SessionHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        if let Some(t) = self.timeout {
            write!(f, ";timeout={t}")?;
        }
        Ok(())
    }
}

/// A point in Normal Play Time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NptTime {
    /// `now`: the live point.
    Now,
    /// Seconds from the start of the presentation.
    Seconds(f64),
}

/// A `Range: npt=start-[end]` header. Live streams only use `npt=0-` or
/// `npt=now-`, but clients send absolute and `hh:mm:ss` forms too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NptRange {
    /// Where to start.
    pub start: NptTime,
    /// Where to stop, if given.
    pub end: Option<NptTime>,
}

impl NptRange {
    /// Parses `npt=…`. Other range units (`clock=`, `smpte=`) are an error,
    /// which a server answers with 457 or ignores for a live stream.
    pub fn parse(value: &str) -> Result<NptRange, RtspError> {
        let err = |reason| RtspError::Header {
            header: "Range",
            reason,
        };
        let spec = value.split(';').next().unwrap_or_default().trim();
        let spec = spec
            .strip_prefix("npt")
            .and_then(|s| s.trim_start().strip_prefix('='))
            .ok_or(err("not an npt range"))?
            .trim();
        let (start, end) = spec.split_once('-').ok_or(err("no '-' in range"))?;
        let start = if start.trim().is_empty() {
            NptTime::Seconds(0.0)
        } else {
            npt_time(start.trim()).ok_or(err("bad start"))?
        };
        let end = match end.trim() {
            "" => None,
            e => Some(npt_time(e).ok_or(err("bad end"))?),
        };
        Ok(NptRange { start, end })
    }
}

fn npt_time(s: &str) -> Option<NptTime> {
    if s == "now" {
        return Some(NptTime::Now);
    }
    let mut secs = 0.0f64;
    let parts: Vec<&str> = s.splitn(4, ':').collect();
    if parts.len() > 3 {
        return None;
    }
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let v: f64 = if last {
            p.parse().ok()?
        } else {
            f64::from(p.parse::<u32>().ok()?)
        };
        secs = secs * 60.0 + v;
    }
    (secs.is_finite() && secs >= 0.0).then_some(NptTime::Seconds(secs))
}

impl fmt::Display for NptTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NptTime::Now => f.write_str("now"),
            NptTime::Seconds(s) => write!(f, "{s:.3}"),
        }
    }
}

impl fmt::Display for NptRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "npt={}-", self.start)?;
        if let Some(e) = self.end {
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// One stream's entry of an `RTP-Info` header: what the first packet after
/// PLAY will carry, so a player can map RTP time to the range start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInfo {
    /// The track's URL (its `a=control`, resolved).
    pub url: String,
    /// Sequence number of the first packet.
    pub seq: Option<u16>,
    /// RTP timestamp of the first packet.
    pub rtptime: Option<u32>,
}

impl RtpInfo {
    /// Parses a comma-separated `RTP-Info` list (at most [`MAX_TRANSPORTS`]
    /// entries: one per track).
    pub fn parse_list(value: &str) -> Result<Vec<RtpInfo>, RtspError> {
        let err = |reason| RtspError::Header {
            header: "RTP-Info",
            reason,
        };
        let mut out = Vec::new();
        for entry in value.split(',').take(MAX_TRANSPORTS) {
            let mut info = RtpInfo {
                url: String::new(),
                seq: None,
                rtptime: None,
            };
            for p in entry.split(';') {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                match k.trim() {
                    "url" => info.url = v.trim().trim_matches('"').to_owned(),
                    "seq" => info.seq = Some(v.trim().parse().map_err(|_| err("bad seq"))?),
                    "rtptime" => {
                        info.rtptime = Some(v.trim().parse().map_err(|_| err("bad rtptime"))?)
                    }
                    _ => {}
                }
            }
            if info.url.is_empty() {
                return Err(err("entry without url"));
            }
            out.push(info);
        }
        Ok(out)
    }

    /// Writes a list as one header value.
    pub fn write_list(list: &[RtpInfo]) -> String {
        list.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for RtpInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "url={}", self.url)?;
        if let Some(s) = self.seq {
            write!(f, ";seq={s}")?;
        }
        if let Some(t) = self.rtptime {
            write!(f, ";rtptime={t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_from_real_clients() {
        // ffmpeg publishing over TCP
        let t = Transport::parse_list("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record").unwrap();
        assert_eq!(t[0].lower, LowerTransport::Tcp);
        assert_eq!(t[0].interleaved, Some((0, 1)));
        assert_eq!(t[0].mode, Some(TransportMode::Record));
        // GStreamer offers several; quoted mode, upper case
        let t = Transport::parse_list(
            "RTP/AVP;unicast;client_port=5000-5001;mode=\"PLAY\",RTP/AVP/TCP;unicast;interleaved=2",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].client_port, Some((5000, 5001)));
        assert_eq!(t[0].mode, Some(TransportMode::Play));
        assert_eq!(t[1].interleaved, Some((2, 3)));
        assert!(Transport::parse_list("RTP/SAVP;unicast").is_err());
        assert!(Transport::parse_list("RTP/AVP;interleaved=255").is_err());
    }

    #[test]
    fn transport_round_trips() {
        let mut t = Transport::new(LowerTransport::Udp);
        t.client_port = Some((6000, 6001));
        t.server_port = Some((8000, 8001));
        t.ssrc = Some(0xDEADBEEF);
        t.mode = Some(TransportMode::Record);
        let s = t.to_string();
        assert_eq!(
            s,
            "RTP/AVP;unicast;client_port=6000-6001;server_port=8000-8001;ssrc=DEADBEEF;mode=record"
        );
        assert_eq!(Transport::parse_list(&s).unwrap(), vec![t]);
    }

    #[test]
    fn session_header() {
        let s = SessionHeader::parse("12345678;timeout=60").unwrap();
        assert_eq!(s.id, "12345678");
        assert_eq!(s.timeout, Some(60));
        assert_eq!(s.to_string(), "12345678;timeout=60");
        assert!(SessionHeader::parse("").is_err());
        assert!(SessionHeader::parse(&"x".repeat(200)).is_err());
    }

    #[test]
    fn ranges() {
        let r = NptRange::parse("npt=0.000-").unwrap();
        assert_eq!(r.start, NptTime::Seconds(0.0));
        assert_eq!(r.end, None);
        assert_eq!(NptRange::parse("npt=now-").unwrap().start, NptTime::Now);
        let r = NptRange::parse("npt = 00:01:02.5-70").unwrap();
        assert_eq!(r.start, NptTime::Seconds(62.5));
        assert_eq!(r.end, Some(NptTime::Seconds(70.0)));
        assert_eq!(r.to_string(), "npt=62.500-70.000");
        assert!(NptRange::parse("clock=19961108T142300Z-").is_err());
        assert!(NptRange::parse("npt=x-").is_err());
    }

    #[test]
    fn rtp_info() {
        let l = RtpInfo::parse_list(
            "url=rtsp://h/a/trackID=0;seq=1;rtptime=900,url=rtsp://h/a/trackID=1;seq=7",
        )
        .unwrap();
        assert_eq!(l[0].rtptime, Some(900));
        assert_eq!(l[1].seq, Some(7));
        assert_eq!(RtpInfo::parse_list(&RtpInfo::write_list(&l)).unwrap(), l);
    }
}
