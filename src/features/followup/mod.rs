//! Follow-up with the meldcode (`/opvolgen`): checking a typed code (its check symbol before
//! any lookup), opening the report key with Argon2id over the secret, the reporter's short
//! session, the thread and replies. Unknown and wrong codes cost the same and look the same.
//! Never stores or logs the meldcode.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use zeroize::Zeroizing;

use crate::crypto::envelope::Role;
use crate::crypto::kdf::{random_salt, Lane};
use crate::crypto::keys::Argon2Header;
use crate::crypto::{CryptoError, Key32, ReportKey};
use crate::domain::keyring;
use crate::domain::meldcode::{CodeError, Meldcode};
use crate::domain::thread::seal_message;
use crate::features::casefile::{self, MessageView, ReplyState, ReportView};
use crate::features::evidence::upload::{self, Limits, Problem, Target};
use crate::features::evidence::{choose_again, duplicate_notes, problem_text};
use crate::http::body::{read_body, BodyError};
use crate::http::form::Form;
use crate::http::form::{body_limit, check_text, FieldErrors};
use crate::http::session::{self, SessionKind};
use crate::http::{
    forbidden, message_page, paths, query_lang, redirect, render, too_large, OrAppError, Page, PageResult, State,
};
use crate::i18n::Lang;
use crate::ids;
use crate::pow::Purpose;

#[derive(Template)]
#[template(path = "followup_code.html")]
struct CodePage {
    page: Page,
    code: String,
    error: Option<String>,
    /// A reply that could not be sent because the session had ended, kept for the reporter.
    pending: String,
    /// A fresh proof-of-work challenge for the priority lane ([`crate::pow`]).
    pow: String,
}

#[derive(Template)]
#[template(path = "followup_thread.html")]
struct ThreadPage {
    page: Page,
    staff: bool,
    report: ReportView,
    messages: Vec<MessageView>,
    csrf: String,
    reply: String,
    errors: FieldErrors,
    notice: Option<String>,
    ff: crate::features::evidence::FilesField,
    ff_t: &'static crate::features::evidence::FileTexts,
}

impl ThreadPage {
    fn has_files(&self) -> bool {
        !self.report.files.is_empty() || self.messages.iter().any(|m| !m.files.is_empty())
    }

    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }
}

fn code_page(state: &State, lang: Lang, status: StatusCode, code: String, error: Option<&str>) -> HttpResponse {
    code_page_keeping(state, lang, status, code, error, String::new())
}

