//! HTTP wiring every feature shares: application state, route paths, page context and
//! rendering, error pages, security headers, the Origin check on posts, and the access log
//! (method, route template, status, duration: never an address or a header). Names no
//! feature: what a feature keeps for itself is its own `web::Data`.

pub mod body;
pub mod context;
pub mod form;
pub mod session;
pub mod tenants;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::clock::Clock;
use crate::crypto::kdf::KdfPool;
use crate::i18n::{Lang, StaffTexts, Texts};
use crate::settings::Settings;
use crate::storage::Store;
use crate::throttle::Throttle;

/// Route paths, shared by handlers, templates and tests so a renamed route leaves no dead link.
pub mod paths {
    pub const HOME: &str = "/";
    pub const REPORT: &str = "/melden";
    pub const REPORT_LANGUAGE: &str = "/melden/taal";
    pub const FOLLOW_UP: &str = "/opvolgen";
    pub const FOLLOW_UP_REPLY: &str = "/opvolgen/bericht";
    pub const FOLLOW_UP_CLOSE: &str = "/opvolgen/sluiten";
    pub const FOLLOW_UP_FILES: &str = "/opvolgen/bestanden";
    pub const ACCESSIBILITY: &str = "/toegankelijkheid";
    pub const PRIVACY: &str = "/privacy";
    pub const ADMIN: &str = "/beheer";
    pub const LOGIN: &str = "/beheer/inloggen";
    pub const LOGOUT: &str = "/beheer/uitloggen";
    pub const SECOND_FACTOR: &str = "/beheer/tweede-factor";
    pub const SETUP_PREFIX: &str = "/beheer/inrichten/";
    pub const ADMIN_REPORT_PREFIX: &str = "/beheer/melding/";
    pub const COORDINATORS: &str = "/beheer/coordinatoren";
    pub const GROUPS: &str = "/beheer/groepen";
    pub const OUTBOX: &str = "/beheer/uitgaand";
    pub const AUDIT: &str = "/beheer/logboek";
    pub const PASSWORD: &str = "/beheer/wachtwoord";
    pub const OVERVIEW: &str = "/beheer/overzicht";
    pub const REGISTER: &str = "/beheer/register";
    pub const ORAL: &str = "/beheer/mondeling";
    pub const ORG_SETTINGS: &str = "/beheer/instellingen";
    pub const INVITE_PREFIX: &str = "/beheer/uitnodiging/";
    pub const ELSEWHERE: &str = "/beheer/organisaties";
    pub const ARRIVE_PREFIX: &str = "/beheer/overstappen/";
    pub const CONFIRM_MINUTES: &str = "/opvolgen/bevestigen";
    pub const STYLE: &str = "/static/style.css";
    pub const POW_SCRIPT: &str = "/static/pow.js";
    pub const LOGO: &str = "/static/logo";

    pub fn admin_report(id: &str) -> String {
        format!("{ADMIN_REPORT_PREFIX}{id}")
    }
}

pub struct AppState {
    pub store: Store,
    pub kdf: KdfPool,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub code_throttle: Throttle,
    pub login_throttle: Throttle,
    pub mailer: crate::mail::Mailer,
    /// The multi-threaded runtime the application was built on. Work that must not wait for
    /// a busy request thread (writing an upload's segments) runs here, beside the HTTP
    /// workers' single-threaded runtimes.
    pub background: tokio::runtime::Handle,
    /// What reporters may still upload this hour (see [`crate::throttle::Budget`]).
    pub evidence_budget: crate::throttle::Budget,
    /// The challenges of the proof of work that buys the priority lane (see [`crate::pow`]).
    pub pow: crate::pow::ProofOfWork,
    /// The organisation's logo, read at start (`organisation.logo_file`).
    pub logo: Option<Logo>,
    /// The stylesheet with the organisation's colour, made once at start.
    pub style: web::Bytes,
    /// The organisation's id in the installation's registry.
    pub org_id: i64,
    /// Whether the installation serves more than one organisation.
    pub shared: Arc<std::sync::atomic::AtomicBool>,
    /// The installation's store, which holds the registry of organisations (for the first
    /// organisation the same store as `store`).
    pub registry: Store,
    /// What features keep for this organisation (see [`tenants::FeatureMap`]).
    pub features: tenants::FeatureMap,
}

/// The stylesheet: the shipped one with the organisation's colour (checked at start for
/// contrast) overriding the default accent.
pub fn stylesheet(colour: &str) -> web::Bytes {
    web::Bytes::from(format!(
        "{}\n:root {{ --accent: {colour}; }}\n",
        include_str!("../../web/static/style.css")
    ))
}

