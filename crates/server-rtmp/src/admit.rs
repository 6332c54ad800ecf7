//! Publish and play requests go through the hub's access check
//! ([`weir_hub::Hub::admit`]) before they start.
//!
//! The check may call the user's web application, so it is asynchronous
//! while the session's events are handled synchronously: the event only
//! records a [`PendingStart`] and stops the draining of further events, and
//! the connection loop then awaits the verdict ([`Conn::process`]) before
//! it reads anything else. A refused client gets an error status and the
//! connection is closed, like nginx-rtmp and SRS do.

use weir_hub::{AccessRequest, Action, Admission};
use weir_media::StreamKey;

use crate::conn::{Conn, End, Mode};

/// A publish or play command waiting for its verdict.
#[derive(Debug)]
pub(crate) struct PendingStart {
    pub(crate) action: Action,
    pub(crate) stream_id: u32,
    /// The stream name, without the query string.
    pub(crate) name: String,
    /// The query string the client appended to the stream name.
    pub(crate) query: String,
}

/// Splits `"live?a=1&b=2"` into the app name and the query (without `?`).
/// (The session already splits the stream name's query off.)
pub(crate) fn split_query(s: &str) -> (&str, &str) {
    s.split_once('?').unwrap_or((s, ""))
}

/// The query of the stream name, and of the app (`rtmp://h/live?token=x/cam`
/// puts it there), joined.
fn join_queries(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}&{b}"),
    }
}

impl Conn {
    /// Handles every queued session event, awaiting the access check of
    /// each publish or play command on the way.
    pub(crate) async fn process(&mut self) -> Result<(), End> {
        loop {
            self.drain_session()?;
            let Some(pending) = self.pending.take() else {
                return Ok(());
            };
            self.admit_and_start(pending).await?;
        }
    }

    fn reject(&mut self, action: Action, stream_id: u32, code: &str, description: &str) {
        match action {
            Action::Publish => self.session.reject_publish(
                stream_id,
                &format!("NetStream.Publish.{code}"),
                description,
            ),
            Action::Play => {
                self.session
                    .reject_play(stream_id, &format!("NetStream.Play.{code}"), description)
            }
        }
    }

    async fn admit_and_start(&mut self, p: PendingStart) -> Result<(), End> {
        let (action, stream_id) = (p.action, p.stream_id);
        if !matches!(self.mode, Mode::Idle) {
            let code = match action {
                Action::Publish => "BadConnection",
                Action::Play => "Failed",
            };
            self.reject(
                action,
                stream_id,
                code,
                "this connection is already publishing or playing",
            );
            return Ok(());
        }
        let Some(key) = self.key_for(&p.name) else {
            let code = match action {
                Action::Publish => "BadName",
                Action::Play => "StreamNotFound",
            };
            self.reject(
                action,
                stream_id,
                code,
                "invalid app or stream name: use [A-Za-z0-9._~-]",
            );
            return Ok(());
        };
        let req = AccessRequest {
            action,
            key: key.clone(),
            client_id: self.client.id(),
            addr: self.peer,
            protocol: self.protocol,
            query: join_queries(&self.app_query, &p.query),
        };
        let verdict = tokio::select! {
            v = self.shared.hub.admit(req) => v,
            _ = self.shared.shutdown.cancelled() => return Err(End::Shutdown),
        };
        match verdict {
            Ok(admission) => {
                self.start(action, stream_id, key, admission);
                Ok(())
            }
            Err(denied) => {
                // BadName is what nginx-rtmp and SRS answer a refused
                // publisher, and what encoders show as "check your key".
                let code = match action {
                    Action::Publish => "BadName",
                    Action::Play => "Failed",
                };
                self.reject(action, stream_id, code, &format!("denied: {denied}"));
                Err(End::Denied(denied.reason))
            }
        }
    }

    fn start(&mut self, action: Action, stream_id: u32, key: StreamKey, admission: Admission) {
        match action {
            Action::Publish => self.start_publish(stream_id, key, admission),
            Action::Play => self.start_play(stream_id, key, admission),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_and_joined() {
        assert_eq!(split_query("live?t=1"), ("live", "t=1"));
        assert_eq!(split_query("live"), ("live", ""));
        assert_eq!(split_query("live?t=1?x"), ("live", "t=1?x"));
        assert_eq!(join_queries("", "a=1"), "a=1");
        assert_eq!(join_queries("t=2", ""), "t=2");
        assert_eq!(join_queries("t=2", "a=1"), "t=2&a=1");
    }
}
