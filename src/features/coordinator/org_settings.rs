//! The settings page (`/beheer/instellingen`): an organisation's own active coordinators
//! edit its name, colour, security contact, oral-report contact, retention days, digest
//! times, its default groups and whom a reporter may exclude. The routing rules are shown,
//! not edited: they stay the operator's (`meldpunt organisation configure`).
//!
//! A change is written into the organisation's own settings (TOML, in the installation's
//! registry) with every key it set before kept, after it was checked as the service will
//! read it; the service reopens the organisation with it within two seconds. A change that
//! widens who reads reports (a default group added, someone taken off the excludable list)
//! asks for a fresh second-factor code. Audited by the keys changed, never with content.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{current, lang_of, read_form, to_login, Coordinator};
use crate::domain::keyring;
use crate::features::{notify, routing};
use crate::http::form::{is_invisible, FieldErrors, Form};
use crate::http::{
    forbidden, message_page, not_found_page, paths, query_lang, redirect, render, OrAppError, Page, PageResult, State,
};
use crate::i18n::Lang;
use crate::settings::{contrast_on_white, OrganisationSettings, Settings};
use crate::storage::OrganisationEntry;

const NAME_CHARS: usize = 200;
const CONTACT_CHARS: usize = 200;
const ORAL_CHARS: usize = 500;
const DIGEST_TIMES: usize = 24;

/// What the form holds: as set, or as typed (kept when refused).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Values {
    pub name: String,
    pub colour: String,
    pub security_contact: String,
    pub oral_contact: String,
    pub keep_days: String,
    pub extend_days: String,
    pub digest_times: String,
    pub default_groups: Vec<String>,
    pub excludable: Vec<String>,
}

impl Values {
    /// The values an organisation is served with.
    pub fn of(s: &Settings) -> Values {
        Values {
            name: s.organisation.name.clone(),
            colour: s.organisation.colour.clone(),
            security_contact: s.organisation.security_contact.clone(),
            oral_contact: s.organisation.oral_contact.clone(),
            keep_days: s.retention.keep_days_after_closing.to_string(),
            extend_days: s.retention.extend_days.to_string(),
            digest_times: s.notify.digest_times.join(", "),
            default_groups: s.routing.default_groups.clone(),
            excludable: s.routing.excludable.clone(),
        }
    }

    fn from_form(form: &Form) -> Values {
        let list = |name: &str| {
            let mut v: Vec<String> = form.all(name).into_iter().map(str::to_string).collect();
            v.dedup();
            v
        };
        Values {
            name: form.text("name"),
            colour: form.text("colour"),
            security_contact: form.text("security_contact"),
            oral_contact: form.text("oral_contact"),
            keep_days: form.text("keep_days"),
            extend_days: form.text("extend_days"),
            digest_times: form.text("digest_times"),
            default_groups: list("default_groups"),
            excludable: list("excludable"),
        }
    }
}

/// A checked edit: the values the organisation will be served with.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub name: String,
    pub colour: String,
    pub security_contact: String,
    pub oral_contact: String,
    pub keep_days: i64,
    pub extend_days: i64,
    pub digest_times: Vec<String>,
    pub default_groups: Vec<String>,
    pub excludable: Vec<String>,
}

/// The choices the page offers: groups (name, label) and coordinators (username, name).
#[derive(Default)]
pub struct Choices {
    pub groups: Vec<(String, String)>,
    pub coordinators: Vec<(String, String)>,
}

fn has_hidden_characters(text: &str) -> bool {
    text.chars().any(|c| c.is_control() || is_invisible(c))
}

/// `08:00, 16:30` → `["08:00", "16:30"]` (sorted, once each); the first word that is no
/// time when it is not.
pub fn parse_digest_times(text: &str) -> Result<Vec<String>, String> {
    let mut times = Vec::new();
    for word in text.split([',', ';', ' ', '\t']).filter(|w| !w.is_empty()) {
        let t = chrono::NaiveTime::parse_from_str(word, "%H:%M").map_err(|_| word.to_string())?;
        times.push(t.format("%H:%M").to_string());
    }
    times.sort();
    times.dedup();
    Ok(times)
}

