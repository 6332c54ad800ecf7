//! Streams by key: who publishes, who watches, and the channel between them.
//!
//! The hub owns one [`Channel<StreamEvent>`](crate::channel::Channel) per
//! stream key. A [`Publisher`] pushes frames into it; every
//! [`Subscription`] (a player, or an egress muxer shared by many players)
//! reads from it. A stream exists while it has a publisher or a subscriber,
//! so a player can wait for a publisher that is not there yet, and memory
//! returns to baseline when everybody leaves.
//!
//! Lock order, everywhere: the stream map, then a stream's state, then its
//! channel. Publishing frames takes only the last two.

mod demand;
mod event;
mod params;
mod publisher;
mod subscription;

pub use demand::{Demand, DemandWatch};
pub use event::{Classifier, StreamEvent, SLOT_AUDIO_CONFIG, SLOT_DATA, SLOT_VIDEO_CONFIG};
pub use params::{AudioParams, VideoParams};
pub use publisher::{CloseReason, Publisher};
pub use subscription::Subscription;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use tokio::sync::Notify;
use weir_media::{Codec, StreamKey};

use crate::channel::{Channel, ChannelConfig};
use crate::clients::{ClientHandle, ClientInfo, Clients};
use crate::gate::{AccessRequest, Action, Admission, ConnectInfo, Denied, Gate, OpenGate};
use params::PublishStats;
use publisher::{Active, PubCtl};

/// Hub-wide settings.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// A new publisher of a live key replaces the old one (true), or is
    /// refused with [`HubError::AlreadyPublishing`] (false). Replacing is the
    /// friendlier default: an encoder that reconnects after a network blip
    /// gets its stream back before the server noticed the old connection
    /// died.
    pub takeover: bool,
    /// Limits of every stream's channel.
    pub channel: ChannelConfig,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            takeover: true,
            channel: ChannelConfig::default(),
        }
    }
}

/// Why the hub refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// Somebody already publishes this key and takeover is off.
    #[error("stream {0} is already being published")]
    AlreadyPublishing(StreamKey),
    /// [`Hub::publish`] was given an admission to play.
    #[error("client {client_id} was admitted to play {key}, not to publish it")]
    NotAdmittedToPublish {
        /// The stream.
        key: StreamKey,
        /// The client the admission belongs to.
        client_id: u64,
    },
}

/// A snapshot of one stream, for the API and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream's key.
    pub key: StreamKey,
    /// A publisher is attached.
    pub live: bool,
    /// Client id the publisher gave to [`Hub::publish`].
    pub publisher: Option<u64>,
    /// Hub subscriptions: players and egress muxers (one muxer serves many
    /// players of a format, and counts once here).
    pub subscribers: usize,
    /// Frames received from the current publisher.
    pub frames_in: u64,
    /// Payload bytes received from the current publisher.
    pub bytes_in: u64,
    /// When the current publisher started.
    pub started_at: Option<SystemTime>,
    /// Codec of the latest video frame of the current publisher.
    pub video_codec: Option<Codec>,
    /// Codec of the latest audio frame of the current publisher.
    pub audio_codec: Option<Codec>,
    /// Video frames (not configs) received from the current publisher; the
    /// API derives the frame rate from how fast this grows.
    pub video_frames: u64,
    /// Audio frames (not configs) received from the current publisher.
    pub audio_frames: u64,
    /// Payload bytes of those video frames.
    pub video_bytes: u64,
    /// Payload bytes of those audio frames.
    pub audio_bytes: u64,
    /// Latest DTS the stream carried (µs, on the subscribers' timeline).
    pub last_dts_us: Option<i64>,
    /// DTS distance between the last two video keyframes, in ms (rounded
    /// down): what the API shows.
    pub keyframe_interval_ms: Option<i64>,
    /// Picture size, profile and level from the latest video config.
    pub video: Option<VideoParams>,
    /// Sample rate and channels from the latest audio config.
    pub audio: Option<AudioParams>,
}

/// Publishes [`Hub::watch_publish`] keeps for a slow watcher.
pub const PUBLISH_WATCH_CAPACITY: usize = 1024;

