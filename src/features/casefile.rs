//! Opening a report for whoever holds its key: the clear columns, the sealed answers and the
//! thread, decrypted into view models for a reporter's or a coordinator's page. Decides
//! nothing about access (callers unwrap the key first) and logs no content.

use crate::crypto::envelope::{Context, Purpose, Role};
use crate::crypto::ReportKey;
use chrono::NaiveDate;

use crate::domain::deadlines;
use crate::domain::report::{field, Anonymity, Category, ChainLabel, HowKnown, Status, SubjectRole};
use crate::domain::thread::{message_context, role_of, NOTE};
use crate::features::evidence::{self, FileView};
use crate::i18n::{fmt_date, Lang, StaffTexts};
use crate::ids;
use crate::storage::{ReportRow, Store};

/// How a thread page is shown: plainly (perhaps with a notice), or with a refused reply kept.
pub struct ReplyState {
    pub status: actix_web::http::StatusCode,
    pub reply: String,
    pub errors: crate::http::form::FieldErrors,
    pub notice: Option<String>,
    /// Files came with the refused form and were not kept: the line asking to choose them
    /// again (the same text is also among `errors` under "files" unless a file was the problem).
    pub files_refused: Option<String>,
}

impl ReplyState {
    /// The file field for a page showing this state.
    pub fn files_field(
        &self,
        lang: Lang,
        limits: &crate::settings::LimitSettings,
    ) -> crate::features::evidence::FilesField {
        let mut ff = crate::features::evidence::FilesField::new(lang, limits);
        if let Some(again) = &self.files_refused {
            let error = self.errors.iter().find(|(n, _)| *n == "files").map(|(_, m)| m.clone());
            // When the files were the problem the error names it, and the line below asks
            // to choose again; otherwise the error is that request.
            let again = error.is_some().then(|| again.clone());
            ff.refuse(error, again);
        }
        ff
    }

    pub fn shown(notice: Option<String>) -> Self {
        ReplyState {
            status: actix_web::http::StatusCode::OK,
            reply: String::new(),
            errors: vec![],
            notice,
            files_refused: None,
        }
    }
    /// A refused form whose chosen files were not kept: `again` (if files came) asks for
    /// them by name, in the error list too unless a file itself was the problem.
    pub fn refused_with_files(
        status: actix_web::http::StatusCode,
        reply: String,
        mut errors: crate::http::form::FieldErrors,
        again: Option<String>,
    ) -> Self {
        if let Some(again) = again.as_ref().filter(|_| !errors.iter().any(|(n, _)| *n == "files")) {
            errors.push(("files", again.clone()));
        }
        ReplyState {
            status,
            files_refused: again,
            ..ReplyState::refused(reply, errors)
        }
    }

    pub fn refused(reply: String, errors: crate::http::form::FieldErrors) -> Self {
        ReplyState {
            status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            reply,
            errors,
            notice: None,
            files_refused: None,
        }
    }
}

pub struct ReportView {
    /// Files sent with the report itself.
    pub files: Vec<FileView>,
    pub files_heading: &'static str,
    pub id: String,
    /// A short reference coordinators can tell reports apart by (the id's first symbols).
    pub reference: String,
    pub about: String,
    pub received_on: String,
    pub acknowledged_on: Option<String>,
    pub status: String,
    pub chain_label: String,
    pub suggested_label: Option<String>,
    pub category: String,
    pub subject: String,
    /// In a shared intake: the body the report concerns; empty otherwise.
    pub body: String,
    pub what: String,
    pub when: String,
    pub place: String,
    pub how_known: String,
    pub anonymity: String,
    pub contact: String,
    pub unread: i64,
    pub status_code: String,
    pub chain_code: String,
    pub category_code: String,
    pub ack_due: String,
    pub feedback_due: String,
    pub feedback_on: Option<String>,
    pub deadline: Option<DeadlineView>,
    pub oral: bool,
    pub minutes_confirmed_on: Option<String>,
}

/// The next open deadline as shown to coordinators.
pub struct DeadlineView {
    pub what: &'static str,
    pub date: String,
    pub left: String,
    pub overdue: bool,
}

/// "nog 3 dagen", "vandaag", "2 dagen te laat".
pub fn days_text(s: &StaffTexts, days: i64) -> String {
    match days {
        0 => s.dl_today.to_string(),
        1 => s.dl_one_day_left.to_string(),
        -1 => s.dl_one_day_overdue.to_string(),
        d if d > 0 => s.dl_days_left.replace("{n}", &d.to_string()),
        d => s.dl_overdue.replace("{n}", &(-d).to_string()),
    }
}

