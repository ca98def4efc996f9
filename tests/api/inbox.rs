//! The inbox at work: filters with counts, overdue, ordering by nearest deadline, and keyset
//! pages that neither skip nor repeat a report; the maintained counts match a recount.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, spawn_app, Backend, TestApp, T0};

both_backends!(filters_counts_and_pages, a_report_one_cannot_open_says_whom_to_ask);

const DAY: i64 = 86_400;

fn refs(body: &str) -> Vec<String> {
    body.split("class=\"ref\">")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .map(str::to_string)
        .collect()
}

/// The counts kept in `inbox_counts` equal a fresh GROUP BY over the wraps.
async fn counts_match_a_recount(app: &TestApp, coordinator: &str) {
    let kept = app.state.store.inbox_counts(coordinator).await.expect("counts");
    let q = "SELECT 'status', r.status, COUNT(*) FROM reports r JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $1 GROUP BY r.status \
             UNION ALL SELECT 'label', r.chain_label, COUNT(*) FROM reports r JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $1 GROUP BY r.chain_label \
             UNION ALL SELECT 'category', r.category, COUNT(*) FROM reports r JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $1 GROUP BY r.category \
             UNION ALL SELECT 'subject', r.subject_role, COUNT(*) FROM reports r JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $1 GROUP BY r.subject_role";
    let mut fresh: Vec<(String, String, i64)> = match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_as(q).bind(coordinator).fetch_all(p).await.expect("recount"),
        meldpunt::storage::Store::Postgres(p) => {
            sqlx::query_as(q).bind(coordinator).fetch_all(p).await.expect("recount")
        }
    };
    let mut kept = kept;
    kept.sort();
    fresh.sort();
    assert_eq!(kept, fresh);
}

async fn filters_counts_and_pages(backend: Backend) {
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
    let reporter = app.browser();
    for i in 0..30 {
        app.submit_report(&reporter, &format!("oud {i}")).await;
    }
    app.clock.set(T0 + 10 * DAY);
    anna.post(
        "/beheer/inloggen",
        &[("username", "anna"), ("password", crate::helpers::PASSWORD)],
    )
    .await;
    for i in 0..25 {
        app.submit_report(&reporter, &format!("nieuw {i}")).await;
    }

    // Two pages, 50 and 5, newest first; together every report exactly once.
    let first = anna.get("/beheer").await;
    assert_eq!(first.status, StatusCode::OK);
    let one = refs(&first.body);
    assert_eq!(one.len(), 50);
    assert!(first.body.contains("10 december 2026"), "newest first");
    let before_next = first.body.split("\" rel=\"next\"").next().expect("a next page");
    let next = crate::helpers::unescape(before_next.rsplit("href=\"").next().expect("href"));
    let second = anna.get(&next).await;
    let two = refs(&second.body);
    assert_eq!(two.len(), 5);
    assert!(!second.body.contains("rel=\"next\""), "no third page");
    let mut all: Vec<String> = one.iter().chain(two.iter()).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 55, "no report skipped or repeated");

    // Counts per filter, and the overdue filter (the 30 from 30 November are overdue now).
    assert!(first.body.contains("Nieuw (55)"), "status count");
    assert!(
        first.body.contains("<span id=\"overdue-count\">30</span>"),
        "the exact number"
    );
    let overdue = anna.get("/beheer?overdue=1").await;
    assert_eq!(refs(&overdue.body).len(), 30);
    assert!(!overdue.body.contains("10 december 2026"));

    // Nearest deadline first: the overdue ones lead.
    let by_deadline = anna.get("/beheer?sort=deadline").await;
    let first_row = between(&by_deadline.body, "class=\"report-row\">", "</tr>").expect("row");
    assert!(first_row.contains("te laat"), "{first_row}");

    // Acknowledge one and relabel another: counts and filters follow.
    let href = between(&first.body, "<td><a href=\"", "\"").expect("link");
    let page = anna.get(&href).await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    anna.post(&format!("{href}/ontvangst"), &[("csrf", csrf.as_str())])
        .await;
    anna.post(
        &format!("{href}/ketenschakel"),
        &[("csrf", csrf.as_str()), ("code", "nazorg"), ("reason", "steun")],
    )
    .await;
    let inbox = anna.get("/beheer").await;
    assert!(inbox.body.contains("Nieuw (54)") && inbox.body.contains("In behandeling (1)"));
    assert!(inbox.body.contains("Nazorg (1)") && inbox.body.contains("Repressie (54)"));
    let filtered = anna.get("/beheer?status=in_behandeling&label=nazorg").await;
    assert_eq!(refs(&filtered.body).len(), 1);
    let none = anna.get("/beheer?status=gesloten").await;
    assert!(none.body.contains("Geen meldingen voor deze keuze."));
    // Nonsense in the query is ignored, not an error.
    assert_eq!(
        anna.get("/beheer?status=%3Cscript%3E&after=x~y&sort=zzz").await.status,
        StatusCode::OK
    );
    counts_match_a_recount(&app, &anna_id).await;

    // Access changes move the counts too.
    let bert = app.add_coordinator("bert", "Bert", "active", &[]).await;
    anna.post(
        &format!("{href}/toegang"),
        &[("csrf", csrf.as_str()), ("coordinator", bert.id.as_str())],
    )
    .await;
    counts_match_a_recount(&app, &bert.id).await;
    anna.post(
        &format!("{href}/toegang-intrekken"),
        &[("csrf", csrf.as_str()), ("coordinator", bert.id.as_str())],
    )
    .await;
    counts_match_a_recount(&app, &bert.id).await;
    counts_match_a_recount(&app, &anna_id).await;
}

/// A coordinator following a link to a report they do not hold is told it may exist and
/// which colleagues of their own groups can give access; a made-up id gets the very same
/// page, and nobody outside the groups learns who holds it.
async fn a_report_one_cannot_open_says_whom_to_ask(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let what = crate::helpers::marker("niet-voor-iedereen");
    app.submit_report(&app.browser(), &what).await;
    let inbox = anna.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("report link");
    // Bert joins Anna's group after the report came in; Carol is in no group.
    app.add_coordinator("bert", "Bert Jansen", "active", &["integriteit"])
        .await;
    app.add_coordinator("carol", "Carol de Wit", "active", &[]).await;
    let login = |user: &'static str| {
        let b = app.browser();
        async move {
            b.post(
                "/beheer/inloggen",
                &[("username", user), ("password", crate::helpers::PASSWORD)],
            )
            .await;
            b
        }
    };
    let bert = login("bert").await;
    let page = bert.get(&href).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Geen toegang tot deze melding"), "{}", page.body);
    assert!(
        page.body.contains("Anna de Vries"),
        "his group's colleague is named: {}",
        page.body
    );
    assert!(!page.body.contains(&what));
    let made_up = bert.get("/beheer/melding/00000000000000000000000000").await;
    assert_eq!(made_up.status, StatusCode::NOT_FOUND);
    assert_eq!(made_up.body, page.body, "a report that does not exist looks the same");

    let carol = login("carol").await;
    let page = carol.get(&href).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("U zit in geen groep"), "{}", page.body);
    assert!(!page.body.contains("Anna de Vries") && !page.body.contains("Bert Jansen"));
}
