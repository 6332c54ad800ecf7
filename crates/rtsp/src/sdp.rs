//! SDP (RFC 8866) as RTSP uses it: the body of an ANNOUNCE from a publisher
//! and of our DESCRIBE answers to players.
//!
//! Own reader rather than `sdp-types`: that parser is strict about what real
//! cameras get wrong (it refuses a missing `o=`/`s=`, a second `c=`, trailing
//! fields), and it keeps every line with no bound on media sections or
//! attributes. This one reads only what a media server needs (payload
//! type, codec, clock rate, parameter sets and `a=control` per track),
//! tolerates odd camera output (no `c=`, stray spaces, lower-case encoding
//! names, bare `\n` line ends, relative or absolute controls) and refuses
//! more than [`MAX_MEDIA`] media sections or [`MAX_ATTRIBUTES`] attributes.

use std::fmt::Write as _;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bytes::Bytes;

use crate::error::RtspError;

/// Most media sections accepted (a camera has two or three tracks).
pub const MAX_MEDIA: usize = 16;
/// Most attribute lines accepted in the whole description.
pub const MAX_ATTRIBUTES: usize = 256;

/// Cameras omit base64 padding in `sprop-*` as often as they include it.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A session description: the tracks of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `s=` (informational).
    pub name: String,
    /// Session-level `a=control` (`*` or an aggregate URL).
    pub control: Option<String>,
    /// One entry per media section, in order.
    pub media: Vec<Media>,
}

/// `m=` media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    /// `video`
    Video,
    /// `audio`
    Audio,
    /// Anything else (`application`, `text`...), kept for its control URL.
    Other(String),
}

/// One media section (a track).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Video, audio or other.
    pub kind: MediaKind,
    /// RTP payload type (the first format of the `m=` line).
    pub payload_type: u8,
    /// What the payload is, with its parameters.
    pub codec: Codec,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels (1 when not given).
    pub channels: u16,
    /// `a=control` of the section, as written (absolute or relative).
    pub control: Option<String>,
}

/// The codecs weir carries, with what a depacketizer or muxer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// H.264 (RFC 6184).
    H264(H264Params),
    /// H.265 (RFC 7798).
    H265(H265Params),
    /// AV1 (the AOM RTP payload format), 90 kHz. Written for players;
    /// an announced `AV1` is parsed as [`Codec::Unknown`] (not ingested).
    Av1,
    /// AAC in `mpeg4-generic` (RFC 3640).
    Aac(AacParams),
    /// AAC in `MP4A-LATM` (RFC 6416), as many cameras send.
    Latm(LatmParams),
    /// Opus (RFC 7587), always 48 kHz on the wire.
    Opus,
    /// G.711 A-law (static payload type 8).
    Pcma,
    /// G.711 µ-law (static payload type 0).
    Pcmu,
    /// Anything else: the encoding name as sent (upper-cased).
    Unknown(String),
}

/// H.264 `fmtp` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H264Params {
    /// 0 = single NAL, 1 = non-interleaved (STAP-A, FU-A).
    pub packetization_mode: u8,
    /// profile_idc, constraint flags, level_idc.
    pub profile_level_id: Option<[u8; 3]>,
    /// Sequence parameter set from `sprop-parameter-sets` (first one).
    pub sps: Option<Bytes>,
    /// Picture parameter set from `sprop-parameter-sets` (first one).
    pub pps: Option<Bytes>,
}

/// H.265 `fmtp` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H265Params {
    /// `sprop-vps`.
    pub vps: Option<Bytes>,
    /// `sprop-sps`.
    pub sps: Option<Bytes>,
    /// `sprop-pps`.
    pub pps: Option<Bytes>,
}

/// `mpeg4-generic` AAC-hbr parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacParams {
    /// The AudioSpecificConfig (`config=` hex).
    pub config: Bytes,
    /// Bits of AU-size in each AU header (13 for AAC-hbr).
    pub size_length: u8,
    /// Bits of AU-Index in the first AU header (3).
    pub index_length: u8,
    /// Bits of AU-Index-delta in later AU headers (3).
    pub index_delta_length: u8,
}

/// `MP4A-LATM` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatmParams {
    /// The StreamMuxConfig (`config=` hex), present when `cpresent=0`.
    pub config: Option<Bytes>,
    /// Whether the config travels in-band (`cpresent=1`, the default).
    pub cpresent: bool,
}

impl Media {
    /// The URL a SETUP for this track goes to: an absolute `a=control` as
    /// is, `*` or none as the base, a relative one joined to the base
    /// (which is the Content-Base or the DESCRIBE URL).
    pub fn control_url(&self, base: &str) -> String {
        resolve_control(self.control.as_deref(), base)
    }
}

