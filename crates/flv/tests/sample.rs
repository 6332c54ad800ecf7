//! Tests against a real FLV file written by ffmpeg (H.264 High 320x240,
//! 25 fps, GOP 25, AAC-LC 44.1 kHz mono, 2 s), regenerated with:
//!
//! ```sh
//! ffmpeg -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440 \
//!     -t 2 -c:v libx264 -g 25 -c:a aac -f flv crates/flv/testdata/sample.flv
//! ```

use bytes::{Bytes, BytesMut};
use weir_codec::aac::parse_asc;
use weir_codec::avc::{parse_avc_config, parse_sps};
use weir_flv::{
    frame_from_tag, write_frame_tag, Demuxer, FlvError, Tag, TagType, DEFAULT_MAX_TAG_SIZE,
};
use weir_media::{Codec, TrackKind};

const SAMPLE: &[u8] = include_bytes!("../testdata/sample.flv");

/// Demuxes `data` pushed in `chunk`-byte pieces, polling after each.
fn demux(data: &[u8], chunk: usize, max: u32) -> Result<Vec<Tag>, FlvError> {
    let mut d = Demuxer::new(max);
    let mut tags = Vec::new();
    for piece in data.chunks(chunk) {
        d.push(piece);
        while let Some(tag) = d.poll()? {
            tags.push(tag);
        }
    }
    d.finish()?;
    Ok(tags)
}

/// Stream offsets at which each tag starts, and the file length.
fn tag_offsets(tags: &[Tag]) -> Vec<usize> {
    let mut offsets = vec![13];
    for t in tags {
        offsets.push(offsets.last().unwrap() + 11 + t.body.len() + 4);
    }
    offsets
}

#[test]
fn demuxes_in_every_split_size() {
    let whole = demux(SAMPLE, SAMPLE.len(), DEFAULT_MAX_TAG_SIZE).unwrap();
    let count = |t: TagType| whole.iter().filter(|tag| tag.tag_type == t).count();
    assert_eq!(count(TagType::Script), 1);
    // 50 frames + sequence header + end of sequence.
    assert_eq!(count(TagType::Video), 52);
    // 88 frames + sequence header.
    assert_eq!(count(TagType::Audio), 89);
    assert_eq!(*tag_offsets(&whole).last().unwrap(), SAMPLE.len());
    for chunk in [1, 7, 4096] {
        assert_eq!(
            demux(SAMPLE, chunk, DEFAULT_MAX_TAG_SIZE).unwrap(),
            whole,
            "chunk {chunk}"
        );
    }
    let mut d = Demuxer::default();
    d.push(&SAMPLE[..20]);
    d.poll().unwrap();
    let h = d.header().unwrap();
    assert!(h.has_audio && h.has_video);
}

#[test]
fn frames_keyframes_and_codec_configs() {
    let tags = demux(SAMPLE, 4096, DEFAULT_MAX_TAG_SIZE).unwrap();
    let mut frames = Vec::new();
    let mut ignored = 0;
    for t in &tags {
        match frame_from_tag(t.tag_type as u8, i64::from(t.timestamp), t.body.clone()).unwrap() {
            Some(f) => frames.push(f),
            None => ignored += 1,
        }
    }
    assert_eq!(ignored, 1, "only the AVC end-of-sequence tag is ignored");
    let video: Vec<_> = frames
        .iter()
        .filter(|f| f.kind == TrackKind::Video)
        .collect();
    assert!(video.iter().all(|f| f.codec == Codec::H264));
    assert_eq!(
        video.iter().filter(|f| f.key).count(),
        2,
        "GOP 25 over 50 frames"
    );
    assert_eq!(video.iter().filter(|f| f.config).count(), 1);
    assert!(video[0].config && !video[0].key);
    assert!(video[1].key && video[1].dts_us == 0);
    assert!(
        video.iter().any(|f| f.cts_us > 0),
        "x264 B-frames give composition offsets"
    );

    let avc = parse_avc_config(&video[0].data).unwrap();
    assert_eq!((avc.profile, avc.level, avc.nal_length_size), (100, 13, 4));
    assert_eq!((avc.sps.len(), avc.pps.len()), (1, 1));
    assert_eq!(avc.codec_string(), "avc1.64000d");
    let sps = parse_sps(&avc.sps[0]).unwrap();
    assert_eq!(
        (sps.width, sps.height, sps.profile_idc, sps.level_idc),
        (320, 240, 100, 13)
    );
    assert_eq!(sps.chroma_format_idc, 1);

    let audio: Vec<_> = frames
        .iter()
        .filter(|f| f.kind == TrackKind::Audio)
        .collect();
    assert!(audio.iter().all(|f| f.codec == Codec::Aac && !f.key));
    assert_eq!(audio.iter().filter(|f| f.config).count(), 1);
    let asc = parse_asc(&audio[0].data).unwrap();
    assert_eq!(
        (asc.object_type, asc.sample_rate, asc.channel_config),
        (2, 44100, 1)
    );
    assert_eq!(asc.codec_string(), "mp4a.40.2");

    let data: Vec<_> = frames
        .iter()
        .filter(|f| f.kind == TrackKind::Data)
        .collect();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].codec, Codec::Amf0);
    assert!(data[0].data.starts_with(b"\x02\x00\x0aonMetaData"));
}

