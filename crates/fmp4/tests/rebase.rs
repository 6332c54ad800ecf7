//! A viewer's [`Rebaser`]: its first fragment starts at zero, both tracks
//! shift by the same time, only `tfdt` changes and the `mdat` stays shared;
//! ffprobe reads the rebased stream from zero with every packet.

mod common;

use bytes::{Bytes, BytesMut};
use common::{ffprobe, mux, sample_frames, write_temp};
use mp4_atom::{Decode, Moof};
use weir_fmp4::{Fmp4Config, Fmp4Output, Rebaser};

/// Where the sample's timeline is moved to, as if a viewer joined a
/// stream that had been live this long (µs).
const LIVE_FOR_US: i64 = 600_000_000;

/// (track id, tfdt) of every traf of a fragment.
fn tfdts(fragment: &[u8]) -> Vec<(u32, u64)> {
    let mut rest = fragment;
    let moof = Moof::decode(&mut rest).expect("moof");
    moof.traf
        .iter()
        .map(|t| {
            (
                t.tfhd.track_id,
                t.tfdt.as_ref().expect("tfdt").base_media_decode_time,
            )
        })
        .collect()
}

#[test]
fn a_late_viewer_starts_at_zero() {
    let mut frames = sample_frames();
    for f in &mut frames {
        f.dts_us += LIVE_FOR_US;
    }
    let (_, outputs) = mux(Fmp4Config::default(), &frames);
    // Video 90 kHz, audio 44.1 kHz: the sample's tracks.
    let scale = |track: u32| if track == 1 { 90_000.0 } else { 44_100.0 };
    let mut rebaser = Rebaser::new();
    let mut file = BytesMut::new();
    let mut fragments = 0;
    let mut shift_s = None;
    for out in &outputs {
        let chunk = match out {
            Fmp4Output::Init(b) => b,
            Fmp4Output::Fragment { data, .. } => data,
        };
        let parts = rebaser.rebase(chunk);
        let joined: Bytes = parts.concat().into();
        assert_eq!(joined.len(), chunk.len(), "sizes stay");
        if let Fmp4Output::Fragment { data, .. } = out {
            // The mdat is the viewer's share of the muxer's bytes, not a copy.
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[1].as_ptr(), data[parts[0].len()..].as_ptr());
            let (before, after) = (tfdts(data), tfdts(&joined));
            if fragments == 0 {
                let start = after
                    .iter()
                    .map(|&(t, v)| v as f64 / scale(t))
                    .fold(f64::MAX, f64::min);
                assert!(start.abs() < 1e-3, "first fragment starts at {start} s");
            }
            for ((track, b), (_, a)) in before.iter().zip(&after) {
                let s = (b - a) as f64 / scale(*track);
                let first = *shift_s.get_or_insert(s);
                // One tick of either clock at most between the tracks.
                assert!(
                    (s - first).abs() < 1e-4,
                    "track {track} shifted {s} s, not {first} s"
                );
            }
            // Everything but the tfdt values is unchanged.
            let differing = data.iter().zip(&joined).filter(|(x, y)| x != y).count();
            assert!(differing <= 16, "{differing} bytes changed");
            fragments += 1;
        } else {
            assert_eq!(&joined, chunk, "init segments pass unchanged");
        }
        file.extend_from_slice(&joined);
    }
    assert!(fragments > 10, "{fragments} fragments");
    let shift = shift_s.expect("fragments");
    assert!(
        (shift - LIVE_FOR_US as f64 / 1e6).abs() < 0.1,
        "shifted by {shift} s"
    );

    let path = write_temp("rebased", &file);
    let probe = ffprobe(&path);
    let packets = probe["packets"].as_array().expect("packets");
    let first_dts = packets
        .iter()
        .filter_map(|p| p["dts_time"].as_str()?.parse::<f64>().ok())
        .fold(f64::MAX, f64::min);
    assert!(first_dts < 0.1, "ffprobe's first dts: {first_dts} s");
    let media = frames.iter().filter(|f| !f.config).count();
    assert_eq!(packets.len(), media, "every frame is a packet");
    let _ = std::fs::remove_file(path);
}
