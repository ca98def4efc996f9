//! Triage over HTTP: deadlines on fixed dates (month ends, leap years) through the test
//! clock, the status workflow with reopening that needs a reason, relabelling with a
//! reason, internal notes the reporter never sees, the print view and the audit trail.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, marker, spawn_app, Backend, Browser, TestApp, PASSWORD, T0};

both_backends!(
    oral_report_recorded_and_confirmed,
    a_written_report_has_no_minutes_to_confirm,
    chain_overview_and_csv,
    overdue_counts_follow_the_days_and_every_change,
    access_grant_revoke_and_stepping_aside,
    deadlines_on_fixed_dates,
    status_workflow_and_reopening,
    relabelling_notes_print_and_audit,
    audit_rows_of_a_report_stay_with_those_who_hold_it
);

const DAY: i64 = 86_400;

async fn open_first_report(app: &TestApp, coord: &Browser) -> (String, String) {
    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = coord.get(&href).await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let _ = app;
    (href, csrf)
}

async fn relogin(coord: &Browser) {
    coord
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;
}

async fn deadlines_on_fixed_dates(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    app.submit_report(&reporter, "melding van 30 november").await;
    let inbox = coord.get("/beheer").await;
    assert!(
        inbox
            .body
            .contains("Ontvangst bevestigen<br><span class=\"when\">7 december 2026 (nog 7 dagen)</span>"),
        "{}",
        inbox.body
    );

    // Nine days later it is overdue, and stands out.
    app.clock.set(T0 + 9 * DAY);
    relogin(&coord).await;
    let inbox = coord.get("/beheer").await;
    assert!(inbox.body.contains(
        "class=\"deadline overdue\">Ontvangst bevestigen<br><span class=\"when\">7 december 2026 (2 dagen te laat)"
    ));
    let (href, csrf) = open_first_report(&app, &coord).await;
    let page = coord.get(&href).await;
    assert!(page.body.contains("class=\"deadline overdue\""));

    // Acknowledged on 9 December: feedback is due 9 March 2027.
    coord
        .post(&format!("{href}/ontvangst"), &[("csrf", csrf.as_str())])
        .await;
    let page = coord.get(&href).await;
    assert!(
        page.body
            .contains("Terugkoppeling geven</strong>, 9 maart 2027 (nog 90 dagen)"),
        "{}",
        page.body
    );

    // Feedback given with a message: no open deadline any more.
    let res = coord
        .post(
            &format!("{href}/bericht"),
            &[
                ("csrf", csrf.as_str()),
                ("message", "We onderzoeken het."),
                ("feedback", "1"),
            ],
        )
        .await;
    assert!(res.body.contains("geen open termijn"));
    assert!(res.body.contains("Terugkoppeling gegeven op 9 december 2026"));

    // Month end and leap year: acknowledged 30 November 2027, feedback due 29 February 2028.
    app.clock.set(T0 + 365 * DAY);
    relogin(&coord).await;
    app.submit_report(&reporter, "melding van 30 november 2027").await;
    let inbox = coord.get("/beheer").await;
    let href2 = between(&inbox.body, "<td><a href=\"", "\"").expect("newest first");
    assert_ne!(href2, href);
    let page = coord.get(&href2).await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    coord
        .post(&format!("{href2}/ontvangst"), &[("csrf", csrf.as_str())])
        .await;
    let page = coord.get(&href2).await;
    assert!(
        page.body.contains("Terugkoppeling geven</strong>, 29 februari 2028"),
        "{}",
        page.body
    );
}

