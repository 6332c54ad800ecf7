//! The boxes of an init segment (`ftyp` + `moov`) and of a fragment
//! (`moof` + `mdat`), encoded with the `mp4-atom` crate.
//!
//! `mp4-atom` covers every box a live fMP4 needs (avcC, hvcC, esds, mvex/trex,
//! tfdt, trun with per-sample flags and signed composition offsets), so the
//! box layouts are not hand-written here. Only the `mdat` header is written
//! by hand: the sample payloads are appended straight after it instead of
//! being gathered into an intermediate `Mdat` value first.

use bytes::Bytes;
use mp4_atom::{
    Dinf, Dref, Encode, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Mfhd, Minf, Moof, Moov, Mvex, Mvhd, Smhd,
    Stbl, Stco, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, TrunSamples, Url, Vmhd,
};

use crate::tracks::{AudioTrack, VideoTrack, VIDEO_TIMESCALE};
use crate::Fmp4Error;

/// Track id of the video track, whenever the stream has one.
pub(crate) const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track. Fixed ids keep fragments valid against any
/// init segment of the same stream, whichever tracks it lists.
pub(crate) const AUDIO_TRACK_ID: u32 = 2;

/// `sample_depends_on = 2`: decodes on its own (keyframes, audio).
const SYNC_SAMPLE: u32 = 0x0200_0000;
/// `sample_depends_on = 1`, `sample_is_non_sync_sample = 1`.
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// One sample whose duration is known, ready for a `trun`.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Decode time in track timescale units.
    pub(crate) decode_time: u64,
    /// In track timescale units.
    pub(crate) duration: u32,
    /// Composition offset (pts - dts) in track timescale units.
    pub(crate) cts: i32,
    /// A sync sample (video keyframe, every audio frame).
    pub(crate) key: bool,
    pub(crate) data: Bytes,
}

fn encode_err(what: &'static str) -> impl FnOnce(mp4_atom::Error) -> Fmp4Error {
    move |e| Fmp4Error::Encode {
        what,
        reason: e.to_string(),
    }
}

/// `ftyp` + `moov` for the given tracks, with `mvex` announcing fragments.
pub(crate) fn init_segment(
    video: Option<&VideoTrack>,
    audio: Option<&AudioTrack>,
) -> Result<Bytes, Fmp4Error> {
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"iso6"),
        minor_version: 0,
        compatible_brands: vec![FourCC::new(b"iso6"), FourCC::new(b"mp41")],
    };
    let mut trak = Vec::new();
    let mut trex = Vec::new();
    if let Some(v) = video {
        trak.push(Trak {
            tkhd: Tkhd {
                track_id: VIDEO_TRACK_ID,
                enabled: true,
                in_movie: true,
                width: v.width.into(),
                height: v.height.into(),
                ..Tkhd::default()
            },
            mdia: media(
                VIDEO_TIMESCALE,
                b"vide",
                "weir video",
                v.entry.clone(),
                true,
            ),
            ..Trak::default()
        });
        trex.push(track_extends(VIDEO_TRACK_ID));
    }
    if let Some(a) = audio {
        trak.push(Trak {
            tkhd: Tkhd {
                track_id: AUDIO_TRACK_ID,
                enabled: true,
                in_movie: true,
                volume: 1.into(),
                ..Tkhd::default()
            },
            mdia: media(a.sample_rate, b"soun", "weir audio", a.entry.clone(), false),
            ..Trak::default()
        });
        trex.push(track_extends(AUDIO_TRACK_ID));
    }
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: AUDIO_TRACK_ID + 1,
            ..Mvhd::default()
        },
        mvex: Some(Mvex { mehd: None, trex }),
        trak,
        ..Moov::default()
    };
    let mut buf = Vec::new();
    ftyp.encode(&mut buf).map_err(encode_err("ftyp"))?;
    moov.encode(&mut buf).map_err(encode_err("moov"))?;
    Ok(buf.into())
}

fn track_extends(track_id: u32) -> Trex {
    Trex {
        track_id,
        default_sample_description_index: 1,
        ..Trex::default()
    }
}

/// `mdia` with an empty sample table: every sample lives in fragments.
fn media(
    timescale: u32,
    handler: &[u8; 4],
    name: &str,
    entry: mp4_atom::Codec,
    video: bool,
) -> Mdia {
    Mdia {
        mdhd: Mdhd {
            timescale,
            language: "und".into(),
            ..Mdhd::default()
        },
        hdlr: Hdlr {
            handler: FourCC::new(handler),
            name: name.into(),
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
                    codecs: vec![entry],
                },
                stco: Some(Stco::default()),
                ..Stbl::default()
            },
            ..Minf::default()
        },
    }
}

/// The samples of one track in a fragment.
pub(crate) struct Run<'a> {
    pub(crate) track_id: u32,
    pub(crate) samples: &'a [Sample],
    /// Write composition offsets (video; audio has none).
    pub(crate) with_cts: bool,
}

/// `moof` + `mdat` holding `runs`, in that order in the `mdat`.
pub(crate) fn fragment(sequence: u32, runs: &[Run<'_>]) -> Result<Bytes, Fmp4Error> {
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: runs.iter().map(track_fragment).collect(),
    };
    // The data offsets depend on the moof's own size, which does not depend
    // on their values: encode once to measure, then for real.
    let mut probe = Vec::new();
    moof.encode(&mut probe).map_err(encode_err("moof"))?;
    let payload: usize = runs
        .iter()
        .flat_map(|r| r.samples)
        .map(|s| s.data.len())
        .sum();
    const MDAT_HEADER: usize = 8;
    let mut offset = probe.len() + MDAT_HEADER;
    for (traf, run) in moof.traf.iter_mut().zip(runs) {
        let at = i32::try_from(offset).map_err(|_| Fmp4Error::Encode {
            what: "trun",
            reason: format!("data offset {offset} past 2 GiB"),
        })?;
        for trun in &mut traf.trun {
            trun.data_offset = Some(at);
        }
        offset += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    let mdat_size = u32::try_from(MDAT_HEADER + payload).map_err(|_| Fmp4Error::Encode {
        what: "mdat",
        reason: format!("{payload} bytes of samples past 4 GiB"),
    })?;
    let mut buf = Vec::with_capacity(probe.len() + MDAT_HEADER + payload);
    moof.encode(&mut buf).map_err(encode_err("moof"))?;
    buf.extend_from_slice(&mdat_size.to_be_bytes());
    buf.extend_from_slice(b"mdat");
    for s in runs.iter().flat_map(|r| r.samples) {
        buf.extend_from_slice(&s.data);
    }
    Ok(buf.into())
}

fn track_fragment(run: &Run<'_>) -> Traf {
    let entries = run
        .samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.duration),
            size: Some(u32::try_from(s.data.len()).unwrap_or(u32::MAX)),
            flags: Some(if s.key { SYNC_SAMPLE } else { NON_SYNC_SAMPLE }),
            cts: run.with_cts.then_some(i64::from(s.cts)),
        })
        .collect::<Vec<_>>();
    Traf {
        tfhd: Tfhd {
            track_id: run.track_id,
            default_base_is_moof: true,
            ..Tfhd::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: run.samples.first().map_or(0, |s| s.decode_time),
        }),
        trun: vec![Trun {
            data_offset: Some(0),
            samples: TrunSamples::Explicit(entries),
        }],
        ..Traf::default()
    }
}
