//! One installation, several organisations (issue 23), through the real HTTP interface:
//! each organisation set up through its own link on its own host, and sealed off from the
//! other — its meldcodes, sessions, report ids, files and pages answer at the other as if
//! they did not exist. Runs on SQLite (a file per organisation) and PostgreSQL (row-level
//! security).

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    between, hidden, links, marker, report_fields, run_setup, shown_code, spawn_app_with, Backend, Browser, TestApp,
};

both_backends!(
    one_person_coordinates_for_two_organisations_with_one_login,
    every_route_and_job_of_one_organisation_finds_nothing_of_the_other,
    two_organisations_serve_side_by_side_and_see_nothing_of_each_other,
    a_single_organisation_answers_any_host_and_a_second_makes_hosts_strict,
    suspending_an_organisation_stops_only_it,
);

const HOST_A: &str = "meldpunt.aldam.test";
const HOST_B: &str = "meldpunt.beekdal.test";

async fn two_organisations(backend: Backend) -> (TestApp, Browser, Browser, Browser, Browser) {
    two_organisations_with(backend, |_| {}).await
}

async fn two_organisations_with(
    backend: Backend,
    adjust: impl FnOnce(&mut meldpunt::settings::Settings),
) -> (TestApp, Browser, Browser, Browser, Browser) {
    let app = spawn_app_with(backend, |s| {
        s.http.public_url = format!("http://{HOST_A}");
        s.organisation.name = "Gemeente Aldam".into();
        adjust(s);
    })
    .await;
    let coord_a = Browser::for_host(HOST_A, app.port());
    let path = app.setup_path.clone().expect("set-up link");
    run_setup(&coord_a, &path, "anna").await;
    let (coord_b, id) = crate::helpers::add_organisation(&app, "Waterschap Beekdal", HOST_B, "bert").await;
    assert_eq!(id, 2);
    let reporter_a = Browser::for_host(HOST_A, app.port());
    let reporter_b = Browser::for_host(HOST_B, app.port());
    (app, coord_a, coord_b, reporter_a, reporter_b)
}

async fn first_report_link(coord: &Browser) -> String {
    let inbox = coord.get("/beheer").await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    between(&inbox.body, "<td><a href=\"", "\"").expect("a report link")
}

