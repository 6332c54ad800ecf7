//! Sample entries (`stsd`) to weir codecs and config frames.

use bytes::Bytes;
use mp4_atom::{Atom, Encode, Moov};
use weir_media::{Codec, TrackKind};

use crate::{Track, VodError};

/// The tracks of `moov` weir can carry, without samples yet. Tracks of
/// other codecs or handlers are skipped.
pub(crate) fn tracks(moov: &Moov) -> Result<Vec<Track>, VodError> {
    let mut out = Vec::new();
    for trak in &moov.trak {
        let timescale = trak.mdia.mdhd.timescale;
        let Some(entry) = trak.mdia.minf.stbl.stsd.codecs.first() else {
            continue;
        };
        let Some((kind, codec, config)) = describe(entry)? else {
            continue;
        };
        if timescale == 0 {
            return Err(VodError::corrupt("mdhd", "timescale 0"));
        }
        let (width, height) = entry.visual().map_or((0, 0), |v| (v.width, v.height));
        let (sample_rate, channels) = entry.audio().map_or((0, 0), |a| {
            (u32::from(a.sample_rate.integer()), a.channel_count)
        });
        // The sample entry's rate field is 16 bits: 96 kHz and odd rates
        // are only right in the media timescale.
        let sample_rate = if kind == TrackKind::Audio && (sample_rate == 0 || timescale > 65_535) {
            timescale
        } else {
            sample_rate
        };
        out.push(Track {
            id: trak.tkhd.track_id,
            kind,
            codec,
            timescale,
            config,
            width,
            height,
            sample_rate,
            channels,
            samples: Vec::new(),
            entry: entry.clone(),
        });
    }
    Ok(out)
}

type Described = Option<(TrackKind, Codec, Option<Bytes>)>;

/// Kind, codec and config frame of one sample entry; `None` for codecs
/// weir does not carry.
fn describe(entry: &mp4_atom::Codec) -> Result<Described, VodError> {
    use mp4_atom::Codec as E;
    let video = TrackKind::Video;
    let audio = TrackKind::Audio;
    Ok(Some(match entry {
        E::Avc1(e) => (video, Codec::H264, Some(body(&e.avcc, "avcC")?)),
        E::Avc3(e) => (video, Codec::H264, Some(body(&e.avcc, "avcC")?)),
        E::Hvc1(e) => (video, Codec::H265, Some(body(&e.hvcc, "hvcC")?)),
        E::Hev1(e) => (video, Codec::H265, Some(body(&e.hvcc, "hvcC")?)),
        E::Av01(e) => (video, Codec::Av1, Some(body(&e.av1c, "av1C")?)),
        E::Vp09(e) => (video, Codec::Vp9, Some(body(&e.vpcc, "vpcC")?)),
        E::Mp4a(e) => {
            let dc = &e.esds.es_desc.dec_config;
            match dc.object_type_indication {
                // MPEG-4 AAC, and MPEG-2 AAC main/LC/SSR profiles.
                0x40 | 0x66..=0x68 => {
                    let asc = dc.dec_specific.as_ref().map(|d| {
                        if d.raw.is_empty() {
                            // A hand-made esds: the two-byte ASC its fields
                            // describe.
                            let v = (u16::from(d.profile) << 11)
                                | (u16::from(d.freq_index & 0x0f) << 7)
                                | (u16::from(d.chan_conf & 0x0f) << 3);
                            Bytes::copy_from_slice(&v.to_be_bytes())
                        } else {
                            Bytes::copy_from_slice(&d.raw)
                        }
                    });
                    (audio, Codec::Aac, asc)
                }
                // MPEG-1/2 audio (MP3) in an esds.
                0x69 | 0x6b => (audio, mp3(&e.audio), None),
                _ => return Ok(None),
            }
        }
        E::Mp3(e) => (audio, mp3(&e.audio), None),
        E::Opus(e) => (audio, Codec::Opus, Some(opus_head(&e.dops))),
        E::Ac3(_) => (audio, Codec::Ac3, None),
        E::Eac3(_) => (audio, Codec::Eac3, None),
        _ => return Ok(None),
    }))
}

fn mp3(a: &mp4_atom::Audio) -> Codec {
    Codec::Mp3 {
        sample_rate: u32::from(a.sample_rate.integer()),
        stereo: a.channel_count > 1,
    }
}

/// A configuration box's body, as weir's config frames hold it:
/// `mp4-atom` decoded the record, so it is encoded again and the 8-byte
/// box header dropped.
fn body<A: Atom>(atom: &A, what: &'static str) -> Result<Bytes, VodError> {
    let mut buf = Vec::new();
    atom.encode(&mut buf).map_err(VodError::encode(what))?;
    Ok(Bytes::from(buf).slice(8..))
}

/// The Ogg `OpusHead` (RFC 7845 §5.1) that an MP4 `dOps` box stands for:
/// the same fields, little-endian, after the magic.
fn opus_head(d: &mp4_atom::Dops) -> Bytes {
    let mut h = Vec::with_capacity(21);
    h.extend_from_slice(b"OpusHead");
    h.push(1);
    h.push(d.output_channel_count);
    h.extend_from_slice(&d.pre_skip.to_le_bytes());
    h.extend_from_slice(&d.input_sample_rate.to_le_bytes());
    h.extend_from_slice(&d.output_gain.to_le_bytes());
    match &d.channel_mapping {
        None => h.push(0),
        Some(m) => {
            h.push(m.family);
            h.push(m.stream_count);
            h.push(m.coupled_count);
            h.extend_from_slice(&m.channel_mapping);
        }
    }
    Bytes::from(h)
}
