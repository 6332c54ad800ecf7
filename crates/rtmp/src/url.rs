//! RTMP URLs: `rtmp[s|e|t]://host[:port]/app/stream[?query]`.
//!
//! RTMP has no standard for where the application ends and the stream name
//! begins; weir's rule is the simplest one that matches its
//! `{app}/{stream}` stream keys: the app is the first path segment and
//! everything after it, query included, is the stream.

use crate::error::UrlError;

/// Port of plain RTMP.
pub const DEFAULT_PORT: u16 = 1935;
/// Port of RTMP over TLS (RTMPS), as commonly deployed.
pub const DEFAULT_TLS_PORT: u16 = 443;
/// Port of RTMP tunnelled in HTTP (RTMPT).
pub const DEFAULT_HTTP_PORT: u16 = 80;

/// How the bytes of an RTMP connection travel: the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `rtmp://`: plain TCP, port 1935.
    Rtmp,
    /// `rtmps://`: TLS, port 443.
    Rtmps,
    /// `rtmpe://`: the RTMPE handshake, then RC4 (obfuscation, not
    /// security), port 1935.
    Rtmpe,
    /// `rtmpt://`: tunnelled in HTTP requests, port 80.
    Rtmpt,
    /// `rtmpts://`: tunnelled in HTTPS requests, port 443.
    Rtmpts,
}

impl Scheme {
    /// The scheme for a URL's scheme text (any case).
    pub fn from_name(name: &str) -> Option<Scheme> {
        Some(match name.to_ascii_lowercase().as_str() {
            "rtmp" => Scheme::Rtmp,
            "rtmps" => Scheme::Rtmps,
            "rtmpe" => Scheme::Rtmpe,
            "rtmpt" => Scheme::Rtmpt,
            "rtmpts" => Scheme::Rtmpts,
            _ => return None,
        })
    }

    /// The port a URL without one connects to.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Rtmp | Scheme::Rtmpe => DEFAULT_PORT,
            Scheme::Rtmps | Scheme::Rtmpts => DEFAULT_TLS_PORT,
            Scheme::Rtmpt => DEFAULT_HTTP_PORT,
        }
    }
}

/// Splits `"name?a=1&b=2"` into the name and the query (without `?`,
/// empty if there is none).
///
/// Clients put access tokens after the stream name (`publish
/// "cam?key=x"`) and sometimes after the app (`rtmp://h/live?key=x/cam`
/// makes `connect` carry `app = "live?key=x"`); the server session and
/// adapters split both the same way.
pub fn split_query(s: &str) -> (&str, &str) {
    s.split_once('?').unwrap_or((s, ""))
}

/// A parsed RTMP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    /// How the connection's bytes travel.
    pub scheme: Scheme,
    /// `rtmps://`: the connection needs TLS.
    pub tls: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port, defaulted from the scheme.
    pub port: u16,
    /// Application: the first path segment.
    pub app: String,
    /// Stream name: the rest of the path, with the query string if any.
    pub stream: String,
    /// `scheme://authority/app`, what `connect` sends as `tcUrl`.
    pub tc_url: String,
}

impl RtmpUrl {
    /// Parses `rtmp://host[:port]/app/stream[?query]` (or `rtmps://`,
    /// `rtmpe://`, `rtmpt://`).
    pub fn parse(url: &str) -> Result<RtmpUrl, UrlError> {
        let err_url = || url.to_owned();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| UrlError::Scheme { url: err_url() })?;
        let kind = Scheme::from_name(scheme).ok_or_else(|| UrlError::Scheme { url: err_url() })?;
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| UrlError::Path { url: err_url() })?;
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(UrlError::Host { url: err_url() });
        }
        let port = match port {
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(UrlError::Port { port: p.to_owned() }),
            },
            None => kind.default_port(),
        };
        let (app, stream) = path
            .split_once('/')
            .ok_or_else(|| UrlError::Path { url: err_url() })?;
        if app.is_empty() || app.contains('?') || stream.is_empty() || stream.starts_with('?') {
            return Err(UrlError::Path { url: err_url() });
        }
        Ok(RtmpUrl {
            scheme: kind,
            tls: matches!(kind, Scheme::Rtmps | Scheme::Rtmpts),
            host: host.to_owned(),
            port,
            app: app.to_owned(),
            stream: stream.to_owned(),
            tc_url: format!("{scheme}://{authority}/{app}"),
        })
    }
}

