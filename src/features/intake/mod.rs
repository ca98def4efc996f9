//! Intake: the report form (`/melden`), turning what the browser sent into a valid report
//! or a page that shows every problem with the typed text kept, and sealing and storing the
//! report with its wraps in one transaction before the meldcode is shown. Never logs or
//! stores a word of the report in the clear.

pub mod form_snapshot;
mod rate;
mod seal;

use rate::{reports_busy, take_report_slot};
pub use seal::{seal_and_store, Sealing, Stored};

use form_snapshot::FormCache;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

use crate::crypto::envelope::{self, Context, Purpose, Role};
use crate::crypto::Key32;
use crate::domain::keyring;
use crate::domain::meldcode::Meldcode;
use crate::domain::report::{Anonymity, Category, ChainLabel, HowKnown, SubjectRole};
use crate::features::evidence::upload::{self, Limits, Problem, Target, Upload};
use crate::features::evidence::{choose_again, duplicate_notes, problem_text, FileTexts, FileView, FilesField};
use crate::features::routing::{self, RouteError};
use crate::http::context::Feature;
use crate::http::form::{body_limit, check_text, FieldErrors, Form, Opt};
use crate::http::{allow_own_script, message_page, paths, query_lang, render, too_large, Page, PageResult, State};
use crate::i18n::{Lang, Texts};

fn options<T: Copy>(
    all: &[T],
    code: fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
    chosen: &str,
) -> Vec<Opt> {
    all.iter()
        .map(|&v| Opt {
            code: code(v),
            label: label(v),
            selected: code(v) == chosen,
        })
        .collect()
}

/// What the reporter typed, exactly, to show back after an error.
#[derive(Default)]
pub(crate) struct Draft {
    pub what: String,
    pub when: String,
    pub place: String,
    pub subject: String,
    pub category: String,
    pub about: String,
    pub how_known: String,
    pub anonymity: String,
    pub contact: String,
    pub exclude: Vec<String>,
    /// In a shared intake: the body the report concerns.
    pub body: String,
}

impl Draft {
    pub(crate) fn from_form(f: &Form) -> Draft {
        Draft {
            what: f.text("what"),
            when: f.text("when"),
            place: f.text("where"),
            subject: f.text("subject"),
            category: f.text("category"),
            about: f.text("about"),
            how_known: f.text("how_known"),
            anonymity: f.text("anonymity"),
            contact: f.text("contact"),
            exclude: f.all("exclude").into_iter().map(str::to_string).collect(),
            body: f.text("body"),
        }
    }
}

/// A report that passed every check; only this can be sealed and stored.
pub struct ValidReport {
    what: String,
    when: String,
    place: String,
    subject: SubjectRole,
    category: Category,
    about: ChainLabel,
    how_known: HowKnown,
    anonymity: Anonymity,
    contact: String,
    /// In a shared intake: the body it concerns; `None` where the form asks for none.
    body: Option<String>,
}

fn choice<T>(
    errors: &mut FieldErrors,
    name: &'static str,
    value: &str,
    parse: fn(&str) -> Option<T>,
    t: &Texts,
) -> Option<T> {
    let parsed = parse(value);
    if parsed.is_none() {
        errors.push((name, t.err_choice.to_string()));
    }
    parsed
}

impl ValidReport {
    /// What routing looks at: chain label, subject role, category.
    pub fn routing_keys(&self) -> (ChainLabel, SubjectRole, Category) {
        (self.about, self.subject, self.category)
    }

