//! The service's notion of now. Production reads the system clock; tests set a fixed time,
//! so date arithmetic (deadlines, expiry) is tested on chosen dates.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

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

    /// Today's date: reporter actions are stored at day precision only, because exact times
    /// could be matched against an employer's proxy logs.
    pub fn today(&self) -> NaiveDate {
        DateTime::from_timestamp(self.now(), 0).unwrap_or_default().date_naive()
    }

    pub fn today_string(&self) -> String {
        self.today().format("%Y-%m-%d").to_string()
    }
}