fn code_page_keeping(
    state: &State,
    lang: Lang,
    status: StatusCode,
    code: String,
    error: Option<&str>,
    pending: String,
) -> HttpResponse {
    let page = Page::new(state, lang, paths::FOLLOW_UP);
    let pow = state.pow.challenge(Purpose::Code, state.clock.now());
    crate::http::allow_own_script(render(
        status,
        &CodePage {
            page,
            code,
            error: error.map(str::to_string),
            pending,
            pow,
        },
    ))
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
    let (Some(rid), Ok(key)) = (
        active.secret.get(..16),
        active
            .secret
            .get(16..)
            .map(Key32::from_slice)
            .unwrap_or(Err(CryptoError::Format)),
    ) else {
        return Ok(None);
    };
    let Ok(rid) = <[u8; 16]>::try_from(rid) else {
        return Ok(None);
    };
    let Some(row) = state.store.report(&hex::encode(rid)).await.or_500(lang)? else {
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
    key: &ReportKey,
    row: crate::storage::ReportRow,
    csrf: String,
    shown: ReplyState,
) -> PageResult {
    let casefile::Opened { report, messages, .. } =
        casefile::open(&state.store, row, key, lang, Role::Reporter, state.clock.today())
            .await
            .or_500(lang)?;
    let page = Page::new(state, lang, paths::FOLLOW_UP);
    let ff = shown.files_field(lang, &state.settings.limits);
    Ok(render(
        shown.status,
        &ThreadPage {
            ff,
            ff_t: crate::features::evidence::texts(lang),
            page,
            staff: false,
            report,
            messages,
            csrf,
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
            let (active, key, row) = opened;
            thread_page(&state, lang, &key, row, active.token.csrf(), ReplyState::shown(notice)).await
        }
        None => Ok(code_page(&state, lang, StatusCode::OK, String::new(), None)),
    }
}

/// `POST /opvolgen`: a typed meldcode (and perhaps a reply kept from an ended session).
pub async fn enter_code(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let mut lang = query_lang(&req);
    let limit = state.settings.limits.field_chars;
    let body = match read_body(payload, body_limit(limit, 1)).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Ok(too_large(&state, lang)),
        Err(BodyError::Broken | BodyError::BadPartHeader) => return Ok(broken_request(&state, lang)),
    };
    let form = Form::parse(&body);
    if form.get("lang").is_some() {
        lang = Lang::from_code(form.get("lang"));
    }
    let t = lang.t();
    let typed = form.text("code");
    let pending = form.text("message");
    let refuse =
        |status, code: String, error: &str| code_page_keeping(&state, lang, status, code, Some(error), pending.clone());
    let code = match Meldcode::parse(&typed) {
        Ok(c) => c,
        Err(CodeError::Malformed) => return Ok(refuse(StatusCode::UNPROCESSABLE_ENTITY, typed, t.err_code_malformed)),
        Err(CodeError::Mistyped) => return Ok(refuse(StatusCode::UNPROCESSABLE_ENTITY, typed, t.err_code_mistyped)),
    };
    let locator = code.locator_hash(&state.kdf);
    let now = state.clock.now();
    // A form whose script did the proof of work waits in the priority queue, ahead of a
    // flood of guesses without one; any other form (no JavaScript, a stale or reused proof)
    // in the ordinary queue, as before. Checked before the throttle: it costs two hashes.
    let lane = match (form.get("pow_challenge"), form.get("pow_nonce")) {
        (Some(challenge), Some(nonce)) if state.pow.verify(Purpose::Code, challenge, nonce, now) => Lane::CodeProven,
        _ => Lane::Code,
    };
    let Some(attempt) = state.code_throttle.admit(&locator, now) else {
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, String::new(), t.err_busy));
    };
    let found = state.store.report_by_locator(&locator).await.or_500(lang)?;
    let opened = match found {
        Some((id, commitment, wrapped)) => try_open(&state, lane, &code, &id, &commitment, &wrapped)
            .await
            .map(|k| k.map(|k| (id, k))),
        // The same Argon2id cost as a real attempt, so timing does not tell whether the
        // locator exists.
        None => match state
            .kdf
            .derive(lane, code.secret_bytes(), random_salt(), state.kdf.params)
            .await
        {
            Err(CryptoError::Busy) => Err(CryptoError::Busy),
            _ => Ok(None),
        },
    };
    let Ok(opened) = opened else {
        // Too busy to check: not a wrong guess, and the typed code stays to send again.
        attempt.not_checked();
        return Ok(crate::http::retry_later(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            typed.clone(),
            t.err_kdf_busy,
        )));
    };
    let Some((report_id, key)) = opened else {
        // A report destroyed after its retention period keeps its locator, so the reporter
        // learns it was closed and removed instead of doubting their code. (Checked after the
        // Argon2id work above, so the answer takes as long as any other.)
        if state.store.destroyed_by_locator(&locator).await.or_500(lang)? {
            return Ok(refuse(StatusCode::GONE, String::new(), t.err_code_removed));
        }
        return Ok(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            t.err_code_unknown,
        ));
    };
    attempt.succeeded();
    // The report id travels sealed with the key: the session row does not say which report
    // is being read (its times would otherwise date a reporter's visit to that report).
    let (Some(rid), Some(row)) = (
        ids::parse(&report_id),
        state.store.report(&report_id).await.or_500(lang)?,
    ) else {
        return Ok(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            t.err_code_unknown,
        ));
    };
    // An oral report's first code was seen by the coordinator who recorded it: its first use
    // gives the reporter a code of their own, and the first one stops working.
    let handed_over = if row.handover_pending != 0 {
        match hand_over(&state, lane, &report_id, &rid, &key, &locator).await {
            Ok(Some(code)) => Some(code),
            Ok(None) => {
                return Ok(refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    String::new(),
                    t.err_code_unknown,
                ))
            }
            Err(CryptoError::Busy) => {
                return Ok(crate::http::retry_later(refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    typed.clone(),
                    t.err_kdf_busy,
                )))
            }
            Err(e) => return Err(e).or_500(lang),
        }
    } else {
        None
    };
    let mut secret = Zeroizing::new(rid.to_vec());
    secret.extend_from_slice(key.key().as_bytes());
    let (cookie, csrf) = session::start(&state, SessionKind::Reporter, "", &secret)
        .await
        .or_500(lang)?;
    if let Some(code) = handed_over {
        let page = Page::new(&state, lang, paths::FOLLOW_UP).shown_once();
        let mut res = render(
            StatusCode::OK,
            &HandoverPage {
                page,
                code: code.display().to_string(),
            },
        );
        res.add_cookie(&cookie).or_500(lang)?;
        return Ok(res);
    }
    let mut res = if pending.trim().is_empty() {
        redirect(&lang.href(paths::FOLLOW_UP))
    } else {
        // Put the unsent reply back in the answer field, for the reporter to check and send.
        let shown = ReplyState {
            notice: Some(t.reply_restored.to_string()),
            ..ReplyState::refused(pending, vec![])
        };
        let shown = ReplyState {
            status: StatusCode::OK,
            ..shown
        };
        thread_page(&state, lang, &key, row, csrf, shown).await?
    };
    res.add_cookie(&cookie).or_500(lang)?;
    Ok(res)
}

