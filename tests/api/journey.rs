//! The whole journey through the real HTTP interface: report, code, follow-up, coordinator
//! reads, acknowledges and replies, reporter answers, coordinator sees the answer.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, marker, spawn_app, Backend};

both_backends!(report_to_answer_round_trip, english_reporter_journey);

async fn report_to_answer_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _recovery) = app.setup("anna").await;

    // The reporter makes a report and is shown a meldcode, once.
    let reporter = app.browser();
    let what = marker("what");
    let code = app.submit_report(&reporter, &what).await;
    assert_eq!(code.len(), 29, "five groups of five: {code}");
    assert!(reporter.cookie_values().is_empty(), "no cookie before the code is used");

    // With the code (typed in lower case without hyphens) the reporter opens the report.
    let typed = code.to_lowercase().replace('-', " ");
    let thread = reporter.post("/opvolgen", &[("code", typed.as_str())]).await;
    assert_eq!(thread.status, StatusCode::OK, "{}", thread.body);
    assert!(thread.body.contains(&what), "the report text is shown back");
    assert!(thread.body.contains("Nieuw"), "status shown");

    // The coordinator sees it in the inbox, with the chain label the reporter's answer gave.
    let inbox = coord.get("/beheer").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("Repressie"));
    assert!(!inbox.body.contains(&what), "the inbox never shows content");
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("a report link");
    let page = coord.get(&href).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&what));
    assert!(page.body.contains("Ontvangst bevestigen"));

    // Acknowledge receipt, then ask a question.
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let acked = coord
        .post(&format!("{href}/ontvangst"), &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(acked.status, StatusCode::OK);
    assert!(
        acked.body.contains("Ontvangst bevestigd op 30 november 2026"),
        "{}",
        acked.body
    );
    let question = marker("question");
    let asked = coord
        .post(
            &format!("{href}/bericht"),
            &[("csrf", csrf.as_str()), ("message", question.as_str())],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains(&question));

    // The reporter sees the acknowledgement, the new status and the question, and answers.
    let thread = reporter.get("/opvolgen").await;
    assert!(thread.body.contains("De ontvangst van de melding is bevestigd"));
    assert!(thread.body.contains("In behandeling"));
    assert!(thread.body.contains(&question));
    let answer = marker("answer");
    let csrf_r = hidden(&thread.body, "csrf").expect("reporter csrf");
    let sent = reporter
        .post(
            "/opvolgen/bericht",
            &[("csrf", csrf_r.as_str()), ("message", answer.as_str())],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.body.contains("Uw bericht is verstuurd"));
    assert!(sent.body.contains(&answer));

    // The coordinator's inbox flags the unread answer, and the report page shows it.
    let inbox = coord.get("/beheer").await;
    assert!(inbox.body.contains("<strong>1</strong>"), "one unread message");
    let page = coord.get(&href).await;
    assert!(page.body.contains(&answer));
    let inbox = coord.get("/beheer").await;
    assert!(!inbox.body.contains("<strong>1</strong>"), "read once opened");

    // Closing the report in the browser forgets it: the code is needed again.
    let thread = reporter.get("/opvolgen").await;
    let csrf_r = hidden(&thread.body, "csrf").expect("csrf");
    let refused = reporter.post("/opvolgen/sluiten", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "sign-out needs the form's token");
    let closed = reporter.post("/opvolgen/sluiten", &[("csrf", csrf_r.as_str())]).await;
    assert!(closed.body.contains("id=\"code\""));
    assert!(!closed.body.contains(&answer));

    // Logging out forgets the coordinator's unsealed key: the old cookie opens nothing.
    let old = coord.cookies();
    let out = coord.post("/beheer/uitloggen", &[("csrf", csrf.as_str())]).await;
    assert!(out.body.contains("name=\"password\""));
    let replay = app.browser();
    replay.set_cookies(old);
    let res = replay.get(&href).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("sessions").await, 0, "logout and close removed both sessions");
}

async fn english_reporter_journey(backend: Backend) {
    let app = spawn_app(backend).await;
    let _ = app.setup("anna").await;
    let reporter = app.browser();
    let home = reporter.get("/?lang=en").await;
    assert!(home.body.contains("How to stay anonymous"));
    assert!(home.body.contains("Huis voor Klokkenluiders"));
    let form = reporter.get("/melden?lang=en").await;
    assert!(form.body.contains("What happened?"));
    let token = hidden(&form.body, "form_token").expect("token");
    let mut fields = crate::helpers::report_fields("English report text", &token);
    fields.push(("lang", "en"));
    let done = reporter.post("/melden?lang=en", &fields).await;
    assert!(done.body.contains("Your report code"), "{}", done.body);
    let code = crate::helpers::shown_code(&done.body).expect("code");
    let thread = reporter
        .post("/opvolgen?lang=en", &[("code", code.as_str()), ("lang", "en")])
        .await;
    assert!(thread.body.contains("Your report"));
    assert!(thread.body.contains("Conflict of interest"));
    assert!(thread.body.contains("English report text"));
}
