//! One stream's recording: a hub subscriber that writes the stream's
//! frames into files until the publisher leaves (or the API or shutdown
//! stops it), a new file at the first keyframe after `segment_secs`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use weir_hub::{Hub, StreamEvent};
use weir_media::{Frame, StreamKey, TrackKind};

use crate::catalog::Recording;
use crate::config::{Format, RecordConfig};
use crate::error::RecordError;
use crate::file::FileMux;
use crate::{RecordDone, Shared};

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
                session.abandon();
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
            session.abandon();
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
    file: tokio::fs::File,
    mux: FileMux,
    /// DTS (stream timeline, µs) the file's time zero stands for.
    base_us: i64,
    last_us: i64,
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
        let written = open.mux.push(&rebased(&frame, open.base_us))?;
        if written.restart && starts_here {
            // New codec configs: this file keeps the old ones.
            self.close().await?;
            self.open(frame.dts_us).await?;
            let open = self.open.as_mut().expect("just opened");
            let again = open.mux.push(&rebased(&frame, open.base_us))?;
            open.take(again.chunks, frame.dts_us);
            return Ok(());
        }
        open.take(written.chunks, frame.dts_us);
        Ok(())
    }

    /// Opens the next file, starting at stream time `base_us`, and
    /// replays the configs into it.
    async fn open(&mut self, base_us: i64) -> Result<(), RecordError> {
        let start = Utc::now();
        let format = self.cfg.format;
        let (id, path) = self.shared.new_file(&self.cfg, &self.key, start)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(RecordError::io("creating", dir))?;
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(RecordError::io("creating", &path))?;
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
        self.shared.catalog.put(&rec)?;
        self.shared.stats.files.fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = %self.key, file = %path.display(), "recording file opened");
        let mut open = Open {
            rec,
            path,
            file,
            mux: FileMux::new(format, self.cfg.fragment_ms),
            base_us,
            last_us: base_us,
            pending: BytesMut::new(),
            written: 0,
            last_write: Instant::now(),
            last_sidecar: Instant::now(),
        };
        for config in self.configs.iter().flatten() {
            let written = open.mux.push(&rebased(config, base_us))?;
            open.take(written.chunks, base_us);
        }
        self.open = Some(open);
        Ok(())
    }

    /// Writes what is pending when it is due (or `now`), and refreshes the
    /// sidecar every [`SIDECAR_EVERY`].
    async fn flush(&mut self, now: bool) -> Result<(), RecordError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let due = now
            || self.cfg.format == Format::Fmp4
            || open.pending.len() >= MAX_PENDING
            || open.last_write.elapsed() >= Duration::from_millis(u64::from(self.cfg.fragment_ms));
        if due && !open.pending.is_empty() {
            let bytes = open.pending.split().freeze();
            open.file
                .write_all(&bytes)
                .await
                .map_err(RecordError::io("writing", &open.path))?;
            open.written += bytes.len() as u64;
            open.last_write = Instant::now();
            self.shared
                .stats
                .bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        if open.last_sidecar.elapsed() >= SIDECAR_EVERY {
            open.last_sidecar = Instant::now();
            open.file
                .sync_data()
                .await
                .map_err(RecordError::io("syncing", &open.path))?;
            open.rec.bytes = open.written;
            open.rec.duration_secs = open.duration_secs();
            self.shared.catalog.put(&open.rec)?;
        }
        Ok(())
    }

    /// Ends the open file, if any: flushes the muxer, patches what FLV
    /// needs, syncs, marks the sidecar complete and tells `on_record_done`.
    async fn close(&mut self) -> Result<(), RecordError> {
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        let last = open.last_us;
        let tail = open.mux.finish()?;
        open.take(tail, last);
        self.open = Some(open);
        self.flush(true).await?;
        let mut open = self.open.take().expect("put back above");
        let duration = open.duration_secs();
        for patch in open.mux.patches(duration, open.written) {
            open.file
                .seek(std::io::SeekFrom::Start(patch.offset))
                .await
                .map_err(RecordError::io("patching", &open.path))?;
            open.file
                .write_all(&patch.bytes)
                .await
                .map_err(RecordError::io("patching", &open.path))?;
        }
        open.file
            .sync_all()
            .await
            .map_err(RecordError::io("syncing", &open.path))?;
        open.rec.bytes = open.written;
        open.rec.duration_secs = duration;
        open.rec.recording = false;
        open.rec.complete = true;
        self.shared.catalog.put(&open.rec)?;
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
    fn abandon(&mut self) {
        if let Some(mut open) = self.open.take() {
            open.rec.recording = false;
            open.rec.bytes = open.written;
            open.rec.duration_secs = open.duration_secs();
            // Best effort: the disk may be what failed.
            let _ = self.shared.catalog.put(&open.rec);
        }
    }
}

impl Open {
    fn take(&mut self, chunks: Vec<Bytes>, dts_us: i64) {
        for chunk in chunks {
            self.pending.extend_from_slice(&chunk);
        }
        self.last_us = self.last_us.max(dts_us);
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