/// Checks what was typed against what is set (`now`): a field typed as it is set passes as
/// it is (the operator's configuration set it), a changed one must be valid. The errors
/// name the field, in the user's language.
pub fn check(values: &Values, now: &Values, choices: &Choices, lang: Lang) -> Result<Edit, FieldErrors> {
    let t = lang.staff().org_settings;
    let mut errors: FieldErrors = Vec::new();
    let changed = |typed: &str, set: &str| typed.trim() != set.trim();

    let name = values.name.trim().to_string();
    if changed(&name, &now.name) {
        if name.is_empty() || name.chars().count() > NAME_CHARS {
            errors.push(("name", t.err_name.to_string()));
        } else if has_hidden_characters(&name) {
            errors.push(("name", t.err_invisible.to_string()));
        }
    }

    let colour = values.colour.trim().to_ascii_lowercase();
    if changed(&colour, &now.colour.to_ascii_lowercase()) {
        let probe = OrganisationSettings {
            colour: colour.clone(),
            ..Default::default()
        };
        match probe.colour_rgb() {
            None => errors.push(("colour", t.err_colour_form.to_string())),
            Some(rgb) if contrast_on_white(rgb) < 4.5 => {
                let ratio = format!("{:.1}", contrast_on_white(rgb));
                let ratio = if lang == Lang::Nl {
                    ratio.replace('.', ",")
                } else {
                    ratio
                };
                errors.push((
                    "colour",
                    t.err_colour_contrast
                        .replace("{colour}", &colour)
                        .replace("{ratio}", &ratio),
                ));
            }
            Some(_) => {}
        }
    }

    let security_contact = values.security_contact.trim().to_string();
    if changed(&security_contact, &now.security_contact) {
        let scheme = ["mailto:", "https://", "tel:"]
            .iter()
            .any(|p| security_contact.len() > p.len() && security_contact.starts_with(p));
        if !scheme
            || security_contact.chars().count() > CONTACT_CHARS
            || security_contact
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        {
            errors.push(("security_contact", t.err_security_contact.to_string()));
        }
    }

    let oral_contact = values.oral_contact.trim().to_string();
    if changed(&oral_contact, &now.oral_contact) {
        if oral_contact.chars().count() > ORAL_CHARS {
            errors.push(("oral_contact", t.err_oral.to_string()));
        } else if has_hidden_characters(&oral_contact) {
            errors.push(("oral_contact", t.err_invisible.to_string()));
        }
    }

    let days = |typed: &str, max: i64| typed.trim().parse::<i64>().ok().filter(|d| (1..=max).contains(d));
    let keep_days = days(&values.keep_days, 36_500);
    if keep_days.is_none() {
        errors.push(("keep_days", t.err_keep_days.to_string()));
    }
    let extend_days = days(&values.extend_days, 3_650);
    if extend_days.is_none() {
        errors.push(("extend_days", t.err_extend_days.to_string()));
    }

    let digest_times = match parse_digest_times(&values.digest_times) {
        Ok(times) if times.len() > DIGEST_TIMES => {
            errors.push(("digest_times", t.err_digest_many.to_string()));
            vec![]
        }
        Ok(times) => times,
        Err(word) => {
            errors.push(("digest_times", t.err_digest_time.replace("{time}", &word)));
            vec![]
        }
    };

    // Only what the page offered (and what is set now, if the page could not name it).
    let offered_group = |g: &String| choices.groups.iter().any(|(n, _)| n == g) || now.default_groups.contains(g);
    if values.default_groups.is_empty() {
        errors.push(("default_groups", t.err_default_groups_empty.to_string()));
    } else if !values.default_groups.iter().all(offered_group) {
        errors.push(("default_groups", t.err_unknown_choice.to_string()));
    }
    let offered_person = |u: &String| choices.coordinators.iter().any(|(n, _)| n == u) || now.excludable.contains(u);
    if !values.excludable.iter().all(offered_person) {
        errors.push(("excludable", t.err_unknown_choice.to_string()));
    }

    // What stays keeps its place; what is added follows, in the page's order.
    let ordered = |ticked: &[String], set: &[String], offered: Vec<&String>| {
        let mut out: Vec<String> = set.iter().filter(|x| ticked.contains(x)).cloned().collect();
        for x in offered {
            if ticked.contains(x) && !out.contains(x) {
                out.push(x.clone());
            }
        }
        out
    };
    let default_groups = ordered(
        &values.default_groups,
        &now.default_groups,
        choices.groups.iter().map(|(n, _)| n).collect(),
    );
    let excludable = ordered(
        &values.excludable,
        &now.excludable,
        choices.coordinators.iter().map(|(u, _)| u).collect(),
    );

    match (keep_days, extend_days) {
        (Some(keep_days), Some(extend_days)) if errors.is_empty() => Ok(Edit {
            name,
            colour,
            security_contact,
            oral_contact,
            keep_days,
            extend_days,
            digest_times,
            default_groups,
            excludable,
        }),
        _ => Err(errors),
    }
}

