//! Test certificates: a self-signed certificate for 127.0.0.1 and
//! localhost (rcgen), written where `[tls] cert`/`key` point.

use std::fs;
use std::path::Path;

/// A certificate and key for 127.0.0.1 and localhost, with `name` as its
/// common name, written (key first, as a renewal would) over `dir`'s
/// `cert.pem` and `key.pem`. Returns the certificate's PEM.
pub fn write_cert(dir: &Path, name: &str) -> String {
    let key = rcgen::KeyPair::generate().expect("generate key");
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("certificate params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("self-sign");
    fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key");
    fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert");
    cert.pem()
}
