//! Sans-IO live fragmented-MP4 muxer: [`Frame`]s in, an init segment and
//! `moof`+`mdat` fragments out, so that a browser plays a stream with plain
//! Media Source Extensions (`SourceBuffer.appendBuffer` of the init segment,
//! then of every fragment).
//!
//! Carried: H.264, H.265 (AVCC payloads, config frames holding the decoder
//! configuration record), AV1 (`av1C`; temporal delimiters dropped from
//! samples) and VP9 (`vpcC`; the picture size read from the first
//! keyframe) video; AAC (raw frames, config frame = `AudioSpecificConfig`)
//! and Opus (`OpusHead` config, or stereo defaults for sources that send
//! none, such as RTSP; each packet's duration read from its TOC byte)
//! audio. Frames of other codecs, and script data, are skipped: MSE has no
//! use for them.
//!
//! # Fragment policy
//!
//! * **Every video keyframe starts a fragment.** Such a fragment is marked
//!   [`Fmp4Output::Fragment::key`]: a viewer that joins late gets the init
//!   segment and starts there, exactly like the hub's GOP cache starts RTMP
//!   players at a keyframe.
//! * **A fragment spans at most [`Fmp4Config::max_fragment_ms`]** (100 ms by
//!   default). A browser can only play what it was given whole, so the
//!   fragment length adds straight to the latency; one fragment per GOP would
//!   add seconds. Around ten `moof` boxes a second cost about 1 KB/s, which
//!   is nothing next to the media.
//! * **One video frame is held back** until the next one arrives, because a
//!   `trun` needs each sample's duration and a live source does not say it.
//!   That is one frame interval (33 ms at 30 fps) of latency, and it keeps
//!   the decode timeline exact: a guessed duration would leave gaps or
//!   overlaps that MSE turns into stalls. Audio needs no hold-back: an AAC
//!   frame always lasts 1024 (or 960) samples.
//!
//! # Timeline
//!
//! Video uses a 90 kHz timescale, audio its sampling rate: the clocks the
//! codecs and RTP count in, to which the frames' microseconds map exactly
//! (to the nearest tick). Audio decode times count samples, so that
//! rounding of a millisecond source (RTMP) never leaves gaps between
//! frames; they jump ahead when the input does by more
//! than one frame, and a frame more than one frame behind the count is
//! dropped rather than written over the audio before it. Output timestamps are the input's, except after a
//! jump of more than [`MAX_BACKWARD_JUMP_MS`] back or [`MAX_FORWARD_JUMP_MS`]
//! forward (a publisher restarting, an encoder stalling): the timeline is
//! then shifted to continue where it was, because a gap in an MSE buffer
//! stalls playback. The timeline starts where the input does, not at zero:
//! a player must seek to `SourceBuffer.buffered.start(0)`, which a late
//! joiner has to do anyway. Players that read the fragments as one file
//! (VLC) take the decode times as their position: a [`Rebaser`] per viewer
//! shifts that viewer's fragments to start at zero.
//!
//! # Config changes
//!
//! The init segment is built when the first media frame arrives, from the
//! configs seen so far (a publisher sends its headers first). A config that
//! changes later, or a track that appears later, flushes what is pending and
//! yields a new [`Fmp4Output::Init`]; the next video fragment starts at a
//! keyframe. A consumer appends a new init segment to the same
//! `SourceBuffer` when only the codec parameters changed, and needs a new
//! `SourceBuffer` when the track set or the codec changed (see
//! [`Fmp4Muxer::codecs_string`]).

#![warn(missing_docs, unreachable_pub)]

mod boxes;
mod rebase;
mod tracks;

use bytes::Bytes;
use weir_media::{ms_to_us, rescale, Codec, Frame, TrackKind, US_HZ};

pub use rebase::Rebaser;

/// Whether weir's fragmented MP4 (live `.mp4`, MSE) carries `codec`:
/// H.264 (`avc1`), H.265 (`hvc1`), AV1 (`av01`), VP9 (`vp09`), AAC
/// (`mp4a`) and Opus (`Opus`).
pub fn carries(codec: weir_media::Codec) -> bool {
    matches!(
        codec,
        weir_media::Codec::H264
            | weir_media::Codec::H265
            | weir_media::Codec::Av1
            | weir_media::Codec::Vp9
            | weir_media::Codec::Aac
            | weir_media::Codec::Opus
    )
}

/// The video codecs with a sample entry here.
fn is_video(codec: Codec) -> bool {
    matches!(codec, Codec::H264 | Codec::H265 | Codec::Av1 | Codec::Vp9)
}

