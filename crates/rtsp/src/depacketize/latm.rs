//! AAC in `MP4A-LATM` (RFC 6416 §7.3) with `cpresent=0`, as IP cameras
//! send it: each RTP packet (or run of packets ending with the marker bit)
//! holds audioMuxElements of one program and layer, each a
//! PayloadLengthInfo (bytes of 255 summed, then a final byte) followed by
//! that many bytes of raw AAC. The StreamMuxConfig comes from the SDP.

use bytes::{Bytes, BytesMut};

use super::{AccessUnit, DepacketizerStats, AAC_SAMPLES_PER_FRAME, MAX_AUDIO_FRAME};
use crate::error::RtspError;
use crate::rtp::{Packet, TimestampExtender};

/// Most frames read from one reassembled payload.
const MAX_FRAMES: usize = 64;

/// Reassembles LATM payloads into AAC frames.
#[derive(Debug, Default)]
pub struct LatmDepacketizer {
    last_seq: Option<u16>,
    /// Payload bytes of the element in progress and their timestamp.
    pending: Option<(u32, BytesMut)>,
    ext: TimestampExtender,
    stats: DepacketizerStats,
}

impl LatmDepacketizer {
    /// A fresh depacketizer.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was counted so far.
    pub fn stats(&self) -> DepacketizerStats {
        self.stats
    }

    /// Feeds one packet (see [`super::Depacketizer::handle_packet`]).
    pub fn handle_packet(
        &mut self,
        packet: &Packet,
        out: &mut Vec<AccessUnit>,
    ) -> Result<(), RtspError> {
        let Some(gap) = self.stats.sequence(&mut self.last_seq, packet.seq) else {
            return Ok(());
        };
        if let Some((ts, _)) = &self.pending {
            if gap || *ts != packet.timestamp {
                self.pending = None;
                self.stats.dropped_units += 1;
            }
        }
        let (ts, mut buf) = self
            .pending
            .take()
            .unwrap_or((packet.timestamp, BytesMut::new()));
        if buf.len() + packet.payload.len() > MAX_AUDIO_FRAME {
            self.stats.dropped_units += 1;
            self.stats.bad_packets += 1;
            return Err(RtspError::Rtp("LATM element over the size limit"));
        }
        buf.extend_from_slice(&packet.payload);
        if !packet.marker {
            self.pending = Some((ts, buf));
            return Ok(());
        }
        let base = self.ext.extend(ts);
        match split_elements(buf.freeze()) {
            Ok(frames) => {
                for (i, f) in frames.into_iter().enumerate() {
                    self.stats.units += 1;
                    out.push(AccessUnit {
                        timestamp: base + i as u64 * AAC_SAMPLES_PER_FRAME,
                        units: vec![f],
                        keyframe: true,
                    });
                }
                Ok(())
            }
            Err(e) => {
                self.stats.bad_packets += 1;
                self.stats.dropped_units += 1;
                Err(e)
            }
        }
    }
}

fn split_elements(data: Bytes) -> Result<Vec<Bytes>, RtspError> {
    let mut frames = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if frames.len() == MAX_FRAMES {
            return Err(RtspError::Rtp("too many LATM elements"));
        }
        let mut len = 0usize;
        loop {
            let Some(&b) = data.get(i) else {
                return Err(RtspError::Rtp("truncated LATM length"));
            };
            i += 1;
            len += usize::from(b);
            if b != 255 {
                break;
            }
        }
        if len == 0 || i + len > data.len() {
            return Err(RtspError::Rtp("LATM length beyond the payload"));
        }
        frames.push(data.slice(i..i + len));
        i += len;
    }
    if frames.is_empty() {
        return Err(RtspError::Rtp("empty LATM payload"));
    }
    Ok(frames)
}

/// The AudioSpecificConfig inside a StreamMuxConfig (the SDP's `config=`
/// of MP4A-LATM), which muxers for the other outputs need. Only the shape
/// cameras send is read: audioMuxVersion 0, one program, one layer, and an
/// AAC object type without extensions (1–4); anything else is `None`.
pub fn latm_audio_specific_config(stream_mux_config: &[u8]) -> Option<Bytes> {
    let mut r = super::aac::BitReader::new(stream_mux_config, stream_mux_config.len() * 8);
    if r.remaining() < 15 + 13 || r.read(1) != 0 {
        return None;
    }
    let _all_same_framing = r.read(1);
    let _num_sub_frames = r.read(6);
    if r.read(4) != 0 || r.read(3) != 0 {
        return None;
    }
    let object_type = r.read(5);
    if !(1..=4).contains(&object_type) {
        return None;
    }
    let freq_index = r.read(4);
    let freq = if freq_index == 15 {
        if r.remaining() < 24 + 7 {
            return None;
        }
        Some(r.read(24))
    } else {
        None
    };
    let channels = r.read(4);
    let ga = r.read(3);
    // Re-pack the fields byte-aligned.
    let mut bits: Vec<(u32, u8)> = vec![(object_type, 5), (freq_index, 4)];
    if let Some(f) = freq {
        bits.push((f, 24));
    }
    bits.extend([(channels, 4), (ga, 3)]);
    let mut out = Vec::new();
    let (mut acc, mut n) = (0u64, 0u32);
    for (v, len) in bits {
        acc = (acc << len) | u64::from(v);
        n += u32::from(len);
        while n >= 8 {
            out.push((acc >> (n - 8)) as u8);
            n -= 8;
        }
    }
    if n > 0 {
        out.push((acc << (8 - n)) as u8);
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_from_camera_stream_mux_config() {
        // 40002420 3fc0: StreamMuxConfig of AAC-LC, 44.1 kHz (index 4), stereo.
        let asc = latm_audio_specific_config(&[0x40, 0x00, 0x24, 0x20, 0x3f, 0xc0]).unwrap();
        assert_eq!(&asc[..], &[0x12, 0x10]);
        assert_eq!(latm_audio_specific_config(&[0xc0, 0, 0, 0]), None);
        assert_eq!(latm_audio_specific_config(&[]), None);
    }

    #[test]
    fn splits_elements() {
        let mut d = Vec::from([255u8, 1]);
        d.extend(std::iter::repeat_n(7u8, 256));
        d.extend([2, 1, 2]);
        let f = split_elements(Bytes::from(d)).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].len(), 256);
        assert_eq!(&f[1][..], &[1, 2]);
        assert!(split_elements(Bytes::from_static(&[5, 1])).is_err());
        assert!(split_elements(Bytes::from_static(&[255])).is_err());
    }
}
