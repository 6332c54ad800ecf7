//! A `[[pull]]` entry: which camera feeds which stream, and how.

use std::fmt;

use serde::{Deserialize, Serialize};
use weir_media::StreamKey;

use crate::PullError;

/// How RTP comes from the camera.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved on the RTSP connection: works through NAT and
    /// firewalls and never loses packets. The default.
    #[default]
    Tcp,
    /// RTP/UDP: lower latency on a clean LAN; lost packets drop frames.
    Udp,
    /// UDP first; when its SETUP fails, no media arrives within
    /// [`crate::STALL_TIMEOUT`], or [`crate::LOSS_LIMIT`] packets are lost
    /// within [`crate::LOSS_WINDOW`], TCP from then on.
    Auto,
}

impl Transport {
    /// `"tcp"`, `"udp"` or `"auto"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Auto => "auto",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Transport {
    type Err = PullError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Transport::Tcp),
            "udp" => Ok(Transport::Udp),
            "auto" => Ok(Transport::Auto),
            other => Err(PullError::BadSetting(format!(
                "transport {other:?} is not tcp, udp or auto"
            ))),
        }
    }
}

/// Seconds an on-demand pull keeps running after its last viewer left.
pub const DEFAULT_IDLE_SECS: f64 = 10.0;

fn default_on_demand() -> bool {
    true
}

fn default_idle_secs() -> f64 {
    DEFAULT_IDLE_SECS
}

/// One `[[pull]]` entry (or a `POST /api/v1/pulls` body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// App of the stream the camera feeds; may be left out when
    /// `stream` names both (`stream = "live/cam"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app: String,
    /// The stream the camera feeds: `"live/cam"`, or its name alone with
    /// `app` set.
    pub stream: String,
    /// `rtsp://user:password@host:554/path`: the camera's URL, with its
    /// credentials if it wants any (Basic or Digest, as it asks); or
    /// `rtmp://host[:port]/app/stream[?query]`: a stream another RTMP
    /// server plays.
    pub url: String,
    /// How RTP comes from the camera (RTSP; an RTMP pull is TCP).
    #[serde(default)]
    pub transport: Transport,
    /// Pull only while somebody watches (the default), or always.
    #[serde(default = "default_on_demand")]
    pub on_demand: bool,
    /// On demand: seconds the pull keeps running after the last viewer
    /// left, so a viewer who reloads finds it running
    /// (`close_after_secs`; `idle_secs` is read too).
    #[serde(
        rename = "close_after_secs",
        alias = "idle_secs",
        default = "default_idle_secs"
    )]
    pub idle_secs: f64,
}

impl PullConfig {
    /// The stream it feeds.
    pub fn key(&self) -> Result<StreamKey, PullError> {
        let (app, stream) = match (self.app.as_str(), self.stream.split_once('/')) {
            ("", Some((app, stream))) => (app, stream),
            (app, _) => (app, self.stream.as_str()),
        };
        StreamKey::new(app, stream).map_err(|source| PullError::BadName {
            app: app.to_owned(),
            stream: stream.to_owned(),
            source,
        })
    }

    /// Checks every field; the error says which is wrong.
    pub fn check(&self) -> Result<(), PullError> {
        self.key()?;
        if let SourceUrl::Rtmp(_) = source_url(&self.url)? {
            if self.transport != Transport::Tcp {
                return Err(PullError::BadSetting(format!(
                    "transport {} of {} applies to rtsp:// pulls only (RTMP is TCP)",
                    self.transport, self.stream
                )));
            }
        }
        if !(self.idle_secs.is_finite() && (0.0..=86_400.0).contains(&self.idle_secs)) {
            return Err(PullError::BadSetting(format!(
                "close_after_secs {} of {} must be 0 to 86400",
                self.idle_secs, self.stream
            )));
        }
        Ok(())
    }

    /// The URL with its password replaced by `***`, for logs and the API.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

/// Query parameters that carry credentials: their values are never shown.
const SECRET_PARAMS: [&str; 7] = ["key", "sign", "token", "secret", "password", "pass", "auth"];

/// The URL with its password and the values of credential parameters
/// (`key`, `sign`, `token`...) replaced by `***` (unparsable URLs are
/// shown only up to their scheme, in case they hide one).
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            if let Some(query) = url.query() {
                let masked: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((name, _))
                            if SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str()) =>
                        {
                            format!("{name}=***")
                        }
                        _ => pair.to_owned(),
                    })
                    .collect();
                url.set_query(Some(&masked.join("&")));
            }
            url.to_string()
        }
        Err(_) => match raw.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "…".to_owned(),
        },
    }
}

