//! The coordinator's side under `/beheer`: first set-up (with the recovery key shown once),
//! login and logout, the inbox, the report page, acknowledging receipt and replying. A
//! coordinator without a wrap for a report gets 404. Audits actions, never content.

pub mod access;
pub mod account;
pub mod admin;
pub mod inbox;
pub mod invite;
pub mod oral;
pub mod overview;
pub mod password;
pub mod register;
pub mod second_factor;
pub mod triage;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use zeroize::Zeroizing;

use crate::crypto::envelope::{Context, Purpose, Role};
use crate::crypto::keys::{self, unwrap_with_secret};
use crate::crypto::{recovery, CoordinatorSecret, ReportKey};
use crate::domain::deadlines;
use crate::domain::report::{Category, ChainLabel, Status};
use crate::domain::thread::{self, seal_message};
use crate::features::casefile::{self, MessageView, ReplyState, ReportView};
use crate::features::evidence::upload::{self, Limits, Problem, Target};
use crate::http::form::{body_limit, check_text, FieldErrors, Opt};
use crate::http::form::{read_body, BodyError, Form};
use crate::http::session::{self, ActiveSession, SessionKind, Stage};
use crate::http::{
    forbidden, message_page, not_found_page, paths, query_lang, redirect, render, too_large, AppError, OrAppError,
    Page, PageResult, State,
};
use crate::i18n::Lang;
use crate::ids;
use crate::storage::{CoordinatorRow, ReportRow};

/// A logged-in coordinator with the private key unsealed for this request.
pub struct Coordinator {
    pub session: ActiveSession,
    pub secret: CoordinatorSecret,
    pub row: CoordinatorRow,
}

pub(crate) async fn current(state: &State, req: &HttpRequest, lang: Lang) -> Result<Option<Coordinator>, AppError> {
    let Some(s) = session::current(state, req, SessionKind::Coordinator)
        .await
        .or_500(lang)?
    else {
        return Ok(None);
    };
    let Some(row) = state.store.coordinator(&s.subject_id).await.or_500(lang)? else {
        return Ok(None);
    };
    let Ok(secret) = CoordinatorSecret::from_slice(&s.secret) else {
        return Ok(None);
    };
    if secret.public_bytes().as_slice() != row.public_key.as_slice() {
        return Ok(None);
    }
    Ok(Some(Coordinator {
        session: s,
        secret,
        row,
    }))
}

pub(crate) fn to_login(lang: Lang) -> HttpResponse {
    redirect(&lang.href(paths::LOGIN))
}

pub(crate) async fn read_form(payload: web::Payload, limit: usize) -> Result<Form, BodyError> {
    read_body(payload, limit).await.map(|b| Form::parse(&b))
}

pub(crate) fn lang_of(req: &HttpRequest, form: &Form) -> Lang {
    match form.get("lang") {
        Some(code) => Lang::from_code(Some(code)),
        None => query_lang(req),
    }
}

// ---- set-up ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    page: Page,
    action: String,
    username: String,
    display_name: String,
    email: String,
    errors: FieldErrors,
}

impl SetupPage {
    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }
    fn field_id<'a>(&self, name: &'a str) -> &'a str {
        name
    }
}

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage {
    page: Page,
    lines: Vec<String>,
    fingerprint: String,
}

async fn setup_token_valid(state: &State, token: &str, lang: Lang) -> Result<bool, AppError> {
    let org = state.store.organisation().await.or_500(lang)?;
    let hash = account::setup_token_hash(token);
    Ok(org.is_some_and(|o| {
        o.recovery_public_key.is_none()
            && o.setup_token_hash.as_deref() == Some(hash.as_slice())
            && o.setup_expires_at.is_some_and(|e| e > state.clock.now())
    }))
}

fn setup_form(
    state: &State,
    lang: Lang,
    token: &str,
    username: String,
    display_name: String,
    email: String,
    errors: FieldErrors,
) -> SetupPage {
    let path = format!("{}{}", paths::SETUP_PREFIX, token);
    SetupPage {
        page: Page::new(state, lang, &path),
        action: lang.href(&path),
        username,
        display_name,
        email,
        errors,
    }
}