use boxes::{Run, Sample, AUDIO_TRACK_ID, VIDEO_TRACK_ID};
use tracks::{AudioTrack, VideoTrack, VIDEO_TIMESCALE};

/// A backward DTS step larger than this (ms) is a discontinuity. Audio and
/// video interleave with small backward steps, which are kept as they are.
pub const MAX_BACKWARD_JUMP_MS: i64 = 1_000;
/// A forward DTS step larger than this (ms) is a discontinuity.
pub const MAX_FORWARD_JUMP_MS: i64 = 10_000;
/// Most samples in one fragment, whatever the timestamps say: bounds memory
/// when a source sends frames without advancing its clock.
pub const MAX_FRAGMENT_SAMPLES: usize = 1_024;

/// How fragments are cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmp4Config {
    /// Longest span of decode time one fragment covers, in ms. Lower means
    /// lower latency and a little more `moof` overhead.
    pub max_fragment_ms: u32,
    /// A fragment is cut early once its payload reaches this many bytes, so
    /// that memory stays bounded whatever the source's timestamps are.
    pub max_fragment_bytes: usize,
    /// Cut a fragment *before* the sample that would make it span more than
    /// `max_fragment_ms`, so that no fragment is longer (except one holding
    /// a single longer sample): LL-HLS partial segments must not exceed
    /// their target duration. Off, a fragment is cut at the first sample
    /// that reaches the span, which gives slightly longer fragments that
    /// never end short of it.
    pub cap_at_max: bool,
}

impl Default for Fmp4Config {
    fn default() -> Self {
        Fmp4Config {
            max_fragment_ms: 100,
            max_fragment_bytes: 4 << 20,
            cap_at_max: false,
        }
    }
}

/// What the muxer produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fmp4Output {
    /// A new init segment (`ftyp` + `moov`): the first one, or one after the
    /// tracks or their configs changed. Every following fragment needs it.
    Init(Bytes),
    /// A `moof` + `mdat` pair.
    Fragment {
        /// The fragment's bytes.
        data: Bytes,
        /// It starts with a video keyframe (always true for audio-only
        /// streams): a new viewer may start here, after the init segment.
        key: bool,
        /// Decode time of its earliest sample, µs, on the output timeline.
        dts_us: i64,
        /// Media time it covers, µs: from its first video sample's decode
        /// time to the end of its last one (audio's when it holds no
        /// video), so consecutive fragments' durations add up to the
        /// timeline.
        duration_us: i64,
    },
}

/// Why a frame could not be muxed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    /// A codec configuration frame could not be read. The previous config,
    /// if any, stays in use.
    #[error("malformed {codec} configuration ({len} bytes): {reason}")]
    BadConfig {
        /// `"H.264"`, `"H.265"`, `"AV1"`, `"VP9"`, `"AAC"` or `"Opus"`.
        codec: &'static str,
        /// Length of the config payload.
        len: usize,
        /// What was wrong.
        reason: String,
    },
    /// A box could not be encoded (a value out of its field's range).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// The box.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// Maps input DTS (µs) to the output timeline (µs), smoothing over
/// discontinuities.
#[derive(Debug, Default)]
struct Clock {
    offset: i64,
    /// Latest output DTS of any track.
    last: Option<i64>,
}

impl Clock {
    fn map(&mut self, dts: i64) -> i64 {
        let us = dts.saturating_add(self.offset);
        let anchor = self.last.unwrap_or(0);
        let jumped = match self.last {
            Some(last) => {
                us < last.saturating_sub(ms_to_us(MAX_BACKWARD_JUMP_MS))
                    || us > last.saturating_add(ms_to_us(MAX_FORWARD_JUMP_MS))
            }
            None => false,
        };
        let us = if jumped || us < 0 {
            self.offset = anchor.saturating_sub(dts);
            anchor
        } else {
            us
        };
        self.last = Some(self.last.map_or(us, |l| l.max(us)));
        us
    }
}

/// `us` (never negative, see [`Clock`]) in `timescale` units, to the
/// nearest tick.
fn ticks(us: i64, timescale: u32) -> u64 {
    u64::try_from(rescale(us, US_HZ, timescale)).unwrap_or(0)
}

/// An output decode time back in µs, the unit of fragment spans.
fn ticks_to_us(ticks: u64, timescale: u32) -> i64 {
    rescale(i64::try_from(ticks).unwrap_or(i64::MAX), timescale, US_HZ)
}

