//! Notifications that are never lost and never sent twice: rows in the outbox (written in
//! the same transaction as their event), a worker that claims due rows with a lease,
//! merges them into one mail per coordinator and delivers it over SMTP with back-off, and
//! deadline warnings. Mails say only that something is waiting: no content, label or id.

use std::collections::BTreeMap;

use chrono::{NaiveTime, Timelike};
use futures_util::StreamExt;

use crate::domain::deadlines;
use crate::http::{paths, AppState};
use crate::i18n::Lang;
pub use crate::mail::Mailer;
use crate::settings::NotifySettings;
use crate::storage::Notice;

/// Why a coordinator is told something is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    NewReport,
    ReporterReply,
    AckDueSoon,
    AckOverdue,
    FeedbackDueSoon,
    FeedbackOverdue,
}

impl Event {
    pub fn code(self) -> &'static str {
        match self {
            Event::NewReport => "new_report",
            Event::ReporterReply => "reporter_reply",
            Event::AckDueSoon => "ack_due_soon",
            Event::AckOverdue => "ack_overdue",
            Event::FeedbackDueSoon => "feedback_due_soon",
            Event::FeedbackOverdue => "feedback_overdue",
        }
    }

    pub fn label(code: &str, lang: Lang) -> &'static str {
        let nl = matches!(lang, Lang::Nl);
        match code {
            "new_report" if nl => "nieuwe melding",
            "new_report" => "new report",
            "reporter_reply" if nl => "nieuw bericht van een melder",
            "reporter_reply" => "new message from a reporter",
            "ack_due_soon" if nl => "ontvangstbevestiging bijna verlopen",
            "ack_due_soon" => "acknowledgement due soon",
            "ack_overdue" if nl => "ontvangstbevestiging te laat",
            "ack_overdue" => "acknowledgement overdue",
            "feedback_due_soon" if nl => "terugkoppeling bijna verlopen",
            "feedback_due_soon" => "feedback due soon",
            "feedback_overdue" if nl => "terugkoppeling te laat",
            "feedback_overdue" => "feedback overdue",
            _ => "?",
        }
    }
}

