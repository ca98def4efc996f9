//! The register of reports and retention on the coordinator side: the register page and its
//! CSV (dates, chain link, category, outcome; what outlives a report's content), what will
//! be destroyed in the next 30 days, and extending a closed report's retention with a reason.

use std::fmt::Write;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::report::report_post;
use super::{current, to_login};
use crate::crypto::envelope::Role;
use crate::domain::report::{Category, ChainLabel, Status};
use crate::domain::thread::seal_message;
use crate::features::casefile::{self, ReplyState};
use crate::features::retention;
use crate::http::form::{body_limit, check_text, FieldErrors};
use crate::http::{paths, query_lang, redirect, render, OrAppError, Page, PageResult, State};
use crate::i18n::{fmt_date, Lang};
use crate::storage::RegisterRow;

/// Register rows per page.
const PAGE_ROWS: i64 = 200;

/// One register line as shown.
pub struct RegisterLine {
    /// The report page, for a report the viewer holds.
    pub href: String,
    pub reference: String,
    pub received_on: String,
    pub acknowledged_on: String,
    pub feedback_on: String,
    pub closed_on: String,
    pub chain: String,
    pub category: String,
    pub outcome: String,
    /// "destroyed on …", "kept until …" or "kept".
    pub content: String,
    pub destroyed: bool,
}

fn line(r: &RegisterRow, lang: Lang, keep_days: i64) -> RegisterLine {
    let s = lang.staff();
    let date = |d: &Option<String>| d.as_deref().map(|d| fmt_date(lang, d)).unwrap_or_default();
    let content = match (&r.destroyed_on, &r.closed_on) {
        (Some(d), _) => s.register_destroyed.replace("{date}", &fmt_date(lang, d)),
        (None, Some(c)) => match retention::destruction_day(c, r.keep_until.as_deref(), keep_days) {
            Some(d) => s.register_kept.replace("{date}", &fmt_date(lang, &d.to_string())),
            None => s.register_held.to_string(),
        },
        (None, None) => s.register_held.to_string(),
    };
    RegisterLine {
        href: lang.href(&paths::admin_report(&r.id)),
        reference: casefile::reference(&r.id),
        received_on: fmt_date(lang, &r.received_on),
        acknowledged_on: date(&r.acknowledged_on),
        feedback_on: date(&r.feedback_on),
        closed_on: date(&r.closed_on),
        chain: ChainLabel::label_of(&r.chain_label, lang),
        category: Category::label_of(&r.category, lang),
        outcome: Status::label_of(&r.status, lang),
        content,
        destroyed: r.destroyed_on.is_some(),
    }
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    page: Page,
    csrf: String,
    /// (reference, link, day it is destroyed)
    upcoming: Vec<(String, String, String)>,
    lines: Vec<RegisterLine>,
    next_page: Option<String>,
}

/// `GET /beheer/register`
pub async fn show(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let keep_days = state.settings.retention.keep_days_after_closing;
    let page_no: i64 = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("pagina").and_then(|p| p.parse().ok()))
        .filter(|p| (0..1_000_000).contains(p))
        .unwrap_or(0);
    let upcoming = retention::upcoming(&state.store, &state.settings.retention, state.clock.today(), &me.row.id)
        .await
        .or_500(lang)?
        .into_iter()
        .map(|(r, day)| {
            (
                casefile::reference(&r.id),
                lang.href(&paths::admin_report(&r.id)),
                fmt_date(lang, &day.to_string()),
            )
        })
        .collect();
    let rows = state
        .store
        .register_rows(&me.row.id, PAGE_ROWS + 1, page_no * PAGE_ROWS)
        .await
        .or_500(lang)?;
    let more = rows.len() as i64 > PAGE_ROWS;
    let lines = rows
        .iter()
        .take(PAGE_ROWS as usize)
        .map(|r| line(r, lang, keep_days))
        .collect();
    let next_page = more.then(|| lang.href(&format!("{}?pagina={}", paths::REGISTER, page_no + 1)));
    Ok(render(
        StatusCode::OK,
        &RegisterPage {
            page: Page::new(&state, lang, paths::REGISTER),
            csrf: me.session.token.csrf(),
            upcoming,
            lines,
            next_page,
        },
    ))
}

/// Quotes a CSV field when it needs it (RFC 4180). The values are dates and codes, but a
/// label could one day hold a comma.
fn field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

