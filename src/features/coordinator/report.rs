//! One report's page for a coordinator who holds its key: the report, the thread, notes,
//! acknowledging receipt, replying with files, and downloads. Without a wrap: 404.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{access, register, triage};
use super::{current, lang_of, read_form, to_login, Coordinator};
use crate::crypto::envelope::Role;
use crate::crypto::ReportKey;
use crate::domain::deadlines;
use crate::domain::keyring;
use crate::domain::report::{Category, ChainLabel, Status};
use crate::domain::thread::seal_message;
use crate::features::casefile::{self, MessageView, ReplyState, ReportView};
use crate::features::evidence::upload::{self, Limits, Problem, Target};
use crate::http::form::Form;
use crate::http::form::{body_limit, check_text, FieldErrors, Opt};
use crate::http::{
    forbidden, not_found_page, paths, query_lang, redirect, render, too_large, AppError, OrAppError, Page, PageResult,
    State,
};
use crate::i18n::Lang;
use crate::storage::ReportRow;

#[derive(Template)]
#[template(path = "admin_report.html")]
pub(crate) struct ReportPage {
    page: Page,
    staff: bool,
    report: ReportView,
    messages: Vec<MessageView>,
    notes: Vec<MessageView>,
    csrf: String,
    action_base: String,
    reply: String,
    errors: FieldErrors,
    notice: Option<String>,
    statuses: Vec<Opt>,
    labels: Vec<Opt>,
    categories: Vec<Opt>,
    print: bool,
    /// (id, name, is me) with access; (id, name) active without.
    access: Vec<(String, String, bool)>,
    grantable: Vec<(String, String)>,
    ff: crate::features::evidence::FilesField,
    retention: Option<register::RetentionView>,
    /// Whether granting asks for a fresh second-factor code (the viewer has one).
    ask_code: bool,
}

impl ReportPage {
    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }
    /// Where the error summary at the top links for each refused field.
    fn field_id(&self, name: &str) -> &'static str {
        match name {
            "message" => "message",
            "files" => "files",
            "note" => "note",
            "status" => "status-reason",
            "retention" if self.retention.is_some() => "retention-reason",
            "retention" => "retention-error",
            "label" => "label-reason",
            "category" => "category-reason",
            "access" if self.ask_code => "grant-code",
            _ => "access-h",
        }
    }
}

/// The report key (with its staff key), if this coordinator holds a wrap for the report
/// ([`keyring::unlock`], which also gives an older report its staff key).
pub(crate) async fn unlock_report(
    state: &State,
    me: &Coordinator,
    id: &str,
    lang: Lang,
) -> Result<Option<(ReportKey, ReportRow)>, AppError> {
    let verified = keyring::verify_installation(&state.store, &state.settings)
        .await
        .or_500(lang)?;
    keyring::unlock(&state.store, &verified, &me.secret, &me.row.id, id)
        .await
        .or_500(lang)
}

pub(crate) async fn report_page(
    state: &State,
    lang: Lang,
    me: &Coordinator,
    key: ReportKey,
    row: ReportRow,
    shown: ReplyState,
) -> PageResult {
    render_report(state, lang, me, key, row, shown, false).await
}

pub(crate) async fn render_report(
    state: &State,
    lang: Lang,
    me: &Coordinator,
    key: ReportKey,
    row: ReportRow,
    shown: ReplyState,
    print: bool,
) -> PageResult {
    let id = row.id.clone();
    let retention = register::retention_view(state, lang, row.closed_on.as_deref(), row.keep_until.as_deref());
    let excluded = casefile::excluded(&state.store, &row.id, &key).await.or_500(lang)?;
    let (access, grantable) = access::access_lists(state, &row.id, me, &excluded).await.or_500(lang)?;
    let opened = casefile::open(&state.store, row, &key, lang, Role::Coordinator, state.clock.today())
        .await
        .or_500(lang)?;
    let path = paths::admin_report(&id);
    let page = Page::new(state, lang, &path);
    let current = Status::parse(&opened.report.status_code);
    let statuses = Status::ALL
        .iter()
        .filter(|&&s| current.is_some_and(|c| triage::transition(c, s).is_some()) || Some(s) == current)
        .map(|&s| Opt {
            code: s.code(),
            label: s.label(lang),
            selected: Some(s) == current,
        })
        .collect();
    let labels = ChainLabel::ALL
        .iter()
        .map(|&c| Opt {
            code: c.code(),
            label: c.label(lang),
            selected: c.code() == opened.report.chain_code,
        })
        .collect();
    let categories = Category::ALL
        .iter()
        .map(|&c| Opt {
            code: c.code(),
            label: c.label(lang),
            selected: c.code() == opened.report.category_code,
        })
        .collect();
    let ff = shown.files_field(lang, &state.settings.limits).for_staff(lang);
    Ok(render(
        shown.status,
        &ReportPage {
            ff,
            page,
            staff: true,
            report: opened.report,
            messages: opened.messages,
            notes: opened.notes,
            csrf: me.session.token.csrf(),
            action_base: path,
            reply: shown.reply,
            errors: shown.errors,
            notice: shown.notice,
            statuses,
            labels,
            categories,
            print,
            access,
            grantable,
            retention,
            ask_code: me.row.totp_sealed.is_some(),
        },
    ))
}

