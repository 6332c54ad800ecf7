//! RTMPT: RTMP tunnelled through HTTP POST requests, the rules without the
//! IO.
//!
//! A client first POSTs `/open/1` and gets a session id (the body, ending
//! in a newline). From then on it POSTs `/send/{id}/{seq}` with RTMP bytes
//! as the body, `/idle/{id}/{seq}` (a one-byte body) when it has nothing
//! to send, and `/close/{id}/{seq}` at the end. Every answer after the
//! open is one *polling-interval byte* followed by whatever RTMP bytes the
//! server has for the client. Flash also POSTs `/fcs/ident2` before the
//! open, to learn whether the server is an FCS; it needs no session.
//!
//! What lives here: parsing the request path ([`parse_path`]), the
//! sequence-number rule ([`Sequence`]), the interval byte's back-off
//! ([`Interval`]) and how a client turns that byte into a wait
//! ([`poll_delay`]), and the session id's spelling ([`session_id`], with
//! the randomness passed in). The HTTP server and client do the IO.

use std::time::Duration;

use crate::error::RtmptError;

/// `Content-Type` of every RTMPT request and answer.
pub const CONTENT_TYPE: &str = "application/x-fcs";

/// Longest session id accepted. ffmpeg keeps the id in a 64-byte buffer
/// (newline and terminator included), so ids stay well below that.
pub const MAX_SESSION_ID_LEN: usize = 32;

/// The interval byte when data flowed in the last exchange: poll again at
/// once.
pub const INTERVAL_BUSY: u8 = 0x01;

/// The largest interval byte: what an idle session's polls grow to.
pub const INTERVAL_MAX: u8 = 0x21;

/// What an RTMPT request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `/fcs/ident2`: Flash's probe for an FCS, before `open`.
    Ident,
    /// `/open/1`: start a session.
    Open,
    /// `/send/{id}/{seq}`: RTMP bytes from the client.
    Send,
    /// `/idle/{id}/{seq}`: a poll for the server's bytes.
    Idle,
    /// `/close/{id}/{seq}`: the end of the session.
    Close,
}

/// A parsed request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// What the request asks for.
    pub command: Command,
    /// The session id; empty for [`Command::Ident`] and [`Command::Open`].
    pub session: &'a str,
    /// The sequence number; 0 for [`Command::Ident`] and [`Command::Open`].
    pub seq: u64,
}

/// Parses an RTMPT request path (without a query). A trailing slash is
/// tolerated; anything else unexpected is an error.
pub fn parse_path(path: &str) -> Result<Request<'_>, RtmptError> {
    let bad = || RtmptError::Path(truncated(path));
    let rest = path.strip_prefix('/').ok_or_else(bad)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut parts = rest.split('/');
    let (first, second, third) = (parts.next(), parts.next(), parts.next());
    if parts.next().is_some() {
        return Err(bad());
    }
    let fixed = |command| {
        Ok(Request {
            command,
            session: "",
            seq: 0,
        })
    };
    let command = match (first, second, third) {
        (Some("fcs"), Some("ident2"), None) => return fixed(Command::Ident),
        (Some("open"), Some("1"), None) => return fixed(Command::Open),
        (Some("send"), Some(_), Some(_)) => Command::Send,
        (Some("idle"), Some(_), Some(_)) => Command::Idle,
        (Some("close"), Some(_), Some(_)) => Command::Close,
        _ => return Err(bad()),
    };
    let (session, seq) = (second.unwrap_or(""), third.unwrap_or(""));
    check_session_id(session)?;
    Ok(Request {
        command,
        session,
        seq: parse_seq(seq)?,
    })
}

/// A session id as a client sends it back: 1 to [`MAX_SESSION_ID_LEN`]
/// ASCII letters and digits.
pub fn check_session_id(id: &str) -> Result<(), RtmptError> {
    if id.is_empty()
        || id.len() > MAX_SESSION_ID_LEN
        || !id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(RtmptError::SessionId(truncated(id)));
    }
    Ok(())
}

/// A decimal sequence number (at most 19 digits, so it fits a `u64`).
fn parse_seq(seq: &str) -> Result<u64, RtmptError> {
    if seq.is_empty() || seq.len() > 19 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RtmptError::SeqSyntax(truncated(seq)));
    }
    seq.parse()
        .map_err(|_| RtmptError::SeqSyntax(truncated(seq)))
}

/// At most 64 characters of peer text, for an error message.
fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A session id from 64 random bits: 16 lowercase hex digits, short
/// enough for every client's buffer and too many to guess.
pub fn session_id(random: u64) -> String {
    format!("{random:016x}")
}

/// The sequence-number rule of one session.
///
/// Clients number every request after the open upwards by one (ffmpeg
/// from 0, librtmp from 2, as its open was 1), one request at a time or
/// pipelined on one connection, so they arrive in order. A number that is
/// not above the last accepted one is a replayed or reordered request:
/// its body must not reach the RTMP stream (the bytes would be fed twice
/// or out of order), so it is refused and the session stays as it was.
/// Gaps are allowed: a client whose request failed may skip a number.
#[derive(Debug, Clone, Default)]
pub struct Sequence {
    last: Option<u64>,
}

