//! Request paths to files inside a VOD root, and nothing else.
//!
//! The path is checked twice: as text (no `..`, no empty or dot
//! components, no backslash or NUL, bounded lengths: 400), then as a file
//! (canonicalized, symlinks resolved, and required to lie under the
//! canonical root and be a regular file: 404). The second check is what
//! keeps a symlink inside the root from leading out of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_media::StreamKey;

/// Longest request path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest path component accepted, in bytes (the usual file name limit).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// The stream a file (its path below the mount) belongs to, whose play
/// rules decide who may fetch it; `None`: not served (404).
pub type KeyOf = Arc<dyn Fn(&str) -> Option<StreamKey> + Send + Sync>;

/// A directory served under `/vod/{prefix}/...`.
#[derive(Clone)]
pub struct Mount {
    /// First path component that selects this root; empty for the
    /// default root (everything no other mount claims).
    pub prefix: String,
    /// The directory.
    pub root: PathBuf,
    /// Whose file each one is, for the hub's access check.
    pub key_of: KeyOf,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("prefix", &self.prefix)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Malformed or unsafe as text: 400.
    Bad(&'static str),
    /// No such file under the root (or outside it): 404.
    NotFound,
}

/// Checks `path` (percent-decoded, without the `/vod/` prefix) as text.
pub(crate) fn check(path: &str) -> Result<(), Refused> {
    if path.len() > MAX_PATH_BYTES {
        return Err(Refused::Bad("path too long"));
    }
    if path.contains('\0') {
        return Err(Refused::Bad("NUL in path"));
    }
    if path.contains('\\') {
        return Err(Refused::Bad("backslash in path"));
    }
    if path.starts_with('/') {
        return Err(Refused::Bad("absolute path"));
    }
    for c in path.split('/') {
        match c {
            "" => return Err(Refused::Bad("empty path component")),
            "." | ".." => return Err(Refused::Bad("dot path component")),
            c if c.len() > MAX_COMPONENT_BYTES => {
                return Err(Refused::Bad("path component too long"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The mount a checked `path` falls under, and the path relative to it.
pub(crate) fn split<'a, 'p>(mounts: &'a [Mount], path: &'p str) -> Option<(&'a Mount, &'p str)> {
    let (first, rest) = path.split_once('/').unwrap_or((path, ""));
    mounts
        .iter()
        .find(|m| !m.prefix.is_empty() && m.prefix == first && !rest.is_empty())
        .map(|m| (m, rest))
        .or_else(|| {
            mounts
                .iter()
                .find(|m| m.prefix.is_empty())
                .map(|m| (m, path))
        })
}

/// The canonical path of the regular file `rel` under `root`, or
/// [`Refused::NotFound`] if there is none there (missing, a directory, or
/// resolving outside the root).
pub(crate) fn resolve(root: &Path, rel: &str) -> Result<PathBuf, Refused> {
    let root = root.canonicalize().map_err(|_| Refused::NotFound)?;
    let file = root
        .join(rel)
        .canonicalize()
        .map_err(|_| Refused::NotFound)?;
    if !file.starts_with(&root) {
        return Err(Refused::NotFound);
    }
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(file),
        _ => Err(Refused::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unsafe_text() {
        for bad in [
            "../etc/passwd",
            "a/../../etc/passwd",
            "....//x",
            "/etc/passwd",
            "a\\..\\b",
            "a\0b",
            "a//b",
            "./a",
            "a/.",
            "",
        ] {
            assert!(matches!(check(bad), Err(Refused::Bad(_))), "{bad:?}");
        }
        assert!(check(&"a".repeat(256)).is_err());
        assert!(check(&["a"; 600].join("/")).is_err());
        for good in ["x.mp4", "a/b/c.mp4", "....", "a..b.mp4", "é.mp4"] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn picks_the_mount() {
        let key_of: KeyOf = Arc::new(|_| None);
        let mounts = vec![
            Mount {
                prefix: String::new(),
                root: "/v".into(),
                key_of: key_of.clone(),
            },
            Mount {
                prefix: "recordings".into(),
                root: "/r".into(),
                key_of,
            },
        ];
        let (m, rest) = split(&mounts, "recordings/live/a.mp4").unwrap();
        assert_eq!((m.root.as_path(), rest), (Path::new("/r"), "live/a.mp4"));
        let (m, rest) = split(&mounts, "x.mp4").unwrap();
        assert_eq!((m.root.as_path(), rest), (Path::new("/v"), "x.mp4"));
        let (m, _) = split(&mounts, "recordings").unwrap();
        assert_eq!(m.root, Path::new("/v"));
    }
}
