//! Triage on a report: the status workflow (forward freely; reopening a completed or closed
//! report needs a reason), relabelling chain link and category (with a reason), internal
//! notes (sealed, never shown to the reporter), the print view and the audit trail page.
//! Reasons and notes are sealed content; audit rows carry only codes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::report::{render_report, report_page, report_post};
use super::{current, to_login, Coordinator};
use crate::crypto::envelope::Role;
use crate::crypto::ReportKey;
use crate::domain::report::{Category, ChainLabel, Status};
use crate::domain::thread::seal_message;
use crate::features::casefile::{self, ReplyState};
use crate::features::notify::format_time;
use crate::http::form::{body_limit, check_text, FieldErrors};
use crate::http::{paths, query_lang, redirect, render, OrAppError, Page, PageResult, State};
use crate::i18n::{fmt_date, Lang};
use crate::storage::{NewMessage, Relabel, ReportRow};

/// What moving from one status to another is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Forward,
    /// Back from completed or closed: allowed with a reason.
    Reopen,
}

fn rank(s: Status) -> u8 {
    match s {
        Status::Nieuw => 0,
        Status::InBehandeling => 1,
        Status::InOnderzoek => 2,
        Status::Afgerond => 3,
        Status::Gesloten => 4,
    }
}

pub fn transition(from: Status, to: Status) -> Option<Transition> {
    if rank(to) > rank(from) {
        Some(Transition::Forward)
    } else if rank(from) >= rank(Status::Afgerond) && matches!(to, Status::InBehandeling | Status::InOnderzoek) {
        Some(Transition::Reopen)
    } else {
        None
    }
}

fn note(state: &State, key: &ReportKey, row: &ReportRow, me: &Coordinator, text: &str) -> anyhow::Result<NewMessage> {
    seal_message(
        &state.clock,
        key,
        &row.id,
        Role::Coordinator,
        Some(me.row.id.clone()),
        crate::domain::thread::NOTE,
        text,
    )
}

fn back_to(lang: Lang, row: &ReportRow) -> actix_web::HttpResponse {
    redirect(&lang.href(&format!("{}?done=changed", paths::admin_report(&row.id))))
}

async fn refused(
    state: &State,
    lang: Lang,
    me: &Coordinator,
    (key, row): (ReportKey, ReportRow),
    field: &'static str,
    msg: &str,
    kept: String,
) -> PageResult {
    let shown = ReplyState::refused(kept, vec![(field, msg.to_string())]);
    report_page(state, lang, me, key, row, shown).await
}

/// `POST /beheer/melding/{id}/status`
pub async fn change_status(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let limit = state.settings.limits.field_chars;
    let (lang, form, me, key, row) = match report_post(&state, &req, &id, payload, body_limit(limit, 1)).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    let t = lang.t();
    let s = lang.staff();
    let reason = form.text("reason");
    let (Some(from), Some(to)) = (
        Status::parse(&row.status),
        Status::parse(form.get("status").unwrap_or_default()),
    ) else {
        return refused(&state, lang, &me, (key, row), "status", s.err_transition, reason).await;
    };
    let Some(kind) = transition(from, to) else {
        return refused(&state, lang, &me, (key, row), "status", s.err_transition, reason).await;
    };
    let mut errors = FieldErrors::new();
    check_text(
        &mut errors,
        "status",
        &reason,
        limit,
        (kind == Transition::Reopen).then_some(s.err_reason),
        t,
    );
    if let Some((_, msg)) = errors.first() {
        let msg = msg.clone();
        return refused(&state, lang, &me, (key, row), "status", &msg, reason).await;
    }
    let sealed = if reason.trim().is_empty() {
        None
    } else {
        let text = format!(
            "{}: {} → {}. {}: {}",
            s.status_heading,
            from.label(lang),
            to.label(lang),
            s.reason_label,
            reason.trim()
        );
        Some(note(&state, &key, &row, &me, &text).or_500(lang)?)
    };
    if !state
        .store
        .change_status(
            &row.id,
            (from.code(), to.code()),
            (
                &state.clock.today_string(),
                &crate::domain::deadlines::next_due_string(
                    &row.received_on,
                    row.acknowledged_on.as_deref(),
                    row.feedback_on.as_deref(),
                    to.code(),
                ),
            ),
            sealed.as_ref(),
        )
        .await
        .or_500(lang)?
    {
        return refused(&state, lang, &me, (key, row), "status", s.err_transition, reason).await;
    }
    let detail = format!("{} -> {}", from.code(), to.code());
    let action = if kind == Transition::Reopen {
        "report_reopened"
    } else {
        "status_changed"
    };
    state
        .store
        .audit_detail(
            state.clock.now(),
            Some(&me.row.id),
            action,
            Some(&row.id),
            Some(&detail),
        )
        .await
        .or_500(lang)?;
    Ok(back_to(lang, &row))
}

