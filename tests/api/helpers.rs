//! Test harness: an app per test on port 0 with its own database (a temporary SQLite file,
//! or a fresh PostgreSQL database when MELDPUNT_TEST_POSTGRES_URL is set), a fixed clock,
//! and browsers with their own cookie jars that speak to it over real HTTP.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use meldpunt::clock::Clock;
use meldpunt::http::AppState;
use meldpunt::settings::Settings;
use meldpunt::startup::Application;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

pub const PG_ENV: &str = "MELDPUNT_TEST_POSTGRES_URL";
/// 2026-11-30 12:00:00 UTC.
pub const T0: i64 = 1_796_040_000;
pub const PASSWORD: &str = "lange zin als wachtwoord 42";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn postgres() -> Option<Backend> {
        std::env::var(PG_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .map(Backend::Postgres)
    }
}

/// Runs an async test body once per backend: SQLite always, PostgreSQL when configured.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            // build.rs sets `has_postgres` when the variable is set at build time (and builds
            // again when it changes), so without it the variant is reported as ignored, with
            // the reason, and never counted as passed.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                not(has_postgres),
                ignore = "needs PostgreSQL: set MELDPUNT_TEST_POSTGRES_URL (README, Tests)"
            )]
            async fn postgres() {
                match $crate::helpers::Backend::postgres() {
                    Some(b) => super::$name(b).await,
                    None => panic!(
                        "{} is not set (it was when the tests were built, or --include-ignored was given)",
                        $crate::helpers::PG_ENV
                    ),
                }
            }
        }
    )+};
}

pub struct TestApp {
    pub base: String,
    pub state: actix_web::web::Data<AppState>,
    /// The running server's overview cache (the coordinator feature's own state).
    pub overview: std::sync::Arc<meldpunt::features::coordinator::overview::OverviewCache>,
    /// The registry of organisations the server follows.
    pub registry: meldpunt::startup::RegistryHandle,
    pub setup_path: Option<String>,
    pub sqlite_path: Option<PathBuf>,
    pub pg_url: Option<String>,
    pub clock: Clock,
    pub db_url: String,
    pub pepper_file: PathBuf,
    /// Stops the server; see [`TestApp::stop`].
    server: actix_web::dev::ServerHandle,
    running: Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    _dir: tempfile::TempDir,
    _pg_db: Option<PgDatabase>,
}

pub fn test_settings(dir: &std::path::Path, db_url: &str) -> Settings {
    let mut s = Settings::defaults().expect("defaults");
    s.http.bind = "127.0.0.1:0".into();
    s.database.url = db_url.into();
    s.database.max_connections = 5;
    s.security.pepper_file = dir.join("pepper.key");
    s.security.kdf_threads = 2;
    // Most tests log in with a password only; tests/api/totp.rs covers the second factor
    // as shipped (required).
    s.security.require_totp = false;
    // Tests send reports at a fixed clock, many in one "hour"; tests/api/floods.rs covers the
    // hourly rate of new reports as shipped.
    s.limits.reports_per_hour = 1_000_000;
    // Tests drain the outbox themselves (no background worker racing them), at once.
    s.notify.digest_times = vec![];
    s.notify.poll_seconds = 3600;
    s
}

/// A fresh, empty PostgreSQL database on the server `admin_url` points at.
/// A PostgreSQL database made for one test, dropped when the test ends (also when it fails:
/// the drop runs while the panic unwinds).
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

