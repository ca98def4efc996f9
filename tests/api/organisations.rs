//! One installation, several organisations (issue 23), through the real HTTP interface:
//! each organisation set up through its own link on its own host, and sealed off from the
//! other — its meldcodes, sessions, report ids, files and pages answer at the other as if
//! they did not exist. Runs on SQLite (a file per organisation) and PostgreSQL (row-level
//! security).

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, marker, run_setup, spawn_app_with, Backend, Browser, TestApp};

both_backends!(
    two_organisations_serve_side_by_side_and_see_nothing_of_each_other,
    a_single_organisation_answers_any_host_and_a_second_makes_hosts_strict,
    suspending_an_organisation_stops_only_it,
);

const HOST_A: &str = "meldpunt.aldam.test";
const HOST_B: &str = "meldpunt.beekdal.test";

async fn two_organisations(backend: Backend) -> (TestApp, Browser, Browser, Browser, Browser) {
    let app = spawn_app_with(backend, |s| {
        s.http.public_url = format!("http://{HOST_A}");
        s.organisation.name = "Gemeente Aldam".into();
    })
    .await;
    let coord_a = Browser::for_host(HOST_A, app.port());
    let path = app.setup_path.clone().expect("set-up link");
    run_setup(&coord_a, &path, "anna").await;
    let (id, link) = app
        .registry
        .add("Waterschap Beekdal", &format!("http://{HOST_B}"))
        .await
        .expect("add organisation");
    assert_eq!(id, 2);
    let link = match link {
        meldpunt::features::coordinator::account::SetupLink::New(l) => l.to_string(),
        _ => panic!("a new organisation gets a set-up link"),
    };
    let path_b = link
        .strip_prefix(&format!("http://{HOST_B}"))
        .expect("the link is on the organisation's own host")
        .to_string();
    let coord_b = Browser::for_host(HOST_B, app.port());
    run_setup(&coord_b, &path_b, "bert").await;
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
    // One organisation: whatever host the server is reached on, as before.
    let other = Browser::for_host("elders.test", app.port());
    let page = other.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Gemeente Aldam"));
    assert_eq!(app.browser().get("/").await.status, StatusCode::OK);

    app.registry
        .add("Waterschap Beekdal", &format!("http://{HOST_B}"))
        .await
        .expect("add");
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
