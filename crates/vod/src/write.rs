//! Writing MP4: an fMP4 init segment and fragments, or a plain MP4, from
//! samples picked out of indexed files. Boxes are encoded with `mp4-atom`;
//! the sample entries are the source file's own.

use bytes::Bytes;
use mp4_atom::{
    Co64, Ctts, CttsEntry, Dinf, Dref, Encode, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Mfhd, Minf, Moof,
    Moov, Mvex, Mvhd, Smhd, Stbl, Stco, Stsc, StscEntry, Stsd, Stss, Stsz, StszSamples, Stts,
    SttsEntry, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, TrunSamples, Url, Vmhd,
};
use weir_media::{rescale, TrackKind};

use crate::{Track, VodError};

/// `sample_depends_on = 2`: decodes on its own (keyframes, audio).
const SYNC_SAMPLE: u32 = 0x0200_0000;
/// `sample_depends_on = 1`, `sample_is_non_sync_sample = 1`.
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// One sample to write, on its output track's timeline.
#[derive(Debug, Clone)]
pub(crate) struct Out<'a> {
    /// Index into the output's tracks.
    pub(crate) track: usize,
    /// Decode time in the output track's timescale.
    pub(crate) dts: u64,
    pub(crate) duration: u32,
    pub(crate) cts: i32,
    pub(crate) key: bool,
    pub(crate) data: &'a [u8],
}

fn handler(t: &Track) -> &'static [u8; 4] {
    match t.kind {
        TrackKind::Video => b"vide",
        _ => b"soun",
    }
}

fn trak(t: &Track, id: u32, duration: u64, stbl: Stbl) -> Trak {
    let video = t.kind == TrackKind::Video;
    Trak {
        tkhd: Tkhd {
            track_id: id,
            enabled: true,
            in_movie: true,
            duration,
            width: t.width.into(),
            height: t.height.into(),
            volume: if video { 0.into() } else { 1.into() },
            ..Tkhd::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: t.timescale,
                duration,
                language: "und".into(),
                ..Mdhd::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(handler(t)),
                name: if video { "weir video" } else { "weir audio" }.into(),
            },
            minf: Minf {
                vmhd: video.then(Vmhd::default),
                smhd: (!video).then(Smhd::default),
                dinf: Dinf {
                    dref: Dref {
                        entries: vec![Url {
                            location: String::new(),
                        }
                        .into()],
                    },
                },
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![t.entry.clone()],
                    },
                    ..stbl
                },
                ..Minf::default()
            },
        },
        ..Trak::default()
    }
}

fn movie_header(tracks: usize, duration_ms: u64) -> Mvhd {
    Mvhd {
        timescale: 1000,
        duration: duration_ms,
        rate: 1.into(),
        volume: 1.into(),
        next_track_id: u32::try_from(tracks).unwrap_or(u32::MAX - 1) + 1,
        ..Mvhd::default()
    }
}

/// `ftyp` + `moov` (with `mvex`) for `tracks`, ids 1, 2, ... in order.
pub(crate) fn init_segment(tracks: &[&Track]) -> Result<Bytes, VodError> {
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"iso6"),
        minor_version: 0,
        compatible_brands: vec![FourCC::new(b"iso6"), FourCC::new(b"mp41")],
    };
    let mut traks = Vec::new();
    let mut trex = Vec::new();
    for (i, t) in tracks.iter().enumerate() {
        let id = i as u32 + 1;
        let stbl = Stbl {
            stco: Some(Stco::default()),
            ..Stbl::default()
        };
        traks.push(trak(t, id, 0, stbl));
        trex.push(Trex {
            track_id: id,
            default_sample_description_index: 1,
            ..Trex::default()
        });
    }
    let moov = Moov {
        mvhd: movie_header(tracks.len(), 0),
        mvex: Some(Mvex { mehd: None, trex }),
        trak: traks,
        ..Moov::default()
    };
    let mut buf = Vec::new();
    ftyp.encode(&mut buf).map_err(VodError::encode("ftyp"))?;
    moov.encode(&mut buf).map_err(VodError::encode("moov"))?;
    Ok(buf.into())
}