/// A logo image held in memory and served at [`paths::LOGO`].
#[derive(Debug, Clone)]
pub struct Logo {
    pub bytes: web::Bytes,
    pub content_type: &'static str,
}

impl Logo {
    const MAX_BYTES: u64 = 256 * 1024;

    /// Reads `organisation.logo_file`: `None` when it is empty; refused (naming the file) when
    /// it is missing, too large, or neither PNG nor SVG.
    pub fn load(path: &str) -> anyhow::Result<Option<Logo>> {
        if path.trim().is_empty() {
            return Ok(None);
        }
        let size = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("organisation.logo_file {path}: {e}"))?
            .len();
        if size > Self::MAX_BYTES {
            anyhow::bail!("organisation.logo_file {path} is {size} bytes; at most 256 KiB");
        }
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("organisation.logo_file {path}: {e}"))?;
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
        let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if head.contains("<svg") {
            "image/svg+xml"
        } else {
            anyhow::bail!("organisation.logo_file {path} is neither a PNG nor an SVG image");
        };
        Ok(Some(Logo {
            bytes: bytes.into(),
            content_type,
        }))
    }
}

pub use context::{Feature, State};

/// What every page template needs: language, texts, organisation, the language switch.
pub struct Page {
    pub lang: Lang,
    pub t: &'static Texts,
    /// The texts only coordinators see, for the /beheer pages (`page.s.inbox_title`).
    pub s: &'static StaffTexts,
    pub org: String,
    /// The language switch in the header; `None` on pages where following a link would
    /// lose something (a form being filled in, a meldcode shown once).
    pub switch_href: Option<String>,
    /// A page whose content is shown once (a meldcode, the recovery key, recovery codes):
    /// no language switch and no brand link, so one click cannot lose it.
    pub shown_once: bool,
    /// The path this page answers, for marking the current place in the navigation.
    pub path: String,
    /// Coordinators' working pages use the width of the screen; reporter pages keep a
    /// reading column.
    pub workspace: bool,
    /// Whether the organisation has a logo to show in the header.
    pub logo: bool,
    /// Whether the installation serves several organisations (the switch between them).
    pub shared: bool,
}

impl Page {
    /// The coordinators' navigation: (path, label).
    pub fn admin_links(&self) -> Vec<(&'static str, &'static str)> {
        let s = self.s;
        let mut links = vec![
            (paths::ADMIN, s.inbox_title),
            (paths::OVERVIEW, s.overview_title),
            (paths::REGISTER, s.register_title),
            (paths::COORDINATORS, s.coordinators_title),
            (paths::GROUPS, s.groups_title),
            (paths::OUTBOX, s.outbox_title),
            (paths::AUDIT, s.audit_title),
            (paths::ORG_SETTINGS, s.org_settings.title),
            (paths::PASSWORD, s.pw_title),
        ];
        if self.shared {
            links.push((paths::ELSEWHERE, s.elsewhere_title));
        }
        links
    }

    /// Whether `href` (one of [`Page::admin_links`]) is where this page belongs: a report
    /// page belongs to the inbox, the oral-report form too.
    pub fn is_current(&self, href: &&str) -> bool {
        self.path == *href
            || (*href == paths::ADMIN
                && (self.path.starts_with(paths::ADMIN_REPORT_PREFIX) || self.path == paths::ORAL))
    }

    pub fn without_switch(mut self) -> Page {
        self.switch_href = None;
        self
    }

    pub fn shown_once(mut self) -> Page {
        self.switch_href = None;
        self.shown_once = true;
        self
    }

    pub fn new(state: &AppState, lang: Lang, path: &str) -> Page {
        Page {
            lang,
            t: lang.t(),
            s: lang.staff(),
            org: state.settings.organisation.name.clone(),
            switch_href: Some(lang.other().href(path)),
            shown_once: false,
            path: path.to_string(),
            workspace: path.starts_with(paths::ADMIN)
                && ![paths::LOGIN, paths::SECOND_FACTOR].contains(&path)
                && !path.starts_with(paths::SETUP_PREFIX)
                && !path.starts_with(paths::INVITE_PREFIX),
            logo: state.logo.is_some(),
            shared: state.shared.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// The language asked for in the query string (`?lang=en`).
pub fn query_lang(req: &HttpRequest) -> Lang {
    let q = req.query_string();
    Lang::from_code(q.split('&').find_map(|p| p.strip_prefix("lang=")))
}

/// Renders a template as an HTML response with the given status.
pub fn render<T: Template>(status: StatusCode, tpl: &T) -> HttpResponse {
    match tpl.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("500")
        }
    }
}

pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .finish()
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub page: Page,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub links: Vec<(String, String)>,
}

