//! Organisations (issue 23, "Scale"): one installation serving one organisation, then the
//! same process serving 1,000, measured side by side in one run:
//! - **memory**: the process's resident memory serving 1 organisation, and after the other
//!   999 were added (each opened by the registry sync) and left idle, after the same quiet
//!   period; the difference per added organisation. Beside it the threads, open files and
//!   database connections the organisations hold, and a last reading a few seconds after
//!   the benchmark itself closed every idle connection of the later organisations;
//! - **page latency**: GET `/` and `/melden`, p50 and p95 over `BENCH_REQUESTS` requests one
//!   at a time, on the first organisation's host, on a random organisation's host each
//!   request, and on a random one of ten organisations' hosts (each seen again within
//!   seconds), at 1 and at 1,000 organisations (the ratio is the goal);
//! - **adding**: `organisation add` (registry row, the organisation's store created and
//!   migrated, its set-up link) and the registry sync that opens it in the running server,
//!   each timed for all 999; for the last few the server is left to find them itself (its
//!   registry loop looks every two seconds), timed until their host answers. Every added
//!   organisation is set up through its link (`BENCH_SETUP_EVERY`). Adding stops at the
//!   first organisation that cannot be added, or once five are not served (a database that
//!   refuses more connections), and the rest of the run measures those added so far.
//!
//! The server runs in this process as `meldpunt serve` runs it (`Application::build`, then
//! `run_until_stopped` with all its background work: mail passes, sweeps, the registry loop),
//! with the shipped settings but for a second factor (off), on a fresh SQLite database in
//! `/tmp` (`BENCH_DIR`), or with `MELDPUNT_BENCH_POSTGRES_URL` on a fresh PostgreSQL database
//! made on that server and dropped at the end. Requests go to 127.0.0.1 with the
//! organisation's `Host`, over one kept-alive connection.
//!
//! Run with `cargo bench --bench organisations`. Environment: `BENCH_ORGS` (1000),
//! `BENCH_REQUESTS` (1000 per row), `BENCH_QUIET` (seconds of quiet before each memory
//! reading, 90), `BENCH_SETUP_EVERY` (set up every k-th added organisation through its
//! link, 1 = all, 0 = none; default 1), `BENCH_POLLED` (how many of the last organisations the
//! server finds by itself, 10), `BENCH_PG_POSTMASTER` (the pid of a PostgreSQL server of the
//! benchmark's own: its memory is read beside the process's).
//!
//! The run ends with `process::exit`, leaving what is allocated in place, so that under
//! `heaptrack` the "leaked" allocations are what the process held at its last reading.

use std::time::{Duration, Instant};

use meldpunt::features::coordinator::account::SetupLink;
use meldpunt::startup::{organisations, Application};
use meldpunt::storage::Store;
use rand::Rng;
use reqwest::header::HOST;

