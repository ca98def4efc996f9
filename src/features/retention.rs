//! Retention: the day a closed report's content is destroyed, the run that destroys what is
//! due (every `retention.check_minutes` in `serve`, and `meldpunt purge`), and what a
//! coordinator sees coming in the next 30 days.

use chrono::{Days, NaiveDate};

use crate::clock::Clock;
use crate::settings::RetentionSettings;
use crate::storage::{DueBy, RetentionRow, Store};

/// How far ahead coordinators are shown what will be destroyed.
pub const NOTICE_DAYS: u64 = 30;

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The day the content of a report closed on `closed_on` (kept until `keep_until`, if
/// extended) is destroyed: the later of the two.
pub fn destruction_day(closed_on: &str, keep_until: Option<&str>, keep_days: i64) -> Option<NaiveDate> {
    let by_setting = day(closed_on)?.checked_add_days(Days::new(u64::try_from(keep_days).ok()?))?;
    Some(match keep_until.and_then(day) {
        Some(k) if k > by_setting => k,
        _ => by_setting,
    })
}

/// The cut-off days for "destroyed on or before `by`".
pub fn due_by(by: NaiveDate, keep_days: i64) -> (String, String) {
    let closed_by = by
        .checked_sub_days(Days::new(u64::try_from(keep_days).unwrap_or(0)))
        .unwrap_or(NaiveDate::MIN);
    (text(closed_by), text(by))
}

/// The day an extension made today keeps a report until: `extend_days` past the later of
/// today and the day it would have been destroyed.
pub fn extended_until(current: NaiveDate, today: NaiveDate, extend_days: i64) -> Option<String> {
    let from = current.max(today);
    from.checked_add_days(Days::new(u64::try_from(extend_days).ok()?))
        .map(text)
}

/// What a run found: the reports destroyed (or, in a dry run, that would be).
#[derive(Debug, Default)]
pub struct Purged {
    pub reports: Vec<RetentionRow>,
}

/// Destroys the content of every report due today. Each report goes in its own
/// transaction, which checks again that it is still closed and due (a coordinator may
/// reopen or extend it meanwhile); then the freed space is given back.
pub async fn purge(
    store: &Store,
    settings: &RetentionSettings,
    clock: &Clock,
    dry_run: bool,
) -> anyhow::Result<Purged> {
    let today = clock.today();
    let (closed_by, until) = due_by(today, settings.keep_days_after_closing);
    let due = DueBy {
        closed_by: &closed_by,
        until: &until,
    };
    let candidates = store.due_for_destruction(due, None).await?;
    if dry_run {
        return Ok(Purged { reports: candidates });
    }
    let mut purged = Purged::default();
    for row in candidates {
        if store.destroy_report(&row.id, due, &until, clock.now()).await? {
            purged.reports.push(row);
        }
    }
    if !purged.reports.is_empty() {
        store.reclaim_space().await?;
    }
    Ok(purged)
}

/// The reports `holder` can read whose content is destroyed within [`NOTICE_DAYS`], with
/// the day each goes.
pub async fn upcoming(
    store: &Store,
    settings: &RetentionSettings,
    today: NaiveDate,
    holder: &str,
) -> anyhow::Result<Vec<(RetentionRow, NaiveDate)>> {
    let by = today.checked_add_days(Days::new(NOTICE_DAYS)).unwrap_or(today);
    let (closed_by, until) = due_by(by, settings.keep_days_after_closing);
    let due = DueBy {
        closed_by: &closed_by,
        until: &until,
    };
    Ok(store
        .due_for_destruction(due, Some(holder))
        .await?
        .into_iter()
        .filter_map(|r| {
            let d = destruction_day(&r.closed_on, r.keep_until.as_deref(), settings.keep_days_after_closing)?;
            Some((r, d))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        day(s).expect("date")
    }

    #[test]
    fn the_later_of_the_setting_and_an_extension_counts() {
        assert_eq!(destruction_day("2026-01-10", None, 730), Some(d("2028-01-10")));
        assert_eq!(
            destruction_day("2026-01-10", Some("2029-03-01"), 730),
            Some(d("2029-03-01"))
        );
        // An extension that ends before the setting's day changes nothing.
        assert_eq!(
            destruction_day("2026-01-10", Some("2027-01-01"), 730),
            Some(d("2028-01-10"))
        );
        assert_eq!(destruction_day("not a date", None, 730), None);
    }

    #[test]
    fn due_means_closed_long_enough_ago_and_not_kept_longer() {
        let (closed_by, until) = due_by(d("2028-01-10"), 730);
        assert_eq!((closed_by.as_str(), until.as_str()), ("2026-01-10", "2028-01-10"));
    }

    #[test]
    fn an_extension_counts_from_the_later_of_today_and_the_due_day() {
        assert_eq!(
            extended_until(d("2026-02-01"), d("2026-01-01"), 365).as_deref(),
            Some("2027-02-01")
        );
        assert_eq!(
            extended_until(d("2025-12-01"), d("2026-01-01"), 365).as_deref(),
            Some("2027-01-01")
        );
    }
}
