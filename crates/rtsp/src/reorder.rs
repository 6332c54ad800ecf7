//! A small reorder buffer for RTP over UDP.
//!
//! UDP may deliver packets out of order; depacketizers need them in order
//! and treat a gap as a loss. This buffer holds at most `capacity` packets
//! waiting for a missing one; when it is full the gap is declared lost
//! (counted) and delivery moves on, so a lost packet costs at most
//! `capacity` packets of delay and never unbounded memory. Over TCP it is
//! not needed. It reads no clock: a caller that wants a time bound calls
//! [`ReorderBuffer::pop_forced`] when its own timer fires.

use std::collections::VecDeque;

use crate::rtp::{seq_delta, Packet};

/// Counters of what the buffer saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReorderStats {
    /// Sequence numbers skipped as lost.
    pub lost: u64,
    /// Packets that arrived after their turn had passed (dropped).
    pub late: u64,
    /// Packets received twice (dropped).
    pub duplicates: u64,
    /// Times the sequence jumped so far that the buffer restarted.
    pub resets: u64,
}

/// Reorders packets by sequence number within a bounded window.
#[derive(Debug, Clone)]
pub struct ReorderBuffer {
    capacity: usize,
    next: Option<u16>,
    // Sorted by distance from `next`.
    pending: VecDeque<Packet>,
    stats: ReorderStats,
}

/// A jump this far ahead means the sender restarted its sequence.
const RESTART_DISTANCE: i16 = 0x1000;

impl ReorderBuffer {
    /// A buffer holding at most `capacity` (at least 1) waiting packets.
    pub fn new(capacity: usize) -> Self {
        ReorderBuffer {
            capacity: capacity.max(1),
            next: None,
            pending: VecDeque::new(),
            stats: ReorderStats::default(),
        }
    }

    /// What was counted so far.
    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// Adds a received packet; then call [`ReorderBuffer::pop`] until it
    /// returns `None`.
    pub fn push(&mut self, packet: Packet) {
        let next = *self.next.get_or_insert(packet.seq);
        let d = seq_delta(next, packet.seq);
        if d < 0 {
            self.stats.late += 1;
            return;
        }
        if d >= RESTART_DISTANCE {
            // Deliver what we hold (in order, gaps counted) and restart.
            self.stats.resets += 1;
            self.next = Some(packet.seq);
            let mut held: Vec<Packet> = self.pending.drain(..).collect();
            held.retain(|p| seq_delta(packet.seq, p.seq) > 0);
            self.pending.push_back(packet);
            self.pending.extend(held);
            return;
        }
        let pos = self.pending.partition_point(|p| seq_delta(next, p.seq) < d);
        if self.pending.get(pos).is_some_and(|p| p.seq == packet.seq) {
            self.stats.duplicates += 1;
            return;
        }
        self.pending.insert(pos, packet);
    }

    /// The next packet in order, or `None` while waiting for a missing one
    /// with room left in the buffer.
    pub fn pop(&mut self) -> Option<Packet> {
        let next = self.next?;
        if self.pending.front()?.seq == next || self.pending.len() > self.capacity {
            return self.pop_forced();
        }
        None
    }

    /// The earliest held packet even if some before it are missing (which
    /// are counted as lost): for a caller's timeout.
    pub fn pop_forced(&mut self) -> Option<Packet> {
        let p = self.pending.pop_front()?;
        if let Some(next) = self.next {
            self.stats.lost += seq_delta(next, p.seq).max(0) as u64;
        }
        self.next = Some(p.seq.wrapping_add(1));
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn pkt(seq: u16) -> Packet {
        Packet {
            payload_type: 96,
            seq,
            timestamp: 0,
            ssrc: 1,
            marker: false,
            payload: Bytes::new(),
        }
    }

    fn drain(b: &mut ReorderBuffer) -> Vec<u16> {
        std::iter::from_fn(|| b.pop()).map(|p| p.seq).collect()
    }

    #[test]
    fn reorders_across_wrap() {
        let mut b = ReorderBuffer::new(8);
        let mut out = Vec::new();
        for s in [65534u16, 0, 65535, 2, 2, 1, 3] {
            b.push(pkt(s));
            out.extend(drain(&mut b));
        }
        assert_eq!(out, vec![65534, 65535, 0, 1, 2, 3]);
        assert_eq!(b.stats().duplicates, 1);
        b.push(pkt(0));
        assert_eq!(b.stats().late, 1);
    }

    #[test]
    fn full_buffer_declares_loss() {
        let mut b = ReorderBuffer::new(2);
        let mut out = Vec::new();
        for s in [10u16, 12, 13, 14, 15] {
            b.push(pkt(s));
            out.extend(drain(&mut b));
        }
        assert_eq!(out, vec![10, 12, 13, 14, 15]);
        assert_eq!(b.stats().lost, 1);
    }

    #[test]
    fn big_jump_restarts() {
        let mut b = ReorderBuffer::new(4);
        b.push(pkt(1));
        assert_eq!(drain(&mut b), vec![1]);
        b.push(pkt(30000));
        b.push(pkt(30001));
        assert_eq!(drain(&mut b), vec![30000, 30001]);
        assert_eq!(b.stats().resets, 1);
    }
}
