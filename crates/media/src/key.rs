//! Stream keys: the `{app}/{stream}` pair every protocol addresses a stream by.

use std::fmt;

/// Longest app or stream name accepted, in bytes. Names end up in URLs,
/// file names and metric labels, so they are kept short.
pub const MAX_NAME_LEN: usize = 128;

/// Why a name was refused as an app or stream name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamKeyError {
    /// The name was empty.
    #[error("empty {0} name")]
    Empty(&'static str),
    /// The name was longer than [`MAX_NAME_LEN`].
    #[error("{0} name longer than {MAX_NAME_LEN} bytes")]
    TooLong(&'static str),
    /// The name had a character outside `[A-Za-z0-9._~-]` or was `.`/`..`.
    #[error("{0} name {1:?} has characters outside [A-Za-z0-9._~-]")]
    BadChar(&'static str, String),
}

/// Identifies a live stream: `app` and `stream`, as in
/// `rtmp://host/{app}/{stream}` or `http://host/{app}/{stream}.flv`.
///
/// Both parts are restricted to URL- and filesystem-safe characters, so a
/// key can be used in a path under the data directory without escaping and
/// without any chance of traversal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    app: String,
    stream: String,
}

impl StreamKey {
    /// Validates and builds a key.
    pub fn new(app: &str, stream: &str) -> Result<Self, StreamKeyError> {
        check("app", app)?;
        check("stream", stream)?;
        Ok(StreamKey {
            app: app.to_owned(),
            stream: stream.to_owned(),
        })
    }

    /// Parses `"app/stream"`.
    pub fn parse(path: &str) -> Result<Self, StreamKeyError> {
        match path.split_once('/') {
            Some((app, stream)) => Self::new(app, stream),
            None => Err(StreamKeyError::Empty("stream")),
        }
    }

    /// The application name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The stream name.
    pub fn stream(&self) -> &str {
        &self.stream
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.stream)
    }
}

fn check(what: &'static str, name: &str) -> Result<(), StreamKeyError> {
    if name.is_empty() {
        return Err(StreamKeyError::Empty(what));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StreamKeyError::TooLong(what));
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
    if !ok_chars || name == "." || name == ".." {
        return Err(StreamKeyError::BadChar(what, name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_names() {
        let k = StreamKey::new("live", "test-1_a.b").unwrap();
        assert_eq!(k.to_string(), "live/test-1_a.b");
        assert_eq!(
            StreamKey::parse("live/x").unwrap(),
            StreamKey::new("live", "x").unwrap()
        );
    }

    #[test]
    fn refuses_traversal_and_odd_names() {
        for bad in ["", ".", "..", "a/b", "a b", "é", "a%2f"] {
            assert!(StreamKey::new("live", bad).is_err(), "{bad:?}");
        }
        assert!(StreamKey::new("live", &"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }
}