fn broken_request(state: &State, lang: Lang) -> HttpResponse {
    message_page(
        state,
        lang,
        StatusCode::BAD_REQUEST,
        lang.t().error_title,
        lang.t().err_encoding,
    )
}

/// The report key under `code`: `Ok(None)` for a wrong code, `Err` only when too busy to
/// check ([`CryptoError::Busy`]).
#[derive(Template)]
#[template(path = "handover.html")]
struct HandoverPage {
    page: Page,
    code: String,
}

/// Gives an oral report a meldcode of the reporter's own: wraps the report key to a new code
/// and replaces the handover code's locator and wrap. `None` when the handover code was used
/// by someone else a moment before.
async fn hand_over(
    state: &State,
    lane: Lane,
    report_id: &str,
    rid: &[u8; 16],
    key: &ReportKey,
    old_locator: &[u8],
) -> Result<Option<Meldcode>, CryptoError> {
    let code = Meldcode::generate();
    let header = Argon2Header::new(state.kdf.params);
    let kek = state
        .kdf
        .derive(lane, code.secret_bytes(), header.salt, header.params)
        .await?;
    let wrap = keyring::wrap_to_code(&kek, &header, *rid, key);
    match state
        .store
        .hand_over(report_id, old_locator, &code.locator_hash(&state.kdf), &wrap)
        .await
    {
        Ok(true) => Ok(Some(code)),
        Ok(false) => Ok(None),
        Err(e) => {
            tracing::error!(error = %e, "could not hand an oral report over");
            Err(CryptoError::Format)
        }
    }
}

/// What a holder of a meldcode can open (the report key alone, never the staff key), without
/// the throttle or a session: for operator tools and for tests that play someone who has a
/// code and the database. `None` if the code is malformed or opens nothing.
pub async fn open_with_code(state: &crate::http::AppState, typed: &str) -> Option<(String, ReportKey)> {
    let code = Meldcode::parse(typed).ok()?;
    let locator = code.locator_hash(&state.kdf);
    let (id, commitment, wrapped) = state.store.report_by_locator(&locator).await.ok()??;
    let key = try_open(state, Lane::Code, &code, &id, &commitment, &wrapped)
        .await
        .ok()??;
    Some((id, key))
}

async fn try_open(
    state: &crate::http::AppState,
    lane: Lane,
    code: &Meldcode,
    id: &str,
    commitment: &[u8],
    wrapped: &[u8],
) -> Result<Option<ReportKey>, CryptoError> {
    let opened = async {
        let rid = ids::parse(id)?;
        let header = Argon2Header::parse(wrapped).ok()?;
        let kek = match state
            .kdf
            .derive(lane, code.secret_bytes(), header.salt, header.params)
            .await
        {
            Ok(k) => k,
            Err(CryptoError::Busy) => return Some(Err(CryptoError::Busy)),
            Err(_) => return None,
        };
        keyring::open_with_code(&kek, rid, wrapped, commitment).map(Ok)
    };
    opened.await.transpose()
}