/// Splits `host[:port]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| UrlError::Host {
            url: authority.to_owned(),
        })?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(UrlError::Host {
                    url: authority.to_owned(),
                }),
            },
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_at_the_first_question_mark() {
        assert_eq!(split_query("live?t=1"), ("live", "t=1"));
        assert_eq!(split_query("live"), ("live", ""));
        assert_eq!(split_query("live?t=1?x"), ("live", "t=1?x"));
        assert_eq!(split_query("?t=1"), ("", "t=1"));
    }

    #[test]
    fn full_url() {
        let u = RtmpUrl::parse("rtmp://example.com:1936/live/cam1?token=abc").unwrap();
        assert_eq!(
            u,
            RtmpUrl {
                scheme: Scheme::Rtmp,
                tls: false,
                host: "example.com".into(),
                port: 1936,
                app: "live".into(),
                stream: "cam1?token=abc".into(),
                tc_url: "rtmp://example.com:1936/live".into(),
            }
        );
    }

    #[test]
    fn default_ports() {
        assert_eq!(RtmpUrl::parse("rtmp://h/a/s").unwrap().port, 1935);
        let u = RtmpUrl::parse("RTMPS://h/a/s").unwrap();
        assert!(u.tls);
        assert_eq!(u.port, 443);
        assert_eq!(u.tc_url, "RTMPS://h/a");
        let u = RtmpUrl::parse("rtmpe://h/a/s").unwrap();
        assert_eq!((u.scheme, u.port, u.tls), (Scheme::Rtmpe, 1935, false));
        assert_eq!(u.tc_url, "rtmpe://h/a");
        let u = RtmpUrl::parse("rtmpt://h/a/s").unwrap();
        assert_eq!((u.scheme, u.port), (Scheme::Rtmpt, 80));
        let u = RtmpUrl::parse("rtmpts://h/live/x").unwrap();
        assert_eq!((u.scheme, u.port, u.tls), (Scheme::Rtmpts, 443, true));
        assert_eq!(
            RtmpUrl::parse("rtmps://h/a/s").unwrap().scheme,
            Scheme::Rtmps
        );
    }

    #[test]
    fn stream_keeps_further_segments() {
        let u = RtmpUrl::parse("rtmp://h/app/a/b").unwrap();
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("app", "a/b"));
    }

    #[test]
    fn ipv6_hosts() {
        let u = RtmpUrl::parse("rtmp://[::1]:1940/live/s").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1940));
        assert_eq!(u.tc_url, "rtmp://[::1]:1940/live");
        assert_eq!(RtmpUrl::parse("rtmp://[::1]/live/s").unwrap().port, 1935);
        assert!(RtmpUrl::parse("rtmp://[::1/live/s").is_err());
        assert!(RtmpUrl::parse("rtmp://[::1]x/live/s").is_err());
    }

    #[test]
    fn errors() {
        for (url, want) in [
            ("http://h/a/s", "scheme"),
            ("rtmfp://h/a/s", "scheme"),
            ("rtmp:/h/a/s", "scheme"),
            ("rtmp://h", "path"),
            ("rtmp://h/app", "path"),
            ("rtmp://h/app/", "path"),
            ("rtmp://h//s", "path"),
            ("rtmp://h/app/?x=1", "path"),
            ("rtmp://h/app?x/s", "path"),
            ("rtmp://:1935/a/s", "host"),
            ("rtmp://h:0/a/s", "port"),
            ("rtmp://h:99999/a/s", "port"),
            ("rtmp://h:x/a/s", "port"),
        ] {
            let got = match RtmpUrl::parse(url) {
                Err(UrlError::Scheme { .. }) => "scheme",
                Err(UrlError::Path { .. }) => "path",
                Err(UrlError::Host { .. }) => "host",
                Err(UrlError::Port { .. }) => "port",
                Ok(u) => panic!("{url} parsed: {u:?}"),
            };
            assert_eq!(got, want, "{url}");
        }
    }
}