const PASSWORD: &str = "lange zin als wachtwoord 42";

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn host(i: usize) -> String {
    format!("org-{i:04}.bench.test")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A field of /proc/self/status or /proc/self/smaps_rollup, in KiB (or a count).
fn proc_field(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the process holds at one moment.
#[derive(Clone, Copy, Default)]
struct Memory {
    rss: u64,
    anon: u64,
    threads: u64,
    /// Open file descriptors.
    fds: usize,
    /// Open database connections over every organisation's store.
    connections: u32,
    /// Of which idle in their pool (the rest are checked out).
    idle: usize,
    /// Organisations whose store holds at least one connection.
    holding: u32,
    /// With `BENCH_PG_POSTMASTER` (the pid of a PostgreSQL server of the benchmark's own):
    /// the proportional set size of the server and its backends, in KiB, and how many.
    pg: Option<(u64, usize)>,
}

/// The PSS of a PostgreSQL server's postmaster and every process it started (its backends).
fn pg_server(postmaster: u32) -> (u64, usize) {
    let pss = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("Pss:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let children =
        std::fs::read_to_string(format!("/proc/{postmaster}/task/{postmaster}/children")).unwrap_or_default();
    let pids: Vec<&str> = children.split_whitespace().collect();
    (
        pss(&postmaster.to_string()) + pids.iter().map(|p| pss(p)).sum::<u64>(),
        pids.len(),
    )
}

impl Memory {
    fn now(registry: &meldpunt::startup::RegistryHandle, orgs: usize) -> Memory {
        let mut connections = 0;
        let mut idle = 0;
        let mut holding = 0;
        for id in 1..=orgs as i64 {
            if let Some(state) = registry.state_of(id) {
                let (n, i) = match &state.store {
                    Store::Sqlite(p) => (p.size(), p.num_idle()),
                    Store::Postgres(p) => (p.size(), p.num_idle()),
                };
                connections += n;
                idle += i;
                holding += u32::from(n > 0);
            }
        }
        Memory {
            rss: proc_field("status", "VmRSS:"),
            anon: proc_field("smaps_rollup", "Anonymous:"),
            threads: proc_field("status", "Threads:"),
            fds: std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
            connections,
            idle,
            holding,
            pg: std::env::var("BENCH_PG_POSTMASTER")
                .ok()
                .and_then(|p| p.parse().ok())
                .map(pg_server),
        }
    }
}

/// Waits `quiet` with nothing sent, reading memory every 10 s; the last reading.
async fn quiet_period(
    registry: &meldpunt::startup::RegistryHandle,
    orgs: usize,
    quiet: Duration,
    label: &str,
) -> Memory {
    println!("\n{label}: {} s quiet, a reading every 10 s", quiet.as_secs());
    println!(
        "| after | RSS | anonymous | threads | open files | open connections (idle) | organisations holding one |"
    );
    println!("|---|---|---|---|---|---|---|");
    let started = Instant::now();
    let mut last;
    loop {
        last = Memory::now(registry, orgs);
        println!(
            "| {:.0} s | {:.1} MiB | {:.1} MiB | {} | {} | {} ({}) | {} |",
            started.elapsed().as_secs_f64(),
            mib(last.rss),
            mib(last.anon),
            last.threads,
            last.fds,
            last.connections,
            last.idle,
            last.holding
        );
        if let Some((pss, n)) = last.pg {
            println!(
                "|   PostgreSQL server: {:.1} MiB PSS in {n} processes | | | | | | |",
                mib(pss)
            );
        }
        if started.elapsed() >= quiet {
            break;
        }
        let left = quiet.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(10))).await;
    }
    last
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// GET `path` on `host`: status and the time until the whole body was read.
    async fn get(&self, host: &str, path: &str) -> (u16, Duration) {
        let t = Instant::now();
        let status = match self
            .http
            .get(format!("{}{path}", self.base))
            .header(HOST, host)
            .send()
            .await
        {
            Ok(r) => {
                let s = r.status().as_u16();
                match r.bytes().await {
                    Ok(_) => s,
                    Err(_) => 0,
                }
            }
            Err(_) => 0,
        };
        (status, t.elapsed())
    }

    /// Sets an organisation up through its one-time link (a path), as its first coordinator.
    async fn set_up(&self, host: &str, path: &str) -> bool {
        let origin = format!("http://{host}");
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header(HOST, host)
            .header("Origin", origin)
            .header("Sec-Fetch-Site", "same-origin")
            .form(&[
                ("display_name", "Anna de Vries"),
                ("username", "anna"),
                ("password", PASSWORD),
                ("password_repeat", PASSWORD),
            ])
            .send()
            .await;
        let (status, body) = match res {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        };
        let done = status == 200 && body.contains("recovery-key");
        if !done {
            eprintln!("set-up at {host} failed: {status} {}", title(&body));
        }
        done
    }
}

/// A page's title, to say what a failed request answered.
fn title(body: &str) -> &str {
    body.split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| t)
        .unwrap_or(body.get(..body.len().min(200)).unwrap_or_default())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// mean, p50, p95, max of `samples`, in ms.
fn summary(samples: &[Duration]) -> (f64, f64, f64, f64) {
    let mut s = samples.to_vec();
    s.sort();
    let mean = if s.is_empty() {
        0.0
    } else {
        s.iter().map(|d| ms(*d)).sum::<f64>() / s.len() as f64
    };
    (
        mean,
        ms(quantile(&s, 0.5)),
        ms(quantile(&s, 0.95)),
        ms(s.last().copied().unwrap_or_default()),
    )
}

/// p50 and p95 of each latency row, and its failures, in the order of [`ROWS`].
type Latencies = Vec<(Duration, Duration, usize)>;

/// Which hosts a row asks: the first organisation's, one of all at random, or one of the
/// first ten at random (each seen again within seconds, so what an organisation keeps
/// warm, such as the form's snapshot, is warm).
#[derive(Clone, Copy)]
enum Hosts {
    First,
    Any,
    OfTen,
}

const ROWS: [(&str, &str, Hosts); 6] = [
    ("GET /, the first organisation's host", "/", Hosts::First),
    ("GET /, a random organisation's host", "/", Hosts::Any),
    ("GET /, a random one of 10 organisations' hosts", "/", Hosts::OfTen),
    ("GET /melden, the first organisation's host", "/melden", Hosts::First),
    ("GET /melden, a random organisation's host", "/melden", Hosts::Any),
    (
        "GET /melden, a random one of 10 organisations' hosts",
        "/melden",
        Hosts::OfTen,
    ),
];

/// `requests` of each row; the rows of one page interleaved request by request, so that
/// they see the same moments of the machine.
async fn latencies(client: &Client, orgs: usize, requests: usize) -> Latencies {
    let mut rng = rand::thread_rng();
    let mut out = Vec::new();
    for path in ["/", "/melden"] {
        // Two seconds on the first organisation's host first: the machine comes out of a
        // quiet period (caches, CPU), and no other organisation's state is warmed.
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_secs(2) {
            client.get(&host(1), path).await;
        }
        let rows: Vec<Hosts> = ROWS.iter().filter(|r| r.1 == path).map(|r| r.2).collect();
        let mut samples = vec![(Vec::new(), 0usize); rows.len()];
        for _ in 0..requests {
            for (row, hosts) in rows.iter().enumerate() {
                let which = match hosts {
                    Hosts::First => 1,
                    Hosts::Any => rng.gen_range(1..=orgs),
                    Hosts::OfTen => rng.gen_range(1..=orgs.min(10)),
                };
                let (s, d) = client.get(&host(which), path).await;
                samples[row].0.push(d);
                if s != 200 {
                    samples[row].1 += 1;
                    eprintln!("GET {path} on {} answered {s}", host(which));
                }
            }
        }
        for (mut v, failed) in samples {
            v.sort();
            out.push((quantile(&v, 0.5), quantile(&v, 0.95), failed));
        }
    }
    out
}

/// A fresh database: SQLite in `dir`, or a new PostgreSQL database on the server the
/// admin URL names (its name, to drop).
async fn fresh_database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("MELDPUNT_BENCH_POSTGRES_URL") {
        Ok(admin) => {
            use sqlx::Connection;
            let name = format!("mp_bench_orgs_{:08x}", rand::random::<u32>());
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create database");
            conn.close().await.ok();
            let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
            (format!("{base}/{name}"), Some((admin, name)))
        }
        Err(_) => (format!("sqlite://{}", dir.join("data/meldpunt.db").display()), None),
    }
}

