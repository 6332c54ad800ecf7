//! Transport packets: PES headers, PES/section packetisation, PCR-only
//! packets, and the PAT/PMT sections.
//!
//! Everything here is infallible and writes whole 188-byte packets, so the
//! muxer only has to validate a frame before calling in.

use bytes::{BufMut, BytesMut};

use crate::crc::crc32_mpeg2;
use crate::PACKET_SIZE;
const SYNC: u8 = 0x47;
/// Payload room after the 4-byte packet header.
const BODY: usize = PACKET_SIZE - 4;

/// A PID's 4-bit continuity counter, holding the value of the *next*
/// payload-carrying packet. It lives in the muxer, not in a segment, which
/// keeps counters continuous when segments are played back to back.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counter(u8);

impl Counter {
    fn take(&mut self) -> u8 {
        let v = self.0;
        self.0 = (v + 1) & 0x0f;
        v
    }
    /// The counter of the last payload packet: adaptation-only packets
    /// repeat it rather than advancing (ISO/IEC 13818-1, 2.4.3.3).
    fn last(self) -> u8 {
        self.0.wrapping_sub(1) & 0x0f
    }
}

/// What the first packet of a PES carries in its adaptation field.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PesStart {
    /// PCR base in 90 kHz units.
    pub(crate) pcr: Option<u64>,
    /// Decoding can start here (video keyframe, or any audio-only frame).
    pub(crate) random_access: bool,
    /// The PCR restarts here: the system time base jumped.
    pub(crate) discontinuity: bool,
}

fn pcr_bytes(base: u64) -> [u8; 6] {
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        (((base & 1) as u8) << 7) | 0x7e, // 6 reserved bits, extension 0
        0,
    ]
}

fn put_header(out: &mut BytesMut, pid: u16, start: bool, flags_cc: u8) {
    out.put_u8(SYNC);
    out.put_u8(if start { 0x40 } else { 0 } | ((pid >> 8) as u8 & 0x1f));
    out.put_u8(pid as u8);
    out.put_u8(flags_cc);
}

/// Splits `header ++ payload` (one PES packet) into transport packets on
/// `pid`. The last packet is padded with adaptation-field stuffing, the
/// only padding MPEG-TS allows inside a PES.
pub(crate) fn write_pes(
    out: &mut BytesMut,
    pid: u16,
    cc: &mut Counter,
    start: PesStart,
    header: &[u8],
    payload: &[u8],
) {
    let total = header.len() + payload.len();
    out.reserve((total / BODY + 2) * PACKET_SIZE);
    let mut sent = 0;
    while sent < total {
        let first = sent == 0;
        let mut af = [0xffu8; BODY];
        let mut af_len = 0;
        if first && (start.pcr.is_some() || start.random_access) {
            af[1] = if start.random_access { 0x40 } else { 0 };
            if start.discontinuity {
                af[1] |= 0x80;
            }
            af_len = 2;
            if let Some(pcr) = start.pcr {
                af[1] |= 0x10;
                af[2..8].copy_from_slice(&pcr_bytes(pcr));
                af_len = 8;
            }
        }
        let room = BODY - af_len;
        let n = (total - sent).min(room);
        let stuffing = room - n;
        if stuffing > 0 {
            if af_len == 0 && stuffing > 1 {
                af[1] = 0; // no flags, the rest is 0xff stuffing
            }
            af_len += stuffing;
        }
        if af_len > 0 {
            af[0] = (af_len - 1) as u8;
        }
        let control = if af_len > 0 { 0x30 } else { 0x10 };
        put_header(out, pid, first, control | cc.take());
        out.put_slice(&af[..af_len]);

        let mut from = sent;
        let mut left = n;
        if from < header.len() {
            let k = left.min(header.len() - from);
            out.put_slice(&header[from..from + k]);
            from += k;
            left -= k;
        }
        let p = from - header.len();
        out.put_slice(&payload[p..p + left]);
        sent += n;
    }
}

/// A packet carrying only a PCR, for when the PCR PID has had no PES for
/// too long (audio-heavy stretches, sparse video).
pub(crate) fn write_pcr_only(
    out: &mut BytesMut,
    pid: u16,
    cc: Counter,
    pcr: u64,
    discontinuity: bool,
) {
    put_header(out, pid, false, 0x20 | cc.last());
    out.put_u8((BODY - 1) as u8);
    out.put_u8(if discontinuity { 0x90 } else { 0x10 });
    out.put_slice(&pcr_bytes(pcr));
    out.put_bytes(0xff, BODY - 8);
}

/// One PSI section in a single packet (ours are far below 183 bytes).
fn write_section(out: &mut BytesMut, pid: u16, cc: &mut Counter, section: &[u8]) {
    put_header(out, pid, true, 0x10 | cc.take());
    out.put_u8(0); // pointer_field: the section starts right away
    out.put_slice(section);
    out.put_bytes(0xff, BODY - 1 - section.len());
}

/// Finishes a section: fills in `section_length` and appends the CRC.
fn seal(mut section: Vec<u8>) -> Vec<u8> {
    let len = section.len() - 3 + 4;
    section[1] = 0xb0 | (len >> 8) as u8;
    section[2] = len as u8;
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    section
}

/// Writes the PAT (program 1 -> `pmt_pid`) on PID 0.
pub(crate) fn write_pat(out: &mut BytesMut, cc: &mut Counter, pmt_pid: u16) {
    let pat = seal(vec![
        0x00, // table_id: program_association_section
        0,
        0,
        0x00,
        0x01, // transport_stream_id
        0xc1, // version 0, current
        0,
        0,
        0x00,
        0x01, // program_number 1
        0xe0 | (pmt_pid >> 8) as u8,
        pmt_pid as u8,
    ]);
    write_section(out, 0, cc, &pat);
}

