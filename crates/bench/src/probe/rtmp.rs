//! RTMP player over weir's sans-IO [`ClientSession`]: handshake, connect,
//! createStream, play; then either every message is decoded (measuring
//! player) or bytes are only counted (cheap player).

use bytes::{Bytes, BytesMut};
use weir_rtmp::chunk::{encode_standalone, DecoderLimits, Message};
use weir_rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientOutput, ClientSession};
use weir_rtmp::handshake::ClientHandshakeMode;
use weir_rtmp::message::{type_id, CSID_CONTROL};
use weir_rtmp::url::RtmpUrl;

use super::ProbeError;
use crate::marker::{audio_key, frame_key, Kind, Seen};

/// A counting player acknowledges every this many bytes, as a receiver
/// must; it is at most the window servers announce (nginx-rtmp 5 MB,
/// weir 2.5 MB), so no server ever waits for an Ack.
const ACK_EVERY: u64 = 1_000_000;

/// RTMP play state.
pub(crate) struct RtmpProbe {
    session: ClientSession,
    parse: bool,
    playing: bool,
    /// Bytes received, handshake included (what an Ack reports).
    received: u64,
    acked: u64,
}

impl RtmpProbe {
    /// A player of `url`; `random` fills C1; `parse` decodes every message
    /// instead of only counting after Play.Start.
    pub(crate) fn new(url: &RtmpUrl, random: &[u8], parse: bool) -> Self {
        let session = ClientSession::new(
            ClientConfig {
                app: url.app.clone(),
                tc_url: url.tc_url.clone(),
                stream: url.stream.clone(),
                mode: ClientMode::Play,
                handshake: ClientHandshakeMode::Simple,
                chunk_size: 4096,
                limits: DecoderLimits::default(),
            },
            random,
            0,
        );
        RtmpProbe {
            session,
            parse,
            playing: false,
            received: 0,
            acked: 0,
        }
    }

    pub(crate) fn start(&mut self, reply: &mut Vec<u8>) {
        // Nothing was fed yet, so the session can only have C0+C1 queued.
        let _ = self.drain(reply, &mut Vec::new());
    }

    pub(crate) fn playing(&self) -> bool {
        self.playing
    }

    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        reply: &mut Vec<u8>,
        seen: &mut Vec<Seen>,
    ) -> Result<(), ProbeError> {
        self.received += data.len() as u64;
        if self.playing && !self.parse {
            if self.received - self.acked >= ACK_EVERY {
                self.acked = self.received;
                put_ack(self.received, reply);
            }
            return Ok(());
        }
        self.session
            .handle_input(data)
            .map_err(|e| ProbeError::Rtmp(e.to_string()))?;
        self.drain(reply, seen)
    }

    fn drain(&mut self, reply: &mut Vec<u8>, seen: &mut Vec<Seen>) -> Result<(), ProbeError> {
        while let Some(out) = self.session.poll_output() {
            match out {
                ClientOutput::Transmit(b) => reply.extend_from_slice(&b),
                ClientOutput::Event(ev) => match ev {
                    ClientEvent::Playing => self.playing = true,
                    ClientEvent::Media {
                        type_id: kind,
                        payload,
                        ..
                    } => {
                        // Some servers send media before (or instead of)
                        // Play.Start.
                        self.playing = true;
                        let key = match kind {
                            type_id::VIDEO => frame_key(&payload).map(|k| (Kind::Video, k)),
                            type_id::AUDIO => audio_key(&payload).map(|k| (Kind::Audio, k)),
                            _ => None,
                        };
                        seen.extend(key.filter(|_| self.parse));
                    }
                    ClientEvent::Metadata { .. } => self.playing = true,
                    ClientEvent::Error { code, description } => {
                        return Err(ProbeError::Refused { code, description })
                    }
                    _ => {}
                },
            }
        }
        Ok(())
    }
}

