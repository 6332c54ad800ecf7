//! weir-vod's MP4 indexer over arbitrary bytes: an index or an error,
//! never a panic or unbounded allocation; frames, HLS segments and clips
//! of whatever was indexed, and a playhead's walk, stay inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = weir_vod::Index::from_bytes(data) else {
        return;
    };
    let bytes = bytes::Bytes::copy_from_slice(data);
    for f in index.frames(bytes.clone()) {
        let _ = f;
    }
    // A paced player's walk (RTMP VOD): bounded batches, each read as its
    // own byte range.
    let mut head = weir_vod::Playhead::new(&index);
    head.seek(&index, 1_000_000);
    loop {
        let batch = head.take(&index, i64::MAX, 1 << 16);
        if batch.samples.is_empty() {
            break;
        }
        let end = usize::try_from(batch.range.end).unwrap_or(usize::MAX).min(bytes.len());
        let start = usize::try_from(batch.range.start).unwrap_or(usize::MAX).min(end);
        let _ = batch.frames(&index, &bytes.slice(start..end));
    }
    let window = weir_vod::Window::whole(data);
    let segments = weir_vod::hls::segments(&index, 2_000_000);
    let _ = weir_vod::hls::playlist(&index, &segments, "x.mp4");
    if let Some(s) = segments.first() {
        let _ = weir_vod::hls::segment(&index, window, s, 1);
    }
    let source = weir_vod::Source { index: &index, data: window, shift_us: 0 };
    let _ = weir_vod::clip(&[source], 0, i64::MAX / 2, weir_vod::ClipFormat::Plain);
});
