//! The public pages that belong to no other feature: home, accessibility and privacy
//! statements, security.txt, the stylesheet and logo, and the health checks.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::domain::keyring;
use crate::http::{paths, query_lang, render, MessagePage, Page, State};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: Page,
    /// How to ask for an oral report, with the configured contact if there is one.
    oral_text: String,
}

pub async fn home(state: State, req: HttpRequest) -> HttpResponse {
    let lang = query_lang(&req);
    render(
        StatusCode::OK,
        &HomePage {
            page: Page::new(&state, lang, paths::HOME),
            oral_text: match state.settings.organisation.oral_contact.trim() {
                "" => lang.t().oral_text_none.to_string(),
                contact => lang.t().oral_text_contact.replace("{contact}", contact),
            },
        },
    )
}

pub async fn accessibility(state: State, req: HttpRequest) -> HttpResponse {
    let lang = query_lang(&req);
    let t = lang.t();
    let page = Page::new(&state, lang, paths::ACCESSIBILITY);
    let o = &state.settings.organisation;
    let org = &o.name;
    let mut paragraphs: Vec<String> = t.a11y_text.iter().map(|s| s.replace("{org}", org)).collect();
    // The organisation's own examination, when it had one, after the status it qualifies;
    // said plainly when it did not.
    let own = if o.accessibility_examined_on.trim().is_empty() {
        t.a11y_not_examined.replace("{org}", org)
    } else {
        t.a11y_examined
            .replace("{org}", org)
            .replace("{date}", o.accessibility_examined_on.trim())
            .replace("{method}", o.accessibility_method.trim())
            .replace("{report}", o.accessibility_report_url.trim())
    };
    paragraphs.insert(2.min(paragraphs.len()), own);
    if !o.accessibility_contact.trim().is_empty() {
        paragraphs.push(t.a11y_contact.replace("{contact}", o.accessibility_contact.trim()));
    }
    render(
        StatusCode::OK,
        &MessagePage {
            page,
            title: t.a11y_title.into(),
            paragraphs,
            links: vec![],
        },
    )
}

/// `GET /privacy`: what is stored, for how long (from `[retention]`), who reads it.
pub async fn privacy(state: State, req: HttpRequest) -> HttpResponse {
    let lang = query_lang(&req);
    let t = lang.t();
    let o = &state.settings.organisation;
    let org = &o.name;
    let period = period(state.settings.retention.keep_days_after_closing, t);
    let own_or = |own: &str, default: &str| {
        if own.trim().is_empty() {
            default.replace("{org}", org)
        } else {
            own.trim().to_string()
        }
    };
    let mut paragraphs: Vec<String> = t
        .privacy_text
        .iter()
        .map(|p| p.replace("{period}", &period).replace("{org}", org))
        .collect();
    paragraphs.push(
        t.privacy_basis
            .replace("{basis}", &own_or(&o.privacy_legal_basis, t.privacy_basis_default)),
    );
    paragraphs.push(t.privacy_recipients.replace("{org}", org).replace(
        "{processors}",
        &own_or(&o.privacy_processors, t.privacy_processors_default),
    ));
    paragraphs.push(
        t.privacy_officer
            .replace("{org}", org)
            .replace("{officer}", &own_or(&o.privacy_officer, t.privacy_officer_default)),
    );
    render(
        StatusCode::OK,
        &MessagePage {
            page: Page::new(&state, lang, paths::PRIVACY),
            title: t.privacy_title.into(),
            paragraphs,
            links: vec![],
        },
    )
}

/// A retention period as people say it: whole years as years ("2 jaar"), else days.
fn period(days: i64, t: &crate::i18n::Texts) -> String {
    match days {
        365 => t.one_year.to_string(),
        d if d > 0 && d % 365 == 0 => t.years.replace("{n}", &(d / 365).to_string()),
        d => t.days.replace("{n}", &d.to_string()),
    }
}

pub async fn security_txt(state: State) -> HttpResponse {
    let expires = chrono::DateTime::from_timestamp(state.clock.now() + 180 * 86400, 0).unwrap_or_default();
    let body = format!(
        "Contact: {}\nExpires: {}\nPreferred-Languages: nl, en\n",
        state.settings.organisation.security_contact,
        expires.format("%Y-%m-%dT%H:%M:%SZ")
    );
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body)
}

pub async fn style(state: State) -> HttpResponse {
    let css = state.style.clone();
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
        .body(css)
}

/// `GET /static/pow.js`: the proof-of-work script (SECURITY.md, "Floods"). Served from
/// this origin only; pages work without it.
pub async fn pow_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
        .body(include_str!("../../web/static/pow.js"))
}

/// `GET /static/logo`: the organisation's logo, or 404 without one. The page-wide CSP
/// (`default-src 'none'`) also keeps an SVG opened on its own from running anything.
pub async fn logo(state: State) -> HttpResponse {
    match &state.logo {
        Some(l) => HttpResponse::Ok()
            .content_type(l.content_type)
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
            .body(l.bytes.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready means a report can be stored now: the database takes a write of a report's size
/// and (SQLite) its disk has room for the largest report plus a margin. The reason for a
/// 503 goes to the body and the log, for the operator; it names no report.
pub async fn readyz(state: State) -> HttpResponse {
    const MARGIN: u64 = 64 * 1024 * 1024;
    let need = state.settings.limits.report_bytes().saturating_add(MARGIN);
    // Within 2 s: a load balancer asking is told in time to send the next request elsewhere.
    let probe = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.can_store(need));
    let verdict = match probe.await {
        Ok(v) => v,
        Err(_) => Err(crate::storage::NotReady {
            reason: "the database did not answer a write within 2 s",
            detail: "a write lock is held or the server does not answer".into(),
        }),
    };
    // Ready also means every report would reach only the keys it should: a recipient key
    // changed by hand (say, a recovery key swapped in the database) makes this answer 503
    // until the operator has looked; the log names what failed.
    let verdict = match verdict {
        Ok(()) => match keyring::verify_installation(&state.store, &state.settings).await {
            Ok(v) if v.problems.is_empty() => Ok(()),
            Ok(v) => {
                v.log_problems();
                Err(crate::storage::NotReady {
                    reason: "a recipient key failed verification against the trust pin",
                    detail: v.problems.join("; "),
                })
            }
            Err(e) => Err(crate::storage::NotReady {
                reason: "the recipient keys could not be checked",
                detail: format!("{e:#}"),
            }),
        },
        Err(why) => Err(why),
    };
    match verdict {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(why) => {
            tracing::warn!(reason = why.reason, detail = %why.detail, "not ready: a report could not be stored now");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body(format!("not ready: {}\n", why.reason))
        }
    }
}
