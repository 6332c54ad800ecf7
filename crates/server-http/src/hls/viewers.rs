//! HLS viewers in the hub's client registry.
//!
//! HLS has no connection per viewer: a player polls the playlist and
//! fetches segments, possibly over several connections. A viewer is
//! therefore identified by the stream, its IP address and its User-Agent,
//! registered with its first request and unregistered once it has asked
//! for nothing for a few segment durations. The map is capped so that a
//! client inventing User-Agents cannot grow it without bound; viewers past
//! the cap are served but not listed.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::http::{header, HeaderMap};
use axum::response::Response;
use parking_lot::Mutex;
use tokio::time::Instant;
use weir_hub::Hub;
use weir_media::StreamKey;

use crate::access::{admit, Admitted};

/// Most HLS viewers listed at once.
const MAX_VIEWERS: usize = 10_000;
/// Sweeps for expired viewers at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Who a request comes from: stream, IP, hash of the User-Agent.
type ViewerId = (StreamKey, IpAddr, u64);

struct Listed {
    /// Registry entry and access admission (dropped when the viewer
    /// expires, which sends `on_stop`).
    admitted: Admitted,
    last: Instant,
}

struct Map {
    viewers: HashMap<ViewerId, Listed>,
    last_sweep: Instant,
}

/// The HLS viewers of the server.
pub(super) struct Viewers {
    hub: Hub,
    /// A viewer that asked for nothing for this long has left.
    expiry: Duration,
    map: Mutex<Map>,
}

impl Viewers {
    pub(super) fn new(hub: Hub, expiry: Duration) -> Self {
        Viewers {
            hub,
            expiry,
            map: Mutex::new(Map {
                viewers: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    fn id(key: &StreamKey, peer: SocketAddr, req: &HeaderMap) -> ViewerId {
        let mut ua = DefaultHasher::new();
        req.get(header::USER_AGENT)
            .map(|v| v.as_bytes())
            .unwrap_or_default()
            .hash(&mut ua);
        (key.clone(), peer.ip(), ua.finish())
    }

    /// Lets a request of `key` from `peer` through: at once for a viewer
    /// already listed, else after the hub's access check (with the
    /// request's query), listing the viewer under `protocol` (`hls` or
    /// `llhls`). The 403 response if refused.
    /// A playlist refresh or segment fetch of an admitted viewer costs no
    /// new check (and no callback); a segment asked by somebody who never
    /// got the playlist is checked like a playlist request.
    pub(super) async fn admit(
        &self,
        key: &StreamKey,
        peer: SocketAddr,
        req: &HeaderMap,
        query: Option<&str>,
        protocol: &'static str,
    ) -> Result<(), Response> {
        let id = Self::id(key, peer, req);
        {
            let mut map = self.map.lock();
            let now = Instant::now();
            if now.duration_since(map.last_sweep) >= SWEEP_EVERY {
                self.sweep_locked(&mut map, now);
            }
            if map.viewers.contains_key(&id) {
                return Ok(());
            }
        }
        let admitted = admit(&self.hub, key, peer, protocol, query).await?;
        let mut map = self.map.lock();
        if map.viewers.len() < MAX_VIEWERS {
            map.viewers.entry(id).or_insert(Listed {
                admitted,
                last: Instant::now(),
            });
        }
        Ok(())
    }

    /// Counts the `bytes` of a response to a listed viewer's request.
    pub(super) fn record(&self, key: &StreamKey, peer: SocketAddr, req: &HeaderMap, bytes: u64) {
        let id = Self::id(key, peer, req);
        if let Some(v) = self.map.lock().viewers.get_mut(&id) {
            v.last = Instant::now();
            v.admitted.client.add_out(bytes);
        }
    }

    /// Unregisters viewers that have been quiet for longer than the expiry.
    pub(super) fn sweep(&self) {
        let now = Instant::now();
        let mut map = self.map.lock();
        if now.duration_since(map.last_sweep) >= SWEEP_EVERY {
            self.sweep_locked(&mut map, now);
        }
    }

    fn sweep_locked(&self, map: &mut Map, now: Instant) {
        map.last_sweep = now;
        let expiry = self.expiry;
        // Dropping a handle unregisters the client.
        map.viewers
            .retain(|_, v| now.duration_since(v.last) < expiry);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().viewers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[tokio::test(start_paused = true)]
    async fn viewers_are_listed_counted_and_expire() {
        let hub = Hub::new(weir_hub::HubConfig::default());
        let viewers = Viewers::new(hub.clone(), Duration::from_secs(6));
        let key = StreamKey::new("live", "cam").unwrap();
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut req = HeaderMap::new();
        req.insert(header::USER_AGENT, HeaderValue::from_static("a"));
        viewers.admit(&key, peer, &req, None, "hls").await.unwrap();
        viewers.record(&key, peer, &req, 100);
        // Another connection of the same player is the same viewer.
        let other_port = "10.0.0.1:5001".parse().unwrap();
        viewers
            .admit(&key, other_port, &req, None, "hls")
            .await
            .unwrap();
        viewers.record(&key, other_port, &req, 50);
        let list = hub.clients().list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].protocol, "hls");
        assert_eq!(list[0].bytes_out, 150);
        req.insert(header::USER_AGENT, HeaderValue::from_static("b"));
        viewers.admit(&key, peer, &req, None, "hls").await.unwrap();
        viewers.record(&key, peer, &req, 1);
        assert_eq!(viewers.len(), 2);
        tokio::time::advance(Duration::from_secs(7)).await;
        viewers.sweep();
        assert_eq!(viewers.len(), 0);
        assert_eq!(hub.clients().count(), 0);
    }
}
