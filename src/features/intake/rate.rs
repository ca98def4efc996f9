//! The hour's rate of new reports: a place in the count shared through the database (a
//! form with a proof of work counted apart first), given back when nothing is stored, and
//! what a reporter is told when the hour's reports are in.

use crate::http::form::{FieldErrors, Form};
use crate::http::State;
use crate::i18n::Lang;

/// A new report counted against the hour's rate (`limits.reports_per_hour`, or
/// `limits.proven_reports_per_hour` for a form with a valid proof of work): which count and
/// which hour, to give it back when nothing is stored.
pub(super) struct ReportSlot {
    kind: &'static str,
    hour: i64,
}

impl ReportSlot {
    pub(super) async fn give_back(self, state: &State) {
        if let Err(e) = state.store.flood_give_back(self.kind, self.hour, 1).await {
            tracing::warn!(error = %e, "could not give a report's place in the hour's count back");
        }
    }
}

/// Takes a place in this hour's count of new reports, shared by every instance on the
/// database: `None` when the hour's reports are in. A form with a valid proof of work is
/// counted apart first (a flood without proofs cannot use those places up), then, when those
/// are taken too, with the others.
pub(super) async fn take_report_slot(state: &State, form: &Form) -> Result<Option<ReportSlot>, sqlx::Error> {
    let now = state.clock.now();
    let hour = now.div_euclid(3600);
    let limits = &state.settings.limits;
    let proven = match (form.get("pow_challenge"), form.get("pow_nonce")) {
        (Some(c), Some(n)) => state.pow.verify(crate::pow::Purpose::Report, c, n, now),
        _ => false,
    };
    let mut counts = vec![(PLAIN_REPORTS, limits.reports_per_hour)];
    if proven {
        counts.insert(0, (PROVEN_REPORTS, limits.proven_reports_per_hour));
    }
    for (kind, max) in counts {
        if state.store.flood_take(kind, hour, 1, i64::from(max)).await? {
            return Ok(Some(ReportSlot { kind, hour }));
        }
    }
    Ok(None)
}

/// The counts of new reports in the database (`flood_counts.kind`).
const PLAIN_REPORTS: &str = "reports";
const PROVEN_REPORTS: &str = "reports-proven";

/// What a reporter is told when the hour's reports are in, and the seconds to wait (to the
/// next clock hour, at least a minute).
pub(super) fn reports_busy(state: &State, lang: Lang) -> (FieldErrors, u32) {
    let wait = 3600 - state.clock.now().rem_euclid(3600);
    let wait = u32::try_from(wait.max(60)).unwrap_or(3600);
    let minutes = wait.div_ceil(60);
    let phrase = match (lang, minutes) {
        (Lang::Nl, 1) => "over 1 minuut".to_string(),
        (Lang::Nl, n) => format!("over {n} minuten"),
        (Lang::En, 1) => "in 1 minute".to_string(),
        (Lang::En, n) => format!("in {n} minutes"),
    };
    let text = lang.t().err_reports_busy.replace("{wait}", &phrase);
    (vec![("what", text)], wait)
}
