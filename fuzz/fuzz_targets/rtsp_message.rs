//! Fuzzes the RTSP message decoder (requests, responses and `$`-framed
//! interleaved data on one TCP stream) and the typed header parsers that
//! read what it returns.
//!
//! The first input byte picks small or default limits (so every limit is
//! reached) and the size of the pieces the rest is fed in, like a socket's
//! reads. Errors are fine; panics are bugs, and so is a buffer that grows
//! past the limits, or a decoded message that does not survive being
//! written and decoded again.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weir_rtsp::auth::{Credentials, DigestChallenge};
use weir_rtsp::headers::{NptRange, RtpInfo, SessionHeader, Transport};
use weir_rtsp::message::{Decoder, Headers, Item, Limits, Message};

fn without_length(h: &Headers) -> Vec<(String, String)> {
    h.iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("Content-Length"))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let limits = if control & 0x80 != 0 {
        Limits {
            max_line: 64,
            max_headers: 4,
            max_head: 256,
            max_body: 128,
        }
    } else {
        Limits::default()
    };
    let mut decoder = Decoder::new(limits);
    let piece = usize::from(control & 0x7F) + 1;
    let mut buf = BytesMut::new();
    for chunk in input.chunks(piece) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Item::Message(m))) => check(limits, m),
                Ok(Some(Item::Interleaved { data, .. })) => assert!(data.len() <= 65535),
                Ok(None) => break,
                Err(e) => {
                    let _ = e.status();
                    return;
                }
            }
        }
        // Waiting for more never holds more than one item's worth.
        assert!(buf.len() <= limits.max_head + limits.max_body + 65539 + piece);
    }
});

fn check(limits: Limits, m: Message) {
    let headers = match &m {
        Message::Request(r) => &r.headers,
        Message::Response(r) => &r.headers,
    };
    for (name, value) in headers.iter() {
        match name.to_ascii_lowercase().as_str() {
            "transport" => {
                let _ =
                    Transport::parse_list(value).map(|l| l.iter().map(|t| t.to_string()).count());
            }
            "session" => {
                let _ = SessionHeader::parse(value).map(|s| s.to_string());
            }
            "range" => {
                let _ = NptRange::parse(value).map(|r| r.to_string());
            }
            "rtp-info" => {
                let _ = RtpInfo::parse_list(value);
            }
            "authorization" => {
                if let Ok(Credentials::Digest(d)) = Credentials::parse(value) {
                    let _ = d.verify("DESCRIBE", "password");
                }
            }
            "www-authenticate" => {
                let _ = DigestChallenge::parse(value)
                    .map(|c| c.respond("u", "p", "DESCRIBE", "rtsp://h/a", "c", 1));
            }
            _ => {}
        }
    }
    let _ = headers.cseq();
    let mut out = Vec::new();
    match &m {
        Message::Request(r) => r.write(&mut out),
        Message::Response(r) => r.write(&mut out),
    }
    let mut again = BytesMut::from(&out[..]);
    let Ok(Some(Item::Message(back))) = Decoder::new(limits).decode(&mut again) else {
        // Written with Content-Length added, a message at the body limit
        // can outgrow the head limit; anything else must decode.
        return;
    };
    match (&m, &back) {
        (Message::Request(a), Message::Request(b)) => {
            assert_eq!((&a.method, &a.uri, &a.body), (&b.method, &b.uri, &b.body));
            assert_eq!(without_length(&a.headers), without_length(&b.headers));
        }
        (Message::Response(a), Message::Response(b)) => {
            assert_eq!((a.status, &a.body), (b.status, &b.body));
            assert_eq!(without_length(&a.headers), without_length(&b.headers));
        }
        _ => panic!("a message changed kind when written"),
    }
}
