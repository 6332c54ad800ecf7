//! The RTMP adapter alone on a hub, real RTMP publishers
//! (`weir-rtmp-client`) and a player that can also write input of its own.

#![allow(dead_code)] // each test file uses its own part of the helpers

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;
use weir_amf0::Value;
use weir_hub::{Hub, HubConfig};
use weir_rtmp::chunk::{DecoderLimits, Message};
use weir_rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientOutput, ClientSession};
use weir_rtmp::handshake::ClientHandshakeMode;
use weir_rtmp::message::type_id;
use weir_rtmp_client::{Client, Options};
use weir_server_rtmp::{Config, RtmpServer};

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running adapter; dropping it stops the server.
pub struct Server {
    pub hub: Hub,
    pub addr: SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Server {
    /// Binds port 0 on loopback and serves plain RTMP with `config`.
    pub async fn start(config: Config) -> Server {
        let hub = Hub::new(HubConfig::default());
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = RtmpServer::new(hub.clone(), config, shutdown.clone());
        tokio::spawn(server.run(listener, None));
        Server {
            hub,
            addr,
            shutdown,
        }
    }

    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://{}/live/{stream}", self.addr)
    }

    /// A publisher of `live/{stream}`, Publish.Start received.
    pub async fn publisher(&self, stream: &str) -> Client {
        bounded(Client::connect(
            &self.url(stream),
            ClientMode::Publish,
            &Options::default(),
        ))
        .await
        .expect("publish")
    }

    /// A player of `live/{stream}` that has received Play.Start.
    pub async fn player(&self, stream: &str) -> Player {
        Player::connect(self.addr, stream, None).await
    }
}

/// Awaits `f` at most [`WAIT`].
pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f)
        .await
        .expect("bounded wait elapsed")
}

/// `onMetaData` as a publisher sends it.
pub fn metadata() -> Bytes {
    let mut out = BytesMut::new();
    weir_amf0::encode_all(
        &[
            Value::String("onMetaData".into()),
            Value::EcmaArray(vec![("width".into(), Value::Number(320.0))]),
        ],
        &mut out,
    );
    out.freeze()
}

/// AVC sequence header tag body.
pub fn avc_config() -> Bytes {
    Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 100, 0, 31])
}

/// AAC sequence header tag body (LC, 44.1 kHz, stereo).
pub fn aac_config() -> Bytes {
    Bytes::from_static(&[0xAF, 0, 0x12, 0x10])
}

/// An AVC frame tag body of `len` bytes of data; its first data bytes
/// carry `n`, so a test can tell frames apart.
pub fn video(key: bool, n: u32, len: usize) -> Bytes {
    let mut body = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    body.extend_from_slice(&n.to_be_bytes());
    body.resize(5 + len.max(4), 0x5A);
    body.into()
}

/// A raw AAC frame tag body.
pub fn audio(n: u32) -> Bytes {
    let mut body = vec![0xAF, 1];
    body.extend_from_slice(&n.to_be_bytes());
    body.into()
}

/// The frame number [`video`] put in a video tag body.
pub fn frame_number(payload: &[u8]) -> u32 {
    u32::from_be_bytes(payload[5..9].try_into().unwrap())
}

/// Sends metadata and both sequence headers.
pub async fn send_headers(p: &mut Client, ts: u32) {
    p.send_metadata(metadata()).await.unwrap();
    p.send_media(type_id::VIDEO, ts, avc_config())
        .await
        .unwrap();
    p.send_media(type_id::AUDIO, ts, aac_config())
        .await
        .unwrap();
}

/// What a player received, simplified.
#[derive(Debug, Clone, PartialEq)]
pub enum Got {
    Meta(u32),
    /// A sequence header of this type id at this time.
    Config(u8, u32),
    /// A video frame: its number and time.
    Video(u32, u32),
    Audio(u32),
    Status(String),
    Error(String),
    Eof,
}

/// A playing RTMP client driven by hand: the sans-IO client session over
/// a socket (or an RTMPT stream) the test also writes to.
pub struct Player<S = TcpStream> {
    socket: S,
    session: ClientSession,
    buf: BytesMut,
    events: VecDeque<ClientEvent>,
}

