//! RTP packetizers: access units in, packets out.
//!
//! One packetizer per stream and track, shared by every viewer ("mux
//! once"): it owns the sequence numbers, the SSRC and the offset from the
//! caller's clock to RTP timestamps (both chosen by the caller, since we
//! draw no random numbers), so every player sees the same packets and only
//! the framing (interleaved channel or UDP socket) differs per session.
//!
//! - H.264 (RFC 6184, packetization-mode 1, so the SDP must say
//!   `packetization-mode=1`): single NAL unit packets, FU-A above the size
//!   limit. STAP-A is not produced: parameter sets go in their own small
//!   packets, which every depacketizer accepts. The caller puts SPS/PPS (or
//!   VPS/SPS/PPS) in front of each keyframe so a player joining there can
//!   decode without the SDP.
//! - H.265 (RFC 7798): single NAL unit packets, FU above the size limit.
//! - AV1 (the AOM RTP payload format): OBU elements (without their size
//!   fields, temporal delimiters dropped by the caller) each after a
//!   LEB128 length (`W = 0`), aggregated up to the size limit and
//!   fragmented across packets with the Z/Y bits; `N` marks the first
//!   packet of a coded video sequence (a unit holding a sequence header).
//! - AAC (RFC 3640 AAC-hbr, sizelength 13 / indexlength 3): one frame per
//!   packet, fragmented above the size limit.
//! - Opus (RFC 7587) and G.711: one frame per packet (G.711 frames over
//!   the limit are split, the timestamp advancing one per byte).
//!
//! The marker bit is set on the last packet of a video access unit and on
//! every packet that ends an AAC frame.

use bytes::Bytes;

use crate::error::RtspError;
use crate::rtp::Packet;
use crate::sdp::Codec;

/// RTP fixed header size (no CSRCs, no extension).
const RTP_HEADER: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    H264,
    H265,
    Av1,
    Aac,
    Opus,
    G711,
}

/// Turns access units of one track into RTP packets.
#[derive(Debug, Clone)]
pub struct Packetizer {
    kind: Kind,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    timestamp_offset: u32,
    max_payload: usize,
    last_timestamp: Option<u32>,
    packets: u64,
    octets: u64,
}

impl Packetizer {
    /// A packetizer for `codec`, or `None` for a codec we do not write (and
    /// for AAC whose SDP asks for another AU header layout than 13/3/3).
    ///
    /// `max_packet` is the largest RTP packet (header included) to produce,
    /// e.g. 1400 to stay under a 1500-byte path MTU with IP/UDP headers;
    /// `ssrc`, `initial_seq` and `timestamp_offset` should be random
    /// (RFC 3550 §5.1) and come from the caller.
    pub fn new(
        codec: &Codec,
        payload_type: u8,
        ssrc: u32,
        initial_seq: u16,
        timestamp_offset: u32,
        max_packet: usize,
    ) -> Option<Packetizer> {
        let kind = match codec {
            Codec::H264(_) => Kind::H264,
            Codec::H265(_) => Kind::H265,
            Codec::Av1 => Kind::Av1,
            Codec::Aac(p)
                if p.size_length == 13 && p.index_length == 3 && p.index_delta_length == 3 =>
            {
                Kind::Aac
            }
            Codec::Opus => Kind::Opus,
            Codec::Pcma | Codec::Pcmu => Kind::G711,
            _ => return None,
        };
        Some(Packetizer {
            kind,
            payload_type,
            ssrc,
            seq: initial_seq,
            timestamp_offset,
            // Room for the largest per-packet header we add (FU: 3, AAC: 4).
            max_payload: max_packet.saturating_sub(RTP_HEADER).max(16),
            last_timestamp: None,
            packets: 0,
            octets: 0,
        })
    }

    /// The SSRC of every packet.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number the next packet will carry (for `RTP-Info`).
    pub fn next_seq(&self) -> u16 {
        self.seq
    }

    /// The RTP timestamp a unit at `timestamp` (in the track's clock, as
    /// given to [`Packetizer::packetize`]) gets, for `RTP-Info` and RTCP.
    pub fn rtp_timestamp(&self, timestamp: u64) -> u32 {
        (timestamp as u32).wrapping_add(self.timestamp_offset)
    }

    /// RTP timestamp of the last packet sent, if any.
    pub fn last_timestamp(&self) -> Option<u32> {
        self.last_timestamp
    }

    /// Packets and payload octets sent so far, for RTCP sender reports.
    pub fn counts(&self) -> (u64, u64) {
        (self.packets, self.octets)
    }

