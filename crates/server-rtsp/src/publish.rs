//! The publishing side of a session: RTP packets of the announced tracks
//! in, `weir_media::Frame`s out to the hub.
//!
//! Per track, a `weir-rtsp` depacketizer makes access units; this module
//! maps them onto weir's media model:
//! - H.264/H.265 NAL units become 4-byte length-prefixed frames, and the
//!   parameter sets (from the SDP's `sprop-*`, replaced by in-band ones
//!   when they change) become an avcC/hvcC config frame; video waits for
//!   its first parameter sets.
//! - AAC gets its AudioSpecificConfig from the SDP (`config=`, or the
//!   LATM StreamMuxConfig), Opus an `OpusHead`, G.711 needs none.
//! - Time: each track's RTP clock, relative to its first packet, rescaled
//!   to microseconds ([`weir_media::rescale`]) plus [`LEAD_US`], until the
//!   publisher's RTCP sender reports put the tracks on one wall-clock
//!   timeline ([`weir_rtsp::sync`]: A/V sync); video decode times come
//!   from [`weir_media::dts`]. Audio times never step back: when its first
//!   report moves a track back, the frames that overlap are dropped.
//! - UDP: packets go through a reorder buffer bounded in packets and time
//!   ([`REORDER_PACKETS`], [`REORDER_DELAY`]); TCP needs none.
//! - Quality: per-track receiver statistics (loss from sequence numbers,
//!   RFC 3550 jitter) become the client's [`PacketStats`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_codec::nal::write_length_prefixed;
use weir_codec::record_write::{avc_decoder_config, hevc_decoder_config};
use weir_hub::PacketStats;
use weir_media::{rescale, Codec, Frame, TrackKind, US_HZ};
use weir_rtsp::depacketize::{latm_audio_specific_config, AccessUnit, Depacketizer};
use weir_rtsp::reorder::ReorderBuffer;
use weir_rtsp::rtcp::{parse_rtcp, ReceiverStats, RtcpEvent};
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::{Codec as SdpCodec, Media, MediaKind, SessionDescription};
use weir_rtsp::sync::SenderSync;

use weir_media::DtsDeriver;

/// Packets a UDP publisher's track may wait behind a gap before the gap
/// counts as lost.
pub(crate) const REORDER_PACKETS: usize = 64;
/// How long a UDP publisher's packets may wait behind a gap: what a lost
/// packet costs in latency at most.
pub(crate) const REORDER_DELAY: Duration = Duration::from_millis(100);

/// Why a packet from a publisher was not used (counted by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadPacket {
    /// Malformed RTP, or a payload its depacketizer refused.
    Rtp,
    /// Malformed RTCP.
    Rtcp,
}

/// Everything a publishing session keeps about its announced tracks.
pub(crate) struct Publishing {
    /// By SDP index; `None` for tracks weir cannot read.
    tracks: Vec<Option<InTrack>>,
    /// By SDP index, used only for packets that came over UDP.
    reorder: Vec<ReorderBuffer>,
    sync: SenderSync,
    /// Origin of the arrival times the receiver statistics take.
    origin: Instant,
}

