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
    let org = &state.settings.organisation.name;
    let paragraphs = t.a11y_text.iter().map(|s| s.replace("{org}", org)).collect();
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
    let days = state.settings.retention.keep_days_after_closing.to_string();
    let paragraphs = t
        .privacy_text
        .iter()
        .map(|p| {
            p.replace("{days}", &days)
                .replace("{org}", &state.settings.organisation.name)
        })
        .collect();
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
    let probe = tokio::time::timeout(std::time::Duration::from_secs(5), state.store.can_store(need));
    let verdict = match probe.await {
        Ok(v) => v,
        Err(_) => Err(crate::storage::NotReady {
            reason: "the database did not answer a write within 5 s",
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
