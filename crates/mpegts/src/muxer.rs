//! [`TsMuxer`]: frames in, transport packets out.

use std::time::Duration;

use bytes::BytesMut;
use weir_media::{rescale, Codec, Frame, TrackKind, US_HZ};

use weir_codec::aac::{adts_header, parse_asc, AudioSpecificConfig};
use weir_codec::avc::parse_avc_config;
use weir_codec::hevc::parse_hevc_config;
use weir_codec::nal::{access_unit, split_length_prefixed, write_annex_b, NalConfig, NalSyntax};

use crate::packet::{
    pes_header, write_pat, write_pcr_only, write_pes, write_pmt, Counter, PesStart,
};
use crate::{StreamType, Tracks, TsError, AUDIO_PID, PMT_PID, VIDEO_PID};

/// Muxer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsConfig {
    /// Added to every PTS/DTS. The PCR runs this far behind the DTS, which
    /// is the decoder buffering time players are told about, and it keeps
    /// PTS positive for B-frames whose composition offset is negative.
    pub timestamp_offset: Duration,
    /// Longest allowed PCR gap. MPEG-TS requires at most 100 ms; video PES
    /// carry a PCR each (~33-40 ms apart), and stand-alone PCR packets fill
    /// any longer gap.
    pub max_pcr_interval: Duration,
}

impl Default for TsConfig {
    fn default() -> Self {
        TsConfig {
            timestamp_offset: Duration::from_millis(1000),
            max_pcr_interval: Duration::from_millis(100),
        }
    }
}

/// A PCR gap wider than this many intervals (10 s by default) is a
/// timeline jump: the PCR restarts at the new time, flagged as a
/// discontinuity, instead of being filled in packet by packet. Shorter
/// gaps (publisher stalls) are filled, at most this many packets.
const MAX_FILL_INTERVALS: i64 = 100;
const VIDEO_STREAM_ID: u8 = 0xe0;
const AUDIO_STREAM_ID: u8 = 0xc0;
const PTS_WRAP: i64 = 1 << 33;
/// The clock of PTS, DTS and the PCR base.
const TS_HZ: u32 = 90_000;

/// An MPEG-TS muxer for one program with at most one video and one audio
/// track.
///
/// It is meant to live as long as the stream: continuity counters, the PMT
/// version and the PCR clock carry over from one segment to the next, so
/// consecutive HLS segments form one valid transport stream.
#[derive(Debug)]
pub struct TsMuxer {
    offset_us: i64,
    pcr_interval_us: i64,
    /// Tracks seen (config or media) since creation or [`TsMuxer::restart`].
    tracks: Tracks,
    /// Tracks the last written PMT described.
    announced: Option<Tracks>,
    pmt_version: u8,
    pat_cc: Counter,
    pmt_cc: Counter,
    video_cc: Counter,
    audio_cc: Counter,
    video_config: Option<NalConfig>,
    aac_config: Option<AudioSpecificConfig>,
    /// Last PCR written, in stream microseconds (before the offset).
    last_pcr_us: Option<i64>,
    /// Reused buffer for the elementary stream of one frame.
    es: Vec<u8>,
}

impl TsMuxer {
    /// A muxer that has seen no track yet.
    pub fn new(cfg: TsConfig) -> Self {
        let us = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        TsMuxer {
            offset_us: us(cfg.timestamp_offset),
            pcr_interval_us: us(cfg.max_pcr_interval).max(1),
            tracks: Tracks::default(),
            announced: None,
            pmt_version: 0,
            pat_cc: Counter::default(),
            pmt_cc: Counter::default(),
            video_cc: Counter::default(),
            audio_cc: Counter::default(),
            video_config: None,
            aac_config: None,
            last_pcr_us: None,
            es: Vec::new(),
        }
    }

    /// The tracks announced by the next PMT: every track whose config or
    /// media frame has been pushed since creation or the last restart.
    pub fn tracks(&self) -> Tracks {
        self.tracks
    }

    /// Muxes one frame, appending whole packets to `out`.
    ///
    /// Config frames are remembered (parameter sets, AAC config) and write
    /// nothing. Script data is ignored. If a media frame brings a track the
    /// last PMT did not list, a new PAT/PMT (next version) goes out first.
    /// On error nothing is written and the muxer is unchanged, so the
    /// caller can drop the frame and carry on.
    pub fn push(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), TsError> {
        self.mux(frame, out, false)
    }