#[test]
fn frame_round_trip_reproduces_tag_bytes() {
    let tags = demux(SAMPLE, SAMPLE.len(), DEFAULT_MAX_TAG_SIZE).unwrap();
    let offsets = tag_offsets(&tags);
    let mut rebuilt = BytesMut::from(&SAMPLE[..13]);
    let mut expected = BytesMut::from(&SAMPLE[..13]);
    for (i, t) in tags.iter().enumerate() {
        let Some(f) =
            frame_from_tag(t.tag_type as u8, i64::from(t.timestamp), t.body.clone()).unwrap()
        else {
            continue;
        };
        let original = &SAMPLE[offsets[i]..offsets[i + 1]];
        let mut out = BytesMut::new();
        write_frame_tag(&f, &mut out);
        assert_eq!(&out[..], original, "tag {i}");
        rebuilt.extend_from_slice(&out);
        expected.extend_from_slice(original);
    }
    assert_eq!(rebuilt, expected);
}

#[test]
fn truncation_at_every_offset_is_reported() {
    let tags = demux(SAMPLE, SAMPLE.len(), DEFAULT_MAX_TAG_SIZE).unwrap();
    let boundaries = tag_offsets(&tags);
    // Feeding one byte at a time leaves the demuxer in the state it would
    // have at the end of a file cut there.
    let mut d = Demuxer::default();
    let mut seen = 0;
    assert!(d.finish().is_err());
    for (i, &b) in SAMPLE.iter().enumerate() {
        d.push(&[b]);
        while let Some(tag) = d.poll().unwrap() {
            assert_eq!(tag, tags[seen]);
            seen += 1;
        }
        let len = i + 1;
        match d.finish() {
            Ok(()) => assert!(boundaries.contains(&len), "clean end at {len}"),
            Err(FlvError::Truncated {
                offset, missing, ..
            }) => {
                assert!(
                    !boundaries.contains(&len),
                    "truncation reported at boundary {len}"
                );
                assert!(offset as usize <= len && missing > 0);
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(seen, tags.len());
}

#[test]
fn corrupted_headers_are_detected() {
    let tags = demux(SAMPLE, SAMPLE.len(), DEFAULT_MAX_TAG_SIZE).unwrap();
    let offsets = tag_offsets(&tags);
    let corrupt = |at: usize| {
        let mut data = SAMPLE.to_vec();
        data[at] ^= 0xFF;
        demux(&data, data.len(), DEFAULT_MAX_TAG_SIZE)
    };
    for at in 0..4 {
        assert!(corrupt(at).is_err(), "file header byte {at}");
    }
    for (i, &start) in offsets[..tags.len()].iter().enumerate() {
        assert_eq!(
            corrupt(start),
            Err(FlvError::TagType {
                tag_type: tags[i].tag_type as u8 ^ 0xFF,
                offset: start as u64
            })
        );
        // A changed size desynchronises the stream: it must not go unnoticed.
        for at in start + 1..start + 4 {
            assert_ne!(corrupt(at), Ok(tags.clone()), "size byte {at}");
        }
    }
}

#[test]
fn corrupted_and_truncated_bodies_never_panic() {
    let tags = demux(SAMPLE, SAMPLE.len(), DEFAULT_MAX_TAG_SIZE).unwrap();
    for t in &tags {
        for len in 0..t.body.len().min(64) {
            let body = t.body.slice(..len);
            exercise(t.tag_type as u8, body);
        }
        for at in 0..t.body.len().min(64) {
            let mut body = t.body.to_vec();
            body[at] ^= 0xFF;
            exercise(t.tag_type as u8, Bytes::from(body));
        }
    }
}

/// Maps a body and parses any codec configuration in it; errors are fine,
/// panics are not.
fn exercise(tag_type: u8, body: Bytes) {
    let Ok(Some(frame)) = frame_from_tag(tag_type, 0, body) else {
        return;
    };
    let mut out = BytesMut::new();
    write_frame_tag(&frame, &mut out);
    if frame.config {
        if let Ok(avc) = parse_avc_config(&frame.data) {
            avc.sps.iter().for_each(|s| drop(parse_sps(s)));
        }
        let _ = parse_asc(&frame.data);
    }
}

#[test]
fn tag_size_limit_is_enforced() {
    let tags = demux(SAMPLE, SAMPLE.len(), DEFAULT_MAX_TAG_SIZE).unwrap();
    let offsets = tag_offsets(&tags);
    let (i, largest) = tags
        .iter()
        .enumerate()
        .max_by_key(|(_, t)| t.body.len())
        .unwrap();
    let size = largest.body.len() as u32;
    assert_eq!(demux(SAMPLE, 4096, size).unwrap(), tags);
    let first_too_large = tags
        .iter()
        .position(|t| t.body.len() as u32 > size - 1)
        .unwrap();
    assert!(first_too_large <= i);
    assert_eq!(
        demux(SAMPLE, 4096, size - 1),
        Err(FlvError::TagTooLarge {
            size: tags[first_too_large].body.len() as u32,
            max: size - 1,
            offset: offsets[first_too_large] as u64
        })
    );
}