/// Video state: the frame waiting for its duration, and the timeline.
#[derive(Debug, Default)]
struct VideoState {
    /// A keyframe has been seen since the (last) video config.
    started: bool,
    held: Option<Sample>,
    last_time: Option<u64>,
    last_duration: u32,
}

/// The live fMP4 muxer of one stream. See the crate docs for the policy.
#[derive(Debug)]
pub struct Fmp4Muxer {
    cfg: Fmp4Config,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    /// The current init segment, and the tracks it lists.
    init: Option<Bytes>,
    init_video: bool,
    /// Configs changed since `init` was built.
    init_stale: bool,
    clock: Clock,
    vstate: VideoState,
    /// Next audio decode time, in samples.
    audio_next: Option<u64>,
    pending_video: Vec<Sample>,
    pending_audio: Vec<Sample>,
    pending_bytes: usize,
    /// Output DTS (µs) of the earliest pending sample.
    pending_start_us: Option<i64>,
    sequence: u32,
}

impl Fmp4Muxer {
    /// A muxer that has seen nothing yet.
    pub fn new(cfg: Fmp4Config) -> Self {
        Fmp4Muxer {
            cfg,
            video: None,
            audio: None,
            init: None,
            init_video: false,
            init_stale: false,
            clock: Clock::default(),
            vstate: VideoState::default(),
            audio_next: None,
            pending_video: Vec::new(),
            pending_audio: Vec::new(),
            pending_bytes: 0,
            pending_start_us: None,
            sequence: 0,
        }
    }

    /// Feeds one frame; returns what it completed (often nothing, since
    /// fragments are cut at keyframes and every `max_fragment_ms`).
    pub fn push(&mut self, frame: &Frame) -> Result<Vec<Fmp4Output>, Fmp4Error> {
        let mut out = Vec::new();
        match (frame.kind, frame.codec, frame.config) {
            (TrackKind::Video, codec, true) if is_video(codec) => {
                let track = match codec {
                    Codec::H264 => VideoTrack::h264(&frame.data)?,
                    Codec::H265 => VideoTrack::h265(&frame.data)?,
                    Codec::Av1 => VideoTrack::av1(&frame.data)?,
                    _ => VideoTrack::vp9(&frame.data)?,
                };
                if self
                    .video
                    .as_ref()
                    .is_some_and(|v| v.config == track.config)
                {
                    return Ok(out);
                }
                self.end_epoch(&mut out)?;
                self.video = Some(track);
                self.vstate.started = false;
            }
            (TrackKind::Audio, codec @ (Codec::Aac | Codec::Opus), true) => {
                let track = if codec == Codec::Aac {
                    AudioTrack::aac(&frame.data, AUDIO_TRACK_ID)?
                } else {
                    AudioTrack::opus(&frame.data)?
                };
                if self
                    .audio
                    .as_ref()
                    .is_some_and(|a| a.config == track.config)
                {
                    return Ok(out);
                }
                self.end_epoch(&mut out)?;
                self.audio = Some(track);
            }
            // An empty payload is no sample (e.g. an end-of-sequence marker).
            (_, _, false) if frame.data.is_empty() => {}
            (TrackKind::Video, codec, false) if is_video(codec) => {
                self.push_video(frame, &mut out)?;
            }
            (TrackKind::Audio, Codec::Aac, false) => self.push_audio(frame, &mut out)?,
            (TrackKind::Audio, Codec::Opus, false) => {
                // RTSP and WebRTC carry Opus without an `OpusHead`: its
                // RTP mapping is always 48 kHz stereo.
                if self.audio.is_none() {
                    self.audio = Some(AudioTrack::opus(&Bytes::from_static(
                        weir_codec::opus::DEFAULT_HEAD,
                    ))?);
                }
                self.push_audio(frame, &mut out)?;
            }
            _ => {}
        }
        Ok(out)
    }

    /// Flushes everything pending, including the held video frame (given
    /// the previous frame's duration). For the end of a stream, and before a
    /// config change.
    pub fn finish(&mut self) -> Result<Vec<Fmp4Output>, Fmp4Error> {
        let mut out = Vec::new();
        self.release_held();
        self.flush(&mut out)?;
        Ok(out)
    }

    /// The current init segment (`ftyp` + `moov`), once the first media
    /// frame made the track set known.
    pub fn init_segment(&self) -> Option<Bytes> {
        self.init.clone()
    }

