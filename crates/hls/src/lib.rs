//! Sans-IO HLS for weir: cuts one stream's frames into MPEG-TS segments and
//! renders the live media playlist.
//!
//! A [`Segmenter`] per stream takes [`weir_media::Frame`]s in order and
//! reports [`SegmentEvent`]s; it keeps the recent segments in memory as
//! [`bytes::Bytes`] and renders the m3u8 on demand. It reads no clock and
//! touches no files: the HTTP adapter serves [`Segmenter::playlist`] and
//! [`Segmenter::segment`] directly, and may also write finished segments to
//! disk and delete evicted ones, driven by the events.
//!
//! # Design decisions
//!
//! * **Media time, not wall time.** Segment boundaries and `#EXTINF`
//!   durations come from frame DTS. A segment is cut at the first video
//!   keyframe once `fragment` has elapsed since the segment's first frame,
//!   so every segment starts with PAT, PMT and a keyframe and can be
//!   decoded on its own; its duration is the distance to the next
//!   segment's first DTS. Audio-only streams are cut by time alone. If no
//!   keyframe comes for `max_fragment`, the segment is cut anyway: memory
//!   and target duration stay bounded, at the price of one segment that
//!   starts mid-GOP.
//! * **One muxer per stream.** The same [`weir_mpegts::TsMuxer`] writes
//!   every segment, so continuity counters and the PCR run on across
//!   segments: a player (or ffprobe) sees one continuous transport stream.
//! * **Window by duration.** The playlist lists the newest segments that
//!   together cover `window`; older ones stay fetchable (players may hold a
//!   playlist for a while) until more than `max_segments_kept` are held,
//!   then they are evicted and reported.
//! * **Player-safe tags.** `#EXT-X-TARGETDURATION` is the ceiling of the
//!   longest segment ever finished, so it never decreases during a
//!   stream's life (some players refuse a playlist whose target shrinks).
//!   `#EXT-X-MEDIA-SEQUENCE` counts segments since the segmenter was made,
//!   across publisher restarts; each restart marks the next segment with
//!   `#EXT-X-DISCONTINUITY`, and `#EXT-X-DISCONTINUITY-SEQUENCE` counts the
//!   discontinuities that slid out of the playlist.
//! * **Timeline jumps are restarts.** A DTS jump forward by more than
//!   `max_fragment` or backward by more than `fragment` (a publisher
//!   swapped without [`Segmenter::discontinuity`] being called, a long
//!   stall) is handled as a discontinuity, so one bad timestamp cannot
//!   produce an hour-long `#EXTINF` and a huge target duration.
//! * **Bad frames don't stop the stream.** A frame the muxer refuses is
//!   dropped and reported as [`SegmentEvent::FrameDropped`]; the segment
//!   goes on.

//!
//! # Low-latency HLS
//!
//! [`LowLatency`] is the LL-HLS side (RFC 8216bis): it takes the fMP4 init
//! segment and fragments of a live fMP4 muxer (parts of at most
//! `PART-TARGET`), groups the parts into segments at keyframes, numbers
//! segments (MSN) and parts, and renders the playlist with
//! `#EXT-X-PART`, `#EXT-X-PRELOAD-HINT`, `#EXT-X-SERVER-CONTROL`,
//! `#EXT-X-PROGRAM-DATE-TIME` and, for delta updates, `#EXT-X-SKIP`. It
//! answers whether a blocking playlist request ([`parse_query`]) can be
//! served now ([`LowLatency::blocking`]). A part shares its bytes with its
//! segment: a segment is its parts, concatenated once.
//!
//! The playlist is written here rather than with `m3u8-rs`: that crate
//! has none of the LL-HLS tags (rutgersc/m3u8-rs#89 is open), and a
//! sans-IO crate keeps its dependencies to small pure ones.

#![warn(missing_docs, unreachable_pub)]

mod low_latency;
pub mod master;
mod playlist;
mod query;
mod segmenter;

pub use low_latency::{Blocking, LlConfig, LlFile, LowLatency, PartIn, PartState};
pub use query::{parse_query, Directives};
pub use segmenter::Segmenter;

/// A request the LL-HLS rules refuse (answered `400 Bad Request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HlsError {
    /// A delivery directive's value is not what the spec allows.
    #[error("{name}={value:?} is not a valid value")]
    BadDirective {
        /// `_HLS_msn`, `_HLS_part` or `_HLS_skip`.
        name: &'static str,
        /// The value (at most 32 characters of it).
        value: String,
    },
    /// A directive appears more than once.
    #[error("{0} given more than once")]
    RepeatedDirective(&'static str),
    /// `_HLS_part` without `_HLS_msn`.
    #[error("_HLS_part without _HLS_msn")]
    PartWithoutMsn,
}

use std::time::Duration;

use bytes::Bytes;
use weir_mpegts::{TsConfig, TsError};

/// Segmenter settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsConfig {
    /// Shortest segment: a segment is cut at the first keyframe after this
    /// much media time. Actual lengths follow the GOP.
    pub fragment: Duration,
    /// Longest segment: cut even without a keyframe after this long, and a
    /// forward DTS jump longer than this is a discontinuity.
    pub max_fragment: Duration,
    /// Media time the playlist covers.
    pub window: Duration,
    /// Finished segments held in memory (and on disk, for an adapter that
    /// mirrors the events); at least the playlist's, the rest serve players
    /// that fetched an older playlist.
    pub max_segments_kept: usize,
    /// Prepended to segment file names in the playlist, e.g. `""` for
    /// URIs relative to the playlist or `"/hls/live/"`.
    pub uri_prefix: String,
    /// Settings of the MPEG-TS muxer.
    pub ts: TsConfig,
}

impl Default for HlsConfig {
    fn default() -> Self {
        HlsConfig {
            fragment: Duration::from_secs(2),
            max_fragment: Duration::from_secs(10),
            window: Duration::from_secs(10),
            max_segments_kept: 10,
            uri_prefix: String::new(),
            ts: TsConfig::default(),
        }
    }
}

/// A finished segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Media sequence number: continuous for the segmenter's life.
    pub seq: u64,
    /// Media duration, as written in `#EXTINF`.
    pub duration: Duration,
    /// DTS (µs) of the segment's first frame.
    pub first_dts_us: i64,
    /// The segment follows a publisher restart or timeline jump.
    pub discontinuity: bool,
    /// The MPEG-TS bytes: PAT, PMT, then PES packets.
    pub data: Bytes,
}

/// What a [`Segmenter`] call changed, for the adapter to mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentEvent {
    /// A segment was finished and is now in the playlist (write it out).
    Finished(Segment),
    /// The segment with this sequence number was dropped from memory
    /// (delete its file).
    Evicted(u64),
    /// A frame could not be muxed and was skipped; the stream goes on.
    /// Frequent for tracks MPEG-TS can't carry (Opus): count, don't log
    /// each one.
    FrameDropped {
        /// DTS (µs) of the frame.
        dts_us: i64,
        /// Why.
        error: TsError,
    },
}
