//! Test-only FLV tag walker: turns `testdata/sample.flv` (made with
//! ffmpeg, H.264 + AAC) into weir `Frame`s. Trusts its input; not a
//! demuxer for peer data.

use bytes::Bytes;
use weir_media::{Codec, Frame, TrackKind};

/// The frames of an FLV file, in file order: config frames where the file
/// has sequence headers, media frames otherwise. Script tags are skipped.
pub fn frames(path: &str) -> Vec<Frame> {
    let data = Bytes::from(std::fs::read(path).expect("read FLV test file"));
    assert_eq!(&data[..3], b"FLV");
    let header_len = u32::from_be_bytes(data[5..9].try_into().unwrap()) as usize;
    let mut pos = header_len + 4; // skip PreviousTagSize0
    let mut out = Vec::new();
    while pos + 11 <= data.len() {
        let tag_type = data[pos];
        let size = u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let ts = u32::from_be_bytes([data[pos + 7], data[pos + 4], data[pos + 5], data[pos + 6]]);
        let body = data.slice(pos + 11..pos + 11 + size);
        pos += 11 + size + 4;
        let dts = i64::from(ts);
        match tag_type {
            9 if body[0] & 0x0f == 7 => {
                let cts = i32::from_be_bytes([0, body[2], body[3], body[4]]) << 8 >> 8;
                let kind = body[1];
                if kind > 1 {
                    continue; // end of sequence
                }
                out.push(Frame {
                    kind: TrackKind::Video,
                    codec: Codec::H264,
                    dts,
                    cts,
                    key: body[0] >> 4 == 1,
                    config: kind == 0,
                    data: body.slice(5..),
                });
            }
            8 if body[0] >> 4 == 10 => out.push(Frame {
                kind: TrackKind::Audio,
                codec: Codec::Aac,
                dts,
                cts: 0,
                key: false,
                config: body[1] == 0,
                data: body.slice(2..),
            }),
            _ => {}
        }
    }
    out
}
