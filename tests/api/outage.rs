//! The database goes away under a running service (issue 24): every page that needs it
//! answers 503 with Retry-After, saying the failure is ours and to come back, never 500;
//! a reporter's typed message is kept on the page.

use meldpunt::storage::Store;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, marker, spawn_app, Backend, Page, TestApp, PASSWORD};

both_backends!(pages_that_need_the_database_answer_503_when_it_is_gone);

/// Takes the database away (`on`) or gives it back. PostgreSQL: the database stops taking
/// connections (the test connects as a superuser, whom a connection limit does not stop)
/// and the app's open ones are ended. SQLite: the pool is closed, as a file that cannot be
/// opened any more leaves it (the pool cannot be reopened, so `on = false` does nothing).
async fn database_gone(app: &TestApp, on: bool) {
    match &app.state.store {
        Store::Sqlite(pool) => {
            if on {
                pool.close().await;
            }
        }
        Store::Postgres(_) => {
            use sqlx::Connection;
            let url = app.pg_url.as_deref().expect("pg url");
            let name = url.rsplit('/').next().expect("db name");
            let admin = std::env::var(crate::helpers::PG_ENV).expect("admin url");
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("admin connection");
            sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {}", !on))
                .execute(&mut conn)
                .await
                .expect("alter database");
            if on {
                sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                    .bind(name)
                    .execute(&mut conn)
                    .await
                    .expect("terminate sessions");
            }
            conn.close().await.ok();
        }
    }
}

fn assert_retry_later(what: &str, page: &Page) {
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what} answers 503 while the database is gone: {}",
        page.body
    );
    assert!(
        page.headers.get(reqwest::header::RETRY_AFTER).is_some(),
        "{what} says when to come back"
    );
    assert!(
        !page.body.contains("Er ging iets mis<"),
        "{what} does not show the page for a bug"
    );
}

async fn pages_that_need_the_database_answer_503_when_it_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    let code = app.submit_report(&reporter, "onbereikbaar").await;
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    assert_eq!(thread.status, StatusCode::OK);
    let csrf = hidden(&thread.body, "csrf").expect("csrf");
    let inbox = coord.get("/beheer").await;
    let report_page = between(&inbox.body, "<td><a href=\"", "\"").expect("link to the report");
    assert_eq!(coord.get(&report_page).await.status, StatusCode::OK);
    let visitor = app.browser();
    let login_form = visitor.get("/beheer/inloggen").await;
    assert_eq!(login_form.status, StatusCode::OK);

    database_gone(&app, true).await;

    assert_retry_later("the reporter's thread", &reporter.get("/opvolgen").await);
    let opened = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
    assert_retry_later("opening a report with its code", &opened);
    let inbox = coord.get("/beheer").await;
    assert_retry_later("the inbox", &inbox);
    assert!(
        inbox.body.contains("Er ging bij ons iets mis, niet bij u"),
        "the page says the failure is ours: {}",
        inbox.body
    );
    assert_retry_later("a report page", &coord.get(&report_page).await);
    let login = visitor
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;
    assert_retry_later("logging in", &login);

    // A reporter's typed message comes back on the page, to send again later.
    let typed = marker("getypt");
    let sent = reporter
        .post(
            "/opvolgen/bericht",
            &[("csrf", csrf.as_str()), ("message", typed.as_str())],
        )
        .await;
    assert_retry_later("sending a message", &sent);
    assert!(sent.body.contains(&typed), "the typed message is kept: {}", sent.body);

    // PostgreSQL: the database comes back, and so do the pages, by themselves.
    if app.pg_url.is_some() {
        database_gone(&app, false).await;
        let inbox = coord.get("/beheer").await;
        assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
        assert_eq!(reporter.get("/opvolgen").await.status, StatusCode::OK);
    }
}
