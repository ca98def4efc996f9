//! An organisation's settings, edited by its own coordinators in the browser (issue 23):
//! the name and oral contact reach the organisation's own pages after the registry is
//! followed, and no other organisation's; bad values are refused in Dutch with what was
//! typed kept and nothing stored; a change that widens who reads reports needs a fresh
//! second-factor code; only an active coordinator with the form's token changes anything;
//! every change is audited in the organisation's trail and the operator's log.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    enrol_second_factor, exec, run_setup, spawn_app, spawn_app_with, start_instance, totp_code, unescape, Backend,
    Browser, TestApp, PASSWORD, T0,
};

both_backends!(
    a_coordinator_renames_their_organisation_and_sets_its_oral_contact_and_only_its_pages_change,
    bad_values_are_refused_in_dutch_with_what_was_typed_kept_and_nothing_stored,
    widening_who_reads_reports_needs_a_fresh_second_factor_code,
    only_an_active_coordinator_posting_the_pages_own_form_changes_settings,
    a_name_given_in_the_browser_survives_a_restart_of_a_single_organisation,
);

const PAGE: &str = "/beheer/instellingen";
const HOST_A: &str = "meldpunt.aldam.test";
const HOST_B: &str = "meldpunt.beekdal.test";

/// The value of the text field `name` as the page shows it.
fn field(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no field {name}"));
    let rest = &html[at..];
    let start = rest.find("value=\"").expect("a value") + "value=\"".len();
    let end = rest[start..].find('"').expect("end of value");
    unescape(&rest[start..start + end])
}

/// The ticked values of the checkboxes `name`.
fn ticked(html: &str, name: &str) -> Vec<String> {
    html.split("<input ")
        .filter(|i| i.contains(&format!("type=\"checkbox\" name=\"{name}\"")))
        .filter(|i| i.split('>').next().is_some_and(|tag| tag.contains(" checked")))
        .filter_map(|i| i.split("value=\"").nth(1)?.split('"').next().map(unescape))
        .collect()
}

/// The form as the page shows it, to change a few fields of before posting.
fn form_of(html: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = [
        "csrf",
        "version",
        "name",
        "colour",
        "security_contact",
        "oral_contact",
        "keep_days",
        "extend_days",
        "digest_times",
    ]
    .iter()
    .map(|n| (n.to_string(), field(html, n)))
    .collect();
    for list in ["default_groups", "excludable"] {
        form.extend(ticked(html, list).into_iter().map(|v| (list.to_string(), v)));
    }
    form
}

fn with(form: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    out.extend(changes.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

async fn post(b: &Browser, form: &[(String, String)]) -> crate::helpers::Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post(PAGE, &pairs).await
}

/// The organisation's own settings as the registry holds them.
async fn own_settings(app: &TestApp, id: i64) -> String {
    app.state
        .registry
        .organisation_entry(id)
        .await
        .expect("registry")
        .expect("the organisation")
        .settings
}

async fn audited(store: &meldpunt::storage::Store, action: &str) -> Vec<String> {
    let q = "SELECT COALESCE(detail, '') FROM audit_events WHERE action = $1 ORDER BY id";
    match store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar(q).bind(action).fetch_all(p).await,
        meldpunt::storage::Store::Postgres(p) => sqlx::query_scalar(q).bind(action).fetch_all(p).await,
    }
    .expect("audit")
}

