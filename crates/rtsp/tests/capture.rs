//! Decodes real ffmpeg 5.1 RTSP publishing sessions (TCP interleaved),
//! recorded by `testdata/capture.py`: every request parses, the SDP yields
//! a depacketizer per track, the SETUP transports give the channels, and
//! one second of media comes out as whole access units with no loss, the
//! first video unit a keyframe, timestamps distinct (rising for audio).

use std::collections::HashMap;

use bytes::BytesMut;
use weir_rtsp::depacketize::{AccessUnit, Depacketizer};
use weir_rtsp::headers::{LowerTransport, SessionHeader, Transport, TransportMode};
use weir_rtsp::message::{Decoder, Item, Message, Method};
use weir_rtsp::packetize::Packetizer;
use weir_rtsp::rtcp::{parse_rtcp, RtcpEvent};
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::{Codec, SessionDescription};

struct Decoded {
    sdp: SessionDescription,
    units: Vec<Vec<AccessUnit>>,
    depacketizers: Vec<Depacketizer>,
    sender_reports: usize,
}

fn decode(file: &str) -> Decoded {
    let bytes = std::fs::read(format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut decoder = Decoder::default();
    // Feed in odd-sized pieces, as a socket would.
    let mut buf = BytesMut::new();
    let mut sdp = None;
    let mut depacketizers = Vec::new();
    let mut units: Vec<Vec<AccessUnit>> = Vec::new();
    let mut channels: HashMap<u8, usize> = HashMap::new();
    let mut sender_reports = 0;
    let mut methods = Vec::new();
    for chunk in bytes.chunks(1000) {
        buf.extend_from_slice(chunk);
        while let Some(item) = decoder.decode(&mut buf).unwrap() {
            match item {
                Item::Message(Message::Request(r)) => {
                    assert!(r.headers.cseq().is_some());
                    match r.method {
                        Method::Announce => {
                            let sd = SessionDescription::parse(&r.body).unwrap();
                            for m in &sd.media {
                                depacketizers
                                    .push(Depacketizer::new(m).expect("a depacketizer per track"));
                                units.push(Vec::new());
                            }
                            sdp = Some(sd);
                        }
                        Method::Setup => {
                            let sd = sdp.as_ref().unwrap();
                            let track = sd
                                .media
                                .iter()
                                .position(|m| {
                                    m.control_url("rtsp://127.0.0.1/live/test")
                                        .ends_with(r.uri.rsplit('/').next().unwrap())
                                })
                                .unwrap();
                            let t = &Transport::parse_list(r.headers.get("Transport").unwrap())
                                .unwrap()[0];
                            assert_eq!(t.lower, LowerTransport::Tcp);
                            assert_eq!(t.mode, Some(TransportMode::Record));
                            channels.insert(t.interleaved.unwrap().0, track);
                        }
                        Method::Record => {
                            SessionHeader::parse(r.headers.get("Session").unwrap()).unwrap();
                        }
                        _ => {}
                    }
                    methods.push(r.method);
                }
                Item::Message(Message::Response(_)) => panic!("a client sent a response"),
                Item::Interleaved { channel, data } => {
                    if let Some(&track) = channels.get(&channel) {
                        let p = Packet::parse(data).unwrap();
                        depacketizers[track]
                            .handle_packet(&p, &mut units[track])
                            .unwrap();
                    } else {
                        assert!(
                            channels.contains_key(&(channel - 1)),
                            "unknown channel {channel}"
                        );
                        for e in parse_rtcp(&data).unwrap() {
                            if matches!(e, RtcpEvent::Sender(_)) {
                                sender_reports += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        &methods[..3],
        &[Method::Options, Method::Announce, Method::Setup]
    );
    assert!(methods.contains(&Method::Record));
    Decoded {
        sdp: sdp.unwrap(),
        units,
        depacketizers,
        sender_reports,
    }
}

fn check(d: &Decoded, min_video: usize, min_audio: usize) {
    for (i, units) in d.units.iter().enumerate() {
        let s = d.depacketizers[i].stats();
        assert_eq!(
            (s.lost, s.dropped_units, s.bad_packets),
            (0, 0, 0),
            "track {i}: {s:?}"
        );
        let is_video = i == 0;
        assert!(
            units.len() >= if is_video { min_video } else { min_audio },
            "track {i}: {} units",
            units.len()
        );
        assert!(units[0].keyframe);
        // Audio rises; video timestamps are presentation times in decoding
        // order, so with B-frames they only differ.
        let mut ts: Vec<u64> = units.iter().map(|u| u.timestamp).collect();
        if !is_video {
            assert!(
                ts.windows(2).all(|w| w[1] > w[0]),
                "track {i}: timestamps do not rise"
            );
        }
        ts.sort_unstable();
        ts.dedup();
        assert_eq!(ts.len(), units.len(), "track {i}: repeated timestamps");
        for u in units {
            assert!(!u.units.is_empty() && u.units.iter().all(|n| !n.is_empty()));
        }
    }
    assert!(d.sender_reports > 0);
}

#[test]
fn ffmpeg_h264_aac() {
    let d = decode("ffmpeg_h264_aac.rtsp");
    assert!(
        matches!(d.sdp.media[0].codec, Codec::H264(ref p) if p.sps.is_some() && p.pps.is_some())
    );
    assert!(matches!(d.sdp.media[1].codec, Codec::Aac(_)));
    // 10 fps and 44.1 kHz AAC for about a second.
    check(&d, 8, 30);
    // H.264 IDR first; each unit holds slice NAL units.
    assert!(d.units[0][0].units.iter().any(|n| n[0] & 0x1f == 5));
    assert!(d.units[1]
        .windows(2)
        .all(|w| w[1].timestamp - w[0].timestamp == 1024));
}

#[test]
fn ffmpeg_h265_pcma() {
    let d = decode("ffmpeg_h265_pcma.rtsp");
    assert!(
        matches!(d.sdp.media[0].codec, Codec::H265(ref p) if p.vps.is_some() && p.sps.is_some() && p.pps.is_some())
    );
    assert_eq!(d.sdp.media[1].codec, Codec::Pcma);
    check(&d, 8, 10);
    assert!(d.units[0][0]
        .units
        .iter()
        .any(|n| (16..=21).contains(&((n[0] >> 1) & 0x3f))));
}

#[test]
fn ffmpeg_h264_opus() {
    let d = decode("ffmpeg_h264_opus.rtsp");
    assert_eq!(d.sdp.media[1].codec, Codec::Opus);
    assert_eq!(d.sdp.media[1].clock_rate, 48000);
    check(&d, 8, 30);
}

/// Real access units through our packetizer (small packets, so FU-A / FU
/// and AAC fragmentation all happen) and back through our depacketizer.
#[test]
fn captured_units_survive_our_packetizer() {
    for file in [
        "ffmpeg_h264_aac.rtsp",
        "ffmpeg_h265_pcma.rtsp",
        "ffmpeg_h264_opus.rtsp",
    ] {
        let d = decode(file);
        for (track, units) in d.units.iter().enumerate() {
            let media = &d.sdp.media[track];
            let max_packet = if matches!(media.codec, Codec::Opus) {
                1400
            } else {
                200
            };
            let mut p =
                Packetizer::new(&media.codec, media.payload_type, 42, 1, 7, max_packet).unwrap();
            let mut back = Depacketizer::new(media).unwrap();
            let mut out = Vec::new();
            for u in units {
                let mut packets = Vec::new();
                p.packetize(u.timestamp, &u.units, &mut packets).unwrap();
                for bytes in packets {
                    assert!(bytes.len() <= max_packet);
                    back.handle_packet(&Packet::parse(bytes).unwrap(), &mut out)
                        .unwrap();
                }
            }
            // G.711 frames over 188 bytes are split: compare the bytes.
            let sent: Vec<u8> = units.iter().flat_map(|u| u.units.concat()).collect();
            let got: Vec<u8> = out.iter().flat_map(|u| u.units.concat()).collect();
            assert_eq!(sent, got, "{file} track {track}");
            if !matches!(media.codec, Codec::Pcma) {
                assert_eq!(out.len(), units.len(), "{file} track {track}");
                for (a, b) in units.iter().zip(&out) {
                    assert_eq!(a.units, b.units);
                    assert_eq!(
                        b.timestamp - out[0].timestamp,
                        a.timestamp - units[0].timestamp
                    );
                }
            }
        }
    }
}