/// `mdat` header for `payload` bytes: 32-bit size when it fits.
fn mdat_header(payload: u64) -> Vec<u8> {
    match u32::try_from(payload + 8) {
        Ok(size) => [&size.to_be_bytes()[..], b"mdat"].concat(),
        Err(_) => [
            &1u32.to_be_bytes()[..],
            b"mdat",
            &(payload + 16).to_be_bytes(),
        ]
        .concat(),
    }
}

/// One `moof` + `mdat` with `samples` (any order of tracks; each track's
/// samples in decode order), track ids 1, 2, ... by output track index.
pub(crate) fn fragment(
    sequence: u32,
    tracks: usize,
    samples: &[Out<'_>],
) -> Result<Bytes, VodError> {
    let per_track: Vec<Vec<&Out<'_>>> = (0..tracks)
        .map(|t| samples.iter().filter(|s| s.track == t).collect())
        .collect();
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: per_track
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(t, s)| traf(t as u32 + 1, s))
            .collect(),
    };
    // Data offsets depend on the moof's size, which does not depend on
    // their values: encode once to measure, then for real.
    let mut probe = Vec::new();
    moof.encode(&mut probe).map_err(VodError::encode("moof"))?;
    let payload: u64 = samples.iter().map(|s| s.data.len() as u64).sum();
    let header = mdat_header(payload);
    let mut offset = (probe.len() + header.len()) as u64;
    for (traf, run) in moof
        .traf
        .iter_mut()
        .zip(per_track.iter().filter(|s| !s.is_empty()))
    {
        let at = i32::try_from(offset).map_err(|_| VodError::Encode {
            what: "trun",
            reason: format!("data offset {offset} past 2 GiB"),
        })?;
        for trun in &mut traf.trun {
            trun.data_offset = Some(at);
        }
        offset += run.iter().map(|s| s.data.len() as u64).sum::<u64>();
    }
    let mut buf = Vec::with_capacity(probe.len() + header.len() + payload as usize);
    moof.encode(&mut buf).map_err(VodError::encode("moof"))?;
    buf.extend_from_slice(&header);
    for run in per_track.iter() {
        for s in run {
            buf.extend_from_slice(s.data);
        }
    }
    Ok(buf.into())
}

fn traf(track_id: u32, samples: &[&Out<'_>]) -> Traf {
    let with_cts = samples.iter().any(|s| s.cts != 0);
    let entries = samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.duration),
            size: Some(u32::try_from(s.data.len()).unwrap_or(u32::MAX)),
            flags: Some(if s.key { SYNC_SAMPLE } else { NON_SYNC_SAMPLE }),
            cts: with_cts.then_some(i64::from(s.cts)),
        })
        .collect();
    Traf {
        tfhd: Tfhd {
            track_id,
            default_base_is_moof: true,
            ..Tfhd::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: samples.first().map_or(0, |s| s.dts),
        }),
        trun: vec![Trun {
            data_offset: Some(0),
            samples: TrunSamples::Explicit(entries),
        }],
        ..Traf::default()
    }
}

