//! Test certificates.

use std::path::Path;

use crate::CertFiles;

/// Writes a new self-signed certificate for `name` and its key as
/// `cert.pem` and `key.pem` in `dir` (key first, as an operator replacing
/// both would, so a poll in between sees a mismatch at worst).
pub(crate) fn write_pair(dir: &Path, name: &str) -> CertFiles {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let files = CertFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    std::fs::write(&files.cert, cert.pem()).unwrap();
    files
}
