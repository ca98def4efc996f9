//! The second factor as shipped (required): set-up and login need a TOTP code, a code works
//! once, recovery codes work once, a wrong code is refused, another coordinator can reset
//! it, and the TOTP secret is not in the database in the clear.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    between, enrol_second_factor, hidden, spawn_app_with, totp_code, Backend, Browser, TestApp, PASSWORD, T0,
};

both_backends!(
    set_up_and_login_need_the_second_factor,
    another_coordinator_resets_a_lost_second_factor,
    invited_coordinator_chooses_password_and_second_factor
);

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.security.require_totp = true).await
}

async fn password(b: &Browser, user: &str) -> String {
    let res = b
        .post("/beheer/inloggen", &[("username", user), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    hidden(&res.body, "csrf").expect("the second-factor form")
}

async fn set_up_and_login_need_the_second_factor(backend: Backend) {
    let app = app(backend).await;
    let (anna, _recovery_key) = app.setup("anna").await;
    // After the recovery key, nothing opens before the second factor is set up.
    let inbox = anna.get("/beheer").await;
    assert_eq!(inbox.status, StatusCode::SEE_OTHER);
    let wrong = {
        let page = anna.get("/beheer/tweede-factor").await;
        assert!(page.body.contains("Tweede stap instellen"));
        let csrf = hidden(&page.body, "csrf").expect("csrf");
        anna.post("/beheer/tweede-factor", &[("csrf", csrf.as_str()), ("code", "000000")])
            .await
    };
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("Deze code klopt niet"));
    let (secret, codes) = enrol_second_factor(&anna, T0).await;
    assert_eq!(codes.len(), 10);
    assert_eq!(anna.get("/beheer").await.status, StatusCode::OK);

    // Logging in again: the password leads to the code page, not to the reports.
    let b = app.browser();
    let csrf = password(&b, "anna").await;
    assert_eq!(
        b.get("/beheer").await.status,
        StatusCode::SEE_OTHER,
        "half logged in opens nothing"
    );
    // The code used at enrolment (same 30-second step) is refused: a code works once.
    let res = b
        .post(
            "/beheer/tweede-factor",
            &[("csrf", csrf.as_str()), ("code", totp_code(&secret, T0).as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = b
        .post("/beheer/tweede-factor", &[("csrf", csrf.as_str()), ("code", "123456")])
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    // Thirty seconds later the next code works.
    app.clock.set(T0 + 30);
    let res = b
        .post(
            "/beheer/tweede-factor",
            &[("csrf", csrf.as_str()), ("code", totp_code(&secret, T0 + 30).as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("Meldingen"));

    // A recovery code works once, in any spelling.
    let c = app.browser();
    let csrf = password(&c, "anna").await;
    let spelled = codes[3].to_lowercase().replace('-', " ");
    let res = c
        .post(
            "/beheer/tweede-factor",
            &[("csrf", csrf.as_str()), ("recovery", spelled.as_str())],
        )
        .await;
    assert!(res.body.contains("Meldingen"));
    let audit = c.get("/beheer/logboek").await;
    assert!(
        audit.body.contains("ingelogd met een herstelcode"),
        "a login with a recovery code is audited as such: {}",
        audit.body
    );
    let d = app.browser();
    let csrf = password(&d, "anna").await;
    let res = d
        .post(
            "/beheer/tweede-factor",
            &[("csrf", csrf.as_str()), ("recovery", codes[3].as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "a used recovery code is refused");

    // The TOTP secret is sealed in the database.
    let row = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna");
    let sealed = row.totp_sealed.expect("enrolled");
    let raw = totp_rs::Secret::try_from_base32(&secret)
        .expect("b32")
        .as_bytes()
        .to_vec();
    assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));
}

async fn another_coordinator_resets_a_lost_second_factor(backend: Backend) {
    let app = app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let (anna_secret, _) = enrol_second_factor(&anna, T0).await;
    let bert = app.add_coordinator("bert", "Bert", "active", &[]).await;
    // Bert enrols at his first login.
    let b = app.browser();
    password(&b, "bert").await;
    app.clock.set(T0 + 60);
    enrol_second_factor(&b, T0 + 60).await;
    assert_eq!(b.get("/beheer").await.status, StatusCode::OK);

    // Bert loses his phone; Anna resets his second factor, which also ends his sessions.
    let page = anna.get("/beheer/coordinatoren").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let action = format!("/beheer/coordinatoren/{}/tweede-factor", bert.id);
    assert!(page.body.contains(&action));
    // Without Anna's own fresh code the reset is refused.
    let res = anna.post(&action, &[("csrf", csrf.as_str())]).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    // Said at the top of the same page, linked to the code field of that row.
    assert!(res.body.contains("<title>Fout: "));
    let field = format!("reset-code-{}", bert.id);
    assert!(res.body.contains(&format!("href=\"#{field}\"")), "{}", res.body);
    assert!(res.body.contains(&format!("id=\"{field}\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" size=\"7\" aria-invalid=\"true\"")));
    let code = totp_code(&anna_secret, T0 + 60);
    let res = anna
        .post(&action, &[("csrf", csrf.as_str()), ("code", code.as_str())])
        .await;
    assert!(res.body.contains("is gewist"), "{}", res.body);
    assert_eq!(
        b.get("/beheer").await.status,
        StatusCode::SEE_OTHER,
        "Bert's session ended"
    );
    let anna_id = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    let own = anna
        .post(
            &format!("/beheer/coordinatoren/{anna_id}/tweede-factor"),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(own.status, StatusCode::CONFLICT, "nobody erases their own");

    // At his next login Bert sets it up again.
    let c = app.browser();
    password(&c, "bert").await;
    app.clock.set(T0 + 120);
    enrol_second_factor(&c, T0 + 120).await;
    let audit = anna.get("/beheer/logboek").await;
    assert!(
        audit.body.contains("totp_reset") || audit.body.contains("tweede stap"),
        "reset audited"
    );
}

async fn invited_coordinator_chooses_password_and_second_factor(backend: Backend) {
    let app = app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let (anna_secret, _) = enrol_second_factor(&anna, T0).await;
    let page = anna.get("/beheer/coordinatoren").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let taken = anna
        .post(
            "/beheer/coordinatoren/uitnodigen",
            &[
                ("csrf", csrf.as_str()),
                ("display_name", "Nog een Anna"),
                ("username", "anna"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = anna
        .post(
            "/beheer/coordinatoren/uitnodigen",
            &[
                ("csrf", csrf.as_str()),
                ("display_name", "Dirk de Jong"),
                ("username", "dirk"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let link = res
        .body
        .split("/beheer/uitnodiging/")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the one-time link");
    let path = format!("/beheer/uitnodiging/{link}");

    let dirk = app.browser();
    let page = dirk.get(&path).await;
    assert!(page.body.contains("Dirk de Jong"));
    let weak = dirk
        .post(&path, &[("password", "kort"), ("password_repeat", "kort")])
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = dirk
        .post(
            &path,
            &[
                ("password", PASSWORD),
                ("password_repeat", PASSWORD),
                ("email", "dirk@voorbeeldstad.test"),
            ],
        )
        .await;
    // Dirk's account waits for Anna: he reads her his key's fingerprint.
    let fingerprint = between(
        &res.body,
        "zodat die ziet dat het echt uw account is: ",
        ". Na de goedkeuring",
    )
    .expect("fingerprint shown");
    let dirk_login = [("username", "dirk"), ("password", PASSWORD)];
    let res = dirk.post("/beheer/inloggen", &dirk_login).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "pending: no login yet");
    let page = anna.get("/beheer/coordinatoren").await;
    assert!(
        page.body.contains(&fingerprint),
        "Anna sees the same fingerprint: {}",
        page.body
    );
    let action = between(&page.body, "<form method=\"post\" action=\"", "\"").expect("approve form");
    assert!(action.ends_with("/goedkeuren"));
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    // Approving asks Anna's second factor again: a session alone is not enough.
    let res = anna.post(&action, &[("csrf", csrf.as_str()), ("code", "000000")]).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    app.clock.set(T0 + 30);
    let code = totp_code(&anna_secret, T0 + 30);
    let res = anna
        .post(&action, &[("csrf", csrf.as_str()), ("code", code.as_str())])
        .await;
    assert!(res.body.contains("is goedgekeurd"), "{}", res.body);

    let res = dirk.post("/beheer/inloggen", &dirk_login).await;
    assert!(res.body.contains("Tweede stap instellen"), "{}", res.body);
    app.clock.set(T0 + 60);
    enrol_second_factor(&dirk, T0 + 60).await;
    assert_eq!(dirk.get("/beheer").await.status, StatusCode::OK);

    // Giving Dirk access to a report Anna holds also asks her second factor again.
    app.submit_report(&app.browser(), "voor dirk ook").await;
    let inbox = anna.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("report");
    let page = anna.get(&href).await;
    assert!(
        page.body.contains("id=\"grant-code\""),
        "the grant form asks for a code"
    );
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let dirk_id = row_id(&app, "dirk").await;
    let grant = |code: String| {
        let (anna, href, csrf, dirk_id) = (&anna, href.clone(), csrf.clone(), dirk_id.clone());
        async move {
            anna.post(
                &format!("{href}/toegang"),
                &[
                    ("csrf", csrf.as_str()),
                    ("coordinator", dirk_id.as_str()),
                    ("code", code.as_str()),
                ],
            )
            .await
        }
    };
    let refused = grant("000000".into()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(app.state.store.inbox(&dirk_id).await.expect("inbox").len(), 0);
    app.clock.set(T0 + 90);
    let granted = grant(totp_code(&anna_secret, T0 + 90)).await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(app.state.store.inbox(&dirk_id).await.expect("inbox").len(), 1);

    // The link works once.
    assert_eq!(app.browser().get(&path).await.status, StatusCode::NOT_FOUND);
    let row = app
        .state
        .store
        .coordinator_by_username("dirk")
        .await
        .expect("db")
        .expect("dirk");
    assert_eq!(row.status, "active");
    assert_eq!(row.email.as_deref(), Some("dirk@voorbeeldstad.test"));
}

async fn row_id(app: &TestApp, username: &str) -> String {
    app.state
        .store
        .coordinator_by_username(username)
        .await
        .expect("db")
        .expect("coordinator")
        .id
}
