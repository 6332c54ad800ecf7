//! The access-unit assembly shared by the H.264 and H.265 depacketizers:
//! the two formats differ only in how a payload splits into NAL units and
//! fragments, and in what a keyframe is.

use bytes::{Bytes, BytesMut};

use super::{AccessUnit, DepacketizerStats, MAX_NALS, MAX_VIDEO_UNIT};
use crate::error::RtspError;
use crate::rtp::{Packet, TimestampExtender};

/// A payload's content, as the codec module splits it.
#[derive(Debug)]
pub(super) enum Piece {
    /// A complete NAL unit (single NAL packet or aggregate entry).
    Whole(Bytes),
    /// Part of a fragmented NAL unit (FU-A / FU).
    Fragment {
        /// The reconstructed NAL header, on the first fragment only.
        start: Option<Bytes>,
        /// Whether this is the last fragment.
        end: bool,
        /// The fragment's bytes.
        data: Bytes,
    },
}

/// Assembles pieces into access units.
#[derive(Debug)]
pub(super) struct Assembler {
    ts: Option<u32>,
    nalus: Vec<Bytes>,
    bytes: usize,
    frag: Option<BytesMut>,
    broken: bool,
    waiting_key: bool,
    last_seq: Option<u16>,
    ext: TimestampExtender,
    stats: DepacketizerStats,
    pieces: Vec<Piece>,
}

impl Assembler {
    pub(super) fn new() -> Self {
        Assembler {
            ts: None,
            nalus: Vec::new(),
            bytes: 0,
            frag: None,
            broken: false,
            waiting_key: true,
            last_seq: None,
            ext: TimestampExtender::new(),
            stats: DepacketizerStats::default(),
            pieces: Vec::new(),
        }
    }

    pub(super) fn stats(&self) -> DepacketizerStats {
        self.stats
    }

    /// Handles one packet with the codec's `split` and `is_key`.
    pub(super) fn handle(
        &mut self,
        packet: &Packet,
        out: &mut Vec<AccessUnit>,
        split: impl Fn(&Bytes, &mut Vec<Piece>) -> Result<(), RtspError>,
        is_key: impl Fn(&[u8]) -> bool,
    ) -> Result<(), RtspError> {
        let Some(gap) = self.stats.sequence(&mut self.last_seq, packet.seq) else {
            return Ok(());
        };
        if gap {
            // The lost packet may have ended the unit in progress...
            self.broken = true;
        }
        if self.ts.is_some_and(|ts| ts != packet.timestamp) {
            self.finish(out, &is_key);
        }
        if gap {
            // ...or begun this one.
            self.broken = true;
        }
        self.ts = Some(packet.timestamp);
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.clear();
        let result = split(&packet.payload, &mut pieces);
        if result.is_err() {
            self.stats.bad_packets += 1;
            self.break_unit();
        } else {
            for piece in pieces.drain(..) {
                self.apply(piece);
            }
        }
        self.pieces = pieces;
        if packet.marker {
            self.finish(out, &is_key);
        }
        result
    }

    fn apply(&mut self, piece: Piece) {
        if self.broken {
            return;
        }
        match piece {
            Piece::Whole(nal) => {
                if self.frag.is_some() {
                    // A fragmented NAL unit that never ended.
                    self.break_unit();
                    return;
                }
                self.push(nal);
            }
            Piece::Fragment { start, end, data } => {
                let frag = match (start, self.frag.take()) {
                    (Some(header), None) => {
                        let mut f = BytesMut::with_capacity(header.len() + data.len());
                        f.extend_from_slice(&header);
                        f
                    }
                    (None, Some(f)) => f,
                    // A start inside a fragment, or a continuation without one.
                    _ => return self.break_unit(),
                };
                if self.bytes + frag.len() + data.len() > MAX_VIDEO_UNIT {
                    return self.break_unit();
                }
                let mut frag = frag;
                frag.extend_from_slice(&data);
                if end {
                    self.push(frag.freeze());
                } else {
                    self.frag = Some(frag);
                }
            }
        }
    }

    fn push(&mut self, nal: Bytes) {
        if nal.is_empty() {
            return;
        }
        if self.nalus.len() == MAX_NALS || self.bytes + nal.len() > MAX_VIDEO_UNIT {
            return self.break_unit();
        }
        self.bytes += nal.len();
        self.nalus.push(nal);
    }

    /// Marks the unit in progress as lost and frees what it held.
    fn break_unit(&mut self) {
        self.broken = true;
        self.nalus.clear();
        self.bytes = 0;
        self.frag = None;
    }

    fn finish(&mut self, out: &mut Vec<AccessUnit>, is_key: &impl Fn(&[u8]) -> bool) {
        let Some(ts) = self.ts.take() else {
            return;
        };
        let timestamp = self.ext.extend(ts);
        let nalus = std::mem::take(&mut self.nalus);
        self.bytes = 0;
        let unterminated = self.frag.take().is_some();
        if self.broken || unterminated {
            self.broken = false;
            self.stats.dropped_units += 1;
            self.waiting_key = true;
            return;
        }
        if nalus.is_empty() {
            return;
        }
        let keyframe = nalus.iter().any(|n| is_key(n));
        if self.waiting_key && !keyframe {
            self.stats.skipped_waiting += 1;
            return;
        }
        self.waiting_key = false;
        self.stats.units += 1;
        out.push(AccessUnit {
            timestamp,
            units: nalus,
            keyframe,
        });
    }
}

/// Splits an aggregation packet body (`size(16) NAL size(16) NAL …`).
pub(super) fn split_aggregate(body: Bytes, pieces: &mut Vec<Piece>) -> Result<(), RtspError> {
    let mut i = 0;
    while i < body.len() {
        if i + 2 > body.len() {
            return Err(RtspError::Rtp("truncated aggregation size"));
        }
        let size = usize::from(u16::from_be_bytes([body[i], body[i + 1]]));
        i += 2;
        if size == 0 || i + size > body.len() {
            return Err(RtspError::Rtp("aggregation size beyond the packet"));
        }
        pieces.push(Piece::Whole(body.slice(i..i + size)));
        i += size;
    }
    if pieces.is_empty() {
        return Err(RtspError::Rtp("empty aggregation packet"));
    }
    Ok(())
}
