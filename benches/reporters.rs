//! Reporters in a rush against the real `meldpunt` binary: submissions per second with 32
//! reporters at once, as a share of what Argon2id allows on this machine (measured in the
//! same run), and the server's memory: idle, peak during the rush, and after it.
//! Run with `cargo bench --bench reporters` (BENCH_SECONDS sets the rush, default 30).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{argon2_per_s, between, kib, proc_status, report_fields, start};

const REPORTERS: usize = 32;

async fn submit(client: &reqwest::Client, base: &str) -> bool {
    let Ok(form) = client.get(format!("{base}/melden")).send().await else {
        return false;
    };
    let Ok(html) = form.text().await else { return false };
    let Some(token) = between(&html, "name=\"form_token\" value=\"", "\"") else {
        return false;
    };
    let res = client
        .post(format!("{base}/melden"))
        .header("Origin", base)
        .header("Sec-Fetch-Site", "same-origin")
        .form(&report_fields("Een melding in de drukte van de benchmark.", &token))
        .send()
        .await;
    match res {
        Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|t| t.contains("id=\"meldcode\"")),
        _ => false,
    }
}

#[tokio::main]
async fn main() {
    let secs: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30.0);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(REPORTERS)
        .build()
        .expect("client");
    // Hundreds of reports within minutes: far past the shipped hourly rate, which the load
    // bench's flood phase measures.
    let server = start(&client, &[("MELDPUNT_LIMITS__REPORTS_PER_HOUR", "1000000")]).await;
    let pid = server.child.id();
    // One report first, so the idle figure is that of a server that has worked.
    assert!(submit(&client, &server.base).await, "a first report");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = kib(&proc_status(pid), "VmRSS:");
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");

    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..REPORTERS {
        let (client, base, done, failed) = (client.clone(), server.base.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if submit(&client, &base).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("reporter");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = kib(&proc_status(pid), "VmHWM:");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = kib(&proc_status(pid), "VmRSS:");
    drop(server);

    // The ceiling, measured right after on the same machine with the server stopped.
    let limit = argon2_per_s(threads, 10.0);
    let rate = done.load(Ordering::Relaxed) as f64 / elapsed;
    println!("Argon2id (19456 KiB, t=2, p=1) on {threads} threads: {limit:.1} derivations/s");
    println!(
        "{REPORTERS} reporters for {elapsed:.0} s: {rate:.1} submissions/s = {:.2} x Argon2 limit; {} refused or failed",
        rate / limit,
        failed.load(Ordering::Relaxed)
    );
    println!(
        "server RSS: idle {:.1} MiB, peak during the rush {:.1} MiB, 5 s after it {:.1} MiB",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        after as f64 / 1024.0
    );
}
