//! Storage faults injected under a running service: the database runs out of room (SQLite)
//! or turns read-only (PostgreSQL) while reporters submit. Every meldcode shown must open,
//! every refused report keeps its text on a 503 page, `/readyz` tells, and the service
//! recovers by itself once the fault is gone.

use meldpunt::storage::Store;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, marker, report_fields, spawn_app, Backend, TestApp};

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
                // A full disk fills the database and the evidence file beside it alike.
                for schema in ["main", "evidence"] {
                    cap_pages(conn, schema, on).await;
                }
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

/// Caps `schema` of one SQLite connection at the pages it has now (`on`), or lifts the cap.
async fn cap_pages(conn: &mut sqlx::SqliteConnection, schema: &str, on: bool) {
    let limit = if on {
        sqlx::query_scalar::<_, i64>(&format!("PRAGMA {schema}.page_count"))
            .fetch_one(&mut *conn)
            .await
            .expect("page count")
    } else {
        1_073_741_823
    };
    sqlx::query(&format!("PRAGMA {schema}.max_page_count = {limit}"))
        .execute(&mut *conn)
        .await
        .expect("max_page_count");
}

/// Only the evidence file (SQLite) runs out of room: the database has room for the report.
async fn evidence_file_fault(app: &TestApp, on: bool) {
    let Store::Sqlite(pool) = &app.state.store else {
        panic!("SQLite only")
    };
    let mut held = Vec::new();
    for _ in 0..app.state.settings.database.max_connections {
        held.push(pool.acquire().await.expect("connection"));
    }
    for conn in held.iter_mut() {
        cap_pages(conn, "evidence", on).await;
    }
}

/// What came of sending a report with a file: the answer, and with a meldcode shown, the
/// code and the file's bytes as its reporter downloads them.
struct WithFile {
    status: StatusCode,
    body: String,
    code: Option<String>,
    download: Option<Vec<u8>>,
}

async fn report_with_file(app: &TestApp, what: &str, bytes: &[u8]) -> WithFile {
    let b = app.browser();
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("form token");
    let res = b
        .post_multipart(
            "/melden",
            &report_fields(what, &token),
            &[("files", "bewijs.bin", bytes)],
        )
        .await;
    let Some(code) = crate::helpers::shown_code(&res.body) else {
        return WithFile {
            status: res.status,
            body: res.body,
            code: None,
            download: None,
        };
    };
    let reader = app.browser();
    let thread = reader.post("/opvolgen", &[("code", code.as_str())]).await;
    let link = between(&thread.body, "href=\"/opvolgen/bestanden/", "\"").expect("file link");
    let (status, _, got) = reader.get_bytes(&format!("/opvolgen/bestanden/{link}")).await;
    assert_eq!(status, StatusCode::OK);
    WithFile {
        status: res.status,
        body: res.body,
        code: Some(code),
        download: got.ok(),
    }
}

/// The evidence file (SQLite keeps it beside the database) fills up while the database
/// itself has room: a report with a file is refused with its text kept, no half of it is
/// stored, and once there is room the same report goes through and its file comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_evidence_file_refuses_the_report_and_keeps_its_text() {
    let app = spawn_app(Backend::Sqlite).await;
    app.setup("anna").await;
    let mut bytes = vec![0u8; 3 * 1024 * 1024];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    evidence_file_fault(&app, true).await;
    let ready = app.browser().get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.body);
    assert_eq!(ready.body.trim(), "not ready: the evidence file refuses writes");
    let what = marker("met-bestand");
    let refused = report_with_file(&app, &what, &bytes).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.body);
    assert!(refused.body.contains(&what), "the typed text is kept: {}", refused.body);
    assert!(
        refused.body.contains("Er ging bij ons iets mis, niet bij u"),
        "{}",
        refused.body
    );
    assert!(refused.code.is_none(), "no meldcode shown");
    assert!(app.report_ids().await.is_empty(), "no report stored");
    assert_eq!(app.count("evidence_files").await, 0, "no file row left behind");

    evidence_file_fault(&app, false).await;
    assert_eq!(app.browser().get("/readyz").await.status, StatusCode::OK);
    let stored = report_with_file(&app, &what, &bytes).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    assert!(
        stored.download.as_deref() == Some(&bytes[..]),
        "the file comes back as sent"
    );
}

