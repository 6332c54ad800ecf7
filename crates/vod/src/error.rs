//! The one error type of the crate.

/// Why a file could not be indexed, read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VodError {
    /// Reading the input failed (the caller's [`crate::ReadAt`]).
    #[error("read of {len} bytes at {offset} failed: {reason}")]
    Read {
        /// Where the read started.
        offset: u64,
        /// How much was asked for.
        len: usize,
        /// What the reader said.
        reason: String,
    },
    /// The input ends inside something that must be complete.
    #[error("truncated {what}")]
    Truncated {
        /// What was cut off (`"moov"`, `"box header"`, ...).
        what: &'static str,
    },
    /// A box or table holds values that cannot be right.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// The box or table.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A box is larger than this reader accepts (bounds memory).
    #[error("{what} of {len} bytes is larger than the {max} accepted")]
    TooLarge {
        /// The box.
        what: &'static str,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// No `moov` box: not an MP4, or one whose `moov` was never written
    /// (a plain MP4 cut off while recording).
    #[error("no moov box")]
    NoMoov,
    /// The file has no track this crate can read.
    #[error("no playable track")]
    NoTracks,
    /// A sample's bytes lie outside the data given.
    #[error("sample at {offset} ({size} bytes) is outside the data given")]
    SampleOutside {
        /// The sample's file offset.
        offset: u64,
        /// Its size.
        size: u32,
    },
    /// Files to be joined do not carry the same tracks and codec configs.
    #[error("files cannot be joined: {0}")]
    Incompatible(String),
    /// The time range asked for holds no sample.
    #[error("no sample in the range asked for")]
    EmptyRange,
    /// A box could not be encoded (a value out of its field's range).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// The box.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl VodError {
    pub(crate) fn corrupt(what: &'static str, reason: impl Into<String>) -> Self {
        VodError::Corrupt {
            what,
            reason: reason.into(),
        }
    }

    /// A decoding error of `mp4-atom` in box `what`.
    pub(crate) fn atom(what: &'static str) -> impl FnOnce(mp4_atom::Error) -> Self {
        move |e| VodError::corrupt(what, e.to_string())
    }

    pub(crate) fn encode(what: &'static str) -> impl FnOnce(mp4_atom::Error) -> Self {
        move |e| VodError::Encode {
            what,
            reason: e.to_string(),
        }
    }
}
