//! A connection's sans-IO session and the bytes queued for its peer.
//!
//! The session's own messages (handshake, command answers, status) and the
//! shared media chunks a player writes go out on one byte stream, in the
//! order they were produced; [`Wire`] keeps that order in one queue.

use std::collections::VecDeque;

use bytes::Bytes;
use weir_rtmp::server::{ServerEvent, ServerOutput, ServerSession};

/// The session and the connection's outgoing queue.
pub(crate) struct Wire {
    pub(crate) session: ServerSession,
    /// Bytes to write, in order.
    pub(crate) out: Vec<Bytes>,
    /// Events met while moving the session's bytes in front of media.
    /// Events come from peer input, which the connection handles in full
    /// before anything else, so this stays empty; it keeps them in order
    /// if that ever changes.
    held: VecDeque<ServerEvent>,
}

impl Wire {
    pub(crate) fn new(session: ServerSession) -> Self {
        Wire {
            session,
            out: Vec::new(),
            held: VecDeque::new(),
        }
    }

    /// The session's next event; the bytes it queued before it are moved
    /// to the outgoing queue on the way.
    pub(crate) fn poll_event(&mut self) -> Option<ServerEvent> {
        if let Some(ev) = self.held.pop_front() {
            return Some(ev);
        }
        self.queue_session()
    }

    /// Queues shared media bytes, behind everything the session has said
    /// so far (a status that announces the media goes first).
    pub(crate) fn push_media(&mut self, bytes: Bytes) {
        while let Some(ev) = self.queue_session() {
            self.held.push_back(ev);
        }
        self.out.push(bytes);
    }

    /// Moves the session's bytes to the queue up to its next event.
    fn queue_session(&mut self) -> Option<ServerEvent> {
        loop {
            match self.session.poll_output()? {
                ServerOutput::Transmit(bytes) => self.out.push(bytes),
                ServerOutput::Event(ev) => return Some(ev),
            }
        }
    }
}
