//! A `[[push]]` entry: which streams go where.

use serde::{Deserialize, Serialize};
use weir_media::{pattern, StreamKey};
use weir_rtmp::url::RtmpUrl;

use crate::PushError;

/// One `[[push]]` entry: every publish of a stream it chooses is pushed to
/// `url`, expanded for that stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// Apps whose streams are pushed (`*` wildcards: `"live"`, `"*"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app: String,
    /// `app/stream` patterns of pushed streams (`*` wildcards:
    /// `"live/cam*"`); with `app` set too, a stream must match both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    /// Where to: `rtmp://a.rtmp.youtube.com/live2/KEY`, `rtmps://…`,
    /// `rtmpe://`, `rtmpt://`, `rtmpts://`; `{app}` and `{stream}` are
    /// replaced by the pushed stream's.
    pub url: String,
}

impl PushConfig {
    /// Whether this entry pushes `key`.
    pub fn chooses(&self, key: &StreamKey) -> bool {
        (self.app.is_empty() || pattern::matches(&self.app, key.app()))
            && (self.streams.is_empty()
                || self
                    .streams
                    .iter()
                    .any(|p| pattern::matches(p, &key.to_string())))
    }

    /// Checks every field; the error says which is wrong.
    pub fn check(&self) -> Result<(), PushError> {
        if self.app.is_empty() && self.streams.is_empty() {
            return Err(PushError::BadSetting(format!(
                "[[push]] to {} chooses no stream: set `app` (\"*\" for every app) or `streams`",
                redact(&self.url)
            )));
        }
        check_template(&self.url)
    }
}

/// `template` with `{app}` and `{stream}` replaced by `key`'s.
pub fn expand(template: &str, key: &StreamKey) -> String {
    template
        .replace("{app}", key.app())
        .replace("{stream}", key.stream())
}

/// Checks a URL template: only `{app}` and `{stream}` placeholders, and
/// once expanded an RTMP URL weir's client speaks.
pub fn check_template(template: &str) -> Result<(), PushError> {
    let bad = |reason: String| PushError::BadUrl {
        url: redact(template),
        reason,
    };
    let rest = template.replace("{app}", "").replace("{stream}", "");
    if rest.contains('{') || rest.contains('}') {
        return Err(bad(
            "the only placeholders are {app} and {stream}".to_owned()
        ));
    }
    let sample = template
        .replace("{app}", "app")
        .replace("{stream}", "stream");
    let scheme = sample.split_once("://").map_or("", |(s, _)| s);
    if scheme == "rtsp" || scheme == "rtsps" {
        return Err(bad(
            "pushing over RTSP is not supported yet: use rtmp://, rtmps://, rtmpe://, \
             rtmpt:// or rtmpts://"
                .to_owned(),
        ));
    }
    let url = RtmpUrl::parse(&sample).map_err(|e| bad(e.to_string()))?;
    if url.app.is_empty() || url.stream.is_empty() {
        return Err(bad(
            "it needs an app and a stream name: scheme://host[:port]/app/stream".to_owned(),
        ));
    }
    Ok(())
}

/// The URL as logs and the API show it: up to the app, then `***` for the
/// stream name and query, where services put the stream key
/// (`rtmp://a.rtmp.youtube.com/live2/***`); secret-looking query values
/// in the app are hidden too. Unparsable URLs are shown up to their
/// scheme.
pub fn redact(raw: &str) -> String {
    match RtmpUrl::parse(raw) {
        Ok(url) => format!("{}/***", weir_hub::log::peer(&url.tc_url)),
        Err(_) => match raw.split_once("://") {
            Some((scheme, _)) => format!("{}://…", weir_hub::log::peer(scheme)),
            None => "…".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> StreamKey {
        let (app, stream) = s.split_once('/').unwrap();
        StreamKey::new(app, stream).unwrap()
    }

    fn entry(app: &str, streams: &[&str], url: &str) -> PushConfig {
        PushConfig {
            app: app.to_owned(),
            streams: streams.iter().map(|s| (*s).to_owned()).collect(),
            url: url.to_owned(),
        }
    }

    #[test]
    fn templates_expand_app_and_stream() {
        assert_eq!(
            expand("rtmp://b:1935/{app}/{stream}?k=1", &key("live/cam")),
            "rtmp://b:1935/live/cam?k=1"
        );
        assert_eq!(
            expand("rtmps://a.rtmp.youtube.com/live2/KEY", &key("live/cam")),
            "rtmps://a.rtmp.youtube.com/live2/KEY"
        );
        assert_eq!(
            expand("rtmp://h/{stream}/{stream}", &key("a/b")),
            "rtmp://h/b/b"
        );
    }

    #[test]
    fn templates_are_checked() {
        for ok in [
            "rtmp://h/live/KEY",
            "rtmp://h:1936/{app}/{stream}",
            "rtmps://h/live2/{stream}",
            "rtmpe://h/a/b",
            "rtmpt://h:80/a/b",
            "rtmpts://h/a/b",
        ] {
            assert_eq!(check_template(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("rtmp://h/live/{name}", "placeholders"),
            ("rtmp://h/live/{stream", "placeholders"),
            ("rtsp://h/live/x", "RTSP"),
            ("http://h/live/x", "scheme"),
            ("rtmp://h/live", "stream name"),
            ("rtmp:///live/x", ""),
            ("no url", ""),
        ] {
            let e = check_template(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn urls_are_shown_without_their_key() {
        assert_eq!(
            redact("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl"),
            "rtmp://a.rtmp.youtube.com/live2/***"
        );
        assert_eq!(
            redact("rtmp://127.0.0.1:1936/live/x?key=secret"),
            "rtmp://127.0.0.1:1936/live/***"
        );
        assert!(!redact("rtmp://h/live?key=secret/x").contains("secret"));
        assert_eq!(redact("garbage secret"), "…");
        assert_eq!(redact("foo://secret"), "foo://…");
    }

    #[test]
    fn entries_choose_by_app_and_pattern() {
        let by_app = entry("live", &[], "rtmp://h/{app}/{stream}");
        assert!(by_app.chooses(&key("live/a")) && !by_app.chooses(&key("other/a")));
        let by_pattern = entry("", &["live/cam*", "tv/news"], "rtmp://h/a/b");
        assert!(by_pattern.chooses(&key("live/cam2")));
        assert!(by_pattern.chooses(&key("tv/news")));
        assert!(!by_pattern.chooses(&key("live/x")));
        let both = entry("live", &["*/cam*"], "rtmp://h/a/b");
        assert!(both.chooses(&key("live/cam1")) && !both.chooses(&key("tv/cam1")));
        assert!(entry("", &[], "rtmp://h/a/b").check().is_err());
        assert!(entry("*", &[], "rtmp://h/a/b").check().is_ok());
    }

    #[test]
    fn entries_parse_from_toml() {
        let cfg: PushConfig =
            toml::from_str("app = \"live\"\nurl = \"rtmp://b/{app}/{stream}\"\n").unwrap();
        assert_eq!(cfg, entry("live", &[], "rtmp://b/{app}/{stream}"));
        assert!(toml::from_str::<PushConfig>("app = \"live\"\nurl = \"x\"\nport = 1\n").is_err());
    }
}
