//! Oral reports: a coordinator records a report made by phone or in a meeting on the
//! reporter's behalf, through the same checks, routing and sealing as the form; the service
//! issues a meldcode for the coordinator to hand over, with which the reporter reads the
//! minutes and confirms them or asks for corrections. The coordinator keeps no copy of it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};

use super::{current, lang_of, to_login};
use crate::domain::keyring;
use crate::features::intake::form_snapshot::FormCache;
use crate::features::intake::{seal_and_store, DonePage, Draft, FormPage, Sealing, Stored, ValidReport};
use crate::features::routing;
use crate::http::body::read_body;
use crate::http::context::Feature;
use crate::http::form::body_limit;
use crate::http::form::Form;
use crate::http::{forbidden, message_page, paths, query_lang, render, too_large, OrAppError, Page, PageResult, State};

pub async fn form(state: State, cache: Feature<FormCache>, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let page = FormPage::new(&state, &cache, lang, Draft::default(), vec![])
        .await
        .for_oral(me.session.token.csrf());
    Ok(render(StatusCode::OK, &page))
}

pub async fn record(state: State, cache: Feature<FormCache>, req: HttpRequest, payload: web::Payload) -> PageResult {
    let limit = state.settings.limits.field_chars;
    let form = match read_body(payload, body_limit(limit, 4)).await {
        Ok(b) => Form::parse(&b),
        Err(_) => {
            let lang = query_lang(&req);
            return Ok(too_large(&state, lang));
        }
    };
    let lang = lang_of(&req, &form);
    let t = lang.t();
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let csrf = me.session.token.csrf();
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    let refuse = |errors| async {
        let page = FormPage::new(&state, &cache, lang, Draft::from_form(&form), errors)
            .await
            .for_oral(csrf.clone());
        Ok::<_, crate::http::AppError>(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
    };
    let report = match ValidReport::parse(&form, limit, lang, &state.settings.routing.bodies) {
        Ok(r) => r,
        Err(errors) => return refuse(errors).await,
    };
    let token = crate::features::intake::form_token(&form);
    let verified = keyring::verify_installation(&state.store, &state.settings)
        .await
        .or_500(lang)?;
    verified.log_problems();
    let (Some(token), Some(recovery)) = (token, verified.recovery) else {
        return refuse(vec![("what", t.err_form_expired.to_string())]).await;
    };
    let (about, subject, category) = report.routing_keys();
    // Routed as the form would be; an empty group leaves at least the recorder below.
    let mut recipients = routing::recipients(
        &state.store,
        &verified,
        &state.settings.routing,
        crate::features::routing::Answers {
            label: about,
            role: subject,
            category,
            body: report.body(),
        },
        &[],
    )
    .await
    .or_500(lang)?
    .unwrap_or_default();
    // The coordinator who took the report down can always read it back, if their key is
    // vouched for.
    if let Some(mine) = verified.coordinator(&me.row.id) {
        if !recipients.iter().any(|(id, _)| *id == me.row.id) {
            recipients.push((me.row.id.clone(), mine.to_vec()));
        }
    }
    let page = Page::new(&state, lang, paths::ADMIN).shown_once();
    let outcome = seal_and_store(&state, &report, recovery, &recipients, &token, "oral", Sealing::fresh())
        .await
        .or_500(lang)?;
    let (code, again) = match outcome {
        Stored::Code(code) => (code.display().to_string(), false),
        Stored::Again(shown) => (shown, true),
        Stored::Duplicate => {
            return Ok(message_page(
                &state,
                lang,
                StatusCode::CONFLICT,
                t.duplicate_title,
                t.duplicate_text,
            ))
        }
        Stored::Failed => return refuse(vec![("what", t.err_store.to_string())]).await,
    };
    if !again {
        state
            .store
            .audit(state.clock.now(), Some(&me.row.id), "oral_report_recorded", None)
            .await
            .or_500(lang)?;
    }
    Ok(render(StatusCode::OK, &DonePage::new(page, code, again, true)))
}
