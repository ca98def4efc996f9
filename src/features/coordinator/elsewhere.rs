//! One person, one login, several organisations of a shared installation (an external
//! integrity bureau): linking one's account here to one's own account at another
//! organisation, and switching between them without logging in again. Each account was
//! approved by its own organisation's coordinators; the link only lets one login open the
//! other account (its secret sealed to the home account's key), it gives nobody else
//! anything. The only place a request of one organisation touches another's store.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use zeroize::Zeroizing;

use super::{account, current, lang_of, read_form, to_login, Coordinator};
use crate::domain::keyring;
use crate::http::session;
use crate::http::tenants::{host_of_url, normal_host, Organisations, Pick};
use crate::http::{forbidden, paths, query_lang, redirect, render, AppState, OrAppError, Page, PageResult, State};
use crate::i18n::Lang;

/// The page's texts (few, and only here).
struct Texts {
    intro: &'static str,
    switch_heading: &'static str,
    none_yet: &'static str,
    switch_button: &'static str,
    link_heading: &'static str,
    link_intro: &'static str,
    address: &'static str,
    address_hint: &'static str,
    username: &'static str,
    password_there: &'static str,
    password_here: &'static str,
    link_button: &'static str,
    linked: &'static str,
    err_address: &'static str,
    err_login: &'static str,
    err_here: &'static str,
    err_gone: &'static str,
    err_busy: &'static str,
    arrive_failed: &'static str,
}

fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Nl => &Texts {
            intro: "Werkt u als coördinator voor meer organisaties op deze installatie, bijvoorbeeld als extern integriteitsbureau? Koppel dan uw accounts: u logt één keer in en stapt over zonder opnieuw in te loggen. Elke organisatie keurt uw account daar zelf goed.",
            switch_heading: "Overstappen",
            none_yet: "Uw account is nog niet aan een account bij een andere organisatie gekoppeld.",
            switch_button: "Overstappen naar",
            link_heading: "Een account bij een andere organisatie koppelen",
            link_intro: "Vul de gegevens in van uw eigen, goedgekeurde account bij de andere organisatie, en ter bevestiging uw wachtwoord hier. Daarna opent inloggen bij de ene organisatie ook uw account bij de andere.",
            address: "Adres van de andere organisatie",
            address_hint: "Zoals u het in de adresbalk typt, bijvoorbeeld meldpunt.gemeente.nl",
            username: "Uw gebruikersnaam daar",
            password_there: "Uw wachtwoord daar",
            password_here: "Uw wachtwoord hier",
            link_button: "Koppelen",
            linked: "Gekoppeld. U kunt nu overstappen.",
            err_address: "Op dit adres vinden we geen andere organisatie van deze installatie.",
            err_login: "Gebruikersnaam of wachtwoord bij de andere organisatie klopt niet, of dat account is daar nog niet goedgekeurd.",
            err_here: "Uw wachtwoord hier klopt niet.",
            err_gone: "Deze koppeling werkt niet meer: het account bij de andere organisatie is verwijderd of niet meer goedgekeurd. Log daar zelf in.",
            err_busy: "Het is nu erg druk. Probeer het over een minuut opnieuw.",
            arrive_failed: "Deze overstaplink is al gebruikt of verlopen (een link werkt één minuut). Stap opnieuw over, of log hier in.",
        },
        Lang::En => &Texts {
            intro: "Do you coordinate for several organisations on this installation, for example as an external integrity bureau? Link your accounts: you log in once and switch without logging in again. Each organisation approves your account there itself.",
            switch_heading: "Switch",
            none_yet: "Your account is not linked to an account at another organisation yet.",
            switch_button: "Switch to",
            link_heading: "Link an account at another organisation",
            link_intro: "Enter the details of your own, approved account at the other organisation, and your password here to confirm. After that, logging in at one organisation also opens your account at the other.",
            address: "Address of the other organisation",
            address_hint: "As you type it in the address bar, for example meldpunt.gemeente.nl",
            username: "Your username there",
            password_there: "Your password there",
            password_here: "Your password here",
            link_button: "Link",
            linked: "Linked. You can switch now.",
            err_address: "We find no other organisation of this installation at that address.",
            err_login: "The username or password at the other organisation is wrong, or that account is not approved there yet.",
            err_here: "Your password here is wrong.",
            err_gone: "This link no longer works: the account at the other organisation was removed or is no longer approved. Log in there yourself.",
            err_busy: "It is very busy right now. Please try again in a minute.",
            arrive_failed: "This switch link was used already or has expired (a link works for one minute). Switch again, or log in here.",
        },
    }
}

#[derive(Template)]
#[template(path = "elsewhere.html")]
struct ElsewherePage {
    page: Page,
    x: &'static Texts,
    csrf: String,
    /// (organisation id, name) the account may switch to.
    targets: Vec<(i64, String)>,
    address: String,
    username: String,
    errors: crate::http::form::FieldErrors,
    notice: Option<&'static str>,
}

