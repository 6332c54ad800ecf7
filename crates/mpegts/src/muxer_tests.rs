//! Unit tests of the muxer: tables, atomicity, PCR pacing, restarts.

use bytes::Bytes;
use weir_codec::CodecError;

use super::*;
use crate::PACKET_SIZE;

/// A frame at `ms` milliseconds.
fn frame(codec: Codec, ms: i64, key: bool, config: bool, data: &'static [u8]) -> Frame {
    let kind = if matches!(codec, Codec::H264 | Codec::H265) {
        TrackKind::Video
    } else {
        TrackKind::Audio
    };
    Frame {
        kind,
        codec,
        dts_us: ms * 1000,
        cts_us: 0,
        key,
        config,
        data: Bytes::from_static(data),
    }
}
const AVCC: &[u8] = &[
    1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 2, 0x67, 1, 1, 0, 2, 0x68, 2,
];
const IDR: &[u8] = &[0, 0, 0, 2, 0x65, 0x88];
const ASC: &[u8] = &[0x12, 0x10];
const MP3: Codec = Codec::Mp3 {
    sample_rate: 44_100,
    stereo: true,
};

fn packets(out: &[u8]) -> Vec<&[u8]> {
    assert_eq!(out.len() % PACKET_SIZE, 0);
    out.chunks(PACKET_SIZE)
        .inspect(|p| assert_eq!(p[0], 0x47))
        .collect()
}
fn pid(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[1] & 0x1f, p[2]])
}
/// PCR base of a packet, if it has one.
fn pcr(p: &[u8]) -> Option<u64> {
    let has = p[3] & 0x20 != 0 && p[4] >= 7 && p[5] & 0x10 != 0;
    has.then(|| {
        (u64::from_be_bytes([0, 0, 0, p[6], p[7], p[8], p[9], 0]) >> 7) | u64::from(p[10] >> 7)
    })
}
/// `(version, pcr_pid, stream types)` of a PMT packet.
fn pmt(p: &[u8]) -> (u8, u16, Vec<u8>) {
    let s = &p[5..];
    let len = usize::from(s[1] & 0x0f) << 8 | usize::from(s[2]);
    assert_eq!(crate::crc::crc32_mpeg2(&s[..3 + len]), 0);
    let types = s[12..3 + len - 4].chunks(5).map(|e| e[0]).collect();
    (
        (s[5] >> 1) & 0x1f,
        u16::from_be_bytes([s[8] & 0x1f, s[9]]),
        types,
    )
}

#[test]
fn a_late_track_gets_a_new_pmt_version() {
    let mut m = TsMuxer::new(TsConfig::default());
    let mut out = BytesMut::new();
    m.push(&frame(Codec::H264, 0, false, true, AVCC), &mut out)
        .unwrap();
    assert!(out.is_empty(), "config frames write nothing");
    m.push_with_tables(&frame(Codec::H264, 0, true, false, IDR), &mut out)
        .unwrap();
    m.push(&frame(Codec::Aac, 10, false, true, ASC), &mut out)
        .unwrap();
    m.push(&frame(Codec::Aac, 10, false, false, &[1, 2, 3]), &mut out)
        .unwrap();
    let pmts: Vec<_> = packets(&out)
        .into_iter()
        .filter(|p| pid(p) == PMT_PID)
        .map(pmt)
        .collect();
    assert_eq!(
        pmts,
        vec![(0, VIDEO_PID, vec![0x1b]), (1, VIDEO_PID, vec![0x1b, 0x0f])]
    );
    assert_eq!(
        m.tracks(),
        Tracks {
            video: Some(StreamType::H264),
            audio: Some(StreamType::Aac)
        }
    );
}

#[test]
fn a_failed_push_writes_nothing_and_changes_nothing() {
    let mut m = TsMuxer::new(TsConfig::default());
    let mut out = BytesMut::new();
    assert_eq!(
        m.push(&frame(Codec::Aac, 0, false, false, &[1]), &mut out),
        Err(TsError::NoAacConfig)
    );
    let bad = frame(Codec::H264, 0, true, false, &[0, 0, 0, 9, 0x65]);
    assert!(matches!(
        m.push_with_tables(&bad, &mut out),
        Err(TsError::Codec(CodecError::Short { .. }))
    ));
    let opus = frame(Codec::Opus, 0, false, false, &[1]);
    assert_eq!(
        m.push(&opus, &mut out),
        Err(TsError::Unsupported(Codec::Opus))
    );
    assert!(m
        .push(&frame(Codec::Aac, 0, false, true, &[0x12]), &mut out)
        .is_err());
    // A valid config ADTS cannot describe (channel layout in a PCE) is
    // refused when it arrives, not at every frame.
    assert_eq!(
        m.push(&frame(Codec::Aac, 0, false, true, &[0x12, 0x00]), &mut out),
        Err(TsError::Codec(CodecError::Adts {
            what: "channel configuration",
            value: 0
        }))
    );
    assert!(out.is_empty());
    assert_eq!(m.tracks(), Tracks::default());
    m.push_with_tables(&frame(Codec::H264, 0, true, false, IDR), &mut out)
        .unwrap();
    let ps = packets(&out);
    assert_eq!(
        ps.iter().map(|p| p[3] & 0x0f).collect::<Vec<_>>(),
        vec![0, 0, 0]
    );
}

