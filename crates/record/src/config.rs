//! `[record]`: what is recorded, where, in which format, for how long.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weir_media::StreamKey;

use crate::error::RecordError;
use weir_media::pattern;

/// The container recordings are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Fragmented MP4 (a `moof`+`mdat` per second or keyframe): playable
    /// up to the last fragment after a crash. The default.
    #[default]
    Fmp4,
    /// FLV: the tags as RTMP carried them.
    Flv,
}

impl Format {
    /// The file extension (and the API's `format` name: `mp4`, `flv`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Fmp4 => "mp4",
            Format::Flv => "flv",
        }
    }
}

/// `[record.retention]`: the oldest finished recordings are deleted first
/// until both limits hold. 0 turns a limit off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Recordings that ended longer ago than this are deleted.
    pub max_age_secs: u64,
    /// The recordings together stay under this many bytes.
    pub max_bytes: u64,
}

impl Retention {
    /// True when neither limit is set.
    pub fn is_off(&self) -> bool {
        self.max_age_secs == 0 && self.max_bytes == 0
    }
}

/// The `[record]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordConfig {
    /// Record the streams [`RecordConfig::apps`] and
    /// [`RecordConfig::streams`] choose as soon as they are published.
    /// Without it only the API starts recordings.
    pub enabled: bool,
    /// Apps whose streams are recorded (`*` wildcards); empty = any.
    pub apps: Vec<String>,
    /// `app/stream` patterns of recorded streams (`*` wildcards); empty =
    /// any stream of a chosen app.
    pub streams: Vec<String>,
    /// `fmp4` (default) or `flv`.
    pub format: Format,
    /// Where a recording goes, relative to the data dir and below its
    /// `recordings/` (where the catalog, the API and `/vod/recordings/`
    /// find it): `{app}`, `{stream}` and `{start:STRFTIME}` (UTC) are
    /// replaced, and the extension (`.mp4`, `.flv` or none) becomes the
    /// format's.
    pub path: String,
    /// Start a new file at the first keyframe after this many seconds;
    /// 0 = one file per publish.
    pub segment_secs: u64,
    /// What is deleted, and when.
    pub retention: Retention,
    /// Longest fragment of an fMP4 recording, ms: what a crash can lose at
    /// most, and how often the file grows.
    pub fragment_ms: u32,
}

/// Default [`RecordConfig::path`].
pub const DEFAULT_PATH: &str = "recordings/{app}/{stream}/{start:%Y-%m-%d_%H-%M-%S}.mp4";

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            enabled: false,
            apps: Vec::new(),
            streams: Vec::new(),
            format: Format::Fmp4,
            path: DEFAULT_PATH.to_owned(),
            segment_secs: 0,
            retention: Retention::default(),
            fragment_ms: 1000,
        }
    }
}

impl RecordConfig {
    /// Checks the settings that can be wrong.
    pub fn validate(&self) -> Result<(), RecordError> {
        crate::template::check(&self.path)?;
        if !(100..=10_000).contains(&self.fragment_ms) {
            return Err(RecordError::Config(format!(
                "record.fragment_ms must be within 100..=10000, not {}",
                self.fragment_ms
            )));
        }
        Ok(())
    }

    /// Whether a publish of `key` starts a recording by itself.
    pub fn chooses(&self, key: &StreamKey) -> bool {
        self.enabled
            && (self.apps.is_empty() || self.apps.iter().any(|p| pattern::matches(p, key.app())))
            && (self.streams.is_empty()
                || self
                    .streams
                    .iter()
                    .any(|p| pattern::matches(p, &key.to_string())))
    }

    /// [`RecordConfig::segment_secs`] as a duration, if segmenting.
    pub fn segment(&self) -> Option<Duration> {
        (self.segment_secs > 0).then(|| Duration::from_secs(self.segment_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_choose_streams() {
        let key = |s: &str| StreamKey::parse(s).unwrap();
        let mut cfg = RecordConfig {
            enabled: true,
            ..RecordConfig::default()
        };
        assert!(cfg.chooses(&key("live/a")));
        cfg.apps = vec!["live".into()];
        assert!(cfg.chooses(&key("live/a")));
        assert!(!cfg.chooses(&key("other/a")));
        cfg.streams = vec!["live/cam*".into()];
        assert!(cfg.chooses(&key("live/cam1")));
        assert!(!cfg.chooses(&key("live/a")));
        cfg.enabled = false;
        assert!(!cfg.chooses(&key("live/cam1")));
    }

    #[test]
    fn parses_the_section() {
        let cfg: RecordConfig = toml_like(
            r#"{"enabled": true, "format": "flv", "segment_secs": 5,
                "retention": {"max_bytes": 1000}}"#,
        );
        assert_eq!(cfg.format, Format::Flv);
        assert_eq!(cfg.segment(), Some(Duration::from_secs(5)));
        assert_eq!(cfg.retention.max_bytes, 1000);
        assert_eq!(cfg.path, DEFAULT_PATH);
        cfg.validate().unwrap();
    }

    fn toml_like(json: &str) -> RecordConfig {
        serde_json::from_str(json).unwrap()
    }
}
