//! `GET /api/v1/recordings/get?app=&stream=&start=&duration=`: the
//! recordings of one stream that cover a wall-clock range, stitched into
//! one MP4 with [`weir_vod::clip`], cut at the keyframe at or before
//! `start`.
//!
//! The recorder's files each start at media time 0 and carry the wall
//! clock of their first frame (`start`). A file is placed on the range's
//! timeline by that clock, except when it follows the previous file
//! closely (a segment of the same publish): then it is placed exactly
//! where the previous file's video ends, because the wall clock of a
//! file's first frame jitters by a few frames and would leave the joined
//! timestamps a gap or an overlap at every segment boundary.
//!
//! Memory is bounded: only the bytes of the samples in the range are read
//! (one window per file, capped in total by `max_range_bytes`, 413
//! beyond), and at most `ranges_at_once` ranges are made at a time.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use weir_hub::Action;
use weir_media::StreamKey;
use weir_vod::{Index, Source, Window};

use crate::{cache, range_query, Vod, VodHttpError};

/// One recording file of a stream, as the recorder's catalog lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedFile {
    /// The file on disk (an MP4 the recorder wrote).
    pub path: PathBuf,
    /// Wall clock of its first frame.
    pub start: DateTime<Utc>,
}

/// The MP4 recordings of a stream that overlap `[from, to)`, oldest first:
/// how the app's recorder answers the time-range route.
pub type Recordings =
    Arc<dyn Fn(&StreamKey, DateTime<Utc>, DateTime<Utc>) -> Vec<RecordedFile> + Send + Sync>;

/// A file whose wall-clock start is at most this far from where the
/// previous file's media ends continues it (a segment boundary, or a
/// reconnect within that time): it is placed right after it.
const CONTINUES_WITHIN_US: i64 = 2_000_000;

/// What to read of one file and where it goes on the range's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// Index into the files given to [`plan`].
    pub(crate) file: usize,
    /// Added to the file's decode times (µs); the range starts at 0.
    pub(crate) shift_us: i64,
    /// The bytes of its samples in the range.
    pub(crate) bytes: Range<u64>,
}

/// The first video and audio track's codec and config: files whose
/// differ (a new publish with other settings) cannot be joined.
fn tracks_of(index: &Index) -> impl PartialEq + '_ {
    [index.video(), index.audio()].map(|t| t.map(|t| (t.codec, t.config.as_ref())))
}

/// Which bytes of which files make the range of `duration_us` from
/// `start`. `files` are in time order with their indexes. Files after one
/// whose tracks differ from the first file's are left out (the range ends
/// there). `NoRecording` when no sample falls in the range.
pub(crate) fn plan(
    files: &[(DateTime<Utc>, &Index)],
    start: DateTime<Utc>,
    duration_us: i64,
) -> Result<Vec<Part>, VodHttpError> {
    let none = || VodHttpError::NoRecording("no recorded media in that range".into());
    // Files with media, placed on the timeline.
    let mut placed: Vec<(usize, i64)> = Vec::new();
    let mut previous_end: Option<i64> = None;
    let first_tracks = files
        .iter()
        .find(|(_, i)| i.tracks.iter().any(|t| !t.samples.is_empty()))
        .map(|(_, i)| tracks_of(i));
    for (n, (wall, index)) in files.iter().enumerate() {
        // The recorder starts each file at time 0 with the keyframe that
        // ended the file before it (any sample of an audio-only stream),
        // so a file continues where the previous one's video (or only
        // track) ends. Not where its audio ends: audio runs up to a frame
        // past the cut, and joining there would leave a gap.
        let Some((_, end_us)) = index
            .video()
            .or(index.tracks.first())
            .and_then(|t| t.span_us())
        else {
            continue;
        };
        if first_tracks.as_ref() != Some(&tracks_of(index)) {
            break;
        }
        let by_clock = (*wall - start).num_microseconds().unwrap_or(i64::MAX);
        let shift = match previous_end {
            // Overlapping the previous file, or shortly after it.
            Some(prev) if by_clock.saturating_sub(prev) <= CONTINUES_WITHIN_US => prev,
            _ => by_clock,
        };
        previous_end = Some(end_us.saturating_add(shift));
        placed.push((n, shift));
    }
    // Where the clip starts: the last keyframe at or before 0, else the
    // first one in the range (what `clip` does with the same files).
    let cuts: Vec<i64> = placed
        .iter()
        .flat_map(|&(n, shift)| {
            files[n]
                .1
                .cut_points_us()
                .into_iter()
                .map(move |c| c.saturating_add(shift))
        })
        .filter(|&c| c < duration_us)
        .collect();
    let cut = cuts
        .iter()
        .copied()
        .filter(|&c| c <= 0)
        .max()
        .or_else(|| cuts.iter().copied().min())
        .ok_or_else(none)?;
    let mut parts = Vec::new();
    // Whether any sample lies in the range itself: the GOP before it alone
    // is no answer to a range where nothing was recorded.
    let mut inside = false;
    for (n, shift) in placed {
        let index = files[n].1;
        let mut bytes: Option<Range<u64>> = None;
        for track in [index.video(), index.audio()].into_iter().flatten() {
            for s in &track.samples {
                let at = track.dts_us(s).saturating_add(shift);
                if at < cut || at >= duration_us {
                    continue;
                }
                inside |= at >= 0;
                let end = s.offset.saturating_add(u64::from(s.size));
                bytes = Some(match bytes {
                    None => s.offset..end,
                    Some(r) => r.start.min(s.offset)..r.end.max(end),
                });
            }
        }
        if let Some(bytes) = bytes {
            parts.push(Part {
                file: n,
                shift_us: shift,
                bytes,
            });
        }
    }
    if !inside {
        return Err(none());
    }
    Ok(parts)
}