pub async fn setup_page(state: State, req: HttpRequest, token: web::Path<String>) -> PageResult {
    let lang = query_lang(&req);
    if !setup_token_valid(&state, &token, lang).await? {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            lang.t().setup_title,
            lang.t().err_setup_link,
        ));
    }
    Ok(render(
        StatusCode::OK,
        &setup_form(
            &state,
            lang,
            &token,
            String::new(),
            String::new(),
            String::new(),
            vec![],
        ),
    ))
}

pub async fn setup_submit(
    state: State,
    req: HttpRequest,
    token: web::Path<String>,
    payload: web::Payload,
) -> PageResult {
    let form = read_form(payload, 16 * 1024).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let t = lang.t();
    if !setup_token_valid(&state, &token, lang).await? {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            t.setup_title,
            t.err_setup_link,
        ));
    }
    let (username, display_name) = (form.text("username").trim().to_string(), form.text("display_name"));
    let (password, repeat) = (
        Zeroizing::new(form.text("password")),
        Zeroizing::new(form.text("password_repeat")),
    );
    let email = form.text("email").trim().to_string();
    let mut errors = FieldErrors::new();
    if !account::valid_display_name(&display_name) {
        errors.push(("display_name", t.err_display_name.into()));
    }
    if !account::valid_username(&username) {
        errors.push(("username", t.err_username.into()));
    }
    account::check_password_and_email(&mut errors, &password, &repeat, &email, t);
    if !errors.is_empty() {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &setup_form(&state, lang, &token, username, display_name, email, errors),
        ));
    }
    let now = state.clock.now();
    let (mut first, secret) = account::new_coordinator(&state.kdf, &username, &display_name, &password, "active", now)
        .await
        .or_500(lang)?;
    first.email = (!email.is_empty()).then_some(email);
    first.language = lang.code().to_string();
    let recovery_key = CoordinatorSecret::generate();
    let recovery_public = recovery_key.public_bytes();
    let hash = account::setup_token_hash(&token);
    if !state
        .store
        .complete_setup(
            &hash,
            now,
            &recovery_public,
            &first,
            &crate::features::routing::named_groups(&state.settings.routing),
        )
        .await
        .or_500(lang)?
    {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            t.setup_title,
            t.err_setup_link,
        ));
    }
    // The recovery key exists nowhere else now: from here on nothing may stand between it
    // and the page that shows it. Audit and session are best effort.
    if let Err(e) = state.store.audit(now, Some(&first.id), "setup_completed", None).await {
        tracing::warn!(error = %e, "could not audit the set-up");
    }
    tracing::info!("set-up completed; the recovery key was shown once");
    // With a second factor required, the first coordinator enrols it right after noting
    // the recovery key: the session starts at that stage.
    let stage = if state.settings.security.require_totp {
        Stage::SecondFactor
    } else {
        Stage::Full
    };
    let session = session::start_stage(
        &state,
        SessionKind::Coordinator,
        &first.id,
        secret.to_zeroizing_bytes().as_ref(),
        stage,
    )
    .await;
    let page = Page::new(&state, lang, paths::ADMIN).shown_once();
    let lines = recovery::encode(&recovery_key).to_vec();
    let mut res = render(
        StatusCode::OK,
        &RecoveryPage {
            page,
            lines,
            fingerprint: recovery::fingerprint(&recovery_public),
        },
    );
    match session {
        Ok((cookie, _)) => {
            if let Err(e) = res.add_cookie(&cookie) {
                tracing::warn!(error = %e, "could not set the session cookie after set-up");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not start a session after set-up; log in instead"),
    }
    Ok(res)
}

// ---- login -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    username: String,
    error: Option<String>,
}

pub async fn login_page(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    // Password given, second factor still to come: continue there.
    if session::current_stage(&state, &req, SessionKind::Coordinator, Stage::SecondFactor)
        .await
        .or_500(lang)?
        .is_some()
    {
        return Ok(redirect(&lang.href(paths::SECOND_FACTOR)));
    }
    Ok(render(
        StatusCode::OK,
        &LoginPage {
            page: Page::new(&state, lang, paths::LOGIN),
            username: String::new(),
            error: None,
        },
    ))
}

