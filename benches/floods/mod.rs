//! The flood phase of the load harness (issue 21, part 3), on a server of its own with the
//! shipped limits: reporter success rate and attacker cost side by side, in one run.
//! - **wrong codes**: many connections sending wrong meldcodes without a proof, while one
//!   reporter enters the right code with the page's proof of work (solved natively, as the
//!   script would) and one without (JavaScript off);
//! - **what a proof costs**: CPU per proof at the shipped bits, against the server's CPU per
//!   Argon2id derivation;
//! - **refused uploads**: one client sending files over the limit, then a reporter's photo;
//! - **junk reports**: many connections sending reports, then a reporter with and without
//!   a proof.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{between, report_fields, start};

/// More than the Argon2id threads plus `security.kdf_queue` (64): enough to keep the ordinary
/// code queue full, as the 100 clients did.
const FLOOD_CONNECTIONS: usize = 256;

/// The server's CPU time so far (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn post(client: &reqwest::Client, base: &str, path: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{base}{path}"))
        .header("Origin", base)
        .header("Sec-Fetch-Site", "same-origin")
}

fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----meldpuntbenchboundary";
    let mut body = Vec::with_capacity(file.len() + 4096);
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f.jpg\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn page(client: &reqwest::Client, url: &str) -> String {
    match client.get(url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn hidden(html: &str, name: &str) -> String {
    between(html, &format!("name=\"{name}\" value=\""), "\"").unwrap_or_default()
}

/// One report through the form; the status and whether a meldcode was shown.
async fn report(client: &reqwest::Client, base: &str, what: &str, prove: bool) -> (u16, Option<String>) {
    let form = page(client, &format!("{base}/melden")).await;
    let token = hidden(&form, "form_token");
    let mut fields: Vec<(&str, String)> = report_fields(what, &token)
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    if prove {
        let challenge = hidden(&form, "pow_challenge");
        let nonce = meldpunt::pow::solve(&challenge).unwrap_or(0).to_string();
        fields.push(("pow_challenge", challenge));
        fields.push(("pow_nonce", nonce));
    }
    match post(client, base, "/melden").form(&fields).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let html = r.text().await.unwrap_or_default();
            (status, crate::common::shown_code(&html))
        }
        Err(_) => (0, None),
    }
}

