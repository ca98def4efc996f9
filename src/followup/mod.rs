//! Follow-up with the meldcode (`/opvolgen`): checking a typed code (its check symbol before
//! any lookup), opening the report key with Argon2id over the secret, the reporter's short
//! session, the thread and replies. Unknown and wrong codes cost the same and look the same.
//! Never stores or logs the meldcode.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use zeroize::Zeroizing;

use crate::casefile::{self, message_context, MessageView, ReplyState, ReportView};
use crate::crypto::envelope::{Context, Purpose, Role};
use crate::crypto::kdf::random_salt;
use crate::crypto::keys::{self, Argon2Header};
use crate::crypto::{Key32, ReportKey};
use crate::http::form::{read_body, BodyError, Form};
use crate::http::session::{self, SessionKind};
use crate::http::{message_page, paths, query_lang, redirect, render, OrAppError, Page, PageResult, State};
use crate::i18n::Lang;
use crate::ids;
use crate::intake::{body_limit, check_text, FieldErrors};
use crate::meldcode::{CodeError, Meldcode};
use crate::storage::NewMessage;

#[derive(Template)]
#[template(path = "followup_code.html")]
struct CodePage {
    page: Page,
    code: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "followup_thread.html")]
struct ThreadPage {
    page: Page,
    report: ReportView,
    messages: Vec<MessageView>,
    csrf: String,
    reply: String,
    errors: FieldErrors,
    notice: Option<String>,
}

impl ThreadPage {
    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }
}

fn code_page(state: &State, lang: Lang, status: StatusCode, code: String, error: Option<&str>) -> HttpResponse {
    let page = Page::new(state, lang, paths::FOLLOW_UP);
    render(
        status,
        &CodePage {
            page,
            code,
            error: error.map(str::to_string),
        },
    )
}

/// The reporter's open report: the session's sealed report key, checked against the commitment.
async fn open_session(
    state: &State,
    req: &HttpRequest,
    lang: Lang,
) -> Result<Option<(session::ActiveSession, ReportKey, crate::storage::ReportRow)>, crate::http::AppError> {
    let Some(active) = session::current(state, req, SessionKind::Reporter).await.or_500(lang)? else {
        return Ok(None);
    };
    let Some(row) = state.store.report(&active.subject_id).await.or_500(lang)? else {
        return Ok(None);
    };
    let (Some(rid), Ok(key)) = (ids::parse(&row.id), Key32::from_slice(&active.secret)) else {
        return Ok(None);
    };
    let key = ReportKey::from_key(key);
    if key.check_commitment(rid, &row.key_commitment).is_err() {
        return Ok(None);
    }
    Ok(Some((active, key, row)))
}

async fn thread_page(
    state: &State,
    lang: Lang,
    opened: (session::ActiveSession, ReportKey, crate::storage::ReportRow),
    shown: ReplyState,
) -> PageResult {
    let (active, key, row) = opened;
    let (report, messages) = casefile::open(&state.store, row, &key, lang, Role::Reporter)
        .await
        .or_500(lang)?;
    let page = Page::new(state, lang, paths::FOLLOW_UP);
    Ok(render(
        shown.status,
        &ThreadPage {
            page,
            report,
            messages,
            csrf: active.token.csrf(),
            reply: shown.reply,
            errors: shown.errors,
            notice: shown.notice,
        },
    ))
}

pub async fn show(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    match open_session(&state, &req, lang).await? {
        Some(opened) => {
            let notice = req
                .query_string()
                .contains("sent=1")
                .then(|| lang.t().reply_sent.to_string());
            thread_page(&state, lang, opened, ReplyState::shown(notice)).await
        }
        None => Ok(code_page(&state, lang, StatusCode::OK, String::new(), None)),
    }
}

/// `POST /opvolgen`: a typed meldcode.
pub async fn enter_code(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let mut lang = query_lang(&req);
    let body = match read_body(payload, 4096).await {
        Ok(b) => b,
        Err(_) => {
            return Ok(code_page(
                &state,
                lang,
                StatusCode::PAYLOAD_TOO_LARGE,
                String::new(),
                Some(lang.t().err_code_malformed),
            ))
        }
    };
    let form = Form::parse(&body);
    if form.get("lang").is_some() {
        lang = Lang::from_code(form.get("lang"));
    }
    let t = lang.t();
    let typed = form.text("code");
    let code = match Meldcode::parse(&typed) {
        Ok(c) => c,
        Err(CodeError::Malformed) => {
            return Ok(code_page(
                &state,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                Some(t.err_code_malformed),
            ))
        }
        Err(CodeError::Mistyped) => {
            return Ok(code_page(
                &state,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                Some(t.err_code_mistyped),
            ))
        }
    };
    let locator = code.locator_hash();
    let now = state.clock.now();
    if !state.code_throttle.allows(&locator, now) {
        return Ok(code_page(
            &state,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            String::new(),
            Some(t.err_busy),
        ));
    }
    let found = state.store.report_by_locator(&locator).await.or_500(lang)?;
    let key = match found {
        Some((id, commitment, wrapped)) => try_open(&state, &code, &id, &commitment, &wrapped)
            .await
            .map(|k| (id, k)),
        None => {
            // The same Argon2id cost as a real attempt, so timing does not tell whether the
            // locator exists.
            let _ = state
                .kdf
                .derive(code.secret_bytes(), random_salt(), state.kdf.params)
                .await;
            None
        }
    };
    let Some((report_id, key)) = key else {
        state.code_throttle.failed(&locator, now);
        return Ok(code_page(
            &state,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            Some(t.err_code_unknown),
        ));
    };
    let secret = Zeroizing::new(key.key().as_bytes().to_vec());
    let (cookie, _) = session::start(&state, SessionKind::Reporter, &report_id, &secret)
        .await
        .or_500(lang)?;
    let mut res = redirect(&lang.href(paths::FOLLOW_UP));
    res.add_cookie(&cookie).or_500(lang)?;
    Ok(res)
}