    /// Packetizes one access unit taken at `timestamp` in the track's clock
    /// (the adapter converts media time to clock units). Video units are
    /// NAL units without start codes; audio is exactly one frame. Packets
    /// are appended to `out`.
    pub fn packetize(
        &mut self,
        timestamp: u64,
        units: &[Bytes],
        out: &mut Vec<Bytes>,
    ) -> Result<(), RtspError> {
        let ts = self.rtp_timestamp(timestamp);
        let units: Vec<&Bytes> = units.iter().filter(|u| !u.is_empty()).collect();
        match self.kind {
            Kind::H264 | Kind::H265 => {
                for (i, nal) in units.iter().enumerate() {
                    self.nal(ts, nal, i + 1 == units.len(), out)?;
                }
            }
            Kind::Av1 => self.av1(ts, &units, out)?,
            Kind::Aac => {
                for frame in units {
                    self.aac(ts, frame, out)?;
                }
            }
            Kind::Opus => {
                for frame in units {
                    if frame.len() > self.max_payload {
                        return Err(RtspError::Write("Opus frame larger than a packet"));
                    }
                    self.emit(ts, false, &[frame], out)?;
                }
            }
            Kind::G711 => {
                for frame in units {
                    for (i, chunk) in frame.chunks(self.max_payload).enumerate() {
                        let t = ts.wrapping_add((i * self.max_payload) as u32);
                        self.emit(t, false, &[chunk], out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn nal(
        &mut self,
        ts: u32,
        nal: &[u8],
        last: bool,
        out: &mut Vec<Bytes>,
    ) -> Result<(), RtspError> {
        if nal.len() <= self.max_payload {
            return self.emit(ts, last, &[nal], out);
        }
        let (header, body): (Vec<u8>, &[u8]) = match self.kind {
            Kind::H264 => (vec![(nal[0] & 0xe0) | 28, nal[0] & 0x1f], &nal[1..]),
            _ => {
                if nal.len() < 3 {
                    return Err(RtspError::Write("H.265 NAL unit shorter than its header"));
                }
                (
                    vec![(nal[0] & 0x81) | (49 << 1), nal[1], (nal[0] >> 1) & 0x3f],
                    &nal[2..],
                )
            }
        };
        let room = self.max_payload - header.len();
        let n = body.len().div_ceil(room);
        for (i, chunk) in body.chunks(room).enumerate() {
            let mut h = header.clone();
            let fu = h.len() - 1;
            if i == 0 {
                h[fu] |= 0x80;
            }
            if i + 1 == n {
                h[fu] |= 0x40;
            }
            self.emit(ts, last && i + 1 == n, &[&h, chunk], out)?;
        }
        Ok(())
    }

    /// One temporal unit's OBU elements, packed into as few packets as the
    /// size limit allows.
    fn av1(&mut self, ts: u32, obus: &[&Bytes], out: &mut Vec<Bytes>) -> Result<(), RtspError> {
        // N: a sequence header OBU (type 1) starts a coded video sequence.
        let new_sequence = obus.iter().any(|o| (o[0] >> 3) & 0xF == 1);
        let max = self.max_payload;
        let mut payload = vec![if new_sequence { 0x08 } else { 0 }];
        for obu in obus {
            let mut rest: &[u8] = obu;
            loop {
                let room = max - payload.len();
                if leb128_len(rest.len()) + rest.len() <= room {
                    leb128(rest.len(), &mut payload);
                    payload.extend_from_slice(rest);
                    break;
                }
                // Fragment: as much as fits after its length, when worth it.
                let mut take = room.saturating_sub(leb128_len(room));
                while take > 0 && leb128_len(take) + take > room {
                    take -= 1;
                }
                // (An empty packet must take something, or never move on.)
                if take >= 16 || (payload.len() == 1 && take > 0) {
                    leb128(take, &mut payload);
                    payload.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    payload[0] |= 0x40; // Y: the last element goes on
                }
                let continues = payload[0] & 0x40 != 0;
                if payload.len() > 1 {
                    self.emit(ts, false, &[&payload], out)?;
                }
                // Z: the first element continues the previous packet's.
                payload.clear();
                payload.push(if continues { 0x80 } else { 0 });
            }
        }
        // A fragment always leaves bytes for the next packet, so the last
        // one (with the marker) is never empty unless there were no OBUs.
        if payload.len() > 1 {
            self.emit(ts, true, &[&payload], out)?;
        }
        Ok(())
    }

    fn aac(&mut self, ts: u32, frame: &[u8], out: &mut Vec<Bytes>) -> Result<(), RtspError> {
        if frame.len() >= 1 << 13 {
            return Err(RtspError::Write("AAC frame over 8191 bytes"));
        }
        let size = frame.len() as u16;
        // AU-headers-length 16 bits, then AU-size(13) AU-Index(3).
        let header = [0x00, 0x10, (size >> 5) as u8, ((size & 0x1f) << 3) as u8];
        let room = self.max_payload - header.len();
        let n = frame.len().div_ceil(room);
        for (i, chunk) in frame.chunks(room).enumerate() {
            self.emit(ts, i + 1 == n, &[&header, chunk], out)?;
        }
        Ok(())
    }

    fn emit(
        &mut self,
        ts: u32,
        marker: bool,
        parts: &[&[u8]],
        out: &mut Vec<Bytes>,
    ) -> Result<(), RtspError> {
        let packet = Packet::write(self.payload_type, self.seq, ts, self.ssrc, marker, parts)?;
        self.seq = self.seq.wrapping_add(1);
        self.packets += 1;
        self.octets += (packet.len() - RTP_HEADER) as u64;
        self.last_timestamp = Some(ts);
        out.push(packet);
        Ok(())
    }
}

/// Bytes of `n` as unsigned LEB128.
fn leb128_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Appends `n` as unsigned LEB128.
fn leb128(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}
