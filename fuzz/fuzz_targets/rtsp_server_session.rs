//! Fuzzes the sans-IO RTSP server connection: requests, interleaved
//! packets, session ids, transports, credentials and the caller's answers
//! (accept, refuse, challenge, multicast groups) chosen by the first byte.
//!
//! The input is fed in pieces whose sizes the first byte seeds, with the
//! clock moving on. Panics, and output that is not a well-formed RTSP
//! response, are bugs.

#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weir_rtsp::message::{Decoder, Item, Limits, Message};
use weir_rtsp::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};
use weir_rtsp::session::{MulticastGroup, TransportPolicy};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let config = ServerConfig {
        limits: Limits {
            max_line: 512,
            max_headers: 16,
            max_head: 2048,
            max_body: 4096,
        },
        session_timeout: Duration::from_secs(5),
        transports: TransportPolicy {
            udp: control & 1 != 0,
            server_ports: (8000, 8001),
        },
        ..ServerConfig::default()
    };
    let t0 = Instant::now();
    let mut server = ServerSession::new(config, "F00D", t0);
    let mut sent = BytesMut::new();
    let mut seed = u32::from(control) | 0x100;
    let mut rest = input;
    let mut now = t0;
    while !rest.is_empty() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed % 256 + 1) as usize;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        now += Duration::from_millis(u64::from(seed % 4000));
        server.handle_input(now, piece);
        server.handle_timeout(now);
        if drain(&mut server, &mut sent, control) {
            break;
        }
    }
    // Everything the server said decodes as responses.
    let mut dec = Decoder::default();
    while let Some(item) = dec.decode(&mut sent).expect("server output decodes") {
        assert!(matches!(item, Item::Message(Message::Response(_))));
    }
});

/// Collects transmits and answers events the way an adapter would; true
/// when the connection would close.
fn drain(server: &mut ServerSession, out: &mut BytesMut, control: u8) -> bool {
    loop {
        let event = match server.poll_output() {
            ServerOutput::Transmit(b) => {
                out.extend_from_slice(&b);
                continue;
            }
            ServerOutput::Timeout(_) => return false,
            ServerOutput::Event(e) => e,
        };
        match event {
            ServerEvent::Describe(ask) => match (ask.credentials.is_some(), control & 2 != 0) {
                (false, true) => server.challenge("n0nce"),
                (true, _) if ask.password(["KEY"]).is_none() => server.refuse(403),
                _ => server.accept_describe("v=0\r\n", "rtsp://h/a/b/"),
            },
            ServerEvent::Announce { sdp, .. } => {
                if sdp.media.len() % 3 == 2 {
                    server.refuse(415)
                } else {
                    server.accept()
                }
            }
            ServerEvent::Setup { ask, .. } => {
                let group = MulticastGroup {
                    destination: "224.1.0.1".into(),
                    ports: (9000, 9001),
                    ttl: 1,
                };
                let track = ask.uri.len() % 4;
                let group = (control & 4 != 0).then_some(&group);
                if control & 8 != 0 && track == 3 {
                    server.refuse(404);
                } else {
                    server.accept_setup(track, group);
                }
            }
            ServerEvent::Play(_) | ServerEvent::Record(_) => server.accept(),
            ServerEvent::Teardown | ServerEvent::Expired | ServerEvent::Error(_) => return true,
            ServerEvent::Pause | ServerEvent::Interleaved { .. } | ServerEvent::Counted(_) => {}
        }
    }
}
