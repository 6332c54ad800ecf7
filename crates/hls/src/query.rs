//! The LL-HLS delivery directives of a playlist request's query string:
//! `_HLS_msn`, `_HLS_part` and `_HLS_skip`.

use crate::HlsError;

/// Longest accepted decimal value: `u64::MAX` has 20 digits.
const MAX_DIGITS: usize = 20;

/// What a playlist request asks for beyond the playlist as it stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// `_HLS_msn=M`: hold the answer until segment `M` (or, with `part`,
    /// its part) exists.
    pub msn: Option<u64>,
    /// `_HLS_part=N`: with `msn`, hold until part `N` of segment `M`
    /// exists.
    pub part: Option<u64>,
    /// `_HLS_skip=YES` (or `v2`): a delta update is wanted.
    pub skip: bool,
}

impl Directives {
    /// The request blocks (asks for a future playlist).
    pub fn blocking(&self) -> bool {
        self.msn.is_some()
    }
}

/// Parses the raw query string (without `?`). Other parameters (access
/// tokens, cache busters) are ignored. A directive given twice, a value
/// that is not a decimal integer (negative, signed, over `u64::MAX`,
/// empty) and `_HLS_part` without `_HLS_msn` are errors: the spec asks for
/// `400 Bad Request`.
pub fn parse_query(query: Option<&str>) -> Result<Directives, HlsError> {
    let mut d = Directives::default();
    let mut skip_seen = false;
    for pair in query.unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "_HLS_msn" => set(&mut d.msn, "_HLS_msn", value)?,
            "_HLS_part" => set(&mut d.part, "_HLS_part", value)?,
            "_HLS_skip" => {
                if std::mem::replace(&mut skip_seen, true) {
                    return Err(HlsError::RepeatedDirective("_HLS_skip"));
                }
                d.skip = match value {
                    "YES" | "v2" => true,
                    _ => return Err(bad("_HLS_skip", value)),
                };
            }
            _ => {}
        }
    }
    if d.part.is_some() && d.msn.is_none() {
        return Err(HlsError::PartWithoutMsn);
    }
    Ok(d)
}

fn set(slot: &mut Option<u64>, name: &'static str, value: &str) -> Result<(), HlsError> {
    if slot.is_some() {
        return Err(HlsError::RepeatedDirective(name));
    }
    if value.is_empty() || value.len() > MAX_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(name, value));
    }
    *slot = Some(value.parse().map_err(|_| bad(name, value))?);
    Ok(())
}

fn bad(name: &'static str, value: &str) -> HlsError {
    // Bounded: the value ends up in a log line or a response body.
    let value: String = value.chars().take(32).collect();
    HlsError::BadDirective { name, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> Directives {
        parse_query(Some(q)).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn reads_directives_and_ignores_other_parameters() {
        assert_eq!(parse_query(None).unwrap(), Directives::default());
        assert_eq!(ok(""), Directives::default());
        let d = ok("token=abc&_HLS_msn=12&_HLS_part=3&_HLS_skip=YES");
        assert_eq!(
            d,
            Directives {
                msn: Some(12),
                part: Some(3),
                skip: true
            }
        );
        assert!(d.blocking());
        assert!(ok("_HLS_skip=v2").skip);
        assert_eq!(ok("_HLS_msn=18446744073709551615").msn, Some(u64::MAX));
        assert!(!ok("_HLS_skip=YES").blocking());
    }

    #[test]
    fn refuses_what_the_spec_calls_bad_requests() {
        for q in [
            "_HLS_msn=-1",
            "_HLS_msn=+1",
            "_HLS_msn=",
            "_HLS_msn",
            "_HLS_msn=1x",
            "_HLS_msn=18446744073709551616",
            "_HLS_msn=99999999999999999999999999",
            "_HLS_msn=1&_HLS_msn=2",
            "_HLS_part=1",
            "_HLS_msn=1&_HLS_part=-2",
            "_HLS_skip=NO",
            "_HLS_skip=YES&_HLS_skip=YES",
            "_HLS_msn=１",
        ] {
            assert!(parse_query(Some(q)).is_err(), "{q} accepted");
        }
    }
}
