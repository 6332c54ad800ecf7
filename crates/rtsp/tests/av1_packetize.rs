//! The AV1 packetizer against a reader written from the AOM RTP payload
//! spec: whatever the OBU sizes, the packets stay under the limit, carry
//! the marker on the last packet of the unit only, flag fragments with Z
//! and Y consistently, set N when the unit holds a sequence header, and
//! give back exactly the OBU elements that went in.

use bytes::Bytes;
use proptest::prelude::*;
use weir_rtsp::packetize::Packetizer;
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::Codec;

const MAX_PACKET: usize = 200;

/// Reads one unit's packets back into OBU elements.
fn read(packets: &[Bytes]) -> (Vec<Vec<u8>>, bool) {
    let mut obus: Vec<Vec<u8>> = Vec::new();
    let mut open = false; // the last element continues in the next packet
    let mut new_sequence = false;
    for (i, raw) in packets.iter().enumerate() {
        assert!(raw.len() <= MAX_PACKET, "packet of {} bytes", raw.len());
        let p = Packet::parse(raw.clone()).unwrap();
        assert_eq!(p.marker, i + 1 == packets.len(), "marker on packet {i}");
        let agg = p.payload[0];
        let (z, y, w) = (agg & 0x80 != 0, agg & 0x40 != 0, (agg >> 4) & 3);
        assert_eq!(w, 0, "every element has its length");
        assert_eq!(z, open, "Z says whether packet {i} continues an element");
        if i == 0 {
            new_sequence = agg & 0x08 != 0;
        }
        let mut rest = &p.payload[1..];
        let mut first = true;
        while !rest.is_empty() {
            let (mut len, mut n) = (0usize, 0);
            loop {
                let b = rest[n];
                len |= usize::from(b & 0x7f) << (7 * n);
                n += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let element = &rest[n..n + len];
            rest = &rest[n + len..];
            if first && z {
                obus.last_mut().unwrap().extend_from_slice(element);
            } else {
                obus.push(element.to_vec());
            }
            first = false;
        }
        open = y;
    }
    assert!(!open, "the unit ends inside an element");
    (obus, new_sequence)
}

fn packetize(units: &[Vec<u8>]) -> Vec<Bytes> {
    let mut p = Packetizer::new(&Codec::Av1, 96, 1, 2, 3, MAX_PACKET).unwrap();
    let units: Vec<Bytes> = units.iter().cloned().map(Bytes::from).collect();
    let mut out = Vec::new();
    p.packetize(90_000, &units, &mut out).unwrap();
    out
}

#[test]
fn a_keyframe_with_its_sequence_header() {
    // Sequence header (type 1), frame (type 6) of 1000 bytes.
    let seq = vec![0x08, 0, 0, 0, 0x24];
    let mut frame = vec![0x30];
    frame.extend((0..1000).map(|i| i as u8));
    let packets = packetize(&[seq.clone(), frame.clone()]);
    assert!(packets.len() >= 5, "{} packets", packets.len());
    let (obus, n) = read(&packets);
    assert_eq!(obus, vec![seq, frame]);
    assert!(n, "N marks a new coded video sequence");
    // An inter frame alone: no N.
    let (obus, n) = read(&packetize(&[vec![0x30, 1, 2, 3]]));
    assert_eq!((obus.len(), n), (1, false));
}

proptest! {
    #[test]
    fn any_obus_come_back_whole(
        sizes in proptest::collection::vec(1usize..700, 1..8),
        seed in any::<u8>(),
    ) {
        let units: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            // OBU type 6 (frame) headers: never a sequence header.
            .map(|(i, &n)| {
                let mut u = vec![0x30];
                u.extend((0..n - 1).map(|j| (j as u8).wrapping_add(seed).wrapping_add(i as u8)));
                u
            })
            .collect();
        let (obus, n) = read(&packetize(&units));
        prop_assert_eq!(obus, units);
        prop_assert!(!n);
    }
}