async fn a_coordinator_renames_their_organisation_and_sets_its_oral_contact_and_only_its_pages_change(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| {
        s.http.public_url = format!("http://{HOST_A}");
        s.organisation.name = "Gemeente Aldam".into();
    })
    .await;
    let anna = Browser::for_host(HOST_A, app.port());
    run_setup(&anna, &app.setup_path.clone().expect("set-up link"), "anna").await;
    let (_, link) = app
        .registry
        .add("Waterschap Beekdal", &format!("http://{HOST_B}"))
        .await
        .expect("add organisation");
    let link = match link {
        meldpunt::features::coordinator::account::SetupLink::New(l) => l.to_string(),
        _ => panic!("a new organisation gets a set-up link"),
    };
    let bert = Browser::for_host(HOST_B, app.port());
    run_setup(&bert, link.trim_start_matches(&format!("http://{HOST_B}")), "bert").await;

    // The page is in the navigation and shows what is set.
    let inbox = anna.get("/beheer").await;
    assert!(
        inbox.body.contains(&format!("href=\"{PAGE}\"")),
        "linked from the navigation"
    );
    let page = anna.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(field(&page.body, "name"), "Gemeente Aldam");
    assert_eq!(field(&page.body, "keep_days"), "730");
    assert_eq!(ticked(&page.body, "default_groups"), ["integriteit"]);
    assert!(page.body.contains("bestuurders"), "the routing rules are shown");
    assert!(
        page.body.contains("beheerder van de installatie"),
        "logo and rules are the operator's"
    );

    let oral = "bel 020 123 45 67 of kom langs: stadhuis, kamer 2.14 (\"integriteit\")";
    let form = with(
        &form_of(&page.body),
        &[("name", "Gemeente Aldam-Oost"), ("oral_contact", oral)],
    );
    let saved = post(&anna, &form).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("De instellingen zijn opgeslagen"), "{}", saved.body);
    // The page shows the new values at once (from the registry the service follows).
    assert_eq!(field(&saved.body, "name"), "Gemeente Aldam-Oost");
    assert_eq!(field(&saved.body, "oral_contact"), oral);

    app.registry.sync().await.expect("sync");
    let reporter_a = Browser::for_host(HOST_A, app.port());
    let home = reporter_a.get("/").await;
    assert!(home.body.contains("Gemeente Aldam-Oost"), "{}", home.body);
    assert!(
        unescape(&home.body).contains("bel 020 123 45 67 of kom langs"),
        "the oral contact is on the home page"
    );
    let privacy = reporter_a.get("/privacy").await;
    assert!(privacy.body.contains("Gemeente Aldam-Oost"));
    // The other organisation is untouched: its pages, its registry row, its audit trail.
    let reporter_b = Browser::for_host(HOST_B, app.port());
    let home_b = reporter_b.get("/").await;
    assert!(home_b.body.contains("Waterschap Beekdal"));
    assert!(!home_b.body.contains("Aldam") && !home_b.body.contains("020 123 45 67"));
    assert!(!reporter_b.get("/privacy").await.body.contains("Aldam"));
    assert_eq!(own_settings(&app, 2).await, "");
    let state_b = app.registry.state_of(2).expect("B is served");
    assert!(audited(&state_b.store, "organisation_settings_changed")
        .await
        .is_empty());
    let page_b = bert.get(PAGE).await;
    assert_eq!(field(&page_b.body, "name"), "Waterschap Beekdal");
    assert_eq!(field(&page_b.body, "oral_contact"), "");

    // Audited in A's own trail, naming the settings; logged in the operator's registry log.
    let trail = audited(&app.state.store, "organisation_settings_changed").await;
    assert_eq!(trail, ["organisation.name; organisation.oral_contact"]);
    let shown = anna.get("/beheer/logboek").await;
    assert!(shown.body.contains("instellingen gewijzigd"), "{}", shown.body);
    let log = app.state.registry.organisation_log().await.expect("log");
    let line = log.iter().rfind(|e| e.event == "settings").expect("a settings line");
    assert_eq!(line.org_id, 1);
    assert!(
        line.detail.contains("anna") && line.detail.contains("organisation.oral_contact"),
        "{}",
        line.detail
    );
    // The same form again changes nothing and stores nothing.
    let page = anna.get(PAGE).await;
    let again = post(&anna, &form_of(&page.body)).await;
    assert!(again.body.contains("Er was niets gewijzigd"), "{}", again.body);
    assert_eq!(
        audited(&app.state.store, "organisation_settings_changed").await.len(),
        1
    );
}

