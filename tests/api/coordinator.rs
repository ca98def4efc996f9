//! The coordinator side over HTTP: set-up is one-time, login refuses wrong passwords the
//! same way as unknown users, CSRF-less and cross-site posts are refused, sessions expire,
//! and a coordinator without a wrap for a report gets 404. Plus the public service pages.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, spawn_app, Backend, PASSWORD, T0};

both_backends!(
    setup_link_is_one_time_and_checks_passwords,
    login_refuses_wrong_passwords_alike,
    posts_without_csrf_or_from_elsewhere_are_refused,
    sessions_expire_when_idle,
    coordinator_without_access_gets_404,
    service_pages,
    refused_forms_say_so_at_the_top,
);

async fn setup_link_is_one_time_and_checks_passwords(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = app.setup_path.clone().expect("setup link");
    let b = app.browser();
    let res = b
        .post(
            &path,
            &[
                ("display_name", "Anna"),
                ("username", "anna"),
                ("password", "kort"),
                ("password_repeat", "kort"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("minstens 12 tekens"));
    assert!(res.body.contains("value=\"anna\""), "username kept");
    let res = b
        .post(
            &path,
            &[
                ("display_name", "Anna"),
                ("username", "anna"),
                ("password", "passwordpassword"),
                ("password_repeat", "passwordpassword"),
            ],
        )
        .await;
    assert!(res.body.contains("te bekend"));
    let res = b
        .post(
            &path,
            &[
                ("display_name", "Anna"),
                ("username", "anna"),
                ("password", PASSWORD),
                ("password_repeat", "iets anders dan dat"),
            ],
        )
        .await;
    assert!(res.body.contains("niet gelijk"));
    assert_eq!(app.count("coordinators").await, 0, "nothing stored on refusal");

    let (_, recovery) = app.setup("anna").await;
    assert_eq!(recovery.lines().count(), 4);
    let again = app.browser().get(&path).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains("ongeldig, al gebruikt of verlopen"));
    let again = app
        .browser()
        .post(
            &path,
            &[
                ("display_name", "Eve"),
                ("username", "eve"),
                ("password", PASSWORD),
                ("password_repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("coordinators").await, 1);
}

async fn login_refuses_wrong_passwords_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let b = app.browser();
    let wrong = b
        .post(
            "/beheer/inloggen",
            &[("username", "anna"), ("password", "niet het wachtwoord")],
        )
        .await;
    let unknown = b
        .post(
            "/beheer/inloggen",
            &[("username", "bert"), ("password", "niet het wachtwoord")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body.replace("anna", "X"), unknown.body.replace("bert", "X"));
    assert!(wrong.body.contains("Gebruikersnaam of wachtwoord klopt niet."));
    assert!(b.cookies().is_empty());
    let ok = b
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.contains("Meldingen"));
}

async fn posts_without_csrf_or_from_elsewhere_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    app.submit_report(&reporter, "een melding").await;
    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = coord.get(&href).await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let before = app.count("messages").await;

    let res = coord
        .post(&format!("{href}/bericht"), &[("message", "zonder token")])
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("Verzoek geweigerd"));
    let res = coord.post(&format!("{href}/ontvangst"), &[("csrf", "vals")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // A token from another session does not work in this one.
    let other = app.browser();
    other
        .post(
            "/beheer/inloggen",
            &[("username", "anna"), ("password", crate::helpers::PASSWORD)],
        )
        .await;
    let other_page = other.get(&href).await;
    let other_csrf = hidden(&other_page.body, "csrf").expect("csrf");
    assert_ne!(other_csrf, csrf);
    let res = coord
        .post(
            &format!("{href}/bericht"),
            &[("csrf", other_csrf.as_str()), ("message", "kruislings")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // The right token from another site is refused by the Origin check.
    let mut evil = crate::helpers::Browser::new(&app.base, None);
    evil.set_cookies(coord.cookies());
    evil.extra_headers
        .push(("Origin".into(), "https://evil.example".into()));
    let res = evil
        .post(
            &format!("{href}/bericht"),
            &[("csrf", csrf.as_str()), ("message", "van elders")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let mut cross = crate::helpers::Browser::new(&app.base, None);
    cross.set_cookies(coord.cookies());
    cross.extra_headers.push(("Sec-Fetch-Site".into(), "cross-site".into()));
    let res = cross
        .post(&format!("{href}/ontvangst"), &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // A post without any sign of where it came from is no browser form of ours.
    let mut bare = crate::helpers::Browser::new(&app.base, None);
    bare.set_cookies(coord.cookies());
    bare.extra_headers.push(("X-Nothing".into(), "1".into()));
    bare.extra_headers.push(("Origin".into(), "null".into()));
    let res = bare
        .post(
            &format!("{href}/bericht"),
            &[("csrf", csrf.as_str()), ("message", "origin null")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    assert_eq!(app.count("messages").await, before, "nothing was written");

    // Browsers send `Origin: null` under some referrer policies; Sec-Fetch-Site decides then.
    let mut null_origin = crate::helpers::Browser::new(&app.base, None);
    null_origin.set_cookies(coord.cookies());
    null_origin.extra_headers.push(("Origin".into(), "null".into()));
    null_origin
        .extra_headers
        .push(("Sec-Fetch-Site".into(), "same-origin".into()));
    let res = null_origin
        .post(
            &format!("{href}/bericht"),
            &[("csrf", csrf.as_str()), ("message", "null maar zelfde site")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let before = before + 1;
    let res = coord
        .post(
            &format!("{href}/bericht"),
            &[("csrf", csrf.as_str()), ("message", "wel goed")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(app.count("messages").await, before + 1);
}

async fn sessions_expire_when_idle(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    assert_eq!(coord.get("/beheer").await.status, StatusCode::OK);
    app.clock.set(T0 + 29 * 60);
    assert_eq!(
        coord.get("/beheer").await.status,
        StatusCode::OK,
        "still within 30 idle minutes"
    );
    app.clock.set(T0 + 29 * 60 + 31 * 60);
    let res = coord.get("/beheer").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "idle too long");
    assert_eq!(res.location.as_deref(), Some("/beheer/inloggen"));
    assert_eq!(app.count("sessions").await, 0, "the stale row is gone");

    // A reporter's session ends after 20 idle minutes.
    let reporter = app.browser();
    let code = app.submit_report(&reporter, "melding").await;
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(thread.body.contains("name=\"message\""));
    let csrf_r = hidden(&thread.body, "csrf").expect("csrf");
    app.clock.set(T0 + 3 * 3600);
    // A reply written while the session ran out is kept, not lost.
    let res = reporter
        .post(
            "/opvolgen/bericht",
            &[("csrf", csrf_r.as_str()), ("message", "mijn lange antwoord")],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.body.contains("Uw sessie is verlopen"));
    assert!(res.body.contains("id=\"code\""), "asks for the code again");
    assert!(res.body.contains("mijn lange antwoord"), "the unsent reply is kept");
    let back = reporter
        .post(
            "/opvolgen",
            &[("code", code.as_str()), ("message", "mijn lange antwoord")],
        )
        .await;
    assert_eq!(back.status, StatusCode::OK);
    assert!(
        back.body.contains(">mijn lange antwoord</textarea>"),
        "put back in the answer field"
    );
    assert!(back.body.contains("nog niet verstuurd"));
    assert_eq!(app.count("messages").await, 0, "not sent until the reporter sends it");
}

async fn coordinator_without_access_gets_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    app.submit_report(&reporter, "oude melding").await;
    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");

    // Bert becomes active after the report came in: no wrap, so no access to it.
    // Approved and put in the group by a colleague (signed), as in the browser.
    app.add_coordinator("bert", "Bert", "active", &["integriteit"]).await;
    let b = app.browser();
    let ok = b
        .post(
            "/beheer/inloggen",
            &[("username", "bert"), ("password", crate::helpers::PASSWORD)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.contains("Er zijn geen meldingen voor u."));
    let res = b.get(&href).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(!res.body.contains("oude melding"));
    let csrf = hidden(&ok.body, "csrf").expect("csrf");
    let res = b
        .post(
            &format!("{href}/bericht"),
            &[("csrf", csrf.as_str()), ("message", "mag niet")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = b.get("/beheer/melding/not-an-id").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);

    // New reports reach Bert as well.
    app.submit_report(&reporter, "nieuwe melding").await;
    let inbox = b.get("/beheer").await;
    assert_eq!(inbox.body.matches("class=\"report-row\"").count(), 1);

    // A pending coordinator (added by the operator) cannot log in or receive reports.
    let carla = app.add_coordinator("carla", "Carla", "pending", &[]).await;
    app.state
        .store
        .add_member("integriteit", &carla.id)
        .await
        .expect("member");
    let res = app
        .browser()
        .post(
            "/beheer/inloggen",
            &[("username", "carla"), ("password", crate::helpers::PASSWORD)],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    app.submit_report(&reporter, "derde melding").await;
    assert_eq!(
        app.count("report_wraps").await,
        3 + 4 + 4,
        "code + recovery + one or two coordinators per report"
    );
}

async fn service_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let b = app.browser();
    assert_eq!(b.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(b.get("/readyz").await.status, StatusCode::OK);
    let sec = b.get("/.well-known/security.txt").await;
    assert!(sec.body.contains("Contact: mailto:security@example.org"));
    assert!(sec.body.contains("Expires: 2027-"));
    let a11y = b.get("/toegankelijkheid?lang=en").await;
    assert!(a11y.body.contains("WCAG 2.1"));
    let missing = b.get("/bestaat-niet").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("Pagina niet gevonden"));
    let home = b.get("/").await;
    for h in [
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "content-security-policy",
    ] {
        assert!(home.headers.contains_key(h), "{h}");
    }
    assert_eq!(
        home.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(home.headers.get("set-cookie").is_none(), "reporter pages set no cookie");
    // Before set-up nobody could read a report: the form says so before anyone writes, and a
    // post anyway stores nothing.
    let form = b.get("/melden").await;
    assert_eq!(form.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(form.body.contains("nog niet in gebruik"));
    let res = b
        .post(
            "/melden",
            &crate::helpers::report_fields("te vroeg", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.count("reports").await, 0);
}

/// Every refused coordinator form says so first: "Fout:" in the title, an error summary at
/// the top linking to the field, and the field marked invalid and described by its message.
async fn refused_forms_say_so_at_the_top(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = app.setup_path.clone().expect("setup link");
    let b = app.browser();
    let res = b
        .post(
            &path,
            &[
                ("display_name", "Anna"),
                ("username", "anna"),
                ("password", "kort"),
                ("password_repeat", "kort"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("<title>Fout: "), "{}", res.body);
    let summary = between(&res.body, "class=\"error-summary\"", "</div>").expect("error summary");
    assert!(summary.contains("href=\"#password\""), "{summary}");
    assert!(res.body.contains("id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" aria-invalid=\"true\" aria-describedby=\"password-error\""));
    assert!(res.body.contains("id=\"password-error\""));
    assert!(
        res.body.find("error-summary") < res.body.find("<form"),
        "the summary comes before the form"
    );

    let (anna, _) = app.setup("anna").await;
    let login = app
        .browser()
        .post(
            "/beheer/inloggen?lang=en",
            &[("username", "anna"), ("password", "fout fout fout")],
        )
        .await;
    assert!(login.body.contains("<title>Error: "), "{}", login.body);
    assert!(login.body.contains("href=\"#username\"") && login.body.contains("aria-invalid=\"true\""));

    let page = anna.get("/beheer/wachtwoord").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = anna
        .post(
            "/beheer/wachtwoord",
            &[
                ("csrf", csrf.as_str()),
                ("current", "niet mijn wachtwoord"),
                ("password", "een heel nieuw wachtwoord"),
                ("password_repeat", "een heel nieuw wachtwoord"),
            ],
        )
        .await;
    assert!(res.body.contains("<title>Fout: "));
    let summary = between(&res.body, "class=\"error-summary\"", "</div>").expect("error summary");
    assert!(summary.contains("href=\"#current\""), "{summary}");

    // An invitation refused: the coordinators page again, the typed username kept, the
    // summary pointing at the name.
    let page = anna.get("/beheer/coordinatoren").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = anna
        .post(
            "/beheer/coordinatoren/uitnodigen",
            &[
                ("csrf", csrf.as_str()),
                ("display_name", ""),
                ("username", "bert.jansen"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("<title>Fout: "), "{}", res.body);
    let summary = between(&res.body, "class=\"error-summary\"", "</div>").expect("error summary");
    assert!(summary.contains("href=\"#inv-name\""), "{summary}");
    assert!(res.body.contains("value=\"bert.jansen\""), "the typed username is kept");
    assert!(res
        .body
        .contains("id=\"inv-name\" name=\"display_name\" type=\"text\" value=\"\" aria-invalid=\"true\""));

    // On a report page the refusal is at the top, above the report, not 4,000 px below.
    app.submit_report(&app.browser(), "een melding").await;
    let inbox = anna.get("/beheer").await;
    assert!(
        inbox.body.contains("aria-current=\"page\">Meldingen</a>"),
        "the navigation marks the inbox"
    );
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = anna.get(&href).await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = anna
        .post(
            &format!("{href}/ketenschakel"),
            &[("csrf", csrf.as_str()), ("code", "preventie"), ("reason", "")],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("<title>Fout: "));
    let summary = between(&res.body, "class=\"error-summary\"", "</div>").expect("error summary");
    assert!(
        summary.contains("href=\"#label-reason\"") && summary.contains("Geef een reden op."),
        "{summary}"
    );
    assert!(
        res.body.find("error-summary") < res.body.find("id=\"melding\""),
        "the summary is above the report"
    );
    assert!(res.body.contains(
        "id=\"label-reason\" name=\"reason\" rows=\"2\" aria-invalid=\"true\" aria-describedby=\"label-error\""
    ));
}
