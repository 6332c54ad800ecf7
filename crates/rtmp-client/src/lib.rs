//! An async RTMP client over the sans-IO [`weir_rtmp::client::ClientSession`].
//!
//! [`Client`] is the IO loop (connect, handshake, commands, media); the
//! [`flv`] module builds `weir publish FILE.flv` and `weir play -o out.flv`
//! on it. The benchmark tool uses the same client for its players.

#![warn(missing_docs, unreachable_pub)]

pub mod flv;
pub mod rtmpt;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_rtmp::chunk::DecoderLimits;
use weir_rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientOutput, ClientSession};
use weir_rtmp::handshake::ClientHandshakeMode;
use weir_rtmp::url::RtmpUrl;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL could not be parsed.
    #[error("bad RTMP URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `rtmps://` needs TLS, which this client does not speak yet.
    #[error("rtmps:// is not supported by this client yet")]
    TlsUnsupported,
    /// Socket error.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server refused (an error status or `_error`).
    #[error("server refused: {code}: {description}")]
    Refused {
        /// Status code, e.g. `NetStream.Publish.BadName`.
        code: String,
        /// The server's description.
        description: String,
    },
    /// The server did not answer in time.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The server closed the connection.
    #[error("server closed the connection")]
    Closed,
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> ClientError {
    move |source| ClientError::Io { context, source }
}

/// Connection options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Use the digest (FP9) handshake.
    pub digest_handshake: bool,
    /// How long connect + handshake + publish/play may take.
    pub connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            digest_handshake: false,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A connected RTMP client that is publishing or playing.
pub struct Client {
    socket: TcpStream,
    session: ClientSession,
    read_buf: BytesMut,
    events: std::collections::VecDeque<ClientEvent>,
    bytes_in: u64,
}

impl Client {
    /// Connects to `url` and runs the handshake and commands until the
    /// server says `Publish.Start` or `Play.Start`.
    pub async fn connect(
        url: &str,
        mode: ClientMode,
        opts: &Options,
    ) -> Result<Client, ClientError> {
        let parsed = RtmpUrl::parse(url).map_err(|e| ClientError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if parsed.tls {
            return Err(ClientError::TlsUnsupported);
        }
        let deadline = Instant::now() + opts.connect_timeout;
        let socket = tokio::time::timeout(
            opts.connect_timeout,
            TcpStream::connect((parsed.host.as_str(), parsed.port)),
        )
        .await
        .map_err(|_| ClientError::Timeout("connecting"))?
        .map_err(io("connecting"))?;
        let _ = socket.set_nodelay(true);
        let mut random = [0u8; 1536];
        rand::thread_rng().fill_bytes(&mut random);
        let want_publish = matches!(mode, ClientMode::Publish);
        let session = ClientSession::new(
            ClientConfig {
                app: parsed.app.clone(),
                tc_url: parsed.tc_url.clone(),
                stream: parsed.stream.clone(),
                mode,
                handshake: if opts.digest_handshake {
                    ClientHandshakeMode::Digest
                } else {
                    ClientHandshakeMode::Simple
                },
                chunk_size: 4096,
                limits: DecoderLimits::default(),
            },
            &random,
            0,
        );
        let mut client = Client {
            socket,
            session,
            read_buf: BytesMut::with_capacity(64 * 1024),
            events: Default::default(),
            bytes_in: 0,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = tokio::time::timeout(left, client.next_event())
                .await
                .map_err(|_| {
                    ClientError::Timeout("waiting for the server to start the stream")
                })??;
            match ev {
                Some(ClientEvent::Publishing) if want_publish => return Ok(client),
                Some(ClientEvent::Playing) if !want_publish => return Ok(client),
                Some(ClientEvent::Error { code, description }) => {
                    return Err(ClientError::Refused { code, description })
                }
                Some(ClientEvent::Media { .. } | ClientEvent::Metadata { .. }) if !want_publish => {
                    // Media before Play.Start: keep it for the caller.
                    client.events.push_front(ev.expect("matched Some"));
                    return Ok(client);
                }
                Some(_) => {}
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// Writes whatever the session has queued.
    async fn flush(&mut self) -> Result<(), ClientError> {
        while let Some(out) = self.session.poll_output() {
            match out {
                ClientOutput::Transmit(bytes) => {
                    self.socket.write_all(&bytes).await.map_err(io("writing"))?
                }
                ClientOutput::Event(ev) => self.events.push_back(ev),
            }
        }
        Ok(())
    }

    /// The next event from the server (media when playing, status
    /// messages); `None` when the server closed the connection.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        loop {
            self.flush().await?;
            if let Some(ev) = self.events.pop_front() {
                return Ok(Some(ev));
            }
            self.read_buf.clear();
            let n = self
                .socket
                .read_buf(&mut self.read_buf)
                .await
                .map_err(io("reading"))?;
            if n == 0 {
                return Ok(None);
            }
            self.bytes_in += n as u64;
            self.session
                .handle_input(&self.read_buf)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
        }
    }

    /// Sends an audio (8) or video (9) message: an FLV tag body.
    pub async fn send_media(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<(), ClientError> {
        self.session.send_media(type_id, timestamp, payload);
        self.flush().await
    }

    /// Sends `onMetaData` (AMF0 `"onMetaData", {...}`), as `@setDataFrame`.
    pub async fn send_metadata(&mut self, payload: Bytes) -> Result<(), ClientError> {
        self.session.send_metadata(payload);
        self.flush().await
    }

    /// Handles whatever the server sent without blocking (acks, pings,
    /// status), so a publisher notices an error status or a closed socket.
    pub async fn poll_server(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        self.read_buf.clear();
        match self.socket.try_read_buf(&mut self.read_buf) {
            Ok(0) => return Err(ClientError::Closed),
            Ok(n) => {
                self.bytes_in += n as u64;
                self.session
                    .handle_input(&self.read_buf)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(io("reading")(e)),
        }
        self.flush().await?;
        Ok(self.events.pop_front())
    }

    /// Bytes read from the server so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// Unpublishes / stops and closes the connection politely.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.session.close();
        self.flush().await?;
        let _ = self.socket.shutdown().await;
        Ok(())
    }
}