impl ElsewherePage {
    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }
    fn field_id<'a>(&self, name: &'a str) -> &'a str {
        name
    }
}

fn organisations(req: &HttpRequest) -> Option<web::Data<Organisations>> {
    req.app_data::<web::Data<Organisations>>().cloned()
}

/// The organisations `me` may switch to that serve now, with their names.
async fn targets(
    state: &State,
    req: &HttpRequest,
    me: &Coordinator,
    lang: Lang,
) -> Result<Vec<(i64, String)>, crate::http::AppError> {
    let Some(orgs) = organisations(req) else {
        return Ok(vec![]);
    };
    let ids = state.store.elsewhere(&me.row.id).await.or_500(lang)?;
    Ok(ids
        .into_iter()
        .filter_map(|id| orgs.get(id))
        .filter_map(|o| o.state.as_ref().map(|s| (o.id, s.settings.organisation.name.clone())))
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn page(
    state: &State,
    lang: Lang,
    me: &Coordinator,
    targets: Vec<(i64, String)>,
    status: StatusCode,
    typed: (String, String),
    error: Option<(&'static str, &str)>,
    notice: Option<&'static str>,
) -> actix_web::HttpResponse {
    render(
        status,
        &ElsewherePage {
            page: Page::new(state, lang, paths::ELSEWHERE),
            x: texts(lang),
            csrf: me.session.token.csrf(),
            targets,
            address: typed.0,
            username: typed.1,
            errors: error.map(|(f, m)| (f, m.to_string())).into_iter().collect(),
            notice,
        },
    )
}

/// `GET /beheer/organisaties`.
pub async fn show(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let targets = targets(&state, &req, &me, lang).await?;
    let notice = req.query_string().contains("done=linked").then_some(texts(lang).linked);
    Ok(page(
        &state,
        lang,
        &me,
        targets,
        StatusCode::OK,
        Default::default(),
        None,
        notice,
    ))
}

/// `POST /beheer/organisaties/koppelen`: links this account and the person's own account
/// at another organisation, both ways, after both passwords are checked.
pub async fn link(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 16 * 1024).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let x = texts(lang);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    let address = form.text("address").trim().to_string();
    let username = form.text("username").trim().to_string();
    let (password_there, password_here) = (
        Zeroizing::new(form.text("password")),
        Zeroizing::new(form.text("current")),
    );
    let typed = (address.clone(), username.clone());
    let targets_now = targets(&state, &req, &me, lang).await?;
    let refuse = |status, field: &'static str, msg: &str| {
        page(
            &state,
            lang,
            &me,
            targets_now.clone(),
            status,
            typed.clone(),
            Some((field, msg)),
            None,
        )
    };
    // The other organisation, by the address its people type; never this one.
    let host = host_of_url(&address).unwrap_or_else(|_| normal_host(address.split('/').next().unwrap_or_default()));
    let other = match organisations(&req).map(|o| o.pick(&host)) {
        Some(Pick::Serve(other)) if other.org_id != state.org_id && !host.is_empty() => other,
        _ => return Ok(refuse(StatusCode::UNPROCESSABLE_ENTITY, "address", x.err_address)),
    };
    // Both passwords, each throttled like a login at its own organisation.
    let now = state.clock.now();
    let Some(here_try) = state.login_throttle.admit(format!("pw:{}", me.row.id).as_bytes(), now) else {
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, "current", x.err_busy));
    };
    match account::unlock(&state.kdf, Some(&me.row), &password_here).await {
        Ok(Some(_)) => here_try.succeeded(),
        Ok(None) => return Ok(refuse(StatusCode::UNPROCESSABLE_ENTITY, "current", x.err_here)),
        Err(_) => {
            here_try.not_checked();
            return Ok(crate::http::retry_later(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "current",
                x.err_busy,
            )));
        }
    }
    let throttle_key = format!("login:{}", username.to_lowercase());
    let Some(there_try) = other.login_throttle.admit(throttle_key.as_bytes(), other.clock.now()) else {
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, "username", x.err_busy));
    };
    let row = other
        .store
        .coordinator_by_username(&username)
        .await
        .or_500(lang)?
        .filter(|r| r.status == "active");
    let secret_there = match account::unlock(&other.kdf, row.as_ref(), &password_there).await {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(refuse(StatusCode::UNPROCESSABLE_ENTITY, "username", x.err_login)),
        Err(_) => {
            there_try.not_checked();
            return Ok(crate::http::retry_later(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "username",
                x.err_busy,
            )));
        }
    };
    there_try.succeeded();
    let Some(row) = row else {
        return Ok(refuse(StatusCode::UNPROCESSABLE_ENTITY, "username", x.err_login));
    };
    // Only accounts each organisation's own chain of signatures vouches for are linked: a
    // row made active by hand at either side links nothing.
    let here_ok = keyring::verify_installation(&state.store, &state.settings)
        .await
        .or_500(lang)?
        .coordinator(&me.row.id)
        .is_some();
    let there_ok = keyring::verify_installation(&other.store, &other.settings)
        .await
        .or_500(lang)?
        .coordinator(&row.id)
        .is_some();
    if !here_ok || !there_ok {
        return Ok(refuse(StatusCode::UNPROCESSABLE_ENTITY, "username", x.err_login));
    }
    let here_for_there = keyring::link_secret(&me.secret, &me.row.id, &secret_there.public_bytes()).or_500(lang)?;
    let there_for_here = keyring::link_secret(&secret_there, &row.id, &me.secret.public_bytes()).or_500(lang)?;
    state
        .store
        .link_coordinator(&me.row.id, other.org_id, &row.id, &here_for_there, now)
        .await
        .or_500(lang)?;
    other
        .store
        .link_coordinator(&row.id, state.org_id, &me.row.id, &there_for_here, now)
        .await
        .or_500(lang)?;
    state.store.add_elsewhere(&me.row.id, other.org_id).await.or_500(lang)?;
    other.store.add_elsewhere(&row.id, state.org_id).await.or_500(lang)?;
    state
        .store
        .audit(now, Some(&me.row.id), "linked_elsewhere", None)
        .await
        .or_500(lang)?;
    other
        .store
        .audit(now, Some(&row.id), "linked_elsewhere", None)
        .await
        .or_500(lang)?;
    Ok(redirect(&format!("{}?done=linked", lang.href(paths::ELSEWHERE))))
}

