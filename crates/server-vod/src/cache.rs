//! Indexes of the files played as HLS, kept by (path, mtime, size): a file
//! that changes (a recording still growing) is indexed again, and at most
//! `capacity` indexes are kept.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use weir_vod::{Index, ReadAt, VodError};

use crate::VodHttpError;

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) mtime: Option<SystemTime>,
    pub(crate) len: u64,
}

impl Stamp {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            mtime: meta.modified().ok(),
            len: meta.len(),
        }
    }
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<PathBuf, (Stamp, Arc<Index>, u64)>,
    /// Use counter: the least recently used entry is evicted.
    tick: u64,
}

/// The bounded index cache.
#[derive(Debug, Clone)]
pub(crate) struct IndexCache {
    entries: Arc<Mutex<Entries>>,
    capacity: usize,
}

impl IndexCache {
    pub(crate) fn new(capacity: usize) -> Self {
        IndexCache {
            entries: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    /// The index of the file at `path` (canonical), from the cache when the
    /// file has not changed, else read now (off the async threads).
    pub(crate) async fn get(&self, path: &Path) -> Result<Arc<Index>, VodHttpError> {
        let path = path.to_path_buf();
        let (stamp, index) = tokio::task::spawn_blocking({
            let cache = self.clone();
            move || cache.get_blocking(&path)
        })
        .await
        .map_err(|e| VodHttpError::Internal(e.to_string()))??;
        let _ = stamp;
        Ok(index)
    }

    fn get_blocking(&self, path: &Path) -> Result<(Stamp, Arc<Index>), VodHttpError> {
        let file = File::open(path).map_err(|_| VodHttpError::NotFound)?;
        let stamp = Stamp::of(&file.metadata().map_err(|_| VodHttpError::NotFound)?);
        if let Ok(mut e) = self.entries.lock() {
            e.tick += 1;
            let tick = e.tick;
            if let Some((s, index, used)) = e.map.get_mut(path) {
                if *s == stamp {
                    *used = tick;
                    return Ok((stamp, index.clone()));
                }
            }
        }
        let mut reader = FileReader {
            file: &file,
            len: stamp.len,
        };
        let index = Arc::new(Index::read(&mut reader).map_err(VodHttpError::Media)?);
        if let Ok(mut e) = self.entries.lock() {
            if e.map.len() >= self.capacity && !e.map.contains_key(path) {
                let oldest = e
                    .map
                    .iter()
                    .min_by_key(|(_, (_, _, used))| *used)
                    .map(|(p, _)| p.clone());
                if let Some(p) = oldest {
                    e.map.remove(&p);
                }
            }
            let tick = e.tick;
            e.map
                .insert(path.to_path_buf(), (stamp.clone(), index.clone(), tick));
        }
        Ok((stamp, index))
    }
}

/// Positional reads of an open file, for the sans-IO indexer.
struct FileReader<'a> {
    file: &'a File,
    len: u64,
}

impl ReadAt for FileReader<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, VodError> {
        let mut buf = vec![0; len];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| VodError::Read {
                offset,
                len,
                reason: e.to_string(),
            })?;
        Ok(buf)
    }
}

/// Reads `len` bytes at `offset` of the file at `path`, off the async
/// threads.
pub(crate) async fn read_span(
    path: &Path,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, VodHttpError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = File::open(&path).map_err(|_| VodHttpError::NotFound)?;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| VodHttpError::Internal(format!("reading {}: {e}", path.display())))?;
        Ok(buf)
    })
    .await
    .map_err(|e| VodHttpError::Internal(e.to_string()))?
}