impl Edit {
    /// The keys this edit changes against what is served now, each with what it changes
    /// (for the audit trail: settings only, never anything of a report).
    pub fn changes(&self, now: &Settings) -> Vec<String> {
        let mut out = Vec::new();
        let o = &now.organisation;
        let mut scalar = |key: &str, differs: bool| {
            if differs {
                out.push(key.to_string());
            }
        };
        scalar("organisation.name", self.name != o.name);
        scalar("organisation.colour", self.colour != o.colour.to_ascii_lowercase());
        scalar(
            "organisation.security_contact",
            self.security_contact != o.security_contact,
        );
        scalar("organisation.oral_contact", self.oral_contact != o.oral_contact);
        scalar(
            "retention.keep_days_after_closing",
            self.keep_days != now.retention.keep_days_after_closing,
        );
        scalar("retention.extend_days", self.extend_days != now.retention.extend_days);
        scalar("notify.digest_times", self.digest_times != now.notify.digest_times);
        for (key, new, old) in [
            (
                "routing.default_groups",
                &self.default_groups,
                &now.routing.default_groups,
            ),
            ("routing.excludable", &self.excludable, &now.routing.excludable),
        ] {
            let added: Vec<String> = new
                .iter()
                .filter(|x| !old.contains(x))
                .map(|x| format!("+{x}"))
                .collect();
            let removed: Vec<String> = old
                .iter()
                .filter(|x| !new.contains(x))
                .map(|x| format!("-{x}"))
                .collect();
            if !added.is_empty() || !removed.is_empty() {
                out.push(format!("{key} ({})", [added, removed].concat().join(" ")));
            }
        }
        out
    }

    /// Whether more people would read reports: a default group added, or someone a reporter
    /// could exclude taken off that list.
    pub fn widens(&self, now: &Settings) -> bool {
        self.default_groups
            .iter()
            .any(|g| !now.routing.default_groups.contains(g))
            || now.routing.excludable.iter().any(|u| !self.excludable.contains(u))
    }

    /// The organisation's own settings (`own`, TOML) with the keys this edit changes against
    /// `now` set; every other key `own` held (routing rules, anything the operator set) kept,
    /// and what it left to the installation still left to it.
    pub fn into_own(&self, own: &str, now: &Settings) -> anyhow::Result<String> {
        use toml::Value;
        let mut doc: toml::Table = if own.trim().is_empty() {
            toml::Table::new()
        } else {
            own.parse()
                .map_err(|e| anyhow::anyhow!("the organisation's settings: {e}"))?
        };
        let o = &now.organisation;
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        let edits: [(&str, &str, bool, Value); 9] = [
            (
                "organisation",
                "name",
                self.name != o.name,
                Value::String(self.name.clone()),
            ),
            (
                "organisation",
                "colour",
                self.colour != o.colour.to_ascii_lowercase(),
                Value::String(self.colour.clone()),
            ),
            (
                "organisation",
                "security_contact",
                self.security_contact != o.security_contact,
                Value::String(self.security_contact.clone()),
            ),
            (
                "organisation",
                "oral_contact",
                self.oral_contact != o.oral_contact,
                Value::String(self.oral_contact.clone()),
            ),
            (
                "retention",
                "keep_days_after_closing",
                self.keep_days != now.retention.keep_days_after_closing,
                Value::Integer(self.keep_days),
            ),
            (
                "retention",
                "extend_days",
                self.extend_days != now.retention.extend_days,
                Value::Integer(self.extend_days),
            ),
            (
                "notify",
                "digest_times",
                self.digest_times != now.notify.digest_times,
                strings(&self.digest_times),
            ),
            (
                "routing",
                "default_groups",
                self.default_groups != now.routing.default_groups,
                strings(&self.default_groups),
            ),
            (
                "routing",
                "excludable",
                self.excludable != now.routing.excludable,
                strings(&self.excludable),
            ),
        ];
        for (section, key, differs, value) in edits {
            if !differs {
                continue;
            }
            let table = doc.entry(section).or_insert_with(|| Value::Table(toml::Table::new()));
            match table {
                Value::Table(t) => {
                    t.insert(key.to_string(), value);
                }
                _ => anyhow::bail!("the organisation's settings: {section} is not a section"),
            }
        }
        toml::to_string(&doc).map_err(|e| anyhow::anyhow!("the organisation's settings: {e}"))
    }
}