/// `GET /api/v1/recordings/get`
pub(crate) async fn get(
    State(vod): State<Arc<Vod>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    match answer(&vod, peer, query.as_deref().unwrap_or_default()).await {
        Ok(r) => r,
        Err(e) => e.into_api_response(),
    }
}

async fn answer(vod: &Vod, peer: SocketAddr, query: &str) -> Result<Response, VodHttpError> {
    let recordings = vod
        .library
        .config
        .recordings
        .as_ref()
        .ok_or(VodHttpError::NotFound)?;
    let q = range_query::parse(query, vod.library.config.max_range)?;
    // As a player of the stream, like `/vod/recordings/...`: its play rules
    // guard its recordings, whatever route fetches them. Held until the
    // answer is made.
    let _admitted = vod
        .hub
        .admit_new_client(peer, "vod", Action::Play, &q.key, &q.rest)
        .await
        .map_err(|denied| VodHttpError::Denied(denied.to_string()))?;
    let files = recordings(&q.key, q.start, q.end());
    if files.is_empty() {
        return Err(VodHttpError::NoRecording(format!(
            "no recording of {} covers {} + {} s",
            q.key,
            q.start.to_rfc3339(),
            q.duration_us as f64 / 1e6
        )));
    }
    // Reading and writing a range holds up to twice its bytes in memory.
    let _permit = vod
        .library
        .ranges
        .acquire()
        .await
        .map_err(|e| VodHttpError::Internal(e.to_string()))?;
    let mut indexed = Vec::new();
    for f in &files {
        match vod.library.cache.get(&f.path).await {
            Ok(index) => indexed.push((f, index)),
            // Deleted since it was listed (retention, the API).
            Err(VodHttpError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    let timeline: Vec<(DateTime<Utc>, &Index)> =
        indexed.iter().map(|(f, i)| (f.start, i.as_ref())).collect();
    let parts = plan(&timeline, q.start, q.duration_us)?;
    let total: u64 = parts.iter().map(|p| p.bytes.end - p.bytes.start).sum();
    if total > vod.library.config.max_range_bytes {
        return Err(VodHttpError::RangeTooLarge {
            bytes: total,
            max: vod.library.config.max_range_bytes,
        });
    }
    let mut windows = Vec::new();
    for p in &parts {
        let len = usize::try_from(p.bytes.end - p.bytes.start)
            .map_err(|_| VodHttpError::Internal("range larger than memory".into()))?;
        let bytes = cache::read_span(&indexed[p.file].0.path, p.bytes.start, len).await?;
        windows.push(bytes);
    }
    let indexes: Vec<Arc<Index>> = parts.iter().map(|p| indexed[p.file].1.clone()).collect();
    let format = q.format;
    let duration_us = q.duration_us;
    let file_count = parts.len();
    let body = tokio::task::spawn_blocking(move || {
        let sources: Vec<Source<'_>> = parts
            .iter()
            .zip(&indexes)
            .zip(&windows)
            .map(|((p, index), bytes)| Source {
                index,
                data: Window {
                    base: p.bytes.start,
                    bytes,
                },
                shift_us: p.shift_us,
            })
            .collect();
        weir_vod::clip(&sources, 0, duration_us, format)
    })
    .await
    .map_err(|e| VodHttpError::Internal(e.to_string()))??;
    let name = format!(
        "{}_{}_{}_{}s.mp4",
        q.key.app(),
        q.key.stream(),
        q.start.format("%Y%m%dT%H%M%SZ"),
        (q.duration_us as f64 / 1e6).round()
    );
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    // Names are `[A-Za-z0-9._~-]` (stream keys) and digits: nothing to
    // quote or escape.
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // A range that reaches into a recording still being written grows.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    tracing::debug!(stream = %q.key, files = file_count, bytes = total, "time range stitched");
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Index {
        Index::from_bytes(include_bytes!("../../vod/testdata/frag.mp4")).unwrap()
    }

    fn at(secs: f64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .to_utc()
            + chrono::Duration::microseconds((secs * 1e6) as i64)
    }

    /// Where the fixture's video ends, µs.
    fn video_end(index: &Index) -> i64 {
        index.video().unwrap().span_us().unwrap().1
    }

    #[test]
    fn consecutive_segments_are_joined_end_to_start() {
        let index = fixture();
        let end = video_end(&index);
        let len = end as f64 / 1e6;
        // The second file's clock says it started 40 ms late: a segment
        // boundary all the same, placed where the first one's video ends.
        let files = [(at(0.0), &index), (at(len + 0.04), &index)];
        let parts = plan(&files, at(0.0), (2.0 * len * 1e6) as i64).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].shift_us, 0);
        assert_eq!(parts[1].shift_us, end);
        // Early by 30 ms (an overlap): the same place.
        let early = [(at(0.0), &index), (at(len - 0.03), &index)];
        let shifts = |parts: Vec<Part>| parts.iter().map(|p| p.shift_us).collect::<Vec<_>>();
        assert_eq!(
            shifts(plan(&early, at(0.0), 1_000_000_000).unwrap()),
            shifts(parts.clone())
        );
        // From the middle of the first file: its window starts at the
        // keyframe before.
        let mid = plan(&files, at(len / 2.0), (len * 1e6) as i64).unwrap();
        assert_eq!(mid.len(), 2);
        assert!(mid[0].bytes.start > parts[0].bytes.start);
        assert!(mid[1].bytes.end < parts[1].bytes.end);
        assert_eq!(mid[1].shift_us, end - (len / 2.0 * 1e6) as i64);
    }

    #[test]
    fn a_file_after_a_pause_keeps_its_clock_and_ranges_outside_are_empty() {
        let index = fixture();
        let files = [(at(0.0), &index), (at(100.0), &index)];
        let parts = plan(&files, at(0.0), 200_000_000).unwrap();
        assert_eq!(parts[1].shift_us, 100_000_000);
        // Only the second file.
        let second = plan(&files, at(100.0), 1_000_000).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].file, 1);
        // Between the two: nothing, not even the GOP before.
        let gap = video_end(&index) as f64 / 1e6 + 10.0;
        assert!(matches!(
            plan(&files, at(gap), 5_000_000),
            Err(VodHttpError::NoRecording(_))
        ));
        assert!(matches!(
            plan(&[], at(0.0), 5_000_000),
            Err(VodHttpError::NoRecording(_))
        ));
    }

    #[test]
    fn files_with_other_codecs_end_the_range() {
        let index = fixture();
        let other =
            Index::from_bytes(include_bytes!("../../vod/testdata/hevc_opus_frag.mp4")).unwrap();
        let len = video_end(&index) as f64 / 1e6;
        let files = [(at(0.0), &index), (at(len), &other)];
        let parts = plan(&files, at(0.0), 100_000_000).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].file, 0);
    }
}
