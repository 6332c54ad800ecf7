//! `[record.retention]`: deletes the oldest finished recordings once they
//! are too old, or while all of them together are too big.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Filter, Recording};
use crate::config::Retention;
use crate::Shared;

/// How often retention looks.
const EVERY: Duration = Duration::from_secs(10);

/// Applies `rules` every [`EVERY`] until `stop`.
pub(crate) async fn run(shared: Arc<Shared>, rules: Retention, stop: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        for id in expired(&shared.catalog.list(&Filter::default()), &rules, Utc::now()) {
            match shared.catalog.delete(&id) {
                Ok(true) => {
                    shared.stats.expired.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(recording = %id, "recording deleted by retention");
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(recording = %id, error = %e, "retention could not delete"),
            }
        }
    }
}

/// Which of `all` (oldest first) go: finished ones that ended more than
/// `max_age_secs` ago, then the oldest finished ones while the total
/// (active recordings included) exceeds `max_bytes`.
pub(crate) fn expired(
    all: &[Recording],
    rules: &Retention,
    now: chrono::DateTime<Utc>,
) -> Vec<String> {
    let mut gone = Vec::new();
    let mut total: u64 = all.iter().map(|r| r.bytes).sum();
    for r in all.iter().filter(|r| !r.recording) {
        let too_old =
            rules.max_age_secs > 0 && (now - r.end()).num_seconds() > rules.max_age_secs as i64;
        let too_big = rules.max_bytes > 0 && total > rules.max_bytes;
        if too_old || too_big {
            total -= r.bytes;
            gone.push(r.id.clone());
        }
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn rec(id: &str, start: i64, bytes: u64, recording: bool) -> Recording {
        Recording {
            id: id.into(),
            app: "live".into(),
            stream: "a".into(),
            start: DateTime::from_timestamp(start, 0).unwrap(),
            duration_secs: 10.0,
            bytes,
            format: "mp4",
            recording,
            complete: !recording,
        }
    }

    #[test]
    fn oldest_go_first_and_active_ones_stay() {
        let all = [
            rec("a", 0, 100, false),
            rec("b", 100, 100, false),
            rec("c", 200, 100, true),
        ];
        let now = DateTime::from_timestamp(300, 0).unwrap();
        let by_size = Retention {
            max_age_secs: 0,
            max_bytes: 150,
        };
        assert_eq!(expired(&all, &by_size, now), ["a", "b"]);
        let by_age = Retention {
            max_age_secs: 250,
            max_bytes: 0,
        };
        assert_eq!(expired(&all, &by_age, now), ["a"]);
        assert!(expired(&all, &Retention::default(), now).is_empty());
    }
}