/// Writes the PMT of program 1: `streams` are `(stream_type, pid)`.
pub(crate) fn write_pmt(
    out: &mut BytesMut,
    cc: &mut Counter,
    pmt_pid: u16,
    version: u8,
    pcr_pid: u16,
    streams: &[(u8, u16)],
) {
    let mut pmt = vec![
        0x02, // table_id: TS_program_map_section
        0,
        0,
        0x00,
        0x01, // program_number 1
        0xc1 | ((version & 0x1f) << 1),
        0,
        0,
        0xe0 | (pcr_pid >> 8) as u8,
        pcr_pid as u8,
        0xf0,
        0x00, // no program descriptors
    ];
    for &(stream_type, pid) in streams {
        pmt.extend_from_slice(&[stream_type, 0xe0 | (pid >> 8) as u8, pid as u8, 0xf0, 0x00]);
    }
    write_section(out, pmt_pid, cc, &seal(pmt));
}

/// Builds a PES header with a PTS and, if given, a DTS (both 90 kHz, 33
/// bits). `unbounded` writes PES_packet_length 0, which only video may use
/// and which frees big video frames from the 64 KiB limit.
pub(crate) fn pes_header(
    stream_id: u8,
    pts: u64,
    dts: Option<u64>,
    payload_len: usize,
    unbounded: bool,
) -> ([u8; 19], usize) {
    let mut h = [0u8; 19];
    h[..4].copy_from_slice(&[0, 0, 1, stream_id]);
    let ts_len = if dts.is_some() { 10 } else { 5 };
    let after_length = 3 + ts_len + payload_len;
    let pes_len = if unbounded || after_length > 0xffff {
        0
    } else {
        after_length
    };
    h[4..6].copy_from_slice(&(pes_len as u16).to_be_bytes());
    h[6] = 0x84; // marker bits, data_alignment_indicator: a PES starts an AU
    h[7] = if dts.is_some() { 0xc0 } else { 0x80 };
    h[8] = ts_len as u8;
    put_timestamp(&mut h[9..14], if dts.is_some() { 3 } else { 2 }, pts);
    if let Some(dts) = dts {
        put_timestamp(&mut h[14..19], 1, dts);
    }
    (h, 9 + ts_len)
}

fn put_timestamp(b: &mut [u8], prefix: u8, ts: u64) {
    b[0] = (prefix << 4) | ((ts >> 29) as u8 & 0x0e) | 1;
    b[1] = (ts >> 22) as u8;
    b[2] = ((ts >> 14) as u8 & 0xfe) | 1;
    b[3] = (ts >> 7) as u8;
    b[4] = ((ts << 1) as u8 & 0xfe) | 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pes_size_packs_into_whole_packets() {
        let mut cc = Counter::default();
        for len in 0..600 {
            for start in [
                PesStart::default(),
                PesStart {
                    pcr: Some(1 << 32),
                    random_access: true,
                    discontinuity: false,
                },
            ] {
                let mut out = BytesMut::new();
                let payload = vec![0xab; len];
                write_pes(&mut out, 0x100, &mut cc, start, &[0, 0, 1, 0xe0], &payload);
                assert_eq!(out.len() % PACKET_SIZE, 0, "{len}");
                let mut body = Vec::new();
                for (i, p) in out.chunks(PACKET_SIZE).enumerate() {
                    assert_eq!(p[0], SYNC);
                    assert_eq!(p[1] & 0x40 != 0, i == 0);
                    let start = match p[3] & 0x30 {
                        0x10 => 4,
                        0x30 => 5 + usize::from(p[4]),
                        other => panic!("control {other:#x}"),
                    };
                    body.extend_from_slice(&p[start..]);
                }
                assert_eq!(body.len(), 4 + len);
                assert!(body[4..].iter().all(|&b| b == 0xab));
            }
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let ts = (1u64 << 33) - 12345;
        let (h, len) = pes_header(0xe0, ts, Some(ts - 3000), 10, true);
        assert_eq!(len, 19);
        let read = |b: &[u8]| {
            (u64::from(b[0] >> 1 & 7) << 30)
                | (u64::from(b[1]) << 22)
                | (u64::from(b[2] >> 1) << 15)
                | (u64::from(b[3]) << 7)
                | u64::from(b[4] >> 1)
        };
        assert_eq!(read(&h[9..14]), ts);
        assert_eq!(read(&h[14..19]), ts - 3000);
        assert_eq!(&h[4..6], &[0, 0]);
        let (h, len) = pes_header(0xc0, 90, None, 100, false);
        assert_eq!((len, &h[4..6]), (14, &[0u8, 108][..]));
    }

    #[test]
    fn pcr_only_packet_keeps_the_counter() {
        let mut cc = Counter::default();
        let mut out = BytesMut::new();
        write_pes(&mut out, 0x101, &mut cc, PesStart::default(), &[0; 4], &[]);
        write_pcr_only(&mut out, 0x101, cc, 90_000, false);
        assert_eq!(out.len(), 2 * PACKET_SIZE);
        assert_eq!(out[3] & 0x0f, out[PACKET_SIZE + 3] & 0x0f);
        assert_eq!(out[PACKET_SIZE + 3] & 0x30, 0x20);
    }
}
