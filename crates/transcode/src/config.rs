//! `[[transcode]]`: which streams get a ladder, and its renditions.

use serde::{Deserialize, Serialize};
use weir_media::{pattern, StreamKey};

use crate::TranscodeError;

/// One `[[transcode]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscodeConfig {
    /// Apps whose streams get this ladder (`*` wildcards); empty with
    /// empty `streams` means every stream.
    #[serde(default)]
    pub app: String,
    /// `app/stream` patterns of the streams that get it (`*` wildcards),
    /// instead of or beside `app`.
    #[serde(default)]
    pub streams: Vec<String>,
    /// The renditions, each published as `{stream}_{name}`.
    pub renditions: Vec<Rendition>,
    /// Run ffmpeg only while a rendition has a viewer (started when the
    /// first one arrives, stopped some seconds after the last leaves),
    /// instead of for as long as the source is live.
    #[serde(default)]
    pub on_demand: bool,
    /// The ffmpeg to run: a path, or a name looked up in `PATH`.
    #[serde(default = "default_ffmpeg")]
    pub ffmpeg: String,
}

fn default_ffmpeg() -> String {
    "ffmpeg".into()
}

/// One rendition of a ladder: H.264 + AAC at a height and bit rates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rendition {
    /// Appended to the source's stream name: `cam` → `cam_{name}`.
    pub name: String,
    /// Picture height; the width keeps the source's aspect ratio.
    pub height: u32,
    /// Video bit rate, kbit/s (also the rate cap).
    pub video_kbps: u32,
    /// Audio bit rate, kbit/s.
    #[serde(default = "default_audio_kbps")]
    pub audio_kbps: u32,
}

fn default_audio_kbps() -> u32 {
    64
}

impl TranscodeConfig {
    /// Whether `key` gets this ladder.
    pub fn chooses(&self, key: &StreamKey) -> bool {
        if self.app.is_empty() && self.streams.is_empty() {
            return true;
        }
        (!self.app.is_empty() && pattern::matches(&self.app, key.app()))
            || self
                .streams
                .iter()
                .any(|p| pattern::matches(p, &key.to_string()))
    }

    /// The stream a rendition of `source` is published as.
    pub fn rendition_key(source: &StreamKey, rendition: &Rendition) -> Option<StreamKey> {
        StreamKey::new(
            source.app(),
            &format!("{}_{}", source.stream(), rendition.name),
        )
        .ok()
    }

    /// Refuses what ffmpeg or the hub could not take.
    pub fn validate(&self) -> Result<(), TranscodeError> {
        let bad = |why: String| Err(TranscodeError::Config(why));
        if self.renditions.is_empty() {
            return bad("a [[transcode]] entry needs at least one rendition".into());
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.renditions {
            let name_ok = !r.name.is_empty()
                && r.name.len() <= 32
                && r.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok {
                return bad(format!(
                    "rendition name {:?}: use 1 to 32 of [A-Za-z0-9_-]",
                    r.name
                ));
            }
            if !names.insert(r.name.as_str()) {
                return bad(format!("rendition name {:?} is used twice", r.name));
            }
            if !(16..=4320).contains(&r.height) || r.height % 2 != 0 {
                return bad(format!(
                    "rendition {}: height {} must be even, 16 to 4320",
                    r.name, r.height
                ));
            }
            if !(16..=100_000).contains(&r.video_kbps) || !(8..=512).contains(&r.audio_kbps) {
                return bad(format!(
                    "rendition {}: video_kbps must be 16 to 100000, audio_kbps 8 to 512",
                    r.name
                ));
            }
        }
        if self.ffmpeg.is_empty() {
            return bad("ffmpeg must name a program".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> TranscodeConfig {
        toml::from_str(text).unwrap()
    }

    const LADDER: &str = r#"
        app = "live"
        renditions = [
            { name = "low", height = 180, video_kbps = 300, audio_kbps = 64 },
            { name = "mid", height = 360, video_kbps = 800 },
        ]
    "#;

    #[test]
    fn entries_parse_with_defaults_and_choose_streams() {
        let e = entry(LADDER);
        assert_eq!(e.renditions[1].audio_kbps, 64);
        assert_eq!(e.ffmpeg, "ffmpeg");
        assert!(!e.on_demand);
        e.validate().unwrap();
        let key = |s: &str| {
            let (app, stream) = s.split_once('/').unwrap();
            StreamKey::new(app, stream).unwrap()
        };
        assert!(e.chooses(&key("live/cam")));
        assert!(!e.chooses(&key("other/cam")));
        let by_stream = TranscodeConfig {
            app: String::new(),
            streams: vec!["live/cam*".into()],
            ..e.clone()
        };
        assert!(by_stream.chooses(&key("live/cam2")));
        assert!(!by_stream.chooses(&key("live/x")));
        let low = &e.renditions[0];
        assert_eq!(
            TranscodeConfig::rendition_key(&key("live/cam"), low),
            Some(key("live/cam_low"))
        );
    }

    #[test]
    fn bad_ladders_are_refused() {
        let base = entry(LADDER);
        let with = |f: &dyn Fn(&mut TranscodeConfig)| {
            let mut e = base.clone();
            f(&mut e);
            e.validate()
        };
        assert!(with(&|e| e.renditions.clear()).is_err());
        assert!(with(&|e| e.renditions[0].name = "a/b".into()).is_err());
        assert!(with(&|e| e.renditions[1].name = "low".into()).is_err());
        assert!(with(&|e| e.renditions[0].height = 181).is_err());
        assert!(with(&|e| e.renditions[0].height = 0).is_err());
        assert!(with(&|e| e.renditions[0].video_kbps = 0).is_err());
        assert!(with(&|e| e.ffmpeg.clear()).is_err());
        assert!(toml::from_str::<TranscodeConfig>("renditions = []\nbogus = 1").is_err());
    }
}
