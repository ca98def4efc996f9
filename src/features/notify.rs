//! Notifications that are never lost, delivered at least once and, as far as SMTP allows,
//! once: rows in the outbox (written in the same transaction as their event), a worker
//! that claims due rows with a short lease it renews while it sends, merges them into one
//! mail per coordinator under a Message-ID recorded before sending (the same on a resend,
//! so a mail sent again after a crash is recognisable as one), delivers it over SMTP with
//! back-off, and deadline warnings. Mails say only that something is waiting: no content,
//! label or id.

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

/// How long a worker's claim on outbox rows lasts, and how often the live worker renews it
/// while it sends: a worker that dies leaves its rows to another after at most `seconds`,
/// and a live one whose mail server is slow keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub seconds: i64,
    pub renew_every: std::time::Duration,
}

impl Claim {
    /// 30 s, renewed every 10 s: with `notify.poll_seconds` at 30, a dead instance's mail
    /// goes out from another within a minute.
    pub const DEFAULT: Claim = Claim {
        seconds: 30,
        renew_every: std::time::Duration::from_secs(10),
    };
}

/// Renews a pass's claim in the background until dropped: when the pass ends, and when it
/// is cancelled or its task aborted, the renewal stops with it.
struct Renewal(tokio::task::JoinHandle<()>);

