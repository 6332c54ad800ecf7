//! The per-stream RTP muxer: one packetizer per track, shared by every
//! RTSP player of the stream ("mux once").
//!
//! Each hub frame becomes one entry holding its RTP packets, already
//! framed for TCP interleaving on the track's fixed channel (video 0,
//! audio 2, RTCP on the odd one after): a player that set up those
//! channels (ffmpeg, GStreamer and VLC ask for exactly these, in SDP order)
//! writes the shared bytes as they are, any other gets a copy with its
//! channel byte patched. Sequence numbers, SSRC and timestamps belong to
//! the stream, so every player sees the same packets.
//!
//! Codec configuration frames become header entries that carry the SDP
//! media section of their track (what DESCRIBE answers with) and no
//! packets; video parameter sets also go in band before every keyframe,
//! so a player that joins at a keyframe decodes without the SDP. Every
//! few seconds of media an RTCP sender report follows a track's frame.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::Rng;
use weir_codec::aac::parse_asc;
use weir_codec::avc::parse_avc_config;
use weir_codec::hevc::parse_hevc_config;
use weir_codec::nal::{access_unit, split_length_prefixed, NalConfig};
use weir_hub::hub::SLOT_AUDIO_CONFIG;
use weir_hub::{Class, Entry, Muxer, StreamEvent};
use weir_media::{rescale, Codec, Frame, TrackKind, US_HZ};
use weir_rtsp::message::interleaved_header;
use weir_rtsp::packetize::Packetizer;
use weir_rtsp::rtcp::{ntp_from_unix, sender_report};
use weir_rtsp::sdp::{AacParams, Codec as SdpCodec, H264Params, H265Params, Media, MediaKind};

/// Largest RTP packet we send: fits a 1500-byte path MTU with IP/UDP
/// headers, so the same packets could serve UDP players.
const MAX_PACKET: usize = 1400;
/// Media time between two RTCP sender reports of a track.
const SR_INTERVAL_US: i64 = 5_000_000;
/// Fixed interleaved RTP channel of each track (RTCP is the next one).
pub(crate) const VIDEO_CHANNEL: u8 = 0;
/// See [`VIDEO_CHANNEL`].
pub(crate) const AUDIO_CHANNEL: u8 = 2;
/// Dynamic payload types of our SDP.
const VIDEO_PT: u8 = 96;
const AUDIO_PT: u8 = 97;

/// One entry of a stream's RTSP egress channel.
#[derive(Debug, Clone)]
pub(crate) enum Rtp {
    /// A frame's packets (or a header's SDP section).
    Media {
        /// Which track.
        kind: TrackKind,
        /// Fan-out class.
        class: Class,
        /// Interleaved frames (`$`, channel, length, packet), RTP and
        /// RTCP, each on its track's fixed channel, back to back: what a
        /// TCP player on those channels writes; empty for headers.
        wire: Bytes,
        /// The same frames one by one (views into `wire`).
        packets: Arc<[Bytes]>,
        /// How many of them are RTP (the rest are RTCP).
        rtp: u32,
        /// A header's SDP media section (control left unset).
        media: Option<Arc<Media>>,
    },
    /// A publisher boundary: headers reset.
    Reset,
}

impl Entry for Rtp {
    fn class(&self) -> Class {
        match self {
            Rtp::Media { class, .. } => *class,
            Rtp::Reset => Class::Reset,
        }
    }

    fn byte_len(&self) -> usize {
        match self {
            Rtp::Media { wire, .. } => wire.len(),
            Rtp::Reset => 0,
        }
    }
}

struct Track {
    packetizer: Packetizer,
    clock: u32,
    codec: Codec,
    /// Video: what length prefixes and parameter sets the frames have.
    nal: Option<NalConfig>,
    last_sr_us: Option<i64>,
}

/// Turns hub events into shared, interleaved RTP packets.
pub(crate) struct RtspMuxer {
    video: Option<Track>,
    audio: Option<Track>,
    cname: String,
    /// The wall clock (NTP) at the first media time this muxer saw: sender
    /// reports map media time onto it, never the wall clock of the moment
    /// they are made, so that bursts and stalls of the publisher do not
    /// move players' timestamps (ffmpeg re-anchors on every report).
    anchor: Option<(u64, i64)>,
}

