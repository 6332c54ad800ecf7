//! Fuzzes the RTMP server session past the handshake: chunk stream,
//! protocol control, user control, commands, script data and aggregates,
//! with the application answering every publish and play.
//!
//! A real handshake is performed first so that the input reaches the
//! message layer; the input is then fed in pieces whose sizes the first
//! byte seeds. Errors end the session as they would a connection; panics
//! and output on the shared muxer's chunk streams are bugs.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weir_rtmp::chunk::{ChunkDecoder, DecoderLimits};
use weir_rtmp::handshake::{ClientHandshake, ClientHandshakeMode};
use weir_rtmp::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let limits = DecoderLimits {
        max_message_len: 64 * 1024,
        max_chunk_streams: 8,
    };
    let config = ServerConfig {
        limits: limits.clone(),
        amf_max_depth: 16,
        window_ack_size: 4096,
        ..ServerConfig::default()
    };
    let mut server = ServerSession::new(config, &[7; 1528], 0);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Simple, &[9; 1528], 0);
    let mut wire = BytesMut::new();
    // Everything the server sends, to check it stays well-formed.
    let mut sent = BytesMut::new();
    server.handle_input(&client.poll_output().unwrap()).unwrap();
    drain(&mut server, &mut wire);
    client.handle_input(&mut wire).unwrap();
    server.handle_input(&client.poll_output().unwrap()).unwrap();
    drain(&mut server, &mut sent);

    let mut seed = u32::from(control) | 0x100;
    let mut rest = input;
    while !rest.is_empty() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed % 256 + 1) as usize;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        if server.handle_input(piece).is_err() {
            break;
        }
        drain(&mut server, &mut sent);
    }

    // The server's own output must decode, and only on chunk streams 2/3.
    let mut dec = ChunkDecoder::new(DecoderLimits::default());
    while let Some(m) = dec.decode(&mut sent).expect("server output decodes") {
        assert!(
            m.csid == 2 || m.csid == 3,
            "session sent on csid {}",
            m.csid
        );
        if m.type_id == 1 {
            let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
            dec.set_chunk_size(size).unwrap();
        }
    }
});

/// Collects transmits and answers requests the way an application would.
fn drain(server: &mut ServerSession, out: &mut BytesMut) {
    let mut answers = Vec::new();
    while let Some(o) = server.poll_output() {
        match o {
            ServerOutput::Transmit(b) => out.extend_from_slice(&b),
            ServerOutput::Event(e) => answers.push(e),
        }
    }
    for e in answers {
        match e {
            ServerEvent::Publish {
                stream_id, name, ..
            } if name.len() % 2 == 0 => server.accept_publish(stream_id),
            ServerEvent::Publish { stream_id, .. } => {
                server.reject_publish(stream_id, "NetStream.Publish.BadName", "odd")
            }
            ServerEvent::Play {
                stream_id, reset, ..
            } => server.accept_play(stream_id, reset),
            ServerEvent::Unpublish { stream_id } => server.notify_unpublish(stream_id),
            _ => {}
        }
    }
    while let Some(o) = server.poll_output() {
        if let ServerOutput::Transmit(b) = o {
            out.extend_from_slice(&b);
        }
    }
}
