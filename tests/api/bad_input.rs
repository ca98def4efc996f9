//! Bad input gets a clear page in the user's language, keeps what was typed, and stores
//! nothing: missing, oversized, malformed, hostile and duplicate input, and bad meldcodes.

use meldpunt::crypto::crockford::{luhn_check, normalize, symbol};
use meldpunt::domain::meldcode::Meldcode;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{hidden, marker, report_fields, spawn_app, spawn_app_with, Backend};

both_backends!(
    missing_fields_keep_the_text,
    too_long_field_is_refused_with_the_limit,
    oversized_body_gets_a_413_page,
    invalid_utf8_and_repeated_fields,
    hostile_text_is_escaped_and_forged_choices_refused,
    the_same_form_sent_twice_is_stored_once,
    bad_meldcodes,
    guesses_sent_at_once_count_before_they_are_checked,
);

async fn missing_fields_keep_the_text(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let b = app.browser();
    let when = marker("when");
    let res = b
        .post(
            "/melden",
            &[("what", "   "), ("when", when.as_str()), ("form_token", "x")],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Uw melding is nog niet verstuurd"));
    assert!(res.body.contains("Beschrijf wat er is gebeurd."));
    assert!(res.body.contains("Kies een van de mogelijkheden."));
    assert!(res.body.contains(&format!("value=\"{when}\"")), "typed text kept");
    assert!(
        res.body
            .contains("<strong>Over wie gaat uw melding?</strong> Kies een van de mogelijkheden."),
        "the summary names the question"
    );
    assert!(
        res.body.contains("aria-describedby=\"subject-error\""),
        "the error is tied to its field"
    );

    // Switching language on the form keeps what was typed and stores nothing.
    let switched = b
        .post(
            "/melden/taal?lang=en",
            &[
                ("what", "half geschreven"),
                ("when", when.as_str()),
                ("subject", "raadslid"),
            ],
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK);
    assert!(switched.body.contains("What happened?") && switched.body.contains("half geschreven"));
    assert!(switched.body.contains("value=\"raadslid\" selected"));
    assert!(
        !switched.body.contains("Describe what happened."),
        "no validation on a language switch"
    );
    assert_eq!(app.count("reports").await, 0);

    let res = b.post("/melden?lang=en", &[("what", ""), ("lang", "en")]).await;
    assert!(
        res.body.contains("Describe what happened."),
        "English errors for an English form"
    );

    // A missing form token is refused with the text kept, too.
    let mut fields = report_fields("tekst zonder token", "");
    fields.retain(|(k, _)| *k != "form_token");
    let res = b.post("/melden", &fields).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("tekst zonder token"));
    assert_eq!(app.count("reports").await, 0);

    // Anonymous with contact details, or confidential without them, is asked about.
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let mut fields = report_fields("tekst", &token);
    fields.retain(|(k, _)| *k != "contact");
    fields.push(("contact", "06-12345678"));
    let res = b.post("/melden", &fields).await;
    assert!(res
        .body
        .contains("U koos voor anoniem blijven maar vulde contactgegevens in"));
    assert!(res.body.contains("06-12345678"));
    assert_eq!(app.count("reports").await, 0);
}

async fn too_long_field_is_refused_with_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let b = app.browser();
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let long = "é".repeat(20_001);
    let res = b.post("/melden", &report_fields(&long, &token)).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .body
        .contains("hoogstens 20000 tekens lang zijn; nu zijn het er 20001"));
    assert!(res.body.contains(&long), "the long text is kept to shorten");
    assert_eq!(app.count("reports").await, 0);
    // Exactly at the limit is fine.
    let ok = "é".repeat(20_000);
    let code = app.submit_report(&b, &ok).await;
    assert!(!code.is_empty());
}

async fn oversized_body_gets_a_413_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let b = app.browser();
    let mut body = b"what=".to_vec();
    body.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
    let res = b.post_raw("/melden", body).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.body.contains("Uw bericht is te groot"));
    assert_eq!(app.count("reports").await, 0);
}

async fn invalid_utf8_and_repeated_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let b = app.browser();
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let body = format!("what=kapot%FF%FEtekst&when=gisteren&where=hier&subject=ambtenaar&category=fraude&about=repressie&how_known=zelf&anonymity=anoniem&form_token={token}");
    let res = b.post_raw("/melden", body.into_bytes()).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("tekens die we niet konden lezen"));
    assert!(res.body.contains("value=\"gisteren\""), "the readable fields are kept");
    assert!(
        res.body.contains("kapot"),
        "the readable part of the broken field is kept"
    );

    let body = format!("what=een&what=twee&when=&where=&subject=ambtenaar&category=fraude&about=repressie&how_known=zelf&anonymity=anoniem&form_token={token}");
    let res = b.post_raw("/melden", body.into_bytes()).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("dubbel of beschadigd"));
    assert_eq!(app.count("reports").await, 0);
}

