//! Upgrading: an installation made by an earlier version (tests/fixtures/upgrade-0431e23,
//! schema 0001-0008, with reports and a file), its pepper confirmed once with a
//! coordinator's password, starts under this version, which migrates it, and every report
//! opens with its meldcode and for its coordinator, file included. A wrong pepper file is
//! refused before anything changes.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    earlier_installation, hidden, links, meldpunt_command, output_text, query_i64, start_instance, test_settings,
    Backend, Browser, T0,
};

both_backends!(
    an_installation_of_an_earlier_version_upgrades_and_opens,
    an_earlier_installation_with_a_wrong_pepper_is_refused_before_anything_changes
);

/// `meldpunt pepper confirm` for the fixture's coordinator, with `pepper` as the pepper file.
fn confirm_pepper(url: &str, pepper: &std::path::Path, fixture: &str) -> std::process::Output {
    meldpunt_command()
        .args(["pepper", "confirm", "--username", "anna", "--password-file"])
        .arg(format!("{fixture}/password.txt"))
        .env("MELDPUNT_DATABASE__URL", url)
        .env("MELDPUNT_SECURITY__PEPPER_FILE", pepper)
        .env("MELDPUNT_LOG__FILTER", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run meldpunt")
}

async fn an_installation_of_an_earlier_version_upgrades_and_opens(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, _pg, fixture) = earlier_installation(&backend, dir.path()).await;
    // It recorded no pepper check: a coordinator's password confirms the pepper once.
    let confirmed = confirm_pepper(&url, &dir.path().join("pepper.key"), &fixture);
    assert!(confirmed.status.success(), "{}", output_text(&confirmed));
    assert!(
        output_text(&confirmed).contains("is the right one"),
        "{}",
        output_text(&confirmed)
    );

    let base = start_instance(dir.path(), &url, meldpunt::clock::Clock::fixed(T0)).await;
    let codes = std::fs::read_to_string(format!("{fixture}/codes.tsv")).expect("codes");
    let reports: Vec<(&str, &str)> = codes.lines().filter_map(|l| l.split_once('\t')).collect();
    assert_eq!(reports.len(), 4);
    for (what, code) in &reports {
        let thread = Browser::new(&base, None).post("/opvolgen", &[("code", *code)]).await;
        assert_eq!(thread.status, StatusCode::OK, "{}", thread.body);
        assert!(
            thread.body.contains(what),
            "{what} opens with its code after the upgrade"
        );
    }

    // The earlier version stored unkeyed locators, which anyone holding the database can
    // compute for every possible locator: the confirmation keyed them with the pepper.
    let stored: Vec<Vec<u8>> = {
        use sqlx::Connection;
        match &backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&url).await.expect("connect");
                sqlx::query_scalar("SELECT locator_hash FROM reports")
                    .fetch_all(&mut c)
                    .await
            }
            Backend::Postgres(_) => {
                let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
                sqlx::query_scalar("SELECT locator_hash FROM reports")
                    .fetch_all(&mut c)
                    .await
            }
        }
        .expect("locators")
    };
    assert_eq!(stored.len(), 4);
    for (_, code) in &reports {
        let unkeyed = meldpunt::domain::meldcode::Meldcode::parse(code)
            .expect("code")
            .unkeyed_locator();
        assert!(!stored.contains(&unkeyed), "an unkeyed locator is still stored");
    }

    let password = std::fs::read_to_string(format!("{fixture}/password.txt")).expect("password");
    let anna = Browser::new(&base, None);
    let res = anna
        .post(
            "/beheer/inloggen",
            &[("username", "anna"), ("password", password.trim())],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let inbox = anna.get("/beheer").await;
    let mut hrefs = links(&inbox.body, "/beheer/melding/");
    hrefs.retain(|h| !h["/beheer/melding/".len()..].contains(['/', '?']));
    hrefs.sort();
    hrefs.dedup();
    assert_eq!(hrefs.len(), 4, "{}", inbox.body);
    let mut file_seen = false;
    for href in &hrefs {
        let page = anna.get(href).await;
        assert!(
            reports.iter().any(|(what, _)| page.body.contains(what)),
            "{}",
            page.body
        );
        for file in links(&page.body, &format!("{href}/bestanden/")) {
            let (status, _, body) = anna.get_bytes(&file).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body.expect("whole file"), b"inhoud van het bewijs\n");
            file_seen = true;
        }
    }
    assert!(file_seen, "the file of the earlier version downloads");
    // It became the first organisation of its installation without anyone acting: keyed by
    // its own pepper (no sealed key), served on any host while it is the only one.
    assert_eq!(
        query_i64(
            &url,
            "SELECT COUNT(*) FROM organisations WHERE id = 1 AND state = 'active' AND sealed_key IS NULL"
        )
        .await,
        1
    );
    assert_eq!(query_i64(&url, "SELECT COUNT(*) FROM organisations").await, 1);
    // The upgraded installation keeps taking reports.
    let b = Browser::new(&base, None);
    let form = b.get("/melden").await;
    assert!(hidden(&form.body, "form_token").is_some());
}