    /// In a shared intake: the body the report concerns.
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// `bodies`: the shared intake's bodies, one of which must be chosen (none: the form
    /// asks for none, and a body sent anyway is ignored).
    pub fn parse(f: &Form, limit: usize, lang: Lang, bodies: &[String]) -> Result<ValidReport, FieldErrors> {
        let t = lang.t();
        let d = Draft::from_form(f);
        let mut errors = FieldErrors::new();
        for name in &f.invalid {
            if let Some(known) = FIELDS.iter().find(|n| **n == name) {
                errors.push((known, t.err_encoding.to_string()));
            }
        }
        for name in &f.repeated {
            if let Some(known) = FIELDS.iter().find(|n| **n == name) {
                errors.push((known, t.err_duplicate_field.to_string()));
            }
        }
        check_text(&mut errors, "what", &d.what, limit, Some(t.err_what_missing), t);
        check_text(&mut errors, "when", &d.when, limit, None, t);
        check_text(&mut errors, "where", &d.place, limit, None, t);
        check_text(&mut errors, "contact", &d.contact, limit, None, t);
        let subject = choice(&mut errors, "subject", &d.subject, SubjectRole::parse, t);
        let category = choice(&mut errors, "category", &d.category, Category::parse, t);
        let about = choice(&mut errors, "about", &d.about, ChainLabel::parse, t);
        let how_known = choice(&mut errors, "how_known", &d.how_known, HowKnown::parse, t);
        let anonymity = choice(&mut errors, "anonymity", &d.anonymity, Anonymity::parse, t);
        let body = if bodies.is_empty() {
            None
        } else {
            let chosen = bodies.iter().find(|b| **b == d.body).cloned();
            if chosen.is_none() {
                errors.push(("body", t.err_choice.to_string()));
            }
            chosen
        };
        match anonymity {
            Some(Anonymity::Anoniem) if !d.contact.trim().is_empty() => {
                errors.push(("contact", t.err_contact_anonymous.to_string()))
            }
            Some(Anonymity::Vertrouwelijk) if d.contact.trim().is_empty() => {
                errors.push(("contact", t.err_contact_missing.to_string()))
            }
            _ => {}
        }
        match (subject, category, about, how_known, anonymity) {
            (Some(subject), Some(category), Some(about), Some(how_known), Some(anonymity)) if errors.is_empty() => {
                Ok(ValidReport {
                    what: d.what,
                    when: d.when,
                    place: d.place,
                    subject,
                    category,
                    about,
                    how_known,
                    anonymity,
                    contact: d.contact,
                    body,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Names of the form's fields, in the order errors are listed.
const FIELDS: &[&str] = &[
    "body",
    "what",
    "when",
    "where",
    "subject",
    "category",
    "about",
    "how_known",
    "anonymity",
    "contact",
];

#[derive(Template)]
#[template(path = "report_form.html")]
pub(crate) struct FormPage {
    page: Page,
    d: Draft,
    errors: FieldErrors,
    form_token: String,
    subjects: Vec<Opt>,
    /// A shared intake's bodies (name, chosen); empty where the form asks for none.
    bodies: Vec<(String, bool)>,
    categories: Vec<Opt>,
    abouts: Vec<Opt>,
    how_knowns: Vec<Opt>,
    anonymities: Vec<Opt>,
    switch_action: String,
    other_lang: &'static str,
    other_label: &'static str,
    /// Coordinators the reporter may exclude: (id, name, ticked).
    excludables: Vec<(String, String, bool)>,
    channels: &'static [(&'static str, &'static str, &'static str)],
    /// Set when a coordinator records an oral report: their CSRF token.
    oral_csrf: Option<String>,
    ff: FilesField,
    /// A fresh proof-of-work challenge ([`crate::pow`]), for the reports counted apart.
    pow: String,
    /// Storing failed on our side: said in a banner of its own, not as the reporter's
    /// mistake, with the other channels named.
    outage: bool,
}

impl FormPage {
    /// The same form, for a coordinator recording an oral report.
    pub(crate) fn for_oral(mut self, csrf: String) -> Self {
        self.oral_csrf = Some(csrf);
        self.excludables.clear();
        self
    }

    /// The form with what was typed and the problems found. Needs no database: who may be
    /// excluded comes from the in-memory snapshot, so the form (and the typed text) can be
    /// shown back even while the database is down.
    pub(crate) async fn new(state: &State, cache: &FormCache, lang: Lang, d: Draft, errors: FieldErrors) -> FormPage {
        let known = match cache.get().await {
            Ok(snap) => snap.excludables.clone(),
            Err(e) => {
                tracing::warn!(error = %e, "the form is shown without its exclusion choices: the database did not answer");
                vec![]
            }
        };
        let excludables = known
            .into_iter()
            .map(|(id, name)| {
                let ticked = d.exclude.contains(&id);
                (id, name, ticked)
            })
            .collect();
        let mut token = [0u8; 32];
        OsRng.fill_bytes(&mut token);
        let anonymity = if d.anonymity.is_empty() {
            Anonymity::Anoniem.code()
        } else {
            d.anonymity.as_str()
        };
        FormPage {
            // The switch is a button inside the form, so typed text survives it.
            page: Page::new(state, lang, paths::REPORT).without_switch(),
            switch_action: format!("{}?lang={}", paths::REPORT_LANGUAGE, lang.other().code()),
            other_lang: lang.other().code(),
            other_label: lang.t().switch_label,
            subjects: options(SubjectRole::ALL, SubjectRole::code, |v| v.label(lang), &d.subject),
            bodies: state
                .settings
                .routing
                .bodies
                .iter()
                .map(|b| (b.clone(), *b == d.body))
                .collect(),
            categories: options(Category::ALL, Category::code, |v| v.label(lang), &d.category),
            abouts: options(ChainLabel::INTAKE_ORDER, ChainLabel::code, |v| v.about(lang), &d.about),
            how_knowns: options(HowKnown::ALL, HowKnown::code, |v| v.label(lang), &d.how_known),
            anonymities: options(Anonymity::ALL, Anonymity::code, |v| v.label(lang), anonymity),
            d,
            errors,
            form_token: URL_SAFE_NO_PAD.encode(token),
            excludables,
            channels: lang.t().external_channels,
            oral_csrf: None,
            ff: FilesField::new(lang, &state.settings.limits),
            pow: state.pow.challenge(crate::pow::Purpose::Report, state.clock.now()),
            outage: false,
        }
    }

    /// The form came back after its files were refused or dropped: say why (if it was the
    /// files) and that they must be chosen again.
    pub(crate) fn files_refused(mut self, error: Option<String>, again: Option<String>, in_original: bool) -> Self {
        self.ff.refuse(error, again);
        self.ff.original_open = in_original;
        self
    }

    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }

    /// The questions as worded for whoever fills in the form: an oral report is recorded
    /// by a coordinator, who is asked about the reporter.
    fn q(&self) -> crate::i18n::Questions {
        if self.oral_csrf.is_some() {
            crate::i18n::Questions::coordinator(self.page.lang)
        } else {
            crate::i18n::Questions::reporter(self.page.lang)
        }
    }

    /// Where the error summary links for a field: a radio group's first option, so the
    /// link puts the focus where an answer is chosen.
    fn anchor<'a>(&self, name: &'a str) -> &'a str {
        match name {
            "about" => "about-first",
            "anonymity" => "anonymity-first",
            other => other,
        }
    }

    /// The question a field asks, to name it in the error summary.
    fn question(&self, name: &str) -> &'static str {
        let q = self.q();
        match name {
            "what" => q.what,
            "when" => q.when,
            "where" => q.place,
            "subject" => q.subject,
            "category" => q.category,
            "about" => q.about,
            "how_known" => q.how_known,
            "anonymity" => q.anonymity,
            "contact" => q.contact,
            "body" => q.body,
            "files" => self.ff.label,
            _ => q.exclude,
        }
    }
}