impl Publishing {
    /// The tracks of an ANNOUNCE's SDP; `None` when weir reads none.
    pub(crate) fn new(sdp: &SessionDescription, now: Instant) -> Option<Publishing> {
        let tracks: Vec<Option<InTrack>> = sdp
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| InTrack::new(m).map(|t| t.with_index(i)))
            .collect();
        if tracks.iter().all(Option::is_none) {
            return None;
        }
        Some(Publishing {
            reorder: tracks
                .iter()
                .map(|_| ReorderBuffer::new(REORDER_PACKETS, REORDER_DELAY))
                .collect(),
            sync: SenderSync::new(tracks.len()),
            tracks,
            origin: now,
        })
    }

    /// How many media sections the SDP had.
    pub(crate) fn len(&self) -> usize {
        self.tracks.len()
    }

    /// An RTP packet on `track` that arrived at `now`; over UDP it goes
    /// through the track's reorder buffer. Frames for the hub are appended
    /// to `out`.
    pub(crate) fn on_rtp(
        &mut self,
        now: Instant,
        track: usize,
        data: Bytes,
        udp: bool,
        out: &mut Vec<Frame>,
    ) -> Result<(), BadPacket> {
        let Some(Some(t)) = self.tracks.get_mut(track) else {
            return Ok(());
        };
        let packet = Packet::parse(data).map_err(|_| BadPacket::Rtp)?;
        t.stats
            .on_rtp(packet.seq, packet.timestamp, now - self.origin);
        let Some(reorder) = self.reorder.get_mut(track).filter(|_| udp) else {
            return t.on_packet(&packet, &mut self.sync, out);
        };
        reorder.push(now, packet);
        let mut result = Ok(());
        while let Some(p) = reorder.pop(now) {
            if t.on_packet(&p, &mut self.sync, out).is_err() {
                result = Err(BadPacket::Rtp);
            }
        }
        result
    }

    /// An RTCP packet on `track`'s channel: sender reports put the tracks
    /// on one timeline.
    pub(crate) fn on_rtcp(
        &mut self,
        now: Instant,
        track: usize,
        data: &[u8],
    ) -> Result<(), BadPacket> {
        let events = parse_rtcp(data).map_err(|_| BadPacket::Rtcp)?;
        let Some(Some(t)) = self.tracks.get_mut(track) else {
            return Ok(());
        };
        for event in events {
            if let RtcpEvent::Sender(info) = event {
                t.stats.on_sender_report(info.ntp, now - self.origin);
                self.sync.on_sender_report(track, info, t.clock);
            }
        }
        Ok(())
    }

    /// When a reorder buffer gives up waiting for a missing packet, if any
    /// waits: call [`Publishing::handle_timeout`] then.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.reorder
            .iter()
            .filter_map(ReorderBuffer::poll_timeout)
            .min()
    }

    /// Delivers what the reorder buffers release by `now`.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        out: &mut Vec<Frame>,
    ) -> Result<(), BadPacket> {
        let mut result = Ok(());
        for (t, reorder) in self.tracks.iter_mut().zip(&mut self.reorder) {
            let Some(t) = t else { continue };
            while let Some(p) = reorder.pop(now) {
                if t.on_packet(&p, &mut self.sync, out).is_err() {
                    result = Err(BadPacket::Rtp);
                }
            }
        }
        result
    }

    /// Packets received and lost over all tracks, and the worst track's
    /// jitter.
    pub(crate) fn stats(&self) -> PacketStats {
        let mut total = PacketStats::default();
        for t in self.tracks.iter().flatten() {
            total.packets += t.stats.received();
            total.lost += t.stats.lost().max(0) as u64;
            let jitter_us = u64::from(t.stats.jitter()) * 1_000_000 / u64::from(t.clock);
            total.jitter_us = total.jitter_us.max(jitter_us);
        }
        total
    }

    /// Access units dropped over all tracks (damaged by a loss, or audio
    /// overlapping when the sender reports moved it back), for the log.
    pub(crate) fn dropped_units(&self) -> u64 {
        self.tracks
            .iter()
            .flatten()
            .map(|t| t.depack.stats().dropped_units + t.audio_overlap)
            .sum()
    }

    /// Whether the tracks are on the sender reports' common timeline.
    pub(crate) fn synced(&self) -> bool {
        self.sync.is_synced()
    }
}

/// Added to every timestamp, so that the derived decode times of the first
/// video frames (which precede the first presentation time) stay
/// non-negative.
pub(crate) const LEAD_US: i64 = 200_000;

/// The parameter sets of a video track.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ParamSets {
    vps: Option<Bytes>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
}

enum Kind {
    H264(ParamSets),
    H265(ParamSets),
    /// The config frame to send first (AAC, Opus), if any.
    Audio {
        codec: Codec,
        config: Option<Bytes>,
    },
}