/// `POST /beheer/organisaties/overstappen`: opens the linked account at another
/// organisation with this session's key and hands a one-minute session over to its host.
pub async fn switch(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 4096).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let x = texts(lang);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    let targets_now = targets(&state, &req, &me, lang).await?;
    let gone = |targets: Vec<(i64, String)>| {
        page(
            &state,
            lang,
            &me,
            targets,
            StatusCode::CONFLICT,
            Default::default(),
            Some(("switch", x.err_gone)),
            None,
        )
    };
    let wanted: Option<i64> = form.text("organisation").parse().ok();
    let Some(there) = wanted.filter(|id| targets_now.iter().any(|(t, _)| t == id)) else {
        return Ok(gone(targets_now));
    };
    let Some(other) = organisations(&req)
        .and_then(|o| o.get(there))
        .and_then(|o| o.state.clone())
    else {
        return Ok(gone(targets_now));
    };
    let Some(token) = hand_over(&state, &other, &me).await.or_500(lang)? else {
        return Ok(gone(targets_now));
    };
    let now = state.clock.now();
    state
        .store
        .audit(now, Some(&me.row.id), "switched_out", None)
        .await
        .or_500(lang)?;
    let base = other.settings.http.public_url.trim_end_matches('/');
    Ok(redirect(&format!("{base}{}{token}", paths::ARRIVE_PREFIX)))
}

/// The linked account at `other`, opened with `me`'s key and checked as a login there is
/// (active, its key vouched for by `other`'s chain): a handover token, or `None`.
async fn hand_over(state: &AppState, other: &AppState, me: &Coordinator) -> anyhow::Result<Option<String>> {
    let Some(link) = other.store.coordinator_link(state.org_id, &me.row.id).await? else {
        return Ok(None);
    };
    let Ok(secret) = keyring::open_link(&link.wrapped_secret, &link.coordinator_id, &me.secret) else {
        return Ok(None);
    };
    let Some(row) = other.store.coordinator(&link.coordinator_id).await? else {
        return Ok(None);
    };
    if row.status != "active" || row.public_key.as_slice() != secret.public_bytes().as_slice() {
        return Ok(None);
    }
    // An account there with a second factor is not opened by a login here without one.
    if row.totp_sealed.is_some() && me.row.totp_sealed.is_none() {
        return Ok(None);
    }
    let verified = keyring::verify_installation(&other.store, &other.settings).await?;
    if verified.coordinator(&row.id).is_none() {
        return Ok(None);
    }
    let token = session::start_handoff(other, &row.id, secret.to_zeroizing_bytes().as_ref()).await?;
    Ok(Some(token))
}

/// `GET /beheer/overstappen/{token}`: the other organisation's half of a switch.
pub async fn arrive(state: State, req: HttpRequest, token: web::Path<String>) -> PageResult {
    let lang = query_lang(&req);
    match session::take_handoff(&state, &token).await.or_500(lang)? {
        Some((cookie, subject)) => {
            state
                .store
                .audit(state.clock.now(), Some(&subject), "switched_in", None)
                .await
                .or_500(lang)?;
            let mut res = redirect(&lang.href(paths::ADMIN));
            res.add_cookie(&cookie).or_500(lang)?;
            Ok(res)
        }
        None => Ok(crate::http::message_page(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            lang.staff().elsewhere_title,
            texts(lang).arrive_failed,
        )),
    }
}
