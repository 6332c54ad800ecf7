//! Admissions for the hub's tests: the hub only publishes and subscribes
//! for clients its gate admitted, so the tests ask the (open) gate too.

#![allow(dead_code)] // each test binary uses part of it

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use weir_hub::{Action, Admission, Hub, HubError, Publisher, Subscription};
use weir_media::StreamKey;

/// An admission from a hub built without a gate, whose answer is ready at
/// once, so sync tests need no runtime.
pub fn admit(hub: &Hub, action: Action, key: &StreamKey) -> Admission {
    let addr = "127.0.0.1:1".parse().unwrap();
    let fut = pin!(hub.admit_new_client(addr, "test", action, key, ""));
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok((_client, admission))) => admission,
        Poll::Ready(Err(denied)) => panic!("the open gate refused: {denied}"),
        Poll::Pending => panic!("the open gate did not answer at once"),
    }
}

/// Publishes `key` as a newly admitted client.
pub fn publish(hub: &Hub, key: &StreamKey) -> Result<Publisher, HubError> {
    hub.publish(&admit(hub, Action::Publish, key))
}

/// Subscribes to `key` as a newly admitted player.
pub fn subscribe(hub: &Hub, key: &StreamKey) -> Subscription {
    hub.subscribe(&admit(hub, Action::Play, key))
}