/// Names this run's databases: `mp_test_<run>_<id>`, where `<run>` comes from
/// `MELDPUNT_TEST_RUN` (set by `.ci/run`, which drops only its own run's leftovers).
fn test_run() -> String {
    let run: String = std::env::var("MELDPUNT_TEST_RUN")
        .unwrap_or_else(|_| "local".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    if run.is_empty() {
        "local".into()
    } else {
        run.to_ascii_lowercase()
    }
}

pub async fn fresh_pg_database(admin_url: &str) -> PgDatabase {
    use sqlx::Connection;
    let name = format!("mp_test_{}_{}", test_run(), meldpunt::ids::new_id().0);
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.ok();
    let mut url = url::Url::parse(admin_url).expect("postgres url");
    url.set_path(&name);
    PgDatabase {
        url: url.to_string(),
        admin_url: admin_url.to_string(),
        name,
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread of its own
        // with its own runtime can. FORCE ends the app's pooled connections still open.
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// The `meldpunt` binary with no `MELDPUNT_*` variable of the environment the tests run in
/// (the binary refuses variables that are not settings, such as the suite's own).
pub fn meldpunt_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_meldpunt"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MELDPUNT_") {
            c.env_remove(name);
        }
    }
    c.env_remove("RUST_LOG");
    c
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// A database of its own for one test: an SQLite file (not yet created) under `dir`, or a
/// fresh PostgreSQL database. Returns its URL, the SQLite path, and the PostgreSQL guard.
pub async fn fresh_database(backend: &Backend, dir: &std::path::Path) -> (String, Option<PathBuf>, Option<PgDatabase>) {
    match backend {
        Backend::Sqlite => {
            let p = dir.join("data/meldpunt.db");
            (format!("sqlite://{}", p.display()), Some(p), None)
        }
        Backend::Postgres(admin) => {
            let db = fresh_pg_database(admin).await;
            (db.url.clone(), None, Some(db))
        }
    }
}

/// An app whose settings the test adjusts first (SMTP, routing).
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db_url, sqlite_path, pg_db) = fresh_database(&backend, dir.path()).await;
    let mut settings = test_settings(dir.path(), &db_url);
    adjust(&mut settings);
    let pepper_file = settings.security.pepper_file.clone();
    let clock = Clock::fixed(T0);
    let app = Application::build(settings, clock.clone()).await.expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let overview = app.overview();
    let registry = app.registry();
    let setup_path = match &app.setup {
        meldpunt::features::coordinator::account::SetupLink::New(p) => Some(p.to_string()),
        _ => None,
    };
    let server = app.handle();
    let running = Mutex::new(Some(tokio::spawn(app.run_until_stopped())));
    TestApp {
        server,
        running,
        base,
        state,
        overview,
        registry,
        setup_path,
        sqlite_path,
        pg_url: pg_db.as_ref().map(|d| d.url.clone()),
        clock,
        db_url,
        pepper_file,
        _dir: dir,
        _pg_db: pg_db,
    }
}

impl TestApp {
    /// Stops the server as an operator stops the service, and waits until it has let go of
    /// the database (its claim on it is released), so offline commands may run.
    pub async fn stop(&self) {
        self.server.stop(true).await;
        let running = self.running.lock().expect("lock").take();
        if let Some(task) = running {
            let _ = task.await;
        }
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.base, None)
    }

    /// Runs set-up through the browser; returns the coordinator's (logged-in) browser and the
    /// recovery key as shown on the page.
    pub async fn setup(&self, username: &str) -> (Browser, String) {
        let b = self.browser();
        let path = self.setup_path.clone().expect("a fresh app has a set-up link");
        let key = run_setup(&b, &path, username).await;
        (b, key)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
    }

    pub async fn count(&self, table: &str) -> i64 {
        let q = format!("SELECT COUNT(*) FROM {table}");
        match &self.state.store {
            meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar::<_, i64>(&q).fetch_one(p).await.expect("count"),
            meldpunt::storage::Store::Postgres(p) => {
                sqlx::query_scalar::<_, i64>(&q).fetch_one(p).await.expect("count")
            }
        }
    }

    /// A coordinator added straight to the database (as if invited or approved earlier), in
    /// the given groups.
    pub async fn add_coordinator(
        &self,
        username: &str,
        name: &str,
        status: &str,
        groups: &[&str],
    ) -> meldpunt::storage::CoordinatorRow {
        let (row, _) = meldpunt::features::coordinator::account::new_coordinator(
            &self.state.kdf,
            username,
            name,
            PASSWORD,
            status,
            T0,
        )
        .await
        .expect("new coordinator");
        self.state
            .store
            .insert_coordinator(&row)
            .await
            .expect("insert coordinator");
        // "Approved earlier" means what a person does: a vouched-for colleague (one who set
        // up with the shared test password) signs the keys and the memberships. Without one
        // (before set-up) there is nobody to vouch, and the rows are all there is.
        let approver = self.vouched_signer().await;
        if let (Some(signer), "active") = (&approver, status) {
            let e = meldpunt::domain::keyring::endorse(signer, &row.id, &row.public_key, row.verifying_key.as_deref())
                .expect("endorsement");
            self.state.store.set_endorsement(&e, T0).await.expect("endorse");
        }
        for g in groups {
            match &approver {
                Some(signer) => {
                    let (by, sig) = meldpunt::domain::keyring::sign_membership(signer, g, &row.id).expect("signature");
                    assert!(
                        self.state
                            .store
                            .add_signed_member(g, &row.id, &by, &sig)
                            .await
                            .expect("member"),
                        "group {g} exists"
                    );
                }
                None => {
                    self.state.store.add_member(g, &row.id).await.expect("group member");
                }
            }
        }
        row
    }

    /// The signing key of a coordinator whose keys are vouched for and whose password is
    /// the tests' shared one (the one who set up, usually).
    async fn vouched_signer(&self) -> Option<meldpunt::crypto::sign::SigningKey> {
        let endorsed = self.state.store.endorsements().await.expect("endorsements");
        for c in self.state.store.coordinators().await.expect("coordinators") {
            if c.status != "active" || !endorsed.iter().any(|e| e.coordinator_id == c.id) {
                continue;
            }
            if let Ok(Some(secret)) =
                meldpunt::features::coordinator::account::unlock(&self.state.kdf, Some(&c), PASSWORD).await
            {
                return Some(meldpunt::crypto::sign::SigningKey::of(&secret));
            }
        }
        None
    }

    pub async fn report_ids(&self) -> Vec<String> {
        let q = "SELECT id FROM reports";
        match &self.state.store {
            meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar::<_, String>(q).fetch_all(p).await.expect("ids"),
            meldpunt::storage::Store::Postgres(p) => {
                sqlx::query_scalar::<_, String>(q).fetch_all(p).await.expect("ids")
            }
        }
    }

    /// Submits a complete report; returns the meldcode shown.
    pub async fn submit_report(&self, b: &Browser, what: &str) -> String {
        let form = b.get("/melden").await;
        let token = hidden(&form.body, "form_token").expect("form token");
        let res = b.post("/melden", &report_fields(what, &token)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        crate::helpers::shown_code(&res.body).expect("meldcode shown")
    }
}

