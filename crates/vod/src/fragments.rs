//! Samples of a fragmented MP4 from its `moof` boxes (`tfhd`, `tfdt`,
//! `trun`, with defaults from `trex`).

use mp4_atom::{Decode, Moof, Moov};

use crate::read::BoxAt;
use crate::{Fragment, Sample, Track, VodError};

/// `sample_is_non_sync_sample` in a sample's flags.
const NON_SYNC: u32 = 0x0001_0000;

/// A `moof` whose samples are known but whose `mdat` has not been seen.
#[derive(Debug)]
struct Pending {
    start: u64,
    /// (track id, sample) in file order.
    samples: Vec<(u32, Sample)>,
    /// No traf gave an absolute `base_data_offset`.
    self_contained: bool,
}

/// Collects fragments as the walk meets `moof` and `mdat` boxes. A
/// fragment counts once all its sample bytes lie in complete boxes: a
/// `moof` whose `mdat` was torn off by a crash is dropped.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    pending: Option<Pending>,
    done: Vec<(Fragment, Vec<(u32, Sample)>)>,
    /// Decode time where each track's next fragment starts when its `tfdt`
    /// is missing.
    next_dts: Vec<(u32, u64)>,
    any: bool,
    samples: u64,
}

impl Collector {
    pub(crate) fn seen_any(&self) -> bool {
        self.any
    }

    /// A complete `moof` box at `b` holding `bytes`.
    pub(crate) fn moof(&mut self, moov: &Moov, b: &BoxAt, bytes: &[u8]) -> Result<(), VodError> {
        self.any = true;
        // A moof with no mdat after it: its samples cannot be in the file.
        self.pending = None;
        let moof = Moof::decode(&mut &*bytes).map_err(VodError::atom("moof"))?;
        let mut samples = Vec::new();
        let mut data_end = b.start;
        let mut self_contained = true;
        for (i, traf) in moof.traf.iter().enumerate() {
            let tfhd = &traf.tfhd;
            let trex = moov
                .mvex
                .as_ref()
                .and_then(|m| m.trex.iter().find(|t| t.track_id == tfhd.track_id));
            let base = match tfhd.base_data_offset {
                Some(o) => {
                    self_contained = false;
                    o
                }
                None if tfhd.default_base_is_moof || i == 0 => b.start,
                // ISO/IEC 14496-12 8.8.7.1: without either, a later traf's
                // data follows the previous traf's.
                None => data_end,
            };
            let mut dts = match &traf.tfdt {
                Some(t) => t.base_media_decode_time,
                None => self.next_dts(tfhd.track_id),
            };
            let mut at = base;
            for trun in &traf.trun {
                if let Some(off) = trun.data_offset {
                    at = base
                        .checked_add_signed(i64::from(off))
                        .ok_or_else(|| VodError::corrupt("trun", "data offset before the file"))?;
                }
                // Cap by the input's size before allocating: an inherited
                // run costs no bytes per sample in the moof, so a count of
                // billions fits in a few bytes. Samples have to lie in the
                // file, a byte or more each (the slack admits a few empty
                // ones).
                let n = trun.samples.len() as u64;
                self.samples = self.samples.saturating_add(n);
                if self.samples > b.end.saturating_add(1024) {
                    return Err(VodError::corrupt("trun", format!("{n} samples")));
                }
                for (k, e) in trun.samples.iter().enumerate() {
                    let duration = e
                        .duration
                        .or(tfhd.default_sample_duration)
                        .or(trex.map(|t| t.default_sample_duration))
                        .unwrap_or(0);
                    let size = e
                        .size
                        .or(tfhd.default_sample_size)
                        .or(trex.map(|t| t.default_sample_size))
                        .unwrap_or(0);
                    let flags = e
                        .flags
                        .or(tfhd.default_sample_flags)
                        .or(trex.map(|t| t.default_sample_flags))
                        .unwrap_or(0);
                    let first_flags = match &trun.samples {
                        mp4_atom::TrunSamples::Inherited { first_flags, .. } if k == 0 => {
                            *first_flags
                        }
                        _ => None,
                    };
                    let flags = first_flags.unwrap_or(flags);
                    let cts = e.cts.unwrap_or(0);
                    let cts = i32::try_from(cts).map_err(|_| {
                        VodError::corrupt("trun", "composition offset out of range")
                    })?;
                    samples.push((
                        tfhd.track_id,
                        Sample {
                            offset: at,
                            size,
                            dts,
                            duration,
                            cts,
                            key: flags & NON_SYNC == 0,
                        },
                    ));
                    at = at.saturating_add(u64::from(size));
                    dts = dts.saturating_add(u64::from(duration));
                }
            }
            data_end = at;
            self.set_next_dts(tfhd.track_id, dts);
        }
        self.pending = Some(Pending {
            start: b.start,
            samples,
            self_contained,
        });
        Ok(())
    }

    /// A complete `mdat` box at `b`: closes the pending fragment when its
    /// samples lie inside it.
    pub(crate) fn mdat(&mut self, b: &BoxAt) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let data = b.start + b.header..b.end;
        let inside = p.samples.iter().all(|(_, s)| {
            s.offset >= data.start && s.offset.saturating_add(u64::from(s.size)) <= data.end
        });
        if inside {
            let fragment = Fragment {
                range: p.start..b.end,
                start_us: 0,
                key: false,
                self_contained: p.self_contained,
            };
            self.done.push((fragment, p.samples));
        }
    }

    /// Hands the samples to their tracks; returns the fragments.
    pub(crate) fn finish(
        self,
        _moov: &Moov,
        tracks: &mut [Track],
    ) -> Result<Vec<Fragment>, VodError> {
        let mut fragments = Vec::with_capacity(self.done.len());
        for (fragment, samples) in self.done {
            for (id, s) in samples {
                if let Some(t) = tracks.iter_mut().find(|t| t.id == id) {
                    t.samples.push(s);
                }
            }
            fragments.push(fragment);
        }
        Ok(fragments)
    }

    fn next_dts(&self, track: u32) -> u64 {
        self.next_dts
            .iter()
            .find(|(id, _)| *id == track)
            .map_or(0, |(_, d)| *d)
    }

    fn set_next_dts(&mut self, track: u32, dts: u64) {
        match self.next_dts.iter_mut().find(|(id, _)| *id == track) {
            Some(e) => e.1 = dts,
            None => self.next_dts.push((track, dts)),
        }
    }
}
