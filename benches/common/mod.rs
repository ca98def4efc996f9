//! What the load benchmarks share: the real `meldpunt` binary started as a separate process
//! on a fresh SQLite database and set up over HTTP, and its memory as /proc reports it.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

pub const PASSWORD: &str = "lange zin als wachtwoord 42";

pub fn kib(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn proc_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

pub struct Server {
    pub child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGINT lets `perf record` write its profile; the server stops on it too.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn command(dir: &std::path::Path, port: u16, extra: &[(&str, &str)]) -> Command {
    // BENCH_PERF=file records a CPU profile of the server with `perf record` (for looking
    // into where upload time goes; the memory column is then perf's, not the server's).
    let mut c = match std::env::var("BENCH_PERF") {
        Ok(out) => {
            let mut c = Command::new("perf");
            c.args([
                "record",
                "-F",
                "499",
                "-g",
                "-o",
                &out,
                "--",
                env!("CARGO_BIN_EXE_meldpunt"),
            ]);
            c
        }
        Err(_) => Command::new(env!("CARGO_BIN_EXE_meldpunt")),
    };
    c.env(
        "MELDPUNT_DATABASE__URL",
        format!("sqlite://{}", dir.join("b.db").display()),
    )
    .env("MELDPUNT_SECURITY__PEPPER_FILE", dir.join("pepper.key"))
    .env("MELDPUNT_SECURITY__REQUIRE_TOTP", "false")
    .env("MELDPUNT_HTTP__BIND", format!("127.0.0.1:{port}"))
    .env("MELDPUNT_HTTP__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
    .env("MELDPUNT_HTTP__SECURE_COOKIES", "false")
    .env("MELDPUNT_LOG__FILTER", "warn")
    .envs(extra.iter().copied());
    c
}

/// Starts the release server on a fresh SQLite database with `extra` settings, and sets it
/// up over HTTP with coordinator `anna`.
pub async fn start(client: &reqwest::Client, extra: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).expect("dir");
    let port = free_port();
    let mut init = Command::new(env!("CARGO_BIN_EXE_meldpunt"));
    init.envs(
        command(dir.path(), port, extra)
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
    );
    let out = init.arg("init").output().expect("init");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .expect("set-up link")
        .to_string();
    let child = command(dir.path(), port, extra)
        .arg("serve")
        .stdout(Stdio::null())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = client
        .post(&link)
        .header("Origin", base.as_str())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[
            ("display_name", "Anna"),
            ("username", "anna"),
            ("password", PASSWORD),
            ("password_repeat", PASSWORD),
        ])
        .send()
        .await
        .expect("set-up");
    assert!(res.status().is_success(), "set-up: {}", res.status());
    Server { child, base, _dir: dir }
}

pub fn between(s: &str, a: &str, b: &str) -> Option<String> {
    let start = s.find(a)? + a.len();
    let end = s[start..].find(b)? + start;
    Some(s[start..end].to_string())
}

/// Argon2id derivations per second with the shipped parameters on `threads` threads: the
/// ceiling for submissions, each of which derives one key from its meldcode.
#[allow(dead_code)] // the evidence benchmark does not need it
pub fn argon2_per_s(threads: usize, secs: f64) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let done = done.clone();
            std::thread::spawn(move || {
                let params = argon2::Params::new(19456, 2, 1, Some(32)).expect("params");
                let argon = argon2::Argon2::new_with_secret(
                    &[9u8; 32],
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    params,
                )
                .expect("argon2");
                let mut out = [0u8; 32];
                while Instant::now() < until {
                    argon
                        .hash_password_into(format!("code {i}").as_bytes(), &[1u8; 16], &mut out)
                        .expect("hash");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / secs
}

/// The meldcode shown on the page after a report: its groups are separate elements, so the
/// symbols and hyphens are gathered from between the tags.
#[allow(dead_code)] // the reporters benchmark does not need it
pub fn shown_code(page: &str) -> Option<String> {
    let shown = between(page, "id=\"meldcode\">", "</p>")?;
    let mut code = String::new();
    let mut tag = false;
    for c in shown.chars() {
        match c {
            '<' => tag = true,
            '>' => tag = false,
            c if !tag && (c.is_ascii_alphanumeric() || c == '-') => code.push(c),
            _ => {}
        }
    }
    Some(code)
}

/// The report form's fields for one report about `what`, with the form's one-time token.
pub fn report_fields<'a>(what: &'a str, token: &'a str) -> [(&'static str, &'a str); 7] {
    [
        ("what", what),
        ("subject", "ambtenaar"),
        ("category", "fraude"),
        ("about", "repressie"),
        ("how_known", "zelf"),
        ("anonymity", "anoniem"),
        ("form_token", token),
    ]
}