/// The next deadline of a report for a page, from its clear columns.
pub fn deadline_view(
    lang: Lang,
    today: NaiveDate,
    received: &str,
    acked: Option<&str>,
    feedback: Option<&str>,
    status: &str,
) -> Option<DeadlineView> {
    let s = lang.staff();
    let received = deadlines::parse_date(received)?;
    let next = deadlines::next(
        received,
        acked.and_then(deadlines::parse_date),
        feedback.and_then(deadlines::parse_date),
        status,
    )?;
    let days = (next.date() - today).num_days();
    Some(DeadlineView {
        what: match next {
            deadlines::Next::Acknowledge(_) => s.dl_ack,
            deadlines::Next::Feedback(_) => s.dl_feedback,
        },
        date: fmt_date(lang, &next.date().format("%Y-%m-%d").to_string()),
        left: days_text(s, days),
        overdue: days < 0,
    })
}

pub struct MessageView {
    pub files: Vec<FileView>,
    pub author: String,
    pub date: String,
    pub text: String,
    pub own: bool,
    pub system: bool,
}

/// The first six symbols of a report id, upper case: enough to tell reports apart on a
/// page, not a secret (coordinators only).
pub fn reference(id: &str) -> String {
    id.chars().take(6).collect::<String>().to_uppercase()
}

/// A decrypted report: what it says, the thread, and (for coordinators) internal notes.
pub struct Opened {
    pub report: ReportView,
    pub messages: Vec<MessageView>,
    pub notes: Vec<MessageView>,
}

/// The coordinators the reporter excluded from report `report_id` (sealed field
/// [`field::EXCLUDED`]; none for reports from before it was kept).
pub async fn excluded(store: &Store, report_id: &str, key: &ReportKey) -> anyhow::Result<Vec<String>> {
    let rid = ids::parse(report_id).ok_or_else(|| anyhow::anyhow!("malformed report id in database"))?;
    let Some(sealed) = store.report_field(report_id, i64::from(field::EXCLUDED)).await? else {
        return Ok(vec![]);
    };
    let ctx = Context::new(Purpose::ReportField)
        .report(rid)
        .role(Role::Reporter)
        .field(field::EXCLUDED);
    let plain = key
        .open(&ctx, &sealed)
        .map_err(|e| anyhow::anyhow!("excluded coordinators: {e}"))?;
    Ok(String::from_utf8_lossy(&plain).lines().map(str::to_string).collect())
}

