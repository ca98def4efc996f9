//! The load harness: one command that starts the release `meldpunt` binary and prints, in
//! one run on one machine, every ratio issue #12 asks for:
//! - **pages** (`/`, `/melden`, `/opvolgen`, `/privacy`) against a bare actix-web handler
//!   returning a body of the same size, in requests/s and p99 latency;
//! - **Argon2**: the derivations/s the shipped parameters allow on the server's KDF threads,
//!   and submissions/s and full flows/s (submit, then open with the meldcode) at 1, 4, 16
//!   and 32 in flight as a share of that limit;
//! - **p99** of a page during a 32-reporter rush against at rest;
//! - the **wrong-code flood**: what a wrong meldcode costs against a right one;
//! - the server's **RSS**: idle and peak;
//! - **floods** (a second server with the shipped limits, `floods/mod.rs`): reporter success
//!   rate and attacker cost for wrong meldcodes, refused uploads and junk reports.
//!
//! Run with `cargo bench --bench load`; `BENCH_SECONDS` sets each phase (default 5), and
//! `BENCH_FLOODS_ONLY=1` runs the flood phase alone.

mod common;
mod floods;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{argon2_per_s, between, kib, proc_status, report_fields, shown_code, start};

const PAGES: [&str; 4] = ["/", "/melden", "/opvolgen", "/privacy"];
const PAGE_CLIENTS: usize = 16;

fn phase() -> Duration {
    Duration::from_secs_f64(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5.0),
    )
}

fn p99(samples: &mut [Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

/// `clients` loops sending GET `url` for `for_`: (requests/s, p99).
async fn hammer(client: &reqwest::Client, url: &str, clients: usize, for_: Duration) -> (f64, Duration) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let until = Instant::now() + for_;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, samples) = (client.clone(), url.to_string(), samples.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    if let Ok(r) = client.get(&url).send().await {
                        if r.bytes().await.is_ok() {
                            mine.push(t.elapsed());
                        }
                    }
                }
                samples.lock().expect("samples").extend(mine);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    let mut all = std::mem::take(&mut *samples.lock().expect("samples"));
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (rate, p99(&mut all))
}

/// A bare actix-web server answering each path with a fixed body of the given size: what a
/// page would cost if it did nothing. Runs on its own thread and actix system.
fn bare_server(bodies: Vec<(String, usize)>) -> String {
    let port = common::free_port();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let bodies = Arc::new(bodies);
            actix_web::HttpServer::new(move || {
                let bodies = bodies.clone();
                actix_web::App::new().default_service(actix_web::web::to(move |req: actix_web::HttpRequest| {
                    let size = bodies
                        .iter()
                        .find(|(p, _)| p == req.path())
                        .map(|(_, n)| *n)
                        .unwrap_or(0);
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body("x".repeat(size))
                    }
                }))
            })
            .workers(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
            .bind(("127.0.0.1", port))
            .expect("bind")
            .run()
            .await
            .expect("bare server");
        });
    });
    std::thread::sleep(Duration::from_millis(300));
    format!("http://127.0.0.1:{port}")
}

fn post(client: &reqwest::Client, base: &str, path: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{base}{path}"))
        .header("Origin", base)
        .header("Sec-Fetch-Site", "same-origin")
}

