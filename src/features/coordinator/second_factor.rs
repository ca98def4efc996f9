//! The second factor (RFC 6238 TOTP via `totp-rs`): enrolment with a QR code rendered as SVG
//! on the server, one-time recovery codes, verification that accepts each time step once,
//! and reset by another coordinator. The TOTP secret is sealed under a key derived from the
//! coordinator's private key; recovery codes are stored as hashes. Never logs a code.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use qrcode::render::svg;
use qrcode::QrCode;
use rand::rngs::OsRng;
use rand::Rng;
use totp_rs::{Builder, Secret, Totp};
use zeroize::Zeroizing;

use super::{current, lang_of, read_form};
use crate::crypto::crockford::{normalize, symbol};
use crate::crypto::envelope::{self, Context, Purpose};
use crate::crypto::keys::key_id;
use crate::crypto::{CoordinatorSecret, Key32};
use crate::http::session::{self, ActiveSession, SessionKind, Stage};
use crate::http::{
    forbidden, message_page, paths, query_lang, redirect, render, AppError, OrAppError, Page, PageResult, State,
};
use crate::i18n::Lang;
use crate::ids;
use crate::storage::CoordinatorRow;

const RECOVERY_CODES: usize = 10;

fn totp(secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some("Meldpunt"))
        .build()
        .ok()
}

/// The key the TOTP secret is sealed under: derived from the private key, which only the
/// password (or, for a new key pair, the recovery key) opens.
fn sealing_key(me: &CoordinatorSecret, row: &CoordinatorRow) -> Option<(Key32, Context)> {
    let cid = ids::parse(&row.id)?;
    let public = me.public_bytes();
    let ctx = Context::new(Purpose::Totp).recipient(cid, key_id(&public));
    Some((envelope::derive(me.to_zeroizing_bytes().as_ref(), None, &ctx), ctx))
}

/// A recovery code's stored form: keyed with the pepper, so a copy of the database is not
/// enough to try the 2^50 possible codes offline.
fn recovery_hash(kdf: &crate::crypto::kdf::KdfPool, coordinator_id: &str, code: &str) -> Option<Vec<u8>> {
    let symbols = normalize(code)?;
    if symbols.len() != 10 {
        return None;
    }
    let mut data = Vec::with_capacity(coordinator_id.len() + 11);
    data.extend_from_slice(coordinator_id.as_bytes());
    data.push(0);
    data.extend_from_slice(&symbols);
    Some(kdf.keyed_digest(b"meldpunt/v1/recovery-code", &data).to_vec())
}

fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let s: String = (0..10).map(|_| symbol(OsRng.gen_range(0..32))).collect();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

/// The secret offered at enrolment: derived from the pending session's token, so the page
/// and the confirming post agree on it without storing anything.
fn enrolment_secret(pending: &ActiveSession) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(session::derived(pending, Purpose::Totp).as_bytes()[..20].to_vec())
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    page: Page,
    csrf: String,
    enrol: bool,
    qr_svg: String,
    secret_b32: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct CodesPage {
    page: Page,
    codes: Vec<String>,
}

async fn pending(
    state: &State,
    req: &HttpRequest,
    lang: Lang,
) -> Result<Option<(ActiveSession, CoordinatorRow)>, AppError> {
    let Some(p) = session::current_stage(state, req, SessionKind::Coordinator, Stage::SecondFactor)
        .await
        .or_500(lang)?
    else {
        return Ok(None);
    };
    let Some(row) = state.store.coordinator(&p.subject_id).await.or_500(lang)? else {
        return Ok(None);
    };
    Ok(Some((p, row)))
}

fn page(
    state: &State,
    lang: Lang,
    p: &ActiveSession,
    row: &CoordinatorRow,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let enrol = row.totp_sealed.is_none();
    let (qr_svg, secret_b32) = if enrol {
        let secret = enrolment_secret(p);
        let url = totp(&secret, &row.username)
            .and_then(|t| t.to_url().ok())
            .unwrap_or_default();
        let svg = QrCode::new(url.as_bytes())
            .map(|c| {
                c.render::<svg::Color>()
                    .min_dimensions(220, 220)
                    .quiet_zone(true)
                    .build()
            })
            .unwrap_or_default();
        (svg, Secret::from(secret.to_vec()).to_base32())
    } else {
        (String::new(), String::new())
    };
    let page = Page::new(state, lang, paths::SECOND_FACTOR);
    render(
        status,
        &SecondFactorPage {
            page,
            csrf: p.token.csrf(),
            enrol,
            qr_svg,
            secret_b32,
            error: error.map(str::to_string),
        },
    )
}

/// `GET /beheer/tweede-factor`
pub async fn show(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some((p, row)) = pending(&state, &req, lang).await? else {
        return Ok(redirect(&lang.href(paths::LOGIN)));
    };
    Ok(page(&state, lang, &p, &row, StatusCode::OK, None))
}