/// User name and password taken out of a camera URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Creds {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl fmt::Debug for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Creds")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A source URL, checked, by protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceUrl {
    /// A camera (retina): the URL without its credentials, and them.
    Rtsp { url: url::Url, creds: Option<Creds> },
    /// A stream another RTMP server plays (weir's RTMP client), as given.
    Rtmp(String),
}

/// Parses a source URL: `rtsp://` (retina speaks no RTSPS), or any scheme
/// weir's RTMP client speaks (`rtmp://`, `rtmps://` with the server checked
/// against Mozilla's roots, `rtmpe://`, `rtmpt://`), with a host.
pub(crate) fn source_url(raw: &str) -> Result<SourceUrl, PullError> {
    let bad = |reason: &str| PullError::BadUrl {
        url: redact(raw),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "rtsp" => camera_url(raw).map(|(url, creds)| SourceUrl::Rtsp { url, creds }),
        "rtmp" | "rtmps" | "rtmpe" | "rtmpt" | "rtmpts" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err(bad("no host"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(bad(
                    "RTMP URLs carry no credentials: put a key in the stream's query \
                     (rtmp://host/app/stream?key=...)",
                ));
            }
            weir_rtmp::url::RtmpUrl::parse(raw)
                .map_err(|_| bad("an RTMP URL is rtmp://host[:port]/app/stream[?query]"))?;
            Ok(SourceUrl::Rtmp(raw.to_owned()))
        }
        "rtsps" => Err(bad(
            "rtsps:// is not supported: the RTSP client speaks no TLS",
        )),
        _ => Err(bad(
            "the scheme must be rtsp://, rtmp://, rtmps://, rtmpe:// or rtmpt://",
        )),
    }
}