/// One announced track that weir reads.
pub(crate) struct InTrack {
    /// Its SDP index (for the sender reports).
    index: usize,
    depack: Depacketizer,
    clock: u32,
    kind: Kind,
    stats: ReceiverStats,
    first: Option<u64>,
    /// The last audio time handed out: audio never steps back.
    last_audio_us: i64,
    /// Audio frames dropped for lying behind that time.
    audio_overlap: u64,
    /// Units the depacketizer had dropped at the last video unit: more
    /// now means a gap, and the decode-time deriver restarts at the
    /// keyframe after it.
    seen_dropped: u64,
    /// Config frame sent for the current parameter sets.
    sent: Option<ParamSets>,
    audio_config_sent: bool,
    dts: DtsDeriver<Frame>,
}

impl InTrack {
    /// The track for a media section, `None` when weir cannot read it.
    pub(crate) fn new(media: &Media) -> Option<InTrack> {
        let depack = Depacketizer::new(media)?;
        let channels = media.channels.clamp(1, 8) as u8;
        let kind = match (&media.kind, &media.codec) {
            (MediaKind::Video, SdpCodec::H264(p)) => Kind::H264(ParamSets {
                vps: None,
                sps: p.sps.clone(),
                pps: p.pps.clone(),
            }),
            (MediaKind::Video, SdpCodec::H265(p)) => Kind::H265(ParamSets {
                vps: p.vps.clone(),
                sps: p.sps.clone(),
                pps: p.pps.clone(),
            }),
            (MediaKind::Audio, SdpCodec::Aac(p)) => Kind::Audio {
                codec: Codec::Aac,
                config: Some(p.config.clone()),
            },
            (MediaKind::Audio, SdpCodec::Latm(p)) => Kind::Audio {
                codec: Codec::Aac,
                config: Some(latm_audio_specific_config(p.config.as_deref()?)?),
            },
            (MediaKind::Audio, SdpCodec::Opus) => Kind::Audio {
                codec: Codec::Opus,
                config: Some(opus_head(channels)),
            },
            (MediaKind::Audio, SdpCodec::Pcma) => Kind::Audio {
                codec: Codec::Pcma {
                    sample_rate: media.clock_rate,
                    channels,
                },
                config: None,
            },
            (MediaKind::Audio, SdpCodec::Pcmu) => Kind::Audio {
                codec: Codec::Pcmu {
                    sample_rate: media.clock_rate,
                    channels,
                },
                config: None,
            },
            _ => return None,
        };
        (media.clock_rate > 0).then(|| InTrack {
            index: 0,
            depack,
            clock: media.clock_rate,
            kind,
            stats: ReceiverStats::new(media.clock_rate),
            first: None,
            last_audio_us: i64::MIN,
            audio_overlap: 0,
            seen_dropped: 0,
            sent: None,
            audio_config_sent: false,
            dts: DtsDeriver::new(),
        })
    }

    fn with_index(mut self, index: usize) -> Self {
        self.index = index;
        self
    }

    /// Feeds one RTP packet (in order); frames ready for the hub are
    /// appended to `out`. An error means a payload the depacketizer
    /// refused.
    fn on_packet(
        &mut self,
        packet: &Packet,
        sync: &mut SenderSync,
        out: &mut Vec<Frame>,
    ) -> Result<(), BadPacket> {
        let mut units = Vec::new();
        let result = self.depack.handle_packet(packet, &mut units);
        for unit in units {
            self.on_unit(unit, sync, out);
        }
        result.map_err(|_| BadPacket::Rtp)
    }

    /// The unit's time on the stream's timeline: from the sender reports
    /// once this track has one, else from its first packet.
    fn time_us(&mut self, timestamp: u64, sync: &mut SenderSync) -> i64 {
        let first = *self.first.get_or_insert(timestamp);
        let ticks = timestamp as i64 - first as i64;
        let own = rescale(ticks, self.clock, US_HZ).saturating_add(LEAD_US);
        // A track captured more than the lead before the first reported
        // one would start below zero: its first units are held at 0.
        sync.time_us(self.index, timestamp as u32, own).max(0)
    }