async fn status_workflow_and_reopening(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    let code = app.submit_report(&reporter, "status-melding").await;
    let (href, csrf) = open_first_report(&app, &coord).await;
    let status = |to: &'static str, reason: &'static str| {
        let (coord, href, csrf) = (&coord, href.clone(), csrf.clone());
        async move {
            coord
                .post(
                    &format!("{href}/status"),
                    &[("csrf", csrf.as_str()), ("status", to), ("reason", reason)],
                )
                .await
        }
    };
    assert!(status("in_onderzoek", "")
        .await
        .body
        .contains("De wijziging is opgeslagen."));
    assert!(status("afgerond", "")
        .await
        .body
        .contains("<strong class=\"status\">Afgerond</strong>"));

    // Going back is only reopening, and reopening needs a reason; the text typed is kept.
    let res = status("in_behandeling", "").await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Geef een reden op."));
    let res = status("nieuw", "terug naar af").await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Deze statuswijziging kan niet"));
    assert!(res.body.contains(">terug naar af</textarea>"));
    let reason = marker("reason");
    let res = status("in_behandeling", Box::leak(reason.clone().into_boxed_str())).await;
    assert!(res.body.contains("<strong class=\"status\">In behandeling</strong>"));
    assert!(res.body.contains(&reason), "the reason is an internal note");

    // The reporter sees the status, never the reason.
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(thread.body.contains("In behandeling"));
    assert!(!thread.body.contains(&reason));

    let audit = coord.get("/beheer/logboek").await;
    let shown = crate::helpers::unescape(&audit.body);
    assert!(
        shown.contains("melding heropend") && shown.contains("afgerond -> in_behandeling"),
        "{shown}"
    );
    assert!(!audit.body.contains(&reason), "no content in the audit trail");
}

