//! Test helper shared with the muxer crates' tests (included there by
//! `#[path]`): an FLV test file read into frames by weir's own demuxer and
//! tag mapping, so every test that replays a file reads it the way ingest
//! would.

use weir_flv::{frame_from_tag, Demuxer};
use weir_media::Frame;

/// Every frame of the FLV file at `path`, script data included, in file
/// order. Panics on anything malformed: test files are trusted.
pub fn read_frames(path: &str) -> Vec<Frame> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut demuxer = Demuxer::default();
    demuxer.push(&data);
    let mut frames = Vec::new();
    while let Some(tag) = demuxer.poll().expect("FLV tag") {
        let timestamp = i64::from(tag.timestamp);
        frames.extend(frame_from_tag(tag.tag_type as u8, timestamp, tag.body).expect("tag body"));
    }
    demuxer.finish().expect("FLV file ends after a whole tag");
    frames
}
