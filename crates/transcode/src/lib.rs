//! Transcoding ladders (`[[transcode]]`): for each chosen live stream,
//! an ffmpeg child process (the engine users already trust for encoding;
//! weir only supervises it) turns the stream into renditions of other
//! sizes and bit rates, each published back into the hub as
//! `{stream}_{name}`, where every protocol plays it and the HLS master
//! playlist lists it.
//!
//! A ladder starts when its source is published (or, `on_demand`, when a
//! rendition gets its first viewer), follows takeovers, is restarted with
//! a jittered backoff (1 s doubling to 30 s) when ffmpeg fails, and stops
//! with its source. See `ladder` for how the media flows, and
//! docs/hls.md for the settings and their cost.

#![warn(missing_docs, unreachable_pub)]

mod command;
mod config;
mod error;
mod ladder;
mod status;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use weir_hub::Hub;
use weir_media::StreamKey;

pub use config::{Rendition, TranscodeConfig};
pub use error::TranscodeError;
pub use status::{LadderState, LadderView};

use status::Status;

/// The running ladders. Clones share them.
#[derive(Clone)]
pub struct Transcoder {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    entries: Vec<Arc<TranscodeConfig>>,
    /// By source stream: the ladder's status and what stops it.
    ladders: Mutex<HashMap<StreamKey, (Arc<Status>, CancellationToken)>>,
    shutdown: CancellationToken,
}

impl Transcoder {
    /// Checks `entries` (and that their ffmpeg runs, when there are any)
    /// and starts following publishes. With no entries nothing runs.
    pub fn start(
        hub: Hub,
        entries: Vec<TranscodeConfig>,
        shutdown: CancellationToken,
    ) -> Result<Transcoder, TranscodeError> {
        for e in &entries {
            e.validate()?;
        }
        let mut checked = std::collections::HashSet::new();
        for e in &entries {
            if checked.insert(e.ffmpeg.clone()) {
                check_ffmpeg(&e.ffmpeg)?;
            }
        }
        let t = Transcoder {
            inner: Arc::new(Inner {
                hub: hub.clone(),
                entries: entries.into_iter().map(Arc::new).collect(),
                ladders: Mutex::new(HashMap::new()),
                shutdown,
            }),
        };
        if !t.inner.entries.is_empty() {
            let mut published = hub.watch_publish();
            let watcher = t.clone();
            tokio::spawn(async move {
                watcher.start_live();
                loop {
                    tokio::select! {
                        _ = watcher.inner.shutdown.cancelled() => break,
                        key = published.recv() => match key {
                            Ok(key) => watcher.published(key),
                            // Publishes were missed: look at what is live.
                            Err(RecvError::Lagged(_)) => watcher.start_live(),
                            Err(RecvError::Closed) => break,
                        },
                    }
                }
            });
        }
        Ok(t)
    }

    /// Every ladder, by source stream.
    pub fn list(&self) -> Vec<LadderView> {
        let mut v: Vec<LadderView> = self
            .inner
            .ladders
            .lock()
            .values()
            .map(|(s, _)| s.view())
            .collect();
        v.sort_by(|a, b| a.stream.cmp(&b.stream));
        v
    }

    /// The rendition streams a ladder makes of `key` when it runs (its
    /// entry's, in the configured order), for the HLS multivariant
    /// playlist; empty when no entry chooses `key`.
    pub fn rendition_keys(&self, key: &StreamKey) -> Vec<StreamKey> {
        self.entry_for(key).map_or_else(Vec::new, |e| {
            e.renditions
                .iter()
                .filter_map(|r| TranscodeConfig::rendition_key(key, r))
                .collect()
        })
    }

    fn start_live(&self) {
        for info in self.inner.hub.streams() {
            if info.live {
                self.published(info.key);
            }
        }
    }

    /// A stream was published: starts its ladder if an entry chooses it
    /// and none runs (a takeover keeps the running one: ffmpeg reads the
    /// new encoder's frames from the same subscription).
    fn published(&self, key: StreamKey) {
        let Some(entry) = self.entry_for(&key) else {
            return;
        };
        let mut ladders = self.inner.ladders.lock();
        if ladders.contains_key(&key) {
            return;
        }
        let renditions = entry
            .renditions
            .iter()
            .filter_map(|r| TranscodeConfig::rendition_key(&key, r))
            .map(|k| k.to_string())
            .collect();
        let status = Arc::new(Status::new(key.to_string(), renditions, entry.on_demand));
        let stop = self.inner.shutdown.child_token();
        ladders.insert(key.clone(), (status.clone(), stop.clone()));
        drop(ladders);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            ladder::run(inner.hub.clone(), key.clone(), entry, status.clone(), stop).await;
            let mut ladders = inner.ladders.lock();
            // Only its own entry: a new ladder may have replaced it.
            if ladders
                .get(&key)
                .is_some_and(|(s, _)| Arc::ptr_eq(s, &status))
            {
                ladders.remove(&key);
            }
        });
    }

    /// The first entry that chooses `key`, unless `key` is itself one of
    /// that entry's renditions (`cam_low` is not transcoded again).
    fn entry_for(&self, key: &StreamKey) -> Option<Arc<TranscodeConfig>> {
        self.inner
            .entries
            .iter()
            .find(|e| {
                e.chooses(key)
                    && !e
                        .renditions
                        .iter()
                        .any(|r| key.stream().ends_with(&format!("_{}", r.name)))
            })
            .cloned()
    }
}

/// Runs `{program} -version`.
fn check_ffmpeg(program: &str) -> Result<(), TranscodeError> {
    let fail = |reason: String| TranscodeError::NoFfmpeg {
        program: program.to_owned(),
        reason,
    };
    let out = std::process::Command::new(program)
        .arg("-version")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(out.status.to_string()))
    }
}
