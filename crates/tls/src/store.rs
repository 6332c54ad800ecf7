//! The certificate in use, its source files, and loading them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// Where the certificate chain and private key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM file with the certificate chain, leaf first (as `fullchain.pem`).
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// What a file looked like when last loaded: a change of any part means it
/// was rewritten or replaced (a renamed-in file or a swapped symlink target
/// has another inode even when its timestamp is older).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    /// `None` when the file cannot be read right now (mid-replacement).
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

/// The certificate every new TLS handshake gets, and the files it came
/// from. It is the rustls certificate resolver of every acceptor built from
/// it, so a reload reaches all listeners at once; handshakes only take a
/// reference-counted snapshot, never wait on a reload.
#[derive(Debug)]
pub struct CertStore {
    files: CertFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// File stamps at the last load attempt, successful or not: a broken
    /// pair is tried again only once a file changes again, instead of
    /// logging the same error every poll.
    seen: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

impl CertStore {
    /// Loads the files; fails (naming the file) if either is missing,
    /// malformed, or the key does not match the certificate.
    pub fn load(files: CertFiles) -> Result<Arc<CertStore>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamps = stamps(&files);
        let key = load_pair(&files, &provider)?;
        Ok(Arc::new(CertStore {
            files,
            provider,
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new(stamps),
        }))
    }

    /// The files this store reads.
    pub fn files(&self) -> &CertFiles {
        &self.files
    }

    /// The certificate and key new handshakes get now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().clone()
    }

    /// SHA-256 of the leaf certificate in use (DER), as upper-case hex
    /// pairs joined by colons, exactly what `openssl x509 -noout
    /// -fingerprint -sha256` prints after `=`: log lines that tell which
    /// certificate is live can be compared to it by eye or by `grep`.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.current())
    }

    /// Reads the files again and, if they hold a valid pair, serves it to
    /// every new handshake. On error the certificate in use stays.
    pub fn reload(&self) -> Result<(), Error> {
        *self.seen.lock() = stamps(&self.files);
        let key = load_pair(&self.files, &self.provider)?;
        *self.current.write() = Arc::new(key);
        Ok(())
    }

    /// Reloads if either file changed since the last attempt; `None` when
    /// neither did (or one is missing: a file being replaced is looked at
    /// again on the next call).
    pub fn reload_if_changed(&self) -> Option<Result<(), Error>> {
        let now = stamps(&self.files);
        if now.0.is_none() || now.1.is_none() || *self.seen.lock() == now {
            return None;
        }
        Some(self.reload())
    }

    /// A TLS acceptor whose handshakes use this store's current
    /// certificate. `alpn` lists the application protocols to offer, most
    /// preferred first (`b"http/1.1"` for HTTPS; none for RTMPS, whose
    /// clients send no ALPN).
    pub fn acceptor(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<TlsAcceptor, Error> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(Error::Config)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn stamps(files: &CertFiles) -> (Option<Stamp>, Option<Stamp>) {
    (Stamp::of(&files.cert), Stamp::of(&files.key))
}

/// Reads and checks a certificate chain and its key.
fn load_pair(files: &CertFiles, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
    let read_cert = |source| Error::ReadCert {
        path: files.cert.clone(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(read_cert)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_cert)?;
    if chain.is_empty() {
        return Err(Error::NoCert {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| Error::ReadKey {
        path: files.key.clone(),
        source,
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => Error::KeyMismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
        },
        // A chain whose leaf cannot be parsed is a certificate problem,
        // but rustls only finds out when comparing it with the key.
        source => Error::BadKey {
            path: files.key.clone(),
            source,
        },
    })
}

pub(crate) fn fingerprint(key: &CertifiedKey) -> String {
    let leaf = key.cert.first().map(|c| c.as_ref()).unwrap_or_default();
    Sha256::digest(leaf)
        .iter()
        .fold(String::with_capacity(95), |mut s, b| {
            if !s.is_empty() {
                s.push(':');
            }
            let _ = write!(s, "{b:02X}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::write_pair;

    #[test]
    fn loads_a_pair_and_reloads_a_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "one.test");
        let store = CertStore::load(files.clone()).unwrap();
        let first = store.fingerprint();
        // 32 bytes as `AB:` pairs, as openssl prints them.
        assert_eq!(first.len(), 95);
        assert!(first
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'))));
        assert!(store.reload_if_changed().is_none(), "nothing changed yet");

        write_pair(dir.path(), "two.test");
        store.reload_if_changed().expect("files changed").unwrap();
        assert_ne!(store.fingerprint(), first);
        assert!(store.reload_if_changed().is_none());
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate_and_is_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "one.test");
        let store = CertStore::load(files.clone()).unwrap();
        let before = store.fingerprint();

        // A new key without its certificate: the pair no longer matches.
        let cert = std::fs::read(&files.cert).unwrap();
        write_pair(dir.path(), "two.test");
        std::fs::write(&files.cert, cert).unwrap();
        let err = store.reload_if_changed().expect("key changed").unwrap_err();
        assert!(matches!(err, Error::KeyMismatch { .. }), "{err}");
        assert_eq!(store.fingerprint(), before);
        assert!(store.reload_if_changed().is_none(), "same broken files");

        std::fs::write(&files.cert, "not pem").unwrap();
        let err = store.reload().unwrap_err();
        assert!(matches!(err, Error::NoCert { .. }), "{err}");
        assert_eq!(store.fingerprint(), before);
    }

    #[test]
    fn startup_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "one.test");
        let missing = CertFiles {
            cert: dir.path().join("nope.pem"),
            key: files.key.clone(),
        };
        let err = CertStore::load(missing).unwrap_err();
        assert!(err.to_string().contains("nope.pem"), "{err}");

        let swapped = CertFiles {
            cert: files.key.clone(),
            key: files.cert.clone(),
        };
        let err = CertStore::load(swapped).unwrap_err();
        assert!(matches!(err, Error::NoCert { .. }), "{err}");

        std::fs::write(&files.key, "").unwrap();
        let err = CertStore::load(files).unwrap_err();
        assert!(matches!(err, Error::ReadKey { .. }), "{err}");
        assert!(err.to_string().contains("key.pem"), "{err}");
    }
}