    fn on_unit(&mut self, unit: AccessUnit, sync: &mut SenderSync, out: &mut Vec<Frame>) {
        let time = self.time_us(unit.timestamp, sync);
        match &mut self.kind {
            Kind::Audio { codec, config } => {
                let codec = *codec;
                if time <= self.last_audio_us {
                    // Behind the last frame: the track moved back when its
                    // first sender report arrived. Audio frames stand alone,
                    // so the overlap is dropped rather than sent with
                    // repeated times (which players misread).
                    self.audio_overlap += 1;
                    return;
                }
                self.last_audio_us = time;
                if !self.audio_config_sent {
                    self.audio_config_sent = true;
                    if let Some(config) = config.clone() {
                        out.push(frame(TrackKind::Audio, codec, time, 0, false, true, config));
                    }
                }
                for data in unit.units {
                    out.push(frame(TrackKind::Audio, codec, time, 0, false, false, data));
                }
            }
            Kind::H264(_) | Kind::H265(_) => {
                let hevc = matches!(self.kind, Kind::H265(_));
                let dropped = self.depack.stats().dropped_units;
                if dropped > self.seen_dropped && unit.keyframe {
                    self.seen_dropped = dropped;
                    for ready in self.dts.restart() {
                        out.push(timed(ready));
                    }
                }
                let Some(video) = self.video_frame(hevc, unit, time, out) else {
                    return;
                };
                if let Some(ready) = self.dts.push(time, video) {
                    out.push(timed(ready));
                }
            }
        }
    }

    /// Picks up in-band parameter sets, sends a config frame when they
    /// change, and builds the length-prefixed frame (timestamps set later).
    fn video_frame(
        &mut self,
        hevc: bool,
        unit: AccessUnit,
        time: i64,
        out: &mut Vec<Frame>,
    ) -> Option<Frame> {
        let (Kind::H264(params) | Kind::H265(params)) = &mut self.kind else {
            return None;
        };
        let mut nals: Vec<&[u8]> = Vec::with_capacity(unit.units.len());
        for nal in &unit.units {
            let Some(&b0) = nal.first() else { continue };
            let t = if hevc { (b0 >> 1) & 0x3f } else { b0 & 0x1f };
            match (hevc, t) {
                (false, 7) | (true, 33) => params.sps = Some(nal.clone()),
                (false, 8) | (true, 34) => params.pps = Some(nal.clone()),
                (true, 32) => params.vps = Some(nal.clone()),
                // Access unit delimiters: the other outputs add their own.
                (false, 9) | (true, 35) => continue,
                _ => {}
            }
            nals.push(nal);
        }
        let (codec, record) = if hevc {
            let (Some(v), Some(s), Some(p)) = (&params.vps, &params.sps, &params.pps) else {
                return None;
            };
            (Codec::H265, hevc_decoder_config(v, s, p))
        } else {
            let (Some(s), Some(p)) = (&params.sps, &params.pps) else {
                return None;
            };
            (Codec::H264, avc_decoder_config(s, p))
        };
        if self.sent.as_ref() != Some(params) {
            let record = record.ok()?;
            self.sent = Some(params.clone());
            // Placed at the last decode time handed out: the frames still
            // in the deriver precede it in decoding order.
            let at = self.dts.last_dts().unwrap_or(0);
            out.push(frame(TrackKind::Video, codec, at, 0, false, true, record));
        }
        let mut data = Vec::with_capacity(unit.units.iter().map(|u| u.len() + 4).sum());
        write_length_prefixed(&nals, 4, &mut data).ok()?;
        Some(frame(
            TrackKind::Video,
            codec,
            time,
            0,
            unit.keyframe,
            false,
            Bytes::from(data),
        ))
    }
}

/// A video frame with the times the decode-time deriver gave it.
fn timed((dts, pts, f): (i64, i64, Frame)) -> Frame {
    Frame {
        dts_us: dts,
        cts_us: i32::try_from(pts - dts).unwrap_or(0),
        ..f
    }
}

fn frame(
    kind: TrackKind,
    codec: Codec,
    dts_us: i64,
    cts_us: i32,
    key: bool,
    config: bool,
    data: Bytes,
) -> Frame {
    Frame {
        kind,
        codec,
        dts_us,
        cts_us,
        key,
        config,
        data,
    }
}