async fn hostile_text_is_escaped_and_forged_choices_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let b = app.browser();
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let mut fields = report_fields("x", &token);
    fields.retain(|(k, _)| *k != "subject");
    fields.push(("subject", "../../etc/passwd"));
    let res = b.post("/melden", &fields).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Kies een van de mogelijkheden."));
    assert!(
        !res.body.contains("etc/passwd"),
        "a forged choice is not echoed as an option"
    );

    let hostile = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>\u{0}'; DROP TABLE reports; --";
    app.submit_report(&b, hostile).await;
    let inbox = coord.get("/beheer").await;
    let href = crate::helpers::between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = coord.get(&href).await;
    assert!(!page.body.contains("<script>alert(1)"), "script is escaped");
    assert!(!page.body.contains("<img src=x"), "markup is escaped");
    // Exactly as typed, as text; the NUL byte as U+FFFD (what a browser shows for it anyway,
    // and PostgreSQL stores no NUL in text).
    assert!(
        crate::helpers::unescape(&page.body).contains(&hostile.replace('\0', "\u{FFFD}")),
        "shown back exactly, as text"
    );
    assert!(page.body.contains("DROP TABLE reports"), "stored as text, not run");
    assert_eq!(app.count("reports").await, 1);
    let csp = page
        .headers
        .get("content-security-policy")
        .expect("csp")
        .to_str()
        .expect("ascii");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
}

async fn the_same_form_sent_twice_is_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let b = app.browser();
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let first = b.post("/melden", &report_fields("dubbel verstuurd", &token)).await;
    assert_eq!(first.status, StatusCode::OK);
    let code = crate::helpers::shown_code(&first.body).expect("code");
    // A double click or a reload: stored once, and the same code shown again.
    let again = b.post("/melden", &report_fields("dubbel verstuurd", &token)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.body.contains("U verstuurde dit formulier twee keer"));
    assert_eq!(crate::helpers::shown_code(&again.body).as_deref(), Some(code.as_str()));
    assert_eq!(app.count("reports").await, 1);
    assert_eq!(app.count("report_fields").await, 6);

    // Minutes later the sealed code is forgotten (serve sweeps every five minutes and forgets
    // what the previous sweep saw); a resend is then refused without a code.
    let mut sweep = meldpunt::features::intake::FormCodeSweep::default();
    assert_eq!(sweep.sweep(&app.state.store).await.expect("sweep"), 0);
    let soon = b.post("/melden", &report_fields("dubbel verstuurd", &token)).await;
    assert_eq!(
        crate::helpers::shown_code(&soon.body),
        Some(code.clone()),
        "shown again until the next sweep"
    );
    assert_eq!(sweep.sweep(&app.state.store).await.expect("sweep"), 1);
    let late = b.post("/melden", &report_fields("dubbel verstuurd", &token)).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(late.body.contains("Dit formulier is al verstuurd"));
    assert!(!late.body.contains("id=\"meldcode\""));
    assert_eq!(app.count("reports").await, 1);
}

/// Replaces one secret symbol of a code and fixes its check symbol: well-formed, wrong.
fn wrong_secret(code: &str) -> String {
    let mut v = normalize(code).expect("valid code");
    v[10] = (v[10] + 1) % 32;
    v.truncate(24);
    let check = luhn_check(&v);
    v.push(check);
    v.into_iter().map(symbol).collect()
}

