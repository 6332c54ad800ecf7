//! RTP depacketizers: packets in (in sequence order), access units out.
//!
//! Each codec's payload format has its own struct; [`Depacketizer`] picks
//! one from an SDP media section. They share the rules that keep players
//! from ever decoding garbage:
//!
//! - a sequence gap, a fragment that never ends, a malformed packet or an
//!   access unit over the size limit drops the access unit it touched,
//!   counted in [`DepacketizerStats::dropped_units`];
//! - video then waits for the next keyframe (IDR / IRAP), and so does a
//!   new depacketizer, counted in [`DepacketizerStats::skipped_waiting`];
//! - access-unit boundaries are the marker bit or, when a marker was lost,
//!   a timestamp change;
//! - timestamps are extended to 64 bits ([`crate::rtp::TimestampExtender`]),
//!   still in the track's RTP clock: the adapter maps them to media time.
//!
//! Packets must come in sequence order: over UDP put a
//! [`crate::reorder::ReorderBuffer`] in front. Losses before the first
//! packet a depacketizer gets cannot be seen by it (a publisher's first
//! packet starts its stream, so this only matters for a pull over UDP whose
//! very first packet is lost).

mod aac;
mod frame;
mod h264;
mod h265;
mod latm;
mod video;

use bytes::Bytes;

pub use aac::AacDepacketizer;
pub use frame::FrameDepacketizer;
pub use h264::H264Depacketizer;
pub use h265::H265Depacketizer;
pub use latm::{latm_audio_specific_config, LatmDepacketizer};

use crate::error::RtspError;
use crate::rtp::Packet;
use crate::sdp::{Codec, Media};

/// Largest video access unit kept (8 MiB: a 4K intra frame fits).
pub const MAX_VIDEO_UNIT: usize = 8 << 20;
/// Most NAL units in one access unit.
pub const MAX_NALS: usize = 1024;
/// Largest audio frame kept (AAC frames are a few hundred bytes).
pub const MAX_AUDIO_FRAME: usize = 64 << 10;
/// AAC frames carry 1024 samples (960-sample and HE-AAC variants are not
/// produced by the encoders we meet; their SDP says 1024 implicitly).
pub const AAC_SAMPLES_PER_FRAME: u64 = 1024;

/// One access unit: a video picture or an audio frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Extended RTP timestamp in the track's clock. For video this is the
    /// *presentation* time (RTP carries no decoding time): with B-frames,
    /// units come in decoding order with non-monotonic timestamps, and the
    /// adapter derives decoding times (e.g. from the reorder depth).
    pub timestamp: u64,
    /// Video: the NAL units, without start codes or length prefixes, in
    /// decoding order (parameter sets included when sent in-band). Audio:
    /// exactly one raw frame (AAC raw data block, Opus packet, G.711 bytes).
    pub units: Vec<Bytes>,
    /// Video: contains an IDR (H.264) or IRAP (H.265) picture. Audio: true.
    pub keyframe: bool,
}

/// What a depacketizer counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepacketizerStats {
    /// Packets handed in.
    pub packets: u64,
    /// Sequence numbers missing between consecutive packets.
    pub lost: u64,
    /// Packets that were malformed for the payload format.
    pub bad_packets: u64,
    /// Packets repeated or older than the last one (ignored).
    pub out_of_order: u64,
    /// Access units dropped as incomplete, malformed or oversized.
    pub dropped_units: u64,
    /// Complete video access units dropped while waiting for a keyframe.
    pub skipped_waiting: u64,
    /// Access units delivered.
    pub units: u64,
}

impl DepacketizerStats {
    /// Sequence bookkeeping shared by every payload format: counts the
    /// packet, returns `None` for a duplicate or late packet (ignore it) and
    /// otherwise whether packets were lost before this one.
    pub(crate) fn sequence(&mut self, last: &mut Option<u16>, seq: u16) -> Option<bool> {
        self.packets += 1;
        let gap = match *last {
            None => false,
            Some(l) => {
                let d = crate::rtp::seq_delta(l, seq);
                if d <= 0 {
                    self.out_of_order += 1;
                    return None;
                }
                self.lost += (d - 1) as u64;
                d > 1
            }
        };
        *last = Some(seq);
        Some(gap)
    }
}

/// A depacketizer for any codec weir reads.
#[derive(Debug)]
pub enum Depacketizer {
    /// H.264 (RFC 6184).
    H264(H264Depacketizer),
    /// H.265 (RFC 7798).
    H265(H265Depacketizer),
    /// AAC-hbr (RFC 3640).
    Aac(AacDepacketizer),
    /// MP4A-LATM with `cpresent=0` (RFC 6416).
    Latm(LatmDepacketizer),
    /// One frame per packet: Opus (RFC 7587) and G.711.
    Frame(FrameDepacketizer),
}

impl Depacketizer {
    /// The depacketizer for a media section, or `None` for a codec we do
    /// not read (including MP4A-LATM with the config in-band, `cpresent=1`,
    /// which cameras do not send).
    pub fn new(media: &Media) -> Option<Depacketizer> {
        Some(match &media.codec {
            Codec::H264(_) => Depacketizer::H264(H264Depacketizer::new()),
            Codec::H265(_) => Depacketizer::H265(H265Depacketizer::new()),
            Codec::Aac(p) => Depacketizer::Aac(AacDepacketizer::new(p)),
            Codec::Latm(p) if !p.cpresent => Depacketizer::Latm(LatmDepacketizer::new()),
            Codec::Opus | Codec::Pcma | Codec::Pcmu => {
                Depacketizer::Frame(FrameDepacketizer::new())
            }
            // AV1 is only written (RTSP play of streams published over
            // Enhanced RTMP); SDP parsing never yields it.
            Codec::Av1 | Codec::Latm(_) | Codec::Unknown(_) => return None,
        })
    }

    /// Feeds one packet; complete access units are appended to `out`. An
    /// error means the packet was malformed (already counted, and the
    /// access unit it belonged to dropped); the depacketizer stays usable.
    pub fn handle_packet(
        &mut self,
        packet: &Packet,
        out: &mut Vec<AccessUnit>,
    ) -> Result<(), RtspError> {
        match self {
            Depacketizer::H264(d) => d.handle_packet(packet, out),
            Depacketizer::H265(d) => d.handle_packet(packet, out),
            Depacketizer::Aac(d) => d.handle_packet(packet, out),
            Depacketizer::Latm(d) => d.handle_packet(packet, out),
            Depacketizer::Frame(d) => d.handle_packet(packet, out),
        }
    }

    /// What was counted so far.
    pub fn stats(&self) -> DepacketizerStats {
        match self {
            Depacketizer::H264(d) => d.stats(),
            Depacketizer::H265(d) => d.stats(),
            Depacketizer::Aac(d) => d.stats(),
            Depacketizer::Latm(d) => d.stats(),
            Depacketizer::Frame(d) => d.stats(),
        }
    }
}
