//! One stream's recording: a hub subscriber that writes the stream's
//! frames into files until the publisher leaves (or the API or shutdown
//! stops it), a new file at the first keyframe after `segment_secs`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use weir_hub::{Hub, StreamEvent};
use weir_media::{Frame, StreamKey, TrackKind};

use crate::catalog::Recording;
use crate::config::{Format, RecordConfig};
use crate::error::RecordError;
use crate::file::{FileMux, Restart};
use crate::{RecordDone, Shared};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;

/// How often an open recording's sidecar is rewritten (and the file
/// synced to disk): the most a crash takes off the listed duration.
pub(crate) const SIDECAR_EVERY: Duration = Duration::from_secs(2);

/// Most bytes an FLV recording holds in memory before writing.
const MAX_PENDING: usize = 256 << 10;

/// Events taken from the hub at once.
const BATCH: usize = 256;

/// Records `key` until its publisher leaves or `stop` fires.
pub(crate) async fn run(
    hub: Hub,
    key: StreamKey,
    cfg: Arc<RecordConfig>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let admission = hub.admit_internal(&key, "record");
    let mut sub = hub.subscribe(&admission);
    if !sub.is_live() {
        return;
    }
    tracing::info!(stream = %key, format = cfg.format.extension(), "recording");
    let mut session = Session::new(key.clone(), cfg, shared.clone());
    let mut batch = Vec::with_capacity(BATCH);
    let mut dropped = 0;
    'outer: loop {
        batch.clear();
        tokio::select! {
            _ = stop.cancelled() => break,
            r = sub.recv_batch(&mut batch, BATCH) => if r.is_err() { break },
        }
        for event in batch.drain(..) {
            let result = match event {
                StreamEvent::Frame(frame) => session.frame(frame).await,
                StreamEvent::Unpublished | StreamEvent::Replaced => break 'outer,
                StreamEvent::Published => Ok(()),
            };
            if let Err(e) = result {
                tracing::error!(stream = %key, error = %e, "recording stopped");
                shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                session.abandon().await;
                return;
            }
        }
        if sub.dropped() > dropped {
            // The disk (or this task) could not keep up: the hub skipped
            // to a keyframe. The file has a gap; say so once per burst.
            tracing::warn!(stream = %key, lost = sub.dropped() - dropped, "recording lagged; frames skipped");
            dropped = sub.dropped();
        }
        if let Err(e) = session.flush(false).await {
            tracing::error!(stream = %key, error = %e, "recording stopped");
            shared.stats.errors.fetch_add(1, Ordering::Relaxed);
            session.abandon().await;
            return;
        }
    }
    if let Err(e) = session.close().await {
        tracing::error!(stream = %key, error = %e, "recording not finalized");
        shared.stats.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// An open file.
struct Open {
    rec: Recording,
    path: PathBuf,
    /// Written from the blocking pool (`&File` writes), never from the
    /// runtime's threads: a slow disk stalls only this recording.
    file: Arc<std::fs::File>,
    mux: FileMux,
    /// DTS (stream timeline, µs) the file's time zero stands for.
    base_us: i64,
    last_us: i64,
    /// Bytes made and not written yet: the muxer appends here (the one
    /// copy a recording makes), a flush hands them to the disk as they are.
    pending: BytesMut,
    written: u64,
    last_write: Instant,
    last_sidecar: Instant,
}

/// The files of one publish.
struct Session {
    key: StreamKey,
    cfg: Arc<RecordConfig>,
    shared: Arc<Shared>,
    open: Option<Open>,
    /// Latest configs (video, audio), replayed at the start of each file.
    configs: [Option<Frame>; 2],
    has_video: bool,
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RecordError> + Send + 'static,
) -> Result<T, RecordError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(RecordError::Mux(format!("file task failed: {e}"))))
}

impl Session {
    fn new(key: StreamKey, cfg: Arc<RecordConfig>, shared: Arc<Shared>) -> Self {
        Session {
            key,
            cfg,
            shared,
            open: None,
            configs: [None, None],
            has_video: false,
        }
    }

    async fn frame(&mut self, frame: Frame) -> Result<(), RecordError> {
        if frame.config {
            match frame.kind {
                TrackKind::Video => self.configs[0] = Some(frame.clone()),
                TrackKind::Audio => self.configs[1] = Some(frame.clone()),
                TrackKind::Data => {}
            }
        }
        if frame.kind == TrackKind::Video && !frame.config {
            self.has_video = true;
        }
        // A file starts where a decoder can: at a video keyframe, or
        // anywhere in an audio-only stream.
        let starts_here = !frame.config
            && match frame.kind {
                TrackKind::Video => frame.key,
                TrackKind::Audio => !self.has_video,
                TrackKind::Data => false,
            };
        let segment_over = match (&self.open, self.cfg.segment()) {
            (Some(open), Some(len)) => frame.dts_us - open.base_us >= len.as_micros() as i64,
            _ => false,
        };
        if starts_here && (self.open.is_none() || segment_over) {
            self.close().await?;
            self.open(frame.dts_us).await?;
        }
        let Some(open) = self.open.as_mut() else {
            // Before the first keyframe: nothing a player could decode.
            return Ok(());
        };
        if open.push(&frame)?.is_err() && starts_here {
            // New codec configs: this file keeps the old ones.
            self.close().await?;
            self.open(frame.dts_us).await?;
            let open = self.open.as_mut().expect("just opened");
            // A fresh muxer takes any configs.
            let _ = open.push(&frame)?;
        }
        Ok(())
    }

