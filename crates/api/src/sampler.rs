//! Bit rates and frame rates over the last ten seconds, from counters read
//! once per second.
//!
//! Adapters and the hub only ever add to counters; turning counters into
//! rates is this module's job, done by one background task so that neither
//! the media path nor an API request pays for it. Each stream, each client,
//! the server's totals and the process CPU time get a ring of the last
//! [`RING`] samples; a rate is the difference between the ring's newest and
//! oldest sample divided by the time between them. Streams and clients that
//! are gone are forgotten at the next tick, so memory follows what is
//! connected.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use weir_hub::{Hub, StreamInfo};
use weir_media::StreamKey;

use crate::procstat;

/// Samples per ring: one per second, so rates cover the last ten seconds.
pub(crate) const RING: usize = 10;

/// How often the task samples.
const PERIOD: Duration = Duration::from_secs(1);

/// Every this many ticks a stream's 10-second bit rate goes into its
/// history, which the console draws.
const HISTORY_EVERY: u32 = 5;

/// History points kept per stream: 120 points of 5 s, ten minutes.
const HISTORY_LEN: usize = 120;

/// The last [`RING`] readings of `N` counters.
#[derive(Debug, Default)]
struct Ring<const N: usize> {
    samples: VecDeque<(Instant, [u64; N])>,
}

impl<const N: usize> Ring<N> {
    fn push(&mut self, at: Instant, values: [u64; N]) {
        if self.samples.len() == RING {
            self.samples.pop_front();
        }
        self.samples.push_back((at, values));
    }

    /// Per-second growth of counter `i` over the ring; `None` until two
    /// samples exist. A counter that went backwards (a reset) counts as 0.
    fn per_sec(&self, i: usize) -> Option<f64> {
        let (t0, first) = self.samples.front()?;
        let (t1, last) = self.samples.back()?;
        let secs = t1.duration_since(*t0).as_secs_f64();
        (secs > 0.0).then(|| last[i].saturating_sub(first[i]) as f64 / secs)
    }
}

/// Counter indices of a stream ring.
const S_BYTES: usize = 0;
const S_VIDEO_BYTES: usize = 1;
const S_AUDIO_BYTES: usize = 2;
const S_VIDEO_FRAMES: usize = 3;

struct StreamSeries {
    /// The publisher the ring belongs to: a new one restarts its counters.
    publisher: (Option<u64>, Option<SystemTime>),
    ring: Ring<4>,
    ticks: u32,
    /// `(unix seconds, bit/s)`, oldest first.
    history: VecDeque<(u64, u64)>,
}

/// Rates of one stream's ingest.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct StreamRates {
    /// Payload bits per second received.
    pub(crate) bps: u64,
    /// Video payload bits per second.
    pub(crate) video_bps: u64,
    /// Audio payload bits per second.
    pub(crate) audio_bps: u64,
    /// Video frames per second.
    pub(crate) fps: f64,
}

/// Rates of one client or of the whole server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bandwidth {
    /// Bits per second received.
    pub(crate) in_bps: u64,
    /// Bits per second sent.
    pub(crate) out_bps: u64,
}

#[derive(Default)]
struct Samples {
    streams: HashMap<StreamKey, StreamSeries>,
    clients: HashMap<u64, Ring<2>>,
    total: Ring<2>,
    cpu: Ring<1>,
}

/// The rings, shared by the task that fills them and the handlers that
/// read them.
pub(crate) struct Sampler {
    hub: Hub,
    samples: Mutex<Samples>,
}

fn bits(bytes_per_sec: Option<f64>) -> u64 {
    bytes_per_sec.map_or(0, |b| (b * 8.0).round() as u64)
}

impl Sampler {
    pub(crate) fn new(hub: Hub) -> Self {
        Sampler {
            hub,
            samples: Mutex::new(Samples::default()),
        }
    }

    /// Reads every counter once. The hub is read before the lock is taken,
    /// so API readers wait only for the ring updates.
    pub(crate) fn tick(&self, now: Instant) {
        let streams: Vec<StreamInfo> = self.hub.streams().into_iter().filter(|s| s.live).collect();
        let clients = self.hub.clients().list();
        let totals = self.hub.clients().totals();
        let cpu = procstat::read_self().map(|p| p.cpu_ticks);
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());