async fn two_organisations_serve_side_by_side_and_see_nothing_of_each_other(backend: Backend) {
    let (app, coord_a, coord_b, reporter_a, reporter_b) = two_organisations(backend).await;

    // Each host shows its own organisation, never the other.
    let home_a = reporter_a.get("/").await;
    let home_b = reporter_b.get("/").await;
    assert!(home_a.body.contains("Gemeente Aldam") && !home_a.body.contains("Beekdal"));
    assert!(home_b.body.contains("Waterschap Beekdal") && !home_b.body.contains("Aldam"));

    // A report at each.
    let what_a = marker("aldam");
    let what_b = marker("beekdal");
    let code_a = app.submit_report(&reporter_a, &what_a).await;
    let code_b = app.submit_report(&reporter_b, &what_b).await;

    // A meldcode opens its report at its own organisation only.
    let own = Browser::for_host(HOST_A, app.port());
    let opened = own.post("/opvolgen", &[("code", code_a.as_str())]).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(opened.body.contains(&what_a));
    let elsewhere = Browser::for_host(HOST_B, app.port());
    let typed_there = elsewhere.post("/opvolgen", &[("code", code_a.as_str())]).await;
    assert!(!typed_there.body.contains(&what_a), "A's code opens nothing at B");
    assert!(typed_there.body.contains("name=\"code\""), "B asks for a code again");
    // The reporter's session cookie of A, carried to B, opens nothing there either.
    elsewhere.set_cookies(own.cookies());
    let carried = elsewhere.get("/opvolgen").await;
    assert!(!carried.body.contains(&what_a));
    let b_code_at_b = Browser::for_host(HOST_B, app.port());
    let opened_b = b_code_at_b.post("/opvolgen", &[("code", code_b.as_str())]).await;
    assert!(opened_b.body.contains(&what_b));
    assert!(!opened_b.body.contains(&what_a));

    // Each coordinator's inbox holds its own organisation's report.
    let link_a = first_report_link(&coord_a).await;
    let link_b = first_report_link(&coord_b).await;
    assert_ne!(link_a, link_b);
    assert!(coord_a.get(&link_a).await.body.contains(&what_a));
    assert!(coord_b.get(&link_b).await.body.contains(&what_b));

    // B's coordinator asking A's report id at B: as if it did not exist.
    let probe = coord_b.get(&link_a).await;
    assert_eq!(probe.status, StatusCode::NOT_FOUND);
    assert!(!probe.body.contains(&what_a));
    // A's coordinator's cookie carried to B: not logged in there.
    let carried = Browser::for_host(HOST_B, app.port());
    carried.set_cookies(coord_a.cookies());
    let inbox = carried.get("/beheer").await;
    assert_ne!(inbox.status, StatusCode::OK, "A's session is no session at B");
    let report = carried.get(&link_a).await;
    assert!(!report.body.contains(&what_a));
    // A's coordinator's password does not log in at B (the account is A's).
    let login = Browser::for_host(HOST_B, app.port());
    let form = login.get("/beheer/inloggen").await;
    let csrf = hidden(&form.body, "csrf").unwrap_or_default();
    let tried = login
        .post(
            "/beheer/inloggen",
            &[
                ("csrf", csrf.as_str()),
                ("username", "anna"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert!(
        tried.location.as_deref() != Some("/beheer"),
        "anna is not a coordinator of B"
    );

    // Storage: each organisation's store holds only its own report.
    let state_b = app.registry.state_of(2).expect("B is served");
    assert_eq!(app.report_ids().await.len(), 1);
    assert_eq!(count_reports(&state_b.store).await, 1);
    assert_eq!(count_reports(&app.state.store).await, 1);
}

/// `SELECT COUNT(*) FROM reports` through a store, naming no organisation.
async fn count_reports(store: &meldpunt::storage::Store) -> i64 {
    let q = "SELECT COUNT(*) FROM reports";
    match store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar::<_, i64>(q).fetch_one(p).await.expect("count"),
        meldpunt::storage::Store::Postgres(p) => sqlx::query_scalar::<_, i64>(q).fetch_one(p).await.expect("count"),
    }
}

async fn a_single_organisation_answers_any_host_and_a_second_makes_hosts_strict(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.http.public_url = format!("http://{HOST_A}");
        s.organisation.name = "Gemeente Aldam".into();
    })
    .await;
    // One organisation: whatever host the server is reached on, as before; the
    // coordinators' navigation offers no switch between organisations.
    let coord = Browser::for_host(HOST_A, app.port());
    run_setup(&coord, &app.setup_path.clone().expect("link"), "anna").await;
    assert!(!coord.get("/beheer").await.body.contains("/beheer/organisaties"));
    let other = Browser::for_host("elders.test", app.port());
    let page = other.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Gemeente Aldam"));
    assert_eq!(app.browser().get("/").await.status, StatusCode::OK);

    app.registry
        .add("Waterschap Beekdal", &format!("http://{HOST_B}"))
        .await
        .expect("add");
    assert!(coord
        .get("/beheer")
        .await
        .body
        .contains("href=\"/beheer/organisaties\""));
    // Two: an unknown host gets a plain page naming no organisation, and no list.
    let page = other.get("/").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        !page.body.contains("Aldam") && !page.body.contains("Beekdal"),
        "{}",
        page.body
    );
    let page = other.get("/beheer/inloggen").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // A load balancer's health checks come by address: the installation answers them.
    assert_eq!(other.get("/healthz").await.status, StatusCode::OK);
    let ready = other.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert!(!ready.body.contains("Aldam") && !ready.body.contains("Beekdal"));
    // The known hosts still reach their own.
    let a = Browser::for_host(HOST_A, app.port()).get("/").await;
    assert!(a.body.contains("Gemeente Aldam"));
    let b = Browser::for_host(HOST_B, app.port()).get("/").await;
    assert!(b.body.contains("Waterschap Beekdal"));
    // A host is taken once.
    let again = app.registry.add("Nog een", &format!("https://{HOST_B}/")).await;
    assert!(again.is_err());
}

