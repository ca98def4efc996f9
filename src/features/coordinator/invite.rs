//! Inviting a coordinator by one-time link: an active (logged-in, two-factor) coordinator
//! makes the link and hands it over; the invitee chooses a password and is shown their key's
//! fingerprint; the account stays pending until a colleague compares that fingerprint and
//! approves it (with a fresh second-factor code); then they log in and set up the second
//! factor. Only the link token's hash is stored.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use zeroize::Zeroizing;

use super::{account, current, lang_of, read_form, to_login};
use crate::http::form::FieldErrors;
use crate::http::{forbidden, message_page, paths, query_lang, render, OrAppError, Page, PageResult, State};
use crate::i18n::Lang;

const VALID_HOURS: i64 = 48;

fn token_hash(token: &str) -> Vec<u8> {
    // A different domain than the set-up link, so one token can never be the other.
    account::setup_token_hash(&format!("invite:{token}"))
}

/// `POST /beheer/coordinatoren/uitnodigen`: make a one-time link and show it once.
pub async fn create(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 4096).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let s = lang.staff();
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    let (username, name) = (form.text("username").trim().to_string(), form.text("display_name"));
    let problem = if !account::valid_display_name(&name) {
        Some(s.err_display_name)
    } else if !account::valid_username(&username) {
        Some(s.err_username)
    } else if state
        .store
        .coordinator_by_username(&username)
        .await
        .or_500(lang)?
        .is_some()
    {
        Some(s.err_username_taken)
    } else {
        None
    };
    if let Some(p) = problem {
        let field = if p == s.err_display_name {
            "display_name"
        } else {
            "username"
        };
        let refused = super::coordinators::CoordinatorsRefusal {
            errors: vec![(field, p.to_string())],
            invite_name: name,
            invite_username: username,
            ..Default::default()
        };
        return super::coordinators::coordinators_page(
            &state,
            lang,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            refused,
        )
        .await;
    }
    let (token, _) = account::setup_token();
    let now = state.clock.now();
    state
        .store
        .insert_invite(
            &token_hash(&token),
            &username,
            name.trim(),
            &me.row.id,
            now + VALID_HOURS * 3600,
        )
        .await
        .or_500(lang)?;
    state
        .store
        .audit_detail(now, Some(&me.row.id), "coordinator_invited", None, Some(&username))
        .await
        .or_500(lang)?;
    let link = format!(
        "{}{}{}",
        state.settings.http.public_url.trim_end_matches('/'),
        paths::INVITE_PREFIX,
        token.as_str()
    );
    let page = Page::new(&state, lang, paths::COORDINATORS);
    let home = (lang.href(paths::COORDINATORS), s.coordinators_title.to_string());
    Ok(render(
        StatusCode::OK,
        &crate::http::MessagePage {
            page,
            title: s.invite_link_label.into(),
            paragraphs: vec![link, s.invite_link_hint.into()],
            links: vec![home],
        },
    ))
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    page: Page,
    action: String,
    username: String,
    display_name: String,
    errors: FieldErrors,
}

impl InvitePage {
    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }
    fn field_id<'a>(&self, name: &'a str) -> &'a str {
        name
    }
}

fn invite_page(
    state: &State,
    lang: Lang,
    token: &str,
    username: String,
    display_name: String,
    errors: FieldErrors,
) -> InvitePage {
    let path = format!("{}{token}", paths::INVITE_PREFIX);
    InvitePage {
        page: Page::new(state, lang, &path),
        action: lang.href(&path),
        username,
        display_name,
        errors,
    }
}

pub async fn show(state: State, req: HttpRequest, token: web::Path<String>) -> PageResult {
    let lang = query_lang(&req);
    let Some(inv) = state
        .store
        .invite(&token_hash(&token), state.clock.now())
        .await
        .or_500(lang)?
    else {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            lang.staff().invite_title,
            lang.staff().err_invite,
        ));
    };
    Ok(render(
        StatusCode::OK,
        &invite_page(&state, lang, &token, inv.username, inv.display_name, vec![]),
    ))
}

pub async fn accept(state: State, req: HttpRequest, token: web::Path<String>, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 16 * 1024).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let s = lang.staff();
    let now = state.clock.now();
    let hash = token_hash(&token);
    let Some(inv) = state.store.invite(&hash, now).await.or_500(lang)? else {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            s.invite_title,
            s.err_invite,
        ));
    };
    let (password, repeat) = (
        Zeroizing::new(form.text("password")),
        Zeroizing::new(form.text("password_repeat")),
    );
    let email = form.text("email").trim().to_string();
    let mut errors = FieldErrors::new();
    account::check_password_and_email(&mut errors, &password, &repeat, &email, s);
    if !errors.is_empty() {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &invite_page(&state, lang, &token, inv.username, inv.display_name, errors),
        ));
    }
    // Pending until a colleague approves it: whoever holds the link (intercepted on its
    // way, perhaps) gets an account that receives nothing until the inviter has compared
    // the key fingerprint read out to them.
    let (mut row, _secret) =
        account::new_coordinator(&state.kdf, &inv.username, &inv.display_name, &password, "pending", now)
            .await
            .or_500(lang)?;
    row.email = (!email.is_empty()).then_some(email);
    row.language = lang.code().to_string();
    if !state.store.accept_invite(&hash, now, &row).await.or_500(lang)? {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            s.invite_title,
            s.err_invite,
        ));
    }
    state
        .store
        .audit_detail(now, Some(&row.id), "invite_accepted", None, Some(&row.username))
        .await
        .or_500(lang)?;
    let fingerprint = crate::crypto::sign::coordinator_fingerprint(&row.public_key, row.verifying_key.as_deref());
    Ok(message_page(
        &state,
        lang,
        StatusCode::OK,
        s.invite_title,
        &s.invite_pending_text.replace("{fingerprint}", &fingerprint),
    ))
}
