//! What a pull is doing, for the API and `/metrics`.

use std::time::SystemTime;

use parking_lot::Mutex;

use crate::Transport;

/// The state of a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PullState {
    /// Not pulling: on demand and nobody watches.
    Idle,
    /// Connecting to the camera (DESCRIBE, SETUP, PLAY, first frame).
    Connecting,
    /// Frames are flowing.
    Running,
    /// The last session failed; waiting for the next attempt (backoff).
    Retrying,
}

impl PullState {
    /// `"idle"`, `"connecting"`, `"running"` or `"retrying"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PullState::Idle => "idle",
            PullState::Connecting => "connecting",
            PullState::Running => "running",
            PullState::Retrying => "retrying",
        }
    }
}

/// A snapshot of one pull.
#[derive(Debug, Clone, PartialEq)]
pub struct PullStatus {
    /// App of the stream it feeds.
    pub app: String,
    /// Name of the stream it feeds.
    pub stream: String,
    /// The camera URL, password redacted.
    pub url: String,
    /// The configured transport.
    pub transport: Transport,
    /// Pulled only while watched.
    pub on_demand: bool,
    /// Seconds it outlives its last viewer (on demand).
    pub idle_secs: f64,
    /// Added through the API (gone at restart) rather than `[[pull]]`.
    pub from_api: bool,
    /// Added by the cluster (an edge's pull from the stream's origin node).
    pub cluster: bool,
    /// What it is doing.
    pub state: PullState,
    /// Since when.
    pub since: SystemTime,
    /// Why the last session ended, if one failed.
    pub last_error: Option<String>,
    /// Media bit rate over the last two seconds or so, while running.
    pub bitrate_kbps: u64,
    /// Connection attempts after a failed or ended session.
    pub reconnects: u64,
}

pub(crate) struct Status {
    inner: Mutex<Inner>,
}

struct Inner {
    state: PullState,
    since: SystemTime,
    last_error: Option<String>,
    bitrate_kbps: u64,
    reconnects: u64,
}

impl Status {
    pub(crate) fn new() -> Self {
        Status {
            inner: Mutex::new(Inner {
                state: PullState::Idle,
                since: SystemTime::now(),
                last_error: None,
                bitrate_kbps: 0,
                reconnects: 0,
            }),
        }
    }

    pub(crate) fn set_state(&self, state: PullState) {
        let mut s = self.inner.lock();
        if s.state != state {
            s.state = state;
            s.since = SystemTime::now();
        }
        if state != PullState::Running {
            s.bitrate_kbps = 0;
        }
    }

    pub(crate) fn set_error(&self, error: String) {
        self.inner.lock().last_error = Some(error);
    }

    pub(crate) fn set_bitrate(&self, kbps: u64) {
        self.inner.lock().bitrate_kbps = kbps;
    }

    pub(crate) fn count_reconnect(&self) {
        self.inner.lock().reconnects += 1;
    }

    pub(crate) fn fill(&self, out: &mut PullStatus) {
        let s = self.inner.lock();
        out.state = s.state;
        out.since = s.since;
        out.last_error = s.last_error.clone();
        out.bitrate_kbps = s.bitrate_kbps;
        out.reconnects = s.reconnects;
    }
}
