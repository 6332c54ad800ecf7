//! A small reorder buffer for RTP over UDP.
//!
//! UDP may deliver packets out of order; depacketizers need them in order
//! and treat a gap as a loss. This buffer holds packets waiting for a
//! missing one, bounded twice: by count (when more than `capacity` wait,
//! the gap is declared lost) and by time (when the oldest waiting packet
//! has waited `max_delay`, likewise). A lost packet therefore costs at most
//! `max_delay` of latency and never unbounded memory; every gap given up is
//! counted. Over TCP it is not needed. No clock is read: the caller passes
//! arrival times and asks [`ReorderBuffer::poll_timeout`] when to call
//! [`ReorderBuffer::pop`] again if nothing else arrives.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
    /// Packets that arrived out of order and were put back in place.
    pub reordered: u64,
}

/// Reorders packets by sequence number within a bounded window.
#[derive(Debug, Clone)]
pub struct ReorderBuffer {
    capacity: usize,
    max_delay: Duration,
    next: Option<u16>,
    // Sorted by distance from `next`, each with its arrival time.
    pending: VecDeque<(Instant, Packet)>,
    stats: ReorderStats,
}

/// A jump this far ahead means the sender restarted its sequence.
const RESTART_DISTANCE: i16 = 0x1000;

impl ReorderBuffer {
    /// A buffer holding at most `capacity` (at least 1) waiting packets,
    /// none longer than `max_delay`.
    pub fn new(capacity: usize, max_delay: Duration) -> Self {
        ReorderBuffer {
            capacity: capacity.max(1),
            max_delay,
            next: None,
            pending: VecDeque::new(),
            stats: ReorderStats::default(),
        }
    }

    /// What was counted so far.
    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// Adds a packet that arrived at `now`; then call
    /// [`ReorderBuffer::pop`] until it returns `None`.
    pub fn push(&mut self, now: Instant, packet: Packet) {
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
            let mut held: Vec<(Instant, Packet)> = self.pending.drain(..).collect();
            held.retain(|(_, p)| seq_delta(packet.seq, p.seq) > 0);
            self.pending.push_back((now, packet));
            self.pending.extend(held);
            return;
        }
        let pos = self
            .pending
            .partition_point(|(_, p)| seq_delta(next, p.seq) < d);
        if self
            .pending
            .get(pos)
            .is_some_and(|(_, p)| p.seq == packet.seq)
        {
            self.stats.duplicates += 1;
            return;
        }
        if pos < self.pending.len() {
            self.stats.reordered += 1;
        }
        self.pending.insert(pos, (now, packet));
    }

    /// The next packet in order, or `None` while waiting for a missing one
    /// with room and time left.
    pub fn pop(&mut self, now: Instant) -> Option<Packet> {
        let next = self.next?;
        let (_, front) = self.pending.front()?;
        if front.seq == next
            || self.pending.len() > self.capacity
            || self.give_up_at().is_some_and(|at| at <= now)
        {
            return self.pop_forced();
        }
        None
    }

    /// When [`ReorderBuffer::pop`] gives up on the current gap, if packets
    /// wait behind one.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.next?;
        match self.pending.front() {
            Some((_, p)) if p.seq != next => self.give_up_at(),
            _ => None,
        }
    }

    /// The oldest waiting packet's arrival plus the delay bound.
    fn give_up_at(&self) -> Option<Instant> {
        let oldest = self.pending.iter().map(|(at, _)| *at).min()?;
        Some(oldest + self.max_delay)
    }

    /// The earliest held packet even if some before it are missing (which
    /// are counted as lost): what is left when the sender stops.
    pub fn pop_forced(&mut self) -> Option<Packet> {
        let (_, p) = self.pending.pop_front()?;
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

    const SECOND: Duration = Duration::from_secs(1);

    fn t0() -> Instant {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

    fn drain(b: &mut ReorderBuffer) -> Vec<u16> {
        std::iter::from_fn(|| b.pop(t0())).map(|p| p.seq).collect()
    }

    #[test]
    fn reorders_across_wrap() {
        let mut b = ReorderBuffer::new(8, SECOND);
        let mut out = Vec::new();
        for s in [65534u16, 0, 65535, 2, 2, 1, 3] {
            b.push(t0(), pkt(s));
            out.extend(drain(&mut b));
        }
        assert_eq!(out, vec![65534, 65535, 0, 1, 2, 3]);
        assert_eq!(b.stats().duplicates, 1);
        b.push(t0(), pkt(0));
        assert_eq!(b.stats().late, 1);
    }

    #[test]
    fn full_buffer_declares_loss() {
        let mut b = ReorderBuffer::new(2, SECOND);
        let mut out = Vec::new();
        for s in [10u16, 12, 13, 14, 15] {
            b.push(t0(), pkt(s));
            out.extend(drain(&mut b));
        }
        assert_eq!(out, vec![10, 12, 13, 14, 15]);
        assert_eq!(b.stats().lost, 1);
    }

    #[test]
    fn big_jump_restarts() {
        let mut b = ReorderBuffer::new(4, SECOND);
        b.push(t0(), pkt(1));
        assert_eq!(drain(&mut b), vec![1]);
        b.push(t0(), pkt(30000));
        b.push(t0(), pkt(30001));
        assert_eq!(drain(&mut b), vec![30000, 30001]);
        assert_eq!(b.stats().resets, 1);
    }

    #[test]
    fn a_gap_is_given_up_after_the_delay_bound() {
        let t = t0();
        let ms = Duration::from_millis;
        let mut b = ReorderBuffer::new(64, ms(100));
        b.push(t, pkt(1));
        assert_eq!(b.pop(t).map(|p| p.seq), Some(1));
        b.push(t + ms(10), pkt(3));
        b.push(t + ms(30), pkt(4));
        assert_eq!(b.pop(t + ms(30)), None);
        // The oldest waiting packet (3) arrived at 10 ms.
        assert_eq!(b.poll_timeout(), Some(t + ms(110)));
        assert_eq!(b.pop(t + ms(109)), None);
        assert_eq!(b.pop(t + ms(110)).map(|p| p.seq), Some(3));
        assert_eq!(b.pop(t + ms(110)).map(|p| p.seq), Some(4));
        assert_eq!(b.poll_timeout(), None);
        assert_eq!(b.stats().lost, 1);
        // A late arrival of the missing packet within the bound is put back.
        b.push(t + ms(200), pkt(6));
        b.push(t + ms(220), pkt(5));
        assert_eq!(drain(&mut b), vec![5, 6]);
        assert_eq!(b.stats().reordered, 1);
        assert_eq!(b.poll_timeout(), None);
    }
}
