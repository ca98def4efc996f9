//! The operator's command line against a running service's database: adding a coordinator
//! (pending until approved in the browser), listing, removing, `init` and checking the
//! recovery key.

use std::io::Write;
use std::process::{Output, Stdio};

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, fresh_database, hidden, meldpunt_command, spawn_app, Backend, TestApp, PASSWORD};

both_backends!(
    a_lost_password_is_recovered_with_the_recovery_key,
    password_change_keeps_access,
    operator_adds_coordinator_who_is_approved_in_the_browser,
    init_and_recovery_verify,
    admin_commands_refuse_where_no_installation_exists,
    a_lost_pepper_is_replaced_with_the_recovery_key,
    purge_from_the_command_line
);

fn meldpunt(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    let mut child = meldpunt_command()
        .args(args)
        .env("MELDPUNT_DATABASE__URL", &app.db_url)
        .env("MELDPUNT_SECURITY__PEPPER_FILE", &app.pepper_file)
        .env("MELDPUNT_LOG__FILTER", "warn")
        .env_remove("RUST_LOG")
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

/// `meldpunt recover --username U --password-file F` with the recovery key on stdin.
fn recover(app: &TestApp, username: &str, pw_file: &std::path::Path, recovery_key: &str) -> Output {
    let file = pw_file.to_str().expect("utf8");
    meldpunt(
        app,
        &["recover", "--username", username, "--password-file", file],
        recovery_key,
    )
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn operator_adds_coordinator_who_is_approved_in_the_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;

    let weak = meldpunt(
        &app,
        &[
            "coordinator",
            "add",
            "--username",
            "bert",
            "--name",
            "Bert Jansen",
            "--password-stdin",
        ],
        "kort\n",
    );
    assert!(!weak.status.success());
    assert!(text(&weak).contains("at least 12 characters"), "{}", text(&weak));

    let out = meldpunt(
        &app,
        &[
            "coordinator",
            "add",
            "--username",
            "bert",
            "--name",
            "Bert Jansen",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD));
    // The fingerprint the approving coordinator compares on the page.
    let fingerprint = between(&text(&out), "with key fingerprint ", ".").expect("a fingerprint is printed");
    let dup = meldpunt(
        &app,
        &[
            "coordinator",
            "add",
            "--username",
            "bert",
            "--name",
            "Bert",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(!dup.status.success());
    assert!(text(&dup).contains("exists already"));
    let list = meldpunt(&app, &["coordinator", "list"], "");
    assert!(text(&list).contains("bert\tpending\tBert Jansen"), "{}", text(&list));
    assert!(text(&list).contains("anna\tactive"));

    // Pending: cannot log in, receives nothing.
    let bert = app.browser();
    let res = bert
        .post("/beheer/inloggen", &[("username", "bert"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let reporter = app.browser();
    app.submit_report(&reporter, "voor de goedkeuring").await;

    // Anna approves Bert in the browser.
    let page = anna.get("/beheer/coordinatoren").await;
    assert!(page.body.contains("wacht op goedkeuring"));
    assert!(
        page.body.contains(&fingerprint),
        "the page shows the fingerprint printed by the command ({fingerprint})"
    );
    let action = between(&page.body, "<form method=\"post\" action=\"", "\"").expect("approve form");
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = anna.post(&action, &[]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "no CSRF token, no approval");
    let res = anna.post(&action, &[("csrf", csrf.as_str())]).await;
    assert!(res.body.contains("is goedgekeurd"), "{}", res.body);
    assert!(
        res.body.contains("zit nog in geen enkele groep"),
        "approved but in no group: told it receives nothing yet"
    );
    // The audit rows name whom: the operator's addition and Anna's approval of Bert.
    let audit = anna.get("/beheer/logboek").await;
    for action in ["coördinator goedgekeurd", "coördinator toegevoegd (opdrachtregel)"] {
        let row = between(&audit.body, &format!("<td>{action}</td>"), "</tr>").expect(action);
        assert!(row.contains("<td>bert</td>"), "{action} names bert: {row}");
    }

    let res = bert
        .post("/beheer/inloggen", &[("username", "bert"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.body.contains("Er zijn geen meldingen voor u."),
        "older reports stay closed to Bert"
    );
    let add = meldpunt(
        &app,
        &["group", "member", "add", "--group", "integriteit", "--username", "bert"],
        "",
    );
    assert!(add.status.success(), "{}", text(&add));
    let groups = meldpunt(&app, &["group", "list"], "");
    assert!(
        text(&groups).contains("integriteit\tintegriteit\tanna (active), bert (active)"),
        "{}",
        text(&groups)
    );
    // The command line cannot vouch for who reads reports: the membership routes nothing
    // until a coordinator confirms it in the browser, where it is signed.
    app.submit_report(&reporter, "voor de bevestiging").await;
    let inbox = bert.get("/beheer").await;
    assert!(inbox.body.contains("Er zijn geen meldingen voor u."), "{}", inbox.body);
    let groups = anna.get("/beheer/groepen").await;
    assert!(
        groups.body.contains("nog niet bevestigd"),
        "the groups page says so: {}",
        groups.body
    );
    let csrf = hidden(&groups.body, "csrf").expect("csrf");
    let bert_id = app
        .state
        .store
        .coordinator_by_username("bert")
        .await
        .expect("db")
        .expect("bert")
        .id;
    let res = anna
        .post(
            "/beheer/groepen/lid-toevoegen",
            &[
                ("csrf", csrf.as_str()),
                ("group", "integriteit"),
                ("coordinator", bert_id.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(!res.body.contains("nog niet bevestigd"), "confirmed");
    app.submit_report(&reporter, "na de goedkeuring").await;
    let inbox = bert.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    assert!(bert.get(&href).await.body.contains("na de goedkeuring"));

    // Anna is the only member of the burgemeester group: she cannot be taken out of it.
    let refused = meldpunt(
        &app,
        &[
            "group",
            "member",
            "remove",
            "--group",
            "burgemeester",
            "--username",
            "anna",
        ],
        "",
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("routing rule 'bestuurders' needs at least one active member in group 'burgemeester'"),
        "{}",
        text(&refused)
    );
    let refused = meldpunt(&app, &["coordinator", "remove", "--username", "anna"], "");
    assert!(
        !refused.status.success(),
        "removing the last member of a routed group is refused"
    );
    // Bert can leave integriteit (Anna stays), and join again.
    let left = meldpunt(
        &app,
        &[
            "group",
            "member",
            "remove",
            "--group",
            "integriteit",
            "--username",
            "bert",
        ],
        "",
    );
    assert!(left.status.success(), "{}", text(&left));
    meldpunt(
        &app,
        &["group", "member", "add", "--group", "integriteit", "--username", "bert"],
        "",
    );

    // Removing Bert ends his session and his access.
    let out = meldpunt(&app, &["coordinator", "remove", "--username", "bert"], "");
    assert!(out.status.success(), "{}", text(&out));
    let res = bert.get(&href).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let gone = meldpunt(&app, &["coordinator", "remove", "--username", "bert"], "");
    assert!(!gone.status.success());
}

async fn init_and_recovery_verify(backend: Backend) {
    let app = spawn_app(backend).await;
    let out = meldpunt(&app, &["init"], "");
    assert!(out.status.success(), "{}", text(&out));
    let url = text(&out);
    let path = url
        .split("/beheer/inrichten/")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("a set-up link");
    // The new link replaces the one printed at start-up.
    let old = app.browser().get(app.setup_path.as_deref().expect("old")).await;
    assert_eq!(old.status, StatusCode::NOT_FOUND);
    let fresh = app.browser().get(&format!("/beheer/inrichten/{path}")).await;
    assert_eq!(fresh.status, StatusCode::OK);

    let b = app.browser();
    let res = b
        .post(
            &format!("/beheer/inrichten/{path}"),
            &[
                ("display_name", "Anna"),
                ("username", "anna"),
                ("password", PASSWORD),
                ("password_repeat", PASSWORD),
            ],
        )
        .await;
    let key = between(&res.body, "id=\"recovery-key\">", "</pre>").expect("recovery key");
    let again = meldpunt(&app, &["init"], "");
    assert!(!again.status.success());
    assert!(text(&again).contains("already set up"));

    let ok = meldpunt(&app, &["recovery", "verify"], &key.to_lowercase());
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("matches"));
    let mut wrong = key.clone();
    let first = wrong.remove(0);
    wrong.insert(0, if first == 'A' { 'B' } else { 'A' });
    let bad = meldpunt(&app, &["recovery", "verify"], &wrong);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("line 1 of the recovery key has a typing error"),
        "{}",
        text(&bad)
    );
}

async fn a_lost_password_is_recovered_with_the_recovery_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, recovery_key) = app.setup("anna").await;
    let reporter = app.browser();
    let (w1, w2) = (crate::helpers::marker("first"), crate::helpers::marker("second"));
    app.submit_report(&reporter, &w1).await;
    app.submit_report(&reporter, &w2).await;
    // An internal note, sealed under the staff key, which only the wraps to staff and the
    // recovery key carry: recovery must bring it back too.
    let note = crate::helpers::marker("note");
    let inbox = anna.get("/beheer").await;
    let href = crate::helpers::between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = anna.get(&href).await;
    let csrf = crate::helpers::hidden(&page.body, "csrf").expect("csrf");
    let res = anna
        .post(
            &format!("{href}/notitie"),
            &[("csrf", csrf.as_str()), ("note", note.as_str())],
        )
        .await;
    assert!(res.body.contains(&note));
    drop(anna);
    // A third report goes to Bert only (Anna left the integriteit group): recovery must not
    // hand it to Anna.
    let anna_id = app
        .state
        .store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    app.add_coordinator("bert", "Bert", "active", &["integriteit"]).await;
    app.state
        .store
        .remove_member("integriteit", &anna_id)
        .await
        .expect("shape");
    let w3 = crate::helpers::marker("third");
    app.submit_report(&reporter, &w3).await;
    app.add_coordinator("carla", "Carla", "pending", &[]).await;

    // Anna forgot her password. The operator runs `meldpunt recover` with the recovery key.
    let dir = tempfile::tempdir().expect("dir");
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, "een heel nieuw wachtwoord\n").expect("write");
    let wrong = recover(&app, "anna", &pw_file, "ABCD-EFGH");
    assert!(!wrong.status.success());
    let pending = recover(&app, "carla", &pw_file, &recovery_key);
    assert!(
        !pending.status.success(),
        "a pending coordinator cannot be recovered into access"
    );
    let out = recover(&app, "anna", &pw_file, &recovery_key);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("access to all 2 reports"));

    // The old password no longer works; the new one opens every old report.
    let b = app.browser();
    let res = b
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = b
        .post(
            "/beheer/inloggen",
            &[("username", "anna"), ("password", "een heel nieuw wachtwoord")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let inbox = b.get("/beheer").await;
    let mut links: Vec<String> = inbox
        .body
        .split("<td><a href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect();
    links.dedup();
    assert_eq!(links.len(), 2);
    let mut seen = String::new();
    for l in links {
        seen.push_str(&b.get(&l).await.body);
    }
    assert!(
        seen.contains(&w1) && seen.contains(&w2),
        "old reports readable with the new key"
    );
    assert!(seen.contains(&note), "internal notes readable after recovery");
}

async fn password_change_keeps_access(backend: Backend) {
    let app = spawn_app(backend).await;
    let (anna, _) = app.setup("anna").await;
    let reporter = app.browser();
    let what = crate::helpers::marker("what");
    app.submit_report(&reporter, &what).await;
    let other = app.browser();
    other
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;

    let page = anna.get("/beheer/wachtwoord").await;
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = anna
        .post(
            "/beheer/wachtwoord",
            &[
                ("csrf", csrf.as_str()),
                ("current", "fout"),
                ("password", "nieuw lang wachtwoord"),
                ("password_repeat", "nieuw lang wachtwoord"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = anna
        .post(
            "/beheer/wachtwoord",
            &[
                ("csrf", csrf.as_str()),
                ("current", PASSWORD),
                ("password", "kort"),
                ("password_repeat", "kort"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = anna
        .post(
            "/beheer/wachtwoord",
            &[
                ("csrf", csrf.as_str()),
                ("current", PASSWORD),
                ("password", "nieuw lang wachtwoord"),
                ("password_repeat", "nieuw lang wachtwoord"),
            ],
        )
        .await;
    assert!(res.body.contains("Uw wachtwoord is gewijzigd"), "{}", res.body);
    assert_eq!(
        other.get("/beheer").await.status,
        StatusCode::SEE_OTHER,
        "other sessions ended"
    );
    let b = app.browser();
    assert_eq!(
        b.post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    b.post(
        "/beheer/inloggen",
        &[("username", "anna"), ("password", "nieuw lang wachtwoord")],
    )
    .await;
    let inbox = b.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    assert!(
        b.get(&href).await.body.contains(&what),
        "same key pair: old reports still open"
    );
}

/// The binary in `dir` with the given variables (and no other `MELDPUNT_*` ones).
fn meldpunt_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = meldpunt_command();
    c.args(args)
        .current_dir(dir)
        .env("MELDPUNT_LOG__FILTER", "warn")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run meldpunt")
}

async fn admin_commands_refuse_where_no_installation_exists(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let pepper = dir.path().join("data/pepper.key");
    let (url, sqlite, pg) = fresh_database(&backend, dir.path()).await;
    let pepper_s = pepper.display().to_string();
    let env = [
        ("MELDPUNT_DATABASE__URL", url.as_str()),
        ("MELDPUNT_SECURITY__PEPPER_FILE", pepper_s.as_str()),
    ];
    let commands: [&[&str]; 6] = [
        &["coordinator", "list"],
        &["coordinator", "remove", "--username", "anna"],
        &["group", "list"],
        &["group", "add", "--name", "x"],
        &["recovery", "verify"],
        &["recover", "--username", "anna"],
    ];
    for args in commands {
        let out = meldpunt_in(dir.path(), args, &env);
        assert!(!out.status.success(), "{args:?} succeeded: {}", text(&out));
        assert!(
            text(&out).contains("no Meldpunt") && text(&out).contains("--config"),
            "{args:?}: {}",
            text(&out)
        );
    }
    // Nothing was made: no pepper, no database file or schema.
    assert!(!pepper.exists(), "a pepper was created");
    if let Some(p) = &sqlite {
        assert!(!p.exists(), "a database file was created");
    }
    if let Some(db) = &pg {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!(tables, 0, "a schema was created");
        conn.close().await.ok();
    }

    // An installation that exists but is not set up yet: `init` makes it, the others wait.
    let init = meldpunt_in(dir.path(), &["init"], &env);
    assert!(init.status.success(), "{}", text(&init));
    let list = meldpunt_in(dir.path(), &["coordinator", "list"], &env);
    assert!(!list.status.success());
    assert!(text(&list).contains("not set up yet"), "{}", text(&list));
}

#[test]
fn misspelt_or_unknown_settings_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    for name in ["MELDPUNT_HTTP__BINDD", "MELDPUNT_SMTP_HOST", "MELDPUNT_DATABASE"] {
        let out = meldpunt_in(dir.path(), &["init"], &[(name, "x")]);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(text(&out).contains(name), "{name}: {}", text(&out));
    }
    let file = dir.path().join("meldpunt.toml");
    std::fs::write(&file, "[smtp]\nhost = \"mail.example.org\"\nprot = 25\n").expect("write");
    let out = meldpunt_in(dir.path(), &["--config", "meldpunt.toml", "init"], &[]);
    assert!(!out.status.success(), "a misspelt key in the file was accepted");
    assert!(text(&out).contains("prot"), "{}", text(&out));
    // Refused before anything was made.
    assert!(
        !dir.path().join("data").exists(),
        "a refused start created the data folder"
    );
}

#[test]
fn an_organisation_colour_too_light_to_read_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    for (colour, says) in [("#ffcc00", "contrast on white"), ("geel", "#rrggbb")] {
        let out = meldpunt_in(dir.path(), &["init"], &[("MELDPUNT_ORGANISATION__COLOUR", colour)]);
        assert!(!out.status.success(), "{colour} was accepted");
        assert!(
            text(&out).contains("organisation.colour") && text(&out).contains(says),
            "{}",
            text(&out)
        );
    }
    let ok = meldpunt_in(dir.path(), &["init"], &[("MELDPUNT_ORGANISATION__COLOUR", "#00573f")]);
    assert!(ok.status.success(), "{}", text(&ok));
}

#[test]
fn list_settings_come_from_the_environment_comma_separated() {
    let dir = tempfile::tempdir().expect("dir");
    let bad = meldpunt_in(
        dir.path(),
        &["init"],
        &[("MELDPUNT_NOTIFY__DIGEST_TIMES", "08:00,25:00")],
    );
    assert!(!bad.status.success(), "an impossible time was accepted");
    assert!(text(&bad).contains("25:00"), "{}", text(&bad));
    let good = meldpunt_in(
        dir.path(),
        &["init"],
        &[
            ("MELDPUNT_NOTIFY__DIGEST_TIMES", "08:00, 16:30"),
            ("MELDPUNT_ROUTING__DEFAULT_GROUPS", "integriteit,vertrouwenspersonen"),
        ],
    );
    assert!(good.status.success(), "{}", text(&good));
}

async fn a_lost_pepper_is_replaced_with_the_recovery_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, recovery_key) = app.setup("anna").await;
    let what = crate::helpers::marker("voor-het-verlies");
    let code = app.submit_report(&app.browser(), &what).await;

    // The pepper file is lost: the installation refuses to work without it.
    std::fs::remove_file(&app.pepper_file).expect("lose the pepper");
    let refused = meldpunt(&app, &["coordinator", "list"], "");
    assert!(!refused.status.success());
    assert!(text(&refused).contains("pepper file"), "{}", text(&refused));

    // Not while the service runs: it keeps the old pepper in memory, and a meldcode it
    // showed after the replacement would be lost at its next start.
    let serving = meldpunt(&app, &["pepper", "replace"], &recovery_key);
    assert!(!serving.status.success(), "{}", text(&serving));
    assert!(
        text(&serving).contains("serving") && text(&serving).contains("Stop every instance"),
        "{}",
        text(&serving)
    );
    assert!(!app.pepper_file.exists(), "nothing was made while serving");
    app.stop().await;

    // Replacing it takes the recovery key, and never overwrites a file that is there.
    let wrong = meldpunt(&app, &["pepper", "replace"], "ABCD-EFGH");
    assert!(!wrong.status.success());
    assert!(!app.pepper_file.exists(), "no pepper without the recovery key");
    // A replacement that stopped half-way (its new file written, not yet in place) is no
    // obstacle: the next run starts over and leaves nothing beside the pepper.
    let half = app.pepper_file.with_extension("key.new");
    std::fs::write(&half, [7u8; 32]).expect("a half-done replacement");
    let out = meldpunt(&app, &["pepper", "replace"], &recovery_key);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!half.exists(), "the half-done file is gone");
    assert!(
        text(&out).contains("meldpunt recover --username anna"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&app.pepper_file).expect("new pepper").len(), 32);
    // Run again (say, after a stop before it could print): the file is the right one.
    let again = meldpunt(&app, &["pepper", "replace"], &recovery_key);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("already the one"), "{}", text(&again));
    // A file that is not the database's pepper is never replaced over.
    let right = std::fs::read(&app.pepper_file).expect("pepper");
    std::fs::write(&app.pepper_file, [9u8; 32]).expect("another file");
    let other = meldpunt(&app, &["pepper", "replace"], &recovery_key);
    assert!(!other.status.success());
    assert!(text(&other).contains("a file is at"), "{}", text(&other));
    std::fs::write(&app.pepper_file, right).expect("the right one back");

    // Anna gets a new password with the recovery key and reads the report again.
    let dir = tempfile::tempdir().expect("dir");
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, "een heel nieuw wachtwoord\n").expect("write");
    let out = recover(&app, "anna", &pw_file, &recovery_key);
    assert!(out.status.success(), "{}", text(&out));
    let dir = app.pepper_file.parent().expect("dir");
    let base = crate::helpers::start_instance(dir, &app.db_url, app.clock.clone()).await;
    let anna = crate::helpers::Browser::new(&base, None);
    let res = anna
        .post(
            "/beheer/inloggen",
            &[("username", "anna"), ("password", "een heel nieuw wachtwoord")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let inbox = anna.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("the report is listed");
    assert!(anna.get(&href).await.body.contains(&what), "the report reads again");
    // As README says: the reporter's old meldcode opens nothing now.
    let thread = crate::helpers::Browser::new(&base, None)
        .post("/opvolgen", &[("code", code.as_str())])
        .await;
    assert!(!thread.body.contains(&what));
    assert!(!thread.status.is_server_error());
}

/// `meldpunt purge` (the run `serve` makes on its own): a dry run lists and keeps, a real run
/// destroys what is due; `--help` names both `backup` and `purge`. The binary runs on the real
/// clock, so the report is closed on the test clock's day (before today) with one day's
/// retention.
async fn purge_from_the_command_line(backend: Backend) {
    let help = meldpunt_command().arg("--help").output().expect("help");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    assert!(help.contains("backup") && help.contains("purge"), "{help}");

    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let code = app.submit_report(&app.browser(), "cli-purge-melding").await;
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
    let id = href.rsplit('/').next().expect("id").to_string();

    let run = |args: &[&str]| {
        let mut c = meldpunt_command();
        c.args(args)
            .env("MELDPUNT_DATABASE__URL", &app.db_url)
            .env("MELDPUNT_SECURITY__PEPPER_FILE", &app.pepper_file)
            .env("MELDPUNT_RETENTION__KEEP_DAYS_AFTER_CLOSING", "1")
            .env("MELDPUNT_LOG__FILTER", "warn")
            .stdin(Stdio::null());
        c.output().expect("run meldpunt")
    };
    let fields = app.count("report_fields").await;
    assert!(fields > 0);
    let dry = run(&["purge", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains(&format!("would destroy\t{id}")), "{}", text(&dry));
    assert_eq!(app.count("report_fields").await, fields, "a dry run destroys nothing");
    let page = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(page.body.contains("cli-purge-melding"), "{}", page.body);

    let done = run(&["purge"]);
    assert!(done.status.success(), "{}", text(&done));
    assert!(
        text(&done).contains("1 report destroyed; its register entry stays."),
        "{}",
        text(&done)
    );
    assert_eq!(app.count("report_fields").await, 0);
    let page = app.browser().post("/opvolgen", &[("code", code.as_str())]).await;
    assert_eq!(page.status, StatusCode::GONE, "{}", page.body);
}
