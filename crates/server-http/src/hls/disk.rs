//! The optional on-disk mirror of a session: `{dir}/{app}/{stream}/` holds
//! the playlist and the segments still in memory, for a CDN origin or a
//! plain web server. Files are written under a temporary name and renamed,
//! so a reader never sees half a segment or half a playlist.
//!
//! Paths are built only from a validated [`StreamKey`] (no `/`, never `.`
//! or `..`) and names the session made itself, so nothing a client sends
//! can point outside the directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tracing::warn;
use weir_media::StreamKey;

/// A session's directory and the segment files it wrote.
pub(super) struct Disk {
    dir: PathBuf,
    playlist: PathBuf,
    /// Segment sequence numbers on disk, to delete them all at the end.
    written: BTreeSet<u64>,
    /// Segment names are `{prefix}{seq}.ts`.
    prefix: String,
    /// Write errors so far: only the first is logged.
    errors: u64,
}

impl Disk {
    /// The mirror of `key`'s session, whose segments are `{prefix}{seq}.ts`.
    pub(super) fn new(root: &Path, key: &StreamKey, prefix: &str) -> Self {
        let dir = root.join(key.app()).join(key.stream());
        Disk {
            playlist: dir.join(format!("{}.m3u8", key.stream())),
            dir,
            written: BTreeSet::new(),
            prefix: prefix.to_owned(),
            errors: 0,
        }
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{}{seq}.ts", self.prefix))
    }

    /// Writes a finished segment.
    pub(super) async fn write_segment(&mut self, seq: u64, data: &Bytes) {
        let res = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            replace(&self.segment_path(seq), data).await
        }
        .await;
        match res {
            Ok(()) => {
                self.written.insert(seq);
            }
            Err(e) => self.failed("write segment", &e),
        }
    }

    /// Deletes a segment that left memory.
    pub(super) async fn remove_segment(&mut self, seq: u64) {
        if self.written.remove(&seq) {
            let _ = tokio::fs::remove_file(self.segment_path(seq)).await;
        }
    }

    /// Replaces the playlist.
    pub(super) async fn write_playlist(&mut self, text: &Bytes) {
        let res = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            replace(&self.playlist, text).await
        }
        .await;
        if let Err(e) = res {
            self.failed("write playlist", &e);
        }
    }

    /// The session ended: its files go (a playlist left behind would
    /// advertise a live stream that is not being updated).
    pub(super) async fn remove_all(self) {
        let _ = tokio::fs::remove_file(&self.playlist).await;
        for &seq in &self.written {
            let _ = tokio::fs::remove_file(self.segment_path(seq)).await;
        }
        // Only succeeds when empty: files someone else put there stay.
        let _ = tokio::fs::remove_dir(&self.dir).await;
    }

    fn failed(&mut self, what: &str, e: &std::io::Error) {
        if self.errors == 0 {
            warn!(dir = %self.dir.display(), error = %e, "hls: cannot {what}");
        }
        self.errors += 1;
    }
}

/// Writes `path` atomically: a temporary file beside it, then a rename.
async fn replace(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    tokio::fs::write(&tmp, data).await?;
    tokio::fs::rename(&tmp, path).await
}
