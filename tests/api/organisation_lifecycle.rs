//! An organisation's lifecycle through the real binary (issue 23): `organisation export`
//! writes it to a file only its export key opens, `import` brings it into another
//! installation where its meldcode, coordinator login and evidence file work, a wrong key or
//! a changed or cut-off file add nothing, and `remove` destroys it with a certificate while
//! the other organisation stays whole. SQLite and PostgreSQL.

use std::process::{Output, Stdio};

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{
    between, hidden, links, marker, meldpunt_command, output_text, report_fields, run_setup, spawn_app_with, Backend,
    Browser, TestApp, PASSWORD,
};

both_backends!(
    an_exported_organisation_works_in_another_installation,
    the_first_organisation_moves_without_the_registry,
    removing_an_organisation_destroys_it_and_leaves_the_other,
);

const HOST_A: &str = "meldpunt.aldam.test";
const HOST_B: &str = "meldpunt.beekdal.test";
const HOST_C: &str = "meldpunt.ceders.test";

/// The binary against `app`'s installation, with `stdin`.
fn meldpunt(app: &TestApp, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = meldpunt_command()
        .args(args)
        .env("MELDPUNT_DATABASE__URL", &app.db_url)
        .env("MELDPUNT_SECURITY__PEPPER_FILE", &app.pepper_file)
        .env("MELDPUNT_HTTP__PUBLIC_URL", &app.state.settings.http.public_url)
        .env("MELDPUNT_ORGANISATION__NAME", &app.state.settings.organisation.name)
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
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

/// An installation whose first organisation is set up on `host`, named `name`.
async fn installation(backend: Backend, host: &str, name: &str) -> TestApp {
    let app = spawn_app_with(backend, |s| {
        s.http.public_url = format!("http://{host}");
        s.organisation.name = name.into();
    })
    .await;
    let coord = Browser::for_host(host, app.port());
    run_setup(&coord, &app.setup_path.clone().expect("set-up link"), "anna").await;
    app
}

/// Adds "Waterschap Beekdal" on HOST_B and sets it up with coordinator bert.
async fn add_beekdal(app: &TestApp) -> Browser {
    let (coord, id) = crate::helpers::add_organisation(app, "Waterschap Beekdal", HOST_B, "bert").await;
    assert_eq!(id, 2);
    coord
}

/// Sends a report with `what` and an untouched text file holding `file`; its meldcode.
async fn report_with_file(reporter: &Browser, what: &str, file: &[u8]) -> String {
    let form = reporter.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("form token");
    let done = reporter
        .post_multipart(
            "/melden",
            &report_fields(what, &token),
            &[("files_original", "aantekeningen.txt", file)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    crate::helpers::shown_code(&done.body).expect("meldcode shown")
}

/// The export key lines `organisation export` printed (indented, four lines).
fn key_of(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("    ") && l.trim().len() >= 6 && l.trim().contains('-'))
        .map(str::trim)
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    lines.join("\n")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Registry entries of `app`'s installation.
async fn registry(app: &TestApp) -> Vec<meldpunt::storage::OrganisationEntry> {
    app.state.store.organisations().await.expect("registry")
}

async fn an_exported_organisation_works_in_another_installation(backend: Backend) {
    let app = installation(backend.clone(), HOST_A, "Gemeente Aldam").await;
    let _bert = add_beekdal(&app).await;
    let reporter = Browser::for_host(HOST_B, app.port());
    let what = marker("beekdalreport");
    // Large enough for several chunks of the export on either database.
    let mut file = format!("{}\n", marker("beekdalfile")).into_bytes();
    for i in 0..6000 {
        file.extend_from_slice(format!("regel {i}: notities van de vergadering over de aanbesteding\n").as_bytes());
    }
    let code = report_with_file(&reporter, &what, &file).await;

    // Exported from the running installation, through the binary.
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("beekdal.export");
    let export_s = export.to_str().expect("utf-8");
    let out = meldpunt(&app, &["organisation", "export", HOST_B, "--out", export_s], b"");
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(output_text(&out).contains("1 report"), "{}", output_text(&out));
    let key = key_of(&out);
    let bytes = std::fs::read(&export).expect("export file");
    assert!(bytes.len() > 8 * 1024, "{} bytes", bytes.len());
    // Nothing of the organisation in the clear: not its report, file, code or name.
    for (needle, what_it_is) in [
        (what.as_bytes(), "report text"),
        (&file[..20], "file content"),
        (code.as_bytes(), "meldcode"),
        (code.replace('-', "").as_bytes(), "meldcode without hyphens"),
        (b"Waterschap Beekdal".as_slice(), "name"),
    ] {
        assert!(!contains(&bytes, needle), "the export shows its {what_it_is}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&export).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the export is private to its owner");
    }

    // A second, fresh installation.
    let other = installation(backend, HOST_C, "Gemeente Ceders").await;
    let import = |stdin: &[u8], from: &str| meldpunt(&other, &["organisation", "import", "--from", from], stdin);
    let folder = |app: &TestApp, id: i64| {
        let mut dirs = vec![app
            .pepper_file
            .parent()
            .expect("dir")
            .join("organisations")
            .join(id.to_string())];
        if let Some(db) = &app.sqlite_path {
            dirs.push(db.parent().expect("dir").join("organisations").join(id.to_string()));
        }
        dirs
    };
    let refused = |out: &Output, why: &str| {
        assert!(!out.status.success(), "{}", output_text(out));
        let said = output_text(out);
        assert!(said.contains(why), "{said}");
        assert!(said.contains("nothing was imported"), "{said}");
    };

    // The installation's pepper, and the organisation's own secret, do not open it.
    let pepper: [u8; 32] = std::fs::read(&app.pepper_file)
        .expect("pepper")
        .try_into()
        .expect("32 bytes");
    let entry_b = registry(&app).await.into_iter().find(|e| e.id == 2).expect("B");
    let secret_b = meldpunt::crypto::kdf::Pepper::from_key(meldpunt::crypto::Key32::from_bytes(pepper))
        .open_organisation_key(2, entry_b.sealed_key.as_deref().expect("sealed"))
        .expect("B's secret");
    for k in [pepper, *secret_b.expose()] {
        let as_key =
            meldpunt::crypto::recovery::encode_key(meldpunt::crypto::recovery::EXPORT_KEY_VERSION, &k).join("\n");
        refused(&import(as_key.as_bytes(), export_s), "export key does not open it");
    }
    // Another export's key.
    let second = dir.path().join("again.export");
    let again = meldpunt(
        &app,
        &["organisation", "export", "2", "--out", second.to_str().expect("utf-8")],
        b"",
    );
    assert!(again.status.success(), "{}", output_text(&again));
    refused(
        &import(key_of(&again).as_bytes(), export_s),
        "export key does not open it",
    );
    // A mistyped key is caught by its check symbols.
    let mut typo = key.clone().into_bytes();
    typo[2] = if typo[2] == b'A' { b'B' } else { b'A' };
    refused(&import(&typo, export_s), "typing error");
    // One flipped byte, anywhere in the sealed part.
    for at in [100, bytes.len() / 2, bytes.len() - 3] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x10;
        let path = dir.path().join(format!("flipped-{at}.export"));
        std::fs::write(&path, &flipped).expect("write");
        refused(
            &import(key.as_bytes(), path.to_str().expect("utf-8")),
            "integrity check",
        );
    }
    // Cut off: inside a chunk, and at a chunk's end (64 KiB + tag after the 61-byte header).
    for (len, why) in [(bytes.len() - 1000, "cut off"), (61 + 65_552, "cut off")] {
        let path = dir.path().join(format!("cut-{len}.export"));
        std::fs::write(&path, &bytes[..len]).expect("write");
        refused(&import(key.as_bytes(), path.to_str().expect("utf-8")), why);
    }
    // Its host taken at the target: refused before anything is written.
    let taken = meldpunt(
        &other,
        &[
            "organisation",
            "import",
            "--from",
            export_s,
            "--url",
            &format!("http://{HOST_C}"),
        ],
        key.as_bytes(),
    );
    refused(&taken, "already answers");
    // None of that added anything.
    assert_eq!(registry(&other).await.len(), 1);
    for d in folder(&other, 2) {
        assert!(!d.exists(), "{} left behind", d.display());
    }

    // The right key: imported, as organisation 2 of the other installation.
    let done = import(key.as_bytes(), export_s);
    assert!(done.status.success(), "{}", output_text(&done));
    assert!(
        output_text(&done).contains("as organisation 2"),
        "{}",
        output_text(&done)
    );
    let entries = registry(&other).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].name, "Waterschap Beekdal");
    assert_eq!(entries[1].host, HOST_B);
    let log = other.state.store.organisation_log().await.expect("log");
    assert!(log.iter().any(|e| e.event == "imported" && e.org_id == 2), "{log:?}");
    other.registry.sync().await.expect("sync");

    // The reporter's meldcode opens the report there.
    let there = Browser::for_host(HOST_B, other.port());
    let opened = there.post("/opvolgen", &[("code", code.as_str())]).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    assert!(
        opened.body.contains(&what),
        "the code opens the report: {}",
        opened.body
    );
    // The coordinator logs in with their password and downloads the file, byte for byte.
    let coord = Browser::for_host(HOST_B, other.port());
    let login = coord
        .post("/beheer/inloggen", &[("username", "bert"), ("password", PASSWORD)])
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("a report in bert's inbox");
    let page = coord.get(&href).await;
    assert!(page.body.contains(&what), "{}", page.body);
    let downloads = links(&page.body, &format!("{href}/bestanden/"));
    assert_eq!(downloads.len(), 1, "{}", page.body);
    let (status, _, body) = coord.get_bytes(&downloads[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.expect("whole download"),
        file,
        "the file is byte for byte the one sent"
    );
    // On PostgreSQL its rows are in the shared tables now: a second import of the same file
    // is refused whole (ids are unique across the installation) and adds nothing.
    if other.pg_url.is_some() {
        let twice = meldpunt(
            &other,
            &[
                "organisation",
                "import",
                "--from",
                export_s,
                "--url",
                "http://tweede.beekdal.test",
            ],
            key.as_bytes(),
        );
        refused(&twice, "in this database already");
        assert_eq!(registry(&other).await.len(), 2);
        assert_eq!(other.state.store.content_counts().await.expect("counts").0, 0);
    }
    // The other installation's own organisation is untouched, and the source still serves.
    let c_home = Browser::for_host(HOST_C, other.port()).get("/").await;
    assert!(c_home.body.contains("Gemeente Ceders"));
    let at_source = Browser::for_host(HOST_B, app.port());
    let still = at_source.post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(still.body.contains(&what));
}

/// The first organisation of a shared installation: its data is the installation's own
/// (on SQLite the very file of the registry, with every other organisation's sealed secret
/// in it); it moves without any of that.
async fn the_first_organisation_moves_without_the_registry(backend: Backend) {
    let app = installation(backend.clone(), HOST_A, "Gemeente Aldam").await;
    let _bert = add_beekdal(&app).await;
    let what = marker("aldam");
    let file = b"bijlage van Aldam\n".to_vec();
    let code = report_with_file(&Browser::for_host(HOST_A, app.port()), &what, &file).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("aldam.export");
    let out = meldpunt(
        &app,
        &["organisation", "export", "1", "--out", export.to_str().expect("utf-8")],
        b"",
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let key = key_of(&out);

    let other = installation(backend, HOST_C, "Gemeente Ceders").await;
    let done = meldpunt(
        &other,
        &["organisation", "import", "--from", export.to_str().expect("utf-8")],
        key.as_bytes(),
    );
    assert!(done.status.success(), "{}", output_text(&done));
    other.registry.sync().await.expect("sync");
    let entries = registry(&other).await;
    assert_eq!(
        entries.iter().map(|e| (e.id, e.host.as_str())).collect::<Vec<_>>(),
        vec![(1, HOST_C), (2, HOST_A)],
        "the registry holds this installation's organisations only"
    );
    if let Some(db) = &other.sqlite_path {
        let copy = db.parent().expect("dir").join("organisations/2/meldpunt.db");
        // Not even in freed pages: the other organisation's sealed secret is gone.
        let sealed_b = registry(&app).await[1].sealed_key.clone().expect("B's sealed secret");
        let raw = std::fs::read(&copy).expect("the imported file");
        assert!(!contains(&raw, &sealed_b), "B's sealed secret travelled with A");
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", copy.display()))
            .await
            .expect("open the imported file");
        for table in ["organisations", "organisation_log"] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .expect("count");
            assert_eq!(n, 0, "the imported file carries the old {table}");
        }
        pool.close().await;
    }
    let there = Browser::for_host(HOST_A, other.port());
    let opened = there.post("/opvolgen", &[("code", code.as_str())]).await;
    assert!(opened.body.contains(&what), "{}", opened.body);
    let coord = Browser::for_host(HOST_A, other.port());
    let login = coord
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("a report in anna's inbox");
    let page = coord.get(&href).await;
    let downloads = links(&page.body, &format!("{href}/bestanden/"));
    let (_, _, body) = coord.get_bytes(&downloads[0]).await;
    assert_eq!(body.expect("download"), file);
}

async fn removing_an_organisation_destroys_it_and_leaves_the_other(backend: Backend) {
    let app = installation(backend, HOST_A, "Gemeente Aldam").await;
    let _bert = add_beekdal(&app).await;
    // A third keeps hosts strict once B is gone (a single organisation answers any host).
    app.registry
        .add("Gemeente Ceders", &format!("http://{HOST_C}"))
        .await
        .expect("add a third");
    let what_a = marker("aldam");
    let what_b = marker("beekdal");
    let reporter_a = Browser::for_host(HOST_A, app.port());
    let reporter_b = Browser::for_host(HOST_B, app.port());
    let code_a = app.submit_report(&reporter_a, &what_a).await;
    report_with_file(&reporter_b, &what_b, b"bijlage\n").await;
    let org_b_folders: Vec<std::path::PathBuf> = {
        let mut d = vec![app.pepper_file.parent().expect("dir").join("organisations/2")];
        if let Some(db) = &app.sqlite_path {
            d.push(db.parent().expect("dir").join("organisations/2"));
        }
        d
    };
    if app.sqlite_path.is_some() {
        assert!(org_b_folders.iter().all(|d| d.exists()));
    }

    // A wrong name, or the first organisation: refused, nothing changed.
    let wrong = meldpunt(
        &app,
        &["organisation", "remove", "2", "--confirm", "Gemeente Aldam"],
        b"",
    );
    assert!(!wrong.status.success());
    assert!(
        output_text(&wrong).contains("nothing was removed"),
        "{}",
        output_text(&wrong)
    );
    let first = meldpunt(
        &app,
        &["organisation", "remove", "1", "--confirm", "Gemeente Aldam"],
        b"",
    );
    assert!(!first.status.success());
    assert!(
        output_text(&first).contains("organisation 1 is not removed"),
        "{}",
        output_text(&first)
    );
    assert!(output_text(&first).contains("export 1"), "{}", output_text(&first));
    assert_eq!(registry(&app).await.len(), 3);

    // Removed, with a certificate.
    let out = meldpunt(
        &app,
        &["organisation", "remove", HOST_B, "--confirm", "Waterschap Beekdal"],
        b"",
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let certificate = said
        .split("Give this certificate")
        .next()
        .expect("certificate")
        .trim_end()
        .to_string()
        + "\n";
    for part in [
        "Certificate of removal",
        "Organisation: Waterschap Beekdal",
        "Id: 2",
        &format!("URL: http://{HOST_B}"),
        &format!("Installation: http://{HOST_A}"),
        "1 report, 1 evidence file, 1 coordinator",
        "its own secret",
    ] {
        assert!(certificate.contains(part), "{part} missing from {certificate}");
    }
    // The digest is over the lines above it.
    let (text, last) = certificate.trim_end().rsplit_once('\n').expect("lines");
    let digest = last.rsplit(' ').next().expect("digest");
    use sha2::Digest;
    assert_eq!(
        digest,
        hex::encode(sha2::Sha256::digest(format!("{text}\n").as_bytes()))
    );
    // The log keeps it.
    let log = app.state.store.organisation_log().await.expect("log");
    let removed = log
        .iter()
        .find(|e| e.event == "removed" && e.org_id == 2)
        .expect("logged");
    assert_eq!(removed.detail, certificate);
    assert!(log.iter().any(|e| e.event == "keys destroyed" && e.org_id == 2));

    // The running service no longer knows the host.
    app.registry.sync().await.expect("sync");
    let gone = Browser::for_host(HOST_B, app.port()).get("/").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(!gone.body.contains("Beekdal"));
    // Its files are gone (SQLite), or its rows (PostgreSQL, counted through its own store).
    for d in &org_b_folders {
        assert!(!d.exists(), "{} is still there", d.display());
    }
    if let Some(url) = &app.pg_url {
        // A session of its own as organisation 2 under the service role (Store::connect_organisation
        // would first give it the single rows every organisation starts with).
        use sqlx::Connection;
        use std::str::FromStr;
        let opts = sqlx::postgres::PgConnectOptions::from_str(url)
            .expect("url")
            .options([("meldpunt.org", "2")]);
        let mut conn = sqlx::PgConnection::connect_with(&opts).await.expect("connect");
        sqlx::query("SET ROLE meldpunt_service")
            .execute(&mut conn)
            .await
            .expect("role");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.columns \
             WHERE column_name = 'org_id' AND table_schema = current_schema() \
             AND table_name <> 'organisation_log'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("tables");
        assert!(tables.len() > 20, "{tables:?}");
        for t in tables {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
                .fetch_one(&mut conn)
                .await
                .expect("count");
            assert_eq!(n, 0, "{n} rows of the removed organisation left in {t}");
        }
        conn.close().await.ok();
        // Organisation 1's rows are all there.
        assert_eq!(app.state.store.content_counts().await.expect("counts").0, 1);
    }
    // The other organisation is whole.
    let opened = Browser::for_host(HOST_A, app.port())
        .post("/opvolgen", &[("code", code_a.as_str())])
        .await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(opened.body.contains(&what_a));
    assert_eq!(registry(&app).await.len(), 2);
}

/// Export and import of an organisation with `MELDPUNT_LIFECYCLE_MIB` MiB of evidence
/// (default 1024) through the binary, timed, with each command's peak resident memory (by
/// `/usr/bin/time`). Not run by default: `cargo test --release --test api large_organisation
/// -- --ignored --nocapture` (PostgreSQL with MELDPUNT_TEST_POSTGRES_URL set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: minutes and gigabytes"]
async fn a_large_organisation_moves() {
    let backend = Backend::postgres().unwrap_or(Backend::Sqlite);
    let mib: usize = std::env::var("MELDPUNT_LIFECYCLE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let grow = |s: &mut meldpunt::settings::Settings| {
        s.limits.file_mib = 256;
        s.limits.report_mib = 256;
        s.limits.anonymous_mib_per_hour = 1 << 20;
    };
    let app = spawn_app_with(backend.clone(), |s| {
        s.http.public_url = format!("http://{HOST_A}");
        s.organisation.name = "Gemeente Aldam".into();
        grow(s);
    })
    .await;
    run_setup(
        &Browser::for_host(HOST_A, app.port()),
        &app.setup_path.clone().expect("link"),
        "anna",
    )
    .await;
    add_beekdal(&app).await;
    let reporter = Browser::for_host(HOST_B, app.port());
    let started = std::time::Instant::now();
    let mut last = Vec::new();
    let mut left = mib;
    let mut code = String::new();
    while left > 0 {
        let n = left.min(256);
        let mut file = vec![0u8; n * 1024 * 1024];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut file);
        for b in file.iter_mut() {
            *b = b'a' + (*b % 26);
        }
        code = report_with_file(&reporter, &marker("groot"), &file).await;
        last = file;
        left -= n;
    }
    let upload = started.elapsed();
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("groot.export");
    let export_s = export.to_str().expect("utf-8").to_string();
    let timed = |app: &TestApp, args: &[&str], stdin: &[u8]| {
        // A release build measures what an operator gets (the dev profile leaves the
        // generic AEAD and SQLite code unoptimised): MELDPUNT_LIFECYCLE_BIN=target/release/meldpunt.
        let bin = std::env::var("MELDPUNT_LIFECYCLE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_meldpunt").into());
        let mut full = vec!["-f", "TIMED %e s %M KiB", bin.as_str()];
        full.extend_from_slice(args);
        let mut cmd = std::process::Command::new("/usr/bin/time");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MELDPUNT_") {
                cmd.env_remove(name);
            }
        }
        use std::io::Write;
        let mut child = cmd
            .args(&full)
            .env("MELDPUNT_DATABASE__URL", &app.db_url)
            .env("MELDPUNT_SECURITY__PEPPER_FILE", &app.pepper_file)
            .env("MELDPUNT_HTTP__PUBLIC_URL", &app.state.settings.http.public_url)
            .env("MELDPUNT_ORGANISATION__NAME", &app.state.settings.organisation.name)
            .env("MELDPUNT_LIMITS__FILE_MIB", "256")
            .env("MELDPUNT_LIMITS__REPORT_MIB", "256")
            .env("MELDPUNT_LOG__FILTER", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run");
        child.stdin.take().expect("stdin").write_all(stdin).expect("stdin");
        let out = child.wait_with_output().expect("output");
        let said = output_text(&out);
        let line = said.lines().find(|l| l.starts_with("TIMED")).unwrap_or("").to_string();
        (out, line)
    };
    let (out, export_time) = timed(&app, &["organisation", "export", "2", "--out", &export_s], b"");
    assert!(out.status.success(), "{}", output_text(&out));
    let key = key_of(&out);
    let size = std::fs::metadata(&export).expect("meta").len();

    let other = spawn_app_with(backend, |s| {
        s.http.public_url = format!("http://{HOST_C}");
        grow(s);
    })
    .await;
    let (done, import_time) = timed(&other, &["organisation", "import", "--from", &export_s], key.as_bytes());
    assert!(done.status.success(), "{}", output_text(&done));
    other.registry.sync().await.expect("sync");
    let there = Browser::for_host(HOST_B, other.port());
    let opened = there.post("/opvolgen", &[("code", code.as_str())]).await;
    let href = links(&opened.body, "/opvolgen/bestanden/")
        .into_iter()
        .next()
        .expect("the report's file");
    let (_, _, body) = there.get_bytes(&href).await;
    assert!(body.expect("download") == last, "the last file downloads byte for byte");
    eprintln!(
        "LIFECYCLE {} MiB evidence: upload {:.1} s; export {export_time} ({} MiB file); import {import_time}",
        mib,
        upload.as_secs_f64(),
        size / (1024 * 1024)
    );
}