/// Cheap-to-clone handle to the hub; every adapter gets one.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    cfg: HubConfig,
    gate: Arc<dyn Gate>,
    streams: Mutex<HashMap<StreamKey, Arc<Stream>>>,
    clients: Clients,
    /// Where subscriber counts leaving or reaching zero are reported
    /// ([`Hub::watch_demand`]). Locked after the stream map, never before.
    demand: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Demand>>>,
    /// Streams a source of the server's own starts when a viewer comes
    /// (an on-demand camera pull), with how long such a viewer waits for
    /// it at least ([`Hub::expect_source`]).
    sources: Mutex<HashMap<StreamKey, std::time::Duration>>,
    /// Every publish (new or takeover), for readers that start with a
    /// stream ([`Hub::watch_publish`]): a recorder.
    published: tokio::sync::broadcast::Sender<StreamKey>,
}

/// One key's stream.
pub(crate) struct Stream {
    key: StreamKey,
    chan: Channel<StreamEvent>,
    state: Mutex<StreamState>,
    /// Mirrors `state.publisher.is_some()` for lock-free reads.
    live: AtomicBool,
    /// Woken when `live` changes.
    live_changed: Notify,
    /// Changed only under the stream map lock, which is what makes the
    /// "nobody left, remove the stream" decision race-free.
    subscribers: AtomicUsize,
}

struct StreamState {
    publisher: Option<Active>,
    /// Generation of the next publisher; lets a replaced publisher's late
    /// calls recognise they no longer own the stream.
    next_gen: u64,
    /// Last DTS (µs) sent per track (video, audio, data), kept across
    /// publishers so that timestamps stay monotonic for subscribers.
    last_dts: [Option<i64>; 3],
    frames_in: u64,
    bytes_in: u64,
    video_codec: Option<Codec>,
    audio_codec: Option<Codec>,
    /// Stats of the current publisher, see [`StreamInfo`].
    stats: PublishStats,
}

impl Stream {
    fn new(key: StreamKey, cfg: ChannelConfig) -> Self {
        Stream {
            key,
            chan: Channel::new(cfg),
            state: Mutex::new(StreamState {
                publisher: None,
                next_gen: 0,
                last_dts: [None; 3],
                frames_in: 0,
                bytes_in: 0,
                video_codec: None,
                audio_codec: None,
                stats: PublishStats::default(),
            }),
            live: AtomicBool::new(false),
            live_changed: Notify::new(),
            subscribers: AtomicUsize::new(0),
        }
    }

    /// Ends the current publisher's ownership: tells it why (unless it left
    /// by itself), and tells subscribers the stream went off air.
    fn detach(&self, st: &mut StreamState, reason: Option<CloseReason>) {
        if let Some(active) = st.publisher.take() {
            if let Some(reason) = reason {
                active.ctl.close(reason);
            }
            self.chan.push(StreamEvent::Unpublished);
            self.set_live(false);
            tracing::info!(stream = %self.key, client = active.client_id, ?reason, "unpublished");
        }
    }

    fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
        self.live_changed.notify_waiters();
    }

    fn info(&self) -> StreamInfo {
        let st = self.state.lock();
        StreamInfo {
            key: self.key.clone(),
            live: st.publisher.is_some(),
            publisher: st.publisher.as_ref().map(|p| p.client_id),
            subscribers: self.subscribers.load(Ordering::Relaxed),
            frames_in: st.frames_in,
            bytes_in: st.bytes_in,
            started_at: st.publisher.as_ref().map(|p| p.started_at),
            video_codec: st.video_codec,
            audio_codec: st.audio_codec,
            video_frames: st.stats.video_frames,
            audio_frames: st.stats.audio_frames,
            video_bytes: st.stats.video_bytes,
            audio_bytes: st.stats.audio_bytes,
            last_dts_us: st.last_dts.iter().flatten().max().copied(),
            keyframe_interval_ms: st.stats.keyframe_interval_ms,
            video: st.stats.video.clone(),
            audio: st.stats.audio.clone(),
        }
    }
}

impl HubInner {
    /// Reports a subscriber count that left or reached zero to the demand
    /// watcher, if any. Call with the stream map locked, so that reports
    /// keep the order of the changes.
    fn report_demand(&self, key: &StreamKey, subscribers: usize) {
        let mut demand = self.demand.lock();
        if let Some(tx) = demand.as_ref() {
            let sent = tx.send(Demand {
                key: key.clone(),
                subscribers,
            });
            if sent.is_err() {
                *demand = None;
            }
        }
    }

