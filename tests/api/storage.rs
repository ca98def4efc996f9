//! Storage set-up: migrations stay in step across backends, the pepper file is created on
//! first start, and its absence, another pepper or one others can read is an error at
//! start, never a silent new pepper.

use meldpunt::startup::Application;
use meldpunt::storage::{Backend as DbBackend, Store};

use crate::both_backends;
use crate::helpers::{meldpunt_command, spawn_app, test_settings, Backend};

both_backends!(a_wrong_or_shared_pepper_file_is_refused_by_name);

#[test]
fn migrations_stay_in_step() {
    let sqlite = Store::migration_versions(DbBackend::Sqlite);
    let postgres = Store::migration_versions(DbBackend::Postgres);
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "every migration exists for both backends with the same version"
    );
    let names = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("migrations/sqlite"), names("migrations/postgres"));
}

#[tokio::test]
async fn a_missing_pepper_after_set_up_is_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    app.setup("anna").await;
    let db = app.sqlite_path.clone().expect("sqlite");
    let dir = tempfile::tempdir().expect("dir");
    // Same database, but the pepper file is not where the settings say.
    let settings = test_settings(dir.path(), &format!("sqlite://{}", db.display()));
    let err = Application::build(settings, meldpunt::clock::Clock::fixed(crate::helpers::T0))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("pepper file"), "{err}");
    assert!(!dir.path().join("pepper.key").exists(), "no new pepper was made");
}

#[tokio::test]
async fn sqlite_database_and_folder_are_created_on_first_start() {
    let app = spawn_app(Backend::Sqlite).await;
    let db = app.sqlite_path.clone().expect("sqlite");
    assert!(db.exists());
    assert!(app
        .setup_path
        .as_deref()
        .is_some_and(|p| p.starts_with("/beheer/inrichten/")));
    let pepper = db.parent().and_then(|d| d.parent()).expect("dir").join("pepper.key");
    assert_eq!(std::fs::read(pepper).expect("pepper").len(), 32);
}

/// Two instances started at the same moment on a new SQLite file: both come up, the one
/// that loses the race waiting for the other's migrations instead of exiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_starting_together_on_a_new_file_both_start() {
    for round in 0..5 {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("data/meldpunt.db").display());
        let (a, b, c) = tokio::join!(
            Store::connect(&url, 2),
            Store::connect(&url, 2),
            Store::connect(&url, 2)
        );
        for (name, r) in [("first", a), ("second", b), ("third", c)] {
            let store = r.unwrap_or_else(|e| panic!("round {round}: the {name} instance did not start: {e:#}"));
            assert!(store.coordinators().await.expect("schema in place").is_empty());
            store.close().await;
        }
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

async fn a_wrong_or_shared_pepper_file_is_refused_by_name(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let code = app.submit_report(&app.browser(), "melding").await;

    // Another 32-byte pepper (a file from another installation, a restore mix-up).
    let dir = tempfile::tempdir().expect("dir");
    let wrong = dir.path().join("pepper.key");
    std::fs::write(&wrong, [7u8; 32]).expect("write");
    set_mode(&wrong, 0o600);
    let mut settings = test_settings(dir.path(), &app.db_url);
    settings.security.pepper_file = wrong.clone();
    let err = Application::build(settings, meldpunt::clock::Clock::fixed(crate::helpers::T0))
        .await
        .err()
        .expect("another pepper is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("not the one this database was used with") && msg.contains(&wrong.display().to_string()),
        "{msg}"
    );
    // The operator meets it when starting the binary.
    let out = meldpunt_command()
        .arg("serve")
        .env("MELDPUNT_DATABASE__URL", &app.db_url)
        .env("MELDPUNT_SECURITY__PEPPER_FILE", &wrong)
        .env("MELDPUNT_HTTP__BIND", "127.0.0.1:0")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not the one this database was used with"));

    // The right pepper, readable by others: refused, saying how to fix it.
    set_mode(&app.pepper_file, 0o644);
    let settings = test_settings(app.pepper_file.parent().expect("dir"), &app.db_url);
    let err = Application::build(settings.clone(), meldpunt::clock::Clock::fixed(crate::helpers::T0))
        .await
        .err()
        .expect("a shared pepper is refused");
    assert!(format!("{err:#}").contains("chmod 600"), "{err:#}");
    set_mode(&app.pepper_file, 0o600);
    Application::build(settings, meldpunt::clock::Clock::fixed(crate::helpers::T0))
        .await
        .expect("the right, private pepper starts");
    // The running instance was never disturbed: the code still opens.
    let thread = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(thread.body.contains("melding"));
}

/// The database file, its write-ahead log and its shared-memory file are the service user's
/// only, like the pepper and the evidence file (they were 0644), and a restore does not give
/// the database the backup file's mode.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_database_files_are_private_and_a_restore_keeps_them_so() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("file").permissions().mode() & 0o777;
    let app = spawn_app(Backend::Sqlite).await;
    app.setup("anna").await;
    app.submit_report(&app.browser(), "melding").await;
    let db = app.sqlite_path.clone().expect("sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert!(file.exists(), "{} exists while serving", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }

    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("backup.db");
    let backup = meldpunt_command()
        .args(["backup", "--out"])
        .arg(&out)
        .env("MELDPUNT_DATABASE__URL", &app.db_url)
        .env("MELDPUNT_SECURITY__PEPPER_FILE", &app.pepper_file)
        .env("MELDPUNT_LOG__FILTER", "warn")
        .output()
        .expect("run backup");
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    // A backup copied around with a looser mode (cp without -p under umask 022).
    set_mode(&out, 0o644);
    let target = dir.path().join("data/meldpunt.db");
    let restore = meldpunt_command()
        .args(["restore", "--from"])
        .arg(&out)
        .env("MELDPUNT_DATABASE__URL", format!("sqlite://{}", target.display()))
        .env("MELDPUNT_SECURITY__PEPPER_FILE", dir.path().join("pepper.key"))
        .env("MELDPUNT_LOG__FILTER", "warn")
        .output()
        .expect("run restore");
    assert!(restore.status.success(), "{}", String::from_utf8_lossy(&restore.stderr));
    assert_eq!(mode(&target), 0o600, "the restored database is private");
}
