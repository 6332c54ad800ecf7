//! Fuzzes the RTMPT request path rules every tunnelled request reaches
//! before a session is looked up: the path (`/open/1`, `/fcs/ident2`,
//! `/{send|idle|close}/{session}/{seq}`), then the sequence-number rule
//! and the interval byte over the numbers the input spells out.
//!
//! Errors are fine; panics are bugs, and so is a parsed request that does
//! not spell out the path it came from, a session id a client could not
//! send back, a sequence number accepted out of order, or an interval
//! byte outside 0x01..=0x21.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_rtmp::rtmpt::{
    check_session_id, parse_path, poll_delay, Command, Interval, Sequence, INTERVAL_BUSY,
    INTERVAL_MAX,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut order = Sequence::default();
    let mut interval = Interval::default();
    let mut last: Option<u64> = None;
    for (i, line) in text.lines().enumerate() {
        let Ok(req) = parse_path(line) else {
            continue;
        };
        let trimmed = line.strip_suffix('/').unwrap_or(line);
        match req.command {
            Command::Open => assert_eq!(trimmed, "/open/1"),
            Command::Ident => assert_eq!(trimmed, "/fcs/ident2"),
            Command::Send | Command::Idle | Command::Close => {
                check_session_id(req.session).expect("a parsed id is a valid id");
                let name = match req.command {
                    Command::Send => "send",
                    Command::Idle => "idle",
                    _ => "close",
                };
                let (prefix, number) = trimmed.rsplit_once('/').expect("three segments");
                assert_eq!(prefix, format!("/{name}/{}", req.session));
                assert_eq!(number.parse::<u64>().ok(), Some(req.seq));
                let accepted = order.accept(req.seq).is_ok();
                assert_eq!(accepted, last.is_none_or(|l| req.seq > l));
                if accepted {
                    last = Some(req.seq);
                }
            }
        }
        let byte = interval.next(i % 3 == 0);
        assert!((INTERVAL_BUSY..=INTERVAL_MAX).contains(&byte));
        assert!(poll_delay(byte) <= poll_delay(INTERVAL_MAX));
    }
});
