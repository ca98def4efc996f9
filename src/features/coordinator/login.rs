//! Logging in (password, then the second step) and out. A wrong password and an unknown
//! username cost the same and read the same.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use zeroize::Zeroizing;

use super::account;
use super::{lang_of, read_form, to_login};
use crate::http::session::{self, SessionKind, Stage};
use crate::http::{forbidden, paths, query_lang, redirect, render, OrAppError, Page, PageResult, State};

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
    let s = lang.staff();
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
        Ok(None) => return Ok(refuse(StatusCode::UNAUTHORIZED, s.err_login)),
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
        return Ok(refuse(StatusCode::UNAUTHORIZED, s.err_login));
    };
    // An account from before signatures learns its signing key now (it is derived from the
    // secret just unsealed); it counts once a colleague's endorsement covers it.
    let verifying = crate::crypto::sign::SigningKey::of(&secret).verifying_bytes();
    if row.verifying_key.as_deref() != Some(&verifying[..]) {
        state.store.set_verifying_key(&row.id, &verifying).await.or_500(lang)?;
    }
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
