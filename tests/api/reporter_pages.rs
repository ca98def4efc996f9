//! Details of the pages that protect a reporter (or a coordinator) on a shared device or
//! from a slip: forms that do not keep what was typed in the browser's memory, a way out at
//! the top of the thread, and pages shown once that cannot be left by one click.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, spawn_app, Backend};

both_backends!(shared_devices_and_pages_shown_once);

const ORAL: &str = "bel 14 0123 en vraag naar de integriteitscoördinator";

/// The opening tags of every form on a page.
fn form_tags(html: &str) -> Vec<String> {
    html.split("<form")
        .skip(1)
        .filter_map(|rest| rest.split('>').next().map(str::to_string))
        .collect()
}

async fn shared_devices_and_pages_shown_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _) = app.setup("anna").await;

    // A browser that restores a form on Back (or offers earlier entries) would show the
    // report to the next person at the device: reporter forms ask it not to.
    let reporter = app.browser();
    let form = reporter.get("/melden").await;
    let code_page = reporter.get("/opvolgen").await;
    for (page, html) in [("/melden", &form.body), ("/opvolgen", &code_page.body)] {
        let tags = form_tags(html);
        assert!(!tags.is_empty(), "{page} has a form");
        for tag in tags.iter().filter(|t| t.contains("method=\"post\"")) {
            assert!(tag.contains("autocomplete=\"off\""), "{page}: <form{tag}>");
        }
    }

    // The meldcode is shown once: no language switch and no brand link to click away.
    let code = app.submit_report(&reporter, "gedeeld apparaat").await;
    let done = {
        let b = app.browser();
        let form = b.get("/melden").await;
        let token = crate::helpers::hidden(&form.body, "form_token").expect("token");
        b.post("/melden", &crate::helpers::report_fields("nog een", &token))
            .await
    };
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("id=\"meldcode\""));
    assert!(
        !done.body.contains("class=\"lang\""),
        "no language switch on the meldcode page"
    );
    assert!(
        !done.body.contains("class=\"brand\" href"),
        "no brand link on the meldcode page"
    );

    // The thread: the way out comes before the thread, and the reply form keeps nothing.
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(thread.body.contains("gedeeld apparaat"));
    let close = thread.body.find("/opvolgen/sluiten").expect("close form");
    let report = thread.body.find("gedeeld apparaat").expect("report text");
    assert!(close < report, "closing the report is offered above it");
    for tag in form_tags(&thread.body)
        .iter()
        .filter(|t| t.contains("/opvolgen/bericht"))
    {
        assert!(tag.contains("autocomplete=\"off\""), "<form{tag}>");
    }
}

/// The recovery key page after set-up is shown once: nothing on it leads away by accident.
#[tokio::test]
async fn the_recovery_key_page_cannot_be_left_by_one_click() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = crate::helpers::post_setup(&app, "Anna").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(between(&res.body, "id=\"recovery-key\">", "</pre>").is_some());
    assert!(!res.body.contains("class=\"lang\""), "no language switch");
    assert!(!res.body.contains("class=\"brand\" href"), "no brand link");
}

