//! The byte stream a [`Client`](crate::Client) runs over, chosen by the
//! URL's scheme: TCP (`rtmp://`), TLS (`rtmps://`), the RTMPE handshake
//! then RC4 (`rtmpe://`), or HTTP tunnelling (`rtmpt://`, and over TLS
//! `rtmpts://`).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use weir_rtmp::url::{RtmpUrl, Scheme};

use crate::{io, ClientError, Options};

/// Any byte stream the client can run over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An opened connection.
pub(crate) struct Opened {
    pub(crate) stream: Box<dyn Stream>,
    /// The RTMP handshake already ran (RTMPE's): the session starts at
    /// `connect`.
    pub(crate) handshake_done: bool,
}

/// Connects to `url`'s host over its scheme's transport, within
/// `timeout`.
pub(crate) async fn open(
    url: &RtmpUrl,
    opts: &Options,
    timeout: Duration,
) -> Result<Opened, ClientError> {
    let plain = |stream: Box<dyn Stream>| Opened {
        stream,
        handshake_done: false,
    };
    match url.scheme {
        Scheme::Rtmp => Ok(plain(Box::new(tcp(url, timeout).await?))),
        Scheme::Rtmps => {
            let tcp = tcp(url, timeout).await?;
            let tls = tokio::time::timeout(timeout, crate::tls::connect(&url.host, tcp, opts))
                .await
                .map_err(|_| ClientError::Timeout("in the TLS handshake"))??;
            Ok(plain(Box::new(tls)))
        }
        Scheme::Rtmpe => {
            let tcp = tcp(url, timeout).await?;
            let stream = tokio::time::timeout(timeout, crate::rtmpe::handshake(tcp))
                .await
                .map_err(|_| ClientError::Timeout("in the RTMPE handshake"))??;
            Ok(Opened {
                stream: Box::new(stream),
                handshake_done: true,
            })
        }
        // RTMPT: RTMP in HTTP POSTs; the tunnel reads and writes like a
        // socket, and the RTMP handshake runs inside it as usual.
        Scheme::Rtmpt => {
            let stream = crate::rtmpt::connect(&url.host, url.port, timeout)
                .await
                .map_err(io("opening the RTMPT session"))?;
            Ok(plain(Box::new(stream)))
        }
        // RTMPTS: the same tunnel in HTTPS requests.
        Scheme::Rtmpts => {
            let tcp = tcp(url, timeout).await?;
            let tls = tokio::time::timeout(timeout, crate::tls::connect(&url.host, tcp, opts))
                .await
                .map_err(|_| ClientError::Timeout("in the TLS handshake"))??;
            let stream = crate::rtmpt::connect_over(Box::new(tls), &url.host, url.port, timeout)
                .await
                .map_err(io("opening the RTMPTS session"))?;
            Ok(plain(Box::new(stream)))
        }
    }
}

/// A TCP connection with Nagle off (RTMP writes small control messages
/// that must not wait).
async fn tcp(url: &RtmpUrl, timeout: Duration) -> Result<TcpStream, ClientError> {
    let socket = tokio::time::timeout(timeout, TcpStream::connect((url.host.as_str(), url.port)))
        .await
        .map_err(|_| ClientError::Timeout("connecting"))?
        .map_err(io("connecting"))?;
    let _ = socket.set_nodelay(true);
    Ok(socket)
}
