//! The query of `GET /api/v1/recordings/get`:
//! `app=&stream=&start=RFC3339&duration=SECS[&format=mp4|fmp4]`, checked
//! before anything else is done (400 with what is wrong). Every other
//! parameter (`key=`, `expires=`, `sign=`...) is left for the access check,
//! as `/vod/` leaves them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use weir_media::StreamKey;
use weir_vod::ClipFormat;

use crate::VodHttpError;

/// A parsed time-range request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RangeQuery {
    /// The stream whose recordings are stitched.
    pub(crate) key: StreamKey,
    /// Start of the range (wall clock, as the recordings' `start`).
    pub(crate) start: DateTime<Utc>,
    /// Length of the range, µs (> 0, at most the configured maximum).
    pub(crate) duration_us: i64,
    /// What is written: plain MP4 unless `format=fmp4`.
    pub(crate) format: ClipFormat,
    /// The rest of the query, as sent: what the access check reads.
    pub(crate) rest: String,
}

impl RangeQuery {
    /// End of the range.
    pub(crate) fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::microseconds(self.duration_us)
    }
}

fn bad(message: impl Into<String>) -> VodHttpError {
    VodHttpError::BadParam(message.into())
}

/// Parses `query` (the raw query string); `max` caps the duration.
pub(crate) fn parse(query: &str, max: Duration) -> Result<RangeQuery, VodHttpError> {
    let (mut app, mut stream, mut start, mut duration, mut format) = (None, None, None, None, None);
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "app" => &mut app,
            "stream" => &mut stream,
            "start" => &mut start,
            "duration" => &mut duration,
            "format" => &mut format,
            _ => {
                rest.push(pair);
                continue;
            }
        };
        // Percent-decoded, but `+` is kept as it is: an RFC 3339 offset
        // (`+01:00`) typed into a URL must not turn into a space, and no
        // value here may contain one.
        let value = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| bad(format!("{name} is not UTF-8")))?;
        if slot.replace(value.into_owned()).is_some() {
            return Err(bad(format!("{name} is given twice")));
        }
    }
    let need = |v: Option<String>, name: &str, example: &str| {
        v.filter(|v| !v.is_empty())
            .ok_or_else(|| bad(format!("{name} is required (e.g. {name}={example})")))
    };
    let app = need(app, "app", "live")?;
    let stream = need(stream, "stream", "cam")?;
    let key = StreamKey::new(&app, &stream).map_err(|e| bad(e.to_string()))?;
    let start_text = need(start, "start", "2026-12-03T10:00:00Z")?;
    let start = DateTime::parse_from_rfc3339(&start_text)
        .map_err(|e| {
            bad(format!(
                "start must be an RFC 3339 time like 2026-12-03T10:00:00Z, not {start_text:?}: {e}"
            ))
        })?
        .to_utc();
    let duration_text = need(duration, "duration", "60")?;
    let secs: f64 = duration_text.parse().map_err(|_| {
        bad(format!(
            "duration must be a number of seconds, not {duration_text:?}"
        ))
    })?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad(format!(
            "duration must be more than 0 seconds, not {duration_text}"
        )));
    }
    if secs > max.as_secs_f64() {
        return Err(bad(format!(
            "duration {duration_text} s is longer than the {} s one request may ask for",
            max.as_secs()
        )));
    }
    // At most `max` (hours), so the product fits an i64 with room to spare;
    // at least 1 µs.
    let duration_us = ((secs * 1e6).round() as i64).max(1);
    let format = match format.as_deref() {
        None | Some("" | "mp4") => ClipFormat::Plain,
        Some("fmp4") => ClipFormat::Fragmented,
        Some(other) => return Err(bad(format!("format must be mp4 or fmp4, not {other:?}"))),
    };
    Ok(RangeQuery {
        key,
        start,
        duration_us,
        format,
        rest: rest.join("&"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn ok(q: &str) -> RangeQuery {
        parse(q, DAY).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn refused(q: &str) -> String {
        match parse(q, DAY) {
            Err(VodHttpError::BadParam(m)) => m,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn a_full_query_parses_and_keeps_the_rest_for_the_access_check() {
        let q =
            ok("app=live&stream=cam&start=2026-12-03T10:00:00Z&duration=90.5&key=k1&format=fmp4");
        assert_eq!(q.key.to_string(), "live/cam");
        assert_eq!(q.start.to_rfc3339(), "2026-12-03T10:00:00+00:00");
        assert_eq!(q.duration_us, 90_500_000);
        assert_eq!(q.format, ClipFormat::Fragmented);
        assert_eq!(q.rest, "key=k1");
        assert_eq!(q.end().to_rfc3339(), "2026-12-03T10:01:30.500+00:00");
    }

    #[test]
    fn offsets_survive_a_literal_plus_and_percent_encoding() {
        let plus = ok("app=live&stream=cam&start=2026-12-03T11:00:00+01:00&duration=1");
        let encoded = ok("app=live&stream=cam&start=2026-12-03T11%3A00%3A00%2B01%3A00&duration=1");
        assert_eq!(plus.start, encoded.start);
        assert_eq!(plus.start.to_rfc3339(), "2026-12-03T10:00:00+00:00");
        assert_eq!(plus.format, ClipFormat::Plain);
    }

    #[test]
    fn missing_or_malformed_parameters_say_what_is_wrong() {
        let full = "app=live&stream=cam&start=2026-12-03T10:00:00Z&duration=10";
        for (without, name) in [
            ("app=live&", "app"),
            ("stream=cam&", "stream"),
            ("start=2026-12-03T10:00:00Z&", "start"),
            ("&duration=10", "duration"),
        ] {
            let q = full.replace(without, "");
            assert!(refused(&q).contains(name), "{q}");
        }
        let base = "app=live&stream=cam&duration=10";
        for start in [
            "yesterday",
            "2026-12-03",
            "2026-12-03 10:00:00",
            "2026-13-03T10:00:00Z",
        ] {
            assert!(refused(&format!("{base}&start={start}")).contains("RFC 3339"));
        }
        let base = "app=live&stream=cam&start=2026-12-03T10:00:00Z";
        for d in ["0", "-5", "abc", "NaN", "inf", "1e400"] {
            refused(&format!("{base}&duration={d}"));
        }
        assert!(refused(&format!("{base}&duration=86401")).contains("longer"));
        assert_eq!(
            ok(&format!("{base}&duration=86400")).duration_us,
            86_400_000_000
        );
        assert!(refused(&format!("{base}&duration=5&format=avi")).contains("format"));
        assert!(refused(&format!("{base}&duration=5&duration=6")).contains("twice"));
        assert!(
            refused("app=li%2Fve&stream=cam&start=2026-12-03T10:00:00Z&duration=5").contains("app")
        );
        assert!(
            refused("app=live&stream=..&start=2026-12-03T10:00:00Z&duration=5").contains("stream")
        );
        refused("app=live&stream=%FF&start=2026-12-03T10:00:00Z&duration=5");
        refused("");
    }
}
