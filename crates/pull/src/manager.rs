//! The pulls of a server: one supervisor task per pull, started by demand
//! or at once, reconnecting with backoff while wanted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_hub::Hub;
use weir_media::StreamKey;

use crate::feed::Feed;
use crate::session;
use crate::status::{PullState, PullStatus, Status};
use crate::{PullConfig, PullError, Transport};
use weir_netio::backoff::Backoff;

/// A session whose frames flowed this long was good: the backoff starts
/// over at 1 s after it.
const GOOD_SESSION: Duration = Duration::from_secs(5);
/// How long a viewer of an on-demand pull waits for the camera at least:
/// the connect bound and the first keyframe's time, with some room.
const VIEWER_WAIT: Duration = session::CONNECT_TIMEOUT.saturating_add(Duration::from_secs(5));

/// The server's camera pulls; cheap to clone, all clones share them.
#[derive(Clone)]
pub struct Pulls {
    shared: Arc<Shared>,
}

struct Shared {
    hub: Hub,
    shutdown: CancellationToken,
    entries: Mutex<HashMap<StreamKey, Arc<Entry>>>,
    tasks: TaskTracker,
}

struct Entry {
    cfg: PullConfig,
    key: StreamKey,
    from_api: bool,
    /// Added by the cluster: an edge's pull of a stream another node
    /// publishes, whose URL follows the stream when it moves.
    cluster: bool,
    /// Where the next session connects (a cluster pull's changes).
    url: Mutex<String>,
    /// Poked when `url` changed: the session ends and the next one
    /// connects there at once.
    redirect: Notify,
    /// Poked when the stream's subscriber count leaves or reaches zero.
    wake: Notify,
    /// Ends this pull (removal, shutdown).
    cancel: CancellationToken,
    status: Status,
}

impl Pulls {
    /// Starts the pulls of `configs` (on demand ones wait for viewers) and
    /// the demand watcher of `hub`. Runs until `shutdown`; call inside a
    /// tokio runtime.
    pub fn start(
        hub: Hub,
        configs: &[PullConfig],
        shutdown: CancellationToken,
    ) -> Result<Pulls, PullError> {
        let pulls = Pulls {
            shared: Arc::new(Shared {
                hub: hub.clone(),
                shutdown: shutdown.clone(),
                entries: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
            }),
        };
        for cfg in configs {
            pulls.insert(cfg.clone(), false, false)?;
        }
        let mut watch = hub.watch_demand();
        let weak = Arc::downgrade(&pulls.shared);
        pulls.shared.tasks.spawn(async move {
            loop {
                let demand = tokio::select! {
                    d = watch.recv() => d,
                    () = shutdown.cancelled() => None,
                };
                let (Some(demand), Some(shared)) = (demand, weak.upgrade()) else {
                    break;
                };
                let entry = shared.entries.lock().get(&demand.key).cloned();
                if let Some(entry) = entry {
                    entry.wake.notify_one();
                }
            }
        });
        for entry in pulls.shared.entries.lock().values() {
            pulls.spawn(entry.clone());
        }
        Ok(pulls)
    }

    /// Adds a pull at run time (`POST /api/v1/pulls`); it lasts until
    /// removed or the server stops.
    pub fn add(&self, cfg: PullConfig) -> Result<(), PullError> {
        let entry = self.insert(cfg, true, false)?;
        self.spawn(entry);
        Ok(())
    }

    /// For the cluster: pulls `key` on demand from `url` (another node's
    /// RTMP URL), or, when the cluster pulls it already, from `url` from
    /// now on: the running session ends and the next one connects there
    /// at once, while the stream's players stay (origin failover). False
    /// when a pull of `key` that is not the cluster's exists.
    pub fn cluster_pull(
        &self,
        key: &StreamKey,
        url: &str,
        idle_secs: f64,
    ) -> Result<bool, PullError> {
        let existing = self.shared.entries.lock().get(key).cloned();
        if let Some(entry) = existing {
            if !entry.cluster {
                return Ok(false);
            }
            let mut current = entry.url.lock();
            if *current != url {
                url.clone_into(&mut current);
                drop(current);
                entry.redirect.notify_one();
            }
            return Ok(true);
        }
        let cfg = PullConfig {
            app: key.app().to_owned(),
            stream: key.stream().to_owned(),
            url: url.to_owned(),
            transport: Transport::Tcp,
            on_demand: true,
            idle_secs,
        };
        let entry = self.insert(cfg, false, true)?;
        self.spawn(entry);
        Ok(true)
    }

    fn insert(
        &self,
        cfg: PullConfig,
        from_api: bool,
        cluster: bool,
    ) -> Result<Arc<Entry>, PullError> {
        cfg.check()?;
        let key = cfg.key()?;
        let mut entries = self.shared.entries.lock();
        if entries.contains_key(&key) {
            return Err(PullError::AlreadyExists(key));
        }
        let entry = Arc::new(Entry {
            url: Mutex::new(cfg.url.clone()),
            cfg,
            key: key.clone(),
            from_api,
            cluster,
            redirect: Notify::new(),
            wake: Notify::new(),
            cancel: self.shared.shutdown.child_token(),
            status: Status::new(),
        });
        if entry.cfg.on_demand {
            // Viewers of every protocol wait for the camera their arrival
            // starts (HTTP's own wait for a publisher is 0 by default).
            self.shared.hub.expect_source(&key, VIEWER_WAIT);
        }
        entries.insert(key, entry.clone());
        Ok(entry)
    }