/// The `OpusHead` (RFC 7845 §5.1) Opus config frames carry: RTP says only
/// the channel count, which is all a decoder needs here.
fn opus_head(channels: u8) -> Bytes {
    let mut h = b"OpusHead".to_vec();
    h.push(1);
    h.push(channels.min(2));
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    Bytes::from(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_rtsp::sdp::{AacParams, H264Params};

    const SPS: [u8; 6] = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    const PPS: [u8; 4] = [0x68, 0xeb, 0xe3, 0xcb];

    fn packet(seq: u16, ts: u32, payload: &[u8]) -> Packet {
        let raw = Packet::write(96, seq, ts, 1, true, &[payload]).unwrap();
        Packet::parse(raw).unwrap()
    }

    #[test]
    fn h264_units_become_avcc_frames_after_a_config_frame() {
        let media = Media {
            kind: MediaKind::Video,
            payload_type: 96,
            codec: SdpCodec::H264(H264Params {
                packetization_mode: 1,
                profile_level_id: None,
                sps: Some(Bytes::from_static(&SPS)),
                pps: Some(Bytes::from_static(&PPS)),
            }),
            clock_rate: 90_000,
            channels: 1,
            control: None,
        };
        let mut track = InTrack::new(&media).unwrap();
        let mut out = Vec::new();
        // An IDR then two P frames, 3000 ticks (33.3 ms) apart, from a
        // random RTP time origin.
        let base = 4_000_000_000u32;
        track
            .on_packet(
                &packet(7, base, &[0x65, 1, 2]),
                &mut SenderSync::default(),
                &mut out,
            )
            .unwrap();
        track
            .on_packet(
                &packet(8, base + 3000, &[0x41, 3]),
                &mut SenderSync::default(),
                &mut out,
            )
            .unwrap();
        assert_eq!(
            out.len(),
            1,
            "only the config frame before the reorder depth"
        );
        track
            .on_packet(
                &packet(9, base.wrapping_add(6000), &[0x41, 4]),
                &mut SenderSync::default(),
                &mut out,
            )
            .unwrap();
        let [config, idr] = &out[..] else {
            panic!("{out:?}");
        };
        assert!(config.config && config.codec == Codec::H264);
        let avcc = weir_codec::avc::parse_avc_config(&config.data).unwrap();
        assert_eq!(&avcc.sps[0][..], &SPS);
        assert!(idr.key && !idr.config);
        assert_eq!(&idr.data[..], &[0, 0, 0, 3, 0x65, 1, 2]);
        assert_eq!(idr.pts_us(), LEAD_US, "the first unit is at the lead");
        assert!(idr.dts_us <= idr.pts_us() && idr.dts_us >= 0);
    }

    #[test]
    fn aac_gets_its_config_from_the_sdp_and_times_from_its_clock() {
        let config = Bytes::from_static(&[0x12, 0x10]);
        let media = Media {
            kind: MediaKind::Audio,
            payload_type: 97,
            codec: SdpCodec::Aac(AacParams {
                config: config.clone(),
                size_length: 13,
                index_length: 3,
                index_delta_length: 3,
            }),
            clock_rate: 44_100,
            channels: 2,
            control: None,
        };
        let mut track = InTrack::new(&media).unwrap();
        let mut out = Vec::new();
        // AU-headers-length 16, one AU of 2 bytes.
        let au = |b: u8| [0x00, 0x10, 0x00, 0x10, b, b];
        track
            .on_packet(
                &packet(1, 1000, &au(1)),
                &mut SenderSync::default(),
                &mut out,
            )
            .unwrap();
        track
            .on_packet(
                &packet(2, 1000 + 44_100, &au(2)),
                &mut SenderSync::default(),
                &mut out,
            )
            .unwrap();
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].config && out[0].data == config);
        assert_eq!(&out[1].data[..], &[1, 1]);
        assert_eq!(out[2].dts_us - out[1].dts_us, 1_000_000);
    }

    /// H.264 video and AAC audio whose first packets carry the same RTP
    /// origin offsets but, by their sender reports, were captured 250 ms
    /// apart: audio lands 250 ms after video on the stream's timeline.
    #[test]
    fn sender_reports_put_tracks_on_one_timeline() {
        let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n\
                   m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                   a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QAH6zZ,aOvjyw==\r\n\
                   a=control:trackID=0\r\n\
                   m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\n\
                   a=fmtp:97 streamtype=5;mode=AAC-hbr;config=1190;sizelength=13;indexlength=3;indexdeltalength=3\r\n\
                   a=control:trackID=1\r\n";
        let sdp = SessionDescription::parse(sdp.as_bytes()).unwrap();
        let now = Instant::now();
        let mut p = Publishing::new(&sdp, now).unwrap();
        assert_eq!(p.len(), 2);
        let ntp_base = 3_900_000_000u64 << 32;
        let quarter = 1u64 << 30; // 0.25 s in NTP fraction units
        let sr = |ntp, rtp| weir_rtsp::rtcp::sender_report(1, ntp, rtp, 0, 0, "x").unwrap();
        p.on_rtcp(now, 0, &sr(ntp_base, 90_000)).unwrap();
        p.on_rtcp(now, 1, &sr(ntp_base + quarter, 48_000)).unwrap();
        let mut out = Vec::new();
        let au = |b: u8| [0x00, 0x10, 0x00, 0x10, b, b];
        let pkt =
            |seq, ts, payload: &[u8]| Packet::write(96, seq, ts, 1, true, &[payload]).unwrap();
        // Video: an IDR then P frames, so the decode-time deriver lets the
        // IDR out.
        for (i, nal) in [[0x65u8, 1], [0x41, 2], [0x41, 3]].iter().enumerate() {
            let ts = 90_000 + 3000 * i as u32;
            p.on_rtp(now, 0, pkt(10 + i as u16, ts, nal), false, &mut out)
                .unwrap();
        }
        p.on_rtp(now, 1, pkt(1, 48_000, &au(1)), false, &mut out)
            .unwrap();
        assert!(p.synced());
        let audio = out
            .iter()
            .find(|f| f.kind == TrackKind::Audio && !f.config)
            .unwrap();
        let idr = out.iter().find(|f| f.key).unwrap();
        assert_eq!(audio.pts_us() - idr.pts_us(), 250_000, "{out:?}");
        let stats = p.stats();
        assert_eq!((stats.packets, stats.lost), (4, 0));
    }

    /// Over UDP a gap holds later packets until the missing one arrives,
    /// or until the delay bound passes; then the loss is counted.
    #[test]
    fn udp_gaps_wait_a_bounded_time() {
        let sdp = "v=0\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=0\r\n";
        let sdp = SessionDescription::parse(sdp.as_bytes()).unwrap();
        let t0 = Instant::now();
        let mut p = Publishing::new(&sdp, t0).unwrap();
        let pkt = |seq| {
            Packet::write(0, seq, u32::from(seq) * 160, 1, false, &[&[0xd5; 160][..]]).unwrap()
        };
        let mut out = Vec::new();
        p.on_rtp(t0, 0, pkt(1), true, &mut out).unwrap();
        p.on_rtp(t0, 0, pkt(3), true, &mut out).unwrap();
        assert_eq!(out.len(), 1, "3 waits for 2");
        assert_eq!(p.poll_timeout(), Some(t0 + REORDER_DELAY));
        p.handle_timeout(t0 + REORDER_DELAY, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(p.poll_timeout(), None);
        let stats = p.stats();
        assert_eq!((stats.packets, stats.lost), (2, 1));
    }

    #[test]
    fn tracks_weir_cannot_read_are_none() {
        let media = Media {
            kind: MediaKind::Audio,
            payload_type: 100,
            codec: SdpCodec::Unknown("SPEEX".into()),
            clock_rate: 8000,
            channels: 1,
            control: None,
        };
        assert!(InTrack::new(&media).is_none());
    }
}