/// `hex(sha256(name, settings))`, shortened: which version of the settings a form was made
/// from, so a save over a colleague's change made meanwhile is noticed.
fn version_of(entry: &OrganisationEntry) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(entry.name.as_bytes());
    h.update([0]);
    h.update(entry.settings.as_bytes());
    hex::encode(&h.finalize()[..12])
}

/// A routing rule as the page shows it (read-only).
pub struct RuleView {
    pub name: String,
    pub chain_labels: String,
    pub subject_roles: String,
    pub categories: String,
    /// A shared intake's bodies it is for.
    pub bodies: String,
    pub groups: String,
}

#[derive(Template)]
#[template(path = "org_settings.html")]
struct SettingsPage {
    page: Page,
    csrf: String,
    version: String,
    values: Values,
    choices: Choices,
    rules: Vec<RuleView>,
    /// A shared intake: the rules' bodies are shown.
    shared_intake: bool,
    /// The change asked for widens who reads, or might: the code field is shown.
    ask_code: bool,
    errors: FieldErrors,
    notice: Option<String>,
}

impl SettingsPage {
    fn err(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|(n, _)| *n == name).map(|(_, m)| m.as_str())
    }
    fn field_id<'a>(&self, name: &'a str) -> &'a str {
        match name {
            "default_groups" => "default-groups",
            "excludable" => "excludable",
            "form" => "settings-form",
            other => other,
        }
    }
    /// `aria-describedby` of a field: its hint, and its error when it has one.
    fn described_by(&self, name: &str) -> String {
        match self.err(name) {
            Some(_) => format!("{name}-hint {name}-error"),
            None => format!("{name}-hint"),
        }
    }
    fn group_ticked(&self, group: &str) -> bool {
        self.values.default_groups.iter().any(|g| g == group)
    }
    fn person_ticked(&self, username: &str) -> bool {
        self.values.excludable.iter().any(|u| u == username)
    }
}

/// What is served now, straight from the registry (the service follows it within two
/// seconds; the page does not wait): the entry, its settings and the form's values.
async fn now_set(state: &State, lang: Lang) -> Result<Option<(OrganisationEntry, Settings)>, crate::http::AppError> {
    let Some(entry) = state.registry.organisation_entry(state.org_id).await.or_500(lang)? else {
        return Ok(None);
    };
    // The organisation's state holds the installation's settings with its own over them:
    // its own as they stand now, over those, are what it is about to be served with.
    let mut settings = state
        .settings
        .for_organisation(&entry.settings)
        .unwrap_or_else(|_| (*state.settings).clone());
    settings.organisation.name = entry.name.clone();
    Ok(Some((entry, settings)))
}

async fn choices(state: &State, lang: Lang) -> Result<Choices, crate::http::AppError> {
    let groups = state.store.groups().await.or_500(lang)?;
    let coordinators = state
        .store
        .coordinators()
        .await
        .or_500(lang)?
        .into_iter()
        .map(|c| (c.username, c.display_name))
        .collect();
    Ok(Choices { groups, coordinators })
}

fn rules(settings: &Settings, lang: Lang) -> Vec<RuleView> {
    let any = lang.staff().org_settings.any;
    let list = |v: &[String]| if v.is_empty() { any.to_string() } else { v.join(", ") };
    settings
        .routing
        .rule
        .iter()
        .map(|r| RuleView {
            name: r.name.clone(),
            chain_labels: list(&r.chain_labels),
            subject_roles: list(&r.subject_roles),
            categories: list(&r.categories),
            bodies: list(&r.bodies),
            groups: r.groups.join(", "),
        })
        .collect()
}

