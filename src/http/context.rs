//! A request's context: the one place that decides what a request is served with (the
//! organisation's settings, texts and look, its routing and limits, its storage and keys).
//! Every handler takes [`State`], built here by [`context`] from the organisation the
//! request's host picked ([`super::tenants::pick_organisation`]), and a feature's own
//! per-organisation data through [`Feature`].

use std::future::{ready, Ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::AppState;

/// The application as one request sees it. Derefs to [`AppState`].
#[derive(Clone)]
pub struct State(web::Data<AppState>);

impl State {
    pub fn from_data(data: web::Data<AppState>) -> State {
        State(data)
    }

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

/// The context of `req`: the organisation its host picked. A bare test service (no
/// organisations) has its state as app data. `None` when neither is there: the request
/// then reaches no organisation's data.
pub fn context(req: &HttpRequest) -> Option<State> {
    if let Some(state) = req.extensions().get::<State>() {
        return Some(state.clone());
    }
    if req.app_data::<web::Data<super::tenants::Organisations>>().is_some() {
        return None;
    }
    req.app_data::<web::Data<AppState>>().cloned().map(State)
}

/// A feature's own data of the request's organisation (see [`super::tenants::FeatureMap`]).
pub struct Feature<T>(std::sync::Arc<T>);

impl<T> Deref for Feature<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: std::any::Any + Send + Sync> FromRequest for Feature<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Feature<T>, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            context(req)
                .and_then(|s| s.features.get::<T>())
                .map(Feature)
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("no feature state")),
        )
    }
}