impl RtspMuxer {
    pub(crate) fn new(cname: String) -> Self {
        RtspMuxer {
            video: None,
            audio: None,
            cname,
            anchor: None,
        }
    }

    /// A header: a new track (a new packetizer when the codec or clock
    /// changed, so sequence numbers continue across a republish of the
    /// same codec) and its SDP section.
    fn configure(&mut self, frame: &Frame) -> Option<Media> {
        let (media, nal) = media_of(frame)?;
        let slot = match frame.kind {
            TrackKind::Video => &mut self.video,
            TrackKind::Audio => &mut self.audio,
            TrackKind::Data => return None,
        };
        let reuse = slot
            .as_ref()
            .is_some_and(|t| t.codec == frame.codec && t.clock == media.clock_rate);
        if reuse {
            if let Some(t) = slot.as_mut() {
                t.nal = nal;
            }
        } else {
            let mut rng = rand::thread_rng();
            let packetizer = Packetizer::new(
                &media.codec,
                media.payload_type,
                rng.gen(),
                rng.gen(),
                rng.gen(),
                MAX_PACKET,
            )?;
            *slot = Some(Track {
                packetizer,
                clock: media.clock_rate,
                codec: frame.codec,
                nal,
                last_sr_us: None,
            });
        }
        Some(media)
    }

    fn packets(&mut self, frame: &Frame) -> Wire {
        let mut out = Wire::default();
        let (track, channel) = match frame.kind {
            TrackKind::Video => (self.video.as_mut(), VIDEO_CHANNEL),
            TrackKind::Audio => (self.audio.as_mut(), AUDIO_CHANNEL),
            TrackKind::Data => (None, 0),
        };
        let Some(track) = track else {
            return out;
        };
        let time = if frame.kind == TrackKind::Video {
            frame.pts_us()
        } else {
            frame.dts_us
        };
        let ts = rescale(time.max(0), US_HZ, track.clock) as u64;
        let units: Vec<Bytes> = match &track.nal {
            None if track.codec == Codec::Av1 => av1_elements(&frame.data),
            Some(cfg) => {
                let Ok(nals) = split_length_prefixed(&frame.data, cfg.length_size) else {
                    return out;
                };
                access_unit(cfg, &nals, frame.key, false)
                    .into_iter()
                    .map(|n| shared(&frame.data, n))
                    .collect()
            }
            None => vec![frame.data.clone()],
        };
        let mut rtp = Vec::new();
        if track.packetizer.packetize(ts, &units, &mut rtp).is_err() {
            return out;
        }
        if frame.kind == TrackKind::Video && frame.key {
            // Players join at keyframes: a report for every track in front
            // of one gives a new player the tracks' common timeline before
            // its first packet (ffmpeg otherwise times its first packet
            // alone and the next by the report, a step back).
            for kind in [TrackKind::Video, TrackKind::Audio] {
                self.sender_report(kind, time, &mut out);
            }
            for p in &rtp {
                out.push(channel, p, false);
            }
            return out;
        }
        for p in &rtp {
            out.push(channel, p, false);
        }
        let due = match frame.kind {
            TrackKind::Video => self.video.as_ref(),
            _ => self.audio.as_ref(),
        }
        .is_some_and(|t| {
            t.last_sr_us
                .is_none_or(|last| time - last >= SR_INTERVAL_US)
        });
        if due {
            self.sender_report(frame.kind, time, &mut out);
        }
        out
    }

    /// An RTCP sender report for the `kind` track at media time `time`
    /// (µs), on the track's RTCP channel.
    fn sender_report(&mut self, kind: TrackKind, time: i64, out: &mut Wire) {
        let _ = self.try_sender_report(kind, time, out);
    }

    fn try_sender_report(&mut self, kind: TrackKind, time: i64, out: &mut Wire) -> Option<()> {
        let (ntp0, t0) = *self.anchor.get_or_insert_with(|| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO);
            (ntp_from_unix(now), time)
        });
        let (track, channel) = match kind {
            TrackKind::Video => (self.video.as_mut()?, VIDEO_CHANNEL),
            TrackKind::Audio => (self.audio.as_mut()?, AUDIO_CHANNEL),
            TrackKind::Data => return None,
        };
        track.last_sr_us = Some(time);
        let ntp = ntp_plus(ntp0, time - t0);
        let (packets, octets) = track.packetizer.counts();
        let ts = rescale(time.max(0), US_HZ, track.clock) as u64;
        let rtp_ts = track.packetizer.rtp_timestamp(ts);
        let sr = sender_report(
            track.packetizer.ssrc(),
            ntp,
            rtp_ts,
            packets,
            octets,
            &self.cname,
        )
        .ok()?;
        out.push(channel + 1, &sr, true);
        Some(())
    }
}

