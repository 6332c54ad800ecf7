//! LL-HLS viewers (`--play-url http://HOST:PORT/{app}/{stream}/llhls.m3u8`),
//! behaving like hls.js in low-latency mode on one HTTP/1.1 keep-alive
//! connection each: load the playlist and the init segment, take the
//! newest part, then loop: a blocking reload for the part after the last
//! one received (`_HLS_msn`/`_HLS_part`, with `_HLS_skip=YES` when the
//! server offers `CAN-SKIP-UNTIL`), then GET every part it lists after
//! that one.
//!
//! Timing (measuring viewers, inside the window):
//! - *reload wait*: blocking reload sent → playlist received. At the live
//!   edge this is mostly the wait for the next part to be made.
//! - *part fetch*: this viewer's reload answered → the part's last byte.
//! - *part delivery delay*: the earliest instant **any** viewer of the run
//!   had a reload answer listing the part (the server answers held
//!   reloads the moment a part is made, so this is the tool's best view of
//!   the part's creation) → this viewer has the part's last byte. It adds
//!   the server's wake-up fan-out over all held reloads to the fetch.

mod http;
mod playlist;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use parking_lot::Mutex;

use self::http::{Client, HttpError};
use self::playlist::{PartPos, Playlist};
use crate::player::{state, Measure, Slot};
use crate::report::{Dist, LlhlsStats};

/// Wait after a `503` (weir's held-request bound; it says `Retry-After: 1`).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// A reload answered faster than this without a new part is followed by a
/// pause, so a server that does not block is not polled in a busy loop.
const NOT_BLOCKING: Duration = Duration::from_millis(10);
const NOT_BLOCKING_PAUSE: Duration = Duration::from_millis(50);

/// One part received by a measuring viewer.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    part: u64,
    answered: Instant,
    done: Instant,
}

/// What LL-HLS viewers share (part of [`Measure`]).
#[derive(Default)]
pub(crate) struct LlMeasure {
    /// Earliest reload answer listing each part, by every viewer.
    announced: Mutex<HashMap<u64, Instant>>,
    deliveries: Mutex<Vec<Delivery>>,
    reload_wait_us: Mutex<Vec<u64>>,
    // Counters over the window, all viewers.
    reloads: AtomicU64,
    delta_reloads: AtomicU64,
    playlist_bytes: AtomicU64,
    parts: AtomicU64,
    resyncs: AtomicU64,
    reconnects: AtomicU64,
}

impl LlMeasure {
    fn announce(&self, part: u64, at: Instant) {
        let mut map = self.announced.lock();
        let first = map.entry(part).or_insert(at);
        if at < *first {
            *first = at;
        }
    }

    /// The window's numbers; `window_s` and `viewers` scale the rates.
    pub(crate) fn stats(&self, window_s: f64, viewers: usize) -> LlhlsStats {
        let announced = self.announced.lock();
        let deliveries = std::mem::take(&mut *self.deliveries.lock());
        let us = |d: Duration| d.as_micros() as u64;
        let mut delay = Vec::with_capacity(deliveries.len());
        let mut fetch = Vec::with_capacity(deliveries.len());
        for d in &deliveries {
            let first = announced
                .get(&d.part)
                .map_or(d.answered, |&a| a.min(d.answered));
            delay.push(us(d.done.saturating_duration_since(first)));
            fetch.push(us(d.done.saturating_duration_since(d.answered)));
        }
        let per_viewer_s = window_s.max(1e-3) * viewers.max(1) as f64;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LlhlsStats {
            part_delay: Dist::from_us(delay),
            part_fetch: Dist::from_us(fetch),
            reload_wait: Dist::from_us(std::mem::take(&mut *self.reload_wait_us.lock())),
            reloads: load(&self.reloads),
            delta_reloads: load(&self.delta_reloads),
            parts: load(&self.parts),
            parts_per_viewer_s: load(&self.parts) as f64 / per_viewer_s,
            playlist_kbps_per_viewer: load(&self.playlist_bytes) as f64 * 8.0
                / per_viewer_s
                / 1000.0,
            resyncs: load(&self.resyncs),
            reconnects: load(&self.reconnects),
        }
    }
}

/// `http://HOST:PORT/{app}/{stream}/llhls.m3u8[?query]` split for requests.
#[derive(Debug, Clone)]
pub(crate) struct LlTarget {
    /// `host:port`, also the Host header.
    pub(crate) authority: String,
    /// The playlist path, without the query.
    pub(crate) playlist: String,
    /// The play URL's query (access tokens), kept on playlist requests.
    pub(crate) query: Option<String>,
}

