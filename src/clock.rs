//! The service's notion of now. Production reads the system clock; tests set a fixed time,
//! so date arithmetic (deadlines, expiry) is tested on chosen dates.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Amsterdam;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Clock { fixed: None }
    }

    /// A clock that stands still at `unix` seconds until moved with [`Clock::set`].
    pub fn fixed(unix: i64) -> Self {
        Clock {
            fixed: Some(Arc::new(AtomicI64::new(unix))),
        }
    }

    pub fn set(&self, unix: i64) {
        if let Some(f) = &self.fixed {
            f.store(unix, Ordering::SeqCst);
        }
    }

    pub fn now(&self) -> i64 {
        match &self.fixed {
            Some(f) => f.load(Ordering::SeqCst),
            None => Utc::now().timestamp(),
        }
    }

    /// Today's date in the Netherlands (Europe/Amsterdam), the calendar the legal deadlines
    /// are counted in: reporter actions are stored at day precision only, because exact
    /// times could be matched against an employer's proxy logs.
    pub fn today(&self) -> NaiveDate {
        local_date(self.now())
    }

    pub fn today_string(&self) -> String {
        self.today().format("%Y-%m-%d").to_string()
    }
}

/// The calendar date in the Netherlands at `unix` seconds.
pub fn local_date(unix: i64) -> NaiveDate {
    DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .with_timezone(&Amsterdam)
        .date_naive()
}

/// A moment as people in the Netherlands read it: "30-11-2026 13:00" (Europe/Amsterdam,
/// summer time included).
pub fn local_time(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.with_timezone(&Amsterdam).format("%d-%m-%Y %H:%M").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_are_dutch_ones() {
        // 2026-11-30 23:30 UTC is already 1 December in Amsterdam (UTC+1 in winter).
        let late = 1_796_081_400;
        assert_eq!(local_date(late).to_string(), "2026-12-01");
        assert_eq!(local_time(late), "01-12-2026 00:30");
        // 2026-07-01 12:00 UTC is 14:00 in summer time.
        assert_eq!(local_time(1_782_907_200), "01-07-2026 14:00");
        assert_eq!(Clock::fixed(late).today_string(), "2026-12-01");
    }
}