/// Adds organisation `name` on `host` to the running `app` (as `organisation add` does),
/// sets it up through its own link on its own host with coordinator `username`, and
/// returns that coordinator's logged-in browser and the organisation's id.
pub async fn add_organisation(app: &TestApp, name: &str, host: &str, username: &str) -> (Browser, i64) {
    let (id, link) = app
        .registry
        .add(name, &format!("http://{host}"))
        .await
        .expect("add organisation");
    let link = match link {
        meldpunt::features::coordinator::account::SetupLink::New(l) => l.to_string(),
        _ => panic!("a new organisation gets a set-up link"),
    };
    let path = link
        .strip_prefix(&format!("http://{host}"))
        .expect("the link is on the organisation's own host")
        .to_string();
    let coord = Browser::for_host(host, app.port());
    run_setup(&coord, &path, username).await;
    (coord, id)
}

/// Set-up through the browser `b` at the one-time `path`, as "Anna de Vries" with
/// `username`; returns the recovery key shown. `b` is logged in afterwards.
pub async fn run_setup(b: &Browser, path: &str, username: &str) -> String {
    let page = b.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let res = b
        .post(
            path,
            &[
                ("display_name", "Anna de Vries"),
                ("username", username),
                ("password", PASSWORD),
                ("password_repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    between(&res.body, "id=\"recovery-key\">", "</pre>").expect("recovery key shown")
}

pub fn report_fields<'a>(what: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("what", what),
        ("when", "vorige maand"),
        ("where", "afdeling Vergunningen"),
        ("subject", "ambtenaar"),
        ("category", "belangenverstrengeling"),
        ("about", "repressie"),
        ("how_known", "zelf"),
        ("anonymity", "anoniem"),
        ("contact", ""),
        ("form_token", token),
    ]
}

pub struct Page {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
}

/// A browser: its own cookie jar, no automatic redirects (each hop is checked and followed).
pub struct Browser {
    client: reqwest::Client,
    base: String,
    jar: Mutex<HashMap<String, String>>,
    pub extra_headers: Vec<(String, String)>,
}

impl Browser {
    /// A browser that reaches this machine's `port` under the name `host` (as a proxy in
    /// front of a shared installation passes it on).
    pub fn for_host(host: &str, port: u16) -> Browser {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(host, addr)
            .build()
            .expect("client");
        Browser {
            client,
            base: format!("http://{host}:{port}"),
            jar: Mutex::new(HashMap::new()),
            extra_headers: vec![],
        }
    }

    pub fn new(base: &str, local: Option<std::net::IpAddr>) -> Browser {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(ip) = local {
            builder = builder.local_address(ip);
        }
        Browser {
            client: builder.build().expect("client"),
            base: base.to_string(),
            jar: Mutex::new(HashMap::new()),
            extra_headers: vec![],
        }
    }