async fn suspending_an_organisation_stops_only_it(backend: Backend) {
    let (app, coord_a, coord_b, _reporter_a, reporter_b) = two_organisations(backend).await;
    let state_a = app.state.clone();
    state_a
        .store
        .set_organisation_state(2, "suspended", 0)
        .await
        .expect("suspend");
    app.registry.sync().await.expect("sync");
    let page = reporter_b.get("/melden").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.headers.contains_key("retry-after"));
    assert!(!page.body.contains("Beekdal"));
    assert_ne!(coord_b.get("/beheer").await.status, StatusCode::OK);
    assert_eq!(coord_a.get("/beheer").await.status, StatusCode::OK);
    let log = state_a.store.organisation_log().await.expect("log");
    assert!(log.iter().any(|e| e.org_id == 2 && e.event == "suspended"));

    state_a
        .store
        .set_organisation_state(2, "active", 0)
        .await
        .expect("resume");
    app.registry.sync().await.expect("sync");
    assert_eq!(reporter_b.get("/melden").await.status, StatusCode::OK);
    assert_eq!(
        coord_b.get("/beheer").await.status,
        StatusCode::OK,
        "sessions survive a suspension"
    );
}

/// The cross-organisation suite: every route that takes an id, a code, a cookie or a file,
/// driven as organisation A against organisation B's, answers as if it did not exist and
/// changes nothing at B; A's overview, register, audit trail, CSVs, outbox and
/// coordinator pages name nothing of B; each organisation's mail goes to its own
/// coordinators only; A's retention run leaves B alone.
async fn every_route_and_job_of_one_organisation_finds_nothing_of_the_other(backend: Backend) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let smtp_port = listener.local_addr().expect("addr").port();
    let mail = crate::notify::start_smtp(listener);
    let (app, anna, bert, reporter_a, reporter_b) =
        two_organisations_with(backend, crate::notify::smtp_to(smtp_port)).await;
    let state_a = app.state.clone();
    let state_b = app.registry.state_of(2).expect("B is served");
    state_a
        .store
        .set_coordinator_email("anna", Some("anna@aldam.test"), "nl")
        .await
        .expect("email");
    state_b
        .store
        .set_coordinator_email("bert", Some("bert@beekdal.test"), "nl")
        .await
        .expect("email");

    // B: a report with a file. A: a report.
    let what_b = marker("beekdal");
    let form = reporter_b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let sent = reporter_b
        .post_multipart(
            "/melden",
            &report_fields(&what_b, &token),
            &[("files", "bewijs-beekdal.txt", b"inhoud uit Beekdal")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let code_b = shown_code(&sent.body).expect("code");
    let what_a = marker("aldam");
    let code_a = app.submit_report(&reporter_a, &what_a).await;

    // Mail: each organisation's worker tells its own coordinator, once, and no one else.
    for state in [&state_a, &state_b] {
        meldpunt::features::notify::run_once(state, &state.mailer, "test")
            .await
            .expect("worker pass");
    }
    assert_eq!(crate::notify::count_to(&mail, "anna@aldam.test"), 1);
    assert_eq!(crate::notify::count_to(&mail, "bert@beekdal.test"), 1);
    let to_anna = mail
        .lock()
        .expect("mail")
        .iter()
        .find(|(to, _)| to.iter().any(|t| t.contains("anna@")))
        .map(|(_, m)| m.clone())
        .expect("mail to anna");
    assert!(!to_anna.contains("Beekdal") && !to_anna.contains(HOST_B), "{to_anna}");
    assert!(to_anna.contains(HOST_A), "the link points at A's own host");

    // B's report, file and coordinator, as B's coordinator sees them.
    let href_b = first_report_link(&bert).await;
    let page_b = bert.get(&href_b).await;
    let file_b = links(&page_b.body, &format!("{href_b}/bestanden/"))
        .into_iter()
        .next()
        .expect("B's file link");
    let rid_b = href_b.trim_start_matches("/beheer/melding/").to_string();
    let fid_b = file_b.rsplit('/').next().expect("file id").to_string();
    let bert_id = state_b
        .store
        .coordinator_by_username("bert")
        .await
        .expect("lookup")
        .expect("bert")
        .id;
    let audit_b = count(&state_b.store, "audit_events").await;
    let messages_b = count(&state_b.store, "messages").await;

    // A's coordinator, at A, asks for B's objects: nothing, as if they did not exist.
    for path in [href_b.clone(), file_b.clone(), format!("{href_b}/afdrukken")] {
        let page = anna.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains(&what_b) && !page.body.contains("Beekdal"), "{path}");
    }
    let inbox = anna.get("/beheer").await;
    let csrf = hidden(&inbox.body, "csrf").unwrap_or_default();
    let reason = marker("reden");
    for (action, fields) in [
        ("ontvangst", vec![]),
        ("bericht", vec![("message", reason.as_str())]),
        ("status", vec![("status", "gesloten"), ("reason", reason.as_str())]),
        ("ketenschakel", vec![("code", "preventie"), ("reason", reason.as_str())]),
        ("soort", vec![("code", "fraude"), ("reason", reason.as_str())]),
        ("bewaren", vec![("reason", reason.as_str())]),
        ("notitie", vec![("note", reason.as_str())]),
        ("toegang", vec![("coordinator", bert_id.as_str())]),
        ("toegang-intrekken", vec![("coordinator", bert_id.as_str())]),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let res = anna.post(&format!("{href_b}/{action}"), &form).await;
        assert!(
            matches!(res.status, StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY),
            "{action}: {}",
            res.status
        );
        assert!(!res.body.contains(&what_b), "{action}");
    }
    for path in [
        format!("/beheer/coordinatoren/{bert_id}/goedkeuren"),
        format!("/beheer/coordinatoren/{bert_id}/tweede-factor"),
    ] {
        let res = anna.post(&path, &[("csrf", csrf.as_str())]).await;
        assert!(!res.status.is_success() || !res.body.contains("Bert"), "{path}");
    }
    assert_eq!(
        count(&state_b.store, "audit_events").await,
        audit_b,
        "nothing happened at B"
    );
    assert_eq!(count(&state_b.store, "messages").await, messages_b);
    assert!(
        bert.get(&href_b).await.body.contains("Ontvangst bevestigen"),
        "B's report was not acknowledged from A"
    );

    // A's reporter with A's own session asks for B's file: nothing.
    let opened = reporter_a.post("/opvolgen", &[("code", code_a.as_str())]).await;
    assert!(opened.body.contains(&what_a));
    let probe = reporter_a.get(&format!("/opvolgen/bestanden/{fid_b}")).await;
    assert_eq!(probe.status, StatusCode::NOT_FOUND);
    // B's code and B's reporter cookie at A: nothing.
    let at_a = Browser::for_host(HOST_A, app.port());
    let typed = at_a.post("/opvolgen", &[("code", code_b.as_str())]).await;
    assert!(!typed.body.contains(&what_b));
    let own_b = Browser::for_host(HOST_B, app.port());
    own_b.post("/opvolgen", &[("code", code_b.as_str())]).await;
    at_a.set_cookies(own_b.cookies());
    let carried = at_a.get(&format!("/opvolgen/bestanden/{fid_b}")).await;
    // B's session is no session at A: the same answer as any expired session.
    assert!(
        matches!(carried.status, StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND),
        "{}",
        carried.status
    );
    assert!(!carried.body.contains("inhoud uit Beekdal"));

    // A's pages that list or count name nothing of B.
    for path in [
        "/beheer",
        "/beheer/register",
        "/beheer/register.csv",
        "/beheer/logboek",
        "/beheer/overzicht",
        "/beheer/overzicht.csv",
        "/beheer/uitgaand",
        "/beheer/coordinatoren",
        "/beheer/groepen",
    ] {
        let page = anna.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for b_thing in [
            rid_b.as_str(),
            fid_b.as_str(),
            bert_id.as_str(),
            "bert",
            "Beekdal",
            "bewijs-beekdal",
        ] {
            assert!(!page.body.contains(b_thing), "{path} names {b_thing}");
        }
    }
    let register = anna.get("/beheer/register.csv").await;
    assert_eq!(
        register.body.lines().count(),
        2,
        "a header and A's one report: {}",
        register.body
    );

    // Every table, counted through each organisation's store, names no organisation and
    // yet sees only its own rows: on PostgreSQL the two counts add up to what the owner
    // (who passes row-level security) sees. A table whose filter is missing counts its
    // rows twice. (The operator's log of organisations is the installation's, not theirs.)
    if let Some(url) = &app.pg_url {
        use sqlx::Connection;
        let mut owner = sqlx::PgConnection::connect(url).await.expect("owner");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'org_id' \
             AND table_name <> 'organisation_log'",
        )
        .fetch_all(&mut owner)
        .await
        .expect("tables");
        assert!(tables.len() > 25, "{tables:?}");
        let mut counted = 0;
        for t in &tables {
            let all: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
                .fetch_one(&mut owner)
                .await
                .expect("count");
            let (a, b) = (count(&state_a.store, t).await, count(&state_b.store, t).await);
            assert_eq!(a + b, all, "{t}: A sees {a}, B sees {b}, there are {all}");
            counted += usize::from(all > 0);
        }
        assert!(counted > 10, "most tables hold rows of both by now");
    }

    // A's retention run, a year on: B's report is untouched.
    app.clock.set(crate::helpers::T0 + 400 * 86_400);
    meldpunt::features::retention::purge(&state_a.store, &state_a.settings.retention, &state_a.clock, false)
        .await
        .expect("purge");
    let again = Browser::for_host(HOST_B, app.port());
    let opened = again.post("/opvolgen", &[("code", code_b.as_str())]).await;
    assert!(opened.body.contains(&what_b), "B's report is whole");
}

