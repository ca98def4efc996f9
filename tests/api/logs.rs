//! The real binary, started as an operator would: it prints the set-up link on first start,
//! and its log output over a whole journey holds no report text, meldcode, password, client
//! address, User-Agent or forwarded-for header.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{between, hidden, marker, Browser, PASSWORD};

const AGENT: &str = "MarkerAgent/7.3 (Voorbeeldstad-werkplek)";
const FORWARDED: &str = "198.51.100.23";
const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn browser(base: &str) -> Browser {
    let mut b = Browser::new(base, Some(CLIENT_IP));
    b.extra_headers = vec![
        ("User-Agent".into(), AGENT.into()),
        ("X-Forwarded-For".into(), FORWARDED.into()),
        (
            "Referer".into(),
            "https://intranet.voorbeeldstad.nl/MARKERREFERER".into(),
        ),
    ];
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_whole_journey_hold_nothing_identifying() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut child = crate::helpers::meldpunt_command()
        .arg("serve")
        .current_dir(dir.path())
        .env("MELDPUNT_HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("MELDPUNT_HTTP__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("MELDPUNT_LOG__FILTER", "debug,meldpunt=trace")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start meldpunt");

    // The set-up link appears on standard output on first start.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            if line.contains("/beheer/inrichten/") {
                let _ = tx.send(Some(line.trim().to_string()));
            }
        }
        let _ = tx.send(None);
        all
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten()
        .expect("the set-up link is printed");
    let base = format!("http://127.0.0.1:{port}");
    assert!(url.starts_with(&base), "{url}");
    let setup_path = url.trim_start_matches(&base).to_string();
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The whole journey, every request from 127.0.0.2 with a telling User-Agent.
    let coord = browser(&base);
    let res = coord
        .post(
            &setup_path,
            &[
                ("display_name", "Anna"),
                ("username", "anna"),
                ("password", PASSWORD),
                ("password_repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    // The shipped default asks for a second factor: enrol it as a person would.
    let now = chrono::Utc::now().timestamp();
    let (totp_secret, recovery_codes) = crate::helpers::enrol_second_factor(&coord, now).await;
    let reporter = browser(&base);
    let form = reporter.get("/melden").await;
    let token = hidden(&form.body, "form_token").expect("token");
    let what = marker("what");
    let done = reporter
        .post("/melden", &crate::helpers::report_fields(&what, &token))
        .await;
    let code = crate::helpers::shown_code(&done.body).expect("code");
    reporter.post("/opvolgen", &[("code", "hallo")]).await;
    let thread = reporter.post("/opvolgen", &[("code", code.as_str())]).await;
    let csrf_r = hidden(&thread.body, "csrf").expect("csrf");
    let answer = marker("answer");
    reporter
        .post(
            "/opvolgen/bericht",
            &[("csrf", csrf_r.as_str()), ("message", answer.as_str())],
        )
        .await;
    let inbox = coord.get("/beheer").await;
    let csrf_c = hidden(&inbox.body, "csrf").expect("csrf");
    coord.post("/beheer/uitloggen", &[("csrf", csrf_c.as_str())]).await;
    coord
        .post(
            "/beheer/inloggen",
            &[("username", "anna"), ("password", "fout wachtwoord!!")],
        )
        .await;
    let second = coord
        .post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await;
    assert!(
        second.body.contains("name=\"recovery\""),
        "password alone is not enough"
    );
    let csrf_m = hidden(&second.body, "csrf").expect("csrf");
    // Within the same 30 seconds the enrolment code may not be used again: a recovery code.
    let done = coord
        .post(
            "/beheer/tweede-factor",
            &[("csrf", csrf_m.as_str()), ("recovery", recovery_codes[0].as_str())],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let inbox = coord.get("/beheer").await;
    let href = between(&inbox.body, "<td><a href=\"", "\"").expect("link");
    let page = coord.get(&href).await;
    assert!(page.body.contains(&answer));
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let question = marker("question");
    coord
        .post(
            &format!("{href}/bericht"),
            &[("csrf", csrf.as_str()), ("message", question.as_str())],
        )
        .await;

    let _ = child.kill();
    let _ = child.wait();
    let log = err_reader.join().expect("stderr");
    assert!(
        log.contains("route=/beheer/melding/{id}") && log.contains("status=200"),
        "the access log was captured:\n{log}"
    );
    // A timestamped line per reporter request would date each reporter's action.
    assert!(
        !log.contains("route=/melden") && !log.contains("route=/opvolgen"),
        "reporter requests are not logged one by one"
    );

    let report_id = href.rsplit('/').next().expect("id");
    for (needle, what) in [
        (what.as_str(), "report text"),
        (answer.as_str(), "reply"),
        (question.as_str(), "question"),
        (code.as_str(), "meldcode"),
        (&code.replace('-', "")[8..24], "meldcode secret"),
        (PASSWORD, "password"),
        (totp_secret.as_str(), "TOTP secret"),
        (recovery_codes[0].as_str(), "recovery code"),
        (recovery_codes[1].as_str(), "recovery code"),
        ("fout wachtwoord", "wrong password"),
        ("127.0.0.2", "client address"),
        (FORWARDED, "forwarded-for address"),
        ("MarkerAgent", "User-Agent"),
        ("MARKERREFERER", "Referer"),
        (report_id, "report id in a path"),
    ] {
        assert!(!log.contains(needle), "{what} found in the log");
    }
    for (_, v) in coord.cookies().into_iter().chain(reporter.cookies()) {
        assert!(!log.contains(&v), "session token found in the log");
    }
}
