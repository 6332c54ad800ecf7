//! What has been recorded: one entry per file, kept in memory and in a
//! JSON sidecar next to each file (`X.mp4.json`), so that a restarted
//! server lists what an earlier one recorded, a crashed recording
//! included (with the duration its sidecar last heard, at most
//! [`crate::recorder::SIDECAR_EVERY`] short).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use weir_media::StreamKey;

use crate::config::Format;
use crate::error::RecordError;

/// One recording file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recording {
    /// The file's path below the recordings directory, `/`-separated:
    /// the recording's id in the API and its URL under `/vod/recordings/`.
    pub id: String,
    /// The stream's app.
    pub app: String,
    /// The stream's name.
    pub stream: String,
    /// When its first frame was written (wall clock, UTC).
    pub start: DateTime<Utc>,
    /// Media time it covers, seconds.
    pub duration_secs: f64,
    /// Its size on disk.
    pub bytes: u64,
    /// `mp4` or `flv`.
    pub format: &'static str,
    /// Still being written.
    pub recording: bool,
    /// The file was closed cleanly (false after a crash or a write error:
    /// playable up to its last fragment).
    pub complete: bool,
}

/// The sidecar's contents.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    app: String,
    stream: String,
    start: DateTime<Utc>,
    duration_secs: f64,
    bytes: u64,
    format: String,
    complete: bool,
}

/// Which recordings a listing wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this app.
    pub app: Option<String>,
    /// Only this stream name.
    pub stream: Option<String>,
    /// Only recordings that end at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only recordings that start before this time.
    pub to: Option<DateTime<Utc>>,
}

impl Filter {
    fn keeps(&self, r: &Recording) -> bool {
        self.app.as_ref().is_none_or(|a| *a == r.app)
            && self.stream.as_ref().is_none_or(|s| *s == r.stream)
            && self.from.is_none_or(|from| r.end() >= from)
            && self.to.is_none_or(|to| r.start < to)
    }
}

impl Recording {
    /// Start plus duration.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::milliseconds((self.duration_secs * 1000.0) as i64)
    }

    /// The stream it is of.
    pub fn key(&self) -> Option<StreamKey> {
        StreamKey::new(&self.app, &self.stream).ok()
    }
}

/// Every recording under one directory.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    entries: Mutex<BTreeMap<String, Recording>>,
}