    pub fn cookie_values(&self) -> Vec<String> {
        self.jar.lock().expect("jar").values().cloned().collect()
    }

    pub fn cookies(&self) -> Vec<(String, String)> {
        self.jar
            .lock()
            .expect("jar")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn set_cookies(&self, cookies: Vec<(String, String)>) {
        self.jar.lock().expect("jar").extend(cookies);
    }

    fn cookie_header(&self) -> String {
        self.jar
            .lock()
            .expect("jar")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> Page {
        let mut req = req.header(COOKIE, self.cookie_header());
        for (k, v) in &self.extra_headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let res = req.send().await.expect("request");
        for sc in res.headers().get_all(SET_COOKIE) {
            let sc = sc.to_str().expect("ascii cookie");
            let first = sc.split(';').next().unwrap_or_default();
            let (name, value) = first.split_once('=').expect("name=value");
            let removal = value.is_empty() || sc.contains("Max-Age=0");
            let mut jar = self.jar.lock().expect("jar");
            if removal {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
        let status = res.status();
        let location = res
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().expect("location").to_string());
        let headers = res.headers().clone();
        let body = res.text().await.expect("body");
        Page {
            status,
            body,
            location,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.finish(self.client.get(format!("{}{path}", self.base))).await
    }

    /// Posts a form without following a redirect.
    /// (With the headers a browser sends for a form on this site, unless the test set its
    /// own `Origin` or `Sec-Fetch-Site`.)
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let own = |h: &str| self.extra_headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(h));
        if !own("origin") && !own("sec-fetch-site") {
            req = req
                .header("Origin", self.base.as_str())
                .header("Sec-Fetch-Site", "same-origin");
        }
        self.finish(req).await
    }

    /// Posts `body` as is with its own content type, as a same-origin browser form would.
    pub async fn post_typed(&self, path: &str, content_type: &str, body: Vec<u8>) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("Origin", self.base.as_str())
            .header("Sec-Fetch-Site", "same-origin")
            .body(body);
        self.finish(req).await
    }

    /// Posts a form and follows a 303 to the page it leads to.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let res = self.post_raw(path, body.into_bytes()).await;
        match (&res.status, &res.location) {
            (&StatusCode::SEE_OTHER, Some(loc)) => self.get(loc).await,
            _ => res,
        }
    }
}

/// A `multipart/form-data` body as a browser builds it: text fields, then files as
/// (field, file name, bytes). Returns the content type and the body.
pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----meldpunttestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (field, file_name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Browser {
    /// Posts a multipart form (with the headers a browser sends) and follows a 303.
    pub async fn post_multipart(&self, path: &str, fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Page {
        let (content_type, body) = multipart(fields, files);
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("Origin", self.base.as_str())
            .header("Sec-Fetch-Site", "same-origin")
            .body(body);
        let res = self.finish(req).await;
        match (&res.status, &res.location) {
            (&StatusCode::SEE_OTHER, Some(loc)) => self.get(loc).await,
            _ => res,
        }
    }

    /// A download: status, headers and the exact bytes.
    pub async fn get_bytes(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Result<Vec<u8>, String>) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string());
        (status, headers, body)
    }
}

/// Every `href` on a page that starts with `prefix`, unescaped.
pub fn links(html: &str, prefix: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(unescape)
        .filter(|h| h.starts_with(prefix))
        .collect()
}

/// The text between `start` and the next `end`.
pub fn between(html: &str, start: &str, end: &str) -> Option<String> {
    let from = html.find(start)? + start.len();
    let len = html[from..].find(end)?;
    Some(html[from..from + len].to_string())
}

/// The value of a hidden input by name.
/// The meldcode shown on a page, as one string: its groups are separate elements (so a line
/// never breaks inside one) joined by hyphens.
pub fn shown_code(html: &str) -> Option<String> {
    let inner = between(html, "id=\"meldcode\">", "</p>")?;
    let mut out = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag && !c.is_whitespace() => out.push(c),
            _ => {}
        }
    }
    Some(out)
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    between(html, &format!("name=\"{name}\" value=\""), "\"")
}

/// A fresh unique marker, so every assertion about leaks has a string to look for.
pub fn marker(what: &str) -> String {
    format!("MARKER{}{}", what.to_uppercase(), &meldpunt::ids::new_id().0[..10])
}