    /// Like [`TsMuxer::push`], but writes PAT and PMT first: the start of
    /// an HLS segment. It is one call so that a frame that fails to mux
    /// leaves no orphan tables behind and the caller need not cut.
    pub fn push_with_tables(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), TsError> {
        self.mux(frame, out, true)
    }

    /// Writes the PAT and PMT for the current tracks. HLS needs them at
    /// the start of every segment (see [`TsMuxer::push_with_tables`]); a
    /// continuous HTTP-TS stream should repeat them before keyframes so
    /// late joiners can tune in.
    pub fn write_tables(&mut self, out: &mut BytesMut) {
        if self.announced.is_some_and(|a| a != self.tracks) {
            self.pmt_version = (self.pmt_version + 1) & 0x1f;
        }
        self.announced = Some(self.tracks);
        let mut streams = Vec::with_capacity(2);
        if let Some(v) = self.tracks.video {
            streams.push((v.code(), VIDEO_PID));
        }
        if let Some(a) = self.tracks.audio {
            streams.push((a.code(), AUDIO_PID));
        }
        let pcr_pid = self.pcr_pid();
        write_pat(out, &mut self.pat_cc, PMT_PID);
        write_pmt(
            out,
            &mut self.pmt_cc,
            PMT_PID,
            self.pmt_version,
            pcr_pid,
            &streams,
        );
    }

    /// A new publisher takes over the stream: forget the tracks (the next
    /// PMT lists only what the new one sends) and the PCR clock (its
    /// timestamps may start anywhere), but keep continuity counters and the
    /// PMT version running so the transport stream itself stays
    /// continuous. Codec configs are kept until replaced: publishers send
    /// theirs before media, and keeping them avoids failing AAC frames if
    /// the adapter does not replay headers.
    pub fn restart(&mut self) {
        self.tracks = Tracks::default();
        self.last_pcr_us = None;
    }

