//! What a push is doing, for the API, `/metrics` and the console.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::error::ERROR_KINDS;
use crate::PushError;

/// How often a failing push writes its error to the log at most; the line
/// says how many failures it stood for.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// The state of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushState {
    /// The source is not live: nothing to push.
    Idle,
    /// Connecting to the destination (TCP, handshake, `connect`,
    /// `publish`).
    Connecting,
    /// The destination accepted the publish: frames are going out.
    Pushing,
    /// The last connection failed; waiting for the next attempt.
    Backoff,
}

impl PushState {
    /// `"idle"`, `"connecting"`, `"pushing"` or `"backoff"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Idle => "idle",
            PushState::Connecting => "connecting",
            PushState::Pushing => "pushing",
            PushState::Backoff => "backoff",
        }
    }
}

/// A snapshot of one push.
#[derive(Debug, Clone, PartialEq)]
pub struct PushStatus {
    /// The id the API deletes it by.
    pub id: u64,
    /// App of the pushed stream.
    pub app: String,
    /// Name of the pushed stream.
    pub stream: String,
    /// The destination, its stream name (the key) redacted.
    pub url: String,
    /// Added through the API (until deleted) rather than by `[[push]]`.
    pub from_api: bool,
    /// What it is doing.
    pub state: PushState,
    /// Since when.
    pub since: SystemTime,
    /// Why the last connection failed, if one did.
    pub last_error: Option<String>,
    /// What goes out, over the last two seconds or so, while pushing.
    pub bitrate_kbps: u64,
    /// Media bytes sent, over every connection.
    pub bytes: u64,
    /// Connection attempts after a failed one.
    pub reconnects: u64,
}

/// Counters of every push together, for `/metrics`: they only grow, also
/// while pushes come and go.
#[derive(Debug, Default)]
pub struct PushStats {
    /// Connection attempts after a failed one.
    pub reconnects: AtomicU64,
    /// Media bytes sent.
    pub bytes: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS.len()],
}

impl PushStats {
    /// Counts a failed connection by [`PushError::kind`].
    pub(crate) fn count_error(&self, e: &PushError) {
        if let Some(i) = ERROR_KINDS.iter().position(|k| *k == e.kind()) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Failed connections by kind, every kind listed.
    pub fn errors(&self) -> Vec<(&'static str, u64)> {
        ERROR_KINDS
            .iter()
            .zip(&self.errors)
            .map(|(k, n)| (*k, n.load(Ordering::Relaxed)))
            .collect()
    }
}

pub(crate) struct Status {
    inner: Mutex<Inner>,
}

struct Inner {
    state: PushState,
    since: SystemTime,
    last_error: Option<String>,
    bitrate_kbps: u64,
    bytes: u64,
    reconnects: u64,
    /// When the last error was logged, and how many came since.
    logged: Option<(Instant, u64)>,
}

impl Status {
    pub(crate) fn new() -> Self {
        Status {
            inner: Mutex::new(Inner {
                state: PushState::Idle,
                since: SystemTime::now(),
                last_error: None,
                bitrate_kbps: 0,
                bytes: 0,
                reconnects: 0,
                logged: None,
            }),
        }
    }

    pub(crate) fn set_state(&self, state: PushState) {
        let mut s = self.inner.lock();
        if s.state != state {
            s.state = state;
            s.since = SystemTime::now();
        }
        if state != PushState::Pushing {
            s.bitrate_kbps = 0;
        }
    }

    /// Records a failure; `Some(n)` when it is to be logged now, for
    /// itself and `n` unlogged ones before it (at most one line per
    /// [`LOG_EVERY`]).
    pub(crate) fn failed(&self, error: &PushError, now: Instant) -> Option<u64> {
        let mut s = self.inner.lock();
        s.last_error = Some(error.to_string());
        match &mut s.logged {
            Some((at, suppressed)) if now.saturating_duration_since(*at) < LOG_EVERY => {
                *suppressed += 1;
                None
            }
            logged => {
                let n = logged.map_or(0, |(_, n)| n);
                *logged = Some((now, 0));
                Some(n)
            }
        }
    }

    pub(crate) fn sent(&self, bytes: u64) {
        self.inner.lock().bytes += bytes;
    }

    pub(crate) fn set_bitrate(&self, kbps: u64) {
        self.inner.lock().bitrate_kbps = kbps;
    }

    pub(crate) fn count_reconnect(&self) {
        self.inner.lock().reconnects += 1;
    }

    pub(crate) fn fill(&self, out: &mut PushStatus) {
        let s = self.inner.lock();
        out.state = s.state;
        out.since = s.since;
        out.last_error = s.last_error.clone();
        out.bitrate_kbps = s.bitrate_kbps;
        out.bytes = s.bytes;
        out.reconnects = s.reconnects;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_logged_once_a_minute_with_a_count() {
        let s = Status::new();
        let t0 = Instant::now();
        let e = PushError::Closed;
        assert_eq!(s.failed(&e, t0), Some(0));
        assert_eq!(s.failed(&e, t0 + Duration::from_secs(1)), None);
        assert_eq!(s.failed(&e, t0 + Duration::from_secs(59)), None);
        assert_eq!(s.failed(&e, t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(s.failed(&e, t0 + Duration::from_secs(61)), None);
        let mut out = PushStatus {
            id: 0,
            app: String::new(),
            stream: String::new(),
            url: String::new(),
            from_api: false,
            state: PushState::Idle,
            since: SystemTime::UNIX_EPOCH,
            last_error: None,
            bitrate_kbps: 0,
            bytes: 0,
            reconnects: 0,
        };
        s.fill(&mut out);
        assert_eq!(
            out.last_error.as_deref(),
            Some("the destination closed the connection")
        );
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let stats = PushStats::default();
        stats.count_error(&PushError::Closed);
        stats.count_error(&PushError::Connect("refused".into()));
        stats.count_error(&PushError::Connect("refused".into()));
        let errors = stats.errors();
        assert_eq!(errors.len(), ERROR_KINDS.len());
        assert!(errors.contains(&("connect", 2)));
        assert!(errors.contains(&("closed", 1)));
        assert!(errors.contains(&("timeout", 0)));
    }
}
