//! RTSP authentication: Basic (RFC 7617) and Digest (RFC 7616, MD5 and
//! SHA-256), the schemes cameras and ffmpeg/GStreamer speak.
//!
//! The server side parses `Authorization`, writes `WWW-Authenticate`
//! challenges and verifies responses against a password the caller looked
//! up; the client side (pulling from cameras) parses challenges and computes
//! responses. Nonces and client nonces are passed in: no randomness here.

use std::fmt;

use base64::Engine;
use md5::Digest as _;

use crate::error::RtspError;

/// Most parameters read from one auth header; a flood is an error.
const MAX_PARAMS: usize = 16;
/// Longest auth header value accepted, before any parsing.
const MAX_VALUE: usize = 2048;

/// The hash of a Digest exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `MD5`: what most cameras and ffmpeg use.
    Md5,
    /// `SHA-256` (RFC 7616).
    Sha256,
}

impl DigestAlgorithm {
    fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    fn parse(s: &str) -> Option<DigestAlgorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(DigestAlgorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(DigestAlgorithm::Sha256)
        } else {
            None
        }
    }

    fn hex(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            DigestAlgorithm::Md5 => md5::Md5::digest(data.as_bytes()).to_vec(),
            DigestAlgorithm::Sha256 => sha2::Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A server's Digest challenge (`WWW-Authenticate: Digest …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    /// Protection space shown to the user.
    pub realm: String,
    /// Server nonce (the caller makes it, e.g. HMAC of a time slot).
    pub nonce: String,
    /// Hash to use.
    pub algorithm: DigestAlgorithm,
    /// Whether `qop=auth` is offered (then the client sends `nc`/`cnonce`).
    pub qop_auth: bool,
    /// Opaque value the client echoes.
    pub opaque: Option<String>,
}

impl DigestChallenge {
    /// Parses a `WWW-Authenticate` value; `None` if it is not Digest with a
    /// known algorithm (a client then tries the next challenge).
    pub fn parse(value: &str) -> Option<DigestChallenge> {
        let rest = strip_scheme(value, "Digest")?;
        let params = parse_params(rest).ok()?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            None => DigestAlgorithm::Md5,
            Some(a) => DigestAlgorithm::parse(&a)?,
        };
        Some(DigestChallenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            algorithm,
            qop_auth: get("qop").is_some_and(|q| q.split(',').any(|q| q.trim() == "auth")),
            opaque: get("opaque"),
        })
    }

    /// The client's `Authorization` value for a request.
    ///
    /// `cnonce` is the client's random nonce and `nc` its request count
    /// for this nonce; both matter only when the challenge offered `qop`.
    pub fn respond(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let qop = self
            .qop_auth
            .then(|| (format!("{nc:08x}"), cnonce.to_owned()));
        let response = digest_response(
            self.algorithm,
            user,
            &self.realm,
            password,
            method,
            uri,
            &self.nonce,
            qop.as_ref().map(|(nc, c)| (nc.as_str(), c.as_str())),
        );
        let mut out = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            quote(user),
            quote(&self.realm),
            quote(&self.nonce),
            quote(uri),
            response,
            self.algorithm.name()
        );
        if let Some((nc, cnonce)) = qop {
            out.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{}\"",
                quote(&cnonce)
            ));
        }
        if let Some(o) = &self.opaque {
            out.push_str(&format!(", opaque=\"{}\"", quote(o)));
        }
        out
    }
}

impl fmt::Display for DigestChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
            quote(&self.realm),
            quote(&self.nonce),
            self.algorithm.name()
        )?;
        if self.qop_auth {
            f.write_str(", qop=\"auth\"")?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque=\"{}\"", quote(o))?;
        }
        Ok(())
    }
}

/// The `WWW-Authenticate` value of a Basic challenge.
pub fn basic_challenge(realm: &str) -> String {
    format!("Basic realm=\"{}\"", quote(realm))
}

/// The `Authorization` value for Basic credentials (client side).
pub fn basic_authorization(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// A client's Digest answer, as read from `Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    /// User name.
    pub username: String,
    /// Realm the client answered for.
    pub realm: String,
    /// The nonce it answered (the server checks it is one of its own).
    pub nonce: String,
    /// The URI the hash covers (may differ from the request line's form).
    pub uri: String,
    /// Hex response hash.
    pub response: String,
    /// Hash used.
    pub algorithm: DigestAlgorithm,
    /// `(nc, cnonce)` when `qop=auth` was used.
    pub qop: Option<(String, String)>,
}

impl DigestCredentials {
    /// Whether the response proves knowledge of `password` for `method`.
    /// Compared in constant time so the answer leaks no prefix length.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let expected = digest_response(
            self.algorithm,
            &self.username,
            &self.realm,
            password,
            method,
            &self.uri,
            &self.nonce,
            self.qop.as_ref().map(|(nc, c)| (nc.as_str(), c.as_str())),
        );
        constant_time_eq(
            expected.as_bytes(),
            self.response.to_ascii_lowercase().as_bytes(),
        )
    }
}

/// What an `Authorization` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Basic: user and password in clear (only sane over RTSPS).
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// Digest.
    Digest(DigestCredentials),
}