    /// Opens the next file, starting at stream time `base_us`, and
    /// replays the configs into it.
    async fn open(&mut self, base_us: i64) -> Result<(), RecordError> {
        let start = Utc::now();
        let format = self.cfg.format;
        let (id, path) = self.shared.new_file(&self.cfg, &self.key, start)?;
        let rec = Recording {
            id,
            app: self.key.app().to_owned(),
            stream: self.key.stream().to_owned(),
            start,
            duration_secs: 0.0,
            bytes: 0,
            format: format.extension(),
            recording: true,
            complete: false,
        };
        let file = {
            let (path, rec, shared) = (path.clone(), rec.clone(), self.shared.clone());
            blocking(move || {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(RecordError::io("creating", dir))?;
                }
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(RecordError::io("creating", &path))?;
                shared.catalog.put(&rec)?;
                Ok(file)
            })
            .await?
        };
        self.shared.stats.files.fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = %self.key, file = %path.display(), "recording file opened");
        let mut open = Open {
            rec,
            path,
            file: Arc::new(file),
            mux: FileMux::new(format, self.cfg.fragment_ms),
            base_us,
            last_us: base_us,
            pending: BytesMut::new(),
            written: 0,
            last_write: Instant::now(),
            last_sidecar: Instant::now(),
        };
        for config in self.configs.iter().flatten() {
            let _ = open.push(config)?;
        }
        self.open = Some(open);
        Ok(())
    }

    /// Writes what is pending when it is due (or `now`), and every
    /// [`SIDECAR_EVERY`] syncs the file and refreshes the sidecar.
    async fn flush(&mut self, now: bool) -> Result<(), RecordError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let due = now
            || self.cfg.format == Format::Fmp4
            || open.pending.len() >= MAX_PENDING
            || open.last_write.elapsed() >= Duration::from_millis(u64::from(self.cfg.fragment_ms));
        let bytes = if due && !open.pending.is_empty() {
            open.last_write = Instant::now();
            Some(open.pending.split().freeze())
        } else {
            None
        };
        let sync = open.last_sidecar.elapsed() >= SIDECAR_EVERY;
        if bytes.is_none() && !sync {
            return Ok(());
        }
        let len = bytes.as_ref().map_or(0, |b| b.len() as u64);
        open.written += len;
        let sidecar = sync.then(|| {
            open.last_sidecar = Instant::now();
            open.rec.bytes = open.written;
            open.rec.duration_secs = open.duration_secs();
            open.rec.clone()
        });
        let (file, path, shared) = (open.file.clone(), open.path.clone(), self.shared.clone());
        blocking(move || {
            if let Some(bytes) = bytes {
                (&*file)
                    .write_all(&bytes)
                    .map_err(RecordError::io("writing", &path))?;
            }
            if let Some(rec) = sidecar {
                file.sync_data()
                    .map_err(RecordError::io("syncing", &path))?;
                shared.catalog.put(&rec)?;
            }
            Ok(())
        })
        .await?;
        self.shared.stats.bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Ends the open file, if any: flushes the muxer, patches what FLV
    /// needs, syncs, marks the sidecar complete and tells `on_record_done`.
    async fn close(&mut self) -> Result<(), RecordError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        open.mux.finish(&mut open.pending)?;
        self.flush(true).await?;
        let mut open = self.open.take().expect("checked above");
        let duration = open.duration_secs();
        let patches = open.mux.patches(duration, open.written);
        open.rec.bytes = open.written;
        open.rec.duration_secs = duration;
        open.rec.recording = false;
        open.rec.complete = true;
        let (file, path, rec, shared) = (
            open.file.clone(),
            open.path.clone(),
            open.rec.clone(),
            self.shared.clone(),
        );
        blocking(move || {
            for patch in patches {
                file.write_all_at(&patch.bytes, patch.offset)
                    .map_err(RecordError::io("patching", &path))?;
            }
            file.sync_all().map_err(RecordError::io("syncing", &path))?;
            shared.catalog.put(&rec)
        })
        .await?;
        tracing::info!(
            stream = %self.key,
            file = %open.path.display(),
            duration_s = format!("{duration:.1}"),
            bytes = open.written,
            "recording file closed"
        );
        self.shared.done(RecordDone {
            recording: open.rec,
            path: open.path,
        });
        Ok(())
    }

    /// After an error: the file stays as far as it was written, listed as
    /// incomplete.
    async fn abandon(&mut self) {
        if let Some(mut open) = self.open.take() {
            open.rec.recording = false;
            open.rec.bytes = open.written;
            open.rec.duration_secs = open.duration_secs();
            let shared = self.shared.clone();
            // Best effort: the disk may be what failed.
            let _ = blocking(move || shared.catalog.put(&open.rec)).await;
        }
    }
}

impl Open {
    /// Muxes `frame` into [`Open::pending`] on the file's timeline.
    fn push(&mut self, frame: &Frame) -> Result<Result<(), Restart>, RecordError> {
        self.last_us = self.last_us.max(frame.dts_us);
        self.mux
            .push(&rebased(frame, self.base_us), &mut self.pending)
    }

    fn duration_secs(&self) -> f64 {
        (self.last_us - self.base_us).max(0) as f64 / 1e6
    }
}

/// `frame` on the file's timeline: zero at the file's first keyframe
/// (configs, and audio that came just before it, at zero).
fn rebased(frame: &Frame, base_us: i64) -> Frame {
    Frame {
        dts_us: (frame.dts_us - base_us).max(0),
        ..frame.clone()
    }
}