/// Before reporting, a reporter learns what will happen and when, how to report orally,
/// how the law protects them, where else to go, and (on /privacy) what is stored, for how
/// long and who reads it; in both languages.
#[tokio::test]
async fn what_a_reporter_should_know_before_reporting() {
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |s| {
        s.organisation.oral_contact = ORAL.into();
        s.retention.keep_days_after_closing = 1095;
        s.organisation.privacy_officer = "fg@voorbeeldstad.nl of 14 0123".into();
        s.organisation.accessibility_examined_on = "12 januari 2027".into();
        s.organisation.accessibility_method =
            "handmatig onderzoek door Toegankelijk BV met gebruikers van hulpmiddelen".into();
        s.organisation.accessibility_report_url = "https://voorbeeldstad.nl/toegankelijkheid-meldpunt.pdf".into();
        s.organisation.accessibility_contact = "toegankelijkheid@voorbeeldstad.nl".into();
    })
    .await;
    app.setup("anna").await;
    let b = app.browser();
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    let promise = between(&home.body, "<p id=\"promise\">", "</p>").expect("the promise");
    assert!(
        promise.contains("7 dagen") && promise.contains("3 maanden"),
        "{promise}"
    );
    assert!(home.body.contains(ORAL), "the configured way to ask for a conversation");
    assert!(home.body.contains("Wet bescherming klokkenluiders"));
    assert!(home.body.contains("href=\"https://www.huisvoorklokkenluiders.nl/\""));
    assert!(home.body.contains("href=\"/privacy\""));
    let form = b.get("/melden").await;
    assert!(form.body.contains("Binnen 7 dagen") && form.body.contains("3 maanden"));

    let privacy = b.get("/privacy").await;
    assert_eq!(privacy.status, StatusCode::OK);
    // What a privacy statement must say (AVG art. 13): the controller, the legal basis,
    // the recipients and processors, the DPO's contact, how long (in years, as people
    // say it), the rights and the supervisory authority.
    for needed in [
        "daarna 3 jaar",
        "IP-adres",
        "Gemeente Voorbeeldstad",
        "artikel 6, eerste lid, onder c, van de AVG",
        "Wet bescherming klokkenluiders",
        "Verwerker: de partij die de server",
        "functionaris gegevensbescherming (FG) van Gemeente Voorbeeldstad bereikt u via fg@voorbeeldstad.nl of 14 0123",
        "Autoriteit Persoonsgegevens",
    ] {
        assert!(privacy.body.contains(needed), "{needed}: {}", privacy.body);
    }
    assert!(!privacy.body.contains("1095 dagen"));
    let english = b.get("/privacy?lang=en").await;
    assert!(english.body.contains("3 years after that") && english.body.contains("IP address"));
    assert!(english.body.contains("Article 6(1)(c) GDPR") && english.body.contains("fg@voorbeeldstad.nl"));
    let home_en = b.get("/?lang=en").await;
    assert!(home_en.body.contains("Within 7 days") && home_en.body.contains("Whistleblowers Protection Act"));

    // The accessibility statement follows the Dutch model: organisation, status, date,
    // known limitations and how to report a problem.
    let a11y = b.get("/toegankelijkheid").await;
    for needed in [
        "Gemeente Voorbeeldstad",
        "Status: B",
        "4 december 2026",
        "Eigen onderzoek van Gemeente Voorbeeldstad: 12 januari 2027, handmatig onderzoek door Toegankelijk BV",
        "https://voorbeeldstad.nl/toegankelijkheid-meldpunt.pdf",
        "Contact over toegankelijkheid: toegankelijkheid@voorbeeldstad.nl",
        "Bekende beperkingen",
        "Nationale ombudsman",
    ] {
        assert!(a11y.body.contains(needed), "{needed}: {}", a11y.body);
    }

    // Without a configured contact, the home page says how to ask through the form; without
    // an own examination, the statement says so; the DPO is reached through the
    // organisation; two years read as two years.
    let plain = spawn_app(Backend::Sqlite).await;
    let a11y = plain.browser().get("/toegankelijkheid").await;
    assert!(a11y.body.contains("heeft nog geen eigen onderzoek"), "{}", a11y.body);
    let privacy = plain.browser().get("/privacy").await;
    assert!(privacy.body.contains("daarna 2 jaar") && privacy.body.contains("bereikt u via de organisatie"));
    let home = plain.browser().get("/").await;
    assert!(home
        .body
        .contains("Schrijf dan in het formulier dat u een gesprek wilt"));
}

