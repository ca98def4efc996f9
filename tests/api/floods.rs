//! Floods that cost the flooder, not the reporters (issue 21, part 3): a reporter with the right
//! meldcode gets in during a flood of wrong ones, refused uploads do not spend the hour's
//! evidence budget, and junk reports are held to a rate while real reporters are told when
//! to send again, their text kept. No timing thresholds: each test waits for a state
//! (the flood answered busy, a count reached), never for a duration.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{hidden, marker, report_fields, shown_code, spawn_app_with, Backend, Browser, T0};

both_backends!(
    a_reporter_gets_in_during_a_flood_of_wrong_codes,
    refused_uploads_leave_the_evidence_budget_to_reporters,
    junk_reports_are_held_to_the_hours_rate,
);

/// A well-formed meldcode (its check symbol right) for a random locator: a guess.
fn wrong_code() -> String {
    use rand::Rng;
    const SYMBOLS: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    loop {
        let mut body: Vec<u8> = (0..24).map(|_| SYMBOLS[rng.gen_range(0..32)]).collect();
        for &c in SYMBOLS {
            body.push(c);
            let s = String::from_utf8(body.clone()).expect("ascii");
            if meldpunt::domain::meldcode::Meldcode::parse(&s).is_ok() {
                return s;
            }
            body.pop();
        }
    }
}

fn urlencoded(fields: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
        .into_bytes()
}

/// The form's challenge, solved as the page's script would.
fn proof(html: &str) -> (String, String) {
    let challenge = hidden(html, "pow_challenge").expect("the form carries a proof-of-work challenge");
    let nonce = meldpunt::pow::solve(&challenge).expect("a well-formed challenge");
    (challenge, nonce.to_string())
}