async fn try_open(state: &State, code: &Meldcode, id: &str, commitment: &[u8], wrapped: &[u8]) -> Option<ReportKey> {
    let rid = ids::parse(id)?;
    let header = Argon2Header::parse(wrapped).ok()?;
    let kek = state
        .kdf
        .derive(code.secret_bytes(), header.salt, header.params)
        .await
        .ok()?;
    let ctx = Context::new(Purpose::WrapCode).report(rid).role(Role::Reporter);
    let raw = keys::open_under_derived(&kek, &ctx, wrapped).ok()?;
    let key = ReportKey::from_key(Key32::from_slice(&raw).ok()?);
    key.check_commitment(rid, commitment).ok()?;
    Some(key)
}

/// `POST /opvolgen/bericht`: the reporter's answer or addition.
pub async fn reply(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let mut lang = query_lang(&req);
    let limit = state.settings.limits.field_chars;
    let body = match read_body(payload, body_limit(limit, 1)).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return Ok(message_page(
                &state,
                lang,
                StatusCode::PAYLOAD_TOO_LARGE,
                lang.t().err_too_large_title,
                lang.t().err_too_large,
            ))
        }
        Err(BodyError::Broken) => return Ok(HttpResponse::BadRequest().finish()),
    };
    let form = Form::parse(&body);
    if form.get("lang").is_some() {
        lang = Lang::from_code(form.get("lang"));
    }
    let t = lang.t();
    let Some(opened) = open_session(&state, &req, lang).await? else {
        return Ok(code_page(
            &state,
            lang,
            StatusCode::UNAUTHORIZED,
            String::new(),
            Some(t.session_ended),
        ));
    };
    if !opened.0.token.csrf_matches(form.get("csrf")) {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            t.forbidden_title,
            t.forbidden_text,
        ));
    }
    let text = form.text("message");
    let mut errors = FieldErrors::new();
    if !form.invalid.is_empty() {
        errors.push(("message", t.err_encoding.to_string()));
    }
    check_text(&mut errors, "message", &text, limit, Some(t.err_reply_empty), t);
    if !errors.is_empty() {
        return thread_page(&state, lang, opened, ReplyState::refused(text, errors)).await;
    }
    let (_, key, row) = &opened;
    let m = seal_message(&state, key, &row.id, Role::Reporter, None, "message", &text).or_500(lang)?;
    let tell = state.store.coordinators_with_access(&row.id).await.or_500(lang)?;
    let notices = crate::notify::notices(&state, tell, crate::notify::Event::ReporterReply);
    state.store.insert_message(&m, &notices).await.or_500(lang)?;
    Ok(redirect(&lang.href(&format!("{}?sent=1", paths::FOLLOW_UP))))
}

/// Seals one message of the thread, ready to store.
pub fn seal_message(
    state: &State,
    key: &ReportKey,
    report_id: &str,
    role: Role,
    author_id: Option<String>,
    kind: &str,
    text: &str,
) -> anyhow::Result<NewMessage> {
    let rid = ids::parse(report_id).ok_or_else(|| anyhow::anyhow!("malformed report id"))?;
    let (id, mid) = ids::new_id();
    let m = NewMessage {
        id,
        report_id: report_id.to_string(),
        author_role: casefile::role_str(role),
        author_id,
        kind: kind.to_string(),
        created_on: state.clock.today_string(),
        sealed: key.seal(&message_context(rid, mid, role), text.as_bytes()),
    };
    Ok(m)
}

/// `POST /opvolgen/sluiten`: forget the open report in this browser.
pub async fn close(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    if let Some(active) = session::current(&state, &req, SessionKind::Reporter)
        .await
        .or_500(lang)?
    {
        session::end(&state, &active).await.or_500(lang)?;
    }
    let mut res = redirect(&lang.href(paths::FOLLOW_UP));
    res.add_removal_cookie(&session::removal_cookie(
        SessionKind::Reporter,
        state.settings.http.secure_cookies,
    ))
    .or_500(lang)?;
    Ok(res)
}