pub async fn login(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 16 * 1024).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let t = lang.t();
    let username = form.text("username").trim().to_string();
    let password = Zeroizing::new(form.text("password"));
    let now = state.clock.now();
    let throttle_key = format!("login:{}", username.to_lowercase());
    let refuse = |status, msg: &str| {
        let page = Page::new(&state, lang, paths::LOGIN);
        render(
            status,
            &LoginPage {
                page,
                username: username.clone(),
                error: Some(msg.to_string()),
            },
        )
    };
    let Some(attempt) = state.login_throttle.admit(throttle_key.as_bytes(), now) else {
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, t.err_busy));
    };
    let row = state
        .store
        .coordinator_by_username(&username)
        .await
        .or_500(lang)?
        .filter(|r| r.status == "active");
    let secret = match account::unlock(&state.kdf, row.as_ref(), &password).await {
        Ok(Some(secret)) => secret,
        Ok(None) => return Ok(refuse(StatusCode::UNAUTHORIZED, t.err_login)),
        Err(_) => {
            attempt.not_checked();
            return Ok(crate::http::retry_later(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                t.err_kdf_busy,
            )));
        }
    };
    attempt.succeeded();
    let Some(row) = row else {
        return Ok(refuse(StatusCode::UNAUTHORIZED, t.err_login));
    };
    let second_factor = state.settings.security.require_totp || row.totp_sealed.is_some();
    let stage = if second_factor {
        Stage::SecondFactor
    } else {
        Stage::Full
    };
    let (cookie, _) = session::start_stage(
        &state,
        SessionKind::Coordinator,
        &row.id,
        secret.to_zeroizing_bytes().as_ref(),
        stage,
    )
    .await
    .or_500(lang)?;
    let mut res = if second_factor {
        redirect(&lang.href(paths::SECOND_FACTOR))
    } else {
        state
            .store
            .audit(now, Some(&row.id), "login", None)
            .await
            .or_500(lang)?;
        redirect(&lang.href(paths::ADMIN))
    };
    res.add_cookie(&cookie).or_500(lang)?;
    Ok(res)
}

pub async fn logout(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 4096).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    if let Some(s) = session::current(&state, &req, SessionKind::Coordinator)
        .await
        .or_500(lang)?
    {
        if !s.token.csrf_matches(form.get("csrf")) {
            return Ok(forbidden(&state, lang));
        }
        session::end(&state, &s).await.or_500(lang)?;
        state
            .store
            .audit(state.clock.now(), Some(&s.subject_id), "logout", None)
            .await
            .or_500(lang)?;
    }
    let mut res = to_login(lang);
    res.add_removal_cookie(&session::removal_cookie(
        SessionKind::Coordinator,
        state.settings.http.secure_cookies,
    ))
    .or_500(lang)?;
    Ok(res)
}

// ---- inbox -----------------------------------------------------------------------------

// ---- one report ------------------------------------------------------------------------

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

/// The report key (with its staff key), if this coordinator holds a wrap for the report.
/// A report stored before staff keys gets one on this first look.
pub(crate) async fn unlock_report(
    state: &State,
    me: &Coordinator,
    id: &str,
    lang: Lang,
) -> Result<Option<(ReportKey, ReportRow)>, AppError> {
    // Twice at most: if another coordinator gave the report its staff key between our read
    // and our upgrade, read our (now re-wrapped) wrap again.
    for _ in 0..2 {
        let Some((mut key, row)) = unwrap_report(state, me, id, lang).await? else {
            return Ok(None);
        };
        if key.has_staff_key() {
            return Ok(Some((key, row)));
        }
        key.add_staff_key();
        if give_staff_key(state, &key, &row).await.or_500(lang)? {
            // The row as stored now: with the commitment just written.
            let row = ReportRow {
                staff_commitment: ids::parse(id)
                    .and_then(|rid| key.staff_commitment(rid))
                    .map(|c| c.to_vec()),
                ..row
            };
            return Ok(Some((key, row)));
        }
    }
    Err(AppError {
        lang,
        cause: anyhow::anyhow!("report {id}: its staff key kept changing while it was given one"),
    })
}