impl Credentials {
    /// Parses an `Authorization` value. Unknown schemes and malformed
    /// values are errors (answered with 401 and a fresh challenge).
    pub fn parse(value: &str) -> Result<Credentials, RtspError> {
        let err = |reason| RtspError::Header {
            header: "Authorization",
            reason,
        };
        if value.len() > MAX_VALUE {
            return Err(err("too long"));
        }
        if let Some(token) = strip_scheme(value, "Basic") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(token.trim())
                .map_err(|_| err("bad base64"))?;
            let text = String::from_utf8(raw).map_err(|_| err("not UTF-8"))?;
            let (user, password) = text.split_once(':').ok_or(err("no ':' in credentials"))?;
            return Ok(Credentials::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            });
        }
        let rest = strip_scheme(value, "Digest").ok_or(err("unknown scheme"))?;
        let params = parse_params(rest).map_err(|_| err("bad parameters"))?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            None => DigestAlgorithm::Md5,
            Some(a) => DigestAlgorithm::parse(&a).ok_or(err("unknown algorithm"))?,
        };
        let qop = match get("qop") {
            None => None,
            Some(q) if q == "auth" => Some((
                get("nc").ok_or(err("qop without nc"))?,
                get("cnonce").ok_or(err("qop without cnonce"))?,
            )),
            Some(_) => return Err(err("unsupported qop")),
        };
        Ok(Credentials::Digest(DigestCredentials {
            username: get("username").ok_or(err("no username"))?,
            realm: get("realm").ok_or(err("no realm"))?,
            nonce: get("nonce").ok_or(err("no nonce"))?,
            uri: get("uri").ok_or(err("no uri"))?,
            response: get("response").ok_or(err("no response"))?,
            algorithm,
            qop,
        }))
    }

    /// The user name, whichever the scheme.
    pub fn user(&self) -> &str {
        match self {
            Credentials::Basic { user, .. } => user,
            Credentials::Digest(d) => &d.username,
        }
    }
}

/// The RFC 7616 §3.4.1 response hash, lower-case hex.
#[allow(clippy::too_many_arguments)]
pub fn digest_response(
    alg: DigestAlgorithm,
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha1 = alg.hex(&format!("{user}:{realm}:{password}"));
    let ha2 = alg.hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => alg.hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => alg.hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let value = value.trim_start();
    let head = value.get(..scheme.len())?;
    let rest = &value[scheme.len()..];
    (head.eq_ignore_ascii_case(scheme) && (rest.is_empty() || rest.starts_with([' ', '\t'])))
        .then_some(rest)
}

/// `k=v, k="quoted, \"v\""` into pairs, bounded in count.
fn parse_params(s: &str) -> Result<Vec<(String, String)>, ()> {
    if s.len() > MAX_VALUE {
        return Err(());
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        if out.len() == MAX_PARAMS {
            return Err(());
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next_if_eq(&'=').is_none() {
            return Err(());
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err(()),
                    Some('"') => break,
                    Some('\\') => val.push(chars.next().ok_or(())?),
                    Some(c) => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        if key.is_empty() {
            return Err(());
        }
        out.push((key, val));
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_md5_example() {
        // The worked example of RFC 2617 §3.5 (qop=auth).
        let r = digest_response(
            DigestAlgorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc_7616_sha256_example() {
        // RFC 7616 §3.9.1.
        let r = digest_response(
            DigestAlgorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn server_challenge_client_response_verify() {
        for alg in [DigestAlgorithm::Md5, DigestAlgorithm::Sha256] {
            for qop in [false, true] {
                let ch = DigestChallenge {
                    realm: "weir".into(),
                    nonce: "n0nce".into(),
                    algorithm: alg,
                    qop_auth: qop,
                    opaque: Some("op".into()),
                };
                let parsed = DigestChallenge::parse(&ch.to_string()).unwrap();
                assert_eq!(parsed, ch);
                let auth = parsed.respond("user", "key", "DESCRIBE", "rtsp://h/live/a", "c1", 1);
                let Credentials::Digest(d) = Credentials::parse(&auth).unwrap() else {
                    panic!("not digest");
                };
                assert_eq!(d.username, "user");
                assert!(d.verify("DESCRIBE", "key"));
                assert!(!d.verify("DESCRIBE", "wrong"));
                assert!(!d.verify("SETUP", "key"));
            }
        }
    }

    #[test]
    fn ffmpeg_style_digest_and_basic() {
        let v = r#"Digest username="u", realm="weir", nonce="abc", uri="rtsp://127.0.0.1:8554/live/a", response="0123456789abcdef0123456789abcdef""#;
        let Credentials::Digest(d) = Credentials::parse(v).unwrap() else {
            panic!("not digest");
        };
        assert_eq!(d.algorithm, DigestAlgorithm::Md5);
        assert_eq!(d.uri, "rtsp://127.0.0.1:8554/live/a");
        assert!(!d.verify("DESCRIBE", "x"));

        let b = basic_authorization("Aladdin", "open sesame");
        assert_eq!(b, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(
            Credentials::parse(&b).unwrap(),
            Credentials::Basic {
                user: "Aladdin".into(),
                password: "open sesame".into()
            }
        );
        assert!(Credentials::parse("Bearer x").is_err());
        assert!(Credentials::parse("Digest username=\"u").is_err());
        assert!(Credentials::parse(&format!("Digest {}", "a=b,".repeat(100))).is_err());
        assert_eq!(basic_challenge("weir"), "Basic realm=\"weir\"");
    }
}
