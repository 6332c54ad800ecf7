//! The recorder (DVR): every recorded stream gets one hub subscriber that
//! writes its frames into files, whatever protocol brought the stream in.
//!
//! * **Crash-safe files.** The default format is fragmented MP4: the
//!   live muxer's init segment, then a `moof`+`mdat` pair at every
//!   keyframe and at least every `fragment_ms` (1 s), appended as they are
//!   made. A `kill -9` or a power cut leaves a file that plays up to its
//!   last whole fragment; nothing needs rewriting at the end, so a clean
//!   stop only syncs it. FLV recordings are tags appended as they come,
//!   with an `onMetaData` whose `duration` and `filesize` are patched in
//!   place at a clean end.
//! * **What exists is on disk.** Each file has a JSON sidecar
//!   (`X.mp4.json`: stream, start, duration, size, complete) rewritten
//!   every [`SIDECAR_EVERY`](recorder::SIDECAR_EVERY), so a restarted
//!   server lists every recording ([`Catalog`]), a crashed one included.
//! * **Never in the way.** A recorder is a hub subscriber like any viewer:
//!   when the disk is slow it skips to a keyframe (a gap in the file),
//!   never slows the stream; when a write fails the recording stops with
//!   an error in the log and in [`RecordStats::errors`], the stream goes
//!   on.
//!
//! The app decides what an ended file means to the outside world
//! ([`RecordDone`]): an `on_record_done` callback.

#![warn(missing_docs, unreachable_pub)]

mod catalog;
mod config;
mod error;
mod file;
mod recorder;
mod retention;
mod template;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_hub::Hub;
use weir_media::StreamKey;

pub use catalog::{Catalog, Filter, Recording};
pub use config::{Format, RecordConfig, Retention, DEFAULT_PATH};
pub use error::RecordError;

/// A file that ended cleanly, for the `on_record_done` callback.
#[derive(Debug, Clone)]
pub struct RecordDone {
    /// The catalog entry (id, stream, start, duration, size).
    pub recording: Recording,
    /// The file on disk.
    pub path: PathBuf,
}

/// What the app does with a [`RecordDone`].
pub type OnDone = Arc<dyn Fn(&RecordDone) + Send + Sync>;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct RecordStats {
    /// Files opened.
    pub files: AtomicU64,
    /// Bytes written to recordings.
    pub bytes: AtomicU64,
    /// Recordings stopped by an error (disk full, unwritable path).
    pub errors: AtomicU64,
    /// Recordings deleted by retention.
    pub expired: AtomicU64,
}

/// What every recorder task shares.
pub(crate) struct Shared {
    pub(crate) catalog: Catalog,
    pub(crate) stats: RecordStats,
    on_done: Option<OnDone>,
}

impl Shared {
    /// A new file's id and path: the template, made unique with `-1`,
    /// `-2`... when a file of that name exists (two publishes in one
    /// second).
    pub(crate) fn new_file(
        &self,
        cfg: &RecordConfig,
        key: &StreamKey,
        start: DateTime<Utc>,
    ) -> Result<(String, PathBuf), RecordError> {
        let stem =
            template::expand(template::stem(&cfg.path), key, start).map_err(RecordError::Config)?;
        let ext = cfg.format.extension();
        for n in 0..1000 {
            let id = match n {
                0 => format!("{stem}.{ext}"),
                n => format!("{stem}-{n}.{ext}"),
            };
            let path = self.catalog.path_of(&id);
            if !path.exists() {
                return Ok((id, path));
            }
        }
        Err(RecordError::Config(format!("no free file name for {stem}")))
    }

    pub(crate) fn done(&self, done: RecordDone) {
        if let Some(on_done) = &self.on_done {
            on_done(&done);
        }
    }
}

/// Why the API could not start or stop a recording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Nobody publishes the stream.
    #[error("stream {0} is not live")]
    NotLive(StreamKey),
}

struct Active {
    /// Tells this recorder from a later one of the same stream.
    id: u64,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The recorders of one server: starts one per chosen stream as it is
/// published, and answers the API.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    cfg: Arc<RecordConfig>,
    shared: Arc<Shared>,
    active: Mutex<HashMap<StreamKey, Active>>,
    next_id: AtomicU64,
    shutdown: CancellationToken,
}

