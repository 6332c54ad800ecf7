//! Hot reload: SIGHUP and file polling.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::store::CertStore;

impl CertStore {
    /// Reloads the certificate on SIGHUP (unconditionally) and whenever a
    /// poll every `poll` finds either file changed, until `shutdown`.
    ///
    /// Polling covers renewals by tools that do not signal the server
    /// (certbot without a deploy hook, Kubernetes secret mounts); SIGHUP is
    /// for operators who want the new certificate now. A failed reload
    /// logs an error and keeps serving the previous certificate.
    pub async fn watch(self: Arc<Self>, poll: Duration, shutdown: CancellationToken) {
        let mut hangup = hangup_signal();
        let mut tick = tokio::time::interval(poll.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; the files were just loaded
        loop {
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                () = next_hangup(&mut hangup) => Some(self.reload()),
                _ = tick.tick() => self.reload_if_changed(),
            };
            match result {
                None => {}
                Some(Ok(())) => info!(
                    cert = %self.files().cert.display(),
                    fingerprint = %self.fingerprint(),
                    "tls certificate reloaded"
                ),
                Some(Err(e)) => error!(
                    error = %e,
                    fingerprint = %self.fingerprint(),
                    "tls certificate reload failed; keeping the certificate in use"
                ),
            }
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGHUP; tls certificates reload on file change only");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {}

/// Resolves on the next SIGHUP; never where there is none.
#[cfg(unix)]
async fn next_hangup(hangup: &mut Hangup) {
    if let Some(s) = hangup {
        if s.recv().await.is_some() {
            return;
        }
    }
    std::future::pending().await
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::testing::write_pair;

    /// Completes a handshake with a client that trusts only the current
    /// certificate file, and returns the leaf the server presented.
    async fn handshake(store: &Arc<CertStore>, trust: &Path) -> CertificateDer<'static> {
        let acceptor = store.acceptor(&[b"http/1.1"]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(trust).unwrap())
            .unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let (a, b) = tokio::io::duplex(64 << 10);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(b).await.unwrap();
            tls.write_all(b"hi").await.unwrap();
            tls.shutdown().await.unwrap();
        });
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, a).await.unwrap();
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hi");
        server.await.unwrap();
        tls.get_ref().1.peer_certificates().unwrap()[0].clone()
    }

    #[tokio::test]
    async fn polling_serves_a_replaced_certificate_to_new_handshakes() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "localhost");
        let store = CertStore::load(files.clone()).unwrap();
        let old = handshake(&store, &files.cert).await;

        let shutdown = CancellationToken::new();
        let watcher = tokio::spawn(
            store
                .clone()
                .watch(Duration::from_millis(20), shutdown.clone()),
        );
        write_pair(dir.path(), "localhost");
        let mut waited = Duration::ZERO;
        while old == store.current().cert[0] {
            assert!(waited < Duration::from_secs(5), "no reload within 5 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += Duration::from_millis(20);
        }
        let new = handshake(&store, &files.cert).await;
        assert_ne!(new, old);
        assert_eq!(new, CertificateDer::from_pem_file(&files.cert).unwrap());
        shutdown.cancel();
        watcher.await.unwrap();
    }
}
