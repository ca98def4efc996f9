//! Operating the service through the binary, as README says: offline commands refuse while
//! an instance serves the database (and a killed instance blocks nothing), recovery without
//! a terminal, destruction that leaves no kept meldcode, small evidence files that take
//! about their own size, and a first start that says what is off and leaves nothing behind
//! when it is refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    between, fresh_database, hidden, links, marker, meldpunt_command, output_text, query_i64, report_fields, spawn_app,
    start_instance, test_settings, Backend, Browser, TestApp, PG_ENV, T0,
};

both_backends!(
    offline_commands_refuse_while_an_instance_serves_and_a_killed_one_blocks_nothing,
    recover_runs_without_a_terminal,
    a_destroyed_report_leaves_no_kept_meldcode,
    small_evidence_files_take_about_their_own_size
);

/// The binary against `app`'s database and pepper, with `stdin`.
fn meldpunt(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    run_with(meldpunt_command(), app, args, stdin)
}

fn run_with(mut cmd: std::process::Command, app: &TestApp, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .args(args)
        .env("MELDPUNT_DATABASE__URL", &app.db_url)
        .env("MELDPUNT_SECURITY__PEPPER_FILE", &app.pepper_file)
        .env("MELDPUNT_LOG__FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run meldpunt");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

/// `meldpunt serve` as its own process on port 0; returns it once it listens, with what it
/// wrote to standard error until then.
fn serve(envs: &[(&str, &str)], dir: &std::path::Path) -> (Child, String) {
    let mut cmd = meldpunt_command();
    cmd.arg("serve")
        .current_dir(dir)
        .env("MELDPUNT_HTTP__BIND", "127.0.0.1:0")
        .env("MELDPUNT_LOG__FILTER", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start meldpunt serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            said.push_str(&line);
            said.push('\n');
            if line.contains("meldpunt is listening") {
                let _ = tx.send(Ok(said.clone()));
            }
        }
        let _ = tx.send(Err(said));
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(Ok(said)) => (child, said),
        other => {
            let _ = child.kill();
            panic!("meldpunt serve did not start: {other:?}");
        }
    }
}

async fn offline_commands_refuse_while_an_instance_serves_and_a_killed_one_blocks_nothing(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, _, _pg) = fresh_database(&backend, dir.path()).await;
    let pepper = dir.path().join("pepper.key");
    let pepper_s = pepper.display().to_string();
    let env = [
        ("MELDPUNT_DATABASE__URL", url.as_str()),
        ("MELDPUNT_SECURITY__PEPPER_FILE", pepper_s.as_str()),
    ];
    let offline = |args: &[&str]| {
        let mut c = meldpunt_command();
        c.args(args)
            .envs(env)
            .env("MELDPUNT_LOG__FILTER", "warn")
            .stdin(Stdio::null());
        c.output().expect("run meldpunt")
    };
    let (mut server, _) = serve(&env, dir.path());
    let refused = offline(&["pepper", "confirm", "--username", "anna"]);
    assert!(!refused.status.success(), "{}", output_text(&refused));
    assert!(
        output_text(&refused).contains("a Meldpunt instance is serving"),
        "{}",
        output_text(&refused)
    );

    // The instance is killed (no chance to clean up): the command runs.
    server.kill().expect("kill");
    server.wait().expect("wait");
    let after = offline(&["pepper", "confirm", "--username", "anna"]);
    assert!(after.status.success(), "{}", output_text(&after));
    assert!(
        output_text(&after).contains("Nothing to confirm"),
        "{}",
        output_text(&after)
    );

    // And while an offline command works, no instance starts.
    let claim = meldpunt::storage::serving::claim_offline(&url, "restore")
        .await
        .expect("the offline claim");
    let mut settings = test_settings(dir.path(), &url);
    settings.security.pepper_file = pepper.clone();
    let err = meldpunt::startup::Application::build(settings.clone(), meldpunt::clock::Clock::fixed(T0))
        .await
        .err()
        .expect("no start while an offline command works");
    assert!(format!("{err:#}").contains("offline command"), "{err:#}");
    claim.release().await;
    meldpunt::startup::Application::build(settings, meldpunt::clock::Clock::fixed(T0))
        .await
        .expect("it starts once the command is done");
}

