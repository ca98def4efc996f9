//! Changing one's own password: the same key pair sealed under the new password (no report
//! is re-encrypted), every session of the coordinator ended and a fresh one started. Never
//! logs a password.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use zeroize::Zeroizing;

use super::{account, current, lang_of, read_form, to_login};
use crate::http::session::{self, SessionKind};
use crate::http::{forbidden, paths, query_lang, redirect, render, OrAppError, Page, PageResult, State};
use crate::i18n::Lang;

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    page: Page,
    csrf: String,
    errors: crate::http::form::FieldErrors,
    notice: Option<String>,
}

impl PasswordPage {
    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }
    fn field_id<'a>(&self, name: &'a str) -> &'a str {
        name
    }
}

fn page(
    state: &State,
    lang: Lang,
    csrf: String,
    status: StatusCode,
    // (field, message): the field the message is about, linked from the summary.
    error: Option<(&'static str, &str)>,
    notice: Option<&str>,
) -> actix_web::HttpResponse {
    let page = Page::new(state, lang, paths::PASSWORD);
    render(
        status,
        &PasswordPage {
            page,
            csrf,
            errors: error.map(|(f, m)| (f, m.to_string())).into_iter().collect(),
            notice: notice.map(str::to_string),
        },
    )
}

pub async fn show(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let notice = req
        .query_string()
        .contains("done=changed")
        .then_some(lang.staff().pw_changed);
    Ok(page(
        &state,
        lang,
        me.session.token.csrf(),
        StatusCode::OK,
        None,
        notice,
    ))
}

pub async fn change(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 16 * 1024).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let t = lang.t();
    let s = lang.staff();
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let csrf = me.session.token.csrf();
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    let (old, new, repeat) = (
        Zeroizing::new(form.text("current")),
        Zeroizing::new(form.text("password")),
        Zeroizing::new(form.text("password_repeat")),
    );
    if let Some(problem) = account::password_problem(&new, &repeat, s) {
        return Ok(page(
            &state,
            lang,
            csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("password", problem)),
            None,
        ));
    }
    // The current password must open the same key the session holds; guesses are throttled
    // like logins.
    let throttle_key = format!("pw:{}", me.row.id);
    let now = state.clock.now();
    let Some(attempt) = state.login_throttle.admit(throttle_key.as_bytes(), now) else {
        return Ok(page(
            &state,
            lang,
            csrf,
            StatusCode::TOO_MANY_REQUESTS,
            Some(("current", t.err_busy)),
            None,
        ));
    };
    let opened = match account::unlock(&state.kdf, Some(&me.row), &old).await {
        Ok(opened) => opened,
        Err(_) => {
            attempt.not_checked();
            return Ok(crate::http::retry_later(page(
                &state,
                lang,
                csrf,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(("current", t.err_kdf_busy)),
                None,
            )));
        }
    };
    if opened.map(|k| k.public_bytes()) != Some(me.secret.public_bytes()) {
        return Ok(page(
            &state,
            lang,
            csrf,
            StatusCode::UNAUTHORIZED,
            Some(("current", s.err_current_password)),
            None,
        ));
    }
    attempt.succeeded();
    let sealed = account::seal_private_key(&state.kdf, &me.row.id, &me.secret, &new)
        .await
        .or_500(lang)?;
    state.store.reseal_private_key(&me.row.id, &sealed).await.or_500(lang)?;
    state
        .store
        .audit(state.clock.now(), Some(&me.row.id), "password_changed", None)
        .await
        .or_500(lang)?;
    let (cookie, _) = session::start(
        &state,
        SessionKind::Coordinator,
        &me.row.id,
        me.secret.to_zeroizing_bytes().as_ref(),
    )
    .await
    .or_500(lang)?;
    let mut res = redirect(&lang.href(&format!("{}?done=changed", paths::PASSWORD)));
    res.add_cookie(&cookie).or_500(lang)?;
    Ok(res)
}