/// An installation from before the pepper check cannot tell a wrong pepper file from the
/// right one by itself. Before, the first start stored the wrong file's check and keyed the
/// meldcode locators with it: every meldcode was lost, and the right file was refused after.
/// Now the start is refused until a coordinator's password confirms the file, and a wrong
/// file is refused by that confirmation too, with nothing changed.
async fn an_earlier_installation_with_a_wrong_pepper_is_refused_before_anything_changes(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, _pg, fixture) = earlier_installation(&backend, dir.path()).await;
    let right = dir.path().join("pepper.key");
    let wrong_dir = tempfile::tempdir().expect("dir");
    let wrong = wrong_dir.path().join("pepper.key");
    std::fs::write(&wrong, [7u8; 32]).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    let mut settings = test_settings(wrong_dir.path(), &url);
    settings.security.pepper_file = wrong.clone();
    let err = meldpunt::startup::Application::build(settings, meldpunt::clock::Clock::fixed(T0))
        .await
        .err()
        .expect("the start is refused");
    assert!(format!("{err:#}").contains("meldpunt pepper confirm"), "{err:#}");
    let refused = confirm_pepper(&url, &wrong, &fixture);
    assert!(!refused.status.success(), "{}", output_text(&refused));
    assert!(
        output_text(&refused).contains("does not open their key")
            && output_text(&refused).contains("Nothing was changed"),
        "{}",
        output_text(&refused)
    );
    assert_eq!(
        query_i64(&url, "SELECT COUNT(*) FROM reports WHERE locator_version = 1").await,
        4,
        "the locators are not keyed with a wrong pepper"
    );
    assert_eq!(
        query_i64(&url, "SELECT COUNT(*) FROM pepper_check").await,
        0,
        "no check of a wrong pepper is stored"
    );

    // The right file is confirmed, and every meldcode opens.
    let confirmed = confirm_pepper(&url, &right, &fixture);
    assert!(confirmed.status.success(), "{}", output_text(&confirmed));
    assert!(
        output_text(&confirmed).contains("4 meldcode locators keyed"),
        "{}",
        output_text(&confirmed)
    );
    // Confirming again changes nothing.
    let again = confirm_pepper(&url, &right, &fixture);
    assert!(again.status.success(), "{}", output_text(&again));
    assert!(
        output_text(&again).contains("Nothing to confirm"),
        "{}",
        output_text(&again)
    );
    let base = start_instance(dir.path(), &url, meldpunt::clock::Clock::fixed(T0)).await;
    let codes = std::fs::read_to_string(format!("{fixture}/codes.tsv")).expect("codes");
    for (what, code) in codes.lines().filter_map(|l| l.split_once('\t')) {
        let thread = Browser::new(&base, None).post("/opvolgen", &[("code", code)]).await;
        assert!(thread.body.contains(what), "{what} opens after the confirmation");
    }
}