/// Resolves an `a=control` value against a base URL (see
/// [`Media::control_url`]).
pub fn resolve_control(control: Option<&str>, base: &str) -> String {
    match control.map(str::trim) {
        None | Some("") | Some("*") => base.to_owned(),
        Some(c) if has_prefix(c, "rtsp://") || has_prefix(c, "rtsps://") => c.to_owned(),
        Some(c) => {
            if base.ends_with('/') {
                format!("{base}{c}")
            } else {
                format!("{base}/{c}")
            }
        }
    }
}

/// Case-insensitive prefix test that cannot split a multi-byte character.
fn has_prefix(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

struct Section {
    kind: MediaKind,
    formats: Vec<u8>,
    rtpmap: Option<(u8, String, u32, Option<u16>)>,
    fmtp: Option<(u8, String)>,
    control: Option<String>,
}

impl SessionDescription {
    /// Reads an SDP body (UTF-8, any line ending).
    pub fn parse(body: &[u8]) -> Result<SessionDescription, RtspError> {
        let err = |line, reason| RtspError::Sdp { line, reason };
        let text = std::str::from_utf8(body).map_err(|_| err(0, "not UTF-8"))?;
        let mut name = String::new();
        let mut control = None;
        let mut sections: Vec<Section> = Vec::new();
        let mut attributes = 0usize;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let Some((kind, value)) = line.split_once('=') else {
                return Err(err(n, "line without '='"));
            };
            let value = value.trim();
            match kind.trim() {
                "s" if sections.is_empty() => name = value.to_owned(),
                "m" => {
                    if sections.len() == MAX_MEDIA {
                        return Err(err(n, "too many media sections"));
                    }
                    sections.push(parse_m_line(value).ok_or(err(n, "bad m= line"))?);
                }
                "a" => {
                    attributes += 1;
                    if attributes > MAX_ATTRIBUTES {
                        return Err(err(n, "too many attributes"));
                    }
                    let (attr, val) = value.split_once(':').unwrap_or((value, ""));
                    let (attr, val) = (attr.trim(), val.trim());
                    match sections.last_mut() {
                        None => {
                            if attr.eq_ignore_ascii_case("control") {
                                control = Some(val.to_owned());
                            }
                        }
                        Some(s) => apply_attribute(s, attr, val),
                    }
                }
                _ => {}
            }
        }
        let media = sections
            .into_iter()
            .filter_map(|s| build_media(s).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionDescription {
            name,
            control,
            media,
        })
    }

    /// Writes the description as a DESCRIBE answer. `origin_addr` is the
    /// server's address for `o=` and `session_id` its session id there
    /// (both passed in: we read no clock and no socket).
    pub fn write(&self, origin_addr: &str, session_id: u64) -> String {
        let ip = if origin_addr.contains(':') {
            "IP6"
        } else {
            "IP4"
        };
        let mut s = String::new();
        let _ = write!(s, "v=0\r\no=- {session_id} 1 IN {ip} {origin_addr}\r\n");
        let name = if self.name.is_empty() {
            "weir"
        } else {
            self.name.as_str()
        };
        let _ = write!(
            s,
            "s={name}\r\nc=IN {ip} {}\r\nt=0 0\r\n",
            if ip == "IP6" { "::" } else { "0.0.0.0" }
        );
        let _ = write!(s, "a=tool:weir\r\na=range:npt=now-\r\n");
        if let Some(c) = &self.control {
            let _ = write!(s, "a=control:{c}\r\n");
        }
        for m in &self.media {
            m.write(&mut s);
        }
        s
    }
}

fn parse_m_line(value: &str) -> Option<Section> {
    let mut parts = value.split_whitespace();
    let kind = match parts.next()?.to_ascii_lowercase().as_str() {
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        other => MediaKind::Other(other.to_owned()),
    };
    let _port = parts.next()?;
    let _proto = parts.next()?;
    // A bounded number of formats: we only use the first.
    let formats: Vec<u8> = parts.take(32).filter_map(|f| f.parse().ok()).collect();
    Some(Section {
        kind,
        formats,
        rtpmap: None,
        fmtp: None,
        control: None,
    })
}