impl Player {
    /// Connects and plays `live/{stream}` (which must be live) up to
    /// Play.Start; with `recv_buf` the
    /// socket's receive buffer is that small (a player that stalls fills
    /// it quickly).
    pub async fn connect(addr: SocketAddr, stream: &str, recv_buf: Option<u32>) -> Player {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buf {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let socket = bounded(socket.connect(addr)).await.unwrap();
        Player::over(socket, &format!("rtmp://{addr}/live"), stream).await
    }

    /// The client's end of the connection (the address the server sees).
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Player<S> {
    /// Plays `live/{stream}` over an open byte stream, up to Play.Start.
    pub async fn over(socket: S, tc_url: &str, stream: &str) -> Player<S> {
        Player::over_app(socket, tc_url, "live", stream).await
    }

    /// Plays `{app}/{stream}` over an open byte stream, up to Play.Start.
    pub async fn over_app(socket: S, tc_url: &str, app: &str, stream: &str) -> Player<S> {
        let mut random = [7u8; 1536];
        random[0] = 1;
        let session = ClientSession::new(
            ClientConfig {
                app: app.into(),
                tc_url: tc_url.to_owned(),
                stream: stream.into(),
                mode: ClientMode::Play,
                handshake: ClientHandshakeMode::Simple,
                chunk_size: 4096,
                limits: DecoderLimits::default(),
            },
            &random,
            0,
        );
        let mut player = Player {
            socket,
            session,
            buf: BytesMut::with_capacity(64 * 1024),
            events: VecDeque::new(),
        };
        // Until Play.Start (a stream that is live starts at once), so that
        // what a test publishes next reaches the player.
        loop {
            match player.event().await {
                Some(ClientEvent::Playing) => return player,
                Some(ev @ (ClientEvent::Media { .. } | ClientEvent::Metadata { .. })) => {
                    player.events.push_front(ev);
                    return player;
                }
                Some(ClientEvent::Error { code, description }) => {
                    panic!("play refused: {code} {description}")
                }
                Some(_) => {}
                None => panic!("closed before Play.Start"),
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(out) = self.session.poll_output() {
            match out {
                ClientOutput::Transmit(b) => self.socket.write_all(&b).await.unwrap(),
                ClientOutput::Event(ev) => self.events.push_back(ev),
            }
        }
    }

    /// The next event; `None` when the server closed the connection.
    /// Panics on a protocol error: the server's bytes must always decode.
    pub async fn event(&mut self) -> Option<ClientEvent> {
        loop {
            self.flush().await;
            if let Some(ev) = self.events.pop_front() {
                return Some(ev);
            }
            self.buf.clear();
            let n = bounded(self.socket.read_buf(&mut self.buf))
                .await
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.session
                .handle_input(&self.buf)
                .expect("the server's bytes decode");
        }
    }

    /// The next media or status event, simplified (connection-level
    /// events skipped).
    pub async fn next(&mut self) -> Got {
        loop {
            let got = match self.event().await {
                None | Some(ClientEvent::StreamEof) => Got::Eof,
                Some(ClientEvent::Metadata { timestamp, .. }) => Got::Meta(timestamp),
                Some(ClientEvent::Media {
                    type_id,
                    timestamp,
                    payload,
                }) => match (type_id, payload.get(1)) {
                    (_, Some(0)) => Got::Config(type_id, timestamp),
                    (type_id::VIDEO, _) => Got::Video(frame_number(&payload), timestamp),
                    _ => Got::Audio(timestamp),
                },
                Some(ClientEvent::Status { code, .. }) => Got::Status(code),
                Some(ClientEvent::Error { code, .. }) => Got::Error(code),
                Some(_) => continue,
            };
            return got;
        }
    }

    /// Events until video frame `n` (included).
    pub async fn until_frame(&mut self, n: u32) -> Vec<Got> {
        let mut seen = Vec::new();
        loop {
            let got = self.next().await;
            let done = matches!(got, Got::Video(m, _) if m == n);
            assert_ne!(got, Got::Eof, "stream ended before frame {n}: {seen:?}");
            seen.push(got);
            if done {
                return seen;
            }
        }
    }

    /// Sends command `name` with `args` on message stream `stream_id`
    /// (e.g. `pause`, `seek` on stream 1).
    pub async fn send_command(&mut self, stream_id: u32, name: &str, args: Vec<Value>) {
        let mut values = vec![Value::String(name.into()), Value::Number(0.0), Value::Null];
        values.extend(args);
        self.send_values(stream_id, &values).await;
    }

    /// Writes AMF0 `values` as one command message on a chunk stream the
    /// session does not use, so the session's own chunk state is
    /// untouched.
    async fn send_values(&mut self, stream_id: u32, values: &[Value]) {
        let mut payload = BytesMut::new();
        weir_amf0::encode_all(values, &mut payload);
        let msg = Message {
            csid: 40,
            timestamp: 0,
            type_id: type_id::COMMAND_AMF0,
            stream_id,
            payload: payload.freeze(),
        };
        let mut wire = BytesMut::new();
        weir_rtmp::chunk::encode_standalone(&msg, 128, &mut wire);
        self.socket.write_all(&wire).await.unwrap();
    }

    /// Writes a command the server must answer (`_error`: it knows no
    /// such command) on a chunk stream the session does not use, so the
    /// session's own chunk state is untouched: input that makes the
    /// server's session write.
    pub async fn send_unknown_command(&mut self) {
        let values = [
            Value::String("weirTestPing".into()),
            Value::Number(7.0),
            Value::Null,
        ];
        self.send_values(0, &values).await;
    }
}