pub async fn show_report(state: State, req: HttpRequest, id: web::Path<String>) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let Some((key, row)) = unlock_report(&state, &me, &id, lang).await? else {
        return no_access(&state, &me, lang).await;
    };
    let now = state.clock.now();
    state
        .store
        .audit(now, Some(&me.row.id), "report_opened", Some(&row.id))
        .await
        .or_500(lang)?;
    state.store.mark_read(&row.id).await.or_500(lang)?;
    let s = lang.staff();
    let notice = match req.query_string() {
        q if q.contains("done=ack") => Some(s.acknowledged_done.to_string()),
        q if q.contains("done=sent") => Some(s.message_sent.to_string()),
        q if q.contains("done=changed") => Some(s.changed_notice.to_string()),
        q if q.contains("done=granted") => Some(s.granted_notice.to_string()),
        q if q.contains("done=revoked") => Some(s.revoked_notice.to_string()),
        q if q.contains("done=kept") => Some(s.retention_done.to_string()),
        _ => None,
    };
    report_page(&state, lang, &me, key, row, ReplyState::shown(notice)).await
}

/// A report this coordinator cannot open (they hold no key to it, or it does not exist:
/// the page is the same, so it tells nobody which): that it may exist, and which
/// colleagues of their own groups can give access. Names no holder of any report.
async fn no_access(state: &State, me: &super::Coordinator, lang: Lang) -> PageResult {
    let s = lang.staff();
    let members = state.store.group_members().await.or_500(lang)?;
    let mine: Vec<&str> = members
        .iter()
        .filter(|m| m.coordinator_id == me.row.id)
        .map(|m| m.group_name.as_str())
        .collect();
    let mut colleagues: Vec<String> = members
        .iter()
        .filter(|m| mine.contains(&m.group_name.as_str()) && m.coordinator_id != me.row.id && m.status == "active")
        .map(|m| m.display_name.clone())
        .collect();
    colleagues.sort();
    colleagues.dedup();
    let mut paragraphs = vec![s.no_access_text.to_string()];
    paragraphs.push(if colleagues.is_empty() {
        s.no_access_nobody.to_string()
    } else {
        s.no_access_ask.replace("{names}", &colleagues.join(", "))
    });
    Ok(render(
        StatusCode::NOT_FOUND,
        &crate::http::MessagePage {
            page: Page::new(state, lang, paths::ADMIN),
            title: s.no_access_title.into(),
            paragraphs,
            links: vec![(lang.href(paths::ADMIN), s.back_to_inbox.to_string())],
        },
    ))
}

/// Shared start of every post on a report: session, CSRF and access.
pub(crate) async fn report_post(
    state: &State,
    req: &HttpRequest,
    id: &str,
    payload: web::Payload,
    limit: usize,
) -> Result<Result<(Lang, Form, Coordinator, ReportKey, ReportRow), HttpResponse>, AppError> {
    let form = match read_form(payload, limit).await {
        Ok(f) => f,
        Err(_) => {
            let lang = query_lang(req);
            return Ok(Err(too_large(state, lang)));
        }
    };
    let lang = lang_of(req, &form);
    let Some(me) = current(state, req, lang).await? else {
        return Ok(Err(to_login(lang)));
    };
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(Err(forbidden(state, lang)));
    }
    let Some((key, row)) = unlock_report(state, &me, id, lang).await? else {
        return Ok(Err(not_found_page(state, lang)));
    };
    Ok(Ok((lang, form, me, key, row)))
}

pub async fn acknowledge(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let (lang, _form, me, key, row) = match report_post(&state, &req, &id, payload, 4096).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    let m = seal_message(
        &state.clock,
        &key,
        &row.id,
        Role::System,
        Some(me.row.id.clone()),
        "ack",
        "",
    )
    .or_500(lang)?;
    let today = state.clock.today_string();
    let next_due = deadlines::next_due_string(&row.received_on, Some(&today), row.feedback_on.as_deref(), &row.status);
    if state.store.acknowledge(&m, &next_due).await.or_500(lang)? {
        state
            .store
            .audit(
                state.clock.now(),
                Some(&me.row.id),
                "receipt_acknowledged",
                Some(&row.id),
            )
            .await
            .or_500(lang)?;
    }
    Ok(redirect(
        &lang.href(&format!("{}?done=ack", paths::admin_report(&row.id))),
    ))
}

