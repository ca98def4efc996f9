//! First set-up by one-time link: the first coordinator chooses a password, is shown the
//! organisation's recovery key once, and continues to the second factor.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use zeroize::Zeroizing;

use super::account;
use super::{lang_of, read_form};
use crate::crypto::pin::TrustPin;
use crate::crypto::sign::SigningKey;
use crate::crypto::{recovery, CoordinatorSecret};
use crate::domain::keyring;
use crate::http::form::FieldErrors;
use crate::http::session::{self, SessionKind, Stage};
use crate::http::{message_page, paths, query_lang, render, AppError, OrAppError, Page, PageResult, State};
use crate::i18n::Lang;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    page: Page,
    action: String,
    username: String,
    display_name: String,
    email: String,
    oral_contact: String,
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

/// The most characters of the oral-report contact asked at set-up.
const ORAL_CONTACT_CHARS: usize = 300;

/// Puts the oral-report contact in the organisation's own settings (the registry).
async fn set_oral_contact(state: &State, contact: &str, now: i64) -> anyhow::Result<()> {
    let Some(entry) = state.registry.organisation_entry(state.org_id).await? else {
        anyhow::bail!("the organisation is not in the registry");
    };
    let mut doc: toml::Table = if entry.settings.trim().is_empty() {
        toml::Table::new()
    } else {
        entry.settings.parse()?
    };
    let section = doc
        .entry("organisation")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(table) = section else {
        anyhow::bail!("[organisation] in the organisation's settings is not a section");
    };
    table.insert("oral_contact".into(), toml::Value::String(contact.to_string()));
    let own = toml::to_string(&doc)?;
    // Checked as the service will read it.
    state.settings.for_organisation(&own)?;
    state
        .registry
        .change_organisation_settings(&entry, &entry.name, &own, "organisation.oral_contact (set-up)", now)
        .await?;
    Ok(())
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

#[allow(clippy::too_many_arguments)]
fn setup_form(
    state: &State,
    lang: Lang,
    token: &str,
    username: String,
    display_name: String,
    email: String,
    oral_contact: String,
    errors: FieldErrors,
) -> SetupPage {
    let path = format!("{}{}", paths::SETUP_PREFIX, token);
    SetupPage {
        page: Page::new(state, lang, &path),
        action: lang.href(&path),
        username,
        display_name,
        email,
        oral_contact,
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
            lang.staff().setup_title,
            lang.staff().err_setup_link,
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
            state.settings.organisation.oral_contact.clone(),
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
    let s = lang.staff();
    if !setup_token_valid(&state, &token, lang).await? {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            s.setup_title,
            s.err_setup_link,
        ));
    }
    let (username, display_name) = (form.text("username").trim().to_string(), form.text("display_name"));
    let (password, repeat) = (
        Zeroizing::new(form.text("password")),
        Zeroizing::new(form.text("password_repeat")),
    );
    let email = form.text("email").trim().to_string();
    let oral_contact = form.text("oral_contact").trim().to_string();
    let mut errors = FieldErrors::new();
    if oral_contact.chars().count() > ORAL_CONTACT_CHARS || oral_contact.chars().any(char::is_control) {
        errors.push(("oral_contact", s.err_oral_contact.into()));
    }
    if !account::valid_display_name(&display_name) {
        errors.push(("display_name", s.err_display_name.into()));
    }
    if !account::valid_username(&username) {
        errors.push(("username", s.err_username.into()));
    }
    account::check_password_and_email(&mut errors, &password, &repeat, &email, s);
    if !errors.is_empty() {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &setup_form(
                &state,
                lang,
                &token,
                username,
                display_name,
                email,
                oral_contact,
                errors,
            ),
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
    // The recovery key vouches for the first coordinator's keys, and the first coordinator
    // signs their memberships; the pin (beside the pepper, outside the database) names the
    // recovery key and its signing key, so nobody who can only write to the database can
    // add a recipient later. Written before the set-up commits: a set-up without its pin
    // would wrap nothing.
    let recovery_signer = SigningKey::of(&recovery_key);
    let mine = SigningKey::of(&secret);
    let (Some(endorsement), Some(groups)) = (
        keyring::endorse(
            &recovery_signer,
            &first.id,
            &first.public_key,
            first.verifying_key.as_deref(),
        ),
        crate::features::routing::named_groups(&state.settings.routing)
            .into_iter()
            .map(|g| keyring::sign_membership(&mine, &g, &first.id).map(|(by, sig)| (g, by, sig)))
            .collect::<Option<Vec<_>>>(),
    ) else {
        return Err(AppError {
            lang,
            cause: anyhow::anyhow!("could not sign the first coordinator's keys"),
        });
    };
    let pin_file = keyring::pin_path(&state.settings);
    TrustPin {
        recovery: recovery_public,
        roots: vec![recovery_signer.verifying_bytes()],
    }
    .store(&pin_file)
    .map_err(|e| anyhow::anyhow!("cannot write the trust pin {}: {e}", pin_file.display()))
    .or_500(lang)?;
    if !state
        .store
        .complete_setup(&hash, now, &recovery_public, &first, &endorsement, &groups)
        .await
        .or_500(lang)?
    {
        // The link was used meanwhile. A pin for a set-up that never happened goes.
        if matches!(state.store.recovery_public_key().await, Ok(None)) {
            let _ = std::fs::remove_file(&pin_file);
        }
        return Ok(message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            s.setup_title,
            s.err_setup_link,
        ));
    }
    // The recovery key exists nowhere else now: from here on nothing may stand between it
    // and the page that shows it. Audit and session are best effort.
    if let Err(e) = state.store.audit(now, Some(&first.id), "setup_completed", None).await {
        tracing::warn!(error = %e, "could not audit the set-up");
    }
    // How reporters ask for a conversation: the organisation's own setting from now on
    // (changed later on the settings page). Best effort too: the set-up stands without it.
    if !oral_contact.is_empty() && oral_contact != state.settings.organisation.oral_contact {
        if let Err(e) = set_oral_contact(&state, &oral_contact, now).await {
            tracing::warn!(error = %format!("{e:#}"), "could not keep the oral-report contact given at set-up");
        }
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
