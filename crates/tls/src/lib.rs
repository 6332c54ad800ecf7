//! TLS for weir's listeners (RTMPS, HTTPS): a certificate chain and private
//! key read from PEM files, served through a [`CertStore`] that can swap them
//! while the server runs.
//!
//! The adapters never see files: the app loads a [`CertStore`], hands each
//! listener a [`TlsAcceptor`] built from it ([`CertStore::acceptor`]), and
//! runs [`CertStore::watch`], which reloads the files on SIGHUP and when
//! their modification time changes. Certificates are renewed (Let's Encrypt,
//! cert-manager) far more often than media servers are restarted, and a
//! restart would drop every live publisher and viewer. A reload that fails
//! (a half-written file, a key that does not match) logs an error and keeps
//! the certificate in use; connections already open keep their session.
//!
//! The crypto provider is `ring`, chosen explicitly rather than taken from
//! process-wide defaults, so no other crate's feature flags can change it.

#![warn(missing_docs, unreachable_pub)]

mod store;
#[cfg(test)]
mod testing;
mod watch;

use std::path::PathBuf;

pub use store::{CertFiles, CertStore};
pub use tokio_rustls::TlsAcceptor;

/// What went wrong loading a certificate or key, or building a TLS
/// configuration. Every variant names the file involved, so a startup or
/// reload error tells the operator which path to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificate file could not be read or holds malformed PEM.
    #[error("reading TLS certificate {path}: {source}")]
    ReadCert {
        /// The certificate file.
        path: PathBuf,
        /// The PEM reader's error (I/O errors included).
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    #[error("no certificate (PEM 'CERTIFICATE' section) in {path}")]
    NoCert {
        /// The certificate file.
        path: PathBuf,
    },
    /// The key file could not be read, is malformed, or holds no key.
    #[error("reading TLS private key {path}: {source}")]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// The PEM reader's error; `NoItemsFound` when there is no key.
        source: rustls_pki_types::pem::Error,
    },
    /// The key was read but the crypto provider cannot sign with it (an
    /// unsupported algorithm or a corrupt key).
    #[error("TLS private key {path} is not usable: {source}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// The key does not belong to the first certificate of the chain: a
    /// typical result of replacing one file and not (yet) the other.
    #[error("TLS private key {key} does not match the certificate in {cert}")]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the server configuration.
    #[error("building the TLS configuration: {0}")]
    Config(rustls::Error),
}
