//! What can go wrong while recording.

use std::path::PathBuf;

/// A recorder's error, with what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A setting is unusable.
    #[error("record config: {0}")]
    Config(String),
    /// A file or directory could not be written (disk full, permissions).
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The stream could not be muxed into the file format.
    #[error("muxing {0}")]
    Mux(String),
}

impl RecordError {
    /// An [`RecordError::Io`] for `path`.
    pub(crate) fn io<'a>(
        what: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| RecordError::Io {
            what,
            path: path.to_owned(),
            source,
        }
    }
}