/// A plain MP4 (`ftyp`, `moov` before `mdat`: plays while downloading) of
/// `samples`, which are written in the order given (callers interleave by
/// time), one sample per chunk.
pub(crate) fn plain(tracks: &[&Track], samples: &[Out<'_>]) -> Result<Bytes, VodError> {
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"isom"),
        minor_version: 512,
        compatible_brands: vec![
            FourCC::new(b"isom"),
            FourCC::new(b"iso2"),
            FourCC::new(b"mp41"),
        ],
    };
    let build = |first_offset: u64| -> Moov {
        let mut at = first_offset;
        let mut offsets: Vec<Vec<u64>> = vec![Vec::new(); tracks.len()];
        for s in samples {
            offsets[s.track].push(at);
            at += s.data.len() as u64;
        }
        let mut traks = Vec::new();
        let mut movie_ms = 0u64;
        for (i, t) in tracks.iter().enumerate() {
            let mine: Vec<&Out<'_>> = samples.iter().filter(|s| s.track == i).collect();
            let duration = mine
                .last()
                .map_or(0, |l| l.dts.saturating_add(u64::from(l.duration)))
                .saturating_sub(mine.first().map_or(0, |f| f.dts));
            let ms = rescale(
                i64::try_from(duration).unwrap_or(i64::MAX),
                t.timescale.max(1),
                1000,
            );
            movie_ms = movie_ms.max(u64::try_from(ms).unwrap_or(0));
            let mut stts: Vec<SttsEntry> = Vec::new();
            let mut ctts: Vec<CttsEntry> = Vec::new();
            for s in &mine {
                match stts.last_mut() {
                    Some(e) if e.sample_delta == s.duration => e.sample_count += 1,
                    _ => stts.push(SttsEntry {
                        sample_count: 1,
                        sample_delta: s.duration,
                    }),
                }
                match ctts.last_mut() {
                    Some(e) if e.sample_offset == i64::from(s.cts) => e.sample_count += 1,
                    _ => ctts.push(CttsEntry {
                        sample_count: 1,
                        sample_offset: i64::from(s.cts),
                    }),
                }
            }
            let all_key = mine.iter().all(|s| s.key);
            let stbl = Stbl {
                stts: Stts { entries: stts },
                ctts: mine
                    .iter()
                    .any(|s| s.cts != 0)
                    .then_some(Ctts { entries: ctts }),
                stss: (!all_key).then(|| Stss {
                    entries: mine
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.key)
                        .map(|(n, _)| n as u32 + 1)
                        .collect(),
                }),
                stsc: Stsc {
                    entries: vec![StscEntry {
                        first_chunk: 1,
                        samples_per_chunk: 1,
                        sample_description_index: 1,
                    }],
                },
                stsz: Stsz {
                    samples: StszSamples::Different {
                        sizes: mine.iter().map(|s| s.data.len() as u32).collect(),
                    },
                },
                co64: Some(Co64 {
                    entries: std::mem::take(&mut offsets[i]),
                }),
                ..Stbl::default()
            };
            traks.push(trak(t, i as u32 + 1, duration, stbl));
        }
        Moov {
            mvhd: movie_header(tracks.len(), movie_ms),
            trak: traks,
            ..Moov::default()
        }
    };
    let payload: u64 = samples.iter().map(|s| s.data.len() as u64).sum();
    let header = mdat_header(payload);
    let mut head = Vec::new();
    ftyp.encode(&mut head).map_err(VodError::encode("ftyp"))?;
    // co64 entries have a fixed size, so the moov's size does not depend
    // on the offsets: measure with zero, then write with the real ones.
    let mut probe = Vec::new();
    build(0)
        .encode(&mut probe)
        .map_err(VodError::encode("moov"))?;
    let first = (head.len() + probe.len() + header.len()) as u64;
    build(first)
        .encode(&mut head)
        .map_err(VodError::encode("moov"))?;
    head.extend_from_slice(&header);
    head.reserve(payload as usize);
    for s in samples {
        head.extend_from_slice(s.data);
    }
    Ok(head.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mp4_atom::Decode;

    /// Found by the `mp4_index` fuzz target: a track spanning more ticks
    /// than `u64::MAX / 1000` overflowed the movie duration in ms (a
    /// panic with overflow checks, a wrong duration without). It is
    /// computed in wide integers now.
    #[test]
    fn an_absurd_span_gets_its_true_movie_duration() {
        let index =
            crate::Index::from_bytes(include_bytes!("../testdata/frag_base_moof.mp4")).unwrap();
        let track = &index.tracks[0];
        let sample = |dts: u64| Out {
            track: 0,
            dts,
            duration: 1,
            cts: 0,
            key: true,
            data: &[0],
        };
        let samples = [sample(0), sample(u64::MAX / 100)];
        let file = plain(&[track], &samples).unwrap();
        let mut rest = &file[..];
        let _ftyp = mp4_atom::Ftyp::decode(&mut rest).unwrap();
        let moov = Moov::decode(&mut rest).unwrap();
        let span = (u64::MAX / 100 + 1) as i64;
        let expected = rescale(span, track.timescale, 1000) as u64;
        assert_eq!(moov.mvhd.duration, expected);
    }
}