    fn pcr_pid(&self) -> u16 {
        if self.tracks.video.is_some() || self.tracks.audio.is_none() {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }

    /// A PTS/DTS: stream time plus the offset, at 90 kHz (to the nearest
    /// tick; exact for whole milliseconds), modulo 2^33.
    fn ts90(&self, us: i64) -> u64 {
        rescale(us.saturating_add(self.offset_us), US_HZ, TS_HZ).rem_euclid(PTS_WRAP) as u64
    }

    fn mux(&mut self, frame: &Frame, out: &mut BytesMut, tables: bool) -> Result<(), TsError> {
        if frame.kind == TrackKind::Data || frame.codec == Codec::Amf0 {
            return Ok(());
        }
        let stream = StreamType::of(&frame.codec).ok_or(TsError::Unsupported(frame.codec))?;
        if frame.config {
            self.configure(stream, frame)?;
            return Ok(());
        }
        if frame.data.is_empty() {
            return Ok(());
        }
        // Build the elementary stream first: the only step that can fail.
        let mut es = std::mem::take(&mut self.es);
        es.clear();
        let built = self.elementary(stream, frame, &mut es);
        if let Err(e) = built {
            self.es = es;
            return Err(e);
        }
        self.add_track(stream);
        if tables || self.announced != Some(self.tracks) {
            self.write_tables(out);
        }
        let video = stream.is_video();
        let pid = if video { VIDEO_PID } else { AUDIO_PID };
        let carries_pcr = pid == self.pcr_pid();
        let pcr = self.run_clock(frame.dts_us, carries_pcr, out);
        let start = PesStart {
            pcr: pcr.map(|(pcr, _)| pcr),
            discontinuity: pcr.is_some_and(|(_, jumped)| jumped),
            random_access: if video { frame.key } else { carries_pcr },
        };
        let pts = self.ts90(frame.pts_us());
        let (header, len) = if video {
            pes_header(
                VIDEO_STREAM_ID,
                pts,
                Some(self.ts90(frame.dts_us)),
                es.len(),
                true,
            )
        } else {
            pes_header(AUDIO_STREAM_ID, pts, None, es.len(), false)
        };
        let cc = if video {
            &mut self.video_cc
        } else {
            &mut self.audio_cc
        };
        write_pes(out, pid, cc, start, &header[..len], &es);
        self.es = es;
        Ok(())
    }

    fn configure(&mut self, stream: StreamType, frame: &Frame) -> Result<(), TsError> {
        match stream {
            StreamType::H264 => {
                self.video_config = Some(NalConfig::avc(parse_avc_config(&frame.data)?));
            }
            StreamType::H265 => {
                self.video_config = Some(NalConfig::hevc(parse_hevc_config(&frame.data)?));
            }
            StreamType::Aac => {
                let asc = parse_asc(&frame.data)?;
                // Refuse now what ADTS cannot describe (PCE channel
                // layouts, rates outside its table), not at every frame.
                adts_header(&asc, 0)?;
                self.aac_config = Some(asc);
            }
            StreamType::Mpeg1Audio | StreamType::Mpeg2Audio => {}
        }
        self.add_track(stream);
        Ok(())
    }

    fn elementary(
        &self,
        stream: StreamType,
        frame: &Frame,
        es: &mut Vec<u8>,
    ) -> Result<(), TsError> {
        match stream {
            StreamType::H264 | StreamType::H265 => {
                let syntax = if stream == StreamType::H264 {
                    NalSyntax::Avc
                } else {
                    NalSyntax::Hevc
                };
                let fallback;
                let cfg = match &self.video_config {
                    Some(cfg) if cfg.syntax == syntax => cfg,
                    // No (matching) config yet: 4-byte lengths, as weir
                    // frames promise, and no parameter sets to add.
                    _ => {
                        fallback = NalConfig {
                            syntax,
                            length_size: 4,
                            parameter_sets: Vec::new(),
                        };
                        &fallback
                    }
                };
                // MPEG-TS has no side channel: every access unit gets a
                // delimiter, every random access point its parameter sets.
                let units = split_length_prefixed(&frame.data, cfg.length_size)?;
                write_annex_b(&access_unit(cfg, &units, frame.key, true), es);
                Ok(())
            }
            StreamType::Aac => {
                let cfg = self.aac_config.ok_or(TsError::NoAacConfig)?;
                es.extend_from_slice(&adts_header(&cfg, frame.data.len())?);
                es.extend_from_slice(&frame.data);
                Ok(())
            }
            StreamType::Mpeg1Audio | StreamType::Mpeg2Audio => {
                es.extend_from_slice(&frame.data);
                Ok(())
            }
        }
    }

    fn add_track(&mut self, stream: StreamType) {
        if stream.is_video() {
            self.tracks.video = Some(stream);
        } else {
            self.tracks.audio = Some(stream);
        }
    }

    /// Runs the PCR clock up to a PES at `now_us`: writes stand-alone PCR
    /// packets so no gap exceeds the interval, and returns the PCR (and its
    /// discontinuity flag) for the PES itself if it `carries` one.
    ///
    /// Small backward steps (audio/video interleaving) hold the clock; a
    /// jump of more than [`MAX_FILL_INTERVALS`] either way restarts it at
    /// `now_us` with the discontinuity indicator set.
    fn run_clock(&mut self, now_us: i64, carries: bool, out: &mut BytesMut) -> Option<(u64, bool)> {
        let pid = self.pcr_pid();
        let cc = if pid == VIDEO_PID {
            self.video_cc
        } else {
            self.audio_cc
        };
        let interval = self.pcr_interval_us;
        match self.last_pcr_us {
            Some(last)
                if now_us.saturating_sub(last).saturating_abs()
                    <= interval * MAX_FILL_INTERVALS =>
            {
                let mut t = last;
                while now_us - t > interval {
                    t += interval;
                    write_pcr_only(out, pid, cc, self.pcr90(t), false);
                }
                let t = if carries { now_us.max(t) } else { t };
                self.last_pcr_us = Some(t);
                carries.then(|| (self.pcr90(t), false))
            }
            last => {
                let jumped = last.is_some();
                self.last_pcr_us = Some(now_us);
                if carries {
                    return Some((self.pcr90(now_us), jumped));
                }
                write_pcr_only(out, pid, cc, self.pcr90(now_us), jumped);
                None
            }
        }
    }

    /// PCR base: stream time without the offset, so it trails the DTS.
    fn pcr90(&self, us: i64) -> u64 {
        rescale(us, US_HZ, TS_HZ).rem_euclid(PTS_WRAP) as u64
    }
}

#[cfg(test)]
#[path = "muxer_tests.rs"]
mod tests;
