//! Bounds on the phases of an HTTP connection in which the server waits
//! for the client: a request body that is declared and never sent must not
//! hold its connection forever, and one address must not hold many
//! connections that are doing nothing.
//!
//! Each phase has a deadline: the request head (and, after a response,
//! the idle keep-alive wait for the next head) is hyper's
//! `header_read_timeout`; a request body gets [`Deadline`]
//! (`body_timeout`, from the moment its head was read); a WebSocket
//! handshake is its upgrade request's head. Deadlines alone leave one host
//! able to open connections faster than they expire, so each address may
//! also hold only so many connections *waiting* ([`Waiting`]): those still
//! sending a request (head or body) and those idle between requests.
//! Connections serving a response — a live stream, a WebSocket — are not
//! waiting and never count, so viewers behind one CGNAT address are not
//! limited by how many of them watch.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use weir_hub::{Clients, ConnLimitHit, ConnLimits, ConnSlot};

use crate::error::Error;

/// The per-address caps on waiting connections of one listener.
#[derive(Clone)]
pub(crate) struct WaitLimits {
    /// Connections sending a request: refused (429) when full.
    incomplete: ConnLimits,
    /// Connections idle between requests: the one going idle is closed
    /// when full, which costs a well-behaved client only a reconnect.
    idle: ConnLimits,
}

impl WaitLimits {
    /// At most `per_ip` connections of one address in each waiting state
    /// (0 = no limit).
    pub(crate) fn new(per_ip: usize) -> Self {
        WaitLimits {
            incomplete: ConnLimits::new(usize::MAX, per_ip),
            idle: ConnLimits::new(usize::MAX, per_ip),
        }
    }

    /// A new connection from `ip`, waiting for its first request; `Err`
    /// when the address already has its share of incomplete requests.
    pub(crate) fn start(&self, ip: IpAddr) -> Result<Waiting, ConnLimitHit> {
        let slot = self.incomplete.try_acquire(ip)?;
        Ok(Waiting {
            limits: self.clone(),
            ip,
            slot: Mutex::new(Some(slot)),
            over: Notify::new(),
        })
    }
}

/// One connection's waiting state: which cap it counts against, if any.
pub(crate) struct Waiting {
    limits: WaitLimits,
    ip: IpAddr,
    slot: Mutex<Option<ConnSlot>>,
    /// Told when the connection went idle over its address's cap: the
    /// connection closes instead of waiting for another request.
    over: Notify,
}

impl Waiting {
    /// A request head arrived: its body (if any) is still to come, so the
    /// connection counts as incomplete again. Over the cap it goes
    /// uncounted: the head is in, and the body has its deadline.
    pub(crate) fn request(&self) {
        let mut slot = self.slot.lock();
        *slot = None;
        *slot = self.limits.incomplete.try_acquire(self.ip).ok();
    }

    /// The response is on its way (through hyper, or HTTP-FLV on the
    /// socket): the connection is busy serving, not waiting.
    pub(crate) fn answered(&self) {
        *self.slot.lock() = None;
    }

    /// The response ended: the connection waits for the next request,
    /// unless its address already has its share of idle connections.
    pub(crate) fn idle(&self) {
        match self.limits.idle.try_acquire(self.ip) {
            Ok(slot) => *self.slot.lock() = Some(slot),
            Err(_) => self.over.notify_one(),
        }
    }

    /// Waits until the connection should close for being idle over the
    /// cap.
    pub(crate) async fn over_cap(&self) {
        self.over.notified().await
    }
}

/// A request body that must arrive in full by a deadline; after it, the
/// next read fails (the handler answers 400 and hyper closes the
/// connection, whose unread body cannot be skipped).
pub(crate) struct Deadline {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    /// Counts the timeout once, under `http`/`body_timeout`.
    report: Option<(Clients, IpAddr)>,
}

impl Deadline {
    /// `inner` must be complete by `deadline`; a request without a body
    /// needs no timer.
    pub(crate) fn wrap(inner: Incoming, deadline: Instant, clients: Clients, ip: IpAddr) -> Body {
        if inner.is_end_stream() {
            return Body::new(inner);
        }
        Body::new(Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            report: Some((clients, ip)),
        })
    }
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Error::Body)));
        }
        if this.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some((clients, ip)) = this.report.take() {
            if clients.report("http", "body_timeout", ip) {
                tracing::warn!(peer = %ip, kind = "body_timeout", "http request body not sent in time (logged once a minute per peer)");
            }
        }
        Poll::Ready(Some(Err(Error::BodyTimeout)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that marks its connection idle once it is over (sent
/// in full, or dropped when the client left).
pub(crate) struct OnEnd {
    inner: Body,
    waiting: std::sync::Arc<Waiting>,
}

impl OnEnd {
    /// `inner`, marking `waiting` idle when it is over.
    pub(crate) fn wrap(inner: Body, waiting: std::sync::Arc<Waiting>) -> Body {
        Body::new(OnEnd { inner, waiting })
    }
}

impl Drop for OnEnd {
    fn drop(&mut self) {
        self.waiting.idle();
    }
}

impl hyper::body::Body for OnEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn only_waiting_connections_count() {
        let limits = WaitLimits::new(1);
        let first = Arc::new(limits.start(IP).unwrap());
        assert!(limits.start(IP).is_err(), "one incomplete request already");
        // Serving a response: no longer waiting, so another may connect.
        first.answered();
        let second = Arc::new(limits.start(IP).unwrap());
        // Both responses end: the first goes idle, the second is over the
        // idle cap and told to close.
        second.answered();
        first.idle();
        second.idle();
        tokio::time::timeout(Duration::from_secs(1), second.over_cap())
            .await
            .expect("the second idle connection must close");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), first.over_cap())
                .await
                .is_err(),
            "the first may stay"
        );
        // A new request on the idle one counts as incomplete again.
        first.request();
        assert!(limits.start(IP).is_err());
        drop(first);
        assert!(
            limits.start(IP).is_ok(),
            "a closed connection frees its place"
        );
    }
}