/// Set-up is not finished: nobody could read a report, so none is taken.
fn not_in_use(state: &State, lang: Lang) -> actix_web::HttpResponse {
    let t = lang.t();
    message_page(
        state,
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        t.unavailable_title,
        t.unavailable_text,
    )
}

pub async fn form_page(state: State, cache: Feature<FormCache>, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    match cache.get().await {
        Ok(snap) if snap.recovery_public.is_some() => {}
        // Say it before anyone spends time writing.
        Ok(_) => return Ok(not_in_use(&state, lang)),
        Err(e) => return Ok(store_down(&state, lang, e)),
    }
    let page = FormPage::new(&state, &cache, lang, Draft::default(), vec![]).await;
    Ok(allow_own_script(render(StatusCode::OK, &page)))
}

/// The database failed before anything could be typed: a 503 that says to come back, never
/// the generic error page.
pub(crate) fn store_down(state: &State, lang: Lang, cause: impl std::fmt::Display) -> actix_web::HttpResponse {
    tracing::error!(error = %cause, "the database did not answer");
    let t = lang.t();
    let mut res = message_page(
        state,
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        t.store_down_title,
        t.store_down_text,
    );
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from_static("60"),
    );
    res
}

/// The form's one-time token (32 random bytes), if it is there and well-formed.
pub fn form_token(form: &Form) -> Option<Vec<u8>> {
    form.get("form_token")
        .and_then(|tok| URL_SAFE_NO_PAD.decode(tok).ok())
        .filter(|b| b.len() == 32)
}

#[derive(Template)]
#[template(path = "report_done.html")]
pub(crate) struct DonePage {
    pub(crate) page: Page,
    pub(crate) code: String,
    /// Shown again for a form that was sent twice.
    pub(crate) again: bool,
    /// Shown to a coordinator who recorded an oral report, to hand over.
    pub(crate) oral: bool,
    pub(crate) files: Vec<FileView>,
    pub(crate) duplicates: Vec<String>,
    pub(crate) ft: &'static FileTexts,
}