fn apply_attribute(s: &mut Section, attr: &str, val: &str) {
    let first = s.formats.first().copied();
    if attr.eq_ignore_ascii_case("control") {
        s.control = Some(val.to_owned());
    } else if attr.eq_ignore_ascii_case("rtpmap") {
        let Some((pt, enc)) = val.split_once(char::is_whitespace) else {
            return;
        };
        let Ok(pt) = pt.trim().parse::<u8>() else {
            return;
        };
        if first != Some(pt) {
            return;
        }
        let mut enc = enc.trim().split('/');
        let name = enc.next().unwrap_or_default().trim().to_ascii_uppercase();
        let Some(rate) = enc.next().and_then(|r| r.trim().parse().ok()) else {
            return;
        };
        let channels = enc.next().and_then(|c| c.trim().parse().ok());
        s.rtpmap = Some((pt, name, rate, channels));
    } else if attr.eq_ignore_ascii_case("fmtp") {
        let Some((pt, params)) = val.split_once(char::is_whitespace) else {
            return;
        };
        if pt.trim().parse::<u8>().ok() == first && first.is_some() {
            s.fmtp = Some((first.unwrap_or_default(), params.trim().to_owned()));
        }
    }
}

fn fmtp_params(fmtp: &Option<(u8, String)>) -> Vec<(String, String)> {
    let Some((_, params)) = fmtp else {
        return Vec::new();
    };
    params
        .split(';')
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_ascii_lowercase(), v.trim().to_owned()))
        })
        .take(32)
        .collect()
}

fn build_media(s: Section) -> Result<Option<Media>, RtspError> {
    let Some(&pt) = s.formats.first() else {
        return Ok(None);
    };
    let params = fmtp_params(&s.fmtp);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (name, clock_rate, channels) = match s.rtpmap {
        Some((_, name, rate, ch)) => (name, rate, ch),
        None => match pt {
            0 => ("PCMU".to_owned(), 8000, Some(1)),
            8 => ("PCMA".to_owned(), 8000, Some(1)),
            _ => (format!("PT{pt}"), 90000, None),
        },
    };
    if clock_rate == 0 {
        return Err(RtspError::Sdp {
            line: 0,
            reason: "clock rate 0",
        });
    }
    let codec = match name.as_str() {
        "H264" => Codec::H264(h264_params(
            get("packetization-mode"),
            get("profile-level-id"),
            get("sprop-parameter-sets"),
        )),
        "H265" | "HEVC" => Codec::H265(H265Params {
            vps: get("sprop-vps").and_then(b64_first),
            sps: get("sprop-sps").and_then(b64_first),
            pps: get("sprop-pps").and_then(b64_first),
        }),
        "MPEG4-GENERIC" => {
            aac_params(&get).map_or_else(|| Codec::Unknown(name.clone()), Codec::Aac)
        }
        "MP4A-LATM" => Codec::Latm(LatmParams {
            config: get("config").and_then(hex_decode),
            cpresent: get("cpresent") != Some("0"),
        }),
        "OPUS" => Codec::Opus,
        "PCMA" => Codec::Pcma,
        "PCMU" => Codec::Pcmu,
        _ => Codec::Unknown(name.clone()),
    };
    Ok(Some(Media {
        kind: s.kind,
        payload_type: pt,
        codec,
        clock_rate,
        channels: channels.unwrap_or(1).max(1),
        control: s.control,
    }))
}

fn h264_params(mode: Option<&str>, pli: Option<&str>, sprop: Option<&str>) -> H264Params {
    let mut p = H264Params {
        packetization_mode: mode.and_then(|m| m.parse().ok()).unwrap_or(0),
        profile_level_id: pli
            .and_then(hex_decode)
            .and_then(|b| <[u8; 3]>::try_from(&b[..]).ok()),
        sps: None,
        pps: None,
    };
    for set in sprop.unwrap_or_default().split(',').take(8) {
        let Some(nal) = B64.decode(set.trim()).ok().filter(|n| !n.is_empty()) else {
            continue;
        };
        match nal[0] & 0x1f {
            7 if p.sps.is_none() => p.sps = Some(Bytes::from(nal)),
            8 if p.pps.is_none() => p.pps = Some(Bytes::from(nal)),
            _ => {}
        }
    }
    p
}

fn aac_params<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Option<AacParams> {
    let num = |k: &str| get(k).and_then(|v| v.parse::<u8>().ok());
    let p = AacParams {
        config: get("config").and_then(hex_decode)?,
        size_length: num("sizelength")?,
        index_length: num("indexlength").unwrap_or(0),
        index_delta_length: num("indexdeltalength").unwrap_or(0),
    };
    // AU headers wider than 32 bits are not AAC-hbr and not something we read.
    (p.size_length > 0 && p.size_length <= 16 && p.index_length <= 8 && p.index_delta_length <= 8)
        .then_some(p)
}

fn b64_first(v: &str) -> Option<Bytes> {
    let first = v.split(',').next()?.trim();
    B64.decode(first)
        .ok()
        .filter(|b| !b.is_empty())
        .map(Bytes::from)
}

