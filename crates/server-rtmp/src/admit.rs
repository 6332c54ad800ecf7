//! Publish and play requests go through the hub's access check
//! ([`weir_hub::Hub::admit`]) before they start.
//!
//! The check may call the user's web application, so the connection loop
//! awaits it while handling the session's events ([`admit`]), before it
//! reads anything else. A refused client gets an error status and the
//! connection is closed, like nginx-rtmp and SRS do.

use weir_hub::{Action, Admission};
use weir_media::StreamKey;
use weir_rtmp::server::ServerSession;

use crate::conn::Peer;
use crate::end::End;
use crate::Shared;

/// A publish or play command.
#[derive(Debug)]
pub(crate) struct Start {
    pub(crate) action: Action,
    pub(crate) stream_id: u32,
    /// The stream name, without the query string.
    pub(crate) name: String,
    /// The query string the client appended to the stream name.
    pub(crate) query: String,
}

/// The application a client connected to.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) name: String,
    /// A query string the client appended to the app name
    /// (`rtmp://h/live?token=x/cam` puts it there).
    pub(crate) query: String,
}

/// The query of the stream name, and of the app, joined.
fn join_queries(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}&{b}"),
    }
}

fn reject(session: &mut ServerSession, start: &Start, code: &str, description: &str) {
    match start.action {
        Action::Publish => session.reject_publish(
            start.stream_id,
            &format!("NetStream.Publish.{code}"),
            description,
        ),
        Action::Play => session.reject_play(
            start.stream_id,
            &format!("NetStream.Play.{code}"),
            description,
        ),
    }
}

/// Refuses a publish or play on a connection that already publishes or
/// plays (`busy`): the client is told, the connection goes on. Returns
/// whether it refused.
pub(crate) fn refuse_busy(busy: bool, start: &Start, session: &mut ServerSession) -> bool {
    if busy {
        let code = match start.action {
            Action::Publish => "BadConnection",
            Action::Play => "Failed",
        };
        let why = "this connection is already publishing or playing";
        reject(session, start, code, why);
    }
    busy
}

/// Checks a publish or play command: `Ok(Some)` with the stream key and
/// the admission to keep for the session; `Ok(None)` if it was refused
/// but the connection goes on (`busy`: it already publishes or plays, or
/// an invalid name); `Err` if the gate denied it (the connection ends).
/// The client has been told in both refusals.
pub(crate) async fn admit(
    shared: &Shared,
    peer: &Peer,
    app: Option<&App>,
    busy: bool,
    start: &Start,
    session: &mut ServerSession,
) -> Result<Option<(StreamKey, Admission)>, End> {
    if refuse_busy(busy, start, session) {
        return Ok(None);
    }
    let Some(key) = app.and_then(|app| StreamKey::new(&app.name, &start.name).ok()) else {
        let code = match start.action {
            Action::Publish => "BadName",
            Action::Play => "StreamNotFound",
        };
        let why = "invalid app or stream name: use [A-Za-z0-9._~-]";
        reject(session, start, code, why);
        return Ok(None);
    };
    let admission = gate(shared, peer, &key, &query_of(app, start), start, session).await?;
    Ok(Some((key, admission)))
}

/// The query strings of the app and of the stream name, joined: where a
/// client's key or signature may be.
pub(crate) fn query_of(app: Option<&App>, start: &Start) -> String {
    join_queries(app.map_or("", |a| &a.query), &start.query)
}

/// The hub's access check of `start` as `key`: the admission, or `Err`
/// when it was denied (the client has been told; the connection ends).
pub(crate) async fn gate(
    shared: &Shared,
    peer: &Peer,
    key: &StreamKey,
    query: &str,
    start: &Start,
    session: &mut ServerSession,
) -> Result<Admission, End> {
    let action = start.action;
    let verdict = tokio::select! {
        v = shared.hub.admit(&peer.client, action, key, query) => v,
        _ = shared.shutdown.cancelled() => return Err(End::Shutdown),
    };
    verdict.map_err(|denied| {
        // BadName is what nginx-rtmp and SRS answer a refused
        // publisher, and what encoders show as "check your key".
        let code = match action {
            Action::Publish => "BadName",
            Action::Play => "Failed",
        };
        reject(session, start, code, &format!("denied: {denied}"));
        End::Denied(denied.reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_joined() {
        assert_eq!(join_queries("", "a=1"), "a=1");
        assert_eq!(join_queries("t=2", ""), "t=2");
        assert_eq!(join_queries("t=2", "a=1"), "t=2&a=1");
    }
}