async fn relabelling_notes_print_and_audit(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    let what = marker("what");
    let code = app.submit_report(&reporter, &what).await;
    let (href, csrf) = open_first_report(&app, &coord).await;

    let res = coord
        .post(
            &format!("{href}/ketenschakel"),
            &[("csrf", csrf.as_str()), ("code", "preventie"), ("reason", "")],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Geef een reden op."));
    let res = coord
        .post(
            &format!("{href}/ketenschakel"),
            &[("csrf", csrf.as_str()), ("code", "verzonnen"), ("reason", "x")],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = coord
        .post(
            &format!("{href}/ketenschakel"),
            &[
                ("csrf", csrf.as_str()),
                ("code", "preventie"),
                ("reason", "De gedragscode ontbreekt"),
            ],
        )
        .await;
    assert!(
        res.body
            .contains("Ketenschakel: <strong>Preventie</strong> (voorgesteld door de melder: Repressie)"),
        "{}",
        res.body
    );
    assert!(res
        .body
        .contains("Ketenschakel: Repressie → Preventie. Reden: De gedragscode ontbreekt"));
    let res = coord
        .post(
            &format!("{href}/soort"),
            &[
                ("csrf", csrf.as_str()),
                ("code", "fraude"),
                ("reason", "Het gaat om geld"),
            ],
        )
        .await;
    assert!(res.body.contains("Fraude, diefstal of verduistering"));
    let inbox = coord.get("/beheer").await;
    assert!(inbox.body.contains("Preventie") && inbox.body.contains("Fraude"));

    let note = marker("note");
    let res = coord
        .post(&format!("{href}/notitie"), &[("csrf", csrf.as_str()), ("note", "")])
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = coord
        .post(
            &format!("{href}/notitie"),
            &[("csrf", csrf.as_str()), ("note", note.as_str())],
        )
        .await;
    assert!(res.body.contains(&note));
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(
        !thread.body.contains(&note) && !thread.body.contains("gedragscode ontbreekt"),
        "notes never reach the reporter"
    );

    // The print view: the report, thread and notes, no forms; opening it is audited.
    let print = coord.get(&format!("{href}/afdrukken")).await;
    assert_eq!(print.status, StatusCode::OK);
    assert!(print.body.contains(&what) && print.body.contains(&note));
    assert!(!print.body.contains("<form"), "no forms on paper");
    assert!(print.body.contains("Afgedrukt op 30 november 2026"));
    let audit = coord.get("/beheer/logboek").await;
    for action in [
        "afdrukversie geopend",
        "ketenschakel gewijzigd",
        "soort gewijzigd",
        "interne notitie",
        "melding geopend (ontsleuteld)",
        "meldpunt ingericht",
    ] {
        assert!(audit.body.contains(action), "audit lacks {action}");
    }
    assert!(!audit.body.contains(&note) && !audit.body.contains(&what));
    // Dutch local time (T0 is 12:00 UTC, 13:00 in Amsterdam) and a link to the report.
    assert!(audit.body.contains("30-11-2026 13:00"), "{}", audit.body);
    assert!(audit.body.contains(&format!("<a href=\"{href}\">")));

    // A coordinator without access gets 404 for the print view too.
    app.add_coordinator("bert", "Bert", "active", &[]).await;
    let b = app.browser();
    b.post("/beheer/inloggen", &[("username", "bert"), ("password", PASSWORD)])
        .await;
    assert_eq!(b.get(&format!("{href}/afdrukken")).await.status, StatusCode::NOT_FOUND);
    let page = b.get("/beheer").await;
    let bcsrf = hidden(&page.body, "csrf").expect("csrf");
    let res = b
        .post(
            &format!("{href}/notitie"),
            &[("csrf", bcsrf.as_str()), ("note", "mag niet")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

async fn access_grant_revoke_and_stepping_aside(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let bert = app.add_coordinator("bert", "Bert", "active", &[]).await;
    let reporter = app.browser();
    let what = marker("what");
    app.submit_report(&reporter, &what).await;
    let (href, csrf) = open_first_report(&app, &anna).await;
    let b = app.browser();
    b.post("/beheer/inloggen", &[("username", "bert"), ("password", PASSWORD)])
        .await;
    assert_eq!(b.get(&href).await.status, StatusCode::NOT_FOUND);

    // Anna grants Bert access: the report key is wrapped to his key, and he reads it all.
    let res = anna
        .post(
            &format!("{href}/toegang"),
            &[("csrf", csrf.as_str()), ("coordinator", bert.id.as_str())],
        )
        .await;
    assert!(
        res.body.contains("heeft nu toegang"),
        "{}",
        &res.body[..res.body.len().min(3000)]
    );
    let page = b.get(&href).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&what));

    // Anna revokes it; then grants again; Bert steps aside himself.
    anna.post(
        &format!("{href}/toegang-intrekken"),
        &[("csrf", csrf.as_str()), ("coordinator", bert.id.as_str())],
    )
    .await;
    assert_eq!(b.get(&href).await.status, StatusCode::NOT_FOUND);
    anna.post(
        &format!("{href}/toegang"),
        &[("csrf", csrf.as_str()), ("coordinator", bert.id.as_str())],
    )
    .await;
    let page = b.get(&href).await;
    let bcsrf = hidden(&page.body, "csrf").expect("csrf");
    // Stepping aside asks for confirmation first; without it nothing changes.
    let res = b
        .post(
            &format!("{href}/toegang-intrekken"),
            &[("csrf", bcsrf.as_str()), ("coordinator", bert.id.as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Weet u het zeker?") && res.body.contains("<title>Fout:"));
    assert_eq!(b.get(&href).await.status, StatusCode::OK);
    let res = b
        .post(
            &format!("{href}/toegang-intrekken"),
            &[
                ("csrf", bcsrf.as_str()),
                ("coordinator", bert.id.as_str()),
                ("confirm", "1"),
            ],
        )
        .await;
    assert!(res.body.contains("U bent opzij gestapt"), "{}", res.body);
    assert_eq!(b.get(&href).await.status, StatusCode::NOT_FOUND);

    // Anna is the last one with access: she cannot step aside, and nothing changes.
    let anna_id = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    let res = anna
        .post(
            &format!("{href}/toegang-intrekken"),
            &[
                ("csrf", csrf.as_str()),
                ("coordinator", anna_id.as_str()),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("geen enkele coördinator"));
    assert_eq!(anna.get(&href).await.status, StatusCode::OK);

    // A pending coordinator cannot be given access.
    let carla = app.add_coordinator("carla", "Carla", "pending", &[]).await;
    let res = anna
        .post(
            &format!("{href}/toegang"),
            &[("csrf", csrf.as_str()), ("coordinator", carla.id.as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);

    let audit = anna.get("/beheer/logboek").await;
    for action in ["toegang gegeven", "toegang ingetrokken", "opzij gestapt"] {
        assert!(audit.body.contains(action), "audit lacks {action}");
    }
}

async fn chain_overview_and_csv(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let reporter = app.browser();
    // Four reports in 2026-K4 (30 November), three acknowledged the same day; one a quarter
    // later (1 March 2027).
    for what in ["een", "twee", "vier", "vijf"] {
        app.submit_report(&reporter, what).await;
    }
    let inbox = anna.get("/beheer").await;
    let mut hrefs = crate::helpers::links(&inbox.body, "/beheer/melding/");
    hrefs.retain(|h| !h["/beheer/melding/".len()..].contains(['/', '?']));
    hrefs.dedup();
    assert_eq!(hrefs.len(), 4);
    for href in hrefs.iter().take(3) {
        let page = anna.get(href).await;
        let csrf = hidden(&page.body, "csrf").expect("csrf");
        anna.post(&format!("{href}/ontvangst"), &[("csrf", csrf.as_str())])
            .await;
    }
    app.clock.set(T0 + 91 * DAY);
    relogin(&anna).await;
    app.submit_report(&reporter, "drie").await;

    let page = anna.get("/beheer/overzicht").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<svg") && page.body.contains("role=\"img\""),
        "a server-rendered chart"
    );
    assert!(!page.body.contains("<script"), "no JavaScript");
    let row = between(&page.body, "<th scope=\"row\">2026-K4</th>", "</tr>").expect("2026-K4 row");
    // Columns: five chain links (repressie third... in chain order), total 4, open 4, closed 0,
    // median 0.0 days to acknowledge, 1 acknowledgement overdue (the unacknowledged one),
    // shown as "<3" so it does not point at one report.
    assert!(row.contains("<td>4</td><td>4</td><td>0</td><td>0,0</td>"), "{row}");
    assert!(row.contains("class=\"overdue\">&#60;3</td>"), "{row}");
    assert!(page.body.contains("<th scope=\"row\">2027-K1</th>"));

    let csv = anna.get("/beheer/overzicht.csv").await;
    assert_eq!(
        csv.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    assert!(csv
        .headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("attachment")));
    // By 1 March 2027 the acknowledged one's feedback (due 28 February, month end) is late too.
    assert!(
        csv.body
            .contains("2026-K4,repressie,belangenverstrengeling,4,4,0,0.0,<3,3"),
        "{}",
        csv.body
    );
    assert!(
        csv.body
            .contains("2027-K1,repressie,belangenverstrengeling,<3,<3,0,,0,0"),
        "{}",
        csv.body
    );
    assert!(!csv.body.contains("een") && !csv.body.contains("drie"), "no content");
    let audit = anna.get("/beheer/logboek").await;
    assert!(audit.body.contains("overzicht gedownload"));

    // The counts kept by the database's triggers agree with a recount of every report,
    // after relabelling, closing and reopening.
    let (href, csrf) = open_first_report(&app, &anna).await;
    let post = |path: &str, fields: Vec<(&'static str, &'static str)>| {
        let mut all = vec![("csrf", csrf.clone())];
        all.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        let url = format!("{href}/{path}");
        let anna = &anna;
        async move {
            let fields: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            anna.post(&url, &fields).await
        }
    };
    post("soort", vec![("code", "fraude"), ("reason", "het gaat om geld")]).await;
    post(
        "ketenschakel",
        vec![("code", "preventie"), ("reason", "een regel ontbreekt")],
    )
    .await;
    post("status", vec![("status", "gesloten"), ("reason", "")]).await;
    post("status", vec![("status", "in_behandeling"), ("reason", "nieuw feit")]).await;
    let store = &app.state.store;
    let today = app.clock.today();
    let kept =
        meldpunt::features::coordinator::overview::cached_aggregates(store, &app.overview, &app.clock.today_string())
            .await
            .expect("kept");
    let recount =
        meldpunt::features::coordinator::overview::aggregate(&store.overview_rows().await.expect("rows"), today);
    assert_eq!(
        meldpunt::features::coordinator::overview::csv(&kept),
        meldpunt::features::coordinator::overview::csv(&recount)
    );
    assert!(meldpunt::features::coordinator::overview::csv(&kept).contains("preventie,fraude"));
    assert_eq!(
        app.browser().get("/beheer/overzicht.csv").await.status,
        StatusCode::SEE_OTHER,
        "login needed"
    );
}

/// The overview's CSV as a coordinator downloads it, and the same aggregates recounted from
/// every report's row: they must agree, whatever was kept for which day.
async fn overview_csv_matches_a_recount(app: &TestApp, coord: &Browser) -> String {
    let csv = coord.get("/beheer/overzicht.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let store = &app.state.store;
    let recount = meldpunt::features::coordinator::overview::aggregate(
        &store.overview_rows().await.expect("rows"),
        app.clock.today(),
    );
    assert_eq!(csv.body, meldpunt::features::coordinator::overview::csv(&recount));
    csv.body
}

/// The (acknowledgement overdue, feedback overdue) cells of one CSV row.
fn overdue_cells(csv: &str, row: &str) -> (String, String) {
    let line = csv
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("{row} in {csv}"));
    let cells: Vec<&str> = line.split(',').collect();
    (cells[7].to_string(), cells[8].to_string())
}

async fn overdue_counts_follow_the_days_and_every_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let reporter = app.browser();
    for what in ["een", "twee", "drie", "vier", "vijf"] {
        app.submit_report(&reporter, what).await;
    }
    const ROW: &str = "2026-K4,repressie,belangenverstrengeling,5,";
    let csv = overview_csv_matches_a_recount(&app, &anna).await;
    assert_eq!(
        overdue_cells(&csv, ROW),
        ("0".into(), "0".into()),
        "nothing late on day one"
    );

    // Eight days on, none is acknowledged: all five are late, counted for the new day.
    app.clock.set(T0 + 8 * DAY);
    relogin(&anna).await;
    let csv = overview_csv_matches_a_recount(&app, &anna).await;
    assert_eq!(overdue_cells(&csv, ROW), ("5".into(), "0".into()));

    // The same day: acknowledging one and closing another take them off at once.
    let inbox = anna.get("/beheer").await;
    let mut hrefs = crate::helpers::links(&inbox.body, "/beheer/melding/");
    hrefs.retain(|h| !h["/beheer/melding/".len()..].contains(['/', '?']));
    hrefs.dedup();
    assert_eq!(hrefs.len(), 5);
    let csrf_of = |page: &str| hidden(page, "csrf").expect("csrf");
    let page = anna.get(&hrefs[0]).await;
    anna.post(
        &format!("{}/ontvangst", hrefs[0]),
        &[("csrf", csrf_of(&page.body).as_str())],
    )
    .await;
    let page = anna.get(&hrefs[1]).await;
    let closed = anna
        .post(
            &format!("{}/status", hrefs[1]),
            &[
                ("csrf", csrf_of(&page.body).as_str()),
                ("status", "gesloten"),
                ("reason", ""),
            ],
        )
        .await;
    assert!(
        closed.status.is_success() || closed.status.is_redirection(),
        "{}",
        closed.status
    );
    let csv = overview_csv_matches_a_recount(&app, &anna).await;
    assert_eq!(
        overdue_cells(&csv, ROW),
        ("3".into(), "0".into()),
        "one acknowledged, one closed"
    );
    // A closed report is not overdue in the inbox either (it used to keep its old deadline).
    let overdue = anna.get("/beheer?overdue=1").await;
    let id_closed = &hrefs[1]["/beheer/melding/".len()..];
    assert!(
        !overdue.body.contains(id_closed),
        "the closed report is not listed as overdue"
    );

    // Reopening puts its deadline back, and it is late again.
    let page = anna.get(&hrefs[1]).await;
    anna.post(
        &format!("{}/status", hrefs[1]),
        &[
            ("csrf", csrf_of(&page.body).as_str()),
            ("status", "in_behandeling"),
            ("reason", "nieuw feit"),
        ],
    )
    .await;
    let csv = overview_csv_matches_a_recount(&app, &anna).await;
    assert_eq!(overdue_cells(&csv, ROW), ("4".into(), "0".into()), "reopened");

    // Three months on, the acknowledged one's feedback is late as well.
    app.clock.set(T0 + 100 * DAY);
    relogin(&anna).await;
    let csv = overview_csv_matches_a_recount(&app, &anna).await;
    assert_eq!(overdue_cells(&csv, ROW), ("4".into(), "<3".into()));

    // A clock that goes back (another instance a moment behind at midnight) is answered
    // with a live count, never by moving the kept day back.
    app.clock.set(T0 + 8 * DAY);
    relogin(&anna).await;
    let csv = overview_csv_matches_a_recount(&app, &anna).await;
    assert_eq!(overdue_cells(&csv, ROW), ("4".into(), "0".into()));
    app.clock.set(T0 + 100 * DAY);
    relogin(&anna).await;
    let csv = overview_csv_matches_a_recount(&app, &anna).await;
    assert_eq!(overdue_cells(&csv, ROW).1, "<3");

    // A change made elsewhere (another instance on the same database, here straight in SQL)
    // shows at once: what this instance keeps in memory is checked against the database's
    // version of the counts on every request.
    let elsewhere = &hrefs[2]["/beheer/melding/".len()..];
    let sql = "UPDATE reports SET status = 'gesloten', next_due_on = '9999-12-31' WHERE id = $1";
    match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query(sql).bind(elsewhere).execute(p).await.map(|_| ()),
        meldpunt::storage::Store::Postgres(p) => sqlx::query(sql).bind(elsewhere).execute(p).await.map(|_| ()),
    }
    .expect("closed elsewhere");
    let csv = overview_csv_matches_a_recount(&app, &anna).await;
    assert_eq!(overdue_cells(&csv, ROW).0, "3", "one fewer acknowledgement overdue");
}

async fn oral_report_recorded_and_confirmed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let anna_id = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    // Approved and put in the group by a colleague (signed), as in the browser.
    let bert = app.add_coordinator("bert", "Bert", "active", &["integriteit"]).await;
    app.state
        .store
        .remove_member("integriteit", &anna_id)
        .await
        .expect("shape");

    let form = anna.get("/beheer/mondeling").await;
    assert!(form.body.contains("Mondelinge melding vastleggen"));
    // The form speaks to the coordinator about the reporter, not to a reporter.
    assert!(form.body.contains("Hoe weet de melder dit?") && form.body.contains("Wil de melder anoniem blijven?"));
    assert!(!form.body.contains("Hoe weet u dit?") && !form.body.contains("Uw contactgegevens"));
    let token = hidden(&form.body, "form_token").expect("token");
    let csrf = hidden(&form.body, "csrf").expect("csrf");
    let minutes = marker("minutes");
    let mut fields = crate::helpers::report_fields(&minutes, &token);
    let refused = anna.post("/beheer/mondeling", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no CSRF token");
    fields.push(("csrf", csrf.as_str()));
    let done = anna.post("/beheer/mondeling", &fields).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Geef deze eenmalige overdrachtscode aan de melder"));
    // Worded for the coordinator handing a code over, not for a reporter.
    assert!(
        done.body.contains("<title>De mondelinge melding is vastgelegd"),
        "{}",
        done.body
    );
    assert!(done.body.contains("Overdrachtscode voor de melder"));
    assert!(!done.body.contains("Uw meldcode") && !done.body.contains("Uw melding is ontvangen"));
    let handover = crate::helpers::shown_code(&done.body).expect("code to hand over");

    // Routed to Bert (integriteit), and the recording coordinator keeps access too.
    assert_eq!(app.state.store.inbox(&bert.id).await.expect("bert").len(), 1);
    assert_eq!(app.state.store.inbox(&anna_id).await.expect("anna").len(), 1);

    // The handover code's first use gives the reporter a meldcode of their own, which the
    // recording coordinator never saw; the handover code then opens nothing.
    let reporter = app.browser();
    let own = reporter.post("/opvolgen", &[("code", handover.as_str())]).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert!(own.body.contains("Uw eigen meldcode"), "{}", own.body);
    let code = crate::helpers::shown_code(&own.body).expect("the reporter's own code");
    assert_ne!(code, handover);
    assert!(!own.body.contains("class=\"brand\" href"), "shown once");
    let again = app.browser().post("/opvolgen", &[("code", handover.as_str())]).await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the handover code works once"
    );
    assert!(!again.body.contains(&minutes));

    // The reporter reads the minutes with their own code and confirms them.
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(thread.body.contains("Verslag van uw mondelinge melding") && thread.body.contains(&minutes));
    let rcsrf = hidden(&thread.body, "csrf").expect("csrf");
    let confirmed = reporter.post("/opvolgen/bevestigen", &[("csrf", rcsrf.as_str())]).await;
    assert!(
        confirmed
            .body
            .contains("Verslag bevestigd door de melder op 30 november 2026"),
        "{}",
        confirmed.body
    );
    assert!(!confirmed.body.contains("Het verslag klopt</button>"), "confirmed once");
    let twice = reporter.post("/opvolgen/bevestigen", &[("csrf", rcsrf.as_str())]).await;
    assert_eq!(twice.status, StatusCode::OK);
    assert!(
        !twice.body.contains("Uw bericht is verstuurd"),
        "a second confirmation stores nothing and says nothing was sent: {}",
        twice.body
    );

    let inbox = anna.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = anna.get(&href).await;
    assert!(page.body.contains("Mondelinge melding"));
    assert!(page
        .body
        .contains("Verslag bevestigd door de melder op 30 november 2026"));
    assert_eq!(
        page.body.matches("De melder bevestigt dat het verslag").count(),
        1,
        "one confirmation in the thread"
    );
}

/// The audit trail shows a report's events only to coordinators who hold the report: a
/// colleague without access does not learn who opened, moved or relabelled it.
async fn audit_rows_of_a_report_stay_with_those_who_hold_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    app.add_coordinator("bert", "Bert Jansen", "active", &[]).await;
    app.submit_report(&app.browser(), "alleen voor anna").await;
    let (href, csrf) = open_first_report(&app, &anna).await;
    let res = anna
        .post(
            &format!("{href}/status"),
            &[("csrf", csrf.as_str()), ("status", "in_behandeling"), ("reason", "")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let reference = between(&anna.get("/beheer").await.body, "<td><a href=\"", "</a>")
        .and_then(|s| s.rsplit('>').next().map(str::to_string))
        .expect("reference");

    let annas = anna.get("/beheer/logboek").await;
    assert!(annas.body.contains("melding geopend"), "{}", annas.body);
    assert!(annas.body.contains("status gewijzigd"));
    assert!(annas.body.contains(&reference), "{reference}: {}", annas.body);

    let bert = app.browser();
    let res = bert
        .post("/beheer/inloggen", &[("username", "bert"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let berts = bert.get("/beheer/logboek").await;
    assert_eq!(berts.status, StatusCode::OK);
    assert!(berts.body.contains("ingelogd"), "events of no report stay visible");
    for trace in ["melding geopend", "status gewijzigd", reference.as_str()] {
        assert!(!berts.body.contains(trace), "bert sees {trace}: {}", berts.body);
    }
}

/// Confirming minutes is for an oral report. On a written one nothing is stored, and the
/// reporter is not told that something was sent (before: a redirect to "?sent=1").
async fn a_written_report_has_no_minutes_to_confirm(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let reporter = app.browser();
    let code = app.submit_report(&reporter, &marker("geschreven")).await;
    let thread = reporter.post("/opvolgen?lang=en", &[("code", code.as_str())]).await;
    let csrf = hidden(&thread.body, "csrf").expect("csrf");
    let (messages, outbox) = (app.count("messages").await, app.count("outbox").await);
    let res = reporter
        .post(
            "/opvolgen/bevestigen?lang=en",
            &[("csrf", csrf.as_str()), ("lang", "en")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    assert!(
        res.body.contains("Page not found"),
        "in the reporter's language: {}",
        res.body
    );
    assert!(!res.body.contains("Your message has been sent"), "{}", res.body);
    assert_eq!(app.count("messages").await, messages, "no message stored");
    assert_eq!(app.count("outbox").await, outbox, "nobody notified");
    let row = app
        .state
        .store
        .report(&app.report_ids().await[0])
        .await
        .expect("db")
        .expect("report");
    assert!(row.minutes_confirmed_on.is_none());
}