/// A page with a title and a few paragraphs: errors, refusals and notices.
pub fn message_page(state: &AppState, lang: Lang, status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let page = Page::new(state, lang, paths::HOME);
    let home = (lang.href(paths::HOME), lang.t().site_title.to_string());
    render(
        status,
        &MessagePage {
            page,
            title: title.into(),
            paragraphs: vec![text.into()],
            links: vec![home],
        },
    )
}

/// The page for a post that did not come from our form (no or a wrong CSRF token).
pub fn forbidden(state: &AppState, lang: Lang) -> HttpResponse {
    message_page(
        state,
        lang,
        StatusCode::FORBIDDEN,
        lang.t().forbidden_title,
        lang.t().forbidden_text,
    )
}

/// The page for a body over its limit: nothing was stored.
pub fn too_large(state: &AppState, lang: Lang) -> HttpResponse {
    message_page(
        state,
        lang,
        StatusCode::PAYLOAD_TOO_LARGE,
        lang.t().err_too_large_title,
        lang.t().err_too_large,
    )
}

/// An unexpected failure: the user sees a short page in their language, the log gets the
/// cause chain (which never holds content: values reach SQL only as bound parameters).
#[derive(Debug)]
pub struct AppError {
    pub lang: Lang,
    pub cause: anyhow::Error,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.cause)
    }
}

