//! Retina's demuxed frames to hub [`Frame`]s.
//!
//! Retina depacketizes (FU-A/AP reassembly, AAC AU headers, G.711) and
//! hands out access units with their RTP timestamp; this module maps them
//! onto weir's media model the same way the RTSP server's publishers do
//! (`weir-server-rtsp`'s `publish.rs`), with the same shared helpers:
//! - H.264/H.265 come 4-byte length-prefixed (retina's `FrameFormat::MP4`);
//!   access unit delimiters are dropped (every output adds its own); the
//!   parameter sets retina reports (from the SDP's `sprop-*` or in band)
//!   become an avcC/hvcC config frame ([`weir_codec::record_write`]) each
//!   time they change; video waits for its first parameter sets.
//! - AAC's config is retina's AudioSpecificConfig; G.711 needs none.
//! - Time: each track's RTP time since the start of the presentation
//!   (retina's `Timestamp::elapsed`, which `RTP-Info` aligns across tracks
//!   when the camera sends it), rescaled to microseconds
//!   ([`weir_media::rescale`]) plus [`LEAD_US`]; video decode times come
//!   from [`weir_media::dts`].

use bytes::Bytes;
use weir_codec::nal::{split_length_prefixed, write_length_prefixed, NalSyntax};
use weir_codec::record_write::{avc_decoder_config, hevc_decoder_config};
use weir_media::{rescale, Codec, DtsDeriver, Frame, TrackKind, US_HZ};

/// Added to every timestamp so that the derived decode times of the first
/// video frames (which precede the first presentation time) stay
/// non-negative; the RTSP server's publishers use the same lead.
pub const LEAD_US: i64 = 200_000;

fn time_us(elapsed: i64, clock: u32) -> i64 {
    rescale(elapsed.max(0), clock, US_HZ).saturating_add(LEAD_US)
}

/// One video track of a camera.
#[derive(Debug)]
pub struct VideoTrack {
    syntax: NalSyntax,
    clock: u32,
    /// VPS (H.265 only), SPS, PPS of the config frame sent last.
    sent: Option<[Bytes; 3]>,
    dts: DtsDeriver<Frame>,
}

impl VideoTrack {
    /// H.264 (`hevc = false`) or H.265 with an RTP clock of `clock` Hz.
    pub fn new(hevc: bool, clock: u32) -> Self {
        VideoTrack {
            syntax: if hevc {
                NalSyntax::Hevc
            } else {
                NalSyntax::Avc
            },
            clock: clock.max(1),
            sent: None,
            dts: DtsDeriver::new(),
        }
    }

    fn codec(&self) -> Codec {
        match self.syntax {
            NalSyntax::Avc => Codec::H264,
            NalSyntax::Hevc => Codec::H265,
        }
    }

    /// The track's current parameter sets (`vps` empty for H.264): a
    /// config frame goes out when they differ from the last ones sent.
    /// Sets that make no decoder record are ignored (and video keeps
    /// waiting for good ones).
    pub fn params(&mut self, vps: &[u8], sps: &[u8], pps: &[u8], out: &mut Vec<Frame>) {
        let sets = [
            Bytes::copy_from_slice(vps),
            Bytes::copy_from_slice(sps),
            Bytes::copy_from_slice(pps),
        ];
        if self.sent.as_ref() == Some(&sets) {
            return;
        }
        let record = match self.syntax {
            NalSyntax::Avc => avc_decoder_config(sps, pps),
            NalSyntax::Hevc => hevc_decoder_config(vps, sps, pps),
        };
        let Ok(record) = record else {
            tracing::debug!(codec = ?self.codec(), "parameter sets make no decoder record");
            return;
        };
        self.sent = Some(sets);
        // At the last decode time handed out: the frames still in the
        // deriver precede it in decoding order.
        let at = self.dts.last_dts().unwrap_or(0);
        out.push(Frame {
            kind: TrackKind::Video,
            codec: self.codec(),
            dts_us: at,
            cts_us: 0,
            key: false,
            config: true,
            data: record,
        });
    }

    /// One access unit: `data` 4-byte length-prefixed NAL units, `elapsed`
    /// its RTP time since the start in clock ticks. The frame that is
    /// ready now (two units later, see [`weir_media::dts`]) is appended.
    /// Units before the first config, and malformed ones, are dropped.
    pub fn frame(&mut self, elapsed: i64, key: bool, data: &[u8], out: &mut Vec<Frame>) {
        if self.sent.is_none() {
            return;
        }
        let Ok(units) = split_length_prefixed(data, 4) else {
            return;
        };
        let units: Vec<&[u8]> = units
            .into_iter()
            .filter(|u| !self.syntax.is_aud(u[0]))
            .collect();
        if units.is_empty() {
            return;
        }
        let mut body = Vec::with_capacity(data.len());
        if write_length_prefixed(&units, 4, &mut body).is_err() {
            return;
        }
        let time = time_us(elapsed, self.clock);
        let frame = Frame {
            kind: TrackKind::Video,
            codec: self.codec(),
            dts_us: time,
            cts_us: 0,
            key,
            config: false,
            data: Bytes::from(body),
        };
        if let Some((dts, pts, f)) = self.dts.push(time, frame) {
            out.push(Frame {
                dts_us: dts,
                cts_us: i32::try_from(pts - dts).unwrap_or(0),
                ..f
            });
        }
    }
}