/// The organisation's own look, from the config: its colour in the stylesheet (refused at
/// start when text in it would be hard to read) and its logo in the header, served by the
/// service itself.
#[tokio::test]
async fn the_organisation_look_comes_from_the_config() {
    let logo = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metadata/screenshot-author.png"
    );
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |s| {
        s.organisation.colour = "#00573f".into();
        s.organisation.logo_file = logo.into();
    })
    .await;
    let b = app.browser();
    let home = b.get("/").await;
    assert!(home.body.contains("<img src=\"/static/logo\" alt=\"\" class=\"logo\">"));
    assert!(home.body.contains("Gemeente Voorbeeldstad"), "the name beside the logo");
    let css = b.get("/static/style.css").await;
    assert!(
        css.body.trim_end().ends_with(":root { --accent: #00573f; }"),
        "{}",
        css.body
    );
    let (status, headers, bytes) = b.get_bytes("/static/logo").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(bytes.expect("logo"), std::fs::read(logo).expect("fixture"));

    // Without a logo: none in the header and 404 for its address.
    let plain = spawn_app(Backend::Sqlite).await;
    assert!(!plain.browser().get("/").await.body.contains("class=\"logo\""));
    assert_eq!(plain.browser().get("/static/logo").await.status, StatusCode::NOT_FOUND);

    // A missing file or one that is no image is refused, naming the key.
    let missing = meldpunt::http::Logo::load("/nonexistent/logo.png").expect_err("missing");
    assert!(missing.to_string().contains("organisation.logo_file"));
    let not_image =
        meldpunt::http::Logo::load(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).expect_err("not an image");
    assert!(
        not_image.to_string().contains("neither a PNG nor an SVG"),
        "{not_image}"
    );
}

/// A refused report says so in the title and links each problem to where it is answered (a
/// radio group's first option); the meldcode page warns before the page is closed and
/// shows the code in groups that a line never breaks inside.
#[tokio::test]
async fn refused_form_and_meldcode_page() {
    let app = spawn_app(Backend::Sqlite).await;
    app.setup("anna").await;
    let b = app.browser();
    let form = b.get("/melden").await;
    let token = crate::helpers::hidden(&form.body, "form_token").expect("token");
    let refused = b
        .post("/melden", &[("form_token", token.as_str()), ("what", "iets")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("<title>Fout: "), "{}", refused.body);
    let summary = between(&refused.body, "class=\"error-summary\"", "</div>").expect("summary");
    assert!(summary.contains("href=\"#about-first\""), "{summary}");
    assert!(refused.body.contains("name=\"about\" id=\"about-first\""));

    let what = crate::helpers::marker("what");
    let code = app.submit_report(&b, &what).await;
    assert_eq!(code.len(), 29, "{code}");
    let again = app.browser();
    let form = again.get("/melden").await;
    let token = crate::helpers::hidden(&form.body, "form_token").expect("token");
    let done = again
        .post("/melden", &crate::helpers::report_fields(&what, &token))
        .await;
    assert!(done.body.contains("id=\"keep-code\"") && done.body.contains("Sluit deze pagina pas"));
    assert_eq!(done.body.matches("<span class=\"group\">").count(), 5, "five groups");
}

/// Set-up asks how a reporter can ask for a conversation (optional, one line); what is
/// given is shown on the home page, which offers the conversation beside the form.
#[tokio::test]
async fn set_up_asks_for_the_oral_report_contact() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let path = app.setup_path.clone().expect("link");
    let b = app.browser();
    let page = b.get(&path).await;
    assert!(page.body.contains("Hoe kan een melder om een gesprek vragen?"));
    let mut fields = vec![
        ("display_name", "Anna de Vries"),
        ("username", "anna"),
        ("password", crate::helpers::PASSWORD),
        ("password_repeat", crate::helpers::PASSWORD),
    ];
    let too_long = "bel ons ".repeat(40);
    let mut refused = fields.clone();
    refused.push(("oral_contact", too_long.as_str()));
    let res = b.post(&path, &refused).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("ten hoogste 300 tekens"), "{}", res.body);
    assert!(res.body.contains("value=\"anna\""), "the typed username is kept");
    assert!(res.body.contains("aria-invalid=\"true\""));
    let contact = "bel 14 0123 en vraag naar de integriteitscoördinator";
    fields.push(("oral_contact", contact));
    let res = b.post(&path, &fields).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    app.registry.sync().await.expect("sync");
    let home = app.browser().get("/").await;
    assert!(home.body.contains(contact), "{}", home.body);
    assert!(home.body.contains("href=\"#oral\""), "offered beside the form");
}
