//! The crate's error type.

/// Why the transcoder could not start.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// A `[[transcode]]` entry is not usable.
    #[error("[[transcode]]: {0}")]
    Config(String),
    /// The configured ffmpeg does not run.
    #[error(
        "[[transcode]] needs ffmpeg, but `{program} -version` failed ({reason}): \
         install it (apt install ffmpeg) or set the entry's `ffmpeg` to its path"
    )]
    NoFfmpeg {
        /// The program tried.
        program: String,
        /// What running it said.
        reason: String,
    },
}
