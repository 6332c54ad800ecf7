//! Fuzzes the FLV demuxer and tag body mapping, which read bytes straight
//! from peers (HTTP-FLV, `weir publish FILE.flv`, RTMP message payloads).
//!
//! The first input byte picks the chunk size the rest is pushed in, and
//! whether a valid file header is put in front (so the fuzzer reaches tags
//! without having to discover the header first). Every tag is mapped to a
//! frame; every frame is muxed again and must come back unchanged; codec
//! configurations (H.264, H.265, AAC, and Enhanced RTMP's AV1, VP9 and
//! Opus) are parsed. Errors are fine, panics are bugs.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weir_codec::aac::{adts_header, parse_asc};
use weir_codec::avc::{parse_avc_config, parse_sps};
use weir_codec::nal::{split_annex_b, split_length_prefixed, write_annex_b};
use weir_flv::{frame_from_tag, tag_timestamp, write_frame_tag, Demuxer, Tag, FLV_HEADER_AV};
use weir_media::{ms_to_us, Codec};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(control >> 1) + 1;
    // A small limit so the fuzzer also exercises the size check.
    let mut demuxer = Demuxer::new(64 * 1024);
    if control & 1 == 0 {
        demuxer.push(&FLV_HEADER_AV);
    }
    for piece in input.chunks(chunk) {
        demuxer.push(piece);
        while let Ok(Some(tag)) = demuxer.poll() {
            check_tag(tag);
        }
    }
    let _ = demuxer.finish();
});

fn check_tag(tag: Tag) {
    let tag_type = tag.tag_type as u8;
    let Ok(Some(frame)) = frame_from_tag(tag_type, i64::from(tag.timestamp), tag.body) else {
        return;
    };
    let mut out = BytesMut::from(&FLV_HEADER_AV[..]);
    write_frame_tag(&frame, &mut out);
    let mut again = Demuxer::default();
    again.push(&out);
    let tag = again
        .poll()
        .expect("our own tag demuxes")
        .expect("complete tag");
    let back = frame_from_tag(tag.tag_type as u8, i64::from(tag.timestamp), tag.body);
    // Muxing moves `onMetaData` to time 0 (see `tag_timestamp`); nothing
    // else may change.
    let mut want = frame.clone();
    want.dts_us = ms_to_us(i64::from(tag_timestamp(&frame)));
    assert_eq!(back, Ok(Some(want)), "frame changed through mux and demux");
    assert_eq!(again.finish(), Ok(()));

    if !frame.config {
        match frame.codec {
            Codec::Av1 => {
                let _ = weir_codec::av1::Obus::new(&frame.data).count();
            }
            Codec::Vp9 => {
                let _ = weir_codec::vp9::keyframe_size(&frame.data);
            }
            Codec::Opus => {
                let _ = weir_codec::opus::packet_samples(&frame.data);
            }
            _ => {}
        }
        if matches!(frame.codec, Codec::H264 | Codec::H265) {
            // Peer NAL lengths through the framing MPEG-TS egress uses.
            if let Ok(units) = split_length_prefixed(&frame.data, 4) {
                let mut annex_b = Vec::new();
                write_annex_b(&units, &mut annex_b);
                let _ = split_annex_b(&annex_b);
            }
        }
        return;
    }
    match frame.codec {
        Codec::H264 => {
            if let Ok(config) = parse_avc_config(&frame.data) {
                for sps in &config.sps {
                    let _ = parse_sps(sps);
                }
            }
        }
        Codec::Aac => {
            if let Ok(asc) = parse_asc(&frame.data) {
                let _ = adts_header(&asc, frame.data.len());
            }
        }
        Codec::H265 => {
            if let Ok(config) = weir_codec::hevc::parse_hevc_config(&frame.data) {
                for sps in &config.sps {
                    let _ = weir_codec::hevc::parse_hevc_sps(sps);
                }
            }
        }
        // Enhanced RTMP configs: what fMP4 and the stats read of them.
        Codec::Av1 => {
            if let Ok(config) = weir_codec::av1::parse_av1_config(&frame.data) {
                let _ = config.sequence_header();
            }
        }
        Codec::Vp9 => {
            let _ = weir_codec::vp9::parse_vp9_config(&frame.data);
        }
        Codec::Opus => {
            let _ = weir_codec::opus::parse_opus_head(&frame.data);
        }
        _ => {}
    }
}