/// Before, `restore --replace` went ahead under a running service, which went on writing to
/// the deleted files: a report sent after the backup got its meldcode and was gone at the
/// next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_while_an_instance_serves() {
    let app = spawn_app(Backend::Sqlite).await;
    app.setup("anna").await;
    let before = marker("voor");
    let code_before = app.submit_report(&app.browser(), &before).await;
    let backup_dir = tempfile::tempdir().expect("dir");
    let backup = backup_dir.path().join("backup.db");
    let out = meldpunt(&app, &["backup", "--out", &backup.display().to_string()], "");
    assert!(out.status.success(), "{}", output_text(&out));
    let after = marker("na");
    let code_after = app.submit_report(&app.browser(), &after).await;

    let from = backup.display().to_string();
    let refused = meldpunt(&app, &["restore", "--from", &from, "--replace"], "");
    assert!(!refused.status.success(), "{}", output_text(&refused));
    assert!(
        output_text(&refused).contains("`meldpunt restore` refused: a Meldpunt instance is serving")
            && output_text(&refused).contains("Nothing was changed"),
        "{}",
        output_text(&refused)
    );
    let thread = app.browser().post("/opvolgen", &[("code", code_after.as_str())]).await;
    assert!(
        thread.body.contains(&after),
        "the report sent after the backup is still there"
    );

    // Stopped, the restore goes ahead and the backup's report opens.
    app.stop().await;
    let done = meldpunt(&app, &["restore", "--from", &from, "--replace"], "");
    assert!(done.status.success(), "{}", output_text(&done));
    assert!(
        output_text(&done).contains("(1 report, no files,"),
        "{}",
        output_text(&done)
    );
    let dir = app.pepper_file.parent().expect("dir");
    let base = start_instance(dir, &app.db_url, app.clock.clone()).await;
    let thread = Browser::new(&base, None)
        .post("/opvolgen", &[("code", code_before.as_str())])
        .await;
    assert!(thread.body.contains(&before), "{}", thread.body);
}