/// `POST /beheer/melding/{id}/ketenschakel` and `/soort`: relabel with a reason.
async fn relabel(
    state: State,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    what: Relabel,
) -> PageResult {
    let limit = state.settings.limits.field_chars;
    let (lang, form, me, key, row) = match report_post(&state, &req, &id, payload, body_limit(limit, 1)).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    let t = lang.t();
    let s = lang.staff();
    let reason = form.text("reason");
    let field = match what {
        Relabel::Chain => "label",
        Relabel::Category => "category",
    };
    let chosen = form.get("code").unwrap_or_default();
    let (from, to, heading) = match what {
        Relabel::Chain => (
            ChainLabel::parse(&row.chain_label).map(|c| c.label(lang)),
            ChainLabel::parse(chosen).map(|c| (c.code(), c.label(lang))),
            s.label_heading,
        ),
        Relabel::Category => (
            Category::parse(&row.category).map(|c| c.label(lang)),
            Category::parse(chosen).map(|c| (c.code(), c.label(lang))),
            s.category_heading,
        ),
    };
    let (Some(from), Some((to_code, to))) = (from, to) else {
        return refused(&state, lang, &me, (key, row), field, t.err_choice, reason).await;
    };
    let mut errors = FieldErrors::new();
    check_text(&mut errors, field, &reason, limit, Some(s.err_reason), t);
    if let Some((_, msg)) = errors.first() {
        let msg = msg.clone();
        return refused(&state, lang, &me, (key, row), field, &msg, reason).await;
    }
    let old_code = match what {
        Relabel::Chain => row.chain_label.clone(),
        Relabel::Category => row.category.clone(),
    };
    if old_code == to_code {
        return Ok(back_to(lang, &row));
    }
    let text = format!("{heading}: {from} → {to}. {}: {}", s.reason_label, reason.trim());
    let sealed = note(&state, &key, &row, &me, &text).or_500(lang)?;
    if !state
        .store
        .relabel(&row.id, what, &old_code, to_code, &sealed)
        .await
        .or_500(lang)?
    {
        return refused(&state, lang, &me, (key, row), field, s.err_transition, reason).await;
    }
    let action = match what {
        Relabel::Chain => "chain_label_changed",
        Relabel::Category => "category_changed",
    };
    let detail = format!("{old_code} -> {to_code}");
    state
        .store
        .audit_detail(
            state.clock.now(),
            Some(&me.row.id),
            action,
            Some(&row.id),
            Some(&detail),
        )
        .await
        .or_500(lang)?;
    Ok(back_to(lang, &row))
}

pub async fn relabel_chain(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    relabel(state, req, id, payload, Relabel::Chain).await
}