/// One audio track of a camera.
#[derive(Debug)]
pub struct AudioTrack {
    codec: Codec,
    clock: u32,
    /// The config frame still to send before the first audio frame.
    config: Option<Bytes>,
}

impl AudioTrack {
    /// AAC with its AudioSpecificConfig, at `clock` Hz.
    pub fn aac(clock: u32, audio_specific_config: Bytes) -> Self {
        AudioTrack {
            codec: Codec::Aac,
            clock: clock.max(1),
            config: Some(audio_specific_config),
        }
    }

    /// G.711 (`alaw` true: PCMA, else PCMU) at `rate` Hz.
    pub fn g711(alaw: bool, rate: u32, channels: u16) -> Self {
        let sample_rate = rate.max(1);
        let channels = channels.clamp(1, 8) as u8;
        let codec = Codec::g711(alaw, sample_rate, channels);
        AudioTrack {
            codec,
            clock: sample_rate,
            config: None,
        }
    }

    /// One audio frame at `elapsed` clock ticks since the start.
    pub fn frame(&mut self, elapsed: i64, data: &[u8], out: &mut Vec<Frame>) {
        let time = time_us(elapsed, self.clock);
        if let Some(config) = self.config.take() {
            out.push(audio(self.codec, time, true, config));
        }
        if !data.is_empty() {
            out.push(audio(self.codec, time, false, Bytes::copy_from_slice(data)));
        }
    }
}

