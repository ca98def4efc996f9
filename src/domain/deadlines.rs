//! The legal deadlines (Wet bescherming klokkenluiders, EU 2019/1937): acknowledge receipt
//! within 7 calendar days; give feedback within 3 months of the acknowledgement (or of day 7
//! when none was sent), clamped to the end of a shorter month. Pure date arithmetic.

use chrono::{Days, Months, NaiveDate};

pub const ACK_DAYS: u64 = 7;
pub const FEEDBACK_MONTHS: u32 = 3;

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

pub fn ack_due(received: NaiveDate) -> NaiveDate {
    received.checked_add_days(Days::new(ACK_DAYS)).unwrap_or(received)
}

/// `checked_add_months` keeps the day where it exists and otherwise takes the month's last
/// day (31 May + 3 months = 31 August; 30 November + 3 months = 28 or 29 February).
pub fn feedback_due(received: NaiveDate, acknowledged: Option<NaiveDate>) -> NaiveDate {
    let base = acknowledged.unwrap_or_else(|| ack_due(received));
    base.checked_add_months(Months::new(FEEDBACK_MONTHS)).unwrap_or(base)
}

/// Which deadline comes next for a report, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Acknowledge(NaiveDate),
    Feedback(NaiveDate),
}

/// The next open deadline: acknowledgement until it is sent, then feedback until it is given
/// or the report is completed or closed.
pub fn next(
    received: NaiveDate,
    acknowledged: Option<NaiveDate>,
    feedback: Option<NaiveDate>,
    status: &str,
) -> Option<Next> {
    if matches!(status, "afgerond" | "gesloten") {
        return None;
    }
    match (acknowledged, feedback) {
        (None, _) => Some(Next::Acknowledge(ack_due(received))),
        (Some(_), None) => Some(Next::Feedback(feedback_due(received, acknowledged))),
        (Some(_), Some(_)) => None,
    }
}

/// The stored form of the next deadline: a date, or '9999-12-31' when none is open (so it
/// sorts last and is never overdue).
pub fn next_due_string(received: &str, acknowledged: Option<&str>, feedback: Option<&str>, status: &str) -> String {
    parse_date(received)
        .and_then(|r| {
            next(
                r,
                acknowledged.and_then(parse_date),
                feedback.and_then(parse_date),
                status,
            )
        })
        .map(|n| n.date().format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| NO_DEADLINE.to_string())
}

pub const NO_DEADLINE: &str = "9999-12-31";

impl Next {
    pub fn date(self) -> NaiveDate {
        match self {
            Next::Acknowledge(d) | Next::Feedback(d) => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn acknowledgement_is_due_seven_days_later() {
        assert_eq!(ack_due(d("2026-11-30")), d("2026-12-07"));
        assert_eq!(ack_due(d("2028-02-25")), d("2028-03-03"));
    }

    #[test]
    fn feedback_counts_from_the_acknowledgement_and_clamps_to_month_end() {
        assert_eq!(feedback_due(d("2026-11-30"), Some(d("2026-11-30"))), d("2027-02-28"));
        assert_eq!(
            feedback_due(d("2027-11-30"), Some(d("2027-11-30"))),
            d("2028-02-29"),
            "leap year"
        );
        assert_eq!(feedback_due(d("2026-05-31"), Some(d("2026-05-31"))), d("2026-08-31"));
        assert_eq!(feedback_due(d("2026-03-31"), Some(d("2026-03-31"))), d("2026-06-30"));
    }

    #[test]
    fn the_next_deadline_follows_the_handling() {
        let r = d("2026-11-30");
        assert_eq!(next(r, None, None, "nieuw"), Some(Next::Acknowledge(d("2026-12-07"))));
        assert_eq!(
            next(r, Some(d("2026-12-02")), None, "in_behandeling"),
            Some(Next::Feedback(d("2027-03-02")))
        );
        assert_eq!(
            next(r, Some(d("2026-12-02")), Some(d("2027-01-10")), "in_onderzoek"),
            None
        );
        assert_eq!(next(r, None, None, "gesloten"), None);
    }

    #[test]
    fn without_acknowledgement_feedback_counts_from_day_seven() {
        assert_eq!(feedback_due(d("2026-11-24"), None), d("2027-03-01"));
        assert_eq!(feedback_due(d("2026-11-21"), None), d("2027-02-28"));
    }
}
