//! What a ladder is doing, for the API and the console.

use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

/// A ladder's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LadderState {
    /// ffmpeg was started and has not produced every rendition yet.
    Starting,
    /// Every rendition is being published.
    Running,
    /// ffmpeg failed; the next start waits (1 s doubling to 30 s).
    Backoff,
    /// On demand, and no rendition has a viewer: ffmpeg is not running.
    Idle,
}

/// One ladder as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LadderView {
    /// The source stream, `app/stream`.
    pub stream: String,
    /// The rendition streams, `app/stream_name`.
    pub renditions: Vec<String>,
    /// What it is doing.
    pub state: LadderState,
    /// Whether it runs only while a rendition has viewers.
    pub on_demand: bool,
    /// ffmpeg's process id while it runs.
    pub pid: Option<u32>,
    /// ffmpeg starts after the first.
    pub restarts: u64,
    /// Why ffmpeg last stopped, when it failed (its last error line).
    pub last_error: Option<String>,
    /// When the current state began, Unix seconds.
    pub since: u64,
}

/// The shared, updated view of one ladder.
#[derive(Debug)]
pub(crate) struct Status(Mutex<LadderView>);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Status {
    pub(crate) fn new(stream: String, renditions: Vec<String>, on_demand: bool) -> Self {
        Status(Mutex::new(LadderView {
            stream,
            renditions,
            state: LadderState::Starting,
            on_demand,
            pid: None,
            restarts: 0,
            last_error: None,
            since: now(),
        }))
    }

    pub(crate) fn view(&self) -> LadderView {
        self.0.lock().clone()
    }

    pub(crate) fn set(&self, state: LadderState) {
        let mut v = self.0.lock();
        if v.state != state {
            v.state = state;
            v.since = now();
        }
        if state != LadderState::Running && state != LadderState::Starting {
            v.pid = None;
        }
    }

    /// ffmpeg started (`restart`: not the ladder's first start).
    pub(crate) fn started(&self, pid: Option<u32>, restart: bool) {
        let mut v = self.0.lock();
        v.pid = pid;
        if restart {
            v.restarts += 1;
        }
        v.state = LadderState::Starting;
        v.since = now();
    }

    pub(crate) fn failed(&self, why: String) {
        self.0.lock().last_error = Some(why);
    }
}