impl Renewal {
    fn start(state: &AppState, worker: &str, ids: Vec<i64>, claim: Claim) -> Renewal {
        let store = state.store.clone();
        let clock = state.clock.clone();
        let worker = worker.to_string();
        Renewal(tokio::spawn(async move {
            let mut tick = tokio::time::interval(claim.renew_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is now: the claim is fresh
            loop {
                tick.tick().await;
                match store
                    .renew_outbox_claim(&worker, &ids, clock.now() + claim.seconds)
                    .await
                {
                    Ok(0) => return, // nothing held any more
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not renew the claim on notification mail"),
                }
            }
        }))
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The Message-ID of the mail that merges the outbox rows `ids`, claimed at `claimed_at`:
/// a hash of the organisation's address, that time and the rows' ids, on the organisation's
/// host (or the sender's domain when that is an IP address). Nothing of a report, nothing
/// that names a coordinator; the claim time keeps ids used again (a restored backup, an
/// imported organisation) from repeating a Message-ID.
pub fn message_id(public_url: &str, fallback_domain: Option<String>, ids: &[i64], claimed_at: i64) -> String {
    use sha2::Digest;
    let host = url::Url::parse(public_url).ok().and_then(|u| match u.host() {
        Some(url::Host::Domain(d)) => Some(d.to_ascii_lowercase()),
        _ => None,
    });
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    let mut h = sha2::Sha256::new();
    h.update(b"meldpunt notification mail\0");
    h.update(public_url.as_bytes());
    h.update(b"\0");
    h.update(claimed_at.to_be_bytes());
    for id in ids {
        h.update(id.to_be_bytes());
    }
    let local = hex::encode(&h.finalize()[..16]);
    let domain = host.or(fallback_domain).unwrap_or_else(|| "meldpunt.invalid".into());
    format!("<{local}@{domain}>")
}

/// One pass of the worker with the default claim: see [`run_once_with`].
pub async fn run_once(state: &AppState, mailer: &Mailer, worker: &str) -> anyhow::Result<Pass> {
    run_once_with(state, mailer, worker, Claim::DEFAULT).await
}

/// One pass of the worker: queue deadline warnings, then deliver what is due. Safe to run
/// from several instances at once: each row is claimed by one of them, for `claim.seconds`,
/// renewed while this pass runs. Each mail's Message-ID is recorded in its rows before the
/// mail is handed over, and each outcome as soon as it is known, so a crash can repeat
/// only a mail the server was handling at that moment, under the same Message-ID.
pub async fn run_once_with(state: &AppState, mailer: &Mailer, worker: &str, claim: Claim) -> anyhow::Result<Pass> {
    let now = state.clock.now();
    queue_deadline_warnings(state).await?;
    let claimed = state.store.claim_outbox(worker, now, now + claim.seconds, 500).await?;
    let _renewal =
        (!claimed.is_empty()).then(|| Renewal::start(state, worker, claimed.iter().map(|r| r.id).collect(), claim));
    // One mail per coordinator, except that rows a mail was already handed over with (and
    // whose outcome is not known) go out again as that same mail, under its Message-ID.
    type Mails = BTreeMap<(String, Option<String>), Vec<crate::storage::ClaimedNotice>>;
    let mut mails: Mails = BTreeMap::new();
    for row in claimed {
        mails
            .entry((row.coordinator_id.clone(), row.message_id.clone()))
            .or_default()
            .push(row);
    }
    let cfg = &state.settings.notify;
    // Look up the addresses first, then deliver several at once, recording each outcome.
    let mut addresses = BTreeMap::new();
    let mut jobs = Vec::with_capacity(mails.len());
    for ((coordinator_id, recorded), rows) in mails {
        if !addresses.contains_key(&coordinator_id) {
            let who = state.store.coordinator(&coordinator_id).await?;
            let to = who
                .and_then(|c| c.email.map(|e| (e, c.language)))
                .ok_or_else(|| "the coordinator has no e-mail address".to_string());
            addresses.insert(coordinator_id.clone(), to);
        }
        jobs.push((addresses[&coordinator_id].clone(), recorded, rows));
    }
    let public_url = &state.settings.http.public_url;
    let outcomes: Vec<anyhow::Result<Pass>> = futures_util::stream::iter(jobs)
        .map(|(to, recorded, rows)| async move {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let result = match to {
                Ok((email, lang)) => {
                    let id = match recorded {
                        Some(id) => Some(id),
                        None => {
                            let id = message_id(public_url, mailer.from_domain(), &ids, now);
                            // Recorded before the mail leaves: a resend reuses it.
                            state
                                .store
                                .outbox_set_message_id(worker, &ids, &id)
                                .await?
                                .then_some(id)
                        }
                    };
                    let Some(id) = id else {
                        tracing::warn!("the claim on notification mail lapsed before sending; left to its new holder");
                        return Ok(Pass::default());
                    };
                    let link = format!("{}{}", public_url.trim_end_matches('/'), paths::ADMIN);
                    let (subject, text, html) = crate::i18n::mail::notification(Lang::from_code(Some(&lang)), &link);
                    mailer.send(&email, subject, text, html, &id).await
                }
                Err(e) => Err(crate::mail::SendError::refused(e)),
            };
            record(state, worker, now, cfg, result, &rows).await
        })
        .buffer_unordered(PARALLEL_SENDS)
        .collect()
        .await;
    let mut pass = Pass::default();
    for outcome in outcomes {
        let p = outcome?;
        pass.mails_sent += p.mails_sent;
        pass.rows_sent += p.rows_sent;
        pass.rows_failed += p.rows_failed;
        pass.rows_given_up += p.rows_given_up;
    }
    state.store.prune_outbox(now - 30 * 86_400).await?;
    Ok(pass)
}

/// Records what became of one mail in its rows.
async fn record(
    state: &AppState,
    worker: &str,
    now: i64,
    cfg: &NotifySettings,
    result: Result<(), crate::mail::SendError>,
    rows: &[crate::storage::ClaimedNotice],
) -> anyhow::Result<Pass> {
    let mut pass = Pass::default();
    match result {
        Ok(()) => {
            pass.mails_sent += 1;
            for r in rows {
                if state.store.outbox_sent(r.id, worker, now).await? {
                    pass.rows_sent += 1;
                } else {
                    tracing::warn!("a notification went out after its claim had lapsed; it may go out twice");
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "notification mail failed; will retry");
            for r in rows {
                let give_up = now - r.first_due_at >= cfg.give_up_hours * 3600;
                let retry = (!give_up).then(|| now + backoff(r.attempts, cfg));
                state
                    .store
                    .outbox_failed(r.id, worker, &e.message, retry, e.maybe_delivered)
                    .await?;
                if give_up {
                    pass.rows_given_up += 1;
                } else {
                    pass.rows_failed += 1;
                }
            }
        }
    }
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
    fn a_message_id_is_stable_and_names_only_the_host() {
        let url = "https://meldpunt.voorbeeldstad.nl";
        let a = message_id(url, None, &[3, 1, 2], 1_000);
        assert_eq!(a, message_id(url, Some("x.test".into()), &[1, 2, 3], 1_000));
        assert!(a.starts_with('<') && a.ends_with("@meldpunt.voorbeeldstad.nl>"), "{a}");
        assert_eq!(a.len(), "<@meldpunt.voorbeeldstad.nl>".len() + 32);
        assert_ne!(a, message_id(url, None, &[1, 2, 3], 1_001), "ids used again");
        assert_ne!(a, message_id(url, None, &[1, 2], 1_000));
        assert_ne!(a, message_id("https://meldpunt.anderestad.nl", None, &[1, 2, 3], 1_000));
        let ip = message_id("http://127.0.0.1:8080", Some("voorbeeldstad.test".into()), &[1], 0);
        assert!(ip.ends_with("@voorbeeldstad.test>"), "{ip}");
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