async fn unwrap_report(
    state: &State,
    me: &Coordinator,
    id: &str,
    lang: Lang,
) -> Result<Option<(ReportKey, ReportRow)>, AppError> {
    let (Some(rid), Some(cid)) = (ids::parse(id), ids::parse(&me.row.id)) else {
        return Ok(None);
    };
    let Some(wrapped) = state.store.wrap(id, "coordinator", &me.row.id).await.or_500(lang)? else {
        return Ok(None);
    };
    let Some(row) = state.store.report(id).await.or_500(lang)? else {
        return Ok(None);
    };
    let public = me.secret.public_bytes();
    let ctx = Context::new(Purpose::WrapCoordinator)
        .report(rid)
        .recipient(cid, keys::key_id(&public));
    let key = unwrap_with_secret(&wrapped, &me.secret, &ctx).or_500(lang)?;
    key.check_commitment(rid, &row.key_commitment).or_500(lang)?;
    key.check_staff_commitment(rid, row.staff_commitment.as_deref())
        .or_500(lang)?;
    Ok(Some((key, row)))
}

/// Upgrades a report stored before staff keys: wraps report and (new) staff key to every
/// coordinator holding it and to the recovery key, and re-seals its notes under the staff
/// key, in one transaction. False if the holders or notes changed meanwhile.
async fn give_staff_key(state: &State, key: &ReportKey, row: &ReportRow) -> anyhow::Result<bool> {
    let rid = ids::parse(&row.id).ok_or_else(|| anyhow::anyhow!("malformed report id"))?;
    let commitment = key
        .staff_commitment(rid)
        .ok_or_else(|| anyhow::anyhow!("no staff key to give"))?;
    let mut wraps = Vec::new();
    for (kind, recipient, before) in state.store.staff_wrap_holders(&row.id).await? {
        let (public, ctx) = if kind == "recovery" {
            let public = state
                .store
                .recovery_public_key()
                .await?
                .ok_or_else(|| anyhow::anyhow!("no recovery key"))?;
            let ctx = Context::new(Purpose::WrapRecovery)
                .report(rid)
                .recipient([0xFF; 16], keys::key_id(&public));
            (public, ctx)
        } else {
            let c = state
                .store
                .coordinator(&recipient)
                .await?
                .ok_or_else(|| anyhow::anyhow!("a wrap for an unknown coordinator"))?;
            let (Some(cid), Ok(public)) = (ids::parse(&c.id), <[u8; 32]>::try_from(c.public_key.as_slice())) else {
                anyhow::bail!("malformed coordinator key");
            };
            let ctx = Context::new(Purpose::WrapCoordinator)
                .report(rid)
                .recipient(cid, keys::key_id(&public));
            (public, ctx)
        };
        let wrapped = keys::wrap_to_public(key, &public, &ctx)?;
        wraps.push((kind, recipient, before, wrapped));
    }
    let mut notes = Vec::new();
    for m in state.store.messages(&row.id).await? {
        if m.kind != thread::NOTE {
            continue;
        }
        let (Some(role), Some(mid)) = (thread::role_of(&m.author_role), ids::parse(&m.id)) else {
            anyhow::bail!("malformed note {}", m.seq);
        };
        let ctx = thread::message_context(rid, mid, role, &m.kind);
        // Sealed under the report key before the upgrade: open with that, seal with staff.
        // One that does not open was re-sealed by a colleague's upgrade meanwhile.
        let Ok(plain) = key.open(&ctx, &m.sealed) else {
            return Ok(false);
        };
        notes.push((m.id, key.seal_staff(&ctx, &plain)));
    }
    Ok(state.store.add_staff_key(&row.id, &commitment, &wraps, &notes).await?)
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
        return Ok(not_found_page(&state, lang));
    };
    let now = state.clock.now();
    state
        .store
        .audit(now, Some(&me.row.id), "report_opened", Some(&row.id))
        .await
        .or_500(lang)?;
    state.store.mark_read(&row.id).await.or_500(lang)?;
    let t = lang.t();
    let notice = match req.query_string() {
        q if q.contains("done=ack") => Some(t.acknowledged_done.to_string()),
        q if q.contains("done=sent") => Some(t.message_sent.to_string()),
        q if q.contains("done=changed") => Some(t.changed_notice.to_string()),
        q if q.contains("done=granted") => Some(t.granted_notice.to_string()),
        q if q.contains("done=revoked") => Some(t.revoked_notice.to_string()),
        q if q.contains("done=kept") => Some(t.retention_done.to_string()),
        _ => None,
    };
    report_page(&state, lang, &me, key, row, ReplyState::shown(notice)).await
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

// ---- coordinators ----------------------------------------------------------------------

