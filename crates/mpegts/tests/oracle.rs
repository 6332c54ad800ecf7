//! Our output read back by independent TS readers: the `mpeg2ts` crate
//! (packets, tables with CRC, PES) and ffprobe (full demux + parse).

#[path = "common/ffprobe.rs"]
mod ffprobe;
#[path = "../../flv/tests/common/frames.rs"]
mod frames;

use std::collections::HashMap;

use bytes::BytesMut;
use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};
use weir_media::{Frame, TrackKind};
use weir_mpegts::{TsConfig, TsMuxer, AUDIO_PID, PACKET_SIZE, PMT_PID, VIDEO_PID};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample.flv");
const OFFSET_MS: i64 = 1000;

/// Muxes the sample as an HLS segmenter would: tables before keyframes.
fn mux_sample() -> (Vec<Frame>, BytesMut) {
    let frames = frames::read_frames(SAMPLE);
    let mut muxer = TsMuxer::new(TsConfig::default());
    let mut out = BytesMut::new();
    for f in &frames {
        if f.key && !f.config {
            muxer.push_with_tables(f, &mut out).unwrap();
        } else {
            muxer.push(f, &mut out).unwrap();
        }
    }
    (frames, out)
}

fn media(frames: &[Frame], kind: TrackKind) -> Vec<&Frame> {
    frames
        .iter()
        .filter(|f| f.kind == kind && !f.config)
        .collect()
}

#[test]
fn transport_layer_is_clean() {
    let (frames, out) = mux_sample();
    assert_eq!(out.len() % PACKET_SIZE, 0);
    let keyframes = media(&frames, TrackKind::Video)
        .iter()
        .filter(|f| f.key)
        .count();
    assert!(keyframes >= 2, "sample should have two GOPs");

    let mut reader = TsPacketReader::new(&out[..]);
    let mut counters: HashMap<u16, u8> = HashMap::new();
    let mut pcrs = Vec::new();
    let (mut pats, mut pmts, mut random_access) = (0, 0, 0);
    let mut index = 0;
    while let Some(p) = reader.read_ts_packet().unwrap() {
        let pid = p.header.pid.as_u16();
        let cc = p.header.continuity_counter.as_u8();
        match (counters.get(&pid), p.payload.is_some()) {
            (Some(&prev), true) => assert_eq!(
                cc,
                (prev + 1) % 16,
                "CC error on {pid:#x} at packet {index}"
            ),
            (Some(&prev), false) => {
                assert_eq!(cc, prev, "adaptation-only packet moved CC at {index}")
            }
            (None, _) => {}
        }
        if p.payload.is_some() {
            counters.insert(pid, cc);
        }
        if let Some(af) = &p.adaptation_field {
            if let Some(pcr) = af.pcr {
                assert_eq!(pid, VIDEO_PID, "PCR belongs on the video PID");
                pcrs.push(pcr.as_u64());
            }
            random_access += usize::from(af.random_access_indicator);
        }
        match &p.payload {
            Some(TsPayload::Pat(pat)) => {
                assert!(index == 0 || pats > 0, "stream starts with a PAT");
                pats += 1;
                assert_eq!(pat.table.len(), 1);
                assert_eq!(pat.table[0].program_map_pid.as_u16(), PMT_PID);
            }
            Some(TsPayload::Pmt(pmt)) => {
                assert!(index == 1 || pmts > 0, "PMT follows the PAT");
                pmts += 1;
                assert_eq!(pmt.pcr_pid.map(|p| p.as_u16()), Some(VIDEO_PID));
                let streams: Vec<(u8, u16)> = pmt
                    .es_info
                    .iter()
                    .map(|es| (es.stream_type as u8, es.elementary_pid.as_u16()))
                    .collect();
                assert_eq!(streams, vec![(0x1b, VIDEO_PID), (0x0f, AUDIO_PID)]);
            }
            _ => {}
        }
        index += 1;
    }
    assert_eq!(pats, keyframes);
    assert_eq!(pmts, keyframes);
    assert_eq!(random_access, keyframes);
    assert!(pcrs.len() >= 90);
    for w in pcrs.windows(2) {
        let gap = w[1] as i64 - w[0] as i64;
        assert!((0..=100 * 27_000).contains(&gap), "PCR gap {gap} (27 MHz)");
    }
}

#[test]
fn pes_carry_the_frames_with_their_timestamps() {
    let (frames, out) = mux_sample();
    let mut reader = PesPacketReader::new(TsPacketReader::new(&out[..]));
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    while let Some(pes) = reader.read_pes_packet().unwrap() {
        match pes.header.stream_id.as_u8() {
            0xe0 => video.push(pes),
            0xc0 => audio.push(pes),
            other => panic!("stream id {other:#x}"),
        }
    }
    let ts90 = |us: i64| ((us / 1000 + OFFSET_MS) * 90) as u64;

    let want = media(&frames, TrackKind::Video);
    assert_eq!(video.len(), want.len());
    for (pes, f) in video.iter().zip(&want) {
        assert_eq!(pes.header.pts.unwrap().as_u64(), ts90(f.pts_us()));
        assert_eq!(pes.header.dts.unwrap().as_u64(), ts90(f.dts_us));
        assert_eq!(&pes.data[..6], &[0, 0, 0, 1, 9, 0xf0], "AUD first");
        let sps_next = pes.data[6..11] == [0, 0, 0, 1, 0x67];
        assert_eq!(
            sps_next, f.key,
            "SPS right after the AUD exactly on keyframes"
        );
    }

    let want = media(&frames, TrackKind::Audio);
    assert_eq!(audio.len(), want.len());
    for (pes, f) in audio.iter().zip(&want) {
        assert_eq!(pes.header.pts.unwrap().as_u64(), ts90(f.pts_us()));
        assert!(pes.header.dts.is_none());
        assert_eq!(&pes.data[..2], &[0xff, 0xf1], "ADTS sync");
        let adts_len = (usize::from(pes.data[3] & 3) << 11)
            | (usize::from(pes.data[4]) << 3)
            | usize::from(pes.data[5] >> 5);
        assert_eq!(adts_len, pes.data.len());
        assert_eq!(&pes.data[7..], &f.data[..]);
    }
}

#[test]
fn ffprobe_reads_h264_and_aac_cleanly() {
    let (frames, out) = mux_sample();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("weir-mpegts-sample.ts");
    std::fs::write(&path, &out).unwrap();

    assert_eq!(ffprobe::codecs(&path), ["h264", "aac"]);
    let (packets, warnings) = ffprobe::packets(&path);
    assert_eq!(warnings, "", "ffprobe complained");
    for (kind, frames) in [
        ("video", media(&frames, TrackKind::Video)),
        ("audio", media(&frames, TrackKind::Audio)),
    ] {
        let got: Vec<_> = packets.iter().filter(|p| p.codec_type == kind).collect();
        assert_eq!(got.len(), frames.len(), "{kind} packets");
        for w in got.windows(2) {
            assert!(w[0].dts < w[1].dts, "{kind} DTS not increasing: {w:?}");
        }
        for (p, f) in got.iter().zip(&frames) {
            assert_eq!(p.dts, (f.dts_us / 1000 + OFFSET_MS) * 90);
            assert_eq!(p.pts, (f.pts_us() / 1000 + OFFSET_MS) * 90);
            if kind == "video" {
                assert_eq!(p.key, f.key);
            }
        }
    }
}
