//! The pushes of a server: one task per (stream, destination), started by
//! the stream's publish, reconnecting with backoff while the source is
//! live.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_hub::Hub;
use weir_media::StreamKey;
use weir_netio::backoff::Backoff;

use crate::config::{check_template, expand, redact};
use crate::session::{self, Ended, Meter};
use crate::status::{PushState, PushStats, PushStatus, Status};
use crate::{PushConfig, PushError};

/// A connection that pushed this long was good: the backoff starts over
/// at 1 s after it.
const GOOD_SESSION: Duration = Duration::from_secs(5);
/// How often a push that waits (backoff, connecting) looks whether its
/// source is still live.
const LIVE_POLL: Duration = Duration::from_millis(500);

/// The server's pushes; cheap to clone, all clones share them.
#[derive(Clone)]
pub struct Pushes {
    shared: Arc<Shared>,
}

struct Shared {
    hub: Hub,
    configs: Vec<PushConfig>,
    shutdown: CancellationToken,
    dests: Mutex<BTreeMap<u64, Arc<Dest>>>,
    next_id: AtomicU64,
    stats: PushStats,
    tasks: TaskTracker,
}

/// Where a push comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The `[[push]]` entry of this index, for one publish of a stream.
    Config(usize),
    /// `POST /api/v1/pushes`: until deleted.
    Api,
}

/// One pushed (stream, destination).
struct Dest {
    id: u64,
    key: StreamKey,
    /// The expanded URL (it holds the stream key: never shown).
    url: String,
    /// What the API and logs show of it.
    shown: String,
    origin: Origin,
    /// Poked at every publish of `key`.
    published: Notify,
    /// Ends this push (deleted, shutdown).
    cancel: CancellationToken,
    status: Status,
}

impl Pushes {
    /// Checks `configs` and starts following publishes: every stream a
    /// `[[push]]` entry chooses is pushed while it is live (those live now
    /// included). Runs until `shutdown`; call inside a tokio runtime.
    pub fn start(
        hub: Hub,
        configs: &[PushConfig],
        shutdown: CancellationToken,
    ) -> Result<Pushes, PushError> {
        for cfg in configs {
            cfg.check()?;
        }
        let pushes = Pushes {
            shared: Arc::new(Shared {
                hub: hub.clone(),
                configs: configs.to_vec(),
                shutdown: shutdown.clone(),
                dests: Mutex::new(BTreeMap::new()),
                next_id: AtomicU64::new(1),
                stats: PushStats::default(),
                tasks: TaskTracker::new(),
            }),
        };
        let mut published = hub.watch_publish();
        let watcher = pushes.clone();
        pushes.shared.tasks.spawn(async move {
            watcher.published_live();
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    key = published.recv() => match key {
                        Ok(key) => watcher.published(&key),
                        // Publishes were missed: look at what is live.
                        Err(RecvError::Lagged(_)) => watcher.published_live(),
                        Err(RecvError::Closed) => break,
                    },
                }
            }
        });
        Ok(pushes)
    }

    fn published_live(&self) {
        for info in self.shared.hub.streams() {
            if info.live {
                self.published(&info.key);
            }
        }
    }

    /// `key` was published: wakes its pushes and starts those of the
    /// `[[push]]` entries that choose it and do not run yet.
    fn published(&self, key: &StreamKey) {
        let mut dests = self.shared.dests.lock();
        for dest in dests.values().filter(|d| &d.key == key) {
            dest.published.notify_one();
        }
        for (i, cfg) in self.shared.configs.iter().enumerate() {
            let runs = dests
                .values()
                .any(|d| &d.key == key && d.origin == Origin::Config(i));
            if cfg.chooses(key) && !runs {
                let dest = self.new_dest(key.clone(), expand(&cfg.url, key), Origin::Config(i));
                dests.insert(dest.id, dest.clone());
                self.spawn(dest);
            }
        }
    }

    fn new_dest(&self, key: StreamKey, url: String, origin: Origin) -> Arc<Dest> {
        Arc::new(Dest {
            id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
            shown: redact(&url),
            key,
            url,
            origin,
            published: Notify::new(),
            cancel: self.shared.shutdown.child_token(),
            status: Status::new(),
        })
    }

    fn spawn(&self, dest: Arc<Dest>) {
        let shared = self.shared.clone();
        self.shared.tasks.spawn(async move {
            tokio::select! {
                () = dest.cancel.cancelled() => {}
                () = run(&shared, &dest) => {}
            }
            dest.status.set_state(PushState::Idle);
        });
    }

    /// Adds a push of `key` to `url` (`POST /api/v1/pushes`; `{app}` and
    /// `{stream}` are replaced as in `[[push]]`). It lasts until
    /// [`Pushes::remove`] or the server stops, pushing every publish of
    /// the stream (the current one, if live). Returns its id; an API push
    /// of the stream to the same URL is refused (a second click).
    pub fn add(&self, key: StreamKey, url: &str) -> Result<u64, PushError> {
        check_template(url)?;
        let url = expand(url, &key);
        let mut dests = self.shared.dests.lock();
        if let Some(twin) = dests
            .values()
            .find(|d| d.origin == Origin::Api && d.key == key && d.url == url)
        {
            return Err(PushError::AlreadyExists(twin.id));
        }
        let dest = self.new_dest(key.clone(), url, Origin::Api);
        let id = dest.id;
        dests.insert(id, dest.clone());
        drop(dests);
        tracing::info!(id, stream = %key, url = %dest.shown, "push added");
        self.spawn(dest);
        Ok(id)
    }

    /// Stops and forgets the push `id`: `Ok(false)` if there is none, an
    /// error if it comes from `[[push]]`.
    pub fn remove(&self, id: u64) -> Result<bool, PushError> {
        let mut dests = self.shared.dests.lock();
        match dests.get(&id).map(|d| d.origin) {
            None => Ok(false),
            Some(Origin::Config(_)) => Err(PushError::Configured(id)),
            Some(Origin::Api) => {
                if let Some(dest) = dests.remove(&id) {
                    dest.cancel.cancel();
                    tracing::info!(id, stream = %dest.key, url = %dest.shown, "push removed");
                }
                Ok(true)
            }
        }
    }

    /// Every push, by id.
    pub fn list(&self) -> Vec<PushStatus> {
        let dests: Vec<Arc<Dest>> = self.shared.dests.lock().values().cloned().collect();
        dests
            .iter()
            .map(|d| {
                let mut s = PushStatus {
                    id: d.id,
                    app: d.key.app().to_owned(),
                    stream: d.key.stream().to_owned(),
                    url: d.shown.clone(),
                    from_api: d.origin == Origin::Api,
                    state: PushState::Idle,
                    since: SystemTime::now(),
                    last_error: None,
                    bitrate_kbps: 0,
                    bytes: 0,
                    reconnects: 0,
                };
                d.status.fill(&mut s);
                s
            })
            .collect()
    }

    /// Counters of every push together.
    pub fn stats(&self) -> &PushStats {
        &self.shared.stats
    }

    /// Waits (after the shutdown token was cancelled) until every push
    /// task has ended.
    pub async fn wait(&self) {
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}