/// What a settings page shows: over what is set, the values (as set, or as typed), and
/// what was refused or done.
struct Shown<'a> {
    settings: &'a Settings,
    version: String,
    values: Values,
    errors: FieldErrors,
    notice: Option<String>,
}

async fn settings_page(
    state: &State,
    lang: Lang,
    me: &Coordinator,
    status: StatusCode,
    shown: Shown<'_>,
) -> PageResult {
    let mut choices = choices(state, lang).await?;
    // What is set but is no group or coordinator any more stays visible, so saving does
    // not drop it unseen.
    for g in &shown.settings.routing.default_groups {
        if !choices.groups.iter().any(|(n, _)| n == g) {
            choices.groups.push((g.clone(), g.clone()));
        }
    }
    for u in &shown.settings.routing.excludable {
        if !choices.coordinators.iter().any(|(n, _)| n == u) {
            choices.coordinators.push((u.clone(), u.clone()));
        }
    }
    let page = Page::new(state, lang, paths::ORG_SETTINGS);
    // Following the language switch would lose what was typed.
    let page = if shown.errors.is_empty() {
        page
    } else {
        page.without_switch()
    };
    Ok(render(
        status,
        &SettingsPage {
            page,
            csrf: me.session.token.csrf(),
            version: shown.version,
            values: shown.values,
            choices,
            rules: rules(shown.settings, lang),
            shared_intake: !shown.settings.routing.bodies.is_empty(),
            ask_code: me.row.totp_sealed.is_some(),
            errors: shown.errors,
            notice: shown.notice,
        },
    ))
}

fn not_active(state: &State, lang: Lang) -> HttpResponse {
    let t = lang.staff().org_settings;
    message_page(state, lang, StatusCode::FORBIDDEN, t.title, t.err_not_active)
}

/// `GET /beheer/instellingen`
pub async fn show(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    if me.row.status != "active" {
        return Ok(not_active(&state, lang));
    }
    let Some((entry, settings)) = now_set(&state, lang).await? else {
        return Ok(not_found_page(&state, lang));
    };
    let t = lang.staff().org_settings;
    let notice = match req.query_string() {
        q if q.contains("done=saved") => Some(t.saved.to_string()),
        q if q.contains("done=unchanged") => Some(t.unchanged.to_string()),
        _ => None,
    };
    let shown = Shown {
        settings: &settings,
        version: version_of(&entry),
        values: Values::of(&settings),
        errors: vec![],
        notice,
    };
    settings_page(&state, lang, &me, StatusCode::OK, shown).await
}

/// Whether every default group reaches somebody: an active member whose membership and key
/// a signature vouches for (as routing will ask). The first group that does not, if any.
async fn group_without_reader(state: &State, groups: &[String]) -> anyhow::Result<Option<String>> {
    let verified = keyring::verify_installation(&state.store, &state.settings).await?;
    for g in groups {
        let members = state.store.active_members(g).await?;
        if !members.iter().any(|(id, _)| verified.routes_to(g, id)) {
            return Ok(Some(g.clone()));
        }
    }
    Ok(None)
}