pub async fn relabel_category(
    state: State,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> PageResult {
    relabel(state, req, id, payload, Relabel::Category).await
}

/// `POST /beheer/melding/{id}/notitie`: an internal note, sealed, never shown to the reporter.
pub async fn add_note(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let limit = state.settings.limits.field_chars;
    let (lang, form, me, key, row) = match report_post(&state, &req, &id, payload, body_limit(limit, 1)).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    let t = lang.t();
    let s = lang.staff();
    let text = form.text("note");
    let mut errors = FieldErrors::new();
    check_text(&mut errors, "note", &text, limit, Some(s.err_note_empty), t);
    if !errors.is_empty() {
        return report_page(&state, lang, &me, key, row, ReplyState::refused(text, errors)).await;
    }
    let m = note(&state, &key, &row, &me, &text).or_500(lang)?;
    state.store.insert_message(&m, &[]).await.or_500(lang)?;
    state
        .store
        .audit(state.clock.now(), Some(&me.row.id), "note_added", Some(&row.id))
        .await
        .or_500(lang)?;
    Ok(back_to(lang, &row))
}

/// `GET /beheer/melding/{id}/afdrukken`: the report, thread and notes for an investigation
/// file, without forms. Opening it is audited.
pub async fn print_view(state: State, req: HttpRequest, id: web::Path<String>) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let Some((key, row)) = super::report::unlock_report(&state, &me, &id, lang).await? else {
        return Ok(crate::http::not_found_page(&state, lang));
    };
    state
        .store
        .audit(state.clock.now(), Some(&me.row.id), "report_printed", Some(&row.id))
        .await
        .or_500(lang)?;
    let shown = ReplyState::shown(Some(format!(
        "{} {}",
        lang.staff().printed_on,
        fmt_date(lang, &state.clock.today_string())
    )));
    render_report(&state, lang, &me, key, row, shown, true).await
}

pub struct AuditItem {
    pub when: String,
    pub who: String,
    pub action: String,
    pub reference: String,
    /// The report page, for rows about a report.
    pub href: Option<String>,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Page,
    csrf: String,
    items: Vec<AuditItem>,
}