    fn spawn(&self, entry: Arc<Entry>) {
        let hub = self.shared.hub.clone();
        self.shared.tasks.spawn(async move {
            tokio::select! {
                () = entry.cancel.cancelled() => {}
                () = supervise(&hub, &entry) => {}
            }
            entry.status.set_state(PullState::Idle);
            tracing::info!(stream = %entry.key, "camera pull removed");
        });
    }

    /// Stops and forgets the pull of `key` (a `[[pull]]` entry comes back
    /// at the next start). False if there is none.
    pub fn remove(&self, key: &StreamKey) -> bool {
        let entry = self.shared.entries.lock().remove(key);
        self.shared.hub.forget_source(key);
        entry.map(|e| e.cancel.cancel()).is_some()
    }

    /// Every pull, by stream name.
    pub fn list(&self) -> Vec<PullStatus> {
        let entries: Vec<Arc<Entry>> = self.shared.entries.lock().values().cloned().collect();
        let mut list: Vec<PullStatus> = entries
            .iter()
            .map(|e| {
                let mut s = PullStatus {
                    app: e.key.app().to_owned(),
                    stream: e.key.stream().to_owned(),
                    url: crate::redact(&e.url.lock()),
                    transport: e.cfg.transport,
                    on_demand: e.cfg.on_demand,
                    idle_secs: e.cfg.idle_secs,
                    from_api: e.from_api,
                    cluster: e.cluster,
                    state: PullState::Idle,
                    since: SystemTime::now(),
                    last_error: None,
                    bitrate_kbps: 0,
                    reconnects: 0,
                };
                e.status.fill(&mut s);
                s
            })
            .collect();
        list.sort_by(|a, b| (&a.app, &a.stream).cmp(&(&b.app, &b.stream)));
        list
    }

    /// Waits (after the shutdown token was cancelled) until every pull
    /// task has ended and dropped its camera session.
    pub async fn wait(&self) {
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}

/// One pull's life: wait for demand (on demand) or start at once, run
/// sessions with backoff, stop when nobody watched for `idle_secs`.
async fn supervise(hub: &Hub, entry: &Entry) {
    let mut auto_tcp = false;
    loop {
        if entry.cfg.on_demand {
            entry.status.set_state(PullState::Idle);
            while hub.subscribers(&entry.key) == 0 {
                entry.wake.notified().await;
            }
            tracing::info!(stream = %entry.key, "viewer arrived: starting camera pull");
        }
        tokio::select! {
            () = sessions(hub, entry, &mut auto_tcp) => {}
            () = unwatched(hub, entry), if entry.cfg.on_demand => {
                tracing::info!(
                    stream = %entry.key,
                    idle_secs = entry.cfg.idle_secs,
                    "no viewers: stopping camera pull"
                );
            }
        }
    }
}

/// Resolves once `entry`'s stream has had no subscriber for `idle_secs`.
async fn unwatched(hub: &Hub, entry: &Entry) {
    let idle = Duration::from_secs_f64(entry.cfg.idle_secs);
    loop {
        while hub.subscribers(&entry.key) > 0 {
            entry.wake.notified().await;
        }
        tokio::select! {
            () = tokio::time::sleep(idle) => {
                if hub.subscribers(&entry.key) == 0 {
                    return;
                }
            }
            () = entry.wake.notified() => {}
        }
    }
}

/// Sessions forever: each failure waits out the backoff (1 s doubling to
/// 30 s, jittered; back to 1 s after a good session). With transport
/// `auto`, a UDP session that never delivered a frame, or lost
/// [`crate::LOSS_LIMIT`] packets within [`crate::LOSS_WINDOW`],
/// switches the pull to TCP at once, for good.
///
/// The [`Feed`] (the hub publisher) outlives the sessions: players stay
/// connected while the pull reconnects, and it is dropped with this
/// future when the pull stops.
async fn sessions(hub: &Hub, entry: &Entry, auto_tcp: &mut bool) {
    let mut feed = Feed::new(hub, &entry.key, &entry.status);
    let mut backoff = Backoff::new();
    let mut first = true;
    loop {
        let udp = match entry.cfg.transport {
            Transport::Tcp => false,
            Transport::Udp => true,
            Transport::Auto => !*auto_tcp,
        };
        if !first {
            entry.status.count_reconnect();
        }
        first = false;
        entry.status.set_state(PullState::Connecting);
        let mode = session::Mode {
            udp,
            loss_limit: entry.cfg.transport == Transport::Auto,
        };
        let url = entry.url.lock().clone();
        let redacted = crate::redact(&url);
        let outcome = tokio::select! {
            outcome = session::run(&mut feed, &url, mode) => outcome,
            () = entry.redirect.notified() => {
                // The cluster moved the stream: connect to its new origin
                // now; the players stay with the feed.
                tracing::info!(stream = %entry.key, from = %redacted, "pull source moved; reconnecting");
                backoff.reset();
                continue;
            }
        };
        tracing::warn!(
            stream = %entry.key,
            url = %redacted,
            udp,
            ran_secs = outcome.ran.as_secs(),
            error = %outcome.error,
            "camera pull session ended"
        );
        entry.status.set_error(outcome.error.to_string());
        if entry.cfg.transport == Transport::Auto && udp {
            if outcome.ran.is_zero() {
                tracing::info!(stream = %entry.key, "no media over UDP: switching to TCP");
                *auto_tcp = true;
                continue;
            }
            if matches!(outcome.error, PullError::UdpLoss { .. }) {
                tracing::info!(stream = %entry.key, "packet loss over UDP: switching to TCP");
                *auto_tcp = true;
                continue;
            }
        }
        if outcome.ran >= GOOD_SESSION {
            backoff.reset();
        }
        entry.status.set_state(PullState::Retrying);
        tokio::time::sleep(backoff.next_delay(rand::random())).await;
    }
}
