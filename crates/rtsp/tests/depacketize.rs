//! Hand-built payloads for the cases the round trip does not produce:
//! STAP-A and AP aggregates, several AAC frames per packet, LATM, and the
//! drop-and-wait-for-keyframe rule with its counters.

use bytes::Bytes;
use weir_rtsp::depacketize::{
    AacDepacketizer, FrameDepacketizer, H264Depacketizer, H265Depacketizer, LatmDepacketizer,
};
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::AacParams;

fn pkt(seq: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Packet {
    Packet {
        payload_type: 96,
        seq,
        timestamp,
        ssrc: 1,
        marker,
        payload: Bytes::copy_from_slice(payload),
    }
}

#[test]
fn h264_stap_a_and_fu_a() {
    let mut d = H264Depacketizer::new();
    let mut out = Vec::new();
    // STAP-A: SPS (3 bytes) + PPS (2 bytes).
    d.handle_packet(
        &pkt(1, 0, false, &[0x18, 0, 3, 0x67, 1, 2, 0, 2, 0x68, 3]),
        &mut out,
    )
    .unwrap();
    // FU-A IDR in two parts.
    d.handle_packet(&pkt(2, 0, false, &[0x7c, 0x85, 10, 11]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(3, 0, true, &[0x7c, 0x45, 12]), &mut out)
        .unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].keyframe);
    assert_eq!(
        out[0].units,
        vec![
            Bytes::from_static(&[0x67, 1, 2]),
            Bytes::from_static(&[0x68, 3]),
            Bytes::from_static(&[0x65, 10, 11, 12]),
        ]
    );
    // Malformed STAP-A size: an error, counted, unit dropped.
    assert!(d
        .handle_packet(&pkt(4, 3000, true, &[0x18, 0, 9, 0x41]), &mut out)
        .is_err());
    assert_eq!(d.stats().bad_packets, 1);
    assert_eq!(d.stats().dropped_units, 1);
}

#[test]
fn h264_lost_fragment_drops_unit_and_waits_for_idr() {
    let mut d = H264Depacketizer::new();
    let mut out = Vec::new();
    d.handle_packet(&pkt(1, 0, true, &[0x65, 1]), &mut out)
        .unwrap();
    // P frame in three fragments, the middle one lost.
    d.handle_packet(&pkt(2, 3000, false, &[0x5c, 0x81, 1]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(4, 3000, true, &[0x5c, 0x41, 3]), &mut out)
        .unwrap();
    // A complete P frame: still dropped, the decoder lacks its reference.
    d.handle_packet(&pkt(5, 6000, true, &[0x41, 9]), &mut out)
        .unwrap();
    // The next IDR resumes delivery.
    d.handle_packet(&pkt(6, 9000, true, &[0x65, 2]), &mut out)
        .unwrap();
    let ts: Vec<u64> = out.iter().map(|u| u.timestamp - (1 << 32)).collect();
    assert_eq!(ts, vec![0, 9000]);
    let s = d.stats();
    assert_eq!(
        (s.lost, s.dropped_units, s.skipped_waiting, s.units),
        (1, 1, 1, 2)
    );
}

#[test]
fn h264_missing_marker_ends_unit_on_timestamp_change() {
    let mut d = H264Depacketizer::new();
    let mut out = Vec::new();
    d.handle_packet(&pkt(1, 0, false, &[0x65, 1]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(2, 3000, false, &[0x41, 2]), &mut out)
        .unwrap();
    assert_eq!(out.len(), 1);
    // An FU-A that never ends, then a new timestamp: dropped.
    d.handle_packet(&pkt(3, 6000, false, &[0x5c, 0x81, 1]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(4, 9000, true, &[0x41, 2]), &mut out)
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(d.stats().dropped_units, 1);
}

#[test]
fn h265_aggregation_and_fragments() {
    let mut d = H265Depacketizer::new();
    let mut out = Vec::new();
    // AP with VPS and SPS.
    d.handle_packet(
        &pkt(1, 0, false, &[96, 1, 0, 3, 64, 1, 7, 0, 3, 66, 1, 8]),
        &mut out,
    )
    .unwrap();
    // FU of an IDR_W_RADL (type 19).
    d.handle_packet(&pkt(2, 0, false, &[98, 1, 0x80 | 19, 5]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(3, 0, true, &[98, 1, 0x40 | 19, 6]), &mut out)
        .unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].keyframe);
    assert_eq!(out[0].units[2], Bytes::from_static(&[38, 1, 5, 6]));
    assert!(d
        .handle_packet(&pkt(4, 1, true, &[100, 1, 0]), &mut out)
        .is_err());
}

#[test]
fn aac_several_frames_and_a_fragmented_one() {
    let params = AacParams {
        config: Bytes::from_static(&[0x12, 0x10]),
        size_length: 13,
        index_length: 3,
        index_delta_length: 3,
    };
    let mut d = AacDepacketizer::new(&params);
    let mut out = Vec::new();
    // Two AU headers (sizes 2 and 3), then the frames.
    d.handle_packet(
        &pkt(1, 1000, true, &[0, 32, 0, 16, 0, 24, 1, 2, 3, 4, 5]),
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].timestamp - out[0].timestamp, 1024);
    assert_eq!(out[1].units[0], Bytes::from_static(&[3, 4, 5]));
    // One 4-byte frame in two fragments.
    d.handle_packet(&pkt(2, 3048, false, &[0, 16, 0, 32, 7, 8]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(3, 3048, true, &[0, 16, 0, 32, 9, 10]), &mut out)
        .unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].units[0], Bytes::from_static(&[7, 8, 9, 10]));
    // A fragment whose continuation is lost is dropped, not delivered short.
    d.handle_packet(&pkt(4, 4072, false, &[0, 16, 0, 32, 7, 8]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(6, 5096, true, &[0, 16, 0, 8, 1]), &mut out)
        .unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(d.stats().dropped_units, 1);
    // Sizes beyond the packet.
    assert!(d
        .handle_packet(&pkt(7, 6120, true, &[0, 32, 0, 16, 0, 24, 1]), &mut out)
        .is_err());
}

#[test]
fn latm_elements_across_packets() {
    let mut d = LatmDepacketizer::new();
    let mut out = Vec::new();
    d.handle_packet(&pkt(1, 0, false, &[3, 1]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(2, 0, true, &[2, 3]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(3, 1024, true, &[1, 9, 2, 8, 7]), &mut out)
        .unwrap();
    let frames: Vec<&[u8]> = out.iter().map(|u| &u.units[0][..]).collect();
    assert_eq!(frames, vec![&[1, 2, 3][..], &[9][..], &[8, 7][..]]);
    assert_eq!(out[2].timestamp - out[1].timestamp, 1024);
    assert!(d
        .handle_packet(&pkt(4, 2048, true, &[9, 1]), &mut out)
        .is_err());
}

#[test]
fn frames_count_losses() {
    let mut d = FrameDepacketizer::new();
    let mut out = Vec::new();
    d.handle_packet(&pkt(10, 0, false, &[1]), &mut out).unwrap();
    d.handle_packet(&pkt(13, 960, false, &[2]), &mut out)
        .unwrap();
    d.handle_packet(&pkt(12, 960, false, &[3]), &mut out)
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!((d.stats().lost, d.stats().out_of_order), (2, 1));
}