pub struct CoordinatorItem {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub pending: bool,
    pub is_me: bool,
    pub has_totp: bool,
    /// The fingerprint of their public key, to compare with what they read out before
    /// approving them.
    pub fingerprint: String,
}

#[derive(Template)]
#[template(path = "coordinators.html")]
struct CoordinatorsPage {
    page: Page,
    csrf: String,
    items: Vec<CoordinatorItem>,
    notice: Option<String>,
    /// Whether actions here ask for a fresh second-factor code (the viewer has one).
    ask_code: bool,
    refused: CoordinatorsRefusal,
}

/// A refused action on the coordinators page: the problems, what was typed in the invite
/// form, and which code field (approve or reset, of whom) was wrong.
#[derive(Default)]
pub(crate) struct CoordinatorsRefusal {
    pub errors: FieldErrors,
    pub invite_name: String,
    pub invite_username: String,
    pub code_field: String,
}

impl CoordinatorsPage {
    fn err(&self, name: &str) -> Option<&str> {
        self.refused
            .errors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| m.as_str())
    }
    fn field_id(&self, name: &str) -> String {
        match name {
            "display_name" => "inv-name".into(),
            "username" => "inv-user".into(),
            _ => self.refused.code_field.clone(),
        }
    }
    /// Whether the code field with this id is the one refused.
    fn code_refused(&self, field: &str) -> bool {
        self.err("code").is_some() && self.refused.code_field == field
    }
}

pub async fn coordinators(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let notice = match req.query_string() {
        q if q.contains("done=approved") => Some(lang.t().approved_notice.to_string()),
        q if q.contains("done=totp_reset") => Some(lang.t().reset_totp_notice.to_string()),
        _ => None,
    };
    coordinators_page(
        &state,
        lang,
        &me,
        StatusCode::OK,
        notice,
        CoordinatorsRefusal::default(),
    )
    .await
}

/// The coordinators page, perhaps with a refused action explained at the top and what was
/// typed kept.
pub(crate) async fn coordinators_page(
    state: &State,
    lang: Lang,
    me: &Coordinator,
    status: StatusCode,
    notice: Option<String>,
    refused: CoordinatorsRefusal,
) -> PageResult {
    let items = state
        .store
        .coordinators()
        .await
        .or_500(lang)?
        .into_iter()
        .map(|c| CoordinatorItem {
            pending: c.status == "pending",
            is_me: c.id == me.row.id,
            has_totp: c.totp_sealed.is_some(),
            fingerprint: <[u8; 32]>::try_from(c.public_key.as_slice())
                .map(|k| crate::crypto::recovery::fingerprint(&k))
                .unwrap_or_default(),
            id: c.id,
            username: c.username,
            display_name: c.display_name,
        })
        .collect();
    let page = Page::new(state, lang, paths::COORDINATORS);
    Ok(render(
        status,
        &CoordinatorsPage {
            page,
            csrf: me.session.token.csrf(),
            items,
            notice,
            ask_code: me.row.totp_sealed.is_some(),
            refused,
        },
    ))
}

/// Approves a pending coordinator: from now on new reports are wrapped to them too.
pub async fn approve(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 4096).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    // Approving decides who receives reports: the approver proves their second factor now.
    if !second_factor::fresh_second_factor(&state, &me, &form)
        .await
        .or_500(lang)?
    {
        let refused = CoordinatorsRefusal {
            errors: vec![("code", lang.t().err_mfa.to_string())],
            code_field: format!("approve-code-{id}"),
            ..Default::default()
        };
        return coordinators_page(&state, lang, &me, StatusCode::UNAUTHORIZED, None, refused).await;
    }
    if ids::parse(&id).is_none() || !state.store.approve_coordinator(&id).await.or_500(lang)? {
        return Ok(not_found_page(&state, lang));
    }
    // The audit row names whom: approving decides who receives reports from now on.
    let target = state.store.coordinator(&id).await.or_500(lang)?.map(|c| c.username);
    state
        .store
        .audit_detail(
            state.clock.now(),
            Some(&me.row.id),
            "coordinator_approved",
            None,
            target.as_deref(),
        )
        .await
        .or_500(lang)?;
    Ok(redirect(&lang.href(&format!("{}?done=approved", paths::COORDINATORS))))
}