#[test]
fn sparse_video_gets_stand_alone_pcrs() {
    let mut m = TsMuxer::new(TsConfig::default());
    let mut out = BytesMut::new();
    m.push(&frame(Codec::Aac, 0, false, true, ASC), &mut out)
        .unwrap();
    m.push_with_tables(&frame(Codec::H264, 0, true, false, IDR), &mut out)
        .unwrap();
    for i in 1..=40 {
        m.push(&frame(Codec::Aac, i * 23, false, false, &[7; 50]), &mut out)
            .unwrap();
    }
    m.push(&frame(Codec::H264, 1000, false, false, IDR), &mut out)
        .unwrap();
    let ps = packets(&out);
    let pcrs: Vec<u64> = ps.iter().filter_map(|p| pcr(p)).collect();
    assert!(ps
        .iter()
        .filter(|p| pcr(p).is_some())
        .all(|p| pid(p) == VIDEO_PID));
    assert_eq!(pcrs.first(), Some(&0));
    assert_eq!(pcrs.last(), Some(&90_000));
    assert!(
        pcrs.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 9000),
        "{pcrs:?}"
    );
    // Stand-alone PCR packets repeat the video counter of the IDR.
    let video_cc: Vec<u8> = ps
        .iter()
        .filter(|p| pid(p) == VIDEO_PID)
        .map(|p| p[3] & 0x0f)
        .collect();
    assert_eq!(video_cc.first(), Some(&0));
    assert_eq!(video_cc.last(), Some(&1));
}

#[test]
fn audio_only_puts_the_pcr_on_audio() {
    let mut m = TsMuxer::new(TsConfig::default());
    let mut out = BytesMut::new();
    for i in 0..5 {
        m.push(
            &frame(MP3, i * 26, false, false, &[0xff, 0xfb, 0x90, 0]),
            &mut out,
        )
        .unwrap();
    }
    let ps = packets(&out);
    assert_eq!(pmt(ps[1]), (0, AUDIO_PID, vec![0x03]));
    let audio: Vec<_> = ps.iter().filter(|p| pid(p) == AUDIO_PID).collect();
    assert_eq!(audio.len(), 5);
    assert!(audio.iter().all(|p| pcr(p).is_some() && p[5] & 0x40 != 0));
    let low = Codec::Mp3 {
        sample_rate: 22_050,
        stereo: false,
    };
    assert_eq!(StreamType::of(&low), Some(StreamType::Mpeg2Audio));
}

#[test]
fn restart_lets_the_clock_go_back() {
    let mut m = TsMuxer::new(TsConfig::default());
    let mut out = BytesMut::new();
    m.push_with_tables(&frame(Codec::H264, 50_000, true, false, IDR), &mut out)
        .unwrap();
    m.restart();
    assert_eq!(m.tracks(), Tracks::default());
    let mut seg = BytesMut::new();
    m.push_with_tables(&frame(Codec::H264, 0, true, false, IDR), &mut seg)
        .unwrap();
    let ps = packets(&seg);
    assert_eq!(pcr(ps[2]), Some(0));
    assert_eq!(pmt(ps[1]).0, 0, "same tracks again: same PMT version");
    assert_eq!(ps[2][3] & 0x0f, 1, "counters run on");
}

#[test]
fn hevc_is_muxed_with_its_own_aud_and_parameter_sets() {
    static HVCC: [u8; 30] = {
        let mut v = [0u8; 30];
        v[21] = 3;
        v[22] = 1;
        let arr = [0x80 | 32, 0, 1, 0, 2, 0x40, 1];
        let mut i = 0;
        while i < arr.len() {
            v[23 + i] = arr[i];
            i += 1;
        }
        v
    };
    let mut m = TsMuxer::new(TsConfig::default());
    let mut out = BytesMut::new();
    m.push(&frame(Codec::H265, 0, false, true, &HVCC), &mut out)
        .unwrap();
    m.push_with_tables(
        &frame(Codec::H265, 0, true, false, &[0, 0, 0, 2, 0x26, 1]),
        &mut out,
    )
    .unwrap();
    let ps = packets(&out);
    assert_eq!(pmt(ps[1]).2, vec![0x24]);
    let pes = ps[2];
    let payload = &pes[5 + usize::from(pes[4])..];
    let es = &payload[19..];
    assert_eq!(
        &es[..17],
        &[0, 0, 0, 1, 0x46, 1, 0x50, 0, 0, 0, 1, 0x40, 1, 0, 0, 0, 1]
    );
}

#[test]
fn a_90_khz_source_keeps_its_ticks() {
    // 29.97 fps: frame n is at n * 3003 ticks, which no ms clock holds.
    let mut m = TsMuxer::new(TsConfig::default());
    let mut out = BytesMut::new();
    for n in [1i64, 2, 1000] {
        let f = Frame {
            dts_us: weir_media::rescale(n * 3003, 90_000, weir_media::US_HZ),
            ..frame(Codec::H264, 0, true, false, IDR)
        };
        out.clear();
        m.push(&f, &mut out).unwrap();
        let p = packets(&out)
            .into_iter()
            .find(|p| pid(p) == VIDEO_PID)
            .unwrap();
        // PES header after the adaptation field: PTS at bytes 9..14.
        let pes = &p[5 + usize::from(p[4])..];
        let ts = |b: &[u8]| {
            u64::from(b[0] >> 1 & 7) << 30
                | u64::from(b[1]) << 22
                | u64::from(b[2] >> 1) << 15
                | u64::from(b[3]) << 7
                | u64::from(b[4] >> 1)
        };
        assert_eq!(ts(&pes[9..14]), 90_000 + n as u64 * 3003, "frame {n}");
        assert_eq!(pcr(p), Some(n as u64 * 3003));
    }
}