/// `POST /beheer/tweede-factor`: a TOTP code, a recovery code, or the first code at enrolment.
pub async fn verify(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 4096).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let t = lang.t();
    let s = lang.staff();
    let Some((p, row)) = pending(&state, &req, lang).await? else {
        return Ok(redirect(&lang.href(paths::LOGIN)));
    };
    if !p.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    let now = state.clock.now();
    let throttle_key = format!("totp:{}", row.id);
    let Some(attempt) = state.login_throttle.admit(throttle_key.as_bytes(), now) else {
        return Ok(page(
            &state,
            lang,
            &p,
            &row,
            StatusCode::TOO_MANY_REQUESTS,
            Some(t.err_busy),
        ));
    };
    let me = CoordinatorSecret::from_slice(&p.secret).or_500(lang)?;
    let Some((key, ctx)) = sealing_key(&me, &row) else {
        return Ok(redirect(&lang.href(paths::LOGIN)));
    };
    let code: String = form.text("code").chars().filter(|c| c.is_ascii_digit()).collect();
    let unix = u64::try_from(now).unwrap_or_default();

    let used_recovery_code = row.totp_sealed.is_some() && !form.text("recovery").trim().is_empty();
    let enrolled_codes = match &row.totp_sealed {
        Some(sealed) => {
            let recovery = form.text("recovery");
            let ok = if !recovery.trim().is_empty() {
                match recovery_hash(&state.kdf, &row.id, &recovery) {
                    Some(h) => state.store.use_recovery_code(&row.id, &h).await.or_500(lang)?,
                    None => false,
                }
            } else {
                let secret = envelope::open_content(&key, &ctx, sealed).or_500(lang)?;
                match totp(&secret, &row.username).and_then(|t| t.check(&code, unix)) {
                    Some(step) => state.store.use_totp_step(&row.id, step as i64).await.or_500(lang)?,
                    None => false,
                }
            };
            if !ok {
                return Ok(page(&state, lang, &p, &row, StatusCode::UNAUTHORIZED, Some(s.err_mfa)));
            }
            None
        }
        None => {
            let secret = enrolment_secret(&p);
            let Some(step) = totp(&secret, &row.username).and_then(|t| t.check(&code, unix)) else {
                return Ok(page(
                    &state,
                    lang,
                    &p,
                    &row,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(s.err_mfa),
                ));
            };
            let codes = new_recovery_codes();
            let hashes: Vec<Vec<u8>> = codes
                .iter()
                .filter_map(|c| recovery_hash(&state.kdf, &row.id, c))
                .collect();
            let sealed = envelope::seal_content(&key, &ctx, &secret);
            state
                .store
                .set_totp(&row.id, &sealed, step as i64, &hashes)
                .await
                .or_500(lang)?;
            Some(codes)
        }
    };
    attempt.succeeded();

    // From here the second factor is stored: nothing may stop the recovery codes from being
    // shown, so the audit and the session are best effort (without a session the person
    // simply logs in again).
    let audit = |action: &'static str| {
        let store = state.store.clone();
        let id = row.id.clone();
        async move {
            if let Err(e) = store.audit(now, Some(&id), action, None).await {
                tracing::warn!(error = %e, action, "could not write an audit event");
            }
        }
    };
    if enrolled_codes.is_some() {
        audit("totp_enrolled").await;
    }
    // Complete: a fresh token for the full session; the pending one goes.
    if let Err(e) = session::end(&state, &p).await {
        tracing::warn!(error = %e, "could not end the second-factor session");
    }
    let session = session::start(
        &state,
        SessionKind::Coordinator,
        &row.id,
        me.to_zeroizing_bytes().as_ref(),
    )
    .await;
    // A recovery code stands in for the phone: audited as such, so a colleague can see it.
    audit(if used_recovery_code {
        "login_recovery_code"
    } else {
        "login"
    })
    .await;
    let mut res = match enrolled_codes {
        Some(codes) => render(
            StatusCode::OK,
            &CodesPage {
                page: Page::new(&state, lang, paths::ADMIN).shown_once(),
                codes,
            },
        ),
        None => redirect(&lang.href(paths::ADMIN)),
    };
    match session {
        Ok((cookie, _)) => {
            if let Err(e) = res.add_cookie(&cookie) {
                tracing::warn!(error = %e, "could not set the session cookie");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not start a session after the second factor"),
    }
    Ok(res)
}

/// Whether `me` proved their second factor just now, with the form's `code` (a code not
/// used before): asked before actions that widen who can read reports (approving a
/// colleague, granting access, erasing a second factor, adding a group member), so a stolen
/// session or a password alone is not enough. True for a coordinator without a second
/// factor (only where `security.require_totp` is off).
///
/// A wrong code counts in the account's throttle, the same one as the login's second step
/// (ten per quarter of an hour), and is audited. Once the throttle closes, the session ends:
/// whoever guesses with a stolen session cookie is logged out and must start over.
pub(crate) async fn fresh_second_factor(
    state: &crate::http::AppState,
    me: &super::Coordinator,
    form: &crate::http::form::Form,
) -> Result<bool, sqlx::Error> {
    let Some(sealed) = &me.row.totp_sealed else {
        return Ok(true);
    };
    let now = state.clock.now();
    let throttle_key = format!("totp:{}", me.row.id);
    let Some(attempt) = state.login_throttle.admit(throttle_key.as_bytes(), now) else {
        state
            .store
            .audit(now, Some(&me.row.id), "step_up_locked_out", None)
            .await?;
        tracing::warn!("too many wrong second-factor codes for an action: the session is ended");
        crate::http::session::end(state, &me.session).await?;
        return Ok(false);
    };
    let code: String = form.text("code").chars().filter(|c| c.is_ascii_digit()).collect();
    let unix = u64::try_from(now).unwrap_or_default();
    let step = sealing_key(&me.secret, &me.row)
        .and_then(|(key, ctx)| envelope::open_content(&key, &ctx, sealed).ok())
        .and_then(|secret| totp(&secret, &me.row.username).and_then(|t| t.check(&code, unix)));
    let fresh = match step {
        Some(step) => state.store.use_totp_step(&me.row.id, step as i64).await?,
        None => false,
    };
    if fresh {
        attempt.succeeded();
    } else {
        // Counted (the attempt is dropped) and audited: guessing leaves a trace.
        state.store.audit(now, Some(&me.row.id), "step_up_failed", None).await?;
    }
    Ok(fresh)
}

/// `POST /beheer/coordinatoren/{id}/tweede-factor`: erase another coordinator's second factor
/// (a lost phone); they enrol again at their next login.
pub async fn reset(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 4096).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let s = lang.staff();
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(redirect(&lang.href(paths::LOGIN)));
    };
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    if id.as_str() == me.row.id {
        return Ok(message_page(
            &state,
            lang,
            StatusCode::CONFLICT,
            s.coordinators_title,
            s.err_reset_self,
        ));
    }
    // The one resetting proves their own second factor now: a password alone (perhaps a
    // colleague's) must not be enough to take over someone else's.
    if !fresh_second_factor(&state, &me, &form).await.or_500(lang)? {
        let refused = super::coordinators::CoordinatorsRefusal {
            errors: vec![("code", s.err_mfa.to_string())],
            code_field: format!("reset-code-{id}"),
            ..Default::default()
        };
        return super::coordinators::coordinators_page(&state, lang, &me, StatusCode::UNAUTHORIZED, None, refused)
            .await;
    }
    if ids::parse(&id).is_none() || !state.store.reset_totp(&id).await.or_500(lang)? {
        return Ok(crate::http::not_found_page(&state, lang));
    }
    let target = state.store.coordinator(&id).await.or_500(lang)?.map(|c| c.username);
    state
        .store
        .audit_detail(
            state.clock.now(),
            Some(&me.row.id),
            "totp_reset",
            None,
            target.as_deref(),
        )
        .await
        .or_500(lang)?;
    Ok(redirect(
        &lang.href(&format!("{}?done=totp_reset", paths::COORDINATORS)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_hash_in_any_spelling_and_differ_per_coordinator_and_pepper() {
        use crate::crypto::kdf::{KdfParams, KdfPool, Pepper};
        let kdf = KdfPool::new(Pepper::from_key(Key32::from_bytes([1; 32])), KdfParams::FLOOR, 1, 8);
        let other = KdfPool::new(Pepper::from_key(Key32::from_bytes([2; 32])), KdfParams::FLOOR, 1, 8);
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let c = &codes[0];
        assert_eq!(
            recovery_hash(&kdf, "a", c),
            recovery_hash(&kdf, "a", &c.to_lowercase().replace('-', " "))
        );
        assert_ne!(recovery_hash(&kdf, "a", c), recovery_hash(&kdf, "b", c));
        assert_ne!(
            recovery_hash(&kdf, "a", c),
            recovery_hash(&other, "a", c),
            "keyed with the pepper"
        );
        assert!(recovery_hash(&kdf, "a", "kort").is_none());
    }

    #[test]
    fn a_code_checks_at_its_time_only() {
        let t = totp(&[7u8; 20], "anna").unwrap();
        let code = t.generate(1_796_040_000).to_string();
        assert!(t.check(&code, 1_796_040_000).is_some());
        assert!(t.check(&code, 1_796_040_000 + 300).is_none());
    }
}
