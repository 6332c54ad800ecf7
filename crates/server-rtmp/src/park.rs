//! What a parked RTMP player writes (see `weir_netio::sink`): the shared
//! chunk bytes of the tracks it receives; publish/unpublish notifications
//! go back to its task, which needs the session for them.

use weir_media::TrackKind;
use weir_netio::{Pick, Picker, SocketSink};

use crate::muxer::Muxed;

/// A parked player's sink.
pub(crate) type PlayerSink = SocketSink<Tracks>;

/// The player's receiveAudio / receiveVideo choice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracks {
    pub(crate) audio: bool,
    pub(crate) video: bool,
}

impl Tracks {
    /// Whether the player writes a message of track `kind`.
    pub(crate) fn wants(&self, kind: TrackKind) -> bool {
        match kind {
            TrackKind::Audio => self.audio,
            TrackKind::Video => self.video,
            TrackKind::Data => true,
        }
    }
}

impl Picker<Muxed> for Tracks {
    fn pick<'a>(&self, entry: &'a Muxed) -> Pick<'a> {
        match entry {
            Muxed::Media { kind, bytes, .. } if self.wants(*kind) => Pick::Write(bytes),
            Muxed::Media { .. } => Pick::Skip,
            // Status notifications go through the session.
            Muxed::Published | Muxed::Unpublished => Pick::Task,
            // Players carry on across an encoder takeover.
            Muxed::Replaced => Pick::Skip,
        }
    }
}
