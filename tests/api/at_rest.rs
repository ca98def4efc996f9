//! A stolen database reveals nothing: after a journey with marker strings everywhere, the
//! raw SQLite files (with WAL) or every PostgreSQL table's bytes hold no marker, meldcode,
//! password, session token or key.

use meldpunt::crypto::recovery;
use meldpunt::features::coordinator::account;

use crate::both_backends;
use crate::helpers::{between, hidden, marker, spawn_app, Backend, TestApp, PASSWORD};

both_backends!(
    database_holds_nothing_in_the_clear,
    a_reporter_session_row_holds_no_time_finer_than_a_day
);

/// Everything the database could be made to say, as one haystack of bytes.
async fn raw_database(app: &TestApp) -> Vec<u8> {
    if let Some(path) = &app.sqlite_path {
        let mut all = Vec::new();
        // The evidence file beside the database holds the sealed segments: it must exist
        // (a file was uploaded) and is searched with the rest.
        let evidence = meldpunt::storage::evidence_file(path);
        assert!(evidence.exists(), "{} exists", evidence.display());
        for suffix in ["", "-wal", "-shm", "-journal", "-evidence", "-evidence-journal"] {
            let p = format!("{}{}", path.display(), suffix);
            if let Ok(bytes) = std::fs::read(&p) {
                all.extend(bytes);
            }
        }
        assert!(all.len() > 4096, "the database files were read");
        return all;
    }
    let url = app.pg_url.as_ref().expect("one backend");
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(&pool)
        .await
        .expect("tables");
    assert!(tables.len() >= 8, "{tables:?}");
    let mut all = Vec::new();
    for t in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT CAST(x AS TEXT) FROM {t} x"))
            .fetch_all(&pool)
            .await
            .expect("rows");
        for r in rows {
            all.extend(r.into_bytes());
            all.push(b'\n');
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The needle as it would appear raw, hex-encoded (bytea text) or in upper-case hex.
fn assert_absent(hay: &[u8], needle: &[u8], what: &str) {
    for form in [
        needle.to_vec(),
        hex::encode(needle).into_bytes(),
        hex::encode_upper(needle).into_bytes(),
    ] {
        assert!(!contains(hay, &form), "{what} found in the database");
    }
}

async fn database_holds_nothing_in_the_clear(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, recovery_lines) = app.setup("anna").await;
    let reporter = app.browser();

    let what = marker("what");
    let when = marker("when");
    let place = marker("where");
    let contact = marker("contact");
    let form = reporter.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let done = reporter
        .post(
            "/melden",
            &[
                ("what", what.as_str()),
                ("when", when.as_str()),
                ("where", place.as_str()),
                ("subject", "raadslid"),
                ("category", "informatie"),
                ("about", "preventie"),
                ("how_known", "documenten"),
                ("anonymity", "vertrouwelijk"),
                ("contact", contact.as_str()),
                ("form_token", token.as_str()),
            ],
        )
        .await;
    let code = crate::helpers::shown_code(&done.body).expect("code");
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    let answer = marker("answer");
    let csrf_r = hidden(&thread.body, "csrf").expect("csrf");
    // Evidence: its name and its bytes (over several chunks) must not be readable either.
    let file_name = format!("{}.txt", marker("filename"));
    let file_text = marker("filecontent");
    let file_bytes = file_text.repeat(200_000 / file_text.len());
    let sent = reporter
        .post_multipart(
            "/opvolgen/bericht",
            &[("csrf", csrf_r.as_str()), ("message", answer.as_str())],
            &[("files", file_name.as_str(), file_bytes.as_bytes())],
        )
        .await;
    assert!(sent.body.contains(&file_name), "the file is listed in the thread");

    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = coord.get(&href).await;
    assert!(
        page.body.contains(&contact),
        "the coordinator reads the confidential contact"
    );
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let question = marker("question");
    let coord_file = format!("{}.txt", marker("coordfile"));
    let coord_text = marker("coordcontent");
    coord
        .post_multipart(
            &format!("{href}/bericht"),
            &[("csrf", csrf.as_str()), ("message", question.as_str())],
            &[("files", coord_file.as_str(), coord_text.as_bytes())],
        )
        .await;
    assert_eq!(app.count("evidence_files").await, 2, "both files were stored");

    let hay = raw_database(&app).await;
    for (m, name) in [
        (&what, "report text"),
        (&when, "when"),
        (&place, "where"),
        (&contact, "contact"),
        (&answer, "reply"),
        (&question, "question"),
        (&file_name, "file name"),
        (&file_text, "file content"),
        (&coord_file, "coordinator's file name"),
        (&coord_text, "coordinator's file content"),
    ] {
        assert_absent(&hay, m.as_bytes(), name);
    }
    // The clear columns are there, so the haystack is the real one.
    assert!(contains(&hay, b"preventie") && contains(&hay, b"raadslid"));

    assert_absent(&hay, code.as_bytes(), "meldcode");
    let bare = code.replace('-', "");
    assert_absent(&hay, bare.as_bytes(), "meldcode without hyphens");
    assert_absent(&hay, &bare.as_bytes()[8..24], "meldcode secret");
    // The locator index is keyed with the pepper: the digest anyone can compute for each of
    // the 2^40 locators is not what is stored.
    let unkeyed = meldpunt::domain::meldcode::Meldcode::parse(&code)
        .expect("code")
        .unkeyed_locator();
    assert_absent(&hay, &unkeyed, "unkeyed locator digest");
    assert_absent(&hay, PASSWORD.as_bytes(), "password");
    for (_, v) in reporter.cookies().into_iter().chain(coord.cookies()) {
        assert_absent(&hay, v.as_bytes(), "session token");
    }
    let recovery_key = recovery::decode(&recovery_lines).expect("recovery key reads back");
    assert_absent(&hay, recovery_key.to_zeroizing_bytes().as_ref(), "recovery private key");
    for line in recovery_lines.lines() {
        assert_absent(&hay, line.as_bytes(), "recovery key line");
    }
    let row = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna");
    let secret = account::unlock(&app.state.kdf, Some(&row), PASSWORD)
        .await
        .expect("not busy")
        .expect("password opens key");
    assert_absent(&hay, secret.to_zeroizing_bytes().as_ref(), "coordinator private key");
}

/// A reporter's session row must not date their visit (DESIGN: reporter actions are datable
/// to the day only): no last-seen time, an end on a day boundary. The idle limit still holds,
/// from the times sealed inside, and use keeps the session alive.
async fn a_reporter_session_row_holds_no_time_finer_than_a_day(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let reporter = app.browser();
    let code = app.submit_report(&reporter, "sessietijden").await;
    let minutes = |m: i64| crate::helpers::T0 + 3_600 * 13 + 17 * 60 + m * 60;
    app.clock.set(minutes(0));
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(thread.body.contains("sessietijden"));
    let q = "SELECT last_seen_at, expires_at FROM sessions WHERE kind = 'reporter'";
    let rows: Vec<(i64, i64)> = match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_as(q).fetch_all(p).await,
        meldpunt::storage::Store::Postgres(p) => sqlx::query_as(q).fetch_all(p).await,
    }
    .expect("sessions");
    assert_eq!(rows.len(), 1);
    let (seen, expires) = rows[0];
    assert_eq!(seen, 0, "no last-seen time");
    assert_eq!(expires % 86_400, 0, "the end is a day boundary");
    assert!(expires > minutes(0));

    // Used every 15 minutes it stays open; left alone past the idle limit it ends.
    let idle = app.state.settings.sessions.reporter_idle_minutes;
    for step in 1..=3 {
        app.clock.set(minutes(step * (idle - 5)));
        let page = reporter.get("/opvolgen").await;
        assert!(
            page.body.contains("sessietijden"),
            "still open after {} minutes",
            step * (idle - 5)
        );
    }
    app.clock.set(minutes(3 * (idle - 5) + idle + 1));
    let page = reporter.get("/opvolgen").await;
    assert!(!page.body.contains("sessietijden"), "ended after {idle} idle minutes");
    assert!(page.body.contains("name=\"code\""), "the code is asked for again");
}