    /// Removes `stream` from the map if nobody uses it any more. Call with
    /// the map locked.
    fn remove_if_unused(streams: &mut HashMap<StreamKey, Arc<Stream>>, stream: &Arc<Stream>) {
        let unused = stream.subscribers.load(Ordering::Relaxed) == 0
            && stream.state.lock().publisher.is_none();
        let current = streams
            .get(&stream.key)
            .is_some_and(|s| Arc::ptr_eq(s, stream));
        if unused && current {
            streams.remove(&stream.key);
            tracing::debug!(stream = %stream.key, "stream freed");
        }
    }
}

impl Hub {
    /// An empty hub that lets everybody publish and play.
    pub fn new(cfg: HubConfig) -> Self {
        Self::with_gate(cfg, Arc::new(OpenGate))
    }

    /// An empty hub whose publish and play requests `gate` decides.
    pub fn with_gate(cfg: HubConfig, gate: Arc<dyn Gate>) -> Self {
        Hub {
            inner: Arc::new(HubInner {
                cfg,
                gate,
                streams: Mutex::new(HashMap::new()),
                clients: Clients::default(),
                demand: Mutex::new(None),
                sources: Mutex::new(HashMap::new()),
                published: tokio::sync::broadcast::channel(PUBLISH_WATCH_CAPACITY).0,
            }),
        }
    }

    /// Asks the gate whether `client` may `action` `key`, passing the
    /// query string the client gave with the stream name (`expires=..&
    /// sign=..`, without `?`). Every adapter calls this before it publishes
    /// or serves a viewer and keeps the [`Admission`] for the length of the
    /// session: [`Hub::publish`], [`Hub::subscribe`] and
    /// [`crate::Egress::subscribe`] take nothing else.
    ///
    /// An allowed client is listed with its stream and role. A refusal is
    /// logged and counted here (`auth_denied` in [`Clients::errors`]), so
    /// adapters only turn it into their protocol's answer.
    pub async fn admit(
        &self,
        client: &ClientHandle,
        action: Action,
        key: &StreamKey,
        query: &str,
    ) -> Result<Admission, Denied> {
        let req = AccessRequest {
            action,
            key: key.clone(),
            client_id: client.id(),
            addr: client.addr(),
            protocol: client.protocol(),
            query: query.to_owned(),
        };
        if let Err(denied) = self.inner.gate.check(&req).await {
            tracing::info!(
                client = req.client_id,
                peer = %req.addr,
                stream = %req.key,
                protocol = req.protocol,
                action = action.as_str(),
                reason = %denied,
                "access denied"
            );
            self.inner.clients.count_error(req.protocol, "auth_denied");
            return Err(denied);
        }
        client.set_stream(key.clone(), action);
        Ok(Admission::new(self.inner.gate.clone(), req))
    }

    /// The stream keys the gate would accept for `action` on `key`
    /// ([`crate::Gate::password_keys`]), for RTSP Digest, which proves a password
    /// without sending it. The admission itself still goes through
    /// [`Hub::admit`] with the proven key.
    pub fn password_keys(
        &self,
        client: &ClientHandle,
        action: Action,
        key: &StreamKey,
    ) -> Vec<String> {
        self.inner.gate.password_keys(&AccessRequest {
            action,
            key: key.clone(),
            client_id: client.id(),
            addr: client.addr(),
            protocol: client.protocol(),
            query: String::new(),
        })
    }

    /// Registers a client that comes for one stream only (an HTTP viewer, a
    /// WHIP publisher) and asks the gate for it in one step; the refusal
    /// unregisters it again.
    pub async fn admit_new_client(
        &self,
        addr: SocketAddr,
        protocol: &'static str,
        action: Action,
        key: &StreamKey,
        query: &str,
    ) -> Result<(ClientHandle, Admission), Denied> {
        let client = self.inner.clients.register(ClientInfo {
            protocol,
            addr,
            role: Some(action),
        });
        let admission = self.admit(&client, action, key, query).await?;
        Ok((client, admission))
    }

    /// An admission to play `key` for a reader inside the server that
    /// serves many viewers at once and is no client itself: a segmenter
    /// shared by every HLS viewer, a recorder. The gate is not asked and
    /// hears nothing (each viewer of such a reader is admitted on its own);
    /// `reader` names it in logs, like a protocol name. Never use it for a
    /// connection from outside.
    pub fn admit_internal(&self, key: &StreamKey, reader: &'static str) -> Admission {
        Admission::internal(AccessRequest {
            action: Action::Play,
            key: key.clone(),
            client_id: 0,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            protocol: reader,
            query: String::new(),
        })
    }