async fn count(store: &meldpunt::storage::Store, table: &str) -> i64 {
    let q = format!("SELECT COUNT(*) FROM {table}");
    match store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar::<_, i64>(&q).fetch_one(p).await.expect("count"),
        meldpunt::storage::Store::Postgres(p) => sqlx::query_scalar::<_, i64>(&q).fetch_one(p).await.expect("count"),
    }
}

/// An external integrity bureau's coordinator: Anna of A is invited and approved at B by
/// B's own coordinator, links her two accounts (both passwords), and from then on one
/// login at A switches to B without a password; the switch link works once, for a minute.
/// Someone else's account at B cannot be linked, and a wrong password links nothing.
async fn one_person_coordinates_for_two_organisations_with_one_login(backend: Backend) {
    let (app, anna_a, bert, _reporter_a, reporter_b) = two_organisations(backend).await;
    let what_b = marker("beekdal");
    app.submit_report(&reporter_b, &what_b).await;

    // B's coordinator invites Anna; she sets a password at B; Bert approves her there.
    let page = bert.get("/beheer/coordinatoren").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = bert
        .post(
            "/beheer/coordinatoren/uitnodigen",
            &[
                ("csrf", csrf.as_str()),
                ("display_name", "Anna (bureau)"),
                ("username", "anna.bureau"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let token = res
        .body
        .split("/beheer/uitnodiging/")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("invite link");
    let anna_at_b = Browser::for_host(HOST_B, app.port());
    let path = format!("/beheer/uitnodiging/{token}");
    let res = anna_at_b
        .post(
            &path,
            &[
                ("password", crate::helpers::PASSWORD),
                ("password_repeat", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let page = bert.get("/beheer/coordinatoren").await;
    let approve = between(&page.body, "<form method=\"post\" action=\"", "\"").expect("approve form");
    let res = bert.post(&approve, &[("csrf", csrf.as_str())]).await;
    assert!(res.body.contains("is goedgekeurd"), "{}", res.body);
    // Bert gives her the report (she joined after it came in).
    let href = first_report_link(&bert).await;
    let state_b = app.registry.state_of(2).expect("B");
    let anna_b_id = state_b
        .store
        .coordinator_by_username("anna.bureau")
        .await
        .expect("db")
        .expect("anna at B")
        .id;
    let report = bert.get(&href).await;
    let rcsrf = hidden(&report.body, "csrf").expect("csrf");
    let res = bert
        .post(
            &format!("{href}/toegang"),
            &[("csrf", rcsrf.as_str()), ("coordinator", anna_b_id.as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    // At A, nothing to switch to yet.
    let page = anna_a.get("/beheer/organisaties").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("nog niet"), "{}", page.body);
    let csrf_a = hidden(&page.body, "csrf").expect("csrf");
    let link = |address: &str, username: &str, password: &str, current: &str| {
        vec![
            ("csrf".to_string(), csrf_a.clone()),
            ("address".to_string(), address.to_string()),
            ("username".to_string(), username.to_string()),
            ("password".to_string(), password.to_string()),
            ("current".to_string(), current.to_string()),
        ]
    };
    let post = |fields: Vec<(String, String)>| {
        let anna_a = &anna_a;
        async move {
            let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            anna_a.post("/beheer/organisaties/koppelen", &borrowed).await
        }
    };
    let pw = crate::helpers::PASSWORD;
    // Refused, each with its message, the typed address and username kept, nothing linked:
    // an unknown address, this organisation itself, a wrong password there, a wrong
    // password here, and Bert's account (not hers: she does not know his password).
    for (fields, message) in [
        (link("elders.test", "anna.bureau", pw, pw), "geen andere organisatie"),
        (link(HOST_A, "anna", pw, pw), "geen andere organisatie"),
        (link(HOST_B, "anna.bureau", "fout wachtwoord 1234", pw), "klopt niet"),
        (
            link(HOST_B, "anna.bureau", pw, "fout wachtwoord 1234"),
            "Uw wachtwoord hier klopt niet",
        ),
        (link(HOST_B, "bert", "een gok van iemand anders", pw), "klopt niet"),
    ] {
        let res = post(fields).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(res.body.contains(message), "{message}: {}", res.body);
        assert!(res.body.contains("class=\"error-summary\""));
    }
    assert!(anna_a.get("/beheer/organisaties").await.body.contains("nog niet"));
    // A post without the page's token is refused.
    let res = anna_a
        .post(
            "/beheer/organisaties/koppelen",
            &[("address", HOST_B), ("username", "anna.bureau")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // Linked with both passwords.
    let res = post(link(&format!("https://{HOST_B}/"), "anna.bureau", pw, pw)).await;
    assert!(res.body.contains("Gekoppeld."), "{}", res.body);
    let page = anna_a.get("/beheer/organisaties").await;
    assert!(
        page.body.contains("Overstappen naar Waterschap Beekdal"),
        "{}",
        page.body
    );

    // One click: a one-minute link to B's host, which B turns into a session there.
    let res = post_here(
        &anna_a,
        "/beheer/organisaties/overstappen",
        &[("csrf", csrf_a.as_str()), ("organisation", "2")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let to = res.location.expect("to B");
    let prefix = format!("http://{HOST_B}/beheer/overstappen/");
    let arrive = to
        .strip_prefix(&format!("http://{HOST_B}"))
        .expect("B's own host")
        .to_string();
    assert!(to.starts_with(&prefix), "{to}");
    let same_person_at_b = Browser::for_host(HOST_B, app.port());
    let res = same_person_at_b.get(&arrive).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let opened = same_person_at_b.get(&href).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(opened.body.contains(&what_b), "she reads B's report as B's coordinator");
    // The link is spent: used again (or by someone who saw it), it opens nothing.
    let replay = Browser::for_host(HOST_B, app.port());
    let res = replay.get(&arrive).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_ne!(replay.get("/beheer").await.status, StatusCode::OK);
    // It expires within the minute when not used.
    let res = post_here(
        &anna_a,
        "/beheer/organisaties/overstappen",
        &[("csrf", csrf_a.as_str()), ("organisation", "2")],
    )
    .await;
    let late = res.location.expect("to B");
    app.clock.set(crate::helpers::T0 + 61);
    let res = Browser::for_host(HOST_B, app.port())
        .get(late.strip_prefix(&format!("http://{HOST_B}")).expect("path"))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    // Both organisations' audit trails say what happened, each its own half.
    let audit_b = bert.get("/beheer/logboek").await;
    assert!(audit_b
        .body
        .contains("ingelogd vanuit het eigen account bij een andere organisatie"));
    assert!(!audit_b.body.contains("Aldam"));
    // A switch to an organisation she has no link to is refused.
    let res = anna_a
        .post(
            "/beheer/organisaties/overstappen",
            &[("csrf", csrf_a.as_str()), ("organisation", "3")],
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
}

/// A form post whose redirect is not followed (it leads to another host).
async fn post_here(b: &Browser, path: &str, fields: &[(&str, &str)]) -> crate::helpers::Page {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    b.post_raw(path, body.into_bytes()).await
}