impl AppError {
    /// The database failing (refusing connections, out of room, busy past its wait) rather
    /// than a bug: the page says so and when to come back, as a 503 with Retry-After.
    pub fn is_outage(&self) -> bool {
        crate::storage::is_outage_chain(&self.cause)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        if self.is_outage() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
    fn error_response(&self) -> HttpResponse {
        let t = self.lang.t();
        if self.is_outage() {
            tracing::error!(error = %format!("{:#}", self.cause), "request failed: the database is unavailable");
            let body = format!(
                "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>\
                 <link rel=\"stylesheet\" href=\"{}\"></head><body><main><h1>{}</h1><p>{}</p></main></body></html>",
                t.html_lang,
                t.outage_title,
                paths::STYLE,
                t.outage_title,
                t.store_down_text
            );
            return retry_later(
                HttpResponse::ServiceUnavailable()
                    .content_type("text/html; charset=utf-8")
                    .body(body),
            );
        }
        tracing::error!(error = %format!("{:#}", self.cause), "request failed");
        let body = format!(
            "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>\
             <link rel=\"stylesheet\" href=\"{}\"></head><body><main><h1>{}</h1><p>{}</p></main></body></html>",
            t.html_lang,
            t.error_title,
            paths::STYLE,
            t.error_title,
            t.error_text
        );
        HttpResponse::InternalServerError()
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

/// Adds `Retry-After: 60` to a 503 answer (busy, or storage down): come back in a minute.
pub fn retry_later(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from_static("60"),
    );
    res
}

pub trait OrAppError<T> {
    fn or_500(self, lang: Lang) -> Result<T, AppError>;
}

impl<T, E: Into<anyhow::Error>> OrAppError<T> for Result<T, E> {
    fn or_500(self, lang: Lang) -> Result<T, AppError> {
        self.map_err(|e| AppError { lang, cause: e.into() })
    }
}

pub type PageResult = Result<HttpResponse, AppError>;

// ---- middleware ------------------------------------------------------------------------

/// Access log for the coordinator side and health checks: method, route template, status
/// and duration. Never the path with its ids, the query, an address or any header.
/// Reporter pages are not logged per request at all, because a timestamped line is itself
/// the exact time of a reporter's action; only failures (5xx) are, without the time mattering
/// less than the fault.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.match_pattern().unwrap_or_else(|| "(unmatched)".into());
    let res = next.call(req).await?.map_into_boxed_body();
    let staff_side = route.starts_with(paths::ADMIN) || route == "/healthz" || route == "/readyz";
    if staff_side || res.status().is_server_error() {
        tracing::info!(
            target: "meldpunt::access",
            %method,
            route = %route,
            status = res.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
    }
    Ok(res)
}

/// A method of our own that no route registers: a request with a method we serve nowhere
/// (PUT, DELETE, OPTIONS, ...) is routed under this name, so the router says which methods
/// its path has (or that the path does not exist) and no handler can run for it.
fn unserved_method() -> Method {
    // A valid token, so this cannot fail; GET in the impossible case is still read-only.
    Method::from_bytes(b"MELDPUNT-UNSERVED").unwrap_or(Method::GET)
}

/// HEAD is answered as GET (actix-web leaves out the body and keeps the headers). A method
/// a path does not have gets 405 naming the methods it does have: each path is one
/// resource in `startup`, whose router answers 405 with the methods registered for it, and
/// this adds HEAD wherever GET is (HEAD arrives here as GET) and a page in the user's
/// language, since a person who opens a form's address gets it too. A path that does not
/// exist stays a 404 whatever the method.
pub async fn known_methods(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match *req.method() {
        Method::GET | Method::POST => {}
        Method::HEAD => req.head_mut().method = Method::GET,
        _ => req.head_mut().method = unserved_method(),
    }
    let res = next.call(req).await?.map_into_boxed_body();
    if res.status() != StatusCode::METHOD_NOT_ALLOWED {
        return Ok(res);
    }
    let registered = res
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let has = |m: &str| registered.split(',').any(|r| r.trim() == m);
    let allow: Vec<&str> = ["GET", "HEAD", "POST"]
        .into_iter()
        .filter(|m| has(m) || (*m == "HEAD" && has("GET")))
        .collect();
    let (req, _) = res.into_parts();
    let lang = query_lang(&req);
    let mut page = match context::context(&req) {
        Some(state) => message_page(
            &state,
            lang,
            StatusCode::METHOD_NOT_ALLOWED,
            lang.t().method_not_allowed_title,
            lang.t().method_not_allowed_text,
        ),
        None => HttpResponse::MethodNotAllowed()
            .content_type("text/plain; charset=utf-8")
            .body("405 Method Not Allowed\n"),
    };
    if let Ok(value) = header::HeaderValue::from_str(&allow.join(", ")) {
        page.headers_mut().insert(header::ALLOW, value);
    }
    Ok(ServiceResponse::new(req, page))
}

/// Refuses a request whose path or query string carries a NUL byte (`%00`): no route or
/// filter of ours has one, and PostgreSQL refuses it in text, so an id or filter value with
/// one would otherwise turn into a database error. Answered as a page that does not exist.
pub async fn refuse_nul_in_url(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let has_nul = |s: &str| percent_encoding::percent_decode_str(s).any(|b| b == 0);
    if has_nul(req.path()) || has_nul(req.query_string()) {
        let lang = query_lang(req.request());
        let res = match context::context(req.request()) {
            Some(s) => not_found_page(&s, lang),
            None => HttpResponse::NotFound().finish(),
        };
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Refuses a state-changing request unless the browser says it came from this site, so
/// nobody can post into a victim's session or log a victim into an attacker's report.
/// `Sec-Fetch-Site` decides when present (every current browser, Tor Browser included,
/// sends it); otherwise `Origin` must name this site. A post with neither is refused: it
/// did not come from one of our forms in a browser.
pub async fn same_origin_posts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The unserved method reaches no handler (see `known_methods`): it is answered 405 or
    // 404, not refused as if it came from another site.
    let reaches_no_handler = *req.method() == unserved_method();
    if req.method() != Method::GET && req.method() != Method::HEAD && !reaches_no_handler && !post_is_same_origin(&req)
    {
        let lang = query_lang(req.request());
        let state = context::context(req.request());
        let res = match state {
            Some(s) => message_page(
                &s,
                lang,
                StatusCode::FORBIDDEN,
                lang.t().forbidden_title,
                lang.t().forbidden_text,
            ),
            None => HttpResponse::Forbidden().finish(),
        };
        return Ok(req.into_response(res));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn post_is_same_origin(req: &ServiceRequest) -> bool {
    let header = |name| req.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        // "none" is a request the user made directly (typed address, bookmark).
        return site == "same-origin" || site == "none";
    }
    match (header("origin"), context::context(req.request())) {
        (Some(origin), Some(state)) => origin_allowed(origin, &state.settings, req),
        _ => false,
    }
}

fn origin_allowed(origin: &str, settings: &Settings, req: &ServiceRequest) -> bool {
    if origin == settings.public_origin() {
        return true;
    }
    // Behind a proxy that keeps the Host header, the page's own origin is also fine.
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
}

/// Headers on every response: no sniffing, no framing, no referrer, a strict CSP with no
/// script at all, and no caching of pages that may hold report content.
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        // Not "no-referrer": with it, browsers send `Origin: null` on our own form posts.
        // "same-origin" still sends nothing to any other site.
        .add((header::REFERRER_POLICY, "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// The page's CSP with one addition: scripts from this origin (the proof of work,
/// `/static/pow.js`), for the forms that offer the priority lane. Every other page keeps
/// [`security_headers`]' policy with no script source at all.
pub fn allow_own_script(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

/// The answer for a path that is not there, or a thing the user may not see: the two read
/// the same, so a page never tells whether a report exists.
pub fn not_found_page(state: &AppState, lang: Lang) -> HttpResponse {
    message_page(
        state,
        lang,
        StatusCode::NOT_FOUND,
        lang.t().not_found_title,
        lang.t().not_found_text,
    )
}

pub async fn not_found(state: State, req: HttpRequest) -> HttpResponse {
    not_found_page(&state, query_lang(&req))
}