async fn bad_meldcodes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let b = app.browser();
    let code = app.submit_report(&b, "een melding").await;

    let res = b.post("/opvolgen", &[("code", "hallo")]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Dit is geen meldcode"));
    assert!(res.body.contains("value=\"hallo\""), "typed code kept to correct");

    let mut chars: Vec<char> = code.chars().collect();
    chars[2] = if chars[2] == '7' { '8' } else { '7' };
    let typo: String = chars.into_iter().collect();
    let res = b.post("/opvolgen", &[("code", typo.as_str())]).await;
    assert!(res.body.contains("Er zit een typfout in deze meldcode"));

    // An unknown code and a wrong secret for a real locator get the same page.
    let unknown = Meldcode::generate().display().to_string();
    let a = b.post("/opvolgen", &[("code", unknown.as_str())]).await;
    let wrong = wrong_secret(&code);
    let w = b.post("/opvolgen", &[("code", wrong.as_str())]).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.status, w.status);
    // The same but for the page's proof-of-work challenge, which is fresh on every page.
    let without_challenge = |html: &str| {
        let attr = "name=\"pow_challenge\" value=\"";
        let start = html.find(attr).map(|i| i + attr.len());
        match start.and_then(|s| html[s..].find('"').map(|e| (s, s + e))) {
            Some((s, e)) => format!("{}{}", &html[..s], &html[e..]),
            None => html.to_string(),
        }
    };
    assert!(
        a.body.contains("name=\"pow_challenge\""),
        "the page offers the priority lane"
    );
    assert_eq!(
        without_challenge(&a.body),
        without_challenge(&w.body),
        "unknown and wrong codes look the same"
    );
    assert!(a.body.contains("Met deze meldcode kunnen we geen melding openen"));
    assert!(b.cookies().is_empty(), "no session for a wrong code");

    // After ten wrong tries on one locator, even the right code waits.
    for _ in 0..10 {
        b.post("/opvolgen", &[("code", wrong.as_str())]).await;
    }
    let res = b.post("/opvolgen", &[("code", code.as_str())]).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.body.contains("te veel codes"));
}

/// Sixteen wrong guesses on one locator sent at once: only the limit (ten) is checked, the
/// rest is refused at once, and the right code then waits too. Before, every guess in
/// flight passed the check before the first failure was counted.
async fn guesses_sent_at_once_count_before_they_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let code = app.submit_report(&app.browser(), "een melding").await;
    let wrong = wrong_secret(&code);
    let guesses = (0..16).map(|_| {
        let b = app.browser();
        let wrong = wrong.clone();
        async move { b.post("/opvolgen", &[("code", wrong.as_str())]).await.status }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, refused), (10, 6), "{statuses:?}");
    let res = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
}

/// A flood of reports with one Argon2id thread and room for four waiting per kind: what
/// does not fit is refused at once with a 503 that keeps the text, nothing is a 500, every
/// code shown opens, and a reporter entering a code meanwhile is served in turn with the
/// flood instead of behind all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_reports_is_bounded_and_does_not_starve_code_entry() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.security.kdf_threads = 1;
        s.security.kdf_queue = 4;
        // Slower derivations, so the flood is still queued when the code is entered.
        s.security.argon2_memory_kib = 65536;
        s.security.argon2_iterations = 3;
    })
    .await;
    app.setup("anna").await;
    let code = app.submit_report(&app.browser(), "de eerste melding").await;

    // Twelve reporters with their forms open send at once.
    let mut ready = Vec::new();
    for i in 0..12 {
        let b = app.browser();
        let form = b.get("/melden").await;
        let token = hidden(&form.body, "form_token").expect("token");
        ready.push((b, token, crate::helpers::marker(&format!("vloed-{i}"))));
    }
    let finished = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for (b, token, what) in ready {
        let finished = finished.clone();
        flood.push(tokio::spawn(async move {
            let res = b.post("/melden", &report_fields(&what, &token)).await;
            (res, what, finished.fetch_add(1, Ordering::SeqCst))
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let thread = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
    let code_done_at = finished.fetch_add(1, Ordering::SeqCst);
    assert!(
        thread.status.is_success() || thread.status.is_redirection(),
        "the code is served while reports flood: {} {}",
        thread.status,
        thread.body
    );

    let mut stored = Vec::new();
    let mut last_stored_at = 0;
    let mut refused = 0;
    for task in flood {
        let (res, what, done_at) = task.await.expect("reporter");
        match res.status {
            StatusCode::OK => {
                let shown = crate::helpers::shown_code(&res.body).expect("code");
                stored.push((what, shown));
                last_stored_at = last_stored_at.max(done_at);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert!(res.body.contains(&what), "the text is kept");
                assert!(res.body.contains("erg druk"), "{}", res.body);
                assert_eq!(res.headers["retry-after"], "60");
            }
            other => panic!("a flooded submission gave {other}: {}", res.body),
        }
    }
    assert!(refused > 0, "the queue in front of Argon2id is bounded");
    assert!(
        code_done_at < last_stored_at,
        "the code entry was served before the flood's queue drained (at {code_done_at}, last report at {last_stored_at})"
    );
    for (what, shown) in stored {
        let thread = app.browser().post("/opvolgen", &[("code", shown.as_str())]).await;
        assert!(thread.status.is_success() || thread.status.is_redirection(), "{what}");
    }
}