/// `POST /beheer/instellingen`
pub async fn save(state: State, req: HttpRequest, payload: web::Payload) -> PageResult {
    let form = read_form(payload, 16 * 1024).await.unwrap_or_default();
    let lang = lang_of(&req, &form);
    let t = lang.staff().org_settings;
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    if !me.session.token.csrf_matches(form.get("csrf")) {
        return Ok(forbidden(&state, lang));
    }
    if me.row.status != "active" {
        return Ok(not_active(&state, lang));
    }
    let Some((entry, settings)) = now_set(&state, lang).await? else {
        return Ok(not_found_page(&state, lang));
    };
    let version = version_of(&entry);
    let typed = Values::from_form(&form);
    let refuse = |status: StatusCode, errors: FieldErrors| {
        let shown = Shown {
            settings: &settings,
            version: version.clone(),
            values: typed.clone(),
            errors,
            notice: None,
        };
        settings_page(&state, lang, &me, status, shown)
    };
    if form.get("version") != Some(version.as_str()) {
        return refuse(
            StatusCode::CONFLICT,
            vec![("form", t.err_changed_meanwhile.to_string())],
        )
        .await;
    }
    let offered = choices(&state, lang).await?;
    let edit = match check(&typed, &Values::of(&settings), &offered, lang) {
        Ok(edit) => edit,
        Err(errors) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, errors).await,
    };
    let changes = edit.changes(&settings);
    if changes.is_empty() {
        return Ok(redirect(&lang.href(&format!("{}?done=unchanged", paths::ORG_SETTINGS))));
    }
    // Checked as the service will read it, before anything is stored.
    let own = match edit.into_own(&entry.settings, &settings).and_then(|own| {
        let probe = state.settings.for_organisation(&own)?;
        routing::validate_rules(&probe.routing)?;
        notify::digest_slots(&probe.notify.digest_times)?;
        Ok(own)
    }) {
        Ok(own) => own,
        Err(e) => {
            let why = format!("{e:#}");
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![("form", t.err_refused.replace("{why}", &why))],
            )
            .await;
        }
    };
    let added: Vec<String> = edit
        .default_groups
        .iter()
        .filter(|g| !settings.routing.default_groups.contains(g))
        .cloned()
        .collect();
    if let Some(g) = group_without_reader(&state, &added).await.or_500(lang)? {
        let label = offered
            .groups
            .iter()
            .find(|(n, _)| *n == g)
            .map(|(_, l)| l.clone())
            .unwrap_or(g);
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("default_groups", t.err_group_without_member.replace("{group}", &label))],
        )
        .await;
    }
    // More people would read reports: a password (or a stolen session) alone is not enough.
    if edit.widens(&settings) {
        if me.row.totp_sealed.is_some() && form.text("code").trim().is_empty() {
            return refuse(StatusCode::UNAUTHORIZED, vec![("code", t.err_code_needed.to_string())]).await;
        }
        if !super::second_factor::fresh_second_factor(&state, &me, &form)
            .await
            .or_500(lang)?
        {
            return refuse(
                StatusCode::UNAUTHORIZED,
                vec![("code", lang.staff().err_mfa.to_string())],
            )
            .await;
        }
    }
    let now = state.clock.now();
    let detail = changes.join("; ");
    // Audited first: no change is ever in force without its line in the trail.
    state
        .store
        .audit_detail(
            now,
            Some(&me.row.id),
            "organisation_settings_changed",
            None,
            Some(&detail),
        )
        .await
        .or_500(lang)?;
    let keys: Vec<&str> = changes
        .iter()
        .map(|c| c.split(' ').next().unwrap_or_default())
        .collect();
    let log = format!("by coordinator {} in the browser: {}", me.row.username, keys.join(", "));
    let stored = state
        .registry
        .change_organisation_settings(&entry, &edit.name, &own, &log, now)
        .await;
    if !matches!(stored, Ok(true)) {
        if let Err(e) = state
            .store
            .audit_detail(
                now,
                Some(&me.row.id),
                "organisation_settings_not_saved",
                None,
                Some(&detail),
            )
            .await
        {
            tracing::error!(error = %e, "could not audit that a settings change was not saved");
        }
    }
    match stored {
        Ok(true) => Ok(redirect(&lang.href(&format!("{}?done=saved", paths::ORG_SETTINGS)))),
        Ok(false) => {
            // Changed meanwhile: shown over what is set now, with what was typed kept.
            let Some((entry, settings)) = now_set(&state, lang).await? else {
                return Ok(not_found_page(&state, lang));
            };
            let shown = Shown {
                settings: &settings,
                version: version_of(&entry),
                values: typed,
                errors: vec![("form", t.err_changed_meanwhile.to_string())],
                notice: None,
            };
            settings_page(&state, lang, &me, StatusCode::CONFLICT, shown).await
        }
        Err(e) => Err(crate::http::AppError { lang, cause: e.into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Settings {
        Settings::defaults().unwrap()
    }

    fn edit_of(s: &Settings) -> Edit {
        Edit {
            name: s.organisation.name.clone(),
            colour: s.organisation.colour.clone(),
            security_contact: s.organisation.security_contact.clone(),
            oral_contact: s.organisation.oral_contact.clone(),
            keep_days: s.retention.keep_days_after_closing,
            extend_days: s.retention.extend_days,
            digest_times: s.notify.digest_times.clone(),
            default_groups: s.routing.default_groups.clone(),
            excludable: s.routing.excludable.clone(),
        }
    }

    #[test]
    fn an_edit_keeps_what_it_does_not_change_and_escapes_what_it_writes() {
        let s = base();
        let own = "# the operator's\n[organisation]\nlogo_file = \"\"\n\n[[routing.rule]]\nname = \"bestuurders\"\nsubject_roles = [\"bestuurder\"]\ngroups = [\"dijkgraaf\"]\n";
        let now = s.for_organisation(own).unwrap();
        let mut edit = edit_of(&now);
        assert!(edit.changes(&now).is_empty(), "nothing changed");
        edit.name = "Gemeente \"Aan\" de Stroom \\ Noord".into();
        edit.oral_contact = "bel 088 123\u{e9} [of] = kom langs".into();
        edit.keep_days = 3650;
        edit.default_groups = vec!["integriteit".into(), "dijkgraaf".into()];
        let written = edit.into_own(own, &now).unwrap();
        let again = s.for_organisation(&written).unwrap();
        assert_eq!(again.organisation.name, edit.name);
        assert_eq!(again.organisation.oral_contact, edit.oral_contact);
        assert_eq!(again.retention.keep_days_after_closing, 3650);
        assert_eq!(again.routing.default_groups, ["integriteit", "dijkgraaf"]);
        assert_eq!(again.routing.rule.len(), 1, "the operator's rule is kept: {written}");
        assert_eq!(again.routing.rule[0].groups, ["dijkgraaf"]);
        // What was left to the installation is still left to it.
        assert!(
            !written.contains("extend_days") && !written.contains("digest_times"),
            "{written}"
        );
        assert_eq!(
            edit.changes(&now),
            [
                "organisation.name",
                "organisation.oral_contact",
                "retention.keep_days_after_closing",
                "routing.default_groups (+dijkgraaf)"
            ]
        );
        assert!(edit.widens(&now));
    }

    #[test]
    fn widening_is_a_group_added_or_someone_taken_off_the_excludable_list() {
        let mut s = base();
        s.routing.default_groups = vec!["a".into(), "b".into()];
        s.routing.excludable = vec!["anna".into()];
        let mut e = edit_of(&s);
        assert!(!e.widens(&s));
        e.default_groups = vec!["a".into()];
        e.excludable = vec!["anna".into(), "bert".into()];
        assert!(!e.widens(&s), "fewer groups and more excludable narrow");
        e.excludable = vec!["bert".into()];
        assert!(e.widens(&s), "anna can no longer be excluded");
        let mut e = edit_of(&s);
        e.default_groups.push("c".into());
        assert!(e.widens(&s));
    }

    #[test]
    fn bad_values_are_named_by_field_in_the_users_language() {
        let s = base();
        let now = Values::of(&s);
        let choices = Choices {
            groups: vec![("integriteit".into(), "Integriteit".into())],
            coordinators: vec![],
        };
        let typed = Values {
            colour: "#ffff00".into(),
            keep_days: "0".into(),
            extend_days: "abc".into(),
            digest_times: "08:00, 25:00".into(),
            security_contact: "security@x.nl".into(),
            name: " ".into(),
            oral_contact: "bel\u{202E}me".into(),
            default_groups: vec!["geheim".into()],
            ..now.clone()
        };
        let errors = check(&typed, &now, &choices, Lang::Nl).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            [
                "name",
                "colour",
                "security_contact",
                "oral_contact",
                "keep_days",
                "extend_days",
                "digest_times",
                "default_groups"
            ]
        );
        let colour = &errors[1].1;
        assert!(colour.contains("1,1:1") && colour.contains("donkerdere"), "{colour}");
        assert!(errors[6].1.contains("'25:00'"), "{}", errors[6].1);
        let en = check(&typed, &now, &choices, Lang::En).unwrap_err();
        assert!(en[1].1.contains("darker"), "{}", en[1].1);
        // As set passes, even where a stricter check would not (the operator set it).
        let mut odd = now.clone();
        odd.security_contact = "security at example".into();
        assert!(check(&odd, &odd, &choices, Lang::Nl).is_ok());
    }

    #[test]
    fn digest_times_are_read_leniently_and_written_alike() {
        assert_eq!(parse_digest_times("16:30, 8:00;08:00").unwrap(), ["08:00", "16:30"]);
        assert_eq!(parse_digest_times(" ").unwrap(), Vec::<String>::new());
        assert_eq!(parse_digest_times("08:00 12.00").unwrap_err(), "12.00");
    }
}
