//! Storage faults injected under a running service: the database runs out of room (SQLite)
//! or turns read-only (PostgreSQL) while reporters submit. Every meldcode shown must open,
//! every refused report keeps its text on a 503 page, `/readyz` tells, and the service
//! recovers by itself once the fault is gone.

use meldpunt::storage::Store;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{hidden, marker, report_fields, spawn_app, Backend, TestApp};

both_backends!(storage_fault_never_shows_a_code_that_does_not_open);

/// Makes the database refuse writes (`on`) or accept them again.
async fn storage_fault(app: &TestApp, on: bool) {
    match &app.state.store {
        Store::Sqlite(pool) => {
            // `max_page_count` is per connection: hold every pooled connection at once and cap
            // each at the pages the file has now, so the next page any of them needs is refused
            // as a full disk would refuse it.
            let mut held = Vec::new();
            for _ in 0..app.state.settings.database.max_connections {
                held.push(pool.acquire().await.expect("connection"));
            }
            for conn in held.iter_mut() {
                let limit = if on {
                    sqlx::query_scalar::<_, i64>("PRAGMA page_count")
                        .fetch_one(&mut **conn)
                        .await
                        .expect("page count")
                } else {
                    1_073_741_823
                };
                sqlx::query(&format!("PRAGMA max_page_count = {limit}"))
                    .execute(&mut **conn)
                    .await
                    .expect("max_page_count");
            }
        }
        Store::Postgres(_) => {
            use sqlx::Connection;
            let url = app.pg_url.as_deref().expect("pg url");
            let name = url.rsplit('/').next().expect("db name");
            let admin = std::env::var(crate::helpers::PG_ENV).expect("admin url");
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("admin connection");
            let setting = if on {
                "SET default_transaction_read_only = on"
            } else {
                "RESET default_transaction_read_only"
            };
            sqlx::query(&format!("ALTER DATABASE {name} {setting}"))
                .execute(&mut conn)
                .await
                .expect("alter database");
            // Open sessions keep their setting: end them, so the pool reconnects under the new one.
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                .bind(name)
                .execute(&mut conn)
                .await
                .expect("terminate sessions");
            conn.close().await.ok();
        }
    }
}

async fn storage_fault_never_shows_a_code_that_does_not_open(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let reporter = app.browser();
    let before = marker("before");
    let form = reporter.get("/melden").await;
    let before_token = hidden(&form.body, "form_token").expect("form token");
    let res = reporter.post("/melden", &report_fields(&before, &before_token)).await;
    let code = crate::helpers::shown_code(&res.body).expect("meldcode shown");
    let mut shown = vec![(before.clone(), code.clone())];
    // A reporter who has their report open, about to answer a question.
    let follower = app.browser();
    let thread = follower.post("/opvolgen", &[("code", code.as_str())]).await;
    let follower_csrf = hidden(&thread.body, "csrf").expect("reporter csrf");
    assert_eq!(app.browser().get("/readyz").await.status, StatusCode::OK);

    storage_fault(&app, true).await;
    let ready = app.browser().get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.body);
    // The reason, not the database's error text or the paths it names (anyone may ask).
    assert_eq!(ready.body.trim(), "not ready: the database refuses writes");

    // The form still opens, and a report that cannot be stored comes back with its text.
    let mut refused = 0;
    for i in 0..8 {
        let b = app.browser();
        let form = b.get("/melden").await;
        assert_eq!(
            form.status,
            StatusCode::OK,
            "the form needs no database write: {}",
            form.body
        );
        let token = hidden(&form.body, "form_token").expect("form token");
        let what = marker(&format!("during-{i}"));
        let res = b.post("/melden", &report_fields(&what, &token)).await;
        match res.status {
            StatusCode::OK => {
                let code = crate::helpers::shown_code(&res.body).expect("meldcode shown");
                shown.push((what, code));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert!(res.body.contains(&what), "the typed text is kept: {}", res.body);
                assert!(!res.body.contains("id=\"meldcode\""));
            }
            other => panic!("a storage fault gave {other}: {}", res.body),
        }
    }
    assert!(refused > 0, "the fault refused no report at all");
    // An answer that cannot be stored comes back with its text, whatever part of the
    // database failed first.
    let answer = marker("antwoord-tijdens-storing");
    let res = follower
        .post(
            "/opvolgen/bericht",
            &[("csrf", follower_csrf.as_str()), ("message", answer.as_str())],
        )
        .await;
    let answer_stored = match res.status {
        StatusCode::SERVICE_UNAVAILABLE => {
            assert!(res.body.contains(&answer), "the typed answer is kept: {}", res.body);
            false
        }
        // Room enough was left in the file for this one: then it must be there later.
        s if s.is_success() || s.is_redirection() => true,
        other => panic!("an answer during the fault gave {other}: {}", res.body),
    };

    storage_fault(&app, false).await;
    // The service recovers by itself: ready again, and new reports are stored.
    let mut ready = app.browser().get("/readyz").await.status;
    for _ in 0..50 {
        if ready == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ready = app.browser().get("/readyz").await.status;
    }
    assert_eq!(ready, StatusCode::OK, "ready again once the fault is gone");
    // The first form sent again (a reload): its transaction is rolled back on purpose, on
    // whichever connections the fault left behind.
    for _ in 0..8 {
        let again = reporter.post("/melden", &report_fields(&before, &before_token)).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert_eq!(
            crate::helpers::shown_code(&again.body).as_deref(),
            Some(shown[0].1.as_str()),
            "the same code is shown again"
        );
    }
    for i in 0..6 {
        let what = marker(&format!("after-{i}"));
        let code = app.submit_report(&app.browser(), &what).await;
        shown.push((what, code));
    }

    if answer_stored {
        let thread = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
        assert!(thread.body.contains(&answer), "an answer taken is stored");
    }
    // Every code that was shown opens its report, with the text that was sent.
    for (what, code) in &shown {
        let b = app.browser();
        let thread = b.post("/opvolgen", &[("code", code.as_str())]).await;
        assert_eq!(
            thread.status,
            StatusCode::OK,
            "code {code} does not open: {}",
            thread.body
        );
        assert!(thread.body.contains(what.as_str()), "the report's own text");
    }
    assert_eq!(
        app.report_ids().await.len(),
        shown.len(),
        "no report stored without a code shown"
    );
}