/// `recover` from a script, cron or `ssh host cmd`: no terminal to ask the password on.
/// Before, it stopped with the system's "No such device or address".
async fn recover_runs_without_a_terminal(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, recovery_key) = app.setup("anna").await;
    let no_terminal = || {
        // setsid: a new session, without a controlling terminal, as under cron.
        let mut c = std::process::Command::new("setsid");
        c.arg("--wait")
            .arg(env!("CARGO_BIN_EXE_meldpunt"))
            .env_remove("RUST_LOG");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MELDPUNT_") {
                c.env_remove(name);
            }
        }
        c
    };
    let asked = run_with(no_terminal(), &app, &["recover", "--username", "anna"], &recovery_key);
    assert!(!asked.status.success());
    assert!(
        output_text(&asked).contains("no terminal") && output_text(&asked).contains("--password-file FILE"),
        "{}",
        output_text(&asked)
    );
    let dir = tempfile::tempdir().expect("dir");
    let pw = dir.path().join("password");
    std::fs::write(&pw, "een heel nieuw wachtwoord\n").expect("write");
    let pw = pw.display().to_string();
    let done = run_with(
        no_terminal(),
        &app,
        &["recover", "--username", "anna", "--password-file", &pw],
        &recovery_key,
    );
    assert!(done.status.success(), "{}", output_text(&done));
    let res = app
        .browser()
        .post(
            "/beheer/inloggen",
            &[("username", "anna"), ("password", "een heel nieuw wachtwoord")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// A form sent twice is shown the first send's meldcode, kept sealed under the form's token
/// for a few minutes. Before, that copy outlived the destruction of its report.
async fn a_destroyed_report_leaves_no_kept_meldcode(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    app.submit_report(&app.browser(), "melding die vernietigd wordt").await;
    let kept = "SELECT COUNT(*) FROM used_form_tokens WHERE sealed_code IS NOT NULL OR report_id IS NOT NULL";
    assert_eq!(
        query_i64(&app.db_url, kept).await,
        1,
        "the copy for a second send is kept"
    );

    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = coord.get(&href).await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = coord
        .post(
            &format!("{href}/status"),
            &[("csrf", csrf.as_str()), ("status", "gesloten"), ("reason", "")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    // The binary runs on the real clock, after the test clock's day: one day's retention
    // has passed.
    let mut purge = meldpunt_command();
    purge.env("MELDPUNT_RETENTION__KEEP_DAYS_AFTER_CLOSING", "1");
    let done = run_with(purge, &app, &["purge"], "");
    assert!(done.status.success(), "{}", output_text(&done));
    assert!(
        output_text(&done).contains("1 report destroyed"),
        "{}",
        output_text(&done)
    );
    assert_eq!(
        query_i64(&app.db_url, kept).await,
        0,
        "the kept meldcode went with its report"
    );
}

/// Before, the last chunk of every file was padded to 64 KiB: 2,085 files of under 1 KB made
/// a 136 MB evidence file.
async fn small_evidence_files_take_about_their_own_size(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    const REPORTS: usize = 3;
    const FILES: usize = 10;
    // Different files (identical ones in one message are kept once), each under 1 KB.
    let content = |r: usize, i: usize| format!("aantekening {r}-{i} van het gesprek\n").repeat(21).into_bytes();
    assert!(content(9, 9).len() < 1000);
    for r in 0..REPORTS {
        let b = app.browser();
        let form = b.get("/melden").await;
        let token = hidden(&form.body, "form_token").expect("token");
        let names: Vec<String> = (0..FILES).map(|i| format!("notitie-{r}-{i}.txt")).collect();
        let bodies: Vec<Vec<u8>> = (0..FILES).map(|i| content(r, i)).collect();
        let files: Vec<(&str, &str, &[u8])> = names
            .iter()
            .zip(&bodies)
            .map(|(n, c)| ("files", n.as_str(), &c[..]))
            .collect();
        let what = marker("klein");
        let res = b.post_multipart("/melden", &report_fields(&what, &token), &files).await;
        assert!(crate::helpers::shown_code(&res.body).is_some(), "{}", res.body);
    }
    // Through the app's pool: on SQLite the segments are in the evidence file it attaches.
    let sum = "SELECT CAST(COALESCE(SUM(LENGTH(sealed)), 0) AS BIGINT) FROM evidence_segments";
    let stored: i64 = match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar(sum).fetch_one(p).await,
        meldpunt::storage::Store::Postgres(p) => sqlx::query_scalar(sum).fetch_one(p).await,
    }
    .expect("sum");
    let files = (REPORTS * FILES) as i64;
    assert_eq!(app.count("evidence_files").await, files, "every file was taken");
    assert!(
        stored <= files * 1100,
        "{files} files of under 1 KB take {stored} sealed bytes"
    );
    if let Some(db) = &app.sqlite_path {
        let on_disk = std::fs::metadata(meldpunt::storage::evidence_file(db))
            .expect("evidence file")
            .len();
        assert!(
            on_disk < files as u64 * 32 * 1024,
            "{files} small files make an evidence file of {on_disk} bytes"
        );
    }
    // And they download whole.
    let inbox = coord.get("/beheer").await;
    let mut reports = links(&inbox.body, "/beheer/melding/");
    reports.retain(|h| !h["/beheer/melding/".len()..].contains(['/', '?']));
    let page = coord.get(&reports[0]).await;
    let downloads = links(&page.body, &format!("{}/bestanden/", reports[0]));
    assert_eq!(downloads.len(), FILES, "{}", page.body);
    let (status, _, body) = coord.get_bytes(&downloads[0]).await;
    assert_eq!(status, StatusCode::OK);
    let body = body.expect("bytes");
    assert!(
        (0..REPORTS).any(|r| (0..FILES).any(|i| body == content(r, i))),
        "a file downloads whole"
    );
}

/// A start refused for its bind address (a typo, a port in use) creates nothing: before,
/// it left a database and a pepper behind, which the next start took for an installation.
#[test]
fn a_refused_start_leaves_nothing_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let in_use = taken.local_addr().expect("addr").to_string();
    for (bind, says) in [
        (in_use.as_str(), "stop what is using it"),
        ("nergens:80", "cannot listen"),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let out = meldpunt_command()
            .arg("serve")
            .current_dir(dir.path())
            .env("MELDPUNT_HTTP__BIND", bind)
            .env("MELDPUNT_LOG__FILTER", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert!(!out.status.success(), "{bind}: {}", output_text(&out));
        assert!(output_text(&out).contains(says), "{bind}: {}", output_text(&out));
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert!(left.is_empty(), "{bind}: a refused start left {left:?}");
    }
}

/// The pepper goes beside the database whichever folder a command runs in. Before, it went
/// to ./data of the working folder, and `init` from another folder made a second pepper.
#[test]
fn the_pepper_is_made_beside_the_database() {
    let home = tempfile::tempdir().expect("dir");
    let elsewhere = tempfile::tempdir().expect("dir");
    let db = home.path().join("meldpunt/meldpunt.db");
    let url = format!("sqlite://{}", db.display());
    let out = meldpunt_command()
        .arg("init")
        .current_dir(elsewhere.path())
        .env("MELDPUNT_DATABASE__URL", &url)
        .env("MELDPUNT_LOG__FILTER", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        home.path().join("meldpunt/pepper.key").exists(),
        "the pepper is beside the database"
    );
    let left: Vec<_> = std::fs::read_dir(elsewhere.path()).expect("dir").collect();
    assert!(left.is_empty(), "the working folder got {left:?}");
}

/// With only the bind address changed, the set-up link still pointed at port 8080 and
/// nothing said so; the example organisation and addresses went unnoticed too.
#[test]
fn the_start_says_what_is_still_an_example_or_points_elsewhere() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, said) = serve(&[], dir.path());
    server.kill().expect("kill");
    server.wait().expect("wait");
    assert!(
        said.contains("http.public_url is http://127.0.0.1:8080, but the service listens on port"),
        "{said}"
    );
    assert!(said.contains("Gemeente Voorbeeldstad"), "{said}");
    assert!(said.contains("security_contact"), "{said}");
    assert!(said.contains("written to the log instead of"), "{said}");
    // A first start has no evidence to move, and says nothing about it.
    assert!(!said.contains("moved"), "{said}");
}

/// PostgreSQL trouble names what to do: before, a wrong port gave "pool timed out" after
/// 10 s, and a missing database its message twice without a hint.
#[test]
fn a_postgres_connection_refused_names_host_port_and_what_to_check() {
    let dir = tempfile::tempdir().expect("dir");
    let started = std::time::Instant::now();
    let out = meldpunt_command()
        .arg("init")
        .current_dir(dir.path())
        .env("MELDPUNT_DATABASE__URL", "postgres://meldpunt@127.0.0.1:1/meldpunt")
        .env("MELDPUNT_SECURITY__PEPPER_FILE", dir.path().join("pepper.key"))
        .env("MELDPUNT_LOG__FILTER", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let said = output_text(&out);
    assert!(
        said.contains("127.0.0.1:1") && said.contains("connection refused") && said.contains("database.url"),
        "{said}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "it answered at once"
    );
    assert!(
        !dir.path().join("pepper.key").exists(),
        "a refused start made no pepper"
    );
}

#[test]
#[cfg_attr(
    not(has_postgres),
    ignore = "needs PostgreSQL: set MELDPUNT_TEST_POSTGRES_URL (README, Tests)"
)]
fn a_missing_postgres_database_is_named_once_with_how_to_create_it() {
    let admin = std::env::var(PG_ENV).expect("a PostgreSQL server");
    let mut url = url::Url::parse(&admin).expect("url");
    // Never created (and so never dropped) by this test.
    let name = format!("mp_test_missing_{}", &meldpunt::ids::new_id().0[..12]);
    url.set_path(&name);
    let dir = tempfile::tempdir().expect("dir");
    let out = meldpunt_command()
        .arg("init")
        .env("MELDPUNT_DATABASE__URL", url.as_str())
        .env("MELDPUNT_SECURITY__PEPPER_FILE", dir.path().join("pepper.key"))
        .env("MELDPUNT_LOG__FILTER", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let said = output_text(&out);
    assert_eq!(said.matches("does not exist").count(), 1, "{said}");
    assert!(said.contains(&name) && said.contains("createdb"), "{said}");
}
