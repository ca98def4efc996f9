//! Storage set-up: migrations stay in step across backends, the pepper file is created on
//! first start and its absence later is an error, not a silent new pepper.

use meldpunt::startup::Application;
use meldpunt::storage::{Backend as DbBackend, Store};

use crate::helpers::{spawn_app, test_settings, Backend};

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
