//! Retention and the register through the test clock: a closed report's content is
//! destroyed when its period ends (wraps, sealed fields, messages, notes, files: nothing of
//! it stays in the database file or any table), a reopened or extended report stays, the
//! meldcode then says the report was removed, and the register keeps its dates and labels.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    between, hidden, links, report_fields, spawn_app, start_instance, Backend, Browser, TestApp, PASSWORD, T0,
};

both_backends!(closed_reports_are_destroyed_after_retention_and_the_register_stays);

const DAY: i64 = 86_400;

async fn login(app: &TestApp) -> Browser {
    let b = app.browser();
    let res = b
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    b
}

/// The admin page of the report whose text holds `what`, and its CSRF token.
async fn report_href(coord: &Browser, what: &str) -> (String, String) {
    let inbox = coord.get("/beheer").await;
    for href in links(&inbox.body, "/beheer/melding/") {
        let page = coord.get(&href).await;
        if page.body.contains(what) {
            return (href, hidden(&page.body, "csrf").expect("csrf"));
        }
    }
    panic!("no report with {what} in the inbox: {}", inbox.body)
}

async fn scalar_i64(app: &TestApp, sql: &str, id: &str) -> i64 {
    match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar::<_, i64>(sql).bind(id).fetch_one(p).await,
        meldpunt::storage::Store::Postgres(p) => sqlx::query_scalar::<_, i64>(sql).bind(id).fetch_one(p).await,
    }
    .expect(sql)
}

async fn blobs(app: &TestApp, sql: &str, id: &str) -> Vec<Vec<u8>> {
    match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar::<_, Vec<u8>>(sql).bind(id).fetch_all(p).await,
        meldpunt::storage::Store::Postgres(p) => sqlx::query_scalar::<_, Vec<u8>>(sql).bind(id).fetch_all(p).await,
    }
    .expect(sql)
}

/// How many of `sealed` have a piece in the SQLite file, its write-ahead log, the
/// evidence file beside it or that file's journal.
fn sealed_in_file(path: &std::path::Path, sealed: &[Vec<u8>]) -> usize {
    let mut raw = std::fs::read(path).expect("database file");
    raw.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
    let evidence = meldpunt::storage::evidence_file(path);
    raw.extend(std::fs::read(&evidence).expect("evidence file"));
    raw.extend(std::fs::read(path.with_extension("db-evidence-journal")).unwrap_or_default());
    sealed
        .iter()
        .filter(|blob| {
            let probe = &blob[blob.len() / 2..(blob.len() / 2 + 24).min(blob.len())];
            raw.windows(probe.len()).any(|w| w == probe)
        })
        .count()
}