pub fn csv(rows: &[RegisterRow], keep_days: i64) -> String {
    let mut out = String::from(
        "reference,id,received_on,acknowledged_on,feedback_on,closed_on,chain_label,category,outcome,origin,content_destroyed_on,content_kept_until\n",
    );
    for r in rows {
        let kept_until = match (&r.destroyed_on, &r.closed_on) {
            (None, Some(c)) => retention::destruction_day(c, r.keep_until.as_deref(), keep_days)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let cells = [
            casefile::reference(&r.id),
            r.id.clone(),
            r.received_on.clone(),
            r.acknowledged_on.clone().unwrap_or_default(),
            r.feedback_on.clone().unwrap_or_default(),
            r.closed_on.clone().unwrap_or_default(),
            r.chain_label.clone(),
            r.category.clone(),
            r.status.clone(),
            r.origin.clone(),
            r.destroyed_on.clone().unwrap_or_default(),
            kept_until,
        ];
        let _ = writeln!(out, "{}", cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
    }
    out
}

/// `GET /beheer/register.csv`: the whole register as the viewer may see it; audited.
pub async fn download(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let rows = state.store.register_rows(&me.row.id, i64::MAX, 0).await.or_500(lang)?;
    let body = csv(&rows, state.settings.retention.keep_days_after_closing);
    super::overview::audited_csv(&state, lang, &me, ("register_exported", "meldpunt-register.csv"), body).await
}

/// What the report page shows about retention, for a closed report.
pub struct RetentionView {
    pub text: String,
    pub extended: Option<String>,
    pub button: String,
}

pub fn retention_view(
    state: &State,
    lang: Lang,
    closed_on: Option<&str>,
    keep_until: Option<&str>,
) -> Option<RetentionView> {
    let staff = lang.staff();
    let s = &state.settings.retention;
    let day = retention::destruction_day(closed_on?, keep_until, s.keep_days_after_closing)?;
    Some(RetentionView {
        text: staff
            .retention_until
            .replace("{date}", &fmt_date(lang, &day.to_string())),
        extended: keep_until
            .filter(|k| *k == day.to_string())
            .map(|k| staff.retention_extended_by.replace("{date}", &fmt_date(lang, k))),
        button: staff.retention_button.replace("{days}", &s.extend_days.to_string()),
    })
}

/// `POST /beheer/melding/{id}/bewaren`: keep a closed report `retention.extend_days` longer,
/// with a reason (sealed like other triage reasons) and an audit row naming the new day.
pub async fn extend(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let limit = state.settings.limits.field_chars;
    let (lang, form, me, key, row) = match report_post(&state, &req, &id, payload, body_limit(limit, 1)).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    let t = lang.t();
    let staff = lang.staff();
    let reason = form.text("reason");
    let s = &state.settings.retention;
    let today = state.clock.today();
    let until = row
        .closed_on
        .as_deref()
        .and_then(|c| retention::destruction_day(c, row.keep_until.as_deref(), s.keep_days_after_closing))
        .and_then(|current| retention::extended_until(current, today, s.extend_days));
    let Some(until) = until else {
        let shown = ReplyState::refused(reason, vec![("retention", staff.err_retention.to_string())]);
        return super::report::report_page(&state, lang, &me, key, row, shown).await;
    };
    let mut errors = FieldErrors::new();
    check_text(&mut errors, "retention", &reason, limit, Some(staff.err_reason), t);
    if let Some((_, msg)) = errors.first() {
        let shown = ReplyState::refused(reason, vec![("retention", msg.clone())]);
        return super::report::report_page(&state, lang, &me, key, row, shown).await;
    }
    let text = format!(
        "{}: {}. {}: {}",
        staff.retention_heading,
        staff.retention_extended_by.replace("{date}", &fmt_date(lang, &until)),
        staff.reason_label,
        reason.trim()
    );
    let note = seal_message(
        &state.clock,
        &key,
        &row.id,
        Role::Coordinator,
        Some(me.row.id.clone()),
        crate::domain::thread::NOTE,
        &text,
    )
    .or_500(lang)?;
    if !state
        .store
        .extend_retention(&row.id, &until, &note, (state.clock.now(), &me.row.id))
        .await
        .or_500(lang)?
    {
        let shown = ReplyState::refused(reason, vec![("retention", staff.err_retention.to_string())]);
        return super::report::report_page(&state, lang, &me, key, row, shown).await;
    }
    Ok(redirect(
        &lang.href(&format!("{}?done=kept", paths::admin_report(&row.id))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_has_one_line_per_report_and_quotes_what_needs_it() {
        let r = RegisterRow {
            id: "0123456789abcdef0123456789abcdef".into(),
            received_on: "2026-01-05".into(),
            acknowledged_on: Some("2026-01-06".into()),
            feedback_on: None,
            closed_on: Some("2026-02-01".into()),
            keep_until: None,
            destroyed_on: None,
            status: "gesloten".into(),
            chain_label: "repressie".into(),
            category: "fraude".into(),
            origin: "written".into(),
        };
        let out = csv(&[r], 730);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].ends_with(",2026-02-01,repressie,fraude,gesloten,written,,2028-02-01"),
            "{out}"
        );
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