/// Appends an Acknowledgement of `received` bytes (a wrapping 32-bit
/// count), on the control chunk stream where the session sends its own.
fn put_ack(received: u64, reply: &mut Vec<u8>) {
    let mut out = BytesMut::with_capacity(16);
    encode_standalone(
        &Message {
            csid: CSID_CONTROL,
            timestamp: 0,
            type_id: type_id::ACK,
            stream_id: 0,
            payload: Bytes::copy_from_slice(&(received as u32).to_be_bytes()),
        },
        128,
        &mut out,
    );
    reply.extend_from_slice(&out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_rtmp::server::{ServerConfig, ServerEvent, ServerOutput, ServerSession};

    /// Everything a server sends to a player: handshake, command answers,
    /// Play.Start, then `frames` video messages chunked at 128 bytes (so
    /// that they span chunks), each followed by the AAC frame `[0xaf, 1,
    /// 3, i]`, after an AAC sequence header. Built by running our
    /// client against weir's sans-IO server session in memory.
    fn server_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
        let url = RtmpUrl::parse("rtmp://h/live/s").unwrap();
        let mut client = RtmpProbe::new(&url, &[7; 1536], true);
        let mut server = ServerSession::new(
            ServerConfig {
                chunk_size: 128,
                ..ServerConfig::default()
            },
            &[9; 1536],
            0,
        );
        let mut to_server = Vec::new();
        client.start(&mut to_server);
        let mut wire = Vec::new();
        let mut play_id = None;
        for _ in 0..20 {
            server.handle_input(&to_server).unwrap();
            to_server.clear();
            let mut burst = Vec::new();
            while let Some(out) = server.poll_output() {
                match out {
                    ServerOutput::Transmit(b) => burst.extend_from_slice(&b),
                    ServerOutput::Event(ServerEvent::Play { stream_id, .. }) => {
                        server.accept_play(stream_id, true);
                        play_id = Some(stream_id);
                    }
                    ServerOutput::Event(_) => {}
                }
            }
            wire.extend_from_slice(&burst);
            client
                .feed(&burst, &mut to_server, &mut Vec::new())
                .unwrap();
            if client.playing() {
                break;
            }
        }
        let stream_id = play_id.expect("server saw play");
        let mut media = BytesMut::new();
        encode_standalone(
            &Message {
                csid: 4,
                timestamp: 0,
                type_id: type_id::AUDIO,
                stream_id,
                payload: vec![0xaf, 0, 0x12, 0x10].into(),
            },
            128,
            &mut media,
        );
        for (i, f) in frames.iter().enumerate() {
            for (csid, t, payload) in [
                (6, type_id::VIDEO, f.clone()),
                (4, type_id::AUDIO, vec![0xaf, 1, 3, i as u8]),
            ] {
                encode_standalone(
                    &Message {
                        csid,
                        timestamp: i as u32 * 33,
                        type_id: t,
                        stream_id,
                        payload: payload.into(),
                    },
                    128,
                    &mut media,
                );
            }
        }
        wire.extend_from_slice(&media);
        wire
    }

    fn frames() -> Vec<Vec<u8>> {
        let mut v = vec![vec![0x17, 0, 0, 0, 0, 1, 100, 0, 31]];
        for i in 0..4u8 {
            v.push(
                [0x27, 1, 0, 0, 0]
                    .into_iter()
                    .chain((0..300u16).map(|b| (b as u8).wrapping_add(i)))
                    .collect(),
            );
        }
        v
    }

    #[test]
    fn parsing_player_sees_every_frame_across_any_read_boundary() {
        let frames = frames();
        // The sequence headers (video and audio) have no key.
        let want: Vec<Seen> = frames
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                let video = frame_key(f).map(|k| (Kind::Video, k));
                let audio = audio_key(&[0xaf, 1, 3, i as u8]).map(|k| (Kind::Audio, k));
                [video, audio]
            })
            .flatten()
            .collect();
        assert_eq!(want.len(), 4 + 5);
        let wire = server_bytes(&frames);
        let url = RtmpUrl::parse("rtmp://h/live/s").unwrap();
        for split in (1..=64).chain([wire.len() / 3, wire.len()]) {
            let mut p = RtmpProbe::new(&url, &[7; 1536], true);
            let mut seen = Vec::new();
            p.start(&mut Vec::new());
            for piece in wire.chunks(split) {
                p.feed(piece, &mut Vec::new(), &mut seen).unwrap();
            }
            assert!(p.playing());
            assert_eq!(seen, want, "reads of {split} bytes");
        }
        for at in (0..wire.len()).step_by(5) {
            let mut p = RtmpProbe::new(&url, &[7; 1536], true);
            let mut seen = Vec::new();
            p.feed(&wire[..at], &mut Vec::new(), &mut seen).unwrap();
            p.feed(&wire[at..], &mut Vec::new(), &mut seen).unwrap();
            assert_eq!(seen, want, "split at {at}");
        }
    }

    #[test]
    fn counting_player_stops_parsing_and_acks() {
        let wire = server_bytes(&frames());
        let url = RtmpUrl::parse("rtmp://h/live/s").unwrap();
        let mut p = RtmpProbe::new(&url, &[7; 1536], false);
        let mut reply = Vec::new();
        let mut seen = Vec::new();
        p.feed(&wire, &mut reply, &mut seen).unwrap();
        assert!(p.playing());
        assert!(seen.is_empty());
        // Garbage after Play.Start is only counted.
        reply.clear();
        let junk = vec![0xff; ACK_EVERY as usize];
        p.feed(&junk, &mut reply, &mut seen).unwrap();
        let total = (wire.len() + junk.len()) as u32;
        // fmt 0, csid 2, ts 0, len 4, type 3, stream 0, then the count.
        let mut want = vec![0x02, 0, 0, 0, 0, 0, 4, 3, 0, 0, 0, 0];
        want.extend_from_slice(&total.to_be_bytes());
        assert_eq!(reply, want);
    }

    #[test]
    fn refusal_is_an_error() {
        let url = RtmpUrl::parse("rtmp://h/live/s").unwrap();
        let mut client = RtmpProbe::new(&url, &[7; 1536], false);
        let mut server = ServerSession::new(ServerConfig::default(), &[9; 1536], 0);
        let mut to_server = Vec::new();
        client.start(&mut to_server);
        let mut result = Ok(());
        for _ in 0..20 {
            server.handle_input(&to_server).unwrap();
            to_server.clear();
            let mut burst = Vec::new();
            while let Some(out) = server.poll_output() {
                match out {
                    ServerOutput::Transmit(b) => burst.extend_from_slice(&b),
                    ServerOutput::Event(ServerEvent::Play { stream_id, .. }) => {
                        server.reject_play(stream_id, "NetStream.Play.StreamNotFound", "no")
                    }
                    ServerOutput::Event(_) => {}
                }
            }
            result = client.feed(&burst, &mut to_server, &mut Vec::new());
            if result.is_err() {
                break;
            }
        }
        assert!(
            matches!(result, Err(ProbeError::Refused { code, .. }) if code == "NetStream.Play.StreamNotFound")
        );
    }
}