fn hex_decode(s: &str) -> Option<Bytes> {
    let s = s.trim();
    if s.len() & 1 == 1 || s.len() > 512 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Media {
    fn write(&self, s: &mut String) {
        let kind = match &self.kind {
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Other(o) => o.as_str(),
        };
        let pt = self.payload_type;
        let _ = write!(s, "m={kind} 0 RTP/AVP {pt}\r\n");
        let rate = self.clock_rate;
        let ch = self.channels;
        let (name, fmtp) = match &self.codec {
            Codec::H264(p) => {
                let mut f = format!("packetization-mode={}", p.packetization_mode);
                let pli = p
                    .profile_level_id
                    .or_else(|| p.sps.as_ref().and_then(|s| s.get(1..4)).and_then(|b| b.try_into().ok()));
                if let Some(pli) = pli {
                    let _ = write!(f, ";profile-level-id={}", hex(&pli));
                }
                if let (Some(sps), Some(pps)) = (&p.sps, &p.pps) {
                    let _ = write!(f, ";sprop-parameter-sets={},{}", B64.encode(sps), B64.encode(pps));
                }
                ("H264".to_owned(), Some(f))
            }
            Codec::H265(p) => {
                let mut f = Vec::new();
                for (k, v) in [("sprop-vps", &p.vps), ("sprop-sps", &p.sps), ("sprop-pps", &p.pps)] {
                    if let Some(v) = v {
                        f.push(format!("{k}={}", B64.encode(v)));
                    }
                }
                ("H265".to_owned(), (!f.is_empty()).then(|| f.join(";")))
            }
            Codec::Aac(p) => (
                format!("MPEG4-GENERIC/{rate}/{ch}"),
                Some(format!(
                    "streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength={};indexlength={};indexdeltalength={};config={}",
                    p.size_length,
                    p.index_length,
                    p.index_delta_length,
                    hex(&p.config)
                )),
            ),
            Codec::Latm(p) => {
                let mut f = format!("cpresent={}", u8::from(p.cpresent));
                if let Some(c) = &p.config {
                    let _ = write!(f, ";config={}", hex(c));
                }
                (format!("MP4A-LATM/{rate}/{ch}"), Some(f))
            }
            // RFC 7587 says 48000/2 always; we echo what we were given.
            Codec::Opus => (format!("opus/{rate}/2"), None),
            Codec::Pcma => ("PCMA".to_owned(), None),
            Codec::Pcmu => ("PCMU".to_owned(), None),
            Codec::Av1 => ("AV1".to_owned(), None),
            Codec::Unknown(n) => (n.clone(), None),
        };
        if name.contains('/') {
            let _ = write!(s, "a=rtpmap:{pt} {name}\r\n");
        } else {
            let _ = write!(s, "a=rtpmap:{pt} {name}/{rate}\r\n");
        }
        if let Some(f) = fmtp {
            let _ = write!(s, "a=fmtp:{pt} {f}\r\n");
        }
        if let Some(c) = &self.control {
            let _ = write!(s, "a=control:{c}\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ffmpeg 5.1 `-f rtsp` ANNOUNCE body for libx264 + AAC (shape as sent).
    const FFMPEG: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:libavformat 59.27.100\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QAFazZQUH7ARAAAAMAEAAAAwPA8WLZYA==,aOvjyyLA; profile-level-id=640015\r\na=control:streamid=0\r\nm=audio 0 RTP/AVP 97\r\nb=AS:128\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\na=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=121056E500\r\na=control:streamid=1\r\n";

    #[test]
    fn ffmpeg_announce() {
        let sd = SessionDescription::parse(FFMPEG.as_bytes()).unwrap();
        assert_eq!(sd.media.len(), 2);
        let Codec::H264(h) = &sd.media[0].codec else {
            panic!("not h264");
        };
        assert_eq!(h.packetization_mode, 1);
        assert_eq!(h.profile_level_id, Some([0x64, 0x00, 0x15]));
        assert_eq!(h.sps.as_ref().unwrap()[0] & 0x1f, 7);
        assert_eq!(h.pps.as_ref().unwrap()[0] & 0x1f, 8);
        assert_eq!(
            sd.media[0].control_url("rtsp://h/live/a"),
            "rtsp://h/live/a/streamid=0"
        );
        let Codec::Aac(a) = &sd.media[1].codec else {
            panic!("not aac");
        };
        assert_eq!(a.config[..], [0x12, 0x10, 0x56, 0xe5, 0x00]);
        assert_eq!(
            (a.size_length, a.index_length, a.index_delta_length),
            (13, 3, 3)
        );
        assert_eq!(sd.media[1].clock_rate, 44100);
        assert_eq!(sd.media[1].channels, 2);
    }

    #[test]
    fn write_then_parse_round_trips() {
        let sd = SessionDescription::parse(FFMPEG.as_bytes()).unwrap();
        let mut sd2 = sd.clone();
        sd2.media.push(Media {
            kind: MediaKind::Video,
            payload_type: 98,
            codec: Codec::H265(H265Params {
                vps: Some(Bytes::from_static(&[0x40, 1, 2])),
                sps: Some(Bytes::from_static(&[0x42, 1, 3])),
                pps: Some(Bytes::from_static(&[0x44, 1, 4])),
            }),
            clock_rate: 90000,
            channels: 1,
            control: Some("trackID=2".into()),
        });
        for (pt, codec, rate, ch) in [
            (111, Codec::Opus, 48000, 2),
            (8, Codec::Pcma, 8000, 1),
            (0, Codec::Pcmu, 8000, 1),
        ] {
            sd2.media.push(Media {
                kind: MediaKind::Audio,
                payload_type: pt,
                codec,
                clock_rate: rate,
                channels: ch,
                control: Some(format!("trackID={pt}")),
            });
        }
        sd2.media.push(Media {
            kind: MediaKind::Audio,
            payload_type: 99,
            codec: Codec::Latm(LatmParams {
                config: Some(Bytes::from_static(&[0x40, 0x00, 0x24, 0x20, 0x3f, 0xc0])),
                cpresent: false,
            }),
            clock_rate: 16000,
            channels: 1,
            control: Some("rtsp://cam/track9".into()),
        });
        sd2.control = Some("*".into());
        let text = sd2.write("192.0.2.1", 42);
        assert!(text.starts_with("v=0\r\no=- 42 1 IN IP4 192.0.2.1\r\n"));
        let back = SessionDescription::parse(text.as_bytes()).unwrap();
        assert_eq!(back.media, sd2.media);
        assert_eq!(back.control.as_deref(), Some("*"));
        assert_eq!(
            back.media.last().unwrap().control_url("rtsp://h/x"),
            "rtsp://cam/track9"
        );
    }

    #[test]
    fn odd_camera_sdp() {
        // No c=, no o=, bare LF, lower-case encodings, spaces, absolute
        // control, static PCMA without rtpmap, unpadded base64.
        let sdp = "v=0\ns = cam\nm=video 0 RTP/AVP 96\na=rtpmap:96 h264/90000\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA,aM48gA\na=control: rtsp://10.0.0.2/ch1/trackID=1\nm=audio 0 RTP/AVP 8\na=control:trackID=2\nm=audio 0 RTP/AVP 97\na=rtpmap:97 mpeg4-generic/16000\nm=application 0 RTP/AVP 107\na=rtpmap:107 vnd.onvif.metadata/90000\n";
        let sd = SessionDescription::parse(sdp.as_bytes()).unwrap();
        assert_eq!(sd.name, "cam");
        assert_eq!(sd.media.len(), 4);
        let Codec::H264(h) = &sd.media[0].codec else {
            panic!("not h264");
        };
        assert!(h.sps.is_some() && h.pps.is_some());
        assert_eq!(
            sd.media[0].control_url("rtsp://x/y"),
            "rtsp://10.0.0.2/ch1/trackID=1"
        );
        assert_eq!(sd.media[1].codec, Codec::Pcma);
        assert_eq!(sd.media[1].clock_rate, 8000);
        // mpeg4-generic without config cannot be decoded: unknown, not an error.
        assert_eq!(sd.media[2].codec, Codec::Unknown("MPEG4-GENERIC".into()));
        assert_eq!(sd.media[3].kind, MediaKind::Other("application".into()));
    }

    #[test]
    fn bounds() {
        let mut many = String::from("v=0\r\n");
        for _ in 0..1000 {
            many.push_str("m=video 0 RTP/AVP 96\r\n");
        }
        assert!(SessionDescription::parse(many.as_bytes()).is_err());
        let mut attrs = String::from("v=0\r\nm=video 0 RTP/AVP 96\r\n");
        for _ in 0..1000 {
            attrs.push_str("a=x\r\n");
        }
        assert!(SessionDescription::parse(attrs.as_bytes()).is_err());
        assert!(SessionDescription::parse(b"\xff\xfe").is_err());
        assert!(SessionDescription::parse(b"garbage").is_err());
        assert!(SessionDescription::parse(b"m=video 0 RTP/AVP 96\na=rtpmap:96 H264/0\n").is_err());
    }
}