/// `POST /opvolgen/bericht`: the reporter's answer or addition, with any evidence files.
pub async fn reply(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let mut lang = query_lang(&req);
    let limit = state.settings.limits.field_chars;
    // The session is checked before the body is read: its report key seals the files.
    let (opened, stored) = match open_session(&state, &req, lang).await {
        Ok(Some(o)) => match state.store.report_file_chunks(&o.2.id).await {
            Ok(n) => (Some(o), n),
            Err(e) => return store_failed(&state, req, payload, lang, &e.into()).await,
        },
        Ok(None) => (None, 0),
        Err(e) => return store_failed(&state, req, payload, lang, &e.cause).await,
    };
    let target = opened.as_ref().map(|(_, key, row)| Target {
        key,
        report_id: &row.id,
        role: Role::Reporter,
    });
    let limits = Limits::new(&state, stored, body_limit(limit, 1));
    let mut up = upload::read(&state, &req, payload, target, &limits).await;
    if up.form.get("lang").is_some() {
        lang = Lang::from_code(up.form.get("lang"));
    }
    let t = lang.t();
    let text = up.form.text("message");
    let Some((active, key, row)) = opened else {
        // The session ended while the reporter was writing: keep what they wrote, and say
        // that chosen files were not taken along.
        let mut error = t.session_ended.to_string();
        if !up.chosen.is_empty() {
            error = format!(
                "{error} {}",
                choose_again(crate::features::evidence::texts(lang).session_files, &up.chosen)
            );
        }
        return Ok(code_page_keeping(
            &state,
            lang,
            StatusCode::UNAUTHORIZED,
            String::new(),
            Some(&error),
            text,
        ));
    };
    let had_files = !up.files.is_empty();
    let again = choose_again(crate::features::evidence::texts(lang).choose_again, &up.chosen);
    let refuse = |status, errors: FieldErrors, files_refused: bool| {
        ReplyState::refused_with_files(status, text.clone(), errors, files_refused.then(|| again.clone()))
    };
    let shown = match up.problem.clone() {
        Some(Problem::TextTooLarge) => return Ok(too_large(&state, lang)),
        Some(p) => {
            let status = if p.is_too_large() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else if matches!(p, Problem::BudgetSpent | Problem::Busy) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            Some(refuse(
                status,
                vec![("files", problem_text(&p, &state.settings.limits, lang))],
                true,
            ))
        }
        None if !active.token.csrf_matches(up.form.get("csrf")) => Some(refuse(
            StatusCode::FORBIDDEN,
            vec![("message", t.forbidden_text.to_string())],
            had_files,
        )),
        None => {
            let mut errors = FieldErrors::new();
            if !up.form.invalid.is_empty() {
                errors.push(("message", t.err_encoding.to_string()));
            }
            // A message may be only files: evidence added without a word.
            let required = (!had_files).then_some(t.err_reply_empty);
            check_text(&mut errors, "message", &text, limit, required, t);
            (!errors.is_empty()).then(|| refuse(StatusCode::UNPROCESSABLE_ENTITY, errors, had_files))
        }
    };
    if let Some(shown) = shown {
        up.discard(&state.store).await;
        return thread_page(&state, lang, &key, row, active.token.csrf(), shown).await;
    }
    let m = seal_message(&state.clock, &key, &row.id, Role::Reporter, None, "message", &text).or_500(lang)?;
    let stored = match state.store.coordinators_with_access(&row.id).await {
        Ok(tell) => {
            let notices = crate::features::notify::notices(&state, tell, crate::features::notify::Event::ReporterReply);
            state.store.insert_message_with_files(&m, &notices, &up.ids()).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "storing a reporter's message failed; nothing was kept");
        up.discard(&state.store).await;
        let shown = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            vec![("message", t.err_store.to_string())],
            had_files,
        );
        // The thread itself may not be readable now either: then the text is kept on the
        // code page, which needs no database.
        return match thread_page(&state, lang, &key, row, active.token.csrf(), shown).await {
            Ok(page) => Ok(page),
            Err(_) => Ok(keep_unsent(&state, lang, text, &up.chosen)),
        };
    }
    up.committed();
    let mut notes = duplicate_notes(&up, lang);
    notes.insert(0, t.reply_sent.to_string());
    if notes.len() == 1 {
        return Ok(redirect(&lang.href(&format!("{}?sent=1", paths::FOLLOW_UP))));
    }
    // Duplicates were stored once: say so on the page rather than silently.
    let shown = ReplyState::shown(Some(notes.join(" ")));
    thread_page(&state, lang, &key, row, active.token.csrf(), shown).await
}