    /// Tells the gate a client connected (`on_connect`).
    pub fn connected(&self, info: &ConnectInfo) {
        self.inner.gate.connected(info);
    }

    /// Starts publishing the stream `admission` (an admission to publish)
    /// is for.
    ///
    /// With takeover on, a current publisher is replaced: its
    /// [`Publisher::closed`] resolves with [`CloseReason::TakenOver`] and
    /// subscribers see one `Replaced` event (no end of stream) and stay
    /// connected; timestamps continue where the old publisher stopped.
    pub fn publish(&self, admission: &Admission) -> Result<Publisher, HubError> {
        let (key, client_id) = (admission.key(), admission.request().client_id);
        if admission.action() != Action::Publish {
            return Err(HubError::NotAdmittedToPublish {
                key: key.clone(),
                client_id,
            });
        }
        let mut streams = self.inner.streams.lock();
        let stream = streams
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Stream::new(key.clone(), self.inner.cfg.channel.clone())))
            .clone();
        let mut st = stream.state.lock();
        let replaced = st.publisher.take();
        if let Some(old) = &replaced {
            if !self.inner.cfg.takeover {
                st.publisher = replaced;
                return Err(HubError::AlreadyPublishing(key.clone()));
            }
            old.ctl.close(CloseReason::TakenOver);
            tracing::info!(stream = %key, client = old.client_id, "publisher taken over");
        }
        let gen = st.next_gen;
        st.next_gen += 1;
        let ctl = Arc::new(PubCtl::default());
        // A stream that never had frames keeps the publisher's own
        // timestamps; otherwise the first media frame picks the offset.
        let offset = st.last_dts.iter().all(Option::is_none).then_some(0);
        st.publisher = Some(Active {
            gen,
            client_id,
            ctl: ctl.clone(),
            started_at: SystemTime::now(),
            classifier: Classifier::new(),
            offset,
        });
        st.frames_in = 0;
        st.bytes_in = 0;
        st.video_codec = None;
        st.audio_codec = None;
        st.stats = PublishStats::default();
        stream.chan.push(if replaced.is_some() {
            StreamEvent::Replaced
        } else {
            StreamEvent::Published
        });
        stream.set_live(true);
        drop(st);
        drop(streams);
        tracing::info!(stream = %key, client = client_id, "published");
        // Nobody listening is fine: a send error only says so.
        let _ = self.inner.published.send(key.clone());
        Ok(Publisher::new(self.inner.clone(), stream, gen, ctl))
    }

    /// Subscribes to the stream `admission` is for, creating a not-live
    /// stream if needed so that a player can wait for its publisher
    /// ([`Subscription::wait_live`]). Any admission will do: whoever may
    /// publish a stream may also see it.
    pub fn subscribe(&self, admission: &Admission) -> Subscription {
        self.subscribe_key(admission.key())
    }

    /// A subscription without an admission, for the hub's own readers: an
    /// egress muxer (its viewers were admitted) and [`Hub::wait_live`]
    /// (which reads no frames).
    pub(crate) fn subscribe_key(&self, key: &StreamKey) -> Subscription {
        let mut streams = self.inner.streams.lock();
        let stream = streams
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Stream::new(key.clone(), self.inner.cfg.channel.clone())))
            .clone();
        if stream.subscribers.fetch_add(1, Ordering::Relaxed) == 0 {
            self.inner.report_demand(key, 1);
        }
        let rx = stream.chan.subscribe();
        drop(streams);
        Subscription::new(self.inner.clone(), stream, rx)
    }

    /// An admission to publish `key` for a source the server runs itself
    /// on the operator's behalf (a camera pull from `[[pull]]` or the
    /// API), registered as `client` so that the API lists it like any
    /// publisher. The gate is not asked and hears nothing: the operator
    /// configured the source, no outside client asked. Never use it for a
    /// connection from outside.
    pub fn admit_source(&self, client: &ClientHandle, key: &StreamKey) -> Admission {
        client.set_stream(key.clone(), Action::Publish);
        Admission::internal(AccessRequest {
            action: Action::Publish,
            key: key.clone(),
            client_id: client.id(),
            addr: client.addr(),
            protocol: client.protocol(),
            query: String::new(),
        })
    }

    /// Registers the one demand watcher (replacing an earlier one): it
    /// hears every time a stream's subscriber count leaves or reaches zero,
    /// see [`Demand`].
    pub fn watch_demand(&self) -> DemandWatch {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *self.inner.demand.lock() = Some(tx);
        DemandWatch { rx }
    }

    /// Hears the key of every publish from now on, a takeover included:
    /// for readers that start with a stream (a recorder). A watcher that
    /// lags behind more than [`PUBLISH_WATCH_CAPACITY`] publishes gets
    /// `Lagged` and should look at [`Hub::streams`] instead.
    pub fn watch_publish(&self) -> tokio::sync::broadcast::Receiver<StreamKey> {
        self.inner.published.subscribe()
    }

    /// Subscribers of `key` now (players, egress muxers, players waiting
    /// for a publisher); 0 if the stream does not exist.
    pub fn subscribers(&self, key: &StreamKey) -> usize {
        self.inner
            .streams
            .lock()
            .get(key)
            .map_or(0, |s| s.subscribers.load(Ordering::Relaxed))
    }

    /// A publisher is attached to `key`.
    pub fn is_live(&self, key: &StreamKey) -> bool {
        self.inner
            .streams
            .lock()
            .get(key)
            .is_some_and(|s| s.live.load(Ordering::Acquire))
    }

    /// True as soon as `key` is live, false if it is not within `timeout`
    /// (or the wait [`Hub::expect_source`] set for it, if longer): for
    /// viewers that arrive before the encoder, or before the source their
    /// arrival starts. Waits on the stream's live signal (no polling).
    pub async fn wait_live(&self, key: &StreamKey, timeout: std::time::Duration) -> bool {
        if self.is_live(key) {
            return true;
        }
        let timeout = match self.inner.sources.lock().get(key) {
            Some(wait) => timeout.max(*wait),
            None => timeout,
        };
        !timeout.is_zero() && self.subscribe_key(key).wait_live(timeout).await
    }

    /// Says that a viewer's arrival starts a source for `key` (the
    /// server's own, e.g. an on-demand camera pull), which takes up to
    /// `wait` to go live: every viewer then waits that long at least,
    /// whatever its protocol's own wait for a publisher.
    pub fn expect_source(&self, key: &StreamKey, wait: std::time::Duration) {
        self.inner.sources.lock().insert(key.clone(), wait);
    }

    /// Undoes [`Hub::expect_source`].
    pub fn forget_source(&self, key: &StreamKey) {
        self.inner.sources.lock().remove(key);
    }

    /// Detaches the publisher of `key` at once (subscribers see
    /// `Unpublished`; its further frames are ignored) and resolves its
    /// [`Publisher::closed`] with [`CloseReason::Kicked`] so that its
    /// connection can close. False if nobody publishes `key`.
    pub fn kick_publisher(&self, key: &StreamKey) -> bool {
        let mut streams = self.inner.streams.lock();
        let Some(stream) = streams.get(key).cloned() else {
            return false;
        };
        let kicked = {
            let mut st = stream.state.lock();
            let had = st.publisher.is_some();
            stream.detach(&mut st, Some(CloseReason::Kicked));
            had
        };
        HubInner::remove_if_unused(&mut streams, &stream);
        kicked
    }

    /// Every stream, for the API.
    pub fn streams(&self) -> Vec<StreamInfo> {
        let streams: Vec<Arc<Stream>> = self.inner.streams.lock().values().cloned().collect();
        let mut infos: Vec<StreamInfo> = streams.iter().map(|s| s.info()).collect();
        infos.sort_by(|a, b| a.key.cmp(&b.key));
        infos
    }

    /// One stream, if it exists.
    pub fn stream(&self, key: &StreamKey) -> Option<StreamInfo> {
        let stream = self.inner.streams.lock().get(key).cloned();
        stream.map(|s| s.info())
    }

    /// Streams that exist (live or waited for).
    pub fn stream_count(&self) -> usize {
        self.inner.streams.lock().len()
    }

    /// The registry of connected clients.
    pub fn clients(&self) -> &Clients {
        &self.inner.clients
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("streams", &self.stream_count())
            .field("clients", &self.inner.clients.count())
            .finish()
    }
}
