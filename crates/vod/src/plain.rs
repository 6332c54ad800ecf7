//! Samples of a plain MP4 from its sample tables (`stts`, `ctts`, `stss`,
//! `stsc`, `stsz`, `stco`/`co64`).
//!
//! Every count in these tables comes from the file: the total is checked
//! against the file's size before anything is allocated for it, and every
//! loop is bounded by that total, so a lying table costs an error, not
//! memory or time.

use mp4_atom::{Moov, StszSamples};

use crate::{Sample, Track, VodError};

/// Fills `tracks` (made from `moov` by `entry::tracks`, same order, a
/// subset) with their samples.
pub(crate) fn fill(moov: &Moov, tracks: &mut [Track], file_len: u64) -> Result<(), VodError> {
    for track in tracks.iter_mut() {
        let Some(trak) = moov.trak.iter().find(|t| t.tkhd.track_id == track.id) else {
            continue;
        };
        track.samples = samples(&trak.mdia.minf.stbl, file_len)?;
    }
    Ok(())
}

fn samples(stbl: &mp4_atom::Stbl, file_len: u64) -> Result<Vec<Sample>, VodError> {
    let sizes: Box<dyn Fn(usize) -> u32> = match &stbl.stsz.samples {
        StszSamples::Identical { count, size } => {
            let (count, size) = (*count, *size);
            if u64::from(count) * u64::from(size) > file_len {
                return Err(VodError::corrupt("stsz", "samples larger than the file"));
            }
            Box::new(move |i| if i < count as usize { size } else { 0 })
        }
        StszSamples::Different { sizes } => {
            let sizes = sizes.clone();
            Box::new(move |i| sizes.get(i).copied().unwrap_or(0))
        }
    };
    let count = match &stbl.stsz.samples {
        StszSamples::Identical { count, .. } => *count as usize,
        StszSamples::Different { sizes } => sizes.len(),
    };
    // A sample takes at least a byte of the file, and a table entry at
    // least four: the cap that makes every allocation below bounded.
    if count as u64 > file_len {
        return Err(VodError::corrupt(
            "stsz",
            format!("{count} samples in {file_len} bytes"),
        ));
    }
    let mut out = Vec::with_capacity(count);

    // Decode times and durations.
    let mut dts = 0u64;
    for e in &stbl.stts.entries {
        for _ in 0..e.sample_count {
            if out.len() == count {
                break;
            }
            out.push(Sample {
                offset: 0,
                size: sizes(out.len()),
                dts,
                duration: e.sample_delta,
                cts: 0,
                key: stbl.stss.is_none(),
            });
            dts = dts.saturating_add(u64::from(e.sample_delta));
        }
    }
    if out.len() != count {
        return Err(VodError::corrupt(
            "stts",
            format!("{} sample times for {count} samples", out.len()),
        ));
    }

    if let Some(ctts) = &stbl.ctts {
        let mut i = 0usize;
        'entries: for e in &ctts.entries {
            let cts = i32::try_from(e.sample_offset)
                .map_err(|_| VodError::corrupt("ctts", "offset out of range"))?;
            for _ in 0..e.sample_count {
                let Some(s) = out.get_mut(i) else {
                    break 'entries;
                };
                s.cts = cts;
                i += 1;
            }
        }
    }

    if let Some(stss) = &stbl.stss {
        for &n in &stss.entries {
            // 1-based sample numbers; a number past the end is ignored.
            if let Some(s) = (n as usize).checked_sub(1).and_then(|i| out.get_mut(i)) {
                s.key = true;
            }
        }
    }

    // Offsets: samples are stored in chunks; stsc says how many samples
    // each run of chunks holds.
    let chunks: Vec<u64> = match (&stbl.co64, &stbl.stco) {
        (Some(co64), _) => co64.entries.clone(),
        (None, Some(stco)) => stco.entries.iter().map(|&o| u64::from(o)).collect(),
        (None, None) if count == 0 => Vec::new(),
        (None, None) => return Err(VodError::corrupt("stbl", "no chunk offsets")),
    };
    let runs = &stbl.stsc.entries;
    let mut sample = 0usize;
    for (r, run) in runs.iter().enumerate() {
        let first = (run.first_chunk as usize)
            .checked_sub(1)
            .ok_or_else(|| VodError::corrupt("stsc", "chunk numbers start at 1"))?;
        let last = runs
            .get(r + 1)
            .map_or(chunks.len(), |n| (n.first_chunk as usize).saturating_sub(1))
            .min(chunks.len());
        for &chunk_offset in chunks.get(first..last).unwrap_or(&[]) {
            let mut at = chunk_offset;
            for _ in 0..run.samples_per_chunk {
                let Some(s) = out.get_mut(sample) else {
                    break;
                };
                s.offset = at;
                at = at.saturating_add(u64::from(s.size));
                sample += 1;
            }
            if sample == count {
                break;
            }
        }
    }
    if sample != count {
        return Err(VodError::corrupt(
            "stsc",
            format!("chunks hold {sample} of {count} samples"),
        ));
    }
    if let Some(s) = out
        .iter()
        .find(|s| s.offset.saturating_add(u64::from(s.size)) > file_len)
    {
        return Err(VodError::SampleOutside {
            offset: s.offset,
            size: s.size,
        });
    }
    Ok(out)
}