async fn drop_database(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
        {
            eprintln!("could not drop the benchmark database {name}: {e}");
        }
        conn.close().await.ok();
    }
}

/// Drops the benchmark's PostgreSQL database when the run fails half-way (a panic unwinds
/// through `main`); the end of a run drops it itself and disarms this.
struct DropDatabase(Option<(String, String)>);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.0.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(drop_database(&admin, &name));
                }
            })
            .join();
        }
    }
}

fn print_latencies(at_one: &Latencies, at_many: &Latencies, orgs: usize) {
    println!("\n## Page latency: 1 against {orgs} organisations (p50 / p95, one request at a time)");
    println!(
        "| request | 1 org p50 | 1 org p95 | {orgs} orgs p50 | {orgs} orgs p95 | ratio p50 | ratio p95 | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (i, (label, _, _)) in ROWS.iter().enumerate() {
        let (a50, a95, af) = at_one[i];
        let (b50, b95, bf) = at_many[i];
        println!(
            "| {label} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.2} | {:.2} | {} |",
            ms(a50),
            ms(a95),
            ms(b50),
            ms(b95),
            b50.as_secs_f64() / a50.as_secs_f64().max(1e-9),
            b95.as_secs_f64() / a95.as_secs_f64().max(1e-9),
            af + bf
        );
    }
}