/// Parses `HH:MM` digest times (Dutch time) into minutes after midnight, sorted.
pub fn digest_slots(times: &[String]) -> anyhow::Result<Vec<u32>> {
    let mut slots = times
        .iter()
        .map(|t| {
            NaiveTime::parse_from_str(t, "%H:%M")
                .map(|t| t.hour() * 60 + t.minute())
                .map_err(|_| anyhow::anyhow!("notify.digest_times: '{t}' is not a time like 08:30"))
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    slots.sort_unstable();
    slots.dedup();
    Ok(slots)
}

/// When a notice raised at `now` may go out: the next digest slot in Dutch time
/// (Europe/Amsterdam, so "07:00" stays 07:00 across summer time), or now without slots.
pub fn next_due(now: i64, slots: &[u32]) -> i64 {
    use chrono::TimeZone;
    use chrono_tz::Europe::Amsterdam;
    if slots.is_empty() {
        return now;
    }
    let today = crate::clock::local_date(now);
    let days = [
        Some(today),
        today.succ_opt(),
        today.succ_opt().and_then(|d| d.succ_opt()),
    ];
    for day in days.into_iter().flatten() {
        for &slot in slots {
            let Some(local) = day.and_hms_opt(slot / 60, slot % 60, 0) else {
                continue;
            };
            // A slot in the hour skipped when summer time starts goes out an hour later.
            let at = Amsterdam.from_local_datetime(&local).earliest().or_else(|| {
                Amsterdam
                    .from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            });
            if let Some(at) = at.map(|t| t.timestamp()).filter(|&t| t >= now) {
                return at;
            }
        }
    }
    now
}

/// Notices for `coordinators` about `event`, due at the next digest slot.
pub fn notices(state: &AppState, coordinators: impl IntoIterator<Item = String>, event: Event) -> Vec<Notice> {
    let slots = digest_slots(&state.settings.notify.digest_times).unwrap_or_default();
    let due_at = next_due(state.clock.now(), &slots);
    coordinators
        .into_iter()
        .map(|coordinator_id| Notice {
            coordinator_id,
            kind: event.code().into(),
            due_at,
        })
        .collect()
}

/// How many mails go out at once: a recipient whose delivery stalls holds one slot, not the
/// whole pass.
const PARALLEL_SENDS: usize = 8;

/// What one worker pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub mails_sent: usize,
    pub rows_sent: usize,
    pub rows_failed: usize,
    pub rows_given_up: usize,
}

fn backoff(attempts: i64, cfg: &NotifySettings) -> i64 {
    let capped = attempts.clamp(0, 20) as u32;
    (30i64 << capped.min(16)).min(cfg.max_backoff_minutes * 60)
}

/// One pass of the worker: queue deadline warnings, then deliver what is due. Safe to run
/// from several instances at once: each row is claimed by one of them.
pub async fn run_once(state: &AppState, mailer: &Mailer, worker: &str) -> anyhow::Result<Pass> {
    let now = state.clock.now();
    queue_deadline_warnings(state).await?;
    let claimed = state.store.claim_outbox(worker, now, now + 300, 500).await?;
    let mut by_coordinator: BTreeMap<String, Vec<crate::storage::ClaimedNotice>> = BTreeMap::new();
    for row in claimed {
        by_coordinator.entry(row.coordinator_id.clone()).or_default().push(row);
    }
    let mut pass = Pass::default();
    let cfg = &state.settings.notify;
    // Look up the addresses first, then deliver several at once, then record the outcomes.
    let mut jobs = Vec::with_capacity(by_coordinator.len());
    for (coordinator_id, rows) in by_coordinator {
        let who = state.store.coordinator(&coordinator_id).await?;
        let to = who
            .and_then(|c| c.email.map(|e| (e, c.language)))
            .ok_or_else(|| "the coordinator has no e-mail address".to_string());
        jobs.push((to, rows));
    }
    let public_url = &state.settings.http.public_url;
    let outcomes: Vec<_> = futures_util::stream::iter(jobs)
        .map(|(to, rows)| async move {
            let result = match to {
                Ok((email, lang)) => {
                    let link = format!("{}{}", public_url.trim_end_matches('/'), paths::ADMIN);
                    let (subject, text, html) = crate::i18n::mail::notification(Lang::from_code(Some(&lang)), &link);
                    mailer.send(&email, subject, text, html).await
                }
                Err(e) => Err(e),
            };
            (result, rows)
        })
        .buffer_unordered(PARALLEL_SENDS)
        .collect()
        .await;
    for (result, rows) in outcomes {
        match result {
            Ok(()) => {
                pass.mails_sent += 1;
                for r in &rows {
                    state.store.outbox_sent(r.id, worker, now).await?;
                    pass.rows_sent += 1;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "notification mail failed; will retry");
                for r in &rows {
                    let give_up = now - r.first_due_at >= cfg.give_up_hours * 3600;
                    let retry = (!give_up).then(|| now + backoff(r.attempts, cfg));
                    state.store.outbox_failed(r.id, worker, &e, retry).await?;
                    if give_up {
                        pass.rows_given_up += 1;
                    } else {
                        pass.rows_failed += 1;
                    }
                }
            }
        }
    }
    state.store.prune_outbox(now - 30 * 86_400).await?;
    Ok(pass)
}

/// Queues each deadline warning once per report: acknowledgement due within 2 days or
/// passed, feedback due within 14 days or passed.
pub async fn queue_deadline_warnings(state: &AppState) -> anyhow::Result<()> {
    let today = state.clock.today();
    let slots = digest_slots(&state.settings.notify.digest_times).unwrap_or_default();
    let due_at = next_due(state.clock.now(), &slots);
    for r in state.store.open_reports_for_deadlines().await? {
        let Some(received) = deadlines::parse_date(&r.received_on) else {
            continue;
        };
        let acked = r.acknowledged_on.as_deref().and_then(deadlines::parse_date);
        let mut events = Vec::new();
        if acked.is_none() {
            let due = deadlines::ack_due(received);
            if today > due {
                events.push(Event::AckOverdue);
            } else if (due - today).num_days() <= 2 {
                events.push(Event::AckDueSoon);
            }
        }
        let due = deadlines::feedback_due(received, acked);
        if r.feedback_on.is_some() {
            // Feedback was given: no feedback warnings.
        } else if today > due {
            events.push(Event::FeedbackOverdue);
        } else if (due - today).num_days() <= 14 {
            events.push(Event::FeedbackDueSoon);
        }
        for e in events {
            state.store.queue_deadline_notice(&r.id, e.code(), due_at).await?;
        }
    }
    Ok(())
}

/// A readable Dutch local time for the outbox and audit pages.
pub fn format_time(unix: i64) -> String {
    crate::clock::local_time(unix)
}

/// Runs the worker every `poll_seconds` until the process ends.
pub async fn worker_loop(state: actix_web::web::Data<AppState>, mailer: Mailer) {
    let worker = crate::ids::new_id().0;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(state.settings.notify.poll_seconds));
    loop {
        tick.tick().await;
        if let Err(e) = run_once(&state, &mailer, &worker).await {
            tracing::warn!(error = %format!("{e:#}"), "notification worker pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_wait_for_the_next_digest_slot() {
        let slots = digest_slots(&["15:00".into(), "07:00".into(), "11:00".into()]).unwrap();
        assert_eq!(slots, vec![420, 660, 900]);
        // 2026-11-30 00:00 UTC is 01:00 in Amsterdam (winter time, UTC+1).
        let day = 1_796_004_000 - 1_796_004_000 % 86_400;
        assert_eq!(
            next_due(day + 8 * 3600, &slots),
            day + 10 * 3600,
            "09:00 local waits for 11:00 local"
        );
        assert_eq!(next_due(day + 10 * 3600, &slots), day + 10 * 3600);
        assert_eq!(
            next_due(day + 16 * 3600, &slots),
            day + 86_400 + 6 * 3600,
            "the next morning at 07:00 local"
        );
        assert_eq!(next_due(day + 5, &[]), day + 5);
        // In summer time (UTC+2) 07:00 local is 05:00 UTC: 2026-07-01 04:00 UTC waits an hour.
        let summer = 1_782_864_000; // 2026-07-01 00:00 UTC
        assert_eq!(next_due(summer + 4 * 3600, &slots), summer + 5 * 3600);
        assert!(digest_slots(&["25:00".into()]).is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = NotifySettings {
            digest_times: vec![],
            poll_seconds: 30,
            max_backoff_minutes: 60,
            give_up_hours: 72,
        };
        assert_eq!(backoff(0, &cfg), 30);
        assert_eq!(backoff(1, &cfg), 60);
        assert_eq!(backoff(3, &cfg), 240);
        assert_eq!(backoff(30, &cfg), 3600);
    }
}
