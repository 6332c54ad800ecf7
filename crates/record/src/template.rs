//! The `path` template: `{app}`, `{stream}`, `{start:STRFTIME}`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use weir_media::StreamKey;

use crate::error::RecordError;

/// The directory below the data dir every template starts with.
const ROOT: &str = "recordings/";

/// The part of a template that names a file below `recordings/`, without
/// its extension (the format decides that).
pub(crate) fn stem(template: &str) -> &str {
    let rel = template.strip_prefix(ROOT).unwrap_or(template);
    rel.strip_suffix(".mp4")
        .or_else(|| rel.strip_suffix(".flv"))
        .unwrap_or(rel)
}

/// Checks a template once, at startup: below `recordings/`, braces
/// balance, only known fields, a strftime format chrono accepts, and no
/// way out of the recordings directory.
pub(crate) fn check(template: &str) -> Result<(), RecordError> {
    let bad = |why: String| RecordError::Config(format!("record.path {template:?}: {why}"));
    if !template.starts_with(ROOT) || template.contains('\\') {
        return Err(bad(format!(
            "must be a path below {ROOT} (relative to the data dir, / separators)"
        )));
    }
    let sample = StreamKey::new("app", "stream").expect("a valid key");
    let out = expand(stem(template), &sample, Utc::now()).map_err(bad)?;
    if out
        .split('/')
        .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(bad("empty, . and .. components are not allowed".into()));
    }
    Ok(())
}

/// The template with `key` and `start` filled in (no extension).
pub(crate) fn expand(
    template: &str,
    key: &StreamKey,
    start: DateTime<Utc>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err("unclosed {".into());
        };
        let field = &rest[open + 1..open + close];
        match field.split_once(':') {
            None if field == "app" => out.push_str(key.app()),
            None if field == "stream" => out.push_str(key.stream()),
            Some(("start", fmt)) => {
                let items: Vec<_> = chrono::format::StrftimeItems::new(fmt).collect();
                if items.contains(&chrono::format::Item::Error) {
                    return Err(format!("bad strftime format {fmt:?}"));
                }
                write!(out, "{}", start.format_with_items(items.into_iter()))
                    .map_err(|_| format!("bad strftime format {fmt:?}"))?;
            }
            _ => return Err(format!("unknown field {{{field}}}")),
        }
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err("stray }".into());
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn expands_the_default() {
        let key = StreamKey::new("live", "cam").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 12, 3, 4, 5, 6).unwrap();
        let path = expand(stem(crate::config::DEFAULT_PATH), &key, start).unwrap();
        assert_eq!(path, "live/cam/2026-12-03_04-05-06");
        assert_eq!(stem("recordings/{app}.flv"), "{app}");
        assert_eq!(stem("recordings/{app}"), "{app}");
    }

    #[test]
    fn refuses_bad_templates() {
        for t in [
            "",
            "{app}/x",
            "/recordings/{app}",
            "recordings/{app}/../x",
            "recordings/{nope}",
            "recordings/{app",
            "recordings/a}",
            "recordings/{start:%Q}",
            "recordings/a//b",
            "recordings/",
        ] {
            assert!(check(t).is_err(), "{t}");
        }
        check("recordings/{app}-{stream}/{start:%s}").unwrap();
        check(crate::config::DEFAULT_PATH).unwrap();
    }
}
