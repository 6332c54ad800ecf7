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
//!   to microseconds ([`weir_media::rescale`]) plus [`LEAD_US`]; video
//!   decode times come from [`weir_media::dts`]. A/V sync therefore assumes
//!   the tracks' first packets were taken together (true of encoders;
//!   RTCP sender reports are not used yet).

use bytes::Bytes;
use weir_codec::nal::write_length_prefixed;
use weir_codec::record_write::{avc_decoder_config, hevc_decoder_config};
use weir_media::{rescale, Codec, Frame, TrackKind, US_HZ};
use weir_rtsp::depacketize::{latm_audio_specific_config, AccessUnit, Depacketizer};
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::{Codec as SdpCodec, Media, MediaKind};

use weir_media::DtsDeriver;

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
    depack: Depacketizer,
    clock: u32,
    kind: Kind,
    first: Option<u64>,
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
            depack,
            clock: media.clock_rate,
            kind,
            first: None,
            sent: None,
            audio_config_sent: false,
            dts: DtsDeriver::new(),
        })
    }

    /// Packets lost and access units dropped so far, for the log.
    pub(crate) fn losses(&self) -> (u64, u64) {
        let s = self.depack.stats();
        (s.lost, s.dropped_units)
    }

    /// Feeds one RTP packet; frames ready for the hub are appended to
    /// `out`. An error means a malformed packet (counted by the caller).
    pub(crate) fn on_packet(
        &mut self,
        packet: &Packet,
        out: &mut Vec<Frame>,
    ) -> Result<(), weir_rtsp::RtspError> {
        let mut units = Vec::new();
        let result = self.depack.handle_packet(packet, &mut units);
        for unit in units {
            self.on_unit(unit, out);
        }
        result
    }

    fn time_us(&mut self, timestamp: u64) -> i64 {
        let first = *self.first.get_or_insert(timestamp);
        let ticks = timestamp as i64 - first as i64;
        rescale(ticks, self.clock, US_HZ).saturating_add(LEAD_US)
    }

    fn on_unit(&mut self, unit: AccessUnit, out: &mut Vec<Frame>) {
        let time = self.time_us(unit.timestamp);
        match &mut self.kind {
            Kind::Audio { codec, config } => {
                let codec = *codec;
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
                let Some(video) = self.video_frame(hevc, unit, time, out) else {
                    return;
                };
                if let Some((dts, pts, f)) = self.dts.push(time, video) {
                    out.push(Frame {
                        dts_us: dts,
                        cts_us: i32::try_from(pts - dts).unwrap_or(0),
                        ..f
                    });
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
            .on_packet(&packet(7, base, &[0x65, 1, 2]), &mut out)
            .unwrap();
        track
            .on_packet(&packet(8, base + 3000, &[0x41, 3]), &mut out)
            .unwrap();
        assert_eq!(
            out.len(),
            1,
            "only the config frame before the reorder depth"
        );
        track
            .on_packet(&packet(9, base.wrapping_add(6000), &[0x41, 4]), &mut out)
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
        track.on_packet(&packet(1, 1000, &au(1)), &mut out).unwrap();
        track
            .on_packet(&packet(2, 1000 + 44_100, &au(2)), &mut out)
            .unwrap();
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].config && out[0].data == config);
        assert_eq!(&out[1].data[..], &[1, 1]);
        assert_eq!(out[2].dts_us - out[1].dts_us, 1_000_000);
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