    /// The MIME type with RFC 6381 codecs of the current init segment, for
    /// `MediaSource.isTypeSupported` and `addSourceBuffer`, e.g.
    /// `video/mp4; codecs="avc1.64001e,mp4a.40.2"`.
    pub fn codecs_string(&self) -> Option<String> {
        self.init.as_ref()?;
        let names: Vec<&str> = [
            self.video.as_ref().map(|v| v.codec_name.as_str()),
            self.audio.as_ref().map(|a| a.codec_name.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let kind = if self.video.is_some() {
            "video"
        } else {
            "audio"
        };
        Some(format!("{kind}/mp4; codecs=\"{}\"", names.join(",")))
    }

    /// Before a config change: flushes what belongs to the old init segment
    /// and marks it stale, so the next media frame brings a new one.
    fn end_epoch(&mut self, out: &mut Vec<Fmp4Output>) -> Result<(), Fmp4Error> {
        if self.init.is_some() {
            out.extend(self.finish()?);
            self.init_stale = true;
        }
        Ok(())
    }

    /// Emits the init segment if there is none yet or the configs changed.
    fn ensure_init(&mut self, out: &mut Vec<Fmp4Output>) -> Result<(), Fmp4Error> {
        if self.init.is_none() || self.init_stale {
            let init = boxes::init_segment(self.video.as_ref(), self.audio.as_ref())?;
            self.init = Some(init.clone());
            self.init_video = self.video.is_some();
            self.init_stale = false;
            out.push(Fmp4Output::Init(init));
        }
        Ok(())
    }

    fn push_video(&mut self, frame: &Frame, out: &mut Vec<Fmp4Output>) -> Result<(), Fmp4Error> {
        let codec_ok = match &self.video {
            Some(v) => v.codec == frame.codec,
            None => false,
        };
        // Decoding starts at a keyframe: drop what comes before the first.
        if !codec_ok || !(self.vstate.started || frame.key) {
            return Ok(());
        }
        if let Some(v) = self.video.as_mut().filter(|v| v.needs_size && frame.key) {
            v.size_from_keyframe(&frame.data);
        }
        self.ensure_init(out)?;
        self.vstate.started = true;
        let us = self.clock.map(frame.dts_us);
        let mut time = ticks(us, VIDEO_TIMESCALE);
        if let Some(last) = self.vstate.last_time {
            // Keep decode times strictly increasing whatever the input does.
            time = time.max(last + 1);
        }
        if let Some(mut held) = self.vstate.held.take() {
            held.duration = u32::try_from(time - held.decode_time).unwrap_or(u32::MAX);
            self.vstate.last_duration = held.duration;
            self.cut_before(ticks_to_us(time, VIDEO_TIMESCALE), out)?;
            self.add_pending(true, held);
        }
        if frame.key {
            self.flush(out)?;
        }
        let pts = ticks(
            us.saturating_add(i64::from(frame.cts_us)).max(0),
            VIDEO_TIMESCALE,
        );
        let cts = i64::try_from(i128::from(pts) - i128::from(time)).unwrap_or(0);
        let data = if frame.codec == Codec::Av1 {
            weir_codec::av1::strip_temporal_delimiter(&frame.data)
        } else {
            frame.data.clone()
        };
        self.vstate.held = Some(Sample {
            decode_time: time,
            duration: 0,
            cts: i32::try_from(cts).unwrap_or(if cts < 0 { i32::MIN } else { i32::MAX }),
            key: frame.key,
            data,
        });
        self.vstate.last_time = Some(time);
        self.maybe_flush(ticks_to_us(time, VIDEO_TIMESCALE), out)
    }

    fn push_audio(&mut self, frame: &Frame, out: &mut Vec<Fmp4Output>) -> Result<(), Fmp4Error> {
        let Some(track) = &self.audio else {
            return Ok(());
        };
        if frame.codec != track.codec {
            return Ok(());
        }
        let n = if track.variable_frames {
            weir_codec::opus::packet_samples(&frame.data).unwrap_or(track.frame_samples)
        } else {
            track.frame_samples
        };
        let rate = track.sample_rate;
        self.ensure_init(out)?;
        let us = self.clock.map(frame.dts_us);
        let expected = ticks(us, rate);
        let time = match self.audio_next {
            // The input is more than a frame behind the samples already
            // written: this frame would overlap them, which MSE resolves by
            // cutting audio. Drop it instead, as a decoder would conceal.
            Some(next) if expected + u64::from(n) < next => return Ok(()),
            // Within a frame: keep counting, so that frames stay contiguous.
            Some(next) if expected <= next + u64::from(n) => next,
            // A gap in the input (frames lost upstream): follow it.
            _ => expected,
        };
        self.audio_next = Some(time + u64::from(n));
        if self.video.is_none() {
            // Audio times the fragments only of an audio-only stream.
            self.cut_before(ticks_to_us(time + u64::from(n), rate), out)?;
        }
        let sample = Sample {
            decode_time: time,
            duration: n,
            cts: 0,
            key: true,
            data: frame.data.clone(),
        };
        self.add_pending(false, sample);
        self.maybe_flush(ticks_to_us(time, rate), out)
    }

    fn add_pending(&mut self, video: bool, sample: Sample) {
        let timescale = match (&self.audio, video) {
            (Some(a), false) => a.sample_rate,
            _ => VIDEO_TIMESCALE,
        };
        let us = ticks_to_us(sample.decode_time, timescale);
        self.pending_bytes += sample.data.len();
        let start = self.pending_start_us.get_or_insert(us);
        *start = (*start).min(us);
        if video {
            self.pending_video.push(sample);
        } else {
            self.pending_audio.push(sample);
        }
    }

    /// Moves the held video frame to the pending ones, with the previous
    /// frame's duration since the next frame will not tell.
    fn release_held(&mut self) {
        if let Some(mut held) = self.vstate.held.take() {
            held.duration = match self.vstate.last_duration {
                0 => VIDEO_TIMESCALE / 30,
                d => d,
            };
            self.add_pending(true, held);
        }
    }

    /// With [`Fmp4Config::cap_at_max`]: flushes before a sample ending at
    /// `end_us` is added, when it would make the pending samples span more
    /// than `max_fragment_ms`.
    fn cut_before(&mut self, end_us: i64, out: &mut Vec<Fmp4Output>) -> Result<(), Fmp4Error> {
        let max = ms_to_us(i64::from(self.cfg.max_fragment_ms));
        if self.cfg.cap_at_max
            && self
                .pending_start_us
                .is_some_and(|start| end_us.saturating_sub(start) > max)
        {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Flushes when the pending samples span the configured time, up to
    /// `now_us`, the output decode time of the frame just pushed.
    fn maybe_flush(&mut self, now_us: i64, out: &mut Vec<Fmp4Output>) -> Result<(), Fmp4Error> {
        let Some(start) = self.pending_start_us else {
            return Ok(());
        };
        let samples = self.pending_video.len() + self.pending_audio.len();
        if now_us.saturating_sub(start) >= ms_to_us(i64::from(self.cfg.max_fragment_ms))
            || self.pending_bytes >= self.cfg.max_fragment_bytes
            || samples >= MAX_FRAGMENT_SAMPLES
        {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Writes every pending sample as one fragment.
    fn flush(&mut self, out: &mut Vec<Fmp4Output>) -> Result<(), Fmp4Error> {
        let Some(dts_us) = self.pending_start_us.take() else {
            return Ok(());
        };
        let key = if self.init_video {
            self.pending_video.first().is_some_and(|s| s.key)
        } else {
            true
        };
        // Taken first: samples that cannot be written are dropped, not retried.
        let video = std::mem::take(&mut self.pending_video);
        let audio = std::mem::take(&mut self.pending_audio);
        self.pending_bytes = 0;
        let mut runs = Vec::with_capacity(2);
        if !video.is_empty() {
            runs.push(Run {
                track_id: VIDEO_TRACK_ID,
                samples: &video,
                with_cts: true,
            });
        }
        if !audio.is_empty() {
            runs.push(Run {
                track_id: AUDIO_TRACK_ID,
                samples: &audio,
                with_cts: false,
            });
        }
        let span = |samples: &[Sample], timescale: u32| {
            let (first, last) = (samples.first()?, samples.last()?);
            let end = last.decode_time + u64::from(last.duration);
            Some(ticks_to_us(end, timescale) - ticks_to_us(first.decode_time, timescale))
        };
        let audio_rate = self
            .audio
            .as_ref()
            .map_or(VIDEO_TIMESCALE, |a| a.sample_rate);
        let duration_us = span(&video, VIDEO_TIMESCALE)
            .or_else(|| span(&audio, audio_rate))
            .unwrap_or(0);
        self.sequence = self.sequence.wrapping_add(1);
        let data = boxes::fragment(self.sequence, &runs)?;
        out.push(Fmp4Output::Fragment {
            data,
            key,
            dts_us,
            duration_us,
        });
        Ok(())
    }
}

impl Default for Fmp4Muxer {
    fn default() -> Self {
        Fmp4Muxer::new(Fmp4Config::default())
    }
}