/// Undoes HTML escaping (numeric and the usual named entities), to compare shown text.
pub fn unescape(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 8) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Starts another running instance on `db_url` with the pepper file in `dir` (a restart,
/// a restored copy); returns its base URL.
pub async fn start_instance(dir: &std::path::Path, db_url: &str, clock: Clock) -> String {
    let app = Application::build(test_settings(dir, db_url), clock)
        .await
        .expect("the instance starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

/// A second instance of the service on the same database and pepper (not serving HTTP),
/// for tests of several workers at once.
pub async fn second_instance(app: &TestApp, adjust: impl FnOnce(&mut Settings)) -> actix_web::web::Data<AppState> {
    let dir = app.pepper_file.parent().expect("dir");
    let mut settings = test_settings(dir, &app.db_url);
    adjust(&mut settings);
    let other = Application::build(settings, app.clock.clone())
        .await
        .expect("second instance");
    other.state()
}

/// The TOTP code an authenticator app shows for `secret_b32` at `unix`.
pub fn totp_code(secret_b32: &str, unix: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_b32)
        .expect("base32 secret")
        .as_bytes()
        .to_vec();
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name("test")
        .build()
        .expect("totp");
    totp.generate(u64::try_from(unix).expect("positive time")).to_string()
}

/// Enrols the second factor on the page the browser is sent to after set-up or login, as a
/// person with an authenticator app would; returns the TOTP secret and the recovery codes.
pub async fn enrol_second_factor(b: &Browser, unix: i64) -> (String, Vec<String>) {
    let page = b.get("/beheer/tweede-factor").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code is shown");
    let secret = between(&page.body, "id=\"totp-secret\">", "<").expect("secret shown for typing");
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let res = b
        .post(
            "/beheer/tweede-factor",
            &[("csrf", csrf.as_str()), ("code", totp_code(&secret, unix).as_str())],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let list = between(&res.body, "id=\"recovery-codes\">", "</ul>").expect("recovery codes shown");
    let codes = list
        .split("<code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_string)
        .collect();
    (secret, codes)
}

/// Sends the set-up form (as `anna`, with the test password) under `display_name`; returns
/// the answer, whatever it is.
pub async fn post_setup(app: &TestApp, display_name: &str) -> Page {
    let b = app.browser();
    let path = app.setup_path.clone().expect("a fresh app has a set-up link");
    b.get(&path).await;
    b.post(
        &path,
        &[
            ("display_name", display_name),
            ("username", "anna"),
            ("password", PASSWORD),
            ("password_repeat", PASSWORD),
        ],
    )
    .await
}

/// The installation an earlier version made (tests/fixtures/upgrade-0431e23: schema
/// 0001-0008, before the pepper check), put in place for `backend` under `dir`, and its
/// pepper at `dir/pepper.key`. Returns the database URL, the PostgreSQL guard and the
/// fixture folder (codes.tsv, password.txt).
pub async fn earlier_installation(backend: &Backend, dir: &std::path::Path) -> (String, Option<PgDatabase>, String) {
    const FIXTURE: &str = "tests/fixtures/upgrade-0431e23";
    let (url, pg, fixture) = match backend {
        Backend::Sqlite => {
            let fixture = format!("{FIXTURE}/sqlite");
            let db = dir.join("data/meldpunt.db");
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
    let pepper = dir.join("pepper.key");
    std::fs::copy(format!("{fixture}/pepper.key"), &pepper).expect("copy pepper");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pepper, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    (url, pg, fixture)
}

/// One value from the database at `url` (a fresh connection, not the app's pool).
pub async fn query_i64(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        let v = sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut c).await.expect(sql);
        c.close().await.ok();
        v
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        let v = sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut c).await.expect(sql);
        c.close().await.ok();
        v
    }
}

/// Combined standard output and error of a finished command.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs one statement binding a blob (if any) and then text values, on either backend.
pub async fn exec(store: &meldpunt::storage::Store, sql: &str, blob: Option<&[u8]>, texts: &[&str]) {
    match store {
        meldpunt::storage::Store::Sqlite(p) => {
            let mut q = sqlx::query(sql);
            if let Some(b) = blob {
                q = q.bind(b.to_vec());
            }
            for t in texts {
                q = q.bind(t.to_string());
            }
            q.execute(p).await.expect("statement");
        }
        meldpunt::storage::Store::Postgres(p) => {
            let mut q = sqlx::query(sql);
            if let Some(b) = blob {
                q = q.bind(b.to_vec());
            }
            for t in texts {
                q = q.bind(t.to_string());
            }
            q.execute(p).await.expect("statement");
        }
    }
}