impl Sequence {
    /// Accepts `seq` if it is above the last accepted one (any number is
    /// accepted first).
    pub fn accept(&mut self, seq: u64) -> Result<(), RtmptError> {
        match self.last {
            Some(last) if seq <= last => Err(RtmptError::SeqOrder { got: seq, last }),
            _ => {
                self.last = Some(seq);
                Ok(())
            }
        }
    }
}

/// The polling-interval byte of one session, backing off while nothing
/// flows.
///
/// Flash reads the byte as how long to wait before its next idle poll,
/// in growing steps: [`INTERVAL_BUSY`] after an exchange that carried
/// data either way, then a step larger for every answer in a row that
/// carried none, up to [`INTERVAL_MAX`] (eight empty answers). A busy
/// stream polls at once; a quiet one slows down to a few polls a second.
#[derive(Debug, Clone, Default)]
pub struct Interval {
    empty: u8,
}

/// How much the byte grows per empty answer.
const INTERVAL_STEP: u8 = 4;

impl Interval {
    /// The byte for an answer; `data` says whether this exchange moved
    /// RTMP bytes (in the request or in the answer).
    pub fn next(&mut self, data: bool) -> u8 {
        if data {
            self.empty = 0;
            return INTERVAL_BUSY;
        }
        let max_steps = (INTERVAL_MAX - INTERVAL_BUSY) / INTERVAL_STEP;
        self.empty = (self.empty + 1).min(max_steps);
        INTERVAL_BUSY + self.empty * INTERVAL_STEP
    }
}

/// How long a client waits before its next idle poll after an answer
/// with this interval byte: nothing for [`INTERVAL_BUSY`] (or 0), then
/// 8 ms per step above it, so [`INTERVAL_MAX`] waits 256 ms. A client
/// with bytes to send sends them at once whatever the byte says.
pub fn poll_delay(interval: u8) -> Duration {
    let steps = u64::from(interval.min(INTERVAL_MAX).saturating_sub(INTERVAL_BUSY));
    Duration::from_millis(steps * 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = parse_path("/send/abc123/7").unwrap();
        assert_eq!(
            p,
            Request {
                command: Command::Send,
                session: "abc123",
                seq: 7
            }
        );
        assert_eq!(parse_path("/idle/a/0").unwrap().command, Command::Idle);
        assert_eq!(parse_path("/close/a/9/").unwrap().command, Command::Close);
        assert_eq!(parse_path("/open/1").unwrap().command, Command::Open);
        assert_eq!(parse_path("/fcs/ident2").unwrap().command, Command::Ident);
        for bad in [
            "",
            "/",
            "open/1",
            "/open/2",
            "/send/a",
            "/send//1",
            "/send/a/",
            "/send/a/b",
            "/send/a/-1",
            "/send/a/1/2",
            "/send/a%20b/1",
            "/send/a/99999999999999999999",
            "/poll/a/1",
        ] {
            assert!(parse_path(bad).is_err(), "{bad:?}");
        }
        let long = format!("/send/{}/1", "a".repeat(MAX_SESSION_ID_LEN + 1));
        assert!(matches!(parse_path(&long), Err(RtmptError::SessionId(_))));
    }

    #[test]
    fn session_ids_are_valid_ids() {
        for r in [0, 1, u64::MAX, 0xdead_beef] {
            let id = session_id(r);
            assert_eq!(id.len(), 16);
            check_session_id(&id).unwrap();
        }
    }

    #[test]
    fn sequence_numbers_go_up() {
        let mut s = Sequence::default();
        s.accept(5).unwrap();
        s.accept(6).unwrap();
        assert_eq!(s.accept(6), Err(RtmptError::SeqOrder { got: 6, last: 6 }));
        assert_eq!(s.accept(2), Err(RtmptError::SeqOrder { got: 2, last: 6 }));
        s.accept(9).unwrap();
        let mut first = Sequence::default();
        first.accept(0).unwrap();
    }

    #[test]
    fn interval_backs_off_and_resets() {
        let mut i = Interval::default();
        assert_eq!(i.next(true), INTERVAL_BUSY);
        let idle: Vec<u8> = (0..10).map(|_| i.next(false)).collect();
        assert_eq!(idle, [5, 9, 13, 17, 21, 25, 29, 33, 33, 33]);
        assert_eq!(*idle.last().unwrap(), INTERVAL_MAX);
        assert_eq!(i.next(true), INTERVAL_BUSY);
        assert_eq!(i.next(false), 5);
        assert_eq!(poll_delay(INTERVAL_BUSY), Duration::ZERO);
        assert_eq!(poll_delay(0), Duration::ZERO);
        assert_eq!(poll_delay(INTERVAL_MAX), Duration::from_millis(256));
        assert_eq!(poll_delay(0xff), Duration::from_millis(256));
    }
}
