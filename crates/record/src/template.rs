//! The `path` template: `{app}`, `{stream}`, `{start:STRFTIME}`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use weir_media::StreamKey;

use crate::error::RecordError;

/// Checks a template once, at startup: braces balance, only known fields,
/// a strftime format chrono accepts, and no way out of the recordings
/// directory.
pub(crate) fn check(template: &str) -> Result<(), RecordError> {
    let bad = |why: String| RecordError::Config(format!("record.path {template:?}: {why}"));
    if template.is_empty() || template.starts_with('/') || template.contains('\\') {
        return Err(bad("must be a relative path with / separators".into()));
    }
    let sample = StreamKey::new("app", "stream").expect("a valid key");
    let out = expand(template, &sample, Utc::now()).map_err(bad)?;
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
        let path = expand(crate::config::DEFAULT_PATH, &key, start).unwrap();
        assert_eq!(path, "live/cam/2026-12-03_04-05-06");
    }

    #[test]
    fn refuses_bad_templates() {
        for t in [
            "",
            "/abs/{app}",
            "{app}/../x",
            "{nope}",
            "{app",
            "a}",
            "{start:%Q}",
            "a//b",
        ] {
            assert!(check(t).is_err(), "{t}");
        }
        check("{app}-{stream}/{start:%s}").unwrap();
    }
}
