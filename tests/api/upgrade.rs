//! Upgrading: an installation made by an earlier version (tests/fixtures/upgrade-0431e23,
//! schema 0001-0008, with reports and a file) starts under this version, which migrates it,
//! and every report opens with its meldcode and for its coordinator, file included.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{fresh_pg_database, hidden, links, start_instance, Backend, Browser, T0};

both_backends!(an_installation_of_an_earlier_version_upgrades_and_opens);

const FIXTURE: &str = "tests/fixtures/upgrade-0431e23";

async fn an_installation_of_an_earlier_version_upgrades_and_opens(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, _pg, fixture) = match &backend {
        Backend::Sqlite => {
            let fixture = format!("{FIXTURE}/sqlite");
            let db = dir.path().join("data/meldpunt.db");
            std::fs::create_dir_all(db.parent().expect("dir")).expect("mkdir");
            std::fs::copy(format!("{fixture}/meldpunt.db"), &db).expect("copy database");
            (format!("sqlite://{}", db.display()), None, fixture)
        }
        Backend::Postgres(admin) => {
            let fixture = format!("{FIXTURE}/postgres");
            let db = fresh_pg_database(admin).await;
            let res = std::process::Command::new("psql")
                .args(["--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", &db.url, "--file"])
                .arg(format!("{fixture}/meldpunt.sql"))
                .output()
                .expect("run psql");
            assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
            (db.url.clone(), Some(db), fixture)
        }
    };
    let pepper = dir.path().join("pepper.key");
    std::fs::copy(format!("{fixture}/pepper.key"), &pepper).expect("copy pepper");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

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
    // compute for every possible locator: start-up keyed them with the pepper.
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
    // The upgraded installation keeps taking reports.
    let b = Browser::new(&base, None);
    let form = b.get("/melden").await;
    assert!(hidden(&form.body, "form_token").is_some());
}