async fn bad_values_are_refused_in_dutch_with_what_was_typed_kept_and_nothing_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let page = anna.get(PAGE).await;
    let form = form_of(&page.body);
    for (changes, field_id, message) in [
        (
            vec![("colour", "#ffff00"), ("name", "Gemeente Geel")],
            "colour",
            "contrast op wit",
        ),
        (vec![("colour", "blauw")], "colour", "Schrijf de kleur als #"),
        (
            vec![("keep_days", "40000"), ("oral_contact", "bel ons")],
            "keep_days",
            "tussen 1 en 36500",
        ),
        (vec![("extend_days", "0")], "extend_days", "tussen 1 en 3650"),
        (vec![("digest_times", "08:00, 8 uur")], "digest_times", "is geen tijd"),
        (
            vec![("security_contact", "security@aldam.nl")],
            "security_contact",
            "mailto:",
        ),
    ] {
        let res = post(&anna, &with(&form, &changes)).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{changes:?}: {}",
            res.body
        );
        let body = unescape(&res.body);
        assert!(body.contains(message), "{changes:?}: {body}");
        assert!(res.body.contains("class=\"error-summary\""), "an error summary");
        assert!(
            res.body.contains(&format!("href=\"#{field_id}\"")),
            "the summary links to the field"
        );
        assert!(
            res.body
                .contains(&format!("aria-describedby=\"{field_id}-hint {field_id}-error\"")),
            "{field_id} is described by its error"
        );
        assert!(res.body.contains("aria-invalid=\"true\""));
        for (name, typed) in &changes {
            assert_eq!(field(&res.body, name), *typed, "what was typed is kept");
        }
        assert!(res.body.contains("<title>Fout:"), "the title says so");
    }
    // A colleague's change since the page was opened: told, what was typed kept.
    let stale = with(&form, &[("version", "0000"), ("name", "Gemeente Later")]);
    let res = post(&anna, &stale).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body.contains("Iemand anders heeft de instellingen gewijzigd"));
    assert_eq!(field(&res.body, "name"), "Gemeente Later");
    // English, for whoever works in English.
    let res = post(&anna, &with(&form, &[("lang", "en"), ("keep_days", "-1")])).await;
    assert!(res.body.contains("between 1 and 36500"), "{}", res.body);

    assert_eq!(own_settings(&app, 1).await, "", "nothing was stored");
    assert!(audited(&app.state.store, "organisation_settings_changed")
        .await
        .is_empty());
    let log = app.state.registry.organisation_log().await.expect("log");
    assert!(!log.iter().any(|e| e.event == "settings"));
    app.registry.sync().await.expect("sync");
    let home = app.browser().get("/").await;
    assert!(home.body.contains("Gemeente Voorbeeldstad") && !home.body.contains("Geel"));
}

async fn widening_who_reads_reports_needs_a_fresh_second_factor_code(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.security.require_totp = true).await;
    let (anna, _) = app.setup("anna").await;
    let (secret, _) = enrol_second_factor(&anna, T0).await;
    app.add_coordinator("bert", "Bert Jansen", "active", &["integriteit"])
        .await;

    // Narrowing needs no code: Bert may now be excluded by a reporter.
    let page = anna.get(PAGE).await;
    assert!(
        page.body.contains("name=\"code\""),
        "a code field for the second factor"
    );
    let res = post(&anna, &with(&form_of(&page.body), &[("excludable", "bert")])).await;
    assert!(res.body.contains("opgeslagen"), "{}", res.body);
    assert_eq!(ticked(&res.body, "excludable"), ["bert"]);

    // A default group added: more people read reports. Without a code, refused.
    let form = form_of(&res.body);
    let mut wider = form.clone();
    wider.push(("default_groups".into(), "burgemeester".into()));
    let before = own_settings(&app, 1).await;
    let res = post(&anna, &wider).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert!(res.body.contains("Vul de code uit uw app in"), "{}", res.body);
    assert!(res.body.contains("href=\"#code\""));
    assert_eq!(
        ticked(&res.body, "default_groups"),
        ["burgemeester", "integriteit"],
        "what was ticked is kept"
    );
    // A wrong code: refused, and counted as a guess.
    let res = post(&anna, &with(&wider, &[("code", "123456")])).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.body.contains("Deze code klopt niet"));
    assert_eq!(own_settings(&app, 1).await, before, "nothing stored");
    assert_eq!(audited(&app.state.store, "step_up_failed").await.len(), 1);
    // Taking Bert off the excludable list widens too.
    let res = post(
        &anna,
        &form
            .iter()
            .filter(|(k, _)| k != "excludable")
            .cloned()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(own_settings(&app, 1).await, before);

    // With a fresh code: done.
    app.clock.set(T0 + 30);
    let code = totp_code(&secret, T0 + 30);
    let res = post(&anna, &with(&wider, &[("code", code.as_str())])).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("opgeslagen"));
    assert!(own_settings(&app, 1).await.contains("burgemeester"));
    app.registry.sync().await.expect("sync");
    let served = app.registry.state_of(1).expect("served");
    assert_eq!(served.settings.routing.default_groups, ["integriteit", "burgemeester"]);
    assert_eq!(served.settings.routing.excludable, ["bert"]);
    assert_eq!(
        served.settings.routing.rule.len(),
        app.state.settings.routing.rule.len(),
        "the rules are kept"
    );
    let trail = audited(&app.state.store, "organisation_settings_changed").await;
    assert_eq!(
        trail,
        ["routing.excludable (+bert)", "routing.default_groups (+burgemeester)"]
    );

    // A group nobody in it could read: refused, whatever the code.
    exec(
        &app.state.store,
        "INSERT INTO coordinator_groups (name, label) VALUES ($1, $2)",
        None,
        &["leeg", "Lege groep"],
    )
    .await;
    let page = anna.get(PAGE).await;
    let mut empty = form_of(&page.body);
    empty.push(("default_groups".into(), "leeg".into()));
    let res = post(&anna, &empty).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(res.body.contains("Lege groep heeft geen actief lid"), "{}", res.body);
}

