//! TLS wiring: the certificate store, its reloader, the RTMPS listener and
//! the HTTPS acceptor. The adapters only ever get a `TlsAcceptor`.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;
use weir_tls::{CertStore, TlsAcceptor};

use crate::config::{secs, Config};

/// Loads the configured certificate (a startup error names the file at
/// fault) and starts reloading it on SIGHUP and file changes. `None` when
/// TLS is not configured.
pub(crate) fn start(
    cfg: &Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Arc<CertStore>>> {
    let Some(files) = cfg.tls_files()? else {
        return Ok(None);
    };
    let store = CertStore::load(files).context("loading the TLS certificate")?;
    info!(
        cert = %store.files().cert.display(),
        fingerprint = %store.fingerprint(),
        "tls certificate loaded"
    );
    tokio::spawn(
        store
            .clone()
            .watch(secs(cfg.tls.reload_poll_secs), shutdown.clone()),
    );
    Ok(Some(store))
}

/// Binds `server.rtmps_listen` (if set) and serves RTMPS there with the
/// same server (streams, muxers, limits) as plain RTMP.
pub(crate) async fn start_rtmps(
    cfg: &Config,
    store: Option<&Arc<CertStore>>,
    rtmp: &weir_server_rtmp::RtmpServer,
) -> anyhow::Result<Option<JoinHandle<std::io::Result<()>>>> {
    let (Some(addr), Some(store)) = (cfg.server.rtmps_listen, store) else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding RTMPS listener on {addr}"))?;
    // RTMP clients send no ALPN.
    let acceptor = store.acceptor(&[])?;
    info!(addr = %listener.local_addr()?, "rtmps listening");
    Ok(Some(tokio::spawn(
        rtmp.clone().run(listener, Some(acceptor)),
    )))
}

/// Binds `rtsp.tls_listen` (default 0.0.0.0:8322 when TLS is on) and
/// serves RTSPS there with the same server (streams, muxers, UDP ports) as
/// plain RTSP.
pub(crate) async fn start_rtsps(
    cfg: &Config,
    store: Option<&Arc<CertStore>>,
    rtsp: &weir_server_rtsp::RtspServer,
) -> anyhow::Result<Option<JoinHandle<std::io::Result<()>>>> {
    let (Some(addr), Some(store)) = (cfg.rtsp.tls_listen_addr(store.is_some())?, store) else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding RTSPS listener on {addr}"))?;
    // RTSP clients send no ALPN.
    let acceptor = store.acceptor(&[])?;
    info!(addr = %listener.local_addr()?, "rtsps listening");
    Ok(Some(tokio::spawn(
        rtsp.clone().run(listener, Some(acceptor)),
    )))
}

/// The acceptor that turns the HTTP listener into HTTPS, if TLS is on.
pub(crate) fn https_acceptor(
    store: Option<&Arc<CertStore>>,
) -> anyhow::Result<Option<TlsAcceptor>> {
    let Some(store) = store else {
        return Ok(None);
    };
    info!("http listener serves https (and wss)");
    Ok(Some(store.acceptor(&[b"http/1.1"])?))
}