/// One push's life: wait for the source, push it while live, again at the
/// next publish. A `[[push]]` push ends with its publish (the next
/// publish starts a new one); an API push waits for the next.
async fn run(shared: &Shared, dest: &Dest) {
    loop {
        if shared.hub.is_live(&dest.key) {
            publish(shared, dest).await;
            continue;
        }
        if let Origin::Config(_) = dest.origin {
            // Under the lock the publish watcher takes: a publish either
            // finds this push still listed (and it carries on) or after
            // it is gone (and starts a new one).
            let mut dests = shared.dests.lock();
            if !shared.hub.is_live(&dest.key) {
                dests.remove(&dest.id);
                return;
            }
            continue;
        }
        dest.status.set_state(PushState::Idle);
        dest.published.notified().await;
    }
}

/// Pushes one publish of the source: connections until the source ends,
/// each failure followed by the backoff (1 s doubling to 30 s, jittered;
/// back to 1 s after a connection that pushed [`GOOD_SESSION`]).
async fn publish(shared: &Shared, dest: &Dest) {
    let hub = &shared.hub;
    let admission = hub.admit_internal(&dest.key, "push");
    let mut backoff = Backoff::new();
    let mut first = true;
    tracing::info!(id = dest.id, stream = %dest.key, url = %dest.shown, "pushing");
    loop {
        if !first {
            dest.status.count_reconnect();
            shared.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        dest.status.set_state(PushState::Connecting);
        let mut meter = Meter::new(&dest.status, &shared.stats);
        let result = tokio::select! {
            r = session::push(hub, &admission, &dest.url, &mut meter) => r,
            // Connecting may take up to the connect timeout; a source
            // that ends meanwhile ends the attempt (while pushing, the
            // subscription's `Unpublished` usually comes first).
            () = off_air(hub, &dest.key) => Ok(Ended::Source),
        };
        let pushed = meter.pushing_since.map_or(Duration::ZERO, |t| t.elapsed());
        match result {
            Ok(Ended::Source) => {
                tracing::info!(id = dest.id, stream = %dest.key, url = %dest.shown, "source ended: push stopped");
                return;
            }
            Err(e) => {
                shared.stats.count_error(&e);
                if let Some(unlogged) = dest.status.failed(&e, Instant::now()) {
                    tracing::warn!(
                        id = dest.id,
                        stream = %dest.key,
                        url = %dest.shown,
                        error = %e,
                        more_since_last_line = unlogged,
                        "push failed; retrying"
                    );
                }
            }
        }
        if pushed >= GOOD_SESSION {
            backoff.reset();
        }
        dest.status.set_state(PushState::Backoff);
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay(rand::random())) => {}
            () = off_air(hub, &dest.key) => return,
        }
    }
}

/// Resolves once `key` is not live.
async fn off_air(hub: &Hub, key: &StreamKey) {
    while hub.is_live(key) {
        tokio::time::sleep(LIVE_POLL).await;
    }
}
