//! The coordinator's side under `/beheer`, one file per page or group of pages; this file
//! holds what they share: the logged-in coordinator of a request and reading a posted form.
//! A coordinator without a wrap for a report gets 404. Audits actions, never content.

pub mod access;
pub mod account;
pub mod admin;
pub mod coordinators;
pub mod elsewhere;
pub mod inbox;
pub mod invite;
pub mod login;
pub mod oral;
pub mod org_settings;
pub mod overview;
pub mod password;
pub mod register;
pub mod report;
pub mod second_factor;
pub mod setup;
pub mod triage;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::crypto::CoordinatorSecret;
use crate::http::body::{read_body, BodyError};
use crate::http::form::Form;
use crate::http::session::{self, ActiveSession, SessionKind};
use crate::http::{paths, query_lang, redirect, AppError, OrAppError, State};
use crate::i18n::Lang;
use crate::storage::CoordinatorRow;

/// A logged-in coordinator with the private key unsealed for this request.
pub struct Coordinator {
    pub session: ActiveSession,
    pub secret: CoordinatorSecret,
    pub row: CoordinatorRow,
}

pub(crate) async fn current(state: &State, req: &HttpRequest, lang: Lang) -> Result<Option<Coordinator>, AppError> {
    let Some(s) = session::current(state, req, SessionKind::Coordinator)
        .await
        .or_500(lang)?
    else {
        return Ok(None);
    };
    let Some(row) = state.store.coordinator(&s.subject_id).await.or_500(lang)? else {
        return Ok(None);
    };
    let Ok(secret) = CoordinatorSecret::from_slice(&s.secret) else {
        return Ok(None);
    };
    if secret.public_bytes().as_slice() != row.public_key.as_slice() {
        return Ok(None);
    }
    Ok(Some(Coordinator {
        session: s,
        secret,
        row,
    }))
}

pub(crate) fn to_login(lang: Lang) -> HttpResponse {
    redirect(&lang.href(paths::LOGIN))
}

pub(crate) async fn read_form(payload: web::Payload, limit: usize) -> Result<Form, BodyError> {
    read_body(payload, limit).await.map(|b| Form::parse(&b))
}

pub(crate) fn lang_of(req: &HttpRequest, form: &Form) -> Lang {
    match form.get("lang") {
        Some(code) => Lang::from_code(Some(code)),
        None => query_lang(req),
    }
}
