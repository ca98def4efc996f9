//! Backup while reporters submit, restore into a fresh place, and every report in the
//! backup opens there: with its meldcode, and for the coordinator with its file.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    earlier_installation, fresh_pg_database, hidden, links, marker, meldpunt_command, output_text, query_i64,
    report_fields, spawn_app, start_instance, Backend, Browser, PASSWORD,
};

both_backends!(
    a_backup_under_load_restores_every_report,
    a_backup_copies_the_database_as_it_is_without_migrating
);

/// Submits one report with `what`; returns its meldcode, or `None` when it was refused.
async fn submit(b: &Browser, what: &str) -> Option<String> {
    let form = b.get("/melden").await;
    let token = hidden(&form.body, "form_token")?;
    let res = b.post("/melden", &report_fields(what, &token)).await;
    crate::helpers::shown_code(&res.body)
}

async fn a_backup_under_load_restores_every_report(backend: Backend) {
    let app = spawn_app(backend.clone()).await;
    app.setup("anna").await;
    let dir = tempfile::tempdir().expect("dir");

    // Before the backup: reports, one of them with a file.
    let mut before = Vec::new();
    let reporter = app.browser();
    let form = reporter.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let with_file = marker("met-bestand");
    let evidence: Vec<u8> = b"verslag van het gesprek\n".repeat(5000);
    let res = reporter
        .post_multipart(
            "/melden",
            &report_fields(&with_file, &token),
            &[("files", "verslag.txt", &evidence)],
        )
        .await;
    let code = crate::helpers::shown_code(&res.body).expect("code");
    before.push((with_file, code));
    for i in 0..4 {
        let what = marker(&format!("voor-{i}"));
        let code = submit(&app.browser(), &what).await.expect("code");
        before.push((what, code));
    }

    // The backup runs while three reporters go on submitting.
    let out = dir.path().join("backup.db");
    let backup = {
        let mut cmd = meldpunt_command();
        cmd.args(["backup", "--out"])
            .arg(&out)
            .env("MELDPUNT_DATABASE__URL", &app.db_url)
            .env("MELDPUNT_SECURITY__PEPPER_FILE", &app.pepper_file)
            .env("MELDPUNT_LOG__FILTER", "warn");
        tokio::task::spawn_blocking(move || cmd.output().expect("run backup"))
    };
    let mut load = Vec::new();
    for r in 0..3 {
        let b = app.browser();
        load.push(tokio::spawn(async move {
            let mut shown = Vec::new();
            for i in 0..6 {
                let what = marker(&format!("tijdens-{r}-{i}"));
                if let Some(code) = submit(&b, &what).await {
                    shown.push((what, code));
                }
            }
            shown
        }));
    }
    let backup = backup.await.expect("backup thread");
    let said = String::from_utf8_lossy(&backup.stdout).into_owned() + &String::from_utf8_lossy(&backup.stderr);
    assert!(backup.status.success(), "{said}");
    let mut during = Vec::new();
    for l in load {
        during.extend(l.await.expect("load"));
    }
    assert_eq!(during.len(), 18, "every report during the backup was taken");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).expect("backup file").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup is private to its owner");
    }

    // Restore into a fresh place, as README says.
    let fresh = tempfile::tempdir().expect("dir");
    let (restored_url, _pg) = match &backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", fresh.path().join("data/meldpunt.db").display());
            let res = meldpunt_command()
                .args(["restore", "--from"])
                .arg(&out)
                .env("MELDPUNT_DATABASE__URL", &url)
                .env("MELDPUNT_SECURITY__PEPPER_FILE", fresh.path().join("pepper.key"))
                .output()
                .expect("run restore");
            assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
            (url, None)
        }
        Backend::Postgres(admin) => {
            let db = fresh_pg_database(admin).await;
            let res = std::process::Command::new("pg_restore")
                .args(["--no-owner", "--dbname", &db.url])
                .arg(&out)
                .output()
                .expect("run pg_restore");
            assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
            (db.url.clone(), Some(db))
        }
    };
    std::fs::copy(&app.pepper_file, fresh.path().join("pepper.key")).expect("pepper kept apart, put back");
    // The trust pin is kept with the pepper, and put back with it.
    std::fs::copy(
        app.pepper_file.with_file_name("trust.pin"),
        fresh.path().join("trust.pin"),
    )
    .expect("pin kept with the pepper");
    let base = start_instance(fresh.path(), &restored_url, app.clock.clone()).await;

    // Every report from before the backup opens with its code; one from during it either
    // opens (it was in the snapshot) or is unknown, never broken.
    let mut opened = 0;
    for (what, code) in before.iter().chain(during.iter()) {
        let thread = Browser::new(&base, None)
            .post("/opvolgen", &[("code", code.as_str())])
            .await;
        if thread.body.contains(what.as_str()) {
            opened += 1;
        } else {
            assert!(
                !before.iter().any(|(_, c)| c == code),
                "a report from before the backup does not open: {}",
                thread.body
            );
            assert!(!thread.status.is_server_error(), "{}", thread.body);
        }
    }
    // And nothing is in the copy that does not open.
    let coord = Browser::new(&base, None);
    coord
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;
    let inbox = coord.get("/beheer").await;
    let mut reports = links(&inbox.body, "/beheer/melding/");
    reports.retain(|h| !h["/beheer/melding/".len()..].contains(['/', '?']));
    reports.sort();
    reports.dedup();
    assert_eq!(reports.len(), opened, "every report in the backup opens with its code");

    // The coordinator reads the report with the file and downloads it whole.
    let mut downloaded = false;
    for href in reports {
        let page = coord.get(&href).await;
        if !page.body.contains(&before[0].0) {
            continue;
        }
        let files = links(&page.body, &format!("{href}/bestanden/"));
        assert_eq!(files.len(), 1, "{}", page.body);
        let (status, _, body) = coord.get_bytes(&files[0]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.expect("whole file"), evidence);
        downloaded = true;
    }
    assert!(downloaded, "the report with the file was in the restored inbox");
}