/// An entry's interleaved frames (`$`, channel, length, packet) written
/// back to back into one buffer: a TCP player on the fixed channels writes
/// the whole entry as one slice (what a parked player's `sendmsg` takes),
/// and each packet is a view into it for everyone else.
#[derive(Debug, Default)]
struct Wire {
    buf: Vec<u8>,
    /// Where each frame ends.
    ends: Vec<usize>,
    /// RTP packets among them (the rest are RTCP).
    rtp: u32,
}

impl Wire {
    fn push(&mut self, channel: u8, packet: &[u8], rtcp: bool) {
        let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
        self.buf
            .extend_from_slice(&interleaved_header(channel, len));
        self.buf.extend_from_slice(&packet[..usize::from(len)]);
        self.ends.push(self.buf.len());
        self.rtp += u32::from(!rtcp);
    }

    /// The whole buffer and one view per frame.
    fn finish(self) -> (Bytes, Vec<Bytes>, u32) {
        let wire = Bytes::from(self.buf);
        let mut start = 0;
        let packets = self
            .ends
            .iter()
            .map(|&end| {
                let p = wire.slice(start..end);
                start = end;
                p
            })
            .collect();
        (wire, packets, self.rtp)
    }
}

/// Which track and whether RTCP an entry's packet is, by its fixed
/// interleaved channel (an entry may carry other tracks' reports).
pub(crate) fn route(packet: &[u8]) -> Option<(TrackKind, bool)> {
    match *packet.get(1)? {
        VIDEO_CHANNEL => Some((TrackKind::Video, false)),
        c if c == VIDEO_CHANNEL + 1 => Some((TrackKind::Video, true)),
        AUDIO_CHANNEL => Some((TrackKind::Audio, false)),
        c if c == AUDIO_CHANNEL + 1 => Some((TrackKind::Audio, true)),
        _ => None,
    }
}

/// The fixed interleaved RTP channel of a track kind.
pub(crate) fn channel_of(kind: TrackKind) -> Option<u8> {
    match kind {
        TrackKind::Video => Some(VIDEO_CHANNEL),
        TrackKind::Audio => Some(AUDIO_CHANNEL),
        TrackKind::Data => None,
    }
}

/// An NTP timestamp (32.32 fixed point seconds) moved by `us`
/// microseconds, either way.
fn ntp_plus(ntp: u64, us: i64) -> u64 {
    let delta = (i128::from(us) << 32) / 1_000_000;
    (i128::from(ntp) + delta) as u64
}

