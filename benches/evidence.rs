//! Evidence upload and download over loopback HTTP against the real `meldpunt` binary, as
//! throughput relative to raw XChaCha20-Poly1305 on the same machine, and the server's peak
//! resident memory during the upload over its idle size, for a 100 MiB and a 1 GiB file.
//! Run with `cargo bench --bench evidence`; results go to standard output (copied into
//! BENCHMARKS.md). The server is a separate process, so its memory is its own.

mod common;

use std::time::Instant;

use common::{between, kib, proc_status, report_fields, shown_code, start, Server};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;
const BOUNDARY: &str = "----meldpuntbenchboundary";

/// Seals `total` bytes in 64 KiB chunks in memory: the ceiling any upload could reach.
fn raw_aead_mib_s(total: usize) -> f64 {
    let cipher = XChaCha20Poly1305::new(&[7u8; 32].into());
    let mut buf = vec![0u8; 64 * 1024];
    rand::thread_rng().fill_bytes(&mut buf);
    let nonce = XNonce::from_slice(&[1u8; 24]);
    let start = Instant::now();
    let mut done = 0;
    while done < total {
        let tag = cipher.encrypt_in_place_detached(nonce, b"ad", &mut buf).expect("seal");
        std::hint::black_box(tag);
        done += buf.len();
    }
    total as f64 / MIB as f64 / start.elapsed().as_secs_f64()
}

/// The upload path's own work without HTTP or the database: SHA-256 (duplicates) and
/// STREAM sealing of `total` bytes, fed in 64 KiB pieces as the network delivers them.
fn sealer_mib_s(total: usize) -> (f64, f64) {
    use sha2::Digest;
    let key = meldpunt::crypto::ReportKey::generate();
    let ctx = meldpunt::features::evidence::sealed::body_context(
        [1; 16],
        [2; 16],
        meldpunt::crypto::envelope::Role::Reporter,
    );
    let mut buf = vec![0u8; 64 * 1024];
    rand::thread_rng().fill_bytes(&mut buf);
    let start = Instant::now();
    let (mut sealer, _) = meldpunt::features::evidence::sealed::FileSealer::new(&key, &ctx);
    let mut done = 0;
    while done < total {
        std::hint::black_box(sealer.push(&buf).expect("seal"));
        done += buf.len();
    }
    std::hint::black_box(sealer.finish().expect("finish"));
    let seal = total as f64 / MIB as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut hasher = sha2::Sha256::new();
    let mut done = 0;
    while done < total {
        hasher.update(&buf);
        done += buf.len();
    }
    std::hint::black_box(hasher.finalize());
    (seal, total as f64 / MIB as f64 / start.elapsed().as_secs_f64())
}

/// Uploads `size` bytes as one evidence file with a new report; returns the meldcode and
/// the seconds from the first byte sent to the answer.
async fn upload(server: &Server, client: &reqwest::Client, size: usize, block: &[u8]) -> (String, f64) {
    let form = client
        .get(format!("{}/melden", server.base))
        .send()
        .await
        .expect("form");
    let html = form.text().await.expect("form");
    let token = between(&html, "name=\"form_token\" value=\"", "\"").expect("token");
    let mut head = String::new();
    for (k, v) in report_fields("benchmark", &token) {
        head.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    head.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"opname.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ));
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let addr = server.base.trim_start_matches("http://").to_string();
    let request = format!(
        "POST /melden HTTP/1.1\r\nHost: {addr}\r\nOrigin: {}\r\nSec-Fetch-Site: same-origin\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        server.base,
        head.len() + size + tail.len()
    );
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let start = Instant::now();
    conn.write_all(request.as_bytes()).await.expect("write");
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut sent = 0;
    while sent < size {
        let n = block.len().min(size - sent);
        conn.write_all(&block[..n]).await.expect("write");
        sent += n;
    }
    conn.write_all(tail.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("answer");
    let secs = start.elapsed().as_secs_f64();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{}",
        &answer[..answer.len().min(2000)]
    );
    let code = shown_code(&answer).expect("meldcode");
    (code, secs)
}

/// Downloads the report's file as the reporter; returns the seconds and bytes received.
async fn download(server: &Server, client: &reqwest::Client, code: &str) -> (f64, usize, Vec<u8>) {
    let res = client
        .post(format!("{}/opvolgen", server.base))
        .header("Origin", server.base.as_str())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("code", code)])
        .send()
        .await
        .expect("code");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    let thread = client
        .get(format!("{}/opvolgen", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("thread")
        .text()
        .await
        .expect("thread");
    let link = between(&thread, "href=\"/opvolgen/bestanden/", "\"").expect("file link");
    let start = Instant::now();
    let mut res = client
        .get(format!("{}/opvolgen/bestanden/{link}", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("download");
    let mut n = 0;
    let mut first = Vec::new();
    while let Some(chunk) = res.chunk().await.expect("chunk") {
        if first.len() < MIB {
            first.extend_from_slice(&chunk[..chunk.len().min(MIB - first.len())]);
        }
        n += chunk.len();
    }
    (start.elapsed().as_secs_f64(), n, first)
}

#[tokio::main]
async fn main() {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let raw = raw_aead_mib_s(1024 * MIB);
    println!("raw XChaCha20-Poly1305 (64 KiB chunks, in memory): {raw:.0} MiB/s");
    let (seal, sha) = sealer_mib_s(1024 * MIB);
    println!("FileSealer (STREAM, segments) in memory: {seal:.0} MiB/s; SHA-256: {sha:.0} MiB/s");
    if std::env::args().any(|a| a == "--seal-only") {
        return;
    }
    let mut block = vec![0u8; MIB];
    rand::thread_rng().fill_bytes(&mut block);
    println!(
        "| file | upload MiB/s | × raw | download MiB/s | × raw | idle RSS | peak RSS during upload | peak over idle |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let sizes = if std::env::var("BENCH_PERF").is_ok() {
        vec![1024 * MIB]
    } else {
        vec![100 * MIB, 1024 * MIB]
    };
    for size in sizes {
        let server = start(
            &client,
            &[
                ("MELDPUNT_LIMITS__FILE_MIB", "2048"),
                ("MELDPUNT_LIMITS__REPORT_MIB", "4096"),
            ],
        )
        .await;
        let pid = server.child.id();
        // Peak RSS counts from here: the kernel resets VmHWM to the current RSS.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset peak RSS");
        let idle = kib(&proc_status(pid), "VmRSS:");
        let (code, up_secs) = upload(&server, &client, size, &block).await;
        let peak = kib(&proc_status(pid), "VmHWM:");
        let (down_secs, got, first) = download(&server, &client, &code).await;
        assert_eq!(got, size, "the whole file came back");
        assert_eq!(first, block, "the first MiB came back as sent");
        let mib = size as f64 / MIB as f64;
        let (up, down) = (mib / up_secs, mib / down_secs);
        println!(
            "| {} MiB | {up:.0} | {:.2} | {down:.0} | {:.2} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            size / MIB,
            up / raw,
            down / raw,
            idle as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(idle) as f64 / 1024.0
        );
    }
}