async fn a_reporter_gets_in_during_a_flood_of_wrong_codes(backend: Backend) {
    // One Argon2id thread and two places per queue: a handful of flooding connections keep
    // the ordinary queue full.
    let app = spawn_app_with(backend, |s| {
        s.security.kdf_threads = 1;
        s.security.kdf_queue = 2;
        s.security.pow_bits = 10;
    })
    .await;
    app.setup("anna").await;
    let reporter = app.browser();
    let code = app
        .submit_report(&reporter, "Een melding die de melder wil volgen.")
        .await;

    // One client, many connections, each sending wrong codes as fast as it is answered.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let (stop, busy, base) = (stop.clone(), busy.clone(), app.base.clone());
            tokio::spawn(async move {
                let b = Browser::new(&base, None);
                while !stop.load(Ordering::Relaxed) {
                    let res = b.post_raw("/opvolgen", urlencoded(&[("code", &wrong_code())])).await;
                    if res.status == StatusCode::SERVICE_UNAVAILABLE {
                        busy.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Until the flood fills the ordinary queue (the service answers it "busy").
    while busy.load(Ordering::Relaxed) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The reporter's browser ran the page's script: the form carries a proof.
    let mut answers = Vec::new();
    for _ in 0..3 {
        let page = reporter.get("/opvolgen").await;
        assert_eq!(page.status, StatusCode::OK);
        let csp = page.headers["content-security-policy"].to_str().expect("ascii");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "the code page allows its own script, nothing else: {csp}"
        );
        assert!(page.body.contains("<script src=\"/static/pow.js\""));
        let (challenge, nonce) = proof(&page.body);
        let res = reporter
            .post_raw(
                "/opvolgen",
                urlencoded(&[("code", &code), ("pow_challenge", &challenge), ("pow_nonce", &nonce)]),
            )
            .await;
        answers.push(res.status);
        if res.status == StatusCode::SEE_OTHER {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.expect("flood task");
    }
    assert_eq!(
        answers.last(),
        Some(&StatusCode::SEE_OTHER),
        "the right code opened the report within three tries during the flood: {answers:?}"
    );
    // The flood really was refused meanwhile: it is what waited, not the reporter.
    assert!(busy.load(Ordering::Relaxed) >= 3);

    // A proof is good once: used again, it buys no place in the priority queue.
    let page = app.browser().get("/opvolgen").await;
    let (challenge, nonce) = proof(&page.body);
    assert!(app
        .state
        .pow
        .verify(meldpunt::pow::Purpose::Code, &challenge, &nonce, app.clock.now()));
    assert!(!app
        .state
        .pow
        .verify(meldpunt::pow::Purpose::Code, &challenge, &nonce, app.clock.now()));

    // The script is served from this origin, as JavaScript.
    let script = reporter.get("/static/pow.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
    // Pages that offer no proof keep a policy without any script.
    let home = reporter.get("/").await;
    assert!(!home.headers["content-security-policy"]
        .to_str()
        .expect("ascii")
        .contains("script-src"));
}

async fn refused_uploads_leave_the_evidence_budget_to_reporters(backend: Backend) {
    // Two MiB an hour for all reporters, one MiB per file.
    let app = spawn_app_with(backend, |s| {
        s.limits.file_mib = 1;
        s.limits.report_mib = 1;
        s.limits.anonymous_mib_per_hour = 2;
    })
    .await;
    app.setup("anna").await;
    let flooder = app.browser();
    let form = flooder.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("form token");
    // One client sends files over the limit, many times the hour's budget in all ...
    let too_large = vec![0x5Au8; 1024 * 1024 + 300 * 1024];
    for _ in 0..8 {
        let res = flooder
            .post_multipart(
                "/melden",
                &report_fields("Rommel.", &token),
                &[("files", "groot.bin", &too_large)],
            )
            .await;
        assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.body);
    }
    // ... and files within the limit with a form that is refused (no text), so they are
    // thrown away after they were sealed.
    let fits = vec![0xA5u8; 900 * 1024];
    for _ in 0..4 {
        let mut fields = report_fields("", &token);
        fields.retain(|(k, _)| *k != "what");
        let res = flooder
            .post_multipart("/melden", &fields, &[("files", "past.bin", &fits)])
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    }
    assert_eq!(app.count("reports").await, 0);
    assert_eq!(
        app.count("evidence_files").await,
        0,
        "nothing of the refused files stayed"
    );

    // A reporter's photo is still taken.
    let reporter = app.browser();
    let form = reporter.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("form token");
    let photo = std::fs::read(format!(
        "{}/tests/fixtures/metadata/photo-gps-author.jpg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let done = reporter
        .post_multipart(
            "/melden",
            &report_fields("Een melding met een foto.", &token),
            &[("files", "foto.jpg", &photo)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(shown_code(&done.body).is_some(), "the report was stored");
    assert_eq!(app.count("evidence_files").await, 1);
}

async fn junk_reports_are_held_to_the_hours_rate(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.limits.reports_per_hour = 3;
        s.limits.proven_reports_per_hour = 2;
        s.security.pow_bits = 8;
    })
    .await;
    app.setup("anna").await;
    // 12:00 exactly in the fixed clock; make it 12:50, ten minutes before the next hour.
    app.clock.set(T0 + 50 * 60);
    // A flood of junk without proofs takes the hour's ordinary places ...
    let junk = app.browser();
    for i in 0..3 {
        app.submit_report(&junk, &format!("rommel {i}")).await;
    }
    let form = junk.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("form token");
    let res = junk.post("/melden", &report_fields("nog meer rommel", &token)).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.count("reports").await, 3);

    // ... a real reporter without JavaScript is told, in their language, when to send again,
    // with what they wrote kept ...
    let reporter = app.browser();
    let what = marker("uitgesteld");
    for (lang, says) in [
        ("nl", "Verstuur het over 10 minuten opnieuw"),
        ("en", "send it again in 10 minutes"),
    ] {
        let form = reporter.get(&format!("/melden?lang={lang}")).await;
        let token = hidden(&form.body, "form_token").expect("form token");
        let res = reporter
            .post(&format!("/melden?lang={lang}"), &report_fields(&what, &token))
            .await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers["retry-after"], "600", "to the next clock hour");
        assert!(res.body.contains(says), "{lang}: {}", res.body);
        assert!(res.body.contains(&what), "the text is kept");
        assert!(shown_code(&res.body).is_none());
    }
    assert_eq!(app.count("reports").await, 3);

    // ... while a reporter whose browser did the proof of work is still served, from places
    // the flood could not use, until those are taken too.
    for i in 0..3 {
        let form = reporter.get("/melden").await;
        let token = hidden(&form.body, "form_token").expect("form token");
        let (challenge, nonce) = proof(&form.body);
        let mut fields = report_fields(&what, &token);
        fields.push(("pow_challenge", &challenge));
        fields.push(("pow_nonce", &nonce));
        let res = reporter.post("/melden", &fields).await;
        if i < 2 {
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            assert!(shown_code(&res.body).is_some());
        } else {
            assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    assert_eq!(app.count("reports").await, 5);

    // The count is in the database: another instance on it (a restart, a second machine)
    // sees the same hour as full.
    let other = crate::helpers::second_instance(&app, |s| s.limits.reports_per_hour = 3).await;
    let hour = app.clock.now().div_euclid(3600);
    assert!(!other.store.flood_take("reports", hour, 1, 3).await.expect("count"));

    // The next hour takes reports again, and the previous hour's counts are gone.
    app.clock.set(T0 + 60 * 60);
    app.submit_report(&junk, "een nieuw uur").await;
    assert_eq!(app.count("reports").await, 6);
    assert_eq!(app.count("flood_counts").await, 1, "only the current hour is kept");
}