/// `part` as a `Bytes`: a slice of `data` when it lies inside it (the
/// frame's NAL units), else a copy (parameter sets from the config).
fn shared(data: &Bytes, part: &[u8]) -> Bytes {
    let inside = data.as_ptr_range();
    let p = part.as_ptr_range();
    if !part.is_empty() && inside.start <= p.start && p.end <= inside.end {
        data.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// The SDP section (and, for video, the NAL layout) of a config frame;
/// G.711 tracks, which have no config frame, get theirs from any frame.
fn media_of(frame: &Frame) -> Option<(Media, Option<NalConfig>)> {
    let video = |codec| Media {
        kind: MediaKind::Video,
        payload_type: VIDEO_PT,
        codec,
        clock_rate: 90_000,
        channels: 1,
        control: None,
    };
    let audio = |payload_type, codec, clock_rate, channels: u8| Media {
        kind: MediaKind::Audio,
        payload_type,
        codec,
        clock_rate,
        channels: u16::from(channels),
        control: None,
    };
    Some(match frame.codec {
        Codec::H264 => {
            let c = parse_avc_config(&frame.data).ok()?;
            let media = video(SdpCodec::H264(H264Params {
                packetization_mode: 1,
                profile_level_id: Some([c.profile, c.compatibility, c.level]),
                sps: c.sps.first().cloned(),
                pps: c.pps.first().cloned(),
            }));
            (media, Some(NalConfig::avc(c)))
        }
        Codec::H265 => {
            let c = parse_hevc_config(&frame.data).ok()?;
            let media = video(SdpCodec::H265(H265Params {
                vps: c.vps.first().cloned(),
                sps: c.sps.first().cloned(),
                pps: c.pps.first().cloned(),
            }));
            (media, Some(NalConfig::hevc(c)))
        }
        Codec::Aac => {
            let asc = parse_asc(&frame.data).ok()?;
            let params = AacParams {
                config: frame.data.clone(),
                size_length: 13,
                index_length: 3,
                index_delta_length: 3,
            };
            let ch = asc.channel_config.max(1);
            (
                audio(AUDIO_PT, SdpCodec::Aac(params), asc.sample_rate, ch),
                None,
            )
        }
        Codec::Opus => (audio(AUDIO_PT, SdpCodec::Opus, 48_000, 2), None),
        Codec::Pcma {
            sample_rate,
            channels,
        } => (audio(8, SdpCodec::Pcma, sample_rate, channels), None),
        Codec::Pcmu {
            sample_rate,
            channels,
        } => (audio(0, SdpCodec::Pcmu, sample_rate, channels), None),
        Codec::Av1 => (video(SdpCodec::Av1), None),
        // Not offered over RTSP (yet): VP9 has an RTP payload format weir
        // does not packetize; MP3, AC-3, E-AC-3 and FLAC are rare in RTSP
        // players.
        Codec::Vp9 | Codec::Mp3 { .. } | Codec::Ac3 | Codec::Eac3 | Codec::Flac | Codec::Amf0 => {
            return None
        }
    })
}

/// An AV1 temporal unit as the RTP payload format wants its OBUs: without
/// their size fields (the packetizer gives each a length of its own), and
/// without temporal delimiters, tile lists and padding, which the format
/// says not to send. A unit that does not parse yields what parsed before
/// the damage.
fn av1_elements(unit: &Bytes) -> Vec<Bytes> {
    const TEMPORAL_DELIMITER: u8 = 2;
    const TILE_LIST: u8 = 8;
    const PADDING: u8 = 15;
    weir_codec::av1::Obus::new(unit)
        .map_while(Result::ok)
        .filter(|o| !matches!(o.obu_type, TEMPORAL_DELIMITER | TILE_LIST | PADDING))
        .map(|o| {
            let mut e = Vec::with_capacity(2 + o.payload.len());
            // The header (and extension byte) with obu_has_size_field off.
            e.push(o.header & !0x02);
            e.extend(o.extension);
            e.extend_from_slice(o.payload);
            Bytes::from(e)
        })
        .collect()
}

/// Whether weir serves `codec` over RTSP: H.264, H.265, AV1, AAC, Opus
/// and G.711 (see [`RtspMuxer`]'s media builder for what is not offered).
pub fn carries(codec: Codec) -> bool {
    matches!(
        codec,
        Codec::H264
            | Codec::H265
            | Codec::Av1
            | Codec::Aac
            | Codec::Opus
            | Codec::Pcma { .. }
            | Codec::Pcmu { .. }
    )
}

impl Muxer for RtspMuxer {
    type Out = Rtp;

    fn mux(&mut self, ev: &StreamEvent, class: Class, out: &mut Vec<Rtp>) {
        let frame = match ev {
            StreamEvent::Frame(f) => f,
            StreamEvent::Published => return,
            StreamEvent::Unpublished | StreamEvent::Replaced => {
                out.push(Rtp::Reset);
                return;
            }
        };
        if frame.kind == TrackKind::Data {
            return;
        }
        // G.711 has no config frame: its first frame (or a change of rate)
        // makes the header.
        let g711 = matches!(frame.codec, Codec::Pcma { .. } | Codec::Pcmu { .. });
        if frame.config || (g711 && !self.audio.as_ref().is_some_and(|t| t.codec == frame.codec)) {
            if let Some(media) = self.configure(frame) {
                out.push(Rtp::Media {
                    kind: frame.kind,
                    class: if g711 {
                        Class::Header(SLOT_AUDIO_CONFIG)
                    } else {
                        class
                    },
                    wire: Bytes::new(),
                    packets: Arc::from(Vec::new()),
                    rtp: 0,
                    media: Some(Arc::new(media)),
                });
            }
            if frame.config {
                return;
            }
        }
        let (wire, packets, rtp) = self.packets(frame).finish();
        if packets.is_empty() {
            return;
        }
        out.push(Rtp::Media {
            kind: frame.kind,
            class,
            wire,
            packets: Arc::from(packets),
            rtp,
            media: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_moves_by_media_time() {
        let t = 10u64 << 32;
        assert_eq!(ntp_plus(t, 1_500_000), (11 << 32) | (1 << 31));
        assert_eq!(ntp_plus(t, -500_000), (9 << 32) | (1 << 31));
    }

    fn frame(
        kind: TrackKind,
        codec: Codec,
        dts_ms: i64,
        key: bool,
        config: bool,
        data: Vec<u8>,
    ) -> Frame {
        Frame {
            kind,
            codec,
            dts_us: dts_ms * 1000,
            cts_us: 0,
            key,
            config,
            data: Bytes::from(data),
        }
    }

    #[test]
    fn frames_become_interleaved_rtp_once_configured() {
        let sps = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
        let pps = [0x68, 0xeb, 0xe3, 0xcb];
        let avcc = weir_codec::record_write::avc_decoder_config(&sps, &pps).unwrap();
        let mut m = RtspMuxer::new("t".into());
        let mut out = Vec::new();
        let idr = {
            let mut d = vec![0, 0, 0, 3, 0x65, 0x88, 0x84];
            d.extend_from_slice(&[0, 0, 0, 2, 0x06, 0x05]);
            d
        };
        // Media before any configuration has no track: nothing comes out.
        m.mux(
            &StreamEvent::Frame(frame(
                TrackKind::Video,
                Codec::H264,
                0,
                true,
                false,
                idr.clone(),
            )),
            Class::Key,
            &mut out,
        );
        assert!(out.is_empty());
        m.mux(
            &StreamEvent::Frame(frame(
                TrackKind::Video,
                Codec::H264,
                0,
                false,
                true,
                avcc.to_vec(),
            )),
            Class::Header(0),
            &mut out,
        );
        let Some(Rtp::Media {
            media: Some(media),
            packets,
            ..
        }) = out.pop()
        else {
            panic!("no header entry");
        };
        assert!(packets.is_empty());
        assert!(matches!(&media.codec, SdpCodec::H264(p) if p.sps.as_deref() == Some(&sps[..])));
        m.mux(
            &StreamEvent::Frame(frame(TrackKind::Video, Codec::H264, 40, true, false, idr)),
            Class::Key,
            &mut out,
        );
        let Some(Rtp::Media {
            packets,
            class,
            wire,
            rtp,
            ..
        }) = out.pop()
        else {
            panic!("no media entry");
        };
        assert_eq!(class, Class::Key);
        assert_eq!(
            wire,
            packets.concat(),
            "the packets are views of the wire bytes"
        );
        assert_eq!(rtp, 4, "one RTCP report, four RTP packets");
        // A keyframe: a sender report on the RTCP channel first (no audio
        // track, so no audio report), then SPS, PPS (in band before the
        // keyframe), IDR, SEI.
        assert_eq!(packets.len(), 5);
        assert_eq!(route(&packets[0]), Some((TrackKind::Video, true)));
        for p in &packets[1..] {
            assert_eq!((p[0], p[1]), (b'$', VIDEO_CHANNEL));
            assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len() - 4);
        }
        assert_eq!(packets[1][4 + 12], 0x67);
        assert_eq!(packets[3][4 + 12], 0x65);
        m.mux(&StreamEvent::Replaced, Class::Reset, &mut out);
        assert!(matches!(out.pop(), Some(Rtp::Reset)));
    }

    #[test]
    fn g711_gets_a_header_from_its_first_frame() {
        let mut m = RtspMuxer::new("t".into());
        let mut out = Vec::new();
        let codec = Codec::Pcma {
            sample_rate: 8000,
            channels: 1,
        };
        m.mux(
            &StreamEvent::Frame(frame(
                TrackKind::Audio,
                codec,
                0,
                false,
                false,
                vec![0xd5; 160],
            )),
            Class::Key,
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[0], Rtp::Media { media: Some(m), class: Class::Header(1), .. } if m.payload_type == 8)
        );
        assert!(matches!(&out[1], Rtp::Media { packets, .. } if packets[0][1] == AUDIO_CHANNEL));
    }
}
