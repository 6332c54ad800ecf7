//! Decode times for video received over RTP.
//!
//! RTP timestamps of video are presentation times, and with B-frames the
//! access units arrive in decoding order with presentation times out of
//! order, while every weir output needs a monotonic decode time with
//! `pts >= dts`. The presentation times sorted ascending are the decode
//! times up to a shift of the stream's reorder depth: unit `i` gets the
//! `i - DEPTH`-th smallest presentation time. This holds for any stream
//! whose frames are at most [`DEPTH`] places out of order (x264's default
//! B-pyramid needs 2); deeper reordering gets its composition offset
//! clamped at zero rather than a non-monotonic decode time.
//!
//! The price is latency: a unit goes out once [`DEPTH`] later units are in,
//! two frames (67 ms at 30 fps), for streams with or without B-frames,
//! since we cannot know in advance which kind a publisher sends.
//!
//! Shared by every RTP ingest: the RTSP server's publishers
//! (`weir-server-rtsp`) and camera pulls (`weir-pull`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Frames a unit may be out of presentation order; also the delay in
/// frames.
pub const DEPTH: usize = 2;

/// Orders video units and gives each a decode time.
#[derive(Debug)]
pub struct DtsDeriver<T> {
    /// Units waiting for [`DEPTH`] successors, with their presentation time.
    queue: VecDeque<(i64, T)>,
    /// Presentation times not yet handed out as decode times.
    heap: BinaryHeap<Reverse<i64>>,
    /// The last `DEPTH + 1` sorted presentation times handed out.
    sorted: VecDeque<i64>,
    last_dts: Option<i64>,
}

impl<T> Default for DtsDeriver<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> DtsDeriver<T> {
    /// An empty deriver.
    pub fn new() -> Self {
        DtsDeriver {
            queue: VecDeque::new(),
            heap: BinaryHeap::new(),
            sorted: VecDeque::new(),
            last_dts: None,
        }
    }

    /// The last decode time handed out.
    pub fn last_dts(&self) -> Option<i64> {
        self.last_dts
    }

    /// Hands out every queued unit at once (decode time: the smallest
    /// presentation time not handed out yet) and starts over, as at the
    /// start of a stream. For a keyframe after a loss: the units before the
    /// gap must not lend their times to the ones after it, which would put
    /// the gap's length between a frame's decode and presentation times.
    pub fn restart(&mut self) -> Vec<(i64, i64, T)> {
        let mut out = Vec::with_capacity(self.queue.len());
        while let Some((pts, unit)) = self.queue.pop_front() {
            let Reverse(smallest) = self.heap.pop().unwrap_or(Reverse(pts));
            let dts = smallest.min(pts);
            let dts = self.last_dts.map_or(dts, |l| dts.max(l + 1));
            self.last_dts = Some(dts);
            out.push((dts, pts.max(dts), unit));
        }
        self.heap.clear();
        self.sorted.clear();
        out
    }

    /// Takes a unit with presentation time `pts` (in decoding order) and
    /// returns the unit that is now ready, with its `(dts, pts)`.
    pub fn push(&mut self, pts: i64, unit: T) -> Option<(i64, i64, T)> {
        self.queue.push_back((pts, unit));
        self.heap.push(Reverse(pts));
        if self.queue.len() <= DEPTH {
            return None;
        }
        let (pts, unit) = self.queue.pop_front()?;
        let Reverse(smallest) = self.heap.pop()?;
        self.sorted.push_back(smallest);
        let dts = if self.sorted.len() > DEPTH {
            self.sorted.pop_front().unwrap_or(smallest)
        } else {
            // The first units: step back from the first sorted time by a
            // frame interval estimated from what is queued.
            let span = self.heap.peek().map_or(0, |Reverse(p)| p - smallest);
            let step = (span / DEPTH as i64).max(1);
            self.sorted[0] - step * (DEPTH + 1 - self.sorted.len()) as i64
        };
        let dts = dts.min(pts);
        let dts = self.last_dts.map_or(dts, |l| dts.max(l + 1));
        self.last_dts = Some(dts);
        Some((dts, pts.max(dts), unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pts: &[i64]) -> Vec<(i64, i64)> {
        let mut d = DtsDeriver::new();
        pts.iter()
            .filter_map(|&p| d.push(p, ()).map(|(dts, pts, ())| (dts, pts)))
            .collect()
    }

    #[test]
    fn b_pyramid_gets_monotonic_dts_not_after_pts() {
        // x264 bframes=3 b-pyramid, decoding order, 40 ms frames.
        let pts: Vec<i64> = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11]
            .iter()
            .map(|f| f * 40)
            .collect();
        let out = run(&pts);
        assert_eq!(out.len(), pts.len() - DEPTH);
        for w in out.windows(2) {
            assert!(w[1].0 > w[0].0, "{out:?}");
        }
        for (i, (dts, p)) in out.iter().enumerate() {
            assert!(dts <= p, "{out:?}");
            assert_eq!(*p, pts[i], "pts kept");
        }
        // From the third unit on, one frame interval apart.
        assert_eq!(out[2].0, 0);
        assert_eq!(out[3].0, 40);
        assert!(out[0].0 < 0 && out[1].0 < 0);
    }

    #[test]
    fn in_order_streams_keep_dts_close_to_pts() {
        let pts: Vec<i64> = (0..10).map(|f| f * 33).collect();
        let out = run(&pts);
        for (i, (dts, p)) in out.iter().enumerate().skip(DEPTH) {
            assert_eq!(*p, pts[i]);
            assert_eq!(*dts, pts[i - DEPTH]);
        }
    }

    #[test]
    fn a_restart_keeps_a_gap_out_of_the_composition_offsets() {
        let mut d = DtsDeriver::new();
        let frame = 33_333;
        let mut out: Vec<(i64, i64, u32)> = Vec::new();
        for i in 0..4 {
            out.extend(d.push(i * frame, i as u32));
        }
        // Frames 4..100 were lost: frame 100 is a keyframe.
        out.extend(d.restart());
        for i in 100..104 {
            out.extend(d.push(i * frame, i as u32));
        }
        out.extend(d.restart());
        let ids: Vec<u32> = out.iter().map(|o| o.2).collect();
        assert_eq!(ids, [0, 1, 2, 3, 100, 101, 102, 103]);
        for w in out.windows(2) {
            assert!(w[1].0 > w[0].0, "decode times increase: {out:?}");
        }
        for (dts, pts, _) in &out {
            assert!(pts - dts <= 2 * frame, "no gap-sized offset: {out:?}");
        }
    }
}
