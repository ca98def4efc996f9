//! Organisation pages for coordinators: routing groups and their members, and the outbox
//! of notification mails (pending, failing with the last error, given up), so "no mail
//! arrived" is never a mystery. Shows no report and no content.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::{current, lang_of, read_form, to_login};
use crate::domain::keyring;
use crate::features::notify::{format_time, Event};
use crate::features::routing;
use crate::http::not_found_page;
use crate::http::{forbidden, paths, query_lang, redirect, render, OrAppError, Page, PageResult, State};
use crate::i18n::Lang;

pub struct GroupView {
    pub name: String,
    pub label: String,
    /// (coordinator id, display name, username, active)
    pub members: Vec<(String, String, String, bool)>,
    /// Coordinators not in the group yet: (id, display name).
    pub candidates: Vec<(String, String)>,
    /// Members whose membership no signature vouches for (added by the command line, or by
    /// hand): they receive nothing through the group until a coordinator confirms them.
    pub unconfirmed: Vec<String>,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    page: Page,
    csrf: String,
    /// Adding or confirming a member asks for a fresh second-factor code.
    ask_code: bool,
    groups: Vec<GroupView>,
    notice: Option<String>,
    error: Option<String>,
}

async fn groups_page(
    state: &State,
    lang: Lang,
    me: &super::Coordinator,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> PageResult {
    let members = state.store.group_members().await.or_500(lang)?;
    let verified = keyring::verify_installation(&state.store, &state.settings)
        .await
        .or_500(lang)?;
    let everyone = state.store.coordinators().await.or_500(lang)?;
    let groups = state
        .store
        .groups()
        .await
        .or_500(lang)?
        .into_iter()
        .map(|(name, label)| {
            let inside: Vec<(String, String, String, bool)> = members
                .iter()
                .filter(|m| m.group_name == name)
                .map(|m| {
                    (
                        m.coordinator_id.clone(),
                        m.display_name.clone(),
                        m.username.clone(),
                        m.status == "active",
                    )
                })
                .collect();
            let candidates = everyone
                .iter()
                .filter(|c| !inside.iter().any(|(id, ..)| *id == c.id))
                .map(|c| (c.id.clone(), c.display_name.clone()))
                .collect();
            let unconfirmed = inside
                .iter()
                .filter(|(id, _, _, active)| *active && !verified.unvouched && !verified.routes_to(&name, id))
                .map(|(id, ..)| id.clone())
                .collect();
            GroupView {
                name,
                label,
                members: inside,
                candidates,
                unconfirmed,
            }
        })
        .collect();
    let page = Page::new(state, lang, paths::GROUPS);
    Ok(render(
        status,
        &GroupsPage {
            page,
            csrf: me.session.token.csrf(),
            ask_code: me.row.totp_sealed.is_some(),
            groups,
            notice,
            error,
        },
    ))
}

pub async fn groups(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let s = lang.staff();
    let notice = match req.query_string() {
        q if q.contains("done=added") => Some(s.member_added.to_string()),
        q if q.contains("done=removed") => Some(s.member_removed.to_string()),
        _ => None,
    };
    groups_page(&state, lang, &me, StatusCode::OK, notice, None).await
}

/// Shared start of the two membership posts: session, CSRF, a known group and coordinator.
async fn membership_post(
    state: &State,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<
    Result<(Lang, super::Coordinator, String, String, crate::http::form::Form), actix_web::HttpResponse>,
    crate::http::AppError,
> {
    let form = read_form(payload, 4096).await.unwrap_or_default();
    let lang = lang_of(req, &form);
    let Some(me) = current(state, req, lang).await? else {
        return Ok(Err(to_login(lang)));
    };
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(Err(forbidden(state, lang)));
    }
    let (group, who) = (form.text("group"), form.text("coordinator"));
    let known_group = state
        .store
        .groups()
        .await
        .or_500(lang)?
        .iter()
        .any(|(n, _)| *n == group);
    let known_coordinator = state.store.coordinator(&who).await.or_500(lang)?.is_some();
    if !known_group || !known_coordinator {
        return Ok(Err(not_found_page(state, lang)));
    }
    Ok(Ok((lang, me, group, who, form)))
}

/// "group: username" for the audit row of a membership change (whom it concerns).
async fn member_detail(state: &State, group: &str, who: &str) -> String {
    let name = match state.store.coordinator(who).await {
        Ok(Some(c)) => c.username,
        _ => who.to_string(),
    };
    format!("{group}: {name}")
}

pub async fn add_member(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let (lang, me, group, who, form) = match membership_post(&state, &req, payload).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    // A new member receives every new report routed to the group: widening who reads asks
    // for a fresh second-factor code, and the membership is signed by whoever added it.
    if !super::second_factor::fresh_second_factor(&state, &me, &form)
        .await
        .or_500(lang)?
    {
        return groups_page(
            &state,
            lang,
            &me,
            StatusCode::UNAUTHORIZED,
            None,
            Some(lang.staff().err_mfa.to_string()),
        )
        .await;
    }
    let signer = crate::crypto::sign::SigningKey::of(&me.secret);
    let Some((by, signature)) = keyring::sign_membership(&signer, &group, &who) else {
        return Ok(not_found_page(&state, lang));
    };
    if !state
        .store
        .add_signed_member(&group, &who, &by, &signature)
        .await
        .or_500(lang)?
    {
        return Ok(not_found_page(&state, lang));
    }
    let detail = member_detail(&state, &group, &who).await;
    state
        .store
        .audit_detail(
            state.clock.now(),
            Some(&me.row.id),
            "group_member_added",
            None,
            Some(&detail),
        )
        .await
        .or_500(lang)?;
    Ok(redirect(&lang.href(&format!("{}?done=added", paths::GROUPS))))
}

pub async fn remove_member(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let (lang, me, group, who, _) = match membership_post(&state, &req, payload).await? {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    if let Err(why) = routing::check_removal(&state.store, &state.settings.routing, Some(&group), &who)
        .await
        .or_500(lang)?
    {
        let msg = match lang {
            Lang::Nl => format!("Niet gedaan: de routeringsregel heeft een actief lid nodig ({why})."),
            Lang::En => format!("Not done: {why}."),
        };
        return groups_page(&state, lang, &me, StatusCode::CONFLICT, None, Some(msg)).await;
    }
    state.store.remove_member(&group, &who).await.or_500(lang)?;
    let detail = member_detail(&state, &group, &who).await;
    state
        .store
        .audit_detail(
            state.clock.now(),
            Some(&me.row.id),
            "group_member_removed",
            None,
            Some(&detail),
        )
        .await
        .or_500(lang)?;
    Ok(redirect(&lang.href(&format!("{}?done=removed", paths::GROUPS))))
}

pub struct OutboxItem {
    pub recipient: String,
    pub kind: &'static str,
    pub state: &'static str,
    pub state_code: String,
    pub due: String,
    pub attempts: i64,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    page: Page,
    csrf: String,
    items: Vec<OutboxItem>,
}

pub async fn outbox(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let s = lang.staff();
    let items = state
        .store
        .outbox(200)
        .await
        .or_500(lang)?
        .into_iter()
        .map(|r| OutboxItem {
            recipient: r.display_name,
            kind: Event::label(&r.kind, lang),
            state: match r.state.as_str() {
                "sent" => s.state_sent,
                "given_up" => s.state_given_up,
                _ => s.state_pending,
            },
            state_code: r.state,
            due: format_time(r.sent_at.unwrap_or(r.due_at)),
            attempts: r.attempts,
            last_error: r.last_error.unwrap_or_default(),
        })
        .collect();
    let page = Page::new(&state, lang, paths::OUTBOX);
    Ok(render(
        StatusCode::OK,
        &OutboxPage {
            page,
            csrf: me.session.token.csrf(),
            items,
        },
    ))
}
