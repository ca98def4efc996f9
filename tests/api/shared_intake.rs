//! A shared intake (issue 23): one form for several bodies. The reporter picks which body
//! the report concerns; only that body's coordinators receive it. A missing or made-up
//! choice is refused with the typed text kept and nothing stored.

use meldpunt::settings::RoutingRule;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, marker, report_fields, spawn_app_with, Backend, TestApp};

both_backends!(the_reporter_picks_the_body_and_only_its_coordinators_receive_the_report);

const ALDAM: &str = "Gemeente Aldam";
const BEEKDAL: &str = "Gemeente Beekdal";

fn rule(name: &str, body: &str, group: &str) -> RoutingRule {
    RoutingRule {
        name: name.into(),
        chain_labels: vec![],
        subject_roles: vec![],
        categories: vec![],
        bodies: vec![body.into()],
        groups: vec![group.into()],
    }
}

async fn holds(app: &TestApp, coordinator: &str) -> usize {
    app.state.store.inbox(coordinator).await.expect("inbox").len()
}

async fn the_reporter_picks_the_body_and_only_its_coordinators_receive_the_report(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.routing.bodies = vec![ALDAM.into(), BEEKDAL.into()];
        s.routing.rule = vec![rule("aldam", ALDAM, "aldam"), rule("beekdal", BEEKDAL, "beekdal")];
    })
    .await;
    app.setup("anna").await;
    let aldam = app
        .add_coordinator("aldam", "Coördinator Aldam", "active", &["aldam"])
        .await;
    let beekdal = app
        .add_coordinator("beekdal", "Coördinator Beekdal", "active", &["beekdal"])
        .await;

    let reporter = app.browser();
    let form = reporter.get("/melden").await;
    assert!(form.body.contains("Over welke organisatie gaat uw melding?"));
    assert!(form.body.contains(ALDAM) && form.body.contains(BEEKDAL));
    let token = hidden(&form.body, "form_token").expect("token");
    let what = marker("beekdal-melding");

    // No choice, or a body the form does not offer: refused at the question, text kept.
    for body in [None, Some("Gemeente Elders"), Some("")] {
        let mut fields = report_fields(&what, &token);
        if let Some(b) = body {
            fields.push(("body", b));
        }
        let res = reporter.post("/melden", &fields).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body:?}");
        let summary = between(&res.body, "class=\"error-summary\"", "</div>").expect("summary");
        assert!(summary.contains("href=\"#body\""), "{summary}");
        assert!(res.body.contains("id=\"body-error\""));
        assert!(res.body.contains("aria-invalid=\"true\""));
        assert!(res.body.contains(&what), "the typed text is kept");
        assert_eq!(app.report_ids().await.len(), 0, "nothing stored");
    }
    // The same name twice (a hostile form): refused as a repeated field.
    let mut fields = report_fields(&what, &token);
    fields.push(("body", BEEKDAL));
    fields.push(("body", ALDAM));
    let res = reporter.post("/melden", &fields).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.report_ids().await.len(), 0);

    // About Beekdal: Beekdal's coordinator receives it, Aldam's does not.
    let mut fields = report_fields(&what, &token);
    fields.push(("body", BEEKDAL));
    let res = reporter.post("/melden", &fields).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!((holds(&app, &beekdal.id).await, holds(&app, &aldam.id).await), (1, 0));
    // The reporter sees the body they chose with their report.
    let code = crate::helpers::shown_code(&res.body).expect("code");
    let thread = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(thread.body.contains(BEEKDAL) && thread.body.contains(&what));

    // About Aldam: the other way round.
    let form = reporter.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let mut fields = report_fields("over Aldam", &token);
    fields.push(("body", ALDAM));
    assert_eq!(reporter.post("/melden", &fields).await.status, StatusCode::OK);
    assert_eq!((holds(&app, &beekdal.id).await, holds(&app, &aldam.id).await), (1, 1));
}