async fn only_an_active_coordinator_posting_the_pages_own_form_changes_settings(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let page = anna.get(PAGE).await;
    let form = with(&form_of(&page.body), &[("name", "Gemeente Anders")]);

    // Without the form's token (or with another), refused.
    let without: Vec<(String, String)> = form.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let res = post(&anna, &without).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = post(&anna, &with(&form, &[("csrf", "niet-het-goede")])).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // Not logged in: to the login page.
    let stranger = app.browser();
    assert_eq!(stranger.get(PAGE).await.status, StatusCode::SEE_OTHER);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = stranger
        .post_raw(
            PAGE,
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish()
                .into_bytes(),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);

    // A pending coordinator cannot log in, so has no page to post from.
    app.add_coordinator("bert", "Bert", "pending", &[]).await;
    let bert = app.browser();
    let login = bert
        .post("/beheer/inloggen", &[("username", "bert"), ("password", PASSWORD)])
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bert.get(PAGE).await.status, StatusCode::SEE_OTHER);

    // A coordinator whose account is no longer active, with a session still open: refused.
    let carla_row = app.add_coordinator("carla", "Carla", "active", &["integriteit"]).await;
    let carla = app.browser();
    let login = carla
        .post("/beheer/inloggen", &[("username", "carla"), ("password", PASSWORD)])
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let own = carla.get(PAGE).await;
    assert_eq!(own.status, StatusCode::OK);
    let carla_form = with(&form_of(&own.body), &[("name", "Gemeente Carla")]);
    exec(
        &app.state.store,
        "UPDATE coordinators SET status = 'pending' WHERE id = $1",
        None,
        &[&carla_row.id],
    )
    .await;
    let res = carla.get(PAGE).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = post(&carla, &carla_form).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("Alleen een actieve coördinator"), "{}", res.body);

    assert_eq!(own_settings(&app, 1).await, "", "nothing was stored");
    assert!(audited(&app.state.store, "organisation_settings_changed")
        .await
        .is_empty());
    let entry = app
        .state
        .registry
        .organisation_entry(1)
        .await
        .expect("db")
        .expect("row");
    assert_eq!(entry.name, "Gemeente Voorbeeldstad");
}

async fn a_name_given_in_the_browser_survives_a_restart_of_a_single_organisation(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let page = anna.get(PAGE).await;
    let res = post(&anna, &with(&form_of(&page.body), &[("name", "Gemeente Nieuwe Naam")])).await;
    assert!(res.body.contains("opgeslagen"), "{}", res.body);
    app.stop().await;
    // The configuration file still names the example organisation; the name its
    // coordinators gave it stays.
    let dir = app.pepper_file.parent().expect("dir");
    let base = start_instance(dir, &app.db_url, app.clock.clone()).await;
    let home = Browser::new(&base, None).get("/").await;
    assert!(home.body.contains("Gemeente Nieuwe Naam"), "{}", home.body);
}