/// Sends one report; its meldcode if one was shown.
async fn submit(client: &reqwest::Client, base: &str) -> Option<String> {
    let html = client
        .get(format!("{base}/melden"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let token = between(&html, "name=\"form_token\" value=\"", "\"")?;
    let res = post(client, base, "/melden")
        .form(&report_fields("Een melding in de drukte van de benchmark.", &token))
        .send()
        .await
        .ok()?;
    if !res.status().is_success() {
        return None;
    }
    let page = res.text().await.ok()?;
    shown_code(&page)
}

/// Enters a meldcode; whether it opened the report (a redirect to the thread).
async fn open(client: &reqwest::Client, base: &str, code: &str) -> bool {
    match post(client, base, "/opvolgen").form(&[("code", code)]).send().await {
        Ok(r) => r.status() == reqwest::StatusCode::SEE_OTHER && r.bytes().await.is_ok(),
        Err(_) => false,
    }
}

/// `in_flight` loops doing `step` for `for_`: completed steps per second, and failures.
async fn run<F, Fut>(in_flight: usize, for_: Duration, step: F) -> (f64, usize)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let until = Instant::now() + for_;
    let started = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|i| {
            let (step, done, failed) = (step.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < until {
                    if step(i * 1_000_000 + n).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    (
        done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

/// A well-formed meldcode for a locator that does not exist (valid check symbol).
fn wrong_code(n: usize) -> String {
    // Crockford Base32 symbols; the check symbol is found by trying each until the service's
    // own parser accepts it.
    const SYMBOLS: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut body: Vec<u8> = (0..24)
        .map(|i| SYMBOLS[(n.wrapping_mul(2_654_435_761).wrapping_add(i * 7919) >> (i % 5)) % 32])
        .collect();
    for &c in SYMBOLS {
        body.push(c);
        let s = String::from_utf8(body.clone()).expect("ascii");
        if meldpunt::domain::meldcode::Meldcode::parse(&s).is_ok() {
            return s;
        }
        body.pop();
    }
    unreachable!("one check symbol fits")
}

#[tokio::main]
async fn main() {
    let for_ = phase();
    if std::env::var("BENCH_FLOODS_ONLY").is_ok() {
        floods::run(for_, wrong_code).await;
        return;
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    // Redirects are not followed: a right code answers 303 to the thread (which needs the
    // session cookie this client does not keep); that answer is the opened report.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // Hundreds of reports within minutes: far past the shipped hourly rate, which the flood
    // phase at the end measures on a server of its own.
    let server = start(&client, &[("MELDPUNT_LIMITS__REPORTS_PER_HOUR", "1000000")]).await;
    let base = server.base.clone();
    let pid = server.child.id();
    let first = submit(&client, &base).await.expect("a first report");
    assert!(open(&client, &base, &first).await, "the first code opens");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = kib(&proc_status(pid), "VmRSS:");
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    println!(
        "meldpunt load harness: {threads} cores, {:.0} s per phase",
        for_.as_secs_f64()
    );

    // Pages against a bare handler with the same body sizes.
    let mut sizes = Vec::new();
    for p in PAGES {
        let body = client
            .get(format!("{base}{p}"))
            .send()
            .await
            .expect("page")
            .bytes()
            .await
            .expect("body");
        sizes.push((p.to_string(), body.len()));
    }
    let bare = bare_server(sizes.clone());
    println!("\n## Pages against a same-size actix handler ({PAGE_CLIENTS} clients)");
    println!("| page | bytes | meldpunt req/s | bare req/s | × bare | meldpunt p99 | bare p99 |");
    println!("|---|---|---|---|---|---|---|");
    for (p, size) in &sizes {
        let (m_rate, m_p99) = hammer(&client, &format!("{base}{p}"), PAGE_CLIENTS, for_).await;
        let (b_rate, b_p99) = hammer(&client, &format!("{bare}{p}"), PAGE_CLIENTS, for_).await;
        println!(
            "| `{p}` | {size} | {m_rate:.0} | {b_rate:.0} | {:.2} | {:.1} ms | {:.1} ms |",
            m_rate / b_rate,
            m_p99.as_secs_f64() * 1000.0,
            b_p99.as_secs_f64() * 1000.0
        );
    }

    // The Argon2 limit, then submissions and full flows at several loads.
    let limit = argon2_per_s(threads, for_.as_secs_f64());
    println!("\n## Argon2: submissions and full flows against the limit");
    println!("Argon2id (19456 KiB, t=2, p=1) on {threads} threads: {limit:.1} derivations/s");
    println!("| in flight | submissions/s | × Argon2 limit | full flows/s (submit + open) | × limit/2 | failed |");
    println!("|---|---|---|---|---|---|");
    for in_flight in [1, 4, 16, 32] {
        let (c, b) = (client.clone(), base.clone());
        let (subs, f1) = run(in_flight, for_, move |_| {
            let (c, b) = (c.clone(), b.clone());
            async move { submit(&c, &b).await.is_some() }
        })
        .await;
        let (c, b) = (client.clone(), base.clone());
        let (flows, f2) = run(in_flight, for_, move |_| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                match submit(&c, &b).await {
                    Some(code) => open(&c, &b, &code).await,
                    None => false,
                }
            }
        })
        .await;
        println!(
            "| {in_flight} | {subs:.1} | {:.2} | {flows:.1} | {:.2} | {} |",
            subs / limit,
            flows / (limit / 2.0),
            f1 + f2
        );
    }

    // p99 of the home page, one client, at rest and during a 32-reporter rush.
    let (_, rest) = hammer(&client, &format!("{base}/"), 1, for_).await;
    let (c, b) = (client.clone(), base.clone());
    let rush = tokio::spawn(run(32, for_, move |_| {
        let (c, b) = (c.clone(), b.clone());
        async move { submit(&c, &b).await.is_some() }
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, during) = hammer(&client, &format!("{base}/"), 1, for_).await;
    rush.await.expect("rush");
    println!("\n## p99 of a page during a 32-reporter rush");
    println!(
        "GET / p99: at rest {:.1} ms, during the rush {:.1} ms ({:.1}x)",
        rest.as_secs_f64() * 1000.0,
        during.as_secs_f64() * 1000.0,
        during.as_secs_f64() / rest.as_secs_f64().max(1e-9)
    );

    // What a wrong code costs against a right one. One report per task, so no locator sees
    // more than one attempt at a time (the per-locator throttle admits ten per quarter of
    // an hour and gives a right code back); each wrong code names a new locator.
    let mut codes = Vec::new();
    for _ in 0..16 {
        codes.push(submit(&client, &base).await.expect("a report for the flood phase"));
    }
    let codes = Arc::new(codes);
    let wrong_entry = |c: reqwest::Client, b: String, n: usize| async move {
        let res = post(&c, &b, "/opvolgen").form(&[("code", wrong_code(n))]).send().await;
        // A wrong code is refused with the form again (422): one entry handled.
        matches!(res, Ok(r) if r.status() == reqwest::StatusCode::UNPROCESSABLE_ENTITY)
    };
    // One at a time: the latency of each kind.
    let mut right_ms = Vec::new();
    let mut wrong_ms = Vec::new();
    for n in 0..20 {
        let t = Instant::now();
        assert!(open(&client, &base, &codes[n % 16]).await, "a right code opens");
        right_ms.push(t.elapsed());
        let t = Instant::now();
        assert!(
            wrong_entry(client.clone(), base.clone(), 10_000_000 + n).await,
            "a wrong code is refused"
        );
        wrong_ms.push(t.elapsed());
    }
    right_ms.sort();
    wrong_ms.sort();
    // Sixteen at a time: entries per second of each kind.
    let (c, b, cs) = (client.clone(), base.clone(), codes.clone());
    let (right, rf) = run(16, for_, move |n| {
        let (c, b, cs) = (c.clone(), b.clone(), cs.clone());
        async move { open(&c, &b, &cs[(n / 1_000_000) % cs.len()]).await }
    })
    .await;
    let (c, b) = (client.clone(), base.clone());
    let (wrong, wf) = run(16, for_, move |n| wrong_entry(c.clone(), b.clone(), n)).await;
    println!("\n## Wrong-code flood against right codes");
    println!(
        "one at a time, median: right code {:.1} ms, wrong code {:.1} ms ({:.2}x)",
        right_ms[10].as_secs_f64() * 1000.0,
        wrong_ms[10].as_secs_f64() * 1000.0,
        wrong_ms[10].as_secs_f64() / right_ms[10].as_secs_f64()
    );
    println!(
        "16 in flight: right codes {right:.1} entries/s ({rf} failed), wrong codes {wrong:.1} entries/s ({wf} failed): \
         a wrong code costs {:.2}x a right one",
        right / wrong.max(1e-9)
    );

    let peak = kib(&proc_status(pid), "VmHWM:");
    let busy = kib(&proc_status(pid), "VmRSS:");
    // The server gives its Argon2 working memory back after a quiet minute (checked every
    // 15 s): wait for that.
    tokio::time::sleep(Duration::from_secs(80)).await;
    let quiet = kib(&proc_status(pid), "VmRSS:");
    if std::env::var("BENCH_SMAPS").is_ok() {
        smaps_breakdown(pid);
    }
    println!("\n## Memory (RSS)");
    println!(
        "idle 2 s after the first report: {:.1} MiB; peak over the whole run: {:.1} MiB; \
         right after the run: {:.1} MiB; after a quiet minute: {:.1} MiB",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        busy as f64 / 1024.0,
        quiet as f64 / 1024.0
    );
    drop(server);

    floods::run(for_, wrong_code).await;
}

/// Where the server's resident memory is, by kind of mapping (with `BENCH_SMAPS` set).
fn smaps_breakdown(pid: u32) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by_kind: std::collections::BTreeMap<String, (u64, u32)> = Default::default();
    let mut kind = String::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            let parts: Vec<&str> = line.split_whitespace().collect();
            kind = match parts.get(5) {
                Some(p) if p.starts_with('/') => "file-backed".into(),
                Some(p) => (*p).into(),
                None => "anonymous".into(),
            };
        } else if first == "Rss:" {
            let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            let e = by_kind.entry(kind.clone()).or_default();
            e.0 += kb;
            if kb > 0 {
                e.1 += 1;
            }
        }
    }
    for (k, (kb, n)) in by_kind {
        println!("  {k}: {:.1} MiB in {n} mappings", kb as f64 / 1024.0);
    }
}
