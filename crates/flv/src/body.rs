//! FLV tag bodies (== RTMP audio, video and data message payloads) to
//! [`Frame`]s and back.
//!
//! Ingest understands the legacy headers and Enhanced RTMP's extended ones
//! (`ExVideoTagHeader`/`ExAudioTagHeader`, including ModEx prefixes).
//! Egress writes the form players expect: legacy for AVC, AAC, MP3 and
//! G.711, Enhanced RTMP (`hvc1`, `av01`, `vp09`, `Opus`, `ac-3`, `ec-3`,
//! `fLaC`) for codecs the legacy header cannot name. Multitrack bodies
//! yield their default track (id 0).
//! Payloads are slices of the body: no media bytes are copied either way.
//!
//! FLV counts time in milliseconds, frames in microseconds: ingest
//! multiplies, egress rounds down (the same way on both sides of zero), so
//! a frame that came from FLV goes back with the timestamps it came with.

use bytes::{Bytes, BytesMut};
use weir_media::{ms_to_us, us_to_ms, Codec, Frame, TrackKind};

use crate::error::{FlvError, UnsupportedCodec};
use crate::tag::{write_tag, TagType};

/// Video frame type: a keyframe.
const FRAME_KEY: u8 = 1;
/// Video frame type: an inter frame.
const FRAME_INTER: u8 = 2;
/// Video frame type: a video info/command frame, no media.
const FRAME_COMMAND: u8 = 5;

/// Legacy video codec ids.
const CODEC_AVC: u8 = 7;
/// HEVC under the non-standard legacy id that Chinese CDNs and many
/// encoders use.
const CODEC_HEVC: u8 = 12;

/// Legacy audio sound formats.
const SOUND_MP3: u8 = 2;
const SOUND_ALAW: u8 = 7;
const SOUND_MULAW: u8 = 8;
/// MP3 at 8 kHz, a rate the 2-bit rate field cannot name.
const SOUND_MP3_8K: u8 = 14;
/// Enhanced RTMP: the sound format value announcing an `ExAudioTagHeader`.
const SOUND_EX_HEADER: u8 = 9;
const SOUND_AAC: u8 = 10;

/// Enhanced RTMP packet types (shared values for audio and video).
const PACKET_SEQUENCE_START: u8 = 0;
const PACKET_CODED_FRAMES: u8 = 1;
const VIDEO_CODED_FRAMES_X: u8 = 3;
const VIDEO_METADATA: u8 = 4;
const VIDEO_MULTITRACK: u8 = 6;
const AUDIO_MULTITRACK: u8 = 5;
const PACKET_MOD_EX: u8 = 7;

/// Nominal MP3 sample rates of the legacy 2-bit rate field.
const MP3_RATES: [u32; 4] = [5512, 11025, 22050, 44100];

/// G.711's sampling rate, the only one FLV defines for it (its rate field
/// is ignored for these formats).
const G711_RATE: u32 = 8000;

/// Largest composition time, in ms, whose microseconds fit
/// [`Frame::cts_us`]: FLV's 24-bit field reaches further (2.3 hours), no
/// real stream does; clamping to a whole millisecond keeps round trips
/// exact.
const MAX_CTS_MS: i32 = i32::MAX / 1000;

/// The AMF0 string `"@setDataFrame"` that RTMP publishers put before
/// `onMetaData`; FLV files and players do not have it.
const SET_DATA_FRAME: &[u8] = b"\x02\x00\x0d@setDataFrame";

/// The bytes that precede [`Frame::data`] in a tag body: 1 to 8 bytes
/// (legacy AVC: 5, Enhanced RTMP HEVC with composition time: 8), held
/// inline so a muxer needs no allocation per frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagBodyHeader {
    bytes: [u8; 8],
    len: u8,
}

impl TagBodyHeader {
    fn new(parts: &[&[u8]]) -> Self {
        let mut h = Self {
            bytes: [0; 8],
            len: 0,
        };
        for part in parts {
            let start = usize::from(h.len);
            h.bytes[start..start + part.len()].copy_from_slice(part);
            h.len += part.len() as u8;
        }
        h
    }