impl DonePage {
    pub(crate) fn new(page: Page, code: String, again: bool, oral: bool) -> DonePage {
        let ft = crate::features::evidence::texts(page.lang);
        DonePage {
            page,
            code,
            again,
            oral,
            files: vec![],
            duplicates: vec![],
            ft,
        }
    }

    fn with_files(mut self, files: Vec<FileView>, duplicates: Vec<String>) -> DonePage {
        self.files = files;
        self.duplicates = duplicates;
        self
    }
}

/// The meldcode sealed under a key only the reporter's browser has: the form's token.
/// How long a sent form's meldcode is kept for showing again (a double click, a reload):
/// minutes, not days, measured without storing any time. Each sweep forgets the codes that
/// were already there at the previous sweep, so a code lives between one and two sweep
/// intervals; `serve` sweeps every [`FormCodeSweep::EVERY`].
#[derive(Default)]
pub struct FormCodeSweep {
    seen: std::collections::HashSet<Vec<u8>>,
}

impl FormCodeSweep {
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

    /// Forgets the codes seen last time; returns how many.
    pub async fn sweep(&mut self, store: &crate::storage::Store) -> Result<usize, sqlx::Error> {
        let now: std::collections::HashSet<Vec<u8>> = store.kept_form_codes().await?.into_iter().collect();
        let mut forgotten = 0;
        for hash in now.intersection(&self.seen) {
            store.forget_form_code(hash).await?;
            forgotten += 1;
        }
        self.seen = now.difference(&self.seen).cloned().collect();
        Ok(forgotten)
    }
}

fn seal_code_for_form(token: &[u8], code: &Meldcode) -> Vec<u8> {
    let key = Key32::from_slice(token).unwrap_or_else(|_| Key32::random());
    envelope::seal_content(&key, &Context::new(Purpose::FormCode), code.display().as_bytes())
}

fn open_code_for_form(token: &[u8], sealed: &[u8]) -> Option<String> {
    let key = Key32::from_slice(token).ok()?;
    let plain = envelope::open_content(&key, &Context::new(Purpose::FormCode), sealed).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

/// Logs a storage failure before anything was kept, and the error the reporter reads.
fn store_failed(cause: &dyn std::fmt::Display) {
    tracing::error!(error = %cause, "a report could not be stored; nothing was kept");
}

/// The form back with a 503 after storage failed: nothing kept, the typed text shown again.
async fn refuse_store_failed(
    state: &State,
    cache: &FormCache,
    lang: Lang,
    up: &mut Upload,
    cause: &dyn std::fmt::Display,
) -> PageResult {
    store_failed(cause);
    refuse_form_with(
        state,
        cache,
        lang,
        up,
        StatusCode::SERVICE_UNAVAILABLE,
        vec![],
        None,
        true,
    )
    .await
}

/// Renders the form again with the typed text, after its files were refused (`problem`)
/// or dropped along with it: nothing of them was kept, and the reporter is asked (in the
/// error summary too) to choose them again by name.
async fn refuse_form(
    state: &State,
    cache: &FormCache,
    lang: Lang,
    up: &mut Upload,
    status: StatusCode,
    errors: FieldErrors,
    problem: Option<&Problem>,
) -> PageResult {
    refuse_form_with(state, cache, lang, up, status, errors, problem, false).await
}

/// [`refuse_form`], saying in its own banner when storing failed on our side (`outage`).
#[allow(clippy::too_many_arguments)]
async fn refuse_form_with(
    state: &State,
    cache: &FormCache,
    lang: Lang,
    up: &mut Upload,
    status: StatusCode,
    mut errors: FieldErrors,
    problem: Option<&Problem>,
    outage: bool,
) -> PageResult {
    let had_files = !up.chosen.is_empty() || problem.is_some();
    up.discard(&state.store).await;
    let again = had_files.then(|| choose_again(crate::features::evidence::texts(lang).choose_again, &up.chosen));
    let file_error = problem.map(|p| problem_text(p, &state.settings.limits, lang));
    if let Some(e) = file_error.as_ref().or(again.as_ref()) {
        errors.push(("files", e.clone()));
    }
    let mut page = FormPage::new(state, cache, lang, Draft::from_form(&up.form), errors).await;
    // A file that could not be stored is our failure too, whatever else is said about it.
    page.outage = outage || matches!(problem, Some(Problem::Store));
    if had_files {
        page = page.files_refused(file_error, again, up.problem_in_original);
    }
    let mut res = allow_own_script(render(status, &page));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("60"),
        );
    }
    Ok(res)
}