/// Decrypts report `row` with `key` into what `viewer` may see, labelled in `lang`. Internal
/// notes are not even decrypted for a reporter.
pub async fn open(
    store: &Store,
    row: ReportRow,
    key: &ReportKey,
    lang: Lang,
    viewer: Role,
    today: NaiveDate,
) -> anyhow::Result<Opened> {
    let t = lang.t();
    let rid = ids::parse(&row.id).ok_or_else(|| anyhow::anyhow!("malformed report id in database"))?;
    let mut answers: [String; 9] = Default::default();
    for (f, sealed) in store.report_fields(&row.id).await? {
        let ctx = Context::new(Purpose::ReportField)
            .report(rid)
            .role(Role::Reporter)
            .field(f as u16);
        let plain = key
            .open(&ctx, &sealed)
            .map_err(|e| anyhow::anyhow!("report field {f}: {e}"))?;
        if let Some(slot) = answers.get_mut(f as usize) {
            *slot = String::from_utf8_lossy(&plain).into_owned();
        }
    }
    let names: Vec<(String, String)> = if viewer == Role::Coordinator {
        store
            .coordinators()
            .await?
            .into_iter()
            .map(|c| (c.id, c.display_name))
            .collect()
    } else {
        vec![]
    };
    let report_id = row.id.clone();
    let all_files = evidence::views(store, key, &row.id, lang, viewer, |fid| match viewer {
        Role::Coordinator => lang.href(&format!(
            "{}/bestanden/{fid}",
            crate::http::paths::admin_report(&report_id)
        )),
        _ => lang.href(&format!("{}/{fid}", crate::http::paths::FOLLOW_UP_FILES)),
    })
    .await?;
    // Report-level files belong to no message; files of a message are shown with it, and
    // only if that message is shown to this viewer.
    let (files, mut message_files): (Vec<FileView>, Vec<FileView>) =
        all_files.into_iter().partition(|f| f.message_id.is_none());
    let mut messages = Vec::new();
    let mut notes = Vec::new();
    for m in store.messages(&row.id).await? {
        let (Some(role), Some(mid)) = (role_of(&m.author_role), ids::parse(&m.id)) else {
            continue;
        };
        let is_note = m.kind == NOTE;
        if is_note && viewer != Role::Coordinator {
            continue;
        }
        let ctx = message_context(rid, mid, role, &m.kind);
        let plain = if is_note {
            key.open_staff(&ctx, &m.sealed)
        } else {
            key.open(&ctx, &m.sealed)
        }
        .map_err(|e| anyhow::anyhow!("message {}: {e}", m.seq))?;
        let text = match m.kind.as_str() {
            "ack" => t.ack_message.to_string(),
            "confirm" => t.confirmed_message.to_string(),
            _ => String::from_utf8_lossy(&plain).into_owned(),
        };
        let author = match (role, viewer) {
            (Role::Reporter, Role::Reporter) => t.author_you,
            (Role::Reporter, _) => lang.staff().author_reporter,
            (Role::Coordinator, _) => t.author_coordinator,
            _ => t.author_system,
        };
        let author = match (
            role,
            viewer,
            m.author_id.as_ref().and_then(|id| names.iter().find(|(i, _)| i == id)),
        ) {
            // Coordinators see which colleague wrote; the reporter sees the role only.
            (Role::Coordinator, Role::Coordinator, Some((_, name))) => name.clone(),
            _ => author.to_string(),
        };
        let (mine, rest): (Vec<FileView>, Vec<FileView>) = message_files
            .into_iter()
            .partition(|f| f.message_id.as_deref() == Some(m.id.as_str()));
        message_files = rest;
        let view = MessageView {
            files: mine,
            author,
            date: fmt_date(lang, &m.created_on),
            text,
            own: role == viewer,
            system: role == Role::System,
        };
        if is_note {
            notes.push(view);
        } else {
            messages.push(view);
        }
    }
    let suggested =
        (row.suggested_chain_label != row.chain_label).then(|| ChainLabel::label_of(&row.suggested_chain_label, lang));
    let mut take = |f: u16| std::mem::take(&mut answers[usize::from(f)]);
    let (what, when, place) = (take(field::WHAT), take(field::WHEN), take(field::WHERE));
    let (how_known, anonymity, contact) = (take(field::HOW_KNOWN), take(field::ANONYMITY), take(field::CONTACT));
    let body = take(field::BODY);
    let about = ChainLabel::parse(&row.suggested_chain_label)
        .map(|c| c.about(lang).to_string())
        .unwrap_or_default();
    let view = ReportView {
        files,
        files_heading: evidence::texts(lang).heading,
        id: row.id.clone(),
        reference: reference(&row.id),
        about,
        received_on: fmt_date(lang, &row.received_on),
        acknowledged_on: row.acknowledged_on.as_deref().map(|d| fmt_date(lang, d)),
        status: Status::label_of(&row.status, lang),
        chain_label: ChainLabel::label_of(&row.chain_label, lang),
        suggested_label: suggested,
        category: Category::label_of(&row.category, lang),
        subject: SubjectRole::label_of(&row.subject_role, lang),
        body,
        what,
        when: if when.is_empty() { t.not_given.into() } else { when },
        place: if place.is_empty() { t.not_given.into() } else { place },
        how_known: HowKnown::label_of(&how_known, lang),
        anonymity: Anonymity::label_of(&anonymity, lang),
        contact,
        unread: row.unread_for_coordinators,
        deadline: deadline_view(
            lang,
            today,
            &row.received_on,
            row.acknowledged_on.as_deref(),
            row.feedback_on.as_deref(),
            &row.status,
        ),
        ack_due: deadlines::parse_date(&row.received_on)
            .map(|r| fmt_date(lang, &deadlines::ack_due(r).format("%Y-%m-%d").to_string()))
            .unwrap_or_default(),
        feedback_due: deadlines::parse_date(&row.received_on)
            .map(|r| {
                let due = deadlines::feedback_due(r, row.acknowledged_on.as_deref().and_then(deadlines::parse_date));
                fmt_date(lang, &due.format("%Y-%m-%d").to_string())
            })
            .unwrap_or_default(),
        feedback_on: row.feedback_on.as_deref().map(|d| fmt_date(lang, d)),
        oral: row.origin == "oral",
        minutes_confirmed_on: row.minutes_confirmed_on.as_deref().map(|d| fmt_date(lang, d)),
        status_code: row.status.clone(),
        chain_code: row.chain_label.clone(),
        category_code: row.category.clone(),
    };
    Ok(Opened {
        report: view,
        messages,
        notes,
    })
}