impl Recorder {
    /// Opens the catalog under `dir` and, when `[record] enabled`, starts
    /// recording the chosen streams as they are published (those live now
    /// included). Retention runs every minute while `shutdown` has not
    /// fired.
    pub fn start(
        hub: Hub,
        cfg: RecordConfig,
        dir: &Path,
        on_done: Option<OnDone>,
        shutdown: CancellationToken,
    ) -> Result<Self, RecordError> {
        cfg.validate()?;
        let catalog = Catalog::open(dir)?;
        let recorder = Recorder {
            inner: Arc::new(Inner {
                hub: hub.clone(),
                cfg: Arc::new(cfg),
                shared: Arc::new(Shared {
                    catalog,
                    stats: RecordStats::default(),
                    on_done,
                }),
                active: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                shutdown,
            }),
        };
        let mut published = hub.watch_publish();
        let watcher = recorder.clone();
        tokio::spawn(async move {
            watcher.start_chosen_live();
            loop {
                tokio::select! {
                    _ = watcher.inner.shutdown.cancelled() => break,
                    key = published.recv() => match key {
                        Ok(key) => {
                            if watcher.inner.cfg.chooses(&key) {
                                watcher.record(key);
                            }
                        }
                        // Publishes were missed: look at what is live.
                        Err(RecvError::Lagged(_)) => watcher.start_chosen_live(),
                        Err(RecvError::Closed) => break,
                    },
                }
            }
        });
        if !recorder.inner.cfg.retention.is_off() {
            tokio::spawn(retention::run(
                recorder.inner.shared.clone(),
                recorder.inner.cfg.retention.clone(),
                recorder.inner.shutdown.clone(),
            ));
        }
        Ok(recorder)
    }

    fn start_chosen_live(&self) {
        for info in self.inner.hub.streams() {
            if info.live && self.inner.cfg.chooses(&info.key) {
                self.record(info.key);
            }
        }
    }

    /// Starts a recorder for `key`. One that runs already is stopped
    /// first (a publish while it runs is a takeover: the new publisher may
    /// send other codecs, so it gets a file of its own), and the new one
    /// waits for it to close its file, so two never write one stream.
    fn record(&self, key: StreamKey) {
        let mut active = self.inner.active.lock();
        let previous = active.remove(&key).map(|a| {
            a.stop.cancel();
            a.task
        });
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let stop = self.inner.shutdown.child_token();
        let inner = self.inner.clone();
        let (run_key, run_stop) = (key.clone(), stop.clone());
        let task = tokio::spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            let (hub, cfg, shared) = (inner.hub.clone(), inner.cfg.clone(), inner.shared.clone());
            recorder::run(hub, run_key.clone(), cfg, shared, run_stop).await;
            let mut active = inner.active.lock();
            // A newer recorder of the stream keeps its entry.
            if active.get(&run_key).is_some_and(|a| a.id == id) {
                active.remove(&run_key);
            }
        });
        active.insert(key, Active { id, stop, task });
    }

    /// `POST .../record {"action":"start"}`: records `key`'s current
    /// publish until it ends. `Ok(false)` if it is already recorded.
    pub fn start_stream(&self, key: &StreamKey) -> Result<bool, ControlError> {
        if !self.inner.hub.is_live(key) {
            return Err(ControlError::NotLive(key.clone()));
        }
        if self.is_recording(key) {
            return Ok(false);
        }
        self.record(key.clone());
        Ok(true)
    }

    /// `{"action":"stop"}`: ends `key`'s recording (its file is finalized).
    /// False if none runs. A stream `[record]` chooses is recorded again
    /// at its next publish.
    pub fn stop_stream(&self, key: &StreamKey) -> bool {
        let active = self.inner.active.lock();
        match active.get(key) {
            Some(a) if !a.task.is_finished() && !a.stop.is_cancelled() => {
                a.stop.cancel();
                true
            }
            _ => false,
        }
    }

    /// A recorder runs for `key`.
    pub fn is_recording(&self, key: &StreamKey) -> bool {
        self.inner
            .active
            .lock()
            .get(key)
            .is_some_and(|a| !a.task.is_finished() && !a.stop.is_cancelled())
    }

    /// Recordings `filter` keeps, oldest first.
    pub fn list(&self, filter: &Filter) -> Vec<Recording> {
        self.inner.shared.catalog.list(filter)
    }

    /// One recording by id.
    pub fn get(&self, id: &str) -> Option<Recording> {
        self.inner.shared.catalog.get(id)
    }

    /// The file of a recording id (whether or not it exists).
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.inner.shared.catalog.path_of(id)
    }

    /// Deletes a finished recording: `Ok(false)` if there is none, an
    /// error if it is still being written or the file cannot be removed.
    pub fn delete(&self, id: &str) -> Result<bool, RecordError> {
        self.inner.shared.catalog.delete(id)
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> &RecordStats {
        &self.inner.shared.stats
    }

    /// Recorders running now.
    pub fn active(&self) -> usize {
        self.inner
            .active
            .lock()
            .values()
            .filter(|a| !a.task.is_finished())
            .count()
    }

    /// Waits for every recorder to finalize its file (after shutdown).
    pub async fn wait(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut active = self.inner.active.lock();
            for a in active.values() {
                a.stop.cancel();
            }
            active.drain().map(|(_, a)| a.task).collect()
        };
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Bytes written so far, for logs and the benchmark.
    pub fn bytes_written(&self) -> u64 {
        self.inner.shared.stats.bytes.load(Ordering::Relaxed)
    }
}
