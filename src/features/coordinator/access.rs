//! Who may read a report: granting access re-wraps the report key to another active
//! coordinator's public key; revoking or stepping aside deletes a wrap, refused when no
//! coordinator would be left. Every change is audited (who, which report, whom; no content).

use actix_web::{web, HttpRequest};

use super::report::{report_page, report_post};
use super::Coordinator;
use crate::domain::keyring;
use crate::features::casefile::ReplyState;
use crate::http::{paths, redirect, OrAppError, PageResult, State};
use crate::ids;
use crate::storage::WrapRemoval;

/// (id, display name, is me) of coordinators with access, and (id, name) of active ones
/// without who may be given it (not those the reporter excluded), for the report page.
pub async fn access_lists(
    state: &State,
    report_id: &str,
    me: &Coordinator,
    excluded: &[String],
) -> Result<(Vec<(String, String, bool)>, Vec<(String, String)>), sqlx::Error> {
    let holders = state.store.coordinators_with_access(report_id).await?;
    let everyone = state.store.coordinators().await?;
    let with = everyone
        .iter()
        .filter(|c| holders.contains(&c.id))
        .map(|c| (c.id.clone(), c.display_name.clone(), c.id == me.row.id))
        .collect();
    let without = everyone
        .iter()
        .filter(|c| c.status == "active" && !holders.contains(&c.id) && !excluded.contains(&c.id))
        .map(|c| (c.id.clone(), c.display_name.clone()))
        .collect();
    Ok((with, without))
}

/// `POST /beheer/melding/{id}/toegang`: give another active coordinator access.
pub async fn grant(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let (lang, form, me, key, row) = match report_post(&state, &req, &id, payload, 4096).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    // Giving access widens who can read the report: the granter proves their second factor
    // now, so a stolen session alone cannot hand the report to an accomplice.
    if !super::second_factor::fresh_second_factor(&state, &me, &form)
        .await
        .or_500(lang)?
    {
        let shown = ReplyState::refused(String::new(), vec![("access", lang.staff().err_mfa.to_string())]);
        return report_page(&state, lang, &me, key, row, shown).await;
    }
    let target = form.text("coordinator");
    let who = state
        .store
        .coordinator(&target)
        .await
        .or_500(lang)?
        .filter(|c| c.status == "active");
    // Someone the reporter excluded cannot be given access; answered as for an unknown
    // colleague, so the page does not say whom the reporter kept away.
    let excluded = crate::features::casefile::excluded(&state.store, &row.id, &key)
        .await
        .or_500(lang)?;
    let who = who.filter(|c| !excluded.contains(&c.id));
    let (Some(who), Some(rid)) = (who, ids::parse(&row.id)) else {
        return Ok(crate::http::not_found_page(&state, lang));
    };
    // Only to a colleague whose key is vouched for, with the key that was vouched for.
    let verified = keyring::verify_installation(&state.store, &state.settings)
        .await
        .or_500(lang)?;
    let Some(public) = verified.coordinator(&who.id) else {
        return Ok(crate::http::not_found_page(&state, lang));
    };
    let Some(wrapped) = keyring::wrap_to_coordinator(&key, rid, &who.id, &public).or_500(lang)? else {
        return Ok(crate::http::not_found_page(&state, lang));
    };
    if state
        .store
        .add_wrap(&row.id, &who.id, &wrapped, key.has_staff_key())
        .await
        .or_500(lang)?
    {
        state
            .store
            .audit_detail(
                state.clock.now(),
                Some(&me.row.id),
                "access_granted",
                Some(&row.id),
                Some(&who.username),
            )
            .await
            .or_500(lang)?;
    }
    Ok(redirect(
        &lang.href(&format!("{}?done=granted", paths::admin_report(&row.id))),
    ))
}

/// `POST /beheer/melding/{id}/toegang-intrekken`: revoke someone's access, or (for oneself)
/// step aside; refused if nobody would be left.
pub async fn revoke(state: State, req: HttpRequest, id: web::Path<String>, payload: web::Payload) -> PageResult {
    let (lang, form, me, key, row) = match report_post(&state, &req, &id, payload, 4096).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    let target = form.text("coordinator");
    let stepping_aside = target == me.row.id;
    // Stepping aside cannot be undone by oneself: it needs the second button, which says so.
    if stepping_aside && form.text("confirm") != "1" {
        let shown = ReplyState::refused(
            String::new(),
            vec![("access", lang.staff().step_aside_confirm.to_string())],
        );
        return report_page(&state, lang, &me, key, row, shown).await;
    }
    match state
        .store
        .remove_wrap_unless_last(&row.id, &target)
        .await
        .or_500(lang)?
    {
        WrapRemoval::Removed => {}
        WrapRemoval::NotHeld => return Ok(crate::http::not_found_page(&state, lang)),
        WrapRemoval::WouldLeaveNobody => {
            let shown = ReplyState::refused(
                String::new(),
                vec![("access", lang.staff().err_last_access.to_string())],
            );
            return report_page(&state, lang, &me, key, row, shown).await;
        }
    }
    let (action, detail) = if stepping_aside {
        ("stepped_aside", None)
    } else {
        (
            "access_revoked",
            state.store.coordinator(&target).await.or_500(lang)?.map(|c| c.username),
        )
    };
    state
        .store
        .audit_detail(
            state.clock.now(),
            Some(&me.row.id),
            action,
            Some(&row.id),
            detail.as_deref(),
        )
        .await
        .or_500(lang)?;
    if stepping_aside {
        Ok(redirect(&lang.href(&format!("{}?done=stepped_aside", paths::ADMIN))))
    } else {
        Ok(redirect(
            &lang.href(&format!("{}?done=revoked", paths::admin_report(&row.id))),
        ))
    }
}