pub async fn submit(state: State, cache: Feature<FormCache>, req: HttpRequest, payload: web::Payload) -> PageResult {
    let mut lang = query_lang(&req);
    let limit = state.settings.limits.field_chars;
    // The report's id and key exist before the body is read, so files are sealed as they arrive.
    let sealing = Sealing::fresh();
    let target = Target {
        key: &sealing.key,
        report_id: &sealing.id,
        role: Role::Reporter,
    };
    let limits = Limits::new(&state, 0, body_limit(limit, 4));
    let mut up = upload::read(&state, &req, payload, Some(target), &limits).await;
    if up.form.get("lang").is_some() {
        lang = Lang::from_code(up.form.get("lang"));
    }
    let t = lang.t();
    match up.problem.clone() {
        None => {}
        Some(Problem::TextTooLarge) => return Ok(too_large(&state, lang)),
        Some(p) => {
            let status = if p.is_too_large() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else if matches!(p, Problem::Store | Problem::BudgetSpent | Problem::Busy) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return refuse_form(&state, &cache, lang, &mut up, status, vec![], Some(&p)).await;
        }
    }
    let report = match ValidReport::parse(&up.form, limit, lang, &state.settings.routing.bodies) {
        Ok(r) => r,
        Err(errors) => {
            return refuse_form(
                &state,
                &cache,
                lang,
                &mut up,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                None,
            )
            .await
        }
    };
    let Some(token) = form_token(&up.form) else {
        let errors = vec![("what", t.err_form_expired.to_string())];
        return refuse_form(
            &state,
            &cache,
            lang,
            &mut up,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
            None,
        )
        .await;
    };

    // From here on a database failure keeps the typed text: the form comes back with a 503.
    let recovery = match cache.get().await {
        Ok(snap) => snap.recovery_public,
        Err(e) => {
            return refuse_store_failed(&state, &cache, lang, &mut up, &e).await;
        }
    };
    // Nobody could read a report before set-up: say so before anything is stored.
    if recovery.is_none() {
        up.discard(&state.store).await;
        return Ok(not_in_use(&state, lang));
    }
    // Wrapped only to keys the trust pin vouches for, whatever the database says now.
    let verified = match keyring::verify_installation(&state.store, &state.settings).await {
        Ok(v) => v,
        Err(e) => {
            return refuse_store_failed(&state, &cache, lang, &mut up, &e).await;
        }
    };
    verified.log_problems();
    let Some(recovery) = verified.recovery else {
        up.discard(&state.store).await;
        tracing::error!("no verified recovery key to wrap a report to; nothing was stored");
        return Ok(message_page(
            &state,
            lang,
            StatusCode::SERVICE_UNAVAILABLE,
            t.unavailable_title,
            t.unavailable_text,
        ));
    };
    let excluded: Vec<String> = up.form.all("exclude").into_iter().map(str::to_string).collect();
    let routed = routing::recipients(
        &state.store,
        &verified,
        &state.settings.routing,
        routing::Answers {
            label: report.about,
            role: report.subject,
            category: report.category,
            body: report.body(),
        },
        &excluded,
    )
    .await;
    let coordinators = match routed {
        Err(e) => {
            return refuse_store_failed(&state, &cache, lang, &mut up, &e).await;
        }
        Ok(Ok(c)) => c,
        Ok(Err(RouteError::ExcludedEveryone)) => {
            let errors = vec![("exclude", t.err_excluded_everyone.to_string())];
            return refuse_form(
                &state,
                &cache,
                lang,
                &mut up,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                None,
            )
            .await;
        }
        Ok(Err(RouteError::NoRecipients)) => {
            up.discard(&state.store).await;
            tracing::error!("a report matched routing groups without active members; nothing was stored");
            return Ok(message_page(
                &state,
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                t.unavailable_title,
                t.unavailable_text,
            ));
        }
    };
    let files: Vec<FileView> = up
        .files
        .iter()
        .map(|f| FileView::new(&f.meta, lang, None, None, true))
        .collect();
    let duplicates = duplicate_notes(&up, lang);
    // What the exclusion did, to keep with the report: only coordinators who could be
    // excluded (a forged id excludes nobody and is not kept).
    let excluded = if excluded.is_empty() {
        vec![]
    } else {
        match routing::excludable(&state.store, &state.settings.routing).await {
            Ok(allowed) => allowed
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| excluded.contains(id))
                .collect(),
            Err(e) => {
                return refuse_store_failed(&state, &cache, lang, &mut up, &e).await;
            }
        }
    };
    let sealing = Sealing {
        files: up.ids(),
        excluded,
        ..sealing
    };
    // Last before the Argon2id work and the write: a report refused for the rate is told so
    // with everything else about it already checked.
    let counted = match take_report_slot(&state, &up.form).await {
        Ok(Some(counted)) => counted,
        Ok(None) => {
            let (errors, wait) = reports_busy(&state, lang);
            let mut res = refuse_form(
                &state,
                &cache,
                lang,
                &mut up,
                StatusCode::SERVICE_UNAVAILABLE,
                errors,
                None,
            )
            .await?;
            res.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(wait),
            );
            return Ok(res);
        }
        Err(e) => {
            return refuse_store_failed(&state, &cache, lang, &mut up, &e).await;
        }
    };
    let outcome = seal_and_store(&state, &report, recovery, &coordinators, &token, "written", sealing).await;
    if !matches!(outcome, Ok(Stored::Code(_))) {
        // Nothing new was stored (too busy, a form sent twice, a failed write): the slot goes back.
        counted.give_back(&state).await;
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            return match e.downcast_ref::<crate::crypto::CryptoError>() {
                // Too many reports at once: nothing failed, the reporter sends again.
                Some(crate::crypto::CryptoError::Busy) => {
                    let errors = vec![("what", t.err_kdf_busy.to_string())];
                    refuse_form(
                        &state,
                        &cache,
                        lang,
                        &mut up,
                        StatusCode::SERVICE_UNAVAILABLE,
                        errors,
                        None,
                    )
                    .await
                }
                _ => refuse_store_failed(&state, &cache, lang, &mut up, &e).await,
            };
        }
    };
    if matches!(outcome, Stored::Code(_)) {
        up.committed();
    } else {
        up.discard(&state.store).await;
    }
    match outcome {
        Stored::Code(code) => {
            let page = Page::new(&state, lang, paths::REPORT).shown_once();
            Ok(render(
                StatusCode::OK,
                &DonePage::new(page, code.display().to_string(), false, false).with_files(files, duplicates),
            ))
        }
        Stored::Again(shown) => {
            // The same form again (a double click, a reload): show the same code again.
            let page = Page::new(&state, lang, paths::REPORT).shown_once();
            Ok(render(StatusCode::OK, &DonePage::new(page, shown, true, false)))
        }
        Stored::Duplicate => Ok(message_page(
            &state,
            lang,
            StatusCode::CONFLICT,
            t.duplicate_title,
            t.duplicate_text,
        )),
        // Already logged where it failed.
        Stored::Failed => {
            refuse_form_with(
                &state,
                &cache,
                lang,
                &mut up,
                StatusCode::SERVICE_UNAVAILABLE,
                vec![],
                None,
                true,
            )
            .await
        }
    }
}

/// `POST /melden/taal?lang=xx`: the language switch on the form. Shows the same form, with
/// everything typed so far, in the other language. Validates nothing, stores nothing.
pub async fn switch_language(
    state: State,
    cache: Feature<FormCache>,
    req: HttpRequest,
    payload: web::Payload,
) -> PageResult {
    let lang = query_lang(&req);
    let limit = state.settings.limits.field_chars;
    // No report key exists yet: chosen files are read and dropped, and the reporter is told.
    let limits = Limits::new(&state, 0, body_limit(limit, 4));
    let up = upload::read(&state, &req, payload, None, &limits).await;
    if up.problem == Some(Problem::TextTooLarge) {
        return Ok(too_large(&state, lang));
    }
    let mut page = FormPage::new(&state, &cache, lang, Draft::from_form(&up.form), vec![]).await;
    if !up.chosen.is_empty() {
        // Not an error: a note that the files stayed behind.
        page.ff.choose_again = Some(choose_again(
            crate::features::evidence::texts(lang).switch_dropped,
            &up.chosen,
        ));
    }
    Ok(allow_own_script(render(StatusCode::OK, &page)))
}