pub async fn reply(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let limit = state.settings.limits.field_chars;
    let mut lang = query_lang(&req);
    // The session and the report key come first: files are sealed as they arrive. Without
    // them the upload is read and dropped (bounded), so the browser gets the answer rather
    // than a connection reset mid-upload.
    let Some(me) = current(&state, &req, lang).await? else {
        upload::read(
            &state,
            &req,
            payload,
            None,
            &Limits::new(&state, 0, body_limit(limit, 1)),
        )
        .await;
        return Ok(to_login(lang));
    };
    let Some((key, row)) = unlock_report(&state, &me, &id, lang).await? else {
        upload::read(
            &state,
            &req,
            payload,
            None,
            &Limits::new(&state, 0, body_limit(limit, 1)),
        )
        .await;
        return Ok(not_found_page(&state, lang));
    };
    let stored = state.store.report_file_chunks(&row.id).await.or_500(lang)?;
    let target = Target {
        key: &key,
        report_id: &row.id,
        role: Role::Coordinator,
    };
    let limits = Limits::new(&state, stored, body_limit(limit, 1));
    let mut up = upload::read(&state, &req, payload, Some(target), &limits).await;
    lang = lang_of(&req, &up.form);
    let t = lang.t();
    if !me.session.token.csrf_matches(up.form.get("csrf")) {
        up.discard(&state.store).await;
        return Ok(forbidden(&state, lang));
    }
    let text = up.form.text("message");
    let had_files = !up.files.is_empty();
    let mut errors = FieldErrors::new();
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    match up.problem.clone() {
        Some(Problem::TextTooLarge) => return Ok(too_large(&state, lang)),
        Some(p) => {
            if p.is_too_large() {
                status = StatusCode::PAYLOAD_TOO_LARGE;
            }
            errors.push((
                "files",
                crate::features::evidence::problem_text(&p, &state.settings.limits, lang),
            ));
        }
        None => {
            if !up.form.invalid.is_empty() {
                errors.push(("message", t.err_encoding.to_string()));
            }
            let required = (!had_files).then_some(t.err_reply_empty);
            check_text(&mut errors, "message", &text, limit, required, t);
        }
    }
    if !errors.is_empty() {
        let again = (!up.chosen.is_empty() || up.problem.is_some()).then(|| {
            crate::features::evidence::choose_again(crate::features::evidence::texts(lang).choose_again, &up.chosen)
        });
        up.discard(&state.store).await;
        let shown = ReplyState::refused_with_files(status, text, errors, again);
        return report_page(&state, lang, &me, key, row, shown).await;
    }
    let form = &up.form;
    let m = seal_message(
        &state.clock,
        &key,
        &row.id,
        Role::Coordinator,
        Some(me.row.id.clone()),
        "message",
        &text,
    )
    .or_500(lang)?;
    if let Err(e) = state.store.insert_message_with_files(&m, &[], &up.ids()).await {
        up.discard(&state.store).await;
        return Err(e).or_500(lang);
    }
    let feedback = form.get("feedback") == Some("1");
    up.committed();
    if feedback {
        state
            .store
            .record_feedback(
                &row.id,
                &state.clock.today_string(),
                &deadlines::next_due_string(
                    &row.received_on,
                    row.acknowledged_on.as_deref(),
                    Some(&state.clock.today_string()),
                    &row.status,
                ),
            )
            .await
            .or_500(lang)?;
        state
            .store
            .audit(state.clock.now(), Some(&me.row.id), "feedback_given", Some(&row.id))
            .await
            .or_500(lang)?;
    }
    state
        .store
        .audit(state.clock.now(), Some(&me.row.id), "message_sent", Some(&row.id))
        .await
        .or_500(lang)?;
    Ok(redirect(
        &lang.href(&format!("{}?done=sent", paths::admin_report(&row.id))),
    ))
}

/// `GET /beheer/melding/{id}/bestanden/{file}`: a file of a report this coordinator may read.
pub async fn download(state: State, req: HttpRequest, path: web::Path<(String, String)>) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let (id, file) = path.into_inner();
    let Some((key, row)) = unlock_report(&state, &me, &id, lang).await? else {
        return Ok(not_found_page(&state, lang));
    };
    let Some(res) = crate::features::evidence::download(&state.store, &key, &row.id, &file)
        .await
        .or_500(lang)?
    else {
        return Ok(not_found_page(&state, lang));
    };
    state
        .store
        .audit(state.clock.now(), Some(&me.row.id), "file_downloaded", Some(&row.id))
        .await
        .or_500(lang)?;
    Ok(res)
}