    /// The header bytes, to be written before the frame's payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Maps a tag body (or RTMP audio/video/data message payload) to a frame.
///
/// For every frame this returns, [`write_frame_tag`] writes a tag that maps
/// back to an equal frame: what weir demuxes, it can mux.
///
/// `timestamp_ms` is the tag's (unwrapped) timestamp in milliseconds, as
/// FLV and RTMP carry it; the frame's are in microseconds.
///
/// `Ok(None)` for tags weir deliberately ignores: empty bodies or payloads,
/// end-of-sequence markers, video command frames, Enhanced RTMP metadata,
/// and multitrack packets without a default track (id 0). A codec weir has no [`Codec`] for (legacy Flash
/// codecs, unknown FourCCs) is [`FlvError::UnsupportedCodec`]: the tag is
/// to be dropped and counted, the stream goes on. The payload is a slice of
/// `body`.
pub fn frame_from_tag(
    tag_type: u8,
    timestamp_ms: i64,
    body: Bytes,
) -> Result<Option<Frame>, FlvError> {
    let timestamp = ms_to_us(timestamp_ms);
    match TagType::from_u8(tag_type) {
        Some(TagType::Video) => video(timestamp, body),
        Some(TagType::Audio) => audio(timestamp, body),
        Some(TagType::Script) => {
            // Strip every leading wrapper, so egress never writes one (and
            // a frame survives mux and demux unchanged).
            let mut data = body;
            while data.starts_with(SET_DATA_FRAME) {
                data = data.slice(SET_DATA_FRAME.len()..);
            }
            Ok(frame(
                TrackKind::Data,
                Codec::Amf0,
                timestamp,
                0,
                false,
                false,
                data,
            ))
        }
        None => Err(FlvError::Invalid {
            what: "tag type",
            offset: 0,
            value: u64::from(tag_type),
        }),
    }
}

/// The tag type and the body bytes that precede `frame.data` for `frame`:
/// what an FLV or RTMP muxer writes, followed by the shared payload.
///
/// The composition time is written in whole milliseconds, rounded down.
/// Sequence headers are written with the keyframe type, as encoders do.
pub fn tag_header(frame: &Frame) -> (u8, TagBodyHeader) {
    let video_type = if frame.key || frame.config {
        FRAME_KEY
    } else {
        FRAME_INTER
    };
    // Always within FLV's signed 24 bits: an i32 of µs is ±2.1e6 ms.
    let cts_ms = frame.cts_us.div_euclid(1000);
    let cts = cts_ms.to_be_bytes();
    let cts24 = &cts[1..];
    let (tag_type, header) = match frame.codec {
        Codec::H264 => (
            TagType::Video,
            TagBodyHeader::new(&[
                &[video_type << 4 | CODEC_AVC, u8::from(!frame.config)],
                cts24,
            ]),
        ),
        Codec::H265 => {
            let ex = 0x80 | video_type << 4;
            let h = if frame.config {
                TagBodyHeader::new(&[&[ex | PACKET_SEQUENCE_START], b"hvc1"])
            } else if cts_ms == 0 {
                TagBodyHeader::new(&[&[ex | VIDEO_CODED_FRAMES_X], b"hvc1"])
            } else {
                TagBodyHeader::new(&[&[ex | PACKET_CODED_FRAMES], b"hvc1", cts24])
            };
            (TagType::Video, h)
        }
        Codec::Av1 | Codec::Vp9 => {
            let fourcc = if frame.codec == Codec::Av1 {
                b"av01"
            } else {
                b"vp09"
            };
            let packet = if frame.config {
                PACKET_SEQUENCE_START
            } else {
                PACKET_CODED_FRAMES
            };
            (
                TagType::Video,
                TagBodyHeader::new(&[&[0x80 | video_type << 4 | packet], fourcc]),
            )
        }
        // AAC's first byte is fixed by the FLV spec; decoders read the
        // real parameters from the AudioSpecificConfig.
        Codec::Aac => (
            TagType::Audio,
            TagBodyHeader::new(&[&[SOUND_AAC << 4 | 0xF, u8::from(!frame.config)]]),
        ),
        Codec::Mp3 {
            sample_rate,
            stereo,
        } => (
            // Legacy even for `.mp3` sources: every FLV player reads it,
            // and takes the real rate from the frames (as ingest does).
            TagType::Audio,
            TagBodyHeader::new(&[&[mp3_byte(sample_rate, stereo)]]),
        ),
        Codec::Opus | Codec::Ac3 | Codec::Eac3 | Codec::Flac => {
            let fourcc = match frame.codec {
                Codec::Opus => b"Opus",
                Codec::Ac3 => b"ac-3",
                Codec::Eac3 => b"ec-3",
                _ => b"fLaC",
            };
            let packet = if frame.config {
                PACKET_SEQUENCE_START
            } else {
                PACKET_CODED_FRAMES
            };
            (
                TagType::Audio,
                TagBodyHeader::new(&[&[SOUND_EX_HEADER << 4 | packet], fourcc]),
            )
        }
        Codec::Pcma { channels, .. } => (
            TagType::Audio,
            TagBodyHeader::new(&[&[g711_byte(SOUND_ALAW, channels)]]),
        ),
        Codec::Pcmu { channels, .. } => (
            TagType::Audio,
            TagBodyHeader::new(&[&[g711_byte(SOUND_MULAW, channels)]]),
        ),
        Codec::Amf0 => (TagType::Script, TagBodyHeader::new(&[])),
    };
    (tag_type as u8, header)
}

/// Writes `frame` as one complete FLV tag: header, [`tag_header`] bytes,
/// payload and `PreviousTagSize`. The timestamp is [`tag_timestamp`].
pub fn write_frame_tag(frame: &Frame, out: &mut BytesMut) {
    let (tag_type, header) = tag_header(frame);
    write_tag(
        tag_type,
        tag_timestamp(frame),
        &[header.as_bytes(), &frame.data],
        out,
    );
}

/// The FLV/RTMP timestamp of `frame`: its DTS in milliseconds, rounded
/// down, modulo 2^32 (the field's range; players unwrap it) — except
/// `onMetaData`, which is always at 0: ffmpeg (and so ffprobe, ffplay and
/// every player built on it) takes it as the stream's metadata only at 0,
/// and at any other time makes a data stream of it.
pub fn tag_timestamp(frame: &Frame) -> u32 {
    if is_on_metadata(frame) {
        return 0;
    }
    us_to_ms(frame.dts_us) as u32
}

/// Script data that starts with the AMF0 string `onMetaData`.
pub fn is_on_metadata(frame: &Frame) -> bool {
    const ON_METADATA: &[u8] = b"\x02\x00\x0aonMetaData";
    frame.codec == Codec::Amf0 && frame.data.starts_with(ON_METADATA)
}

fn video(dts: i64, body: Bytes) -> Result<Option<Frame>, FlvError> {
    let Some(&b0) = body.first() else {
        return Ok(None);
    };
    if b0 & 0x80 != 0 {
        return ex_video(dts, body);
    }
    let frame_type = b0 >> 4;
    if frame_type == FRAME_COMMAND {
        return Ok(None);
    }
    let codec = match b0 & 0xF {
        CODEC_AVC => Codec::H264,
        CODEC_HEVC => Codec::H265,
        id => {
            return Err(FlvError::UnsupportedCodec(UnsupportedCodec::Video(id)));
        }
    };
    need(&body, 0, 5, "AVC video tag header")?;
    let config = match body[1] {
        0 => true,
        1 => false,
        2 => return Ok(None), // end of sequence
        v => {
            return Err(FlvError::Invalid {
                what: "AVCPacketType",
                offset: 1,
                value: u64::from(v),
            })
        }
    };
    // A sequence header has no presentation time; ignore whatever is there.
    let cts = if config { 0 } else { cts_us(&body[2..5]) };
    Ok(video_frame(
        codec,
        dts,
        cts,
        frame_type,
        config,
        body.slice(5..),
    ))
}

fn ex_video(dts: i64, body: Bytes) -> Result<Option<Frame>, FlvError> {
    let b0 = body[0];
    let frame_type = (b0 >> 4) & 7;
    let mut packet_type = b0 & 0xF;
    let mut pos = 1;
    skip_mod_ex(&body, &mut pos, &mut packet_type, "ExVideoTagHeader")?;
    if frame_type == FRAME_COMMAND && packet_type != VIDEO_METADATA {
        return Ok(None);
    }
    let Some(track) = ex_track(
        &body,
        pos,
        packet_type,
        VIDEO_MULTITRACK,
        "ExVideoTagHeader",
    )?
    else {
        return Ok(None);
    };
    let codec = match &track.fourcc {
        b"avc1" => Codec::H264,
        b"hvc1" => Codec::H265,
        b"av01" => Codec::Av1,
        b"vp09" => Codec::Vp9,
        cc => return Err(unsupported_fourcc(cc, true)),
    };
    let data = track.data;
    let (config, cts, data) = match track.packet_type {
        PACKET_SEQUENCE_START => (true, 0, data),
        // Only the codecs with B-frames in FLV's sense carry a composition
        // time; AV1 and VP9 frames are presented in decode order.
        PACKET_CODED_FRAMES if matches!(codec, Codec::H264 | Codec::H265) => {
            need(&data, 0, 3, "ExVideoTagHeader composition time")?;
            (false, cts_us(&data[..3]), data.slice(3..))
        }
        PACKET_CODED_FRAMES | VIDEO_CODED_FRAMES_X => (false, 0, data),
        // Sequence end, metadata (HDR colour info), MPEG-2 TS sequence start.
        _ => return Ok(None),
    };
    Ok(video_frame(codec, dts, cts, frame_type, config, data))
}

/// Multitrack layouts (`AvMultitrackType`).
const ONE_TRACK: u8 = 0;
const MANY_TRACKS_MANY_CODECS: u8 = 2;

/// The one track of an Enhanced RTMP body weir takes: its FourCC, real
/// packet type and payload.
struct ExTrack {
    fourcc: [u8; 4],
    packet_type: u8,
    data: Bytes,
}

/// Reads the FourCC and payload after an extended header's packet type
/// (and ModEx prefixes), `pos` being where they start. A multitrack body
/// (`multitrack` is the packet type that says so) yields its default track,
/// track id 0: the hub carries one video and one audio track, and an output
/// that cannot carry several needs the default one. `None` when a
/// multitrack body has no track 0 (its other tracks are dropped).
fn ex_track(
    body: &Bytes,
    mut pos: usize,
    packet_type: u8,
    multitrack: u8,
    what: &'static str,
) -> Result<Option<ExTrack>, FlvError> {
    let fourcc_at = |pos: usize| -> Result<[u8; 4], FlvError> {
        need(body, pos, 4, what)?;
        Ok([body[pos], body[pos + 1], body[pos + 2], body[pos + 3]])
    };
    if packet_type != multitrack {
        return Ok(Some(ExTrack {
            fourcc: fourcc_at(pos)?,
            packet_type,
            data: body.slice(pos + 4..),
        }));
    }
    need(body, pos, 1, "multitrack type")?;
    let layout = body[pos] >> 4;
    let packet_type = body[pos] & 0xF;
    pos += 1;
    if layout > MANY_TRACKS_MANY_CODECS {
        return Err(FlvError::Invalid {
            what: "AvMultitrackType",
            offset: pos - 1,
            value: u64::from(layout),
        });
    }
    let mut fourcc = [0; 4];
    if layout != MANY_TRACKS_MANY_CODECS {
        fourcc = fourcc_at(pos)?;
        pos += 4;
    }
    while pos < body.len() {
        if layout == MANY_TRACKS_MANY_CODECS {
            fourcc = fourcc_at(pos)?;
            pos += 4;
        }
        need(body, pos, 1, "multitrack track id")?;
        let track_id = body[pos];
        pos += 1;
        let end = if layout == ONE_TRACK {
            body.len()
        } else {
            need(body, pos, 3, "multitrack track size")?;
            let size = usize::from(body[pos]) << 16
                | usize::from(body[pos + 1]) << 8
                | usize::from(body[pos + 2]);
            pos += 3;
            need(body, pos, size, "multitrack track")?;
            pos + size
        };
        if track_id == 0 {
            return Ok(Some(ExTrack {
                fourcc,
                packet_type,
                data: body.slice(pos..end),
            }));
        }
        pos = end;
    }
    Ok(None)
}

fn audio(dts: i64, body: Bytes) -> Result<Option<Frame>, FlvError> {
    let Some(&b0) = body.first() else {
        return Ok(None);
    };
    let codec = match b0 >> 4 {
        SOUND_AAC => {
            need(&body, 0, 2, "AAC audio tag header")?;
            let config = match body[1] {
                0 => true,
                1 => false,
                v => {
                    return Err(FlvError::Invalid {
                        what: "AACPacketType",
                        offset: 1,
                        value: u64::from(v),
                    })
                }
            };
            return Ok(frame(
                TrackKind::Audio,
                Codec::Aac,
                dts,
                0,
                false,
                config,
                body.slice(2..),
            ));
        }
        SOUND_EX_HEADER => return ex_audio(dts, body),
        format @ (SOUND_MP3 | SOUND_MP3_8K) => {
            // The frame header says the real rate (the legacy field has
            // four nominal ones: 48 kHz arrives as "44.1"); the field is
            // the fallback for a payload that does not start with one.
            // The sample size bit means nothing for a compressed format:
            // egress writes the 16-bit flag encoders use.
            let (sample_rate, stereo) = weir_codec::mp3::frame_format(&body[1..]).unwrap_or((
                if format == SOUND_MP3_8K {
                    8000
                } else {
                    MP3_RATES[usize::from((b0 >> 2) & 3)]
                },
                b0 & 1 != 0,
            ));
            Codec::Mp3 {
                sample_rate,
                stereo,
            }
        }
        format @ (SOUND_ALAW | SOUND_MULAW) => {
            Codec::g711(format == SOUND_ALAW, G711_RATE, 1 + (b0 & 1))
        }
        format => return Err(FlvError::UnsupportedCodec(UnsupportedCodec::Audio(format))),
    };
    // The one header byte says it all: the rest is the payload.
    Ok(frame(
        TrackKind::Audio,
        codec,
        dts,
        0,
        false,
        false,
        body.slice(1..),
    ))
}

fn ex_audio(dts: i64, body: Bytes) -> Result<Option<Frame>, FlvError> {
    let mut packet_type = body[0] & 0xF;
    let mut pos = 1;
    skip_mod_ex(&body, &mut pos, &mut packet_type, "ExAudioTagHeader")?;
    let Some(track) = ex_track(
        &body,
        pos,
        packet_type,
        AUDIO_MULTITRACK,
        "ExAudioTagHeader",
    )?
    else {
        return Ok(None);
    };
    let config = match track.packet_type {
        PACKET_SEQUENCE_START => true,
        PACKET_CODED_FRAMES => false,
        // Sequence end, multichannel config (the codec config has it too).
        _ => return Ok(None),
    };
    let codec = match &track.fourcc {
        b"mp4a" => Codec::Aac,
        b"Opus" => Codec::Opus,
        b"ac-3" => Codec::Ac3,
        b"ec-3" => Codec::Eac3,
        b"fLaC" => Codec::Flac,
        // MP3 frames describe themselves; a sequence start has nothing to add.
        b".mp3" if config => return Ok(None),
        b".mp3" => {
            let (sample_rate, stereo) =
                weir_codec::mp3::frame_format(&track.data).map_err(|e| FlvError::Codec {
                    what: "MP3 frame header",
                    reason: e.to_string(),
                })?;
            Codec::Mp3 {
                sample_rate,
                stereo,
            }
        }
        cc => return Err(unsupported_fourcc(cc, false)),
    };
    Ok(frame(
        TrackKind::Audio,
        codec,
        dts,
        0,
        false,
        config,
        track.data,
    ))
}

/// Skips Enhanced RTMP ModEx prefixes (e.g. nanosecond timestamp offsets,
/// which FLV's millisecond tag timestamps are not worth refining), leaving `packet_type` as
/// the real packet type and `pos` after the last prefix.
fn skip_mod_ex(
    body: &[u8],
    pos: &mut usize,
    packet_type: &mut u8,
    what: &'static str,
) -> Result<(), FlvError> {
    while *packet_type == PACKET_MOD_EX {
        need(body, *pos, 1, what)?;
        let mut size = usize::from(body[*pos]) + 1;
        *pos += 1;
        if size == 256 {
            need(body, *pos, 2, what)?;
            size = usize::from(u16::from_be_bytes([body[*pos], body[*pos + 1]])) + 1;
            *pos += 2;
        }
        *pos += size;
        need(body, *pos, 1, what)?;
        *packet_type = body[*pos] & 0xF;
        *pos += 1;
    }
    Ok(())
}

/// The error for an Enhanced RTMP FourCC weir has no codec for; `cc` is
/// the four bytes (checked present by the caller).
fn unsupported_fourcc(cc: &[u8], video: bool) -> FlvError {
    let cc = [cc[0], cc[1], cc[2], cc[3]];
    FlvError::UnsupportedCodec(if video {
        UnsupportedCodec::VideoFourCc(cc)
    } else {
        UnsupportedCodec::AudioFourCc(cc)
    })
}

/// A video frame of a codec weir interprets, legacy or Enhanced RTMP
/// header alike: a keyframe is a coded frame of the key type, never a
/// sequence header.
fn video_frame(
    codec: Codec,
    dts: i64,
    cts: i32,
    frame_type: u8,
    config: bool,
    data: Bytes,
) -> Option<Frame> {
    let key = frame_type == FRAME_KEY && !config;
    frame(TrackKind::Video, codec, dts, cts, key, config, data)
}

fn frame(
    kind: TrackKind,
    codec: Codec,
    dts: i64,
    cts: i32,
    key: bool,
    config: bool,
    data: Bytes,
) -> Option<Frame> {
    (!data.is_empty()).then_some(Frame {
        kind,
        codec,
        dts_us: dts,
        cts_us: cts,
        key,
        config,
        data,
    })
}

fn mp3_byte(sample_rate: u32, stereo: bool) -> u8 {
    if sample_rate == 8000 {
        return SOUND_MP3_8K << 4 | 1 << 1 | u8::from(stereo);
    }
    let rate = match sample_rate {
        44100.. => 3,
        22050.. => 2,
        11025.. => 1,
        _ => 0,
    };
    SOUND_MP3 << 4 | rate << 2 | 1 << 1 | u8::from(stereo)
}

/// A G.711 sound byte: the rate field is 0 (FLV defines G.711 at 8 kHz
/// only), 16-bit flag as encoders write it, mono unless there are more
/// channels than one.
fn g711_byte(format: u8, channels: u8) -> u8 {
    format << 4 | 1 << 1 | u8::from(channels > 1)
}

fn need(body: &[u8], offset: usize, needed: usize, what: &'static str) -> Result<(), FlvError> {
    if body.len().saturating_sub(offset) < needed {
        return Err(FlvError::Short {
            what,
            offset,
            needed,
            len: body.len(),
        });
    }
    Ok(())
}

/// An FLV composition time (signed 24-bit big-endian milliseconds) in
/// microseconds, clamped to [`MAX_CTS_MS`].
fn cts_us(b: &[u8]) -> i32 {
    let ms = i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8;
    ms.clamp(-MAX_CTS_MS, MAX_CTS_MS) * 1000
}

/// Whether FLV (and so RTMP, HTTP-FLV and WS-FLV) carries `codec`: H.264,
/// AAC, MP3 and G.711 at 8 kHz (the only rate FLV gives it) in classic
/// tags; H.265, AV1, VP9, Opus, AC-3, E-AC-3 and FLAC in Enhanced RTMP
/// ones (ffmpeg 6.1+, OBS 30+).
pub fn carries(codec: Codec) -> bool {
    match codec {
        Codec::H264 | Codec::H265 | Codec::Av1 | Codec::Vp9 => true,
        Codec::Aac | Codec::Mp3 { .. } | Codec::Opus | Codec::Ac3 | Codec::Eac3 | Codec::Flac => {
            true
        }
        Codec::Pcma { sample_rate, .. } | Codec::Pcmu { sample_rate, .. } => sample_rate == 8000,
        Codec::Amf0 => true,
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
