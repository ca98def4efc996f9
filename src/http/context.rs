//! A request's context: the one place that decides what a request is served with (the
//! organisation's settings, texts and look, its routing and limits, its storage and keys).
//! Every handler takes [`State`], built here by [`context`], so a later per-organisation
//! context (the host picks the organisation) replaces this function, not the handlers.

use std::future::{ready, Ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use super::AppState;

/// The application as one request sees it. Derefs to [`AppState`].
#[derive(Clone)]
pub struct State(web::Data<AppState>);

impl State {
    /// The shared state behind it, for work that outlives the request (a spawned task).
    pub fn data(&self) -> web::Data<AppState> {
        self.0.clone()
    }
}

impl Deref for State {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl FromRequest for State {
    type Error = actix_web::Error;
    type Future = Ready<Result<State, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(context(req).ok_or_else(|| actix_web::error::ErrorInternalServerError("no application state")))
    }
}

/// The context of `req`. Today one organisation answers on every host, so this is the
/// installation's state; `None` only outside an application (a bare test service).
pub fn context(req: &HttpRequest) -> Option<State> {
    req.app_data::<web::Data<AppState>>().cloned().map(State)
}