        let live: HashSet<&StreamKey> = streams.iter().map(|i| &i.key).collect();
        let connected: HashSet<u64> = clients.iter().map(|c| c.id).collect();
        let mut s = self.samples.lock();
        s.streams.retain(|k, _| live.contains(k));
        for info in &streams {
            let publisher = (info.publisher, info.started_at);
            let series = s
                .streams
                .entry(info.key.clone())
                .or_insert_with(|| StreamSeries {
                    publisher,
                    ring: Ring::default(),
                    ticks: 0,
                    history: VecDeque::new(),
                });
            if series.publisher != publisher {
                series.publisher = publisher;
                series.ring = Ring::default();
            }
            series.ring.push(
                now,
                [
                    info.bytes_in,
                    info.video_bytes,
                    info.audio_bytes,
                    info.video_frames,
                ],
            );
            series.ticks += 1;
            if series.ticks.is_multiple_of(HISTORY_EVERY) {
                if series.history.len() == HISTORY_LEN {
                    series.history.pop_front();
                }
                let bps = bits(series.ring.per_sec(S_BYTES));
                series.history.push_back((unix, bps));
            }
        }
        s.clients.retain(|id, _| connected.contains(id));
        for c in &clients {
            s.clients
                .entry(c.id)
                .or_default()
                .push(now, [c.bytes_in, c.bytes_out]);
        }
        let (bytes_in, bytes_out) = totals
            .iter()
            .fold((0, 0), |(i, o), t| (i + t.bytes_in, o + t.bytes_out));
        s.total.push(now, [bytes_in, bytes_out]);
        if let Some(ticks) = cpu {
            s.cpu.push(now, [ticks]);
        }
    }

    /// Ingest rates of `key` (zero while unknown).
    pub(crate) fn stream(&self, key: &StreamKey) -> StreamRates {
        let s = self.samples.lock();
        let Some(series) = s.streams.get(key) else {
            return StreamRates::default();
        };
        let r = &series.ring;
        StreamRates {
            bps: bits(r.per_sec(S_BYTES)),
            video_bps: bits(r.per_sec(S_VIDEO_BYTES)),
            audio_bps: bits(r.per_sec(S_AUDIO_BYTES)),
            fps: r.per_sec(S_VIDEO_FRAMES).unwrap_or(0.0),
        }
    }

    /// Bit-rate history of `key`: `(unix seconds, bit/s)` every 5 s over
    /// the last ten minutes, kept across publisher changes while the
    /// stream stays live.
    pub(crate) fn history(&self, key: &StreamKey) -> Vec<(u64, u64)> {
        let s = self.samples.lock();
        s.streams
            .get(key)
            .map(|series| series.history.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Traffic rates of client `id`.
    pub(crate) fn client(&self, id: u64) -> Bandwidth {
        let s = self.samples.lock();
        s.clients
            .get(&id)
            .map_or(Bandwidth::default(), |r| Bandwidth {
                in_bps: bits(r.per_sec(0)),
                out_bps: bits(r.per_sec(1)),
            })
    }

    /// Traffic rates of the whole server, every protocol.
    pub(crate) fn total(&self) -> Bandwidth {
        let s = self.samples.lock();
        Bandwidth {
            in_bps: bits(s.total.per_sec(0)),
            out_bps: bits(s.total.per_sec(1)),
        }
    }

    /// Process CPU use over the last ten seconds, in percent of one core.
    pub(crate) fn cpu_percent(&self) -> f64 {
        let s = self.samples.lock();
        s.cpu
            .per_sec(0)
            .map_or(0.0, |ticks| ticks * 100.0 / procstat::TICKS_PER_SEC as f64)
    }
}

/// Starts the sampling task. It holds only a weak reference, so it stops
/// at the first tick after the API's state is dropped.
pub(crate) fn spawn(sampler: &Arc<Sampler>) {
    let weak: Weak<Sampler> = Arc::downgrade(sampler);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PERIOD);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(sampler) = weak.upgrade() else {
                return;
            };
            sampler.tick(Instant::now());
        }
    });
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use weir_hub::{ClientInfo, HubConfig, Role};
    use weir_media::{Codec, Frame, TrackKind};

    use super::*;

    /// A video frame at `dts` ms.
    fn video(dts: i64, len: usize) -> Frame {
        Frame {
            kind: TrackKind::Video,
            codec: Codec::H264,
            dts_us: dts * 1000,
            cts_us: 0,
            key: dts == 0,
            config: false,
            data: Bytes::from(vec![0u8; len]),
        }
    }

    #[test]
    fn stream_and_client_rates_follow_the_counters() {
        let hub = Hub::new(HubConfig::default());
        let key = StreamKey::new("live", "r").unwrap();
        let client = hub.clients().register(ClientInfo {
            protocol: "rtmp",
            addr: ([127, 0, 0, 1], 9).into(),
            role: Some(Role::Publish),
        });
        // The open gate answers at once.
        let admission = futures_util::FutureExt::now_or_never(hub.admit(
            &client,
            weir_hub::Action::Publish,
            &key,
            "",
        ))
        .unwrap()
        .unwrap();
        let mut publisher = hub.publish(&admission).unwrap();
        let sampler = Sampler::new(hub.clone());
        let t0 = Instant::now();
        for second in 0..5u64 {
            // 30 frames of 1000 bytes per second: 240 kbit/s, 30 fps.
            for n in 0..30 {
                publisher.send(video((second * 1000 + n * 33) as i64, 1000));
            }
            client.add_in(30_000);
            sampler.tick(t0 + Duration::from_secs(second));
        }
        let rates = sampler.stream(&key);
        assert_eq!(rates.bps, 240_000);
        assert_eq!(rates.video_bps, 240_000);
        assert_eq!(rates.fps, 30.0);
        assert_eq!(sampler.client(client.id()).in_bps, 240_000);
        assert_eq!(sampler.total().in_bps, 240_000);

        // The publisher leaves: the stream's ring is forgotten.
        drop(publisher);
        drop(client);
        sampler.tick(t0 + Duration::from_secs(5));
        assert_eq!(sampler.stream(&key), StreamRates::default());
        assert!(sampler.samples.lock().streams.is_empty());
        assert!(sampler.samples.lock().clients.is_empty());
    }

    /// The sampler's cost with 1000 connected clients, for the closing
    /// note: `cargo test -p weir-api --release -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement, not a check"]
    fn cost_of_a_tick_with_1000_clients() {
        let hub = Hub::new(HubConfig::default());
        let key = StreamKey::new("live", "c").unwrap();
        let handles: Vec<_> = (0..1000u16)
            .map(|i| {
                let c = hub.clients().register(ClientInfo {
                    protocol: if i % 2 == 0 { "rtmp" } else { "http-flv" },
                    addr: ([127, 0, 0, 1], 10_000 + i).into(),
                    role: Some(Role::Play),
                });
                c.set_stream(key.clone(), Role::Play);
                c
            })
            .collect();
        let sampler = Sampler::new(hub.clone());
        let t0 = Instant::now();
        let rounds = 200u32;
        let start = Instant::now();
        for i in 0..rounds {
            for h in &handles {
                h.add_out(1000);
            }
            sampler.tick(t0 + Duration::from_secs(u64::from(i)));
        }
        let per_tick = start.elapsed() / rounds;
        println!(
            "sampler tick with {} clients: {per_tick:?} (once per second: {:.3}% of one core)",
            handles.len(),
            per_tick.as_secs_f64() * 100.0
        );
    }

    #[test]
    fn ring_rate_is_difference_over_its_span() {
        let t = Instant::now();
        let mut r = Ring::<1>::default();
        assert_eq!(r.per_sec(0), None);
        r.push(t, [0]);
        assert_eq!(r.per_sec(0), None);
        for i in 1..=20u64 {
            r.push(t + Duration::from_secs(i), [i * 1000]);
        }
        assert_eq!(r.samples.len(), RING);
        assert_eq!(r.per_sec(0), Some(1000.0));
        // A counter reset (new publisher) reads as no traffic, not as
        // an enormous rate.
        r.push(t + Duration::from_secs(21), [0]);
        assert_eq!(r.per_sec(0), Some(0.0));
    }
}