fn audio(codec: Codec, time: i64, config: bool, data: Bytes) -> Frame {
    Frame {
        kind: TrackKind::Audio,
        codec,
        dts_us: time,
        cts_us: 0,
        key: false,
        config,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The parameter sets of the RTSP server's publish tests.
    const SPS: [u8; 6] = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    const PPS: [u8; 4] = [0x68, 0xeb, 0xe3, 0xcb];

    fn lp(units: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        write_length_prefixed(units, 4, &mut v).unwrap();
        v
    }

    #[test]
    fn h264_waits_for_params_then_sends_avcc_and_frames_in_microseconds() {
        let mut t = VideoTrack::new(false, 90_000);
        let mut out = Vec::new();
        t.frame(0, true, &lp(&[&[0x65, 1]]), &mut out);
        assert!(out.is_empty(), "no frame before the parameter sets");
        t.params(&[], &SPS, &PPS, &mut out);
        t.params(&[], &SPS, &PPS, &mut out);
        assert_eq!(out.len(), 1, "one config for unchanged sets");
        let avcc = weir_codec::avc::parse_avc_config(&out[0].data).unwrap();
        assert_eq!(&avcc.sps[0][..], &SPS);
        assert!(out[0].config && out[0].codec == Codec::H264);
        // AUD + IDR, then two P frames 3000 ticks (1/30 s) apart.
        t.frame(0, true, &lp(&[&[0x09, 0xf0], &[0x65, 1, 2]]), &mut out);
        t.frame(3000, false, &lp(&[&[0x41, 3]]), &mut out);
        assert_eq!(out.len(), 1, "two frames of reorder delay");
        t.frame(6000, false, &lp(&[&[0x41, 4]]), &mut out);
        t.frame(9000, false, &lp(&[&[0x41, 5]]), &mut out);
        let [_, idr, p] = &out[..] else {
            panic!("{out:?}")
        };
        assert!(idr.key && !idr.config);
        assert_eq!(&idr.data[..], &[0, 0, 0, 3, 0x65, 1, 2], "AUD dropped");
        assert_eq!(idr.pts_us(), LEAD_US);
        assert_eq!(p.pts_us() - idr.pts_us(), 33_333);
        assert!(idr.dts_us >= 0 && idr.dts_us <= idr.pts_us() && p.dts_us > idr.dts_us);
        // New parameter sets: a new config frame.
        let mut sps2 = SPS;
        sps2[3] = 0x28;
        t.params(&[], &sps2, &PPS, &mut out);
        assert!(out.last().unwrap().config);
        // Malformed length prefixes are dropped, never panic.
        let before = out.len();
        t.frame(12000, false, &[0, 0, 0, 9, 0x41], &mut out);
        t.frame(12000, false, &[], &mut out);
        assert_eq!(out.len(), before);
    }

    // Captured from the e2e test camera (`crates/app/tests/cameras/
    // rtsp_camera.py`, gst-rtsp-server 1.22): the `sprop-*` of its
    // DESCRIBE answers, which retina reports as the tracks' parameters.
    // h264-aac: x264enc tune=zerolatency speed-preset=ultrafast, 320x240.
    const H264_SPS: [u8; 27] = [
        0x67, 0x42, 0xc0, 0x15, 0xda, 0x05, 0x07, 0xec, 0x05, 0xa8, 0x30, 0x30, 0x35, 0x28, 0x00,
        0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xb1, 0x75,
    ];
    const H264_PPS: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];
    // h265-pcma: x265enc tune=zerolatency speed-preset=ultrafast, 320x240.
    const H265_VPS: [u8; 23] = [
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x98, 0x08, 0x00,
        0x00, 0x03, 0x00, 0x00, 0x3f, 0xba, 0x02, 0x40,
    ];
    const H265_SPS: [u8; 49] = [
        0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x98, 0x08, 0x00, 0x00, 0x03, 0x00,
        0x00, 0x3f, 0x90, 0x01, 0x41, 0x01, 0xe2, 0x29, 0x4b, 0x74, 0x94, 0x98, 0x5f, 0xfe, 0x00,
        0x02, 0x00, 0x02, 0xd4, 0x18, 0x18, 0x18, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00,
        0x03, 0x01, 0xe0, 0x80,
    ];
    const H265_PPS: [u8; 8] = [0x44, 0x01, 0xc0, 0x70, 0x30, 0x60, 0x31, 0x20];

    #[test]
    fn captured_camera_parameter_sets_make_avcc_and_hvcc() {
        let mut out = Vec::new();
        let mut h264 = VideoTrack::new(false, 90_000);
        h264.params(&[], &H264_SPS, &H264_PPS, &mut out);
        let mut h265 = VideoTrack::new(true, 90_000);
        h265.params(&H265_VPS, &H265_SPS, &H265_PPS, &mut out);
        let [avc, hevc] = &out[..] else {
            panic!("{out:?}")
        };

        assert_eq!((avc.codec, avc.config), (Codec::H264, true));
        let avcc = weir_codec::avc::parse_avc_config(&avc.data).unwrap();
        assert_eq!(
            (avcc.profile, avcc.level),
            (66, 21),
            "Constrained Baseline 2.1"
        );
        assert_eq!(&avcc.pps[0][..], &H264_PPS);
        let sps = weir_codec::avc::parse_sps(&avcc.sps[0]).unwrap();
        assert_eq!((sps.width, sps.height), (320, 240));

        assert_eq!((hevc.codec, hevc.config), (Codec::H265, true));
        let hvcc = weir_codec::hevc::parse_hevc_config(&hevc.data).unwrap();
        assert_eq!(hvcc.nal_length_size, 4);
        assert_eq!(&hvcc.vps[0][..], &H265_VPS);
        let sps = weir_codec::hevc::parse_hevc_sps(&hvcc.sps[0]).unwrap();
        assert_eq!((sps.width, sps.height), (320, 240));

        // An IRAP (type 19, IDR_W_RADL) access unit then plays.
        let mut frames = Vec::new();
        for (i, nal) in [[0x26u8, 0x01, 0xaf], [0x02, 0x01, 0xd0], [0x02, 0x01, 0xd1]]
            .iter()
            .enumerate()
        {
            h265.frame(3000 * i as i64, i == 0, &lp(&[nal]), &mut frames);
        }
        assert!(frames[0].key && frames[0].codec == Codec::H265);
    }

    #[test]
    fn bad_parameter_sets_make_no_config() {
        let mut t = VideoTrack::new(true, 90_000);
        let mut out = Vec::new();
        t.params(&[0x40], &[0x42], &[0x44], &mut out);
        t.frame(0, true, &lp(&[&[0x26, 0x01, 0xaf]]), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn aac_sends_its_config_first_and_g711_none() {
        let asc = Bytes::from_static(&[0x12, 0x10]);
        let mut aac = AudioTrack::aac(44_100, asc.clone());
        let mut out = Vec::new();
        aac.frame(1024, &[1, 2], &mut out);
        aac.frame(2048, &[3], &mut out);
        assert_eq!(out.len(), 3);
        assert!(out[0].config && out[0].data == asc && out[0].codec == Codec::Aac);
        assert_eq!(out[1].dts_us, LEAD_US + 23_220);
        assert_eq!(out[2].dts_us - out[1].dts_us, 23_220);

        let mut pcma = AudioTrack::g711(true, 8000, 1);
        let mut out = Vec::new();
        pcma.frame(160, &[0xd5; 160], &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].codec,
            Codec::Pcma {
                sample_rate: 8000,
                channels: 1
            }
        );
        assert_eq!(out[0].dts_us, LEAD_US + 20_000);
        let mut pcmu = AudioTrack::g711(false, 8000, 0);
        pcmu.frame(-5, &[0xff], &mut out);
        assert!(matches!(out[1].codec, Codec::Pcmu { channels: 1, .. }));
        assert_eq!(
            out[1].dts_us, LEAD_US,
            "negative elapsed clamps to the start"
        );
    }
}