/// The evidence file is lost (deleted, or its volume not mounted): the start stops and says
/// what to do, instead of taking new evidence into an empty file, and leaves no empty file
/// behind that a second start would take for the real one. An operator who has lost it for
/// good creates it empty: then the service starts, every report opens, a file without its
/// content shows an error page, and new files are taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_evidence_file_stops_the_start_until_it_is_back_or_given_up() {
    let app = spawn_app(Backend::Sqlite).await;
    app.setup("anna").await;
    let what = marker("bestand-kwijt");
    let sent = report_with_file(&app, &what, b"bewijsstuk").await;
    let code = sent.code.expect("meldcode shown");
    app.state.store.close().await;

    let db = app.sqlite_path.clone().expect("SQLite");
    let evidence = meldpunt::storage::evidence_file(&db);
    std::fs::remove_file(&evidence).expect("the evidence file was there");
    let dir = db.parent().and_then(|d| d.parent()).expect("dir");
    for _ in 0..2 {
        let refused =
            meldpunt::startup::Application::build(crate::helpers::test_settings(dir, &app.db_url), app.clock.clone())
                .await;
        let Err(e) = refused else {
            panic!("started without its evidence file")
        };
        let said = format!("{e:#}");
        assert!(
            said.contains("is missing") && said.contains(&evidence.display().to_string()),
            "{said}"
        );
        assert!(!evidence.exists(), "no empty evidence file is left behind");
    }

    // Given up for good: an empty file, as the message says.
    std::fs::write(&evidence, b"").expect("touch");
    let base = crate::helpers::start_instance(dir, &app.db_url, app.clock.clone()).await;
    let store = meldpunt::storage::Store::connect_existing(&app.db_url, 1)
        .await
        .expect("open");
    assert_eq!(
        store.files_without_content().await.expect("count"),
        1,
        "what start-up logs"
    );
    store.close().await;
    let b = crate::helpers::Browser::new(&base, None);
    let thread = b.post("/opvolgen", &[("code", code.as_str())]).await;
    assert_eq!(thread.status, StatusCode::OK);
    assert!(thread.body.contains(&what), "the report still opens");
    let link = between(&thread.body, "href=\"/opvolgen/bestanden/", "\"").expect("file link");
    let (status, _, _) = b.get_bytes(&format!("/opvolgen/bestanden/{link}")).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "an error page, not a cut-off file"
    );
    // New reports, with files, are taken.
    let b = crate::helpers::Browser::new(&base, None);
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("form token");
    let res = b
        .post_multipart(
            "/melden",
            &report_fields("daarna", &token),
            &[("files", "nieuw.bin", b"nieuw")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// Segments left without their file row (a crash between the database's commit and the
/// evidence file's) are swept; the segments of stored files stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_left_without_their_file_are_swept() {
    let app = spawn_app(Backend::Sqlite).await;
    app.setup("anna").await;
    let mut bytes = vec![0u8; 2 * 1024 * 1024 + 5];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    let kept = report_with_file(&app, &marker("blijft"), &bytes).await;
    let segments = app.count("evidence_segments").await;
    assert!(segments >= 2, "{segments}");
    let Store::Sqlite(pool) = &app.state.store else {
        panic!("SQLite only")
    };
    for seq in 0..3 {
        sqlx::query("INSERT INTO evidence_segments (file_id, seq, sealed) VALUES ('verweesd', $1, x'00')")
            .bind(seq)
            .execute(pool)
            .await
            .expect("orphan");
    }
    assert_eq!(app.state.store.sweep_orphan_segments().await.expect("sweep"), 3);
    assert_eq!(app.count("evidence_segments").await, segments);
    let reader = app.browser();
    let thread = reader
        .post("/opvolgen", &[("code", kept.code.expect("code").as_str())])
        .await;
    let link = between(&thread.body, "href=\"/opvolgen/bestanden/", "\"").expect("file link");
    let (_, _, got) = reader.get_bytes(&format!("/opvolgen/bestanden/{link}")).await;
    assert!(got.as_deref() == Ok(&bytes[..]), "the stored file is whole");
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
                // Said as our failure, not the reporter's: a banner of its own, nothing
                // to correct, and the other channels named.
                assert!(
                    res.body.contains("Er ging bij ons iets mis, niet bij u"),
                    "{}",
                    res.body
                );
                assert!(res.body.contains("Er is niets opgeslagen"));
                assert!(res.body.contains("Huis voor Klokkenluiders"));
                assert!(!res.body.contains("<title>Fout:"), "{}", res.body);
                assert!(!res.body.contains("pas het volgende aan"));
                assert!(
                    !res.body.contains("id=\"what-error\""),
                    "nothing is said under the text"
                );
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