/// The sidecar's path of a recording file.
fn sidecar_of(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

impl Catalog {
    /// Reads every sidecar under `dir` (made if missing). A recording whose
    /// sidecar says it was still being written was cut off by a crash: it
    /// is listed as incomplete, with the size its file has now.
    pub fn open(dir: &Path) -> Result<Self, RecordError> {
        std::fs::create_dir_all(dir).map_err(RecordError::io("creating", dir))?;
        let catalog = Catalog {
            dir: dir.to_owned(),
            entries: Mutex::new(BTreeMap::new()),
        };
        let mut found = Vec::new();
        walk(dir, 0, &mut found);
        let mut entries = catalog.entries.lock();
        for sidecar in found {
            let Some(rec) = catalog.load(&sidecar) else {
                continue;
            };
            entries.insert(rec.id.clone(), rec);
        }
        drop(entries);
        Ok(catalog)
    }

    fn load(&self, sidecar: &Path) -> Option<Recording> {
        let file = sidecar.with_extension("");
        let meta = std::fs::metadata(&file).ok()?;
        let text = std::fs::read(sidecar).ok()?;
        let side: Sidecar = serde_json::from_slice(&text)
            .map_err(|e| tracing::warn!(path = %sidecar.display(), error = %e, "unreadable recording sidecar"))
            .ok()?;
        let id = file
            .strip_prefix(&self.dir)
            .ok()?
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<Vec<_>>>()?
            .join("/");
        let format = match side.format.as_str() {
            "flv" => Format::Flv.extension(),
            _ => Format::Fmp4.extension(),
        };
        Some(Recording {
            id,
            app: side.app,
            stream: side.stream,
            start: side.start,
            duration_secs: side.duration_secs,
            bytes: meta.len(),
            format,
            recording: false,
            complete: side.complete,
        })
    }

    /// The directory recordings live under.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of recording `id`.
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Adds or updates `rec` in memory and in its sidecar (written to a
    /// temporary name and renamed, so a crash leaves the old or the new
    /// one, never half of one).
    pub(crate) fn put(&self, rec: &Recording) -> Result<(), RecordError> {
        let file = self.path_of(&rec.id);
        let sidecar = sidecar_of(&file);
        let body = serde_json::to_vec_pretty(&Sidecar {
            app: rec.app.clone(),
            stream: rec.stream.clone(),
            start: rec.start,
            duration_secs: rec.duration_secs,
            bytes: rec.bytes,
            format: rec.format.to_owned(),
            complete: rec.complete,
        })
        .map_err(|e| RecordError::Mux(e.to_string()))?;
        let tmp = sidecar.with_extension("json.tmp");
        std::fs::write(&tmp, body).map_err(RecordError::io("writing", &tmp))?;
        std::fs::rename(&tmp, &sidecar).map_err(RecordError::io("renaming", &sidecar))?;
        self.entries.lock().insert(rec.id.clone(), rec.clone());
        Ok(())
    }

    /// Recordings `filter` keeps, oldest first.
    pub fn list(&self, filter: &Filter) -> Vec<Recording> {
        let mut out: Vec<Recording> = self
            .entries
            .lock()
            .values()
            .filter(|r| filter.keeps(r))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// One recording.
    pub fn get(&self, id: &str) -> Option<Recording> {
        self.entries.lock().get(id).cloned()
    }

    /// Deletes a finished recording's file and sidecar (and the
    /// directories that leaves empty). `Ok(false)` if there is no such
    /// recording; an active one is not deleted ([`RecordError::Config`]).
    pub(crate) fn delete(&self, id: &str) -> Result<bool, RecordError> {
        let Some(rec) = self.get(id) else {
            return Ok(false);
        };
        if rec.recording {
            return Err(RecordError::Config(format!("{id} is still being recorded")));
        }
        let file = self.path_of(id);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RecordError::io("deleting", &file)(e)),
        }
        let _ = std::fs::remove_file(sidecar_of(&file));
        self.entries.lock().remove(id);
        // Empty app/stream directories go too; `remove_dir` refuses
        // non-empty ones, which is the check.
        let mut dir = file.parent();
        while let Some(d) = dir {
            if d == self.dir || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(true)
    }
}

/// Collects sidecars below `dir`, at most a few levels deep (templates
/// make `app/stream/file`; deeper trees are someone else's files).
fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    const MAX_DEPTH: usize = 8;
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, out);
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, start: i64, secs: f64) -> Recording {
        Recording {
            id: id.into(),
            app: "live".into(),
            stream: "a".into(),
            start: DateTime::from_timestamp(start, 0).unwrap(),
            duration_secs: secs,
            bytes: 10,
            format: "mp4",
            recording: false,
            complete: true,
        }
    }

    #[test]
    fn sidecars_survive_a_restart_and_filters_apply() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(dir.path()).unwrap();
        for (id, start) in [("live/a/1.mp4", 100), ("live/a/2.mp4", 200)] {
            let path = cat.path_of(id);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"0123456789abc").unwrap();
            cat.put(&rec(id, start, 50.0)).unwrap();
        }
        let again = Catalog::open(dir.path()).unwrap();
        let all = again.list(&Filter::default());
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, "live/a/1.mp4");
        assert_eq!(all[0].bytes, 13, "size from the file itself");
        let late = Filter {
            from: DateTime::from_timestamp(160, 0),
            ..Filter::default()
        };
        assert_eq!(again.list(&late).len(), 1);
        let other = Filter {
            app: Some("x".into()),
            ..Filter::default()
        };
        assert!(again.list(&other).is_empty());
        assert!(again.delete("live/a/1.mp4").unwrap());
        assert!(again.delete("live/a/2.mp4").unwrap());
        assert!(!dir.path().join("live").exists(), "empty dirs removed");
        assert!(!again.delete("live/a/2.mp4").unwrap());
    }
}