fn print_times(label: &str, samples: &[Duration]) {
    let (mean, p50, p95, max) = summary(samples);
    println!(
        "| {label} | {} | {mean:.1} | {p50:.1} | {p95:.1} | {max:.1} |",
        samples.len()
    );
}

/// A running server as `meldpunt serve` runs it, on `db_url` with its pepper in `dir`, its
/// first organisation set up through its link.
struct Served {
    settings: meldpunt::settings::Settings,
    registry: meldpunt::startup::RegistryHandle,
    client: Client,
    handle: actix_web::dev::ServerHandle,
}

async fn start_server(dir: &std::path::Path, db_url: String) -> Served {
    let mut settings = meldpunt::settings::Settings::defaults().expect("settings");
    settings.http.bind = "127.0.0.1:0".into();
    settings.http.public_url = format!("http://{}", host(1));
    settings.http.secure_cookies = false;
    settings.database.url = db_url;
    settings.security.pepper_file = dir.join("pepper.key");
    settings.security.require_totp = false;
    settings.organisation.name = "Organisatie 1".into();
    let app = Application::build(settings.clone(), meldpunt::clock::Clock::system())
        .await
        .expect("build");
    let registry = app.registry();
    let handle = app.handle();
    let first_link = match &app.setup {
        SetupLink::New(p) => p.to_string(),
        _ => panic!("a new installation has a set-up link"),
    };
    let client = Client {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        base: format!("http://127.0.0.1:{}", app.port()),
    };
    tokio::spawn(app.run_until_stopped());
    assert!(
        client.set_up(&host(1), &first_link).await,
        "the first organisation sets up"
    );
    Served {
        settings,
        registry,
        client,
        handle,
    }
}