/// `GET /opvolgen/bestanden/{id}`: a file of the open report, as a download.
/// The database failed before the reply could be read: read it anyway (no file is kept),
/// and show the reporter what they wrote with the 503 that says to try again.
async fn store_failed(
    state: &State,
    req: HttpRequest,
    payload: web::Payload,
    lang: Lang,
    cause: &anyhow::Error,
) -> PageResult {
    tracing::error!(error = %format!("{cause:#}"), "the database did not answer; the reporter's message was not stored");
    let limits = Limits::new(state, 0, body_limit(state.settings.limits.field_chars, 1));
    let mut up = upload::read(state, &req, payload, None, &limits).await;
    up.discard(&state.store).await;
    let lang = match up.form.get("lang") {
        Some(code) => Lang::from_code(Some(code)),
        None => lang,
    };
    Ok(keep_unsent(state, lang, up.form.text("message"), &up.chosen))
}

/// The code page (it needs no database) with the unsent message kept, as a 503.
fn keep_unsent(state: &State, lang: Lang, text: String, chosen: &[String]) -> HttpResponse {
    let mut error = lang.t().err_store.to_string();
    if !chosen.is_empty() {
        error = format!(
            "{error} {}",
            choose_again(crate::features::evidence::texts(lang).choose_again, chosen)
        );
    }
    let mut res = code_page_keeping(
        state,
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        String::new(),
        Some(&error),
        text,
    );
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from_static("120"),
    );
    res
}

pub async fn download(state: State, req: HttpRequest, file: web::Path<String>) -> PageResult {
    let lang = query_lang(&req);
    let Some((_, key, row)) = open_session(&state, &req, lang).await? else {
        return Ok(code_page(
            &state,
            lang,
            StatusCode::UNAUTHORIZED,
            String::new(),
            Some(lang.t().session_ended),
        ));
    };
    match crate::features::evidence::download(&state.store, &key, &row.id, &file)
        .await
        .or_500(lang)?
    {
        Some(res) => Ok(res),
        None => Ok(crate::http::not_found_page(&state, lang)),
    }
}

/// `POST /opvolgen/sluiten`: forget the open report in this browser.
pub async fn close(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let lang = query_lang(&req);
    let form = read_body(payload, 4096)
        .await
        .map(|b| Form::parse(&b))
        .unwrap_or_default();
    if let Some(active) = session::current(&state, &req, SessionKind::Reporter)
        .await
        .or_500(lang)?
    {
        if !active.token.csrf_matches(form.get("csrf")) {
            return Ok(forbidden(&state, lang));
        }
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

/// `POST /opvolgen/bevestigen`: the reporter confirms the minutes of an oral report.
pub async fn confirm_minutes(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_body(payload, 4096)
        .await
        .map(|b| Form::parse(&b))
        .unwrap_or_default();
    let lang = match form.get("lang") {
        Some(code) => Lang::from_code(Some(code)),
        None => query_lang(&req),
    };
    let t = lang.t();
    let Some((active, key, row)) = open_session(&state, &req, lang).await? else {
        return Ok(code_page(
            &state,
            lang,
            StatusCode::UNAUTHORIZED,
            String::new(),
            Some(t.session_ended),
        ));
    };
    if !active.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    // A written report has no minutes: there is nothing to confirm, and "your message has
    // been sent" would tell the reporter something was stored that was not.
    if row.origin != "oral" {
        return Ok(crate::http::not_found_page(&state, lang));
    }
    let m = seal_message(&state.clock, &key, &row.id, Role::Reporter, None, "confirm", "").or_500(lang)?;
    let tell = state.store.coordinators_with_access(&row.id).await.or_500(lang)?;
    let notices = crate::features::notify::notices(&state, tell, crate::features::notify::Event::ReporterReply);
    // False when confirmed before (a second click): nothing new was stored, so the thread
    // shows the earlier confirmation without a "sent" notice.
    let stored = state.store.confirm_minutes(&m, &notices).await.or_500(lang)?;
    let target = if stored {
        format!("{}?sent=1", paths::FOLLOW_UP)
    } else {
        paths::FOLLOW_UP.to_string()
    };
    Ok(redirect(&lang.href(&target)))
}