async fn purge(app: &TestApp, dry_run: bool) -> Vec<String> {
    let s = &app.state.settings.retention;
    meldpunt::features::retention::purge(&app.state.store, s, &app.clock, dry_run)
        .await
        .expect("purge")
        .reports
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn closed_reports_are_destroyed_after_retention_and_the_register_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let keep_days = app.state.settings.retention.keep_days_after_closing;

    // A: with a file, a coordinator message, and closed with a reason; it is destroyed.
    let reporter = app.browser();
    let form = reporter.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let done = reporter
        .post_multipart(
            "/melden",
            &report_fields("bewaar-a: de facturen", &token),
            &[("files_original", "bewijs.txt", b"bewijs-a-inhoud\n")],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let code_a = crate::helpers::shown_code(&done.body).expect("meldcode");
    // B: completed, then kept longer with a reason; C: closed and reopened.
    let code_b = app.submit_report(&app.browser(), "bewaar-b: de aanbesteding").await;
    let code_c = app.submit_report(&app.browser(), "bewaar-c: het rooster").await;

    let (a, csrf) = report_href(&coord, "bewaar-a").await;
    let (b, _) = report_href(&coord, "bewaar-b").await;
    let (c, _) = report_href(&coord, "bewaar-c").await;
    let post = |href: &str, path: &str, fields: Vec<(&'static str, &'static str)>| {
        let mut all = vec![("csrf", csrf.clone())];
        all.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        let url = format!("{href}/{path}");
        let coord = &coord;
        async move {
            let fields: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            coord.post(&url, &fields).await
        }
    };
    post(&a, "bericht", vec![("message", "bewaar-a-vraag: wanneer was dit?")]).await;
    // An open report cannot be extended.
    let refused = post(&c, "bewaren", vec![("reason", "procedure loopt")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(
        refused.body.contains("kan niet (meer) verlengd worden"),
        "{}",
        refused.body
    );
    for (href, to) in [(&a, "gesloten"), (&b, "afgerond"), (&c, "gesloten")] {
        let res = post(
            href,
            "status",
            vec![("status", to), ("reason", "bewaar-reden: afgehandeld")],
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    let page = coord.get(&a).await;
    assert!(
        page.body.contains("id=\"retention-day\""),
        "a closed report shows its destruction day"
    );

    // Extending needs a reason; the typed text is kept and nothing is stored.
    let refused = post(&b, "bewaren", vec![("reason", "  ")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let b_id = b.rsplit('/').next().expect("id").to_string();
    let kept = "SELECT COUNT(*) FROM reports WHERE id = $1 AND keep_until IS NOT NULL";
    assert_eq!(scalar_i64(&app, kept, &b_id).await, 0);
    let res = post(&b, "bewaren", vec![("reason", "bewaar-b-reden: bezwaar loopt nog")]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("De bewaartermijn is verlengd."), "{}", res.body);
    assert_eq!(scalar_i64(&app, kept, &b_id).await, 1);
    // A second extension adds another period (a procedure can take years); each is audited.
    let day_shown = |body: &str| between(body, "id=\"retention-day\">", "</p>").expect("day shown");
    let first = day_shown(&res.body);
    let again = post(&b, "bewaren", vec![("reason", "hoger beroep")]).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_ne!(day_shown(&again.body), first);

    // C is reopened the next day: its count stops.
    app.clock.set(T0 + DAY);
    let coord = login(&app).await;
    let (_, csrf2) = report_href(&coord, "bewaar-c").await;
    let res = coord
        .post(
            &format!("{c}/status"),
            &[
                ("csrf", csrf2.as_str()),
                ("status", "in_behandeling"),
                ("reason", "nieuw feit"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    // What A's content is made of, to look for afterwards in the raw database.
    let a_id = a.rsplit('/').next().expect("id").to_string();
    let mut sealed = blobs(&app, "SELECT sealed FROM report_fields WHERE report_id = $1", &a_id).await;
    sealed.extend(blobs(&app, "SELECT sealed FROM messages WHERE report_id = $1", &a_id).await);
    sealed.extend(blobs(&app, "SELECT wrapped FROM report_wraps WHERE report_id = $1", &a_id).await);
    sealed.extend(
        blobs(
            &app,
            "SELECT s.sealed FROM evidence_segments s JOIN evidence_files f ON f.id = s.file_id WHERE f.report_id = $1",
            &a_id,
        )
        .await,
    );
    assert!(
        sealed.len() >= 10,
        "answers, a message and a reason, three wraps and a file segment: {}",
        sealed.len()
    );

    if let Some(path) = &app.sqlite_path {
        assert_eq!(
            sealed_in_file(path, &sealed),
            sealed.len(),
            "the probe finds every piece of sealed content while it exists"
        );
    }

    // Thirty days before, the register shows A coming; B (kept longer) and C (open) not.
    app.clock.set(T0 + (keep_days - 20) * DAY);
    let coord = login(&app).await;
    let register = coord.get("/beheer/register").await;
    assert_eq!(register.status, StatusCode::OK);
    let upcoming = between(&register.body, "<ul id=\"upcoming\"", "</ul>").expect("upcoming list");
    assert!(upcoming.contains(&a_id), "{upcoming}");
    assert_eq!(upcoming.matches("<li>").count(), 1, "{upcoming}");

    // The day before it is due nothing goes; on the day A goes, and only A.
    app.clock.set(T0 + (keep_days - 1) * DAY);
    assert!(purge(&app, false).await.is_empty());
    app.clock.set(T0 + keep_days * DAY);
    assert_eq!(purge(&app, true).await, vec![a_id.clone()], "a dry run lists A");
    assert_eq!(
        scalar_i64(&app, "SELECT COUNT(*) FROM report_wraps WHERE report_id = $1", &a_id).await,
        3
    );
    // `serve` runs the same destruction on its own, at start and every check_minutes: an
    // instance started on the due day destroys A.
    let dir = app.pepper_file.parent().expect("dir");
    start_instance(dir, &app.db_url, app.clock.clone()).await;
    let destroyed = "SELECT COUNT(*) FROM reports WHERE id = $1 AND destroyed_on IS NOT NULL";
    for _ in 0..200 {
        if scalar_i64(&app, destroyed, &a_id).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(scalar_i64(&app, destroyed, &a_id).await, 1, "serve destroyed A");
    assert!(purge(&app, false).await.is_empty(), "a second run finds nothing");

    // Nothing of A's content is left in any table ...
    for table in [
        "report_wraps",
        "report_fields",
        "messages",
        "evidence_files",
        "deadline_notices",
    ] {
        let n = scalar_i64(
            &app,
            &format!("SELECT COUNT(*) FROM {table} WHERE report_id = $1"),
            &a_id,
        )
        .await;
        assert_eq!(n, 0, "{table} still holds rows of the destroyed report");
    }
    assert_eq!(app.count("evidence_segments").await, 0);
    // ... nor in the SQLite file or its write-ahead log (where the probe found it before).
    if let Some(path) = &app.sqlite_path {
        assert_eq!(sealed_in_file(path, &sealed), 0);
    }
    // The register entry stays.
    assert_eq!(scalar_i64(&app, destroyed, &a_id).await, 1);
    let audited = "SELECT COUNT(*) FROM audit_events WHERE report_id = $1 AND action = 'report_destroyed'";
    assert_eq!(scalar_i64(&app, audited, &a_id).await, 1);
    let audited = "SELECT COUNT(*) FROM audit_events WHERE report_id = $1 AND action = 'retention_extended'";
    assert_eq!(scalar_i64(&app, audited, &b_id).await, 2);

    // The reporter's code says the report was removed; the others still open.
    let page = app.browser().post("/opvolgen", &[("code", code_a.as_str())]).await;
    let (status, body) = (page.status, page.body);
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert!(body.contains("na de bewaartermijn verwijderd"), "{body}");
    assert!(!body.contains("bewaar-a"));
    for (code, what) in [(&code_b, "bewaar-b"), (&code_c, "bewaar-c")] {
        let page = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(what), "{what} still opens: {}", page.body);
    }

    // Coordinators: A is gone from the inbox and its page, and stays in the register, the
    // CSV and the overview's counts.
    let coord = login(&app).await;
    let inbox = coord.get("/beheer").await;
    assert!(!inbox.body.contains(&a), "{}", inbox.body);
    assert_eq!(coord.get(&a).await.status, StatusCode::NOT_FOUND);
    let register = coord.get("/beheer/register").await;
    assert!(register.body.contains("vernietigd"), "{}", register.body);
    assert_eq!(register.body.matches("<tr").count(), 1 + 3, "{}", register.body);
    let (status, _, csv) = coord.get_bytes("/beheer/register.csv").await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv.expect("csv")).expect("utf-8");
    let line = csv.lines().find(|l| l.contains(&a_id)).expect("A in the CSV");
    assert!(line.contains(",gesloten,written,"), "{line}");
    assert!(!csv.contains("bewaar-"), "the register holds no content");
    let overview = coord.get("/beheer/overzicht.csv").await;
    let reports: u32 = overview
        .body
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(3)?.parse::<u32>().ok())
        .sum();
    assert_eq!(reports, 3, "{}", overview.body);
    // The inbox counts forgot A.
    let counted = "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM inbox_counts WHERE dimension = 'status' AND coordinator_id <> $1";
    assert_eq!(scalar_i64(&app, counted, "").await, 2);
}