impl LlTarget {
    /// Whether an `http://` path (with query) names an LL-HLS playlist.
    pub(crate) fn matches(path: &str) -> bool {
        path.split('?')
            .next()
            .is_some_and(|p| p.ends_with("/llhls.m3u8"))
    }

    pub(crate) fn new(authority: String, path: &str) -> LlTarget {
        let (playlist, query) = match path.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned()).filter(|q| !q.is_empty())),
            None => (path.to_owned(), None),
        };
        LlTarget {
            authority,
            playlist,
            query,
        }
    }

    /// A URI from the playlist, as a request path (relative to the
    /// playlist's directory unless absolute).
    fn resolve(&self, uri: &str) -> String {
        if uri.starts_with('/') {
            return uri.to_owned();
        }
        let dir = self
            .playlist
            .rfind('/')
            .map_or("/", |i| &self.playlist[..=i]);
        format!("{dir}{uri}")
    }

    /// The blocking reload for `want`.
    fn reload(&self, want: PartPos, skip: bool) -> String {
        let mut path = self.playlist.clone();
        path.push('?');
        if let Some(q) = &self.query {
            path.push_str(q);
            path.push('&');
        }
        path.push_str(&format!("_HLS_msn={}&_HLS_part={}", want.0, want.1));
        if skip {
            path.push_str("&_HLS_skip=YES");
        }
        path
    }

    fn first(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.playlist),
            None => self.playlist.clone(),
        }
    }
}

fn part_key(uri: &str) -> u64 {
    let mut h = DefaultHasher::new();
    uri.hash(&mut h);
    h.finish()
}

/// Runs one viewer until it fails; the outcome is in `slot`.
pub(crate) async fn run(target: &LlTarget, measuring: bool, slot: &Slot, m: &Measure) {
    let mut client = Client::new(&target.authority);
    let result = play(target, measuring, slot, m, &mut client).await;
    m.llhls
        .reconnects
        .fetch_add(client.reconnects, Ordering::Relaxed);
    if let Err(e) = result {
        slot.state.store(state::FAILED, Ordering::Relaxed);
        note(m, format!("{e:#}"));
    }
}

fn note(m: &Measure, mut text: String) {
    text.truncate(120);
    *m.errors.lock().entry(text).or_default() += 1;
}

