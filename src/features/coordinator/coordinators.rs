//! The coordinators page: who has an account, in what state, and approving a pending one
//! (which makes them a recipient of new reports).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::second_factor;
use super::{current, lang_of, read_form, to_login, Coordinator};
use crate::domain::keyring;
use crate::http::form::FieldErrors;
use crate::http::{
    forbidden, not_found_page, paths, query_lang, redirect, render, OrAppError, Page, PageResult, State,
};
use crate::i18n::Lang;

pub struct CoordinatorItem {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// Shows the approve button: pending, or active but not yet vouched for as a signer.
    pub pending: bool,
    /// Active and receiving reports, but their signing key awaits a colleague's approval
    /// (an account from before signatures, after the upgrade).
    pub awaiting_vouch: bool,
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
        q if q.contains("done=approved_no_group") => Some(lang.staff().approved_no_group_notice.to_string()),
        q if q.contains("done=approved") => Some(lang.staff().approved_notice.to_string()),
        q if q.contains("done=totp_reset") => Some(lang.staff().reset_totp_notice.to_string()),
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
    let verified = keyring::verify_installation(&state.store, &state.settings)
        .await
        .or_500(lang)?;
    let items = state
        .store
        .coordinators()
        .await
        .or_500(lang)?
        .into_iter()
        .map(|c| CoordinatorItem {
            // Also an active colleague whose signing key nobody vouched for yet (after the
            // upgrade): approving them again is how a person makes it count.
            pending: c.status == "pending" || (c.id != me.row.id && !verified.vouched_signer(&c)),
            awaiting_vouch: c.status == "active" && c.id != me.row.id && !verified.vouched_signer(&c),
            is_me: c.id == me.row.id,
            has_totp: c.totp_sealed.is_some(),
            fingerprint: crate::crypto::sign::coordinator_fingerprint(&c.public_key, c.verifying_key.as_deref()),
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
            errors: vec![("code", lang.staff().err_mfa.to_string())],
            code_field: format!("approve-code-{id}"),
            ..Default::default()
        };
        return coordinators_page(&state, lang, &me, StatusCode::UNAUTHORIZED, None, refused).await;
    }
    // The approver vouches, with their own signature, for exactly the keys whose
    // fingerprint the page showed them: only that makes the new colleague a recipient.
    // An installation from before verification is vouched for first (as at the first
    // inbox after the upgrade): an endorsement without a pin would stop every wrap.
    let pin_file = keyring::pin_path(&state.settings);
    keyring::vouch_for_installation(&state.store, &pin_file, &me.secret, state.clock.now())
        .await
        .or_500(lang)?;
    let verified = keyring::verify(&state.store, &pin_file).await.or_500(lang)?;
    let Some(pending) = state
        .store
        .coordinator(&id)
        .await
        .or_500(lang)?
        .filter(|c| c.status == "pending" || (c.id != me.row.id && !verified.vouched_signer(c)))
    else {
        return Ok(not_found_page(&state, lang));
    };
    let signer = crate::crypto::sign::SigningKey::of(&me.secret);
    let Some(endorsement) = keyring::endorse(
        &signer,
        &pending.id,
        &pending.public_key,
        pending.verifying_key.as_deref(),
    ) else {
        return Ok(not_found_page(&state, lang));
    };
    if !state
        .store
        .approve_with_endorsement(&endorsement, state.clock.now())
        .await
        .or_500(lang)?
    {
        return Ok(not_found_page(&state, lang));
    }
    // The audit row names whom: approving decides who receives reports from now on.
    let target = Some(pending.username);
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
    // Approved is not yet receiving: only a group routes new reports to them.
    let in_a_group = state
        .store
        .group_members()
        .await
        .or_500(lang)?
        .iter()
        .any(|m| m.coordinator_id == id.as_str());
    let done = if in_a_group { "approved" } else { "approved_no_group" };
    Ok(redirect(&lang.href(&format!("{}?done={done}", paths::COORDINATORS))))
}