fn action_label(action: &str, lang: Lang) -> String {
    let nl = lang == Lang::Nl;
    let (n, e) = match action {
        "login" => ("ingelogd", "logged in"),
        "linked_elsewhere" => (
            "account gekoppeld aan het eigen account bij een andere organisatie",
            "account linked to their own account at another organisation",
        ),
        "switched_out" => (
            "overgestapt naar een andere organisatie",
            "switched to another organisation",
        ),
        "switched_in" => (
            "ingelogd vanuit het eigen account bij een andere organisatie",
            "logged in from their own account at another organisation",
        ),
        "login_recovery_code" => (
            "ingelogd met een herstelcode (zonder telefoon)",
            "logged in with a recovery code (without phone)",
        ),
        "logout" => ("uitgelogd", "logged out"),
        "setup_completed" => ("meldpunt ingericht", "reporting point set up"),
        "report_opened" => ("melding geopend (ontsleuteld)", "report opened (decrypted)"),
        "report_printed" => ("afdrukversie geopend", "print version opened"),
        "receipt_acknowledged" => ("ontvangst bevestigd", "receipt acknowledged"),
        "message_sent" => ("bericht aan melder", "message to reporter"),
        "file_downloaded" => ("bestand gedownload (ontsleuteld)", "file downloaded (decrypted)"),
        "feedback_given" => ("terugkoppeling gegeven", "feedback given"),
        "note_added" => ("interne notitie", "internal note"),
        "status_changed" => ("status gewijzigd", "status changed"),
        "report_reopened" => ("melding heropend", "report reopened"),
        "chain_label_changed" => ("ketenschakel gewijzigd", "chain link changed"),
        "category_changed" => ("soort gewijzigd", "kind changed"),
        "coordinator_approved" => ("coördinator goedgekeurd", "coordinator approved"),
        "step_up_failed" => (
            "verkeerde code van de tweede stap bij een handeling",
            "wrong second-step code for an action",
        ),
        "step_up_locked_out" => (
            "te veel verkeerde codes: sessie beëindigd",
            "too many wrong codes: session ended",
        ),
        "keys_vouched" => (
            "ingestaan voor de sleutels na de upgrade",
            "vouched for the keys after the upgrade",
        ),
        "pepper_replaced" => ("pepper vervangen (opdrachtregel)", "pepper replaced (command line)"),
        "pepper_confirmed" => (
            "pepper bevestigd met het wachtwoord van een coördinator (opdrachtregel)",
            "pepper confirmed with a coordinator's password (command line)",
        ),
        "access_granted" => ("toegang gegeven", "access granted"),
        "access_revoked" => ("toegang ingetrokken", "access revoked"),
        "stepped_aside" => ("opzij gestapt", "stepped aside"),
        "password_changed" => ("wachtwoord gewijzigd", "password changed"),
        "recovered_with_recovery_key" => (
            "toegang hersteld met de herstelsleutel",
            "access recovered with the recovery key",
        ),
        "overview_exported" => ("overzicht gedownload (CSV)", "overview downloaded (CSV)"),
        "register_exported" => ("register gedownload (CSV)", "register downloaded (CSV)"),
        "retention_extended" => ("bewaartermijn verlengd", "retention extended"),
        "report_destroyed" => (
            "inhoud vernietigd na de bewaartermijn",
            "content destroyed after retention",
        ),
        "oral_report_recorded" => ("mondelinge melding vastgelegd", "oral report recorded"),
        "coordinator_invited" => ("coördinator uitgenodigd", "coordinator invited"),
        "invite_accepted" => ("uitnodiging aangenomen", "invitation accepted"),
        "totp_enrolled" => ("tweede stap ingesteld", "second step set up"),
        "totp_reset" => ("tweede stap van een collega gewist", "a colleague's second step erased"),
        "group_member_added" | "group_member_added_cli" => ("lid aan groep toegevoegd", "group member added"),
        "group_member_removed" | "group_member_removed_cli" => ("lid uit groep gehaald", "group member removed"),
        "organisation_settings_changed" => ("instellingen gewijzigd", "settings changed"),
        "organisation_settings_not_saved" => (
            "instellingen niet opgeslagen (gewijzigd door een ander of opslag mislukt)",
            "settings not saved (changed by someone else, or storage failed)",
        ),
        "coordinator_added_cli" => (
            "coördinator toegevoegd (opdrachtregel)",
            "coordinator added (command line)",
        ),
        "coordinator_removed_cli" => (
            "coördinator verwijderd (opdrachtregel)",
            "coordinator removed (command line)",
        ),
        other => (other, other),
    };
    if nl { n } else { e }.to_string()
}

/// `GET /beheer/logboek`: the audit trail, newest first.
pub async fn audit_trail(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let items = state
        .store
        .audit_events(&me.row.id, 500)
        .await
        .or_500(lang)?
        .into_iter()
        .map(|a| AuditItem {
            when: format_time(a.at),
            who: a.display_name.unwrap_or_else(|| lang.staff().audit_operator.into()),
            href: a
                .report_id
                .as_deref()
                .filter(|_| a.action != "report_destroyed")
                .map(|id| lang.href(&paths::admin_report(id))),
            action: action_label(&a.action, lang),
            reference: a.report_id.as_deref().map(casefile::reference).unwrap_or_default(),
            detail: a.detail.unwrap_or_default(),
        })
        .collect();
    let page = Page::new(&state, lang, paths::AUDIT);
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            page,
            csrf: me.session.token.csrf(),
            items,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_moves_forward_and_reopens_only_from_the_end() {
        use Status::*;
        assert_eq!(transition(Nieuw, InBehandeling), Some(Transition::Forward));
        assert_eq!(transition(InBehandeling, Afgerond), Some(Transition::Forward));
        assert_eq!(transition(InOnderzoek, InBehandeling), None);
        assert_eq!(transition(Afgerond, InBehandeling), Some(Transition::Reopen));
        assert_eq!(transition(Gesloten, InOnderzoek), Some(Transition::Reopen));
        assert_eq!(transition(Gesloten, Nieuw), None);
        assert_eq!(transition(Afgerond, Afgerond), None);
    }
}