/// "Back up before upgrading": a new binary's `backup` must copy the database as the old
/// version left it. Before, it migrated the database first, so neither the database nor the
/// backup could go back to the old version.
async fn a_backup_copies_the_database_as_it_is_without_migrating(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, _pg, _) = earlier_installation(&backend, dir.path()).await;
    let latest = "SELECT MAX(version) FROM _sqlx_migrations";
    assert_eq!(query_i64(&url, latest).await, 8, "the fixture is at schema 0008");
    let out = dir.path().join("before-upgrade.backup");
    let backup = meldpunt_command()
        .args(["backup", "--out"])
        .arg(&out)
        .env("MELDPUNT_DATABASE__URL", &url)
        .env("MELDPUNT_SECURITY__PEPPER_FILE", dir.path().join("pepper.key"))
        .env("MELDPUNT_LOG__FILTER", "warn")
        .output()
        .expect("run backup");
    assert!(backup.status.success(), "{}", output_text(&backup));
    assert_eq!(query_i64(&url, latest).await, 8, "the database was not migrated");
    if let Backend::Sqlite = backend {
        assert!(
            output_text(&backup).contains("(4 reports, 1 file,"),
            "{}",
            output_text(&backup)
        );
        let copy = format!("sqlite://{}", out.display());
        assert_eq!(query_i64(&copy, latest).await, 8, "the backup is of the old schema");
        assert_eq!(
            query_i64(&copy, "SELECT COUNT(*) FROM evidence_segments").await,
            1,
            "the old version's evidence is in it"
        );
        assert!(
            !dir.path().join("data/meldpunt.db-evidence").exists(),
            "no evidence file was made beside the old database"
        );
    }
}