/// Tries a reporter makes, one a second, each a fresh page: (opened, tries, longest try).
async fn reporter_tries(
    client: &reqwest::Client,
    base: &str,
    code: &str,
    prove: bool,
    tries: usize,
) -> (usize, usize, Duration) {
    let mut opened = 0;
    let mut longest = Duration::ZERO;
    for _ in 0..tries {
        let t = Instant::now();
        let html = page(client, &format!("{base}/opvolgen")).await;
        let mut fields = vec![("code", code.to_string())];
        if prove {
            let challenge = hidden(&html, "pow_challenge");
            let nonce = meldpunt::pow::solve(&challenge).unwrap_or(0).to_string();
            fields.push(("pow_challenge", challenge));
            fields.push(("pow_nonce", nonce));
        }
        if let Ok(r) = post(client, base, "/opvolgen").form(&fields).send().await {
            if r.status() == reqwest::StatusCode::SEE_OTHER {
                opened += 1;
            }
        }
        longest = longest.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    (opened, tries, longest)
}

pub async fn run(for_: Duration, wrong_code: fn(usize) -> String) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let server = start(&client, &[]).await;
    let (base, pid) = (server.base.clone(), server.child.id());
    let bits = hidden(&page(&client, &format!("{base}/opvolgen")).await, "pow_challenge")
        .split('.')
        .nth(2)
        .unwrap_or("?")
        .to_string();
    println!(
        "\n## Floods (a server with the shipped limits: pow_bits = {bits}, reports_per_hour = 30, kdf_queue = 64)"
    );

    // What a proof costs, natively on one core, against an Argon2id derivation on the server.
    let challenges: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..40 {
            v.push(hidden(
                &page(&client, &format!("{base}/opvolgen")).await,
                "pow_challenge",
            ));
        }
        v
    };
    let t = Instant::now();
    for c in &challenges {
        std::hint::black_box(meldpunt::pow::solve(c));
    }
    let proof_ms = t.elapsed().as_secs_f64() * 1000.0 / challenges.len() as f64;

    // Wrong codes without a proof, from many connections, while two reporters try.
    let (_, code) = report(&client, &base, "Een melding om te volgen tijdens de vloed.", false).await;
    let code = code.expect("a report to follow");
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, busy) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let flood: Vec<_> = (0..FLOOD_CONNECTIONS)
        .map(|i| {
            let (c, b, stop, answered, busy) = (
                client.clone(),
                base.clone(),
                stop.clone(),
                answered.clone(),
                busy.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(r) = post(&c, &b, "/opvolgen")
                        .form(&[("code", wrong_code(i * 1_000_000 + n))])
                        .send()
                        .await
                    {
                        if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = r.bytes().await;
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tries = (for_.as_secs() as usize).max(5);
    let (with, without) = tokio::join!(
        reporter_tries(&client, &base, &code, true, tries),
        reporter_tries(&client, &base, &code, false, tries)
    );
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        let _ = f.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let n = answered.load(Ordering::Relaxed);
    let refused = busy.load(Ordering::Relaxed);
    println!(
        "\n### Wrong meldcodes: {FLOOD_CONNECTIONS} connections without a proof, two reporters trying once a second"
    );
    println!("| who | result |");
    println!("|---|---|");
    println!(
        "| flood | {:.0} wrong codes/s answered, {:.0}% of them 503 busy; server CPU {:.1} ms per answered request |",
        n as f64 / secs,
        100.0 * refused as f64 / n.max(1) as f64,
        cpu * 1000.0 / n.max(1) as f64
    );
    println!(
        "| reporter with the page's proof (script on) | {}/{} tries opened the report, slowest try {:.2} s (proof included) |",
        with.0,
        with.1,
        with.2.as_secs_f64()
    );
    println!(
        "| reporter without JavaScript | {}/{} tries opened the report, slowest try {:.2} s |",
        without.0,
        without.1,
        without.2.as_secs_f64()
    );
    println!(
        "| a flooder in the priority lane | pays {proof_ms:.0} ms of CPU per proof on one core ({:.1} proofs/s per core), \
         where the server spends {:.0} ms on the derivation it buys |",
        1000.0 / proof_ms,
        1000.0 / crate::common::argon2_per_s(1, 2.0)
    );

    // Refused uploads: one client, files just over the limit, for the phase's length.
    let big = vec![0x42u8; 26 * 1024 * 1024];
    let (sent_bytes, refused_uploads) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let until = Instant::now() + for_;
    let started = Instant::now();
    let uploads: Vec<_> = (0..4)
        .map(|_| {
            let (c, b, big, sent, refused) = (
                client.clone(),
                base.clone(),
                big.clone(),
                sent_bytes.clone(),
                refused_uploads.clone(),
            );
            tokio::spawn(async move {
                while Instant::now() < until {
                    let form = page(&c, &format!("{b}/melden")).await;
                    let token = hidden(&form, "form_token");
                    let (ct, body) = multipart(&report_fields("Rommel met een te groot bestand.", &token), &big);
                    let len = body.len();
                    if let Ok(r) = post(&c, &b, "/melden")
                        .header("content-type", ct)
                        .body(body)
                        .send()
                        .await
                    {
                        if r.status() == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = r.bytes().await;
                        sent.fetch_add(len, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for u in uploads {
        let _ = u.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let form = page(&client, &format!("{base}/melden")).await;
    let token = hidden(&form, "form_token");
    let photo = [0xFFu8, 0xD8, 0xFF, 0xE0].repeat(13 * 1024);
    let (ct, body) = multipart(&report_fields("Een melding met een foto.", &token), &photo);
    let photo_status = match post(&client, &base, "/melden")
        .header("content-type", ct)
        .body(body)
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    };
    println!("\n### Refused uploads: one client, 4 connections, 26 MiB files (limit 25 MiB)");
    println!(
        "{} uploads refused in {secs:.1} s ({:.0} MiB sent, {:.0} MiB/s; the hour's budget is 2048 MiB); \
         a reporter's 52 KiB photo afterwards: HTTP {photo_status}",
        refused_uploads.load(Ordering::Relaxed),
        sent_bytes.load(Ordering::Relaxed) as f64 / 1048576.0,
        sent_bytes.load(Ordering::Relaxed) as f64 / 1048576.0 / secs
    );

    // Junk reports: many connections without proofs for the phase's length.
    let (stored, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let until = Instant::now() + for_;
    let started = Instant::now();
    let junk: Vec<_> = (0..32)
        .map(|_| {
            let (c, b, stored, refused) = (client.clone(), base.clone(), stored.clone(), refused.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    match report(&c, &b, &"rommel ".repeat(2000), false).await {
                        (200, Some(_)) => stored.fetch_add(1, Ordering::Relaxed),
                        (503, _) => refused.fetch_add(1, Ordering::Relaxed),
                        _ => 0,
                    };
                }
            })
        })
        .collect();
    for j in junk {
        let _ = j.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let (with_status, with_code) = report(&client, &base, "Een echte melding, met het script.", true).await;
    let (without_status, _) = report(&client, &base, "Een echte melding, zonder script.", false).await;
    println!("\n### Junk reports: 32 connections without proofs for {secs:.1} s");
    println!(
        "{} stored (the hour's rate, reports included from the phases above), {} refused with 503 ({:.0} refused/s); \
         then a reporter with the proof: HTTP {with_status}{}; without: HTTP {without_status} (told to come back)",
        stored.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed) as f64 / secs,
        if with_code.is_some() { ", meldcode shown" } else { "" }
    );
    drop(server);
}
