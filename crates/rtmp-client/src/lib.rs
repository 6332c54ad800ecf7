//! An async RTMP client over the sans-IO [`weir_rtmp::client::ClientSession`]:
//! the Rust counterpart of librtmp (rtmpdump's library) and srs_librtmp.
//! Publish or play a stream, over
//!
//! - `rtmp://` — TCP;
//! - `rtmps://` — TLS, the server checked against Mozilla's roots or a CA
//!   file ([`Options::tls_ca`]);
//! - `rtmpe://` — the Flash-era RTMPE handshake, then RC4 both ways
//!   (obfuscation, not security);
//! - `rtmpt://` — RTMP tunnelled in HTTP POSTs ([`rtmpt`]), for networks
//!   that pass only HTTP; `rtmpts://` — the same over HTTPS.
//!
//! Enhanced RTMP: the client sends and receives FLV tag bodies as they
//! are, so HEVC, AV1 or Opus tags (`weir publish` of an enhanced FLV
//! file) pass through, and its `connect` announces `fourCcList` (av01,
//! vp09, hvc1) for servers that offer enhanced codecs only to clients
//! that say so.
//!
//! [`Client`] is the IO loop (connect, handshake, commands, media) over any
//! [`Stream`]; the [`flv`] module builds `weir publish FILE.flv` and
//! `weir play -o out.flv` on it, and the examples `push_file` and
//! `pull_to_file` show the library on its own. The benchmark tool and
//! camera pulls use the same client.
//!
//! ```no_run
//! # async fn run() -> Result<(), weir_rtmp_client::ClientError> {
//! use weir_rtmp::client::{ClientEvent, ClientMode};
//! use weir_rtmp_client::{Client, Options};
//!
//! let mut client =
//!     Client::connect("rtmpe://127.0.0.1/live/cam", ClientMode::Play, &Options::default())
//!         .await?;
//! while let Some(event) = client.next_event().await? {
//!     if let ClientEvent::Media { type_id, timestamp, payload, .. } = event {
//!         println!("type {type_id} at {timestamp} ms: {} bytes", payload.len());
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs, unreachable_pub)]

pub mod flv;
mod rtmpe;
pub mod rtmpt;
mod tls;
mod transport;

pub use transport::Stream;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    /// TLS setup failed (the CA file, the server name).
    #[error("TLS: {0}")]
    Tls(String),
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
    /// `rtmps://`: a PEM file of extra trusted certificates (a private CA,
    /// or a self-signed server's certificate), besides Mozilla's roots.
    pub tls_ca: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            digest_handshake: false,
            connect_timeout: Duration::from_secs(10),
            tls_ca: None,
        }
    }
}

/// A connected RTMP client that is publishing or playing.
pub struct Client {
    socket: Box<dyn Stream>,
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
        let deadline = Instant::now() + opts.connect_timeout;
        let opened = transport::open(&parsed, opts, opts.connect_timeout).await?;
        let mut random = [0u8; 1536];
        rand::thread_rng().fill_bytes(&mut random);
        let want_publish = matches!(mode, ClientMode::Publish);
        let config = ClientConfig {
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
        };
        let session = if opened.handshake_done {
            ClientSession::after_handshake(config)
        } else {
            ClientSession::new(config, &random, 0)
        };
        let mut client = Client {
            socket: opened.stream,
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

    /// Writes whatever the session has queued, and flushes it through
    /// the stream (TLS and RTMPE buffer what they encrypt).
    async fn flush(&mut self) -> Result<(), ClientError> {
        let mut wrote = false;
        while let Some(out) = self.session.poll_output() {
            match out {
                ClientOutput::Transmit(bytes) => {
                    self.socket.write_all(&bytes).await.map_err(io("writing"))?;
                    wrote = true;
                }
                ClientOutput::Event(ev) => self.events.push_back(ev),
            }
        }
        if wrote {
            self.socket.flush().await.map_err(io("writing"))?;
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
        // One poll of a read: whatever is there now, else nothing (a read
        // that is not ready consumes nothing, whatever the stream).
        match self.socket.read_buf(&mut self.read_buf).now_or_never() {
            None => {}
            Some(Ok(0)) => return Err(ClientError::Closed),
            Some(Ok(n)) => {
                self.bytes_in += n as u64;
                self.session
                    .handle_input(&self.read_buf)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
            }
            Some(Err(e)) => return Err(io("reading")(e)),
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