/// Parses a camera URL: `rtsp://` only, with a host; credentials come
/// out (percent-decoded) so that they travel in `Authorization` only,
/// never in a request line.
pub(crate) fn camera_url(raw: &str) -> Result<(url::Url, Option<Creds>), PullError> {
    let bad = |reason: &str| PullError::BadUrl {
        url: redact(raw),
        reason: reason.to_owned(),
    };
    let mut url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "rtsp" {
        return Err(bad("the scheme must be rtsp://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    let creds = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        // `form_urlencoded` would turn `+` into a space; credentials are
        // percent-encoded in URLs, so protect a literal plus first.
        let plain = |s: &str| decode(&s.replace('+', "%2B"));
        let creds = Creds {
            username: plain(url.username()),
            password: plain(url.password().unwrap_or("")),
        };
        url.set_username("")
            .map_err(|()| bad("cannot remove the user name"))?;
        url.set_password(None)
            .map_err(|()| bad("cannot remove the password"))?;
        Some(creds)
    };
    Ok((url, creds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        pull: Vec<PullConfig>,
    }

    #[test]
    fn entries_parse_with_defaults() {
        let file: File = toml::from_str(
            r#"
            [[pull]]
            app = "live"
            stream = "door"
            url = "rtsp://admin:s%40cret+1@10.0.0.5:554/Streaming/Channels/101"

            [[pull]]
            stream = "live/yard"
            url = "rtsp://10.0.0.6/h265"
            transport = "auto"
            on_demand = false
            close_after_secs = 3
            "#,
        )
        .unwrap();
        let [door, yard] = &file.pull[..] else {
            panic!("{:?}", file.pull)
        };
        assert_eq!(door.transport, Transport::Tcp);
        assert!(door.on_demand);
        assert_eq!(door.idle_secs, DEFAULT_IDLE_SECS);
        door.check().unwrap();
        assert_eq!(door.key().unwrap().to_string(), "live/door");
        assert_eq!(
            door.redacted_url(),
            "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101"
        );
        assert_eq!(
            redact("rtmp://h:1935/live/cam?key=s3cret&x=1&SIGN=abc&expires=9"),
            "rtmp://h:1935/live/cam?key=***&x=1&SIGN=***&expires=9"
        );
        let (url, creds) = camera_url(&door.url).unwrap();
        assert_eq!(url.as_str(), "rtsp://10.0.0.5:554/Streaming/Channels/101");
        let creds = creds.unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.as_str()),
            ("admin", "s@cret+1")
        );
        assert!(!format!("{creds:?}").contains("cret"));

        assert_eq!(yard.transport, Transport::Auto);
        assert!(!yard.on_demand);
        assert_eq!(yard.idle_secs, 3.0);
        assert_eq!(yard.key().unwrap().to_string(), "live/yard");
        // The older name of close_after_secs is read too.
        let old: File =
            toml::from_str("[[pull]]\nstream = \"a/b\"\nurl = \"rtsp://c/\"\nidle_secs = 4\n")
                .unwrap();
        assert_eq!(old.pull[0].idle_secs, 4.0);
        assert_eq!(camera_url(&yard.url).unwrap().1, None);
    }

    #[test]
    fn bad_entries_are_refused() {
        let base = PullConfig {
            app: "live".into(),
            stream: "cam".into(),
            url: "rtsp://cam/".into(),
            transport: Transport::Tcp,
            on_demand: true,
            idle_secs: 10.0,
        };
        base.check().unwrap();
        for (field, bad) in [
            (
                "url",
                PullConfig {
                    url: "http://cam/".into(),
                    ..base.clone()
                },
            ),
            (
                "url",
                PullConfig {
                    url: "rtsp://u:pw@".into(),
                    ..base.clone()
                },
            ),
            (
                "url",
                PullConfig {
                    url: "not a url".into(),
                    ..base.clone()
                },
            ),
            (
                "name",
                PullConfig {
                    stream: "a/b".into(),
                    ..base.clone()
                },
            ),
            (
                "idle",
                PullConfig {
                    idle_secs: -1.0,
                    ..base.clone()
                },
            ),
            (
                "idle",
                PullConfig {
                    idle_secs: f64::NAN,
                    ..base.clone()
                },
            ),
        ] {
            let err = bad.check().unwrap_err();
            assert!(!err.to_string().contains("pw"), "{field}: {err}");
        }
        assert!(toml::from_str::<File>(
            "[[pull]]\napp='a'\nstream='b'\nurl='rtsp://c/'\ntransport='sctp'\n"
        )
        .is_err());
        assert!(toml::from_str::<File>(
            "[[pull]]\napp='a'\nstream='b'\nurl='rtsp://c/'\nondemand=true\n"
        )
        .is_err());
        assert_eq!("auto".parse::<Transport>().unwrap(), Transport::Auto);
        assert_eq!(redact("garbage with secret"), "…");
    }

    #[test]
    fn rtmp_sources_are_read_and_checked() {
        let base = PullConfig {
            app: String::new(),
            stream: "live/copy".into(),
            url: "rtmp://127.0.0.1:19350/live/src?key=k1".into(),
            transport: Transport::Tcp,
            on_demand: true,
            idle_secs: 10.0,
        };
        base.check().unwrap();
        assert_eq!(
            source_url(&base.url).unwrap(),
            SourceUrl::Rtmp(base.url.clone())
        );
        assert!(matches!(
            source_url("rtsp://u:p@cam/x").unwrap(),
            SourceUrl::Rtsp { creds: Some(_), .. }
        ));
        for url in [
            "rtmps://cdn.example/live/src",
            "rtmpe://cdn.example/live/src",
            "rtmpt://cdn.example:8080/live/src",
        ] {
            assert_eq!(source_url(url).unwrap(), SourceUrl::Rtmp(url.into()));
        }
        for (url, says) in [
            ("rtmp://u:pw@host/live/src", "carry no credentials"),
            ("rtmp://host/live", "rtmp://host[:port]/app/stream"),
            ("rtmp:///live/src", "no host"),
            ("rtsps://cam/x", "rtsps:// is not supported"),
            ("srt://host:9000", "rtsp://, rtmp://"),
        ] {
            let err = PullConfig {
                url: url.into(),
                ..base.clone()
            }
            .check()
            .unwrap_err()
            .to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("pw"), "{url}: {err}");
        }
        // RTMP is TCP: a transport setting for RTP is a mistake.
        let err = PullConfig {
            transport: Transport::Udp,
            ..base.clone()
        }
        .check()
        .unwrap_err();
        assert!(err.to_string().contains("rtsp:// pulls only"), "{err}");
    }
}