/// The same requests to a server of one organisation and to the server of many, one after
/// the other, each request of a row right after the single server's: both see the same
/// moments of the machine. Per page: (single p50, p95) and, per row of `ROWS` for that page,
/// (p50, p95).
async fn side_by_side(single: &Client, many: &Client, orgs: usize, requests: usize) -> Vec<[Duration; 4]> {
    let mut rng = rand::thread_rng();
    let mut out = Vec::new();
    for path in ["/", "/melden"] {
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_secs(2) {
            single.get(&host(1), path).await;
            many.get(&host(1), path).await;
        }
        let rows: Vec<Hosts> = ROWS.iter().filter(|r| r.1 == path).map(|r| r.2).collect();
        let mut samples = vec![(Vec::new(), Vec::new()); rows.len()];
        for _ in 0..requests {
            for (row, hosts) in rows.iter().enumerate() {
                let which = match hosts {
                    Hosts::First => 1,
                    Hosts::Any => rng.gen_range(1..=orgs),
                    Hosts::OfTen => rng.gen_range(1..=orgs.min(10)),
                };
                samples[row].0.push(single.get(&host(1), path).await.1);
                samples[row].1.push(many.get(&host(which), path).await.1);
            }
        }
        for (mut a, mut b) in samples {
            a.sort();
            b.sort();
            out.push([
                quantile(&a, 0.5),
                quantile(&a, 0.95),
                quantile(&b, 0.5),
                quantile(&b, 0.95),
            ]);
        }
    }
    out
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let orgs: usize = env_or("BENCH_ORGS", 1000usize).max(2);
    let requests: usize = env_or("BENCH_REQUESTS", 1000);
    let quiet = Duration::from_secs(env_or("BENCH_QUIET", 90));
    let setup_every: usize = env_or("BENCH_SETUP_EVERY", 1);
    let polled: usize = env_or("BENCH_POLLED", 10usize).min(orgs - 1);

    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).expect("dir");
    let (db_url, pg) = fresh_database(dir.path()).await;
    let mut guard = DropDatabase(pg);
    let backend = if guard.0.is_some() { "PostgreSQL" } else { "SQLite" };
    let Served {
        settings,
        registry,
        client,
        ..
    } = start_server(dir.path(), db_url).await;
    // `organisation add` as the command line runs it: on the installation's store (its
    // registry) and pepper, opened beside the running server.
    let (registry_store, pepper) = meldpunt::startup::open_registry(&settings).await.expect("registry");
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    println!(
        "meldpunt organisations: {backend}, 1 against {orgs} organisations, {threads} cores, load average {}",
        load_average()
    );
    let style = registry.state_of(1).map(|s| s.style.len()).unwrap_or(0);
    println!(
        "per organisation in memory for sure: its stylesheet {style} bytes, AppState {} bytes (shallow)",
        std::mem::size_of::<meldpunt::http::AppState>()
    );

    // One organisation.
    let idle_one = quiet_period(&registry, 1, quiet, "1 organisation").await;
    let load_one = load_average();
    let at_one = latencies(&client, 1, requests).await;

    // The other organisations, one after another.
    let (mut add, mut sync, mut first_page, mut setup, mut found) = (vec![], vec![], vec![], vec![], vec![]);
    let mut failed = 0;
    let adding = Instant::now();
    // Stops at the first organisation that cannot be added or synced, or once five are
    // not served (a database refusing more connections): the rest of the run then measures
    // the organisations added so far.
    let target = orgs;
    let mut orgs = 1;
    let mut stopped = None;
    for i in 2..=target {
        let (name, url) = (format!("Organisatie {i}"), format!("http://{}", host(i)));
        let t = Instant::now();
        let (id, link) = match organisations::add(&settings, &registry_store, &pepper, &name, &url, now()).await {
            Ok(added) => added,
            Err(e) => {
                stopped = Some(format!("adding organisation {i} failed: {e:#}"));
                break;
            }
        };
        add.push(t.elapsed());
        assert_eq!(id, i as i64, "ids follow the order of adding");
        orgs = i;
        if i > target - polled {
            // Left to the server's own registry loop: until its host answers.
            let t = Instant::now();
            loop {
                if client.get(&host(i), "/").await.0 == 200 {
                    found.push(t.elapsed());
                    break;
                }
                if t.elapsed() > Duration::from_secs(30) {
                    failed += 1;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        } else {
            let t = Instant::now();
            if let Err(e) = registry.sync().await {
                stopped = Some(format!("the registry sync after adding organisation {i} failed: {e:#}"));
                break;
            }
            sync.push(t.elapsed());
            let (status, d) = client.get(&host(i), "/").await;
            failed += usize::from(status != 200);
            first_page.push(d);
        }
        if failed >= 5 {
            stopped = Some(format!("{failed} organisations up to {i} are not served"));
            break;
        }
        if setup_every > 0 && i % setup_every == 0 {
            let SetupLink::New(link) = link else {
                panic!("a new organisation gets a set-up link")
            };
            let path = link.strip_prefix(&url).expect("the link is on its host").to_string();
            let t = Instant::now();
            if client.set_up(&host(i), &path).await {
                setup.push(t.elapsed());
            } else {
                failed += 1;
            }
        }
    }
    let adding = adding.elapsed();
    let set_up_count = setup.len() + 1;
    if let Some(why) = &stopped {
        println!("\nSTOPPED ADDING at {orgs} organisations: {why}");
    }

    let idle_many = quiet_period(&registry, orgs, quiet, &format!("{orgs} organisations")).await;
    let load_many = load_average();
    let at_many = latencies(&client, orgs, requests).await;
    let after_traffic = quiet_period(
        &registry,
        orgs,
        quiet,
        &format!("{orgs} organisations, after requests to random hosts"),
    )
    .await;

    // The same requests, side by side with a server of one organisation started now in
    // this process (its own database), request by request.
    let single_dir = tempfile::tempdir_in(dir.path()).expect("dir");
    let (single_url, single_pg) = fresh_database(single_dir.path()).await;
    let single_guard = DropDatabase(single_pg);
    let single = start_server(single_dir.path(), single_url).await;
    let load_ab = load_average();
    let ab = side_by_side(&single.client, &client, orgs, requests).await;
    single.handle.stop(true).await;
    drop(single_guard);

    // What an organisation costs without connections, as the design means an idle one to
    // be: the bench closes every idle connection of the later organisations and reads the
    // memory a few seconds later, before the next mail pass (every 30 s) opens them again.
    let mut closed = 0;
    for id in 2..=orgs as i64 {
        if let Some(state) = registry.state_of(id) {
            match &state.store {
                Store::Sqlite(p) => {
                    while let Some(c) = p.try_acquire() {
                        closed += usize::from(c.close().await.is_ok());
                    }
                }
                Store::Postgres(p) => {
                    while let Some(c) = p.try_acquire() {
                        closed += usize::from(c.close().await.is_ok());
                    }
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let drained = Memory::now(&registry, orgs);

    println!(
        "\n## Memory: 1 against {orgs} organisations, each after {} s quiet",
        quiet.as_secs()
    );
    println!("| | RSS | anonymous | threads | open files | open connections | organisations holding one | per added organisation |");
    println!("|---|---|---|---|---|---|---|---|");
    let per = |m: Memory| (m.rss as f64 - idle_one.rss as f64) / (orgs - 1) as f64;
    for (label, m) in [
        ("1 organisation".to_string(), idle_one),
        (format!("{orgs} organisations"), idle_many),
        (format!("{orgs}, after random-host requests"), after_traffic),
        (
            format!("{orgs}, 3 s after the bench closed {closed} idle connections"),
            drained,
        ),
    ] {
        println!(
            "| {label} | {:.1} MiB | {:.1} MiB | {} | {} | {} | {} | {} |",
            mib(m.rss),
            mib(m.anon),
            m.threads,
            m.fds,
            m.connections,
            m.holding,
            if m.rss == idle_one.rss {
                "–".to_string()
            } else {
                format!("{:.0} KiB", per(m))
            }
        );
        if let Some((pss, n)) = m.pg {
            println!(
                "|   its PostgreSQL server: {:.1} MiB PSS in {n} processes | | | | | | | |",
                mib(pss)
            );
        }
    }
    println!("goal: under 512 KiB (0.5 MiB) per idle organisation");

    print_latencies(&at_one, &at_many, orgs);
    println!("load average while measuring: 1 org {load_one}, {orgs} orgs {load_many}");

    println!("\n## Page latency side by side: a server of 1 organisation and this one of {orgs}, request by request");
    println!("| request | 1-org server p50 | p95 | {orgs}-org server p50 | p95 | ratio p50 | ratio p95 |");
    println!("|---|---|---|---|---|---|---|");
    for (i, (label, _, _)) in ROWS.iter().enumerate() {
        let [a50, a95, b50, b95] = ab[i];
        println!(
            "| {label} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.2} | {:.2} |",
            ms(a50),
            ms(a95),
            ms(b50),
            ms(b95),
            b50.as_secs_f64() / a50.as_secs_f64().max(1e-9),
            b95.as_secs_f64() / a95.as_secs_f64().max(1e-9)
        );
    }
    println!("load average while measuring: {load_ab}");

    println!(
        "\n## Adding organisations ({} added in {:.1} s, {set_up_count} set up, {failed} failed)",
        orgs - 1,
        adding.as_secs_f64()
    );
    println!("| step | n | mean ms | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    let both: Vec<Duration> = add.iter().zip(&sync).map(|(a, s)| *a + *s).collect();
    print_times("`organisation add` (row, store made and migrated, set-up link)", &add);
    let first100: Vec<Duration> = add.iter().take(100).copied().collect();
    let last100: Vec<Duration> = add.iter().rev().take(100).copied().collect();
    print_times("… the first 100 added", &first100);
    print_times("… the last 100 added", &last100);
    print_times("registry sync that opens it (served from then on)", &sync);
    print_times("add + sync (what `RegistryHandle::add` does)", &both);
    print_times("its first page, GET /", &first_page);
    print_times(
        "found by the server's own registry loop (every 2 s), until its host answers",
        &found,
    );
    print_times("set-up through its link (Argon2id, keys)", &setup);
    let t = Instant::now();
    registry.sync().await.expect("sync");
    println!(
        "a registry sync with nothing new at {orgs} organisations (the server's loop every 2 s): {:.1} ms",
        ms(t.elapsed())
    );

    if let Some((admin, name)) = guard.0.take() {
        registry_store.close().await;
        drop_database(&admin, &name).await;
    }
    // Without dropping what the server holds (see the module's comment); the folder first.
    let _ = std::fs::remove_dir_all(dir.path());
    std::process::exit(0);
}