/// GETs a playlist, retrying after `503`s (held-request bound reached).
async fn playlist(client: &mut Client, path: &str, m: &Measure) -> anyhow::Result<(Playlist, u64)> {
    loop {
        match client.get(path, true).await {
            Ok(a) => {
                let text = std::str::from_utf8(&a.body).context("playlist is not UTF-8")?;
                let p = Playlist::parse(text).context("not an m3u8 playlist")?;
                return Ok((p, a.len));
            }
            Err(HttpError::Status(503)) => {
                note(m, "llhls: playlist answered 503, retried".into());
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Err(e) => return Err(e).with_context(|| format!("GET {path}")),
        }
    }
}

async fn play(
    t: &LlTarget,
    measuring: bool,
    slot: &Slot,
    m: &Measure,
    client: &mut Client,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let ll = &m.llhls;
    let (mut pl, _) = playlist(client, &t.first(), m).await?;
    let mut map = pl.map_uri.clone();
    if let Some(uri) = &map {
        let a = client.get(&t.resolve(uri), false).await.context("init")?;
        slot.bytes.fetch_add(a.len, Ordering::Relaxed);
    }
    let (mut last, first) = pl
        .last_part()
        .map(|(pos, p)| (pos, p.uri.clone()))
        .context("the playlist lists no part")?;
    let a = client
        .get(&t.resolve(&first), false)
        .await
        .context("part")?;
    slot.bytes.fetch_add(a.len, Ordering::Relaxed);
    slot.state.store(state::PLAYING, Ordering::Relaxed);
    if measuring {
        m.first_frame_us
            .lock()
            .push(started.elapsed().as_micros() as u64);
    }
    loop {
        let want = pl.next_wanted(last);
        let path = t.reload(want, pl.can_skip_until.is_some());
        let sent = Instant::now();
        let (next, len) = playlist(client, &path, m).await?;
        let answered = Instant::now();
        let window = m.window_open.load(Ordering::Relaxed);
        if window {
            ll.reloads.fetch_add(1, Ordering::Relaxed);
            ll.playlist_bytes.fetch_add(len, Ordering::Relaxed);
            if next.skipped > 0 {
                ll.delta_reloads.fetch_add(1, Ordering::Relaxed);
            }
            if measuring {
                ll.reload_wait_us
                    .lock()
                    .push((answered - sent).as_micros() as u64);
            }
        }
        anyhow::ensure!(!next.ended, "the stream ended (EXT-X-ENDLIST)");
        pl = next;
        if pl.map_uri.is_some() && pl.map_uri != map {
            map = pl.map_uri.clone();
            if let Some(uri) = &map {
                let a = client.get(&t.resolve(uri), false).await.context("init")?;
                slot.bytes.fetch_add(a.len, Ordering::Relaxed);
            }
        }
        let new: Vec<(PartPos, String)> = match pl.parts_after(last) {
            Some(parts) => parts
                .into_iter()
                .map(|(pos, p)| (pos, p.uri.clone()))
                .collect(),
            None => {
                // Fell out of the listed parts (or the server renumbered):
                // start again at the newest, like a player seeking to live.
                if window {
                    ll.resyncs.fetch_add(1, Ordering::Relaxed);
                }
                pl.last_part()
                    .map(|(pos, p)| (pos, p.uri.clone()))
                    .into_iter()
                    .collect()
            }
        };
        if new.is_empty() && answered - sent < NOT_BLOCKING {
            tokio::time::sleep(NOT_BLOCKING_PAUSE).await;
        }
        for (pos, uri) in new {
            let key = part_key(&uri);
            ll.announce(key, answered);
            last = pos;
            match client.get(&t.resolve(&uri), false).await {
                Ok(a) => {
                    let done = Instant::now();
                    slot.bytes.fetch_add(a.len, Ordering::Relaxed);
                    if window {
                        ll.parts.fetch_add(1, Ordering::Relaxed);
                        if measuring {
                            ll.deliveries.lock().push(Delivery {
                                part: key,
                                answered,
                                done,
                            });
                        }
                    }
                }
                // Listed but gone or refused: skip it, as a player would.
                Err(HttpError::Status(code)) => {
                    note(m, format!("llhls: part answered {code}, skipped"));
                }
                Err(e) => return Err(e).context("part"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_request_paths() {
        assert!(LlTarget::matches("/live/b/llhls.m3u8"));
        assert!(LlTarget::matches("/live/b/llhls.m3u8?token=1"));
        assert!(!LlTarget::matches("/live/b.m3u8"));
        assert!(!LlTarget::matches("/live/b.flv?x=/llhls.m3u8"));
        let t = LlTarget::new("h:1".into(), "/live/b/llhls.m3u8");
        assert_eq!(t.first(), "/live/b/llhls.m3u8");
        assert_eq!(t.resolve("a-p3.m4s"), "/live/b/a-p3.m4s");
        assert_eq!(t.resolve("/x/y.m4s"), "/x/y.m4s");
        assert_eq!(
            t.reload((12, 3), true),
            "/live/b/llhls.m3u8?_HLS_msn=12&_HLS_part=3&_HLS_skip=YES"
        );
        let t = LlTarget::new("h:1".into(), "/live/b/llhls.m3u8?token=k");
        assert_eq!(t.first(), "/live/b/llhls.m3u8?token=k");
        assert_eq!(
            t.reload((1, 0), false),
            "/live/b/llhls.m3u8?token=k&_HLS_msn=1&_HLS_part=0"
        );
    }

    #[test]
    fn delay_counts_from_the_earliest_announce() {
        let m = LlMeasure::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Another viewer learned of part 1 at t0; this one 30 ms later.
        m.announce(1, t0 + ms(30));
        m.announce(1, t0);
        m.announce(1, t0 + ms(50));
        m.deliveries.lock().push(Delivery {
            part: 1,
            answered: t0 + ms(30),
            done: t0 + ms(40),
        });
        // Part 2: only this viewer's answer.
        m.deliveries.lock().push(Delivery {
            part: 2,
            answered: t0 + ms(100),
            done: t0 + ms(105),
        });
        m.reloads.store(10, Ordering::Relaxed);
        m.parts.store(10, Ordering::Relaxed);
        m.playlist_bytes.store(2500, Ordering::Relaxed);
        let s = m.stats(2.0, 5);
        assert_eq!(s.part_delay.samples, 2);
        assert_eq!(s.part_delay.max_ms, Some(40.0));
        assert_eq!(s.part_delay.p50_ms, Some(5.0));
        assert_eq!(s.part_fetch.max_ms, Some(10.0));
        assert_eq!(s.parts_per_viewer_s, 1.0);
        assert_eq!(s.playlist_kbps_per_viewer, 2.0);
    }
}
