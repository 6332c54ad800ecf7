//! What a stream carries: frames plus publisher boundaries.

use weir_media::{Frame, TrackKind};

use crate::channel::{Class, Entry};

/// Header slot of video codec configuration.
pub const SLOT_VIDEO_CONFIG: u8 = 0;
/// Header slot of audio codec configuration.
pub const SLOT_AUDIO_CONFIG: u8 = 1;
/// Header slot of script data (`onMetaData`).
pub const SLOT_DATA: u8 = 2;

/// One entry of a stream's channel, as every subscriber sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// A frame, with timestamps already made monotonic per track by the hub.
    Frame(Frame),
    /// A publisher started. A subscriber that was waiting for the stream
    /// sees this first; one that joins a live stream does not get it.
    Published,
    /// The publisher left or was kicked: the stream is off air. Headers
    /// seen so far are stale: the next publisher sends its own.
    Unpublished,
    /// A new publisher took the stream over (an encoder reconnected). The
    /// stream stays live and timestamps continue, but headers and the GOP
    /// are stale like after `Unpublished`. Players should carry on, not
    /// announce an end of stream.
    Replaced,
}

impl Entry for StreamEvent {
    /// Header frames are sticky (slot by track kind), video keyframes start
    /// a GOP, `Unpublished` resets. Taken alone an audio frame is a
    /// [`Class::Delta`]; the hub itself pushes audio as [`Class::Key`] while
    /// the stream has no video, so audio-only streams join anywhere, because
    /// only the hub knows which tracks a stream has.
    fn class(&self) -> Class {
        match self {
            StreamEvent::Frame(f) if f.is_header() => Class::Header(match f.kind {
                TrackKind::Video => SLOT_VIDEO_CONFIG,
                TrackKind::Audio => SLOT_AUDIO_CONFIG,
                TrackKind::Data => SLOT_DATA,
            }),
            StreamEvent::Frame(f) if f.kind == TrackKind::Video && f.key => Class::Key,
            StreamEvent::Frame(_) | StreamEvent::Published => Class::Delta,
            StreamEvent::Unpublished | StreamEvent::Replaced => Class::Reset,
        }
    }

    fn byte_len(&self) -> usize {
        match self {
            StreamEvent::Frame(f) => f.data.len(),
            StreamEvent::Published | StreamEvent::Unpublished | StreamEvent::Replaced => 0,
        }
    }

    /// A header frame takes the decode time of the first frame after it.
    fn restamped_to(&self, first: &Self) -> Option<Self> {
        match (self, first) {
            (StreamEvent::Frame(h), StreamEvent::Frame(f)) if h.dts_us != f.dts_us => {
                Some(StreamEvent::Frame(Frame {
                    dts_us: f.dts_us,
                    cts_us: 0,
                    ..h.clone()
                }))
            }
            _ => None,
        }
    }
}

/// Classifies a stream's events in order, knowing what a single event
/// cannot: whether the stream has video. Audio frames start a GOP
/// ([`Class::Key`]) only while no video has been seen, so audio-only
/// streams join anywhere while audio+video streams join at a keyframe.
///
/// The hub classifies what publishers send with it, and every egress muxer
/// task classifies what it re-pushes with it, so both agree.
#[derive(Debug, Default, Clone)]
pub struct Classifier {
    has_video: bool,
}

impl Classifier {
    /// A classifier for a stream that has shown no video yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The class of the next event of the stream.
    pub fn classify(&mut self, ev: &StreamEvent) -> Class {
        match ev {
            StreamEvent::Frame(f) => {
                if f.kind == TrackKind::Video {
                    self.has_video = true;
                }
                if f.kind == TrackKind::Audio && !f.is_header() && !self.has_video {
                    return Class::Key;
                }
            }
            // A new publisher may bring other tracks.
            StreamEvent::Unpublished | StreamEvent::Replaced => self.has_video = false,
            StreamEvent::Published => {}
        }
        ev.class()
    }
}
