//! Notifications over a real SMTP server started here: a new report reaches exactly its
//! routed coordinators; with the server down the report is still stored and the mail waits
//! visibly, then arrives exactly once; two workers on one database send each mail once;
//! no mail carries report content; undeliverable mail is given up visibly. A killed
//! sender's mail goes out from another worker once its short claim lapses, a live slow
//! one keeps its claim, and a mail sent again after the server took it carries the same
//! Message-ID.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::{response, Handler, Response, Server};
use meldpunt::features::notify::{message_id, run_once, run_once_with, Claim};
use meldpunt::settings::Settings;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, marker, report_fields, spawn_app_with, Backend, TestApp, PASSWORD, T0};

both_backends!(
    new_reports_and_replies_reach_exactly_the_routed_coordinators,
    mail_server_down_then_back_delivers_once,
    two_workers_send_each_mail_once,
    mail_without_address_is_given_up_visibly,
    deadline_warnings_go_out_once_each,
    a_silent_mail_server_costs_one_mail_a_bounded_wait,
    a_dead_workers_mail_goes_out_within_a_minute_under_its_message_id,
    a_live_slow_send_keeps_its_claim,
    a_mail_whose_answer_never_came_goes_again_under_the_same_message_id,
    a_sender_killed_mid_send_mails_again_under_the_same_message_id,
);

/// (recipients, raw message) of every mail the server accepted.
pub type Inbox = Arc<Mutex<Vec<(Vec<String>, String)>>>;

#[derive(Clone)]
struct Sink {
    inbox: Inbox,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Sink {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let mail = String::from_utf8_lossy(&self.data).into_owned();
        self.inbox
            .lock()
            .expect("inbox")
            .push((std::mem::take(&mut self.to), mail));
        response::OK
    }
}

/// Starts an SMTP server on `listener` in a thread of its own; returns what it receives.
pub fn start_smtp(listener: TcpListener) -> Inbox {
    let inbox: Inbox = Arc::default();
    let handler = Sink {
        inbox: inbox.clone(),
        to: vec![],
        data: vec![],
    };
    std::thread::spawn(move || {
        let mut server = Server::new(handler);
        server
            .with_name("sink.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        let _ = server.serve();
    });
    inbox
}

pub fn smtp_to(port: u16) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.smtp.host = "127.0.0.1".into();
        s.smtp.port = port;
        s.smtp.tls = "none".into();
        s.smtp.from = "Meldpunt <meldpunt@voorbeeldstad.test>".into();
    }
}

pub fn count_to(inbox: &Inbox, address: &str) -> usize {
    inbox
        .lock()
        .expect("inbox")
        .iter()
        .filter(|(to, _)| to.iter().any(|t| t.contains(address)))
        .count()
}

/// An active coordinator with an e-mail address, in the given groups only.
async fn coordinator(app: &TestApp, username: &str, groups: &[&str]) -> String {
    let row = app.add_coordinator(username, username, "active", groups).await;
    let email = format!("{username}@voorbeeldstad.test");
    app.state
        .store
        .set_coordinator_email(username, Some(&email), "nl")
        .await
        .expect("email");
    row.id
}

async fn report(app: &TestApp, subject: &str, what: &str) -> String {
    let b = app.browser();
    let form = b.get("/melden").await;
    let token = crate::helpers::hidden(&form.body, "form_token").expect("token");
    let mut fields = report_fields(what, &token);
    fields.retain(|(k, _)| *k != "subject");
    fields.push(("subject", subject));
    let done = b.post("/melden", &fields).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    crate::helpers::shown_code(&done.body).expect("code")
}

async fn drain(app: &TestApp) -> meldpunt::features::notify::Pass {
    run_once(&app.state, &app.state.mailer, "test-worker")
        .await
        .expect("worker pass")
}

async fn new_reports_and_replies_reach_exactly_the_routed_coordinators(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let inbox = start_smtp(listener);
    let app = spawn_app_with(backend, smtp_to(port)).await;
    let (anna, _) = app.setup("anna").await;
    let store = &app.state.store;
    let anna_id = store
        .coordinator_by_username("anna")
        .await
        .expect("db")
        .expect("anna")
        .id;
    store
        .set_coordinator_email("anna", Some("anna@voorbeeldstad.test"), "nl")
        .await
        .expect("email");
    // Anna is the burgemeester; Bert the integrity coordinator; Carla the griffier.
    store.remove_member("integriteit", &anna_id).await.expect("shape");
    store.remove_member("griffier", &anna_id).await.expect("shape");
    coordinator(&app, "bert", &["integriteit"]).await;
    coordinator(&app, "carla", &["griffier"]).await;
    coordinator(&app, "dirk", &[]).await; // in no group: never receives anything

    let m1 = marker("ambtenaar");
    report(&app, "ambtenaar", &m1).await;
    let pass = drain(&app).await;
    assert_eq!(pass.mails_sent, 1);
    assert_eq!(
        (
            count_to(&inbox, "bert@"),
            count_to(&inbox, "anna@"),
            count_to(&inbox, "carla@")
        ),
        (1, 0, 0)
    );

    let m2 = marker("raadslid");
    report(&app, "raadslid", &m2).await;
    drain(&app).await;
    assert_eq!(
        (
            count_to(&inbox, "bert@"),
            count_to(&inbox, "anna@"),
            count_to(&inbox, "carla@")
        ),
        (1, 1, 1)
    );

    let m3 = marker("bestuurder");
    let code3 = report(&app, "bestuurder", &m3).await;
    drain(&app).await;
    assert_eq!(
        (
            count_to(&inbox, "bert@"),
            count_to(&inbox, "anna@"),
            count_to(&inbox, "carla@")
        ),
        (1, 2, 1)
    );
    assert_eq!(count_to(&inbox, "dirk@"), 0);

    // The reports themselves went to the same people: Anna sees two, not Bert's.
    let inbox_page = anna.get("/beheer").await;
    assert_eq!(inbox_page.body.matches("class=\"report-row\"").count(), 2);

    // A reporter's answer tells the coordinators with access, and nobody else.
    let reporter = app.browser();
    let thread = reporter.post("/opvolgen", &[("code", code3.as_str())]).await;
    let csrf = crate::helpers::hidden(&thread.body, "csrf").expect("csrf");
    let answer = marker("answer");
    reporter
        .post(
            "/opvolgen/bericht",
            &[("csrf", csrf.as_str()), ("message", answer.as_str())],
        )
        .await;
    drain(&app).await;
    assert_eq!(
        (
            count_to(&inbox, "bert@"),
            count_to(&inbox, "anna@"),
            count_to(&inbox, "carla@")
        ),
        (1, 3, 1)
    );

    // Nothing runs twice, and no mail carries anything of a report.
    assert_eq!(drain(&app).await.mails_sent, 0);
    let all = inbox.lock().expect("inbox").clone();
    assert_eq!(all.len(), 5);
    for (_, mail) in &all {
        for m in [&m1, &m2, &m3, &answer] {
            assert!(!mail.contains(m.as_str()), "report content in a mail");
        }
        assert!(
            !mail.contains("Repressie") && !mail.contains("repressie"),
            "chain label in a mail"
        );
        assert!(mail.contains("/beheer"), "the mail points at the login page");
        assert!(mail.contains("Er staat iets"), "Dutch by the coordinator's preference");
    }
    for id in app.report_ids().await {
        assert!(!all.iter().any(|(_, mail)| mail.contains(&id)), "a report id in a mail");
    }
}

async fn mail_server_down_then_back_delivers_once(backend: Backend) {
    let reserved = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = reserved.local_addr().expect("addr").port();
    drop(reserved); // nothing listens there now: the mail server is down
    let app = spawn_app_with(backend, smtp_to(port)).await;
    let (anna, _) = app.setup("anna").await;
    app.state
        .store
        .set_coordinator_email("anna", Some("anna@voorbeeldstad.test"), "en")
        .await
        .expect("email");

    // The report is stored and the reporter gets the code, mail server or not.
    let code = report(&app, "ambtenaar", "melding tijdens storing").await;
    assert_eq!(code.len(), 29);
    let pass = drain(&app).await;
    assert_eq!((pass.mails_sent, pass.rows_failed), (0, 1));
    let outbox = anna.get("/beheer/uitgaand").await;
    assert!(outbox.body.contains("class=\"outbox-pending\""), "{}", outbox.body);
    assert!(outbox.body.contains("nieuwe melding"));
    let error_cell = between(&outbox.body, "<td class=\"text\">", "</td>").expect("error cell");
    assert!(!error_cell.trim().is_empty(), "the last error is shown");

    // Retrying before the back-off has passed sends nothing.
    assert_eq!(drain(&app).await, meldpunt::features::notify::Pass::default());

    // The server comes back; after the back-off the mail goes out, once.
    let inbox = start_smtp(TcpListener::bind(("127.0.0.1", port)).expect("rebind the port"));
    app.clock.set(T0 + 120);
    assert_eq!(drain(&app).await.mails_sent, 1);
    app.clock.set(T0 + 7200);
    assert_eq!(drain(&app).await.mails_sent, 0);
    let got = inbox.lock().expect("inbox").clone();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].1.contains("Something is waiting"),
        "English by Anna's preference"
    );
    anna.post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await; // hours passed
    let outbox = anna.get("/beheer/uitgaand").await;
    assert!(outbox.body.contains("class=\"outbox-sent\""));
}

async fn two_workers_send_each_mail_once(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let inbox = start_smtp(listener);
    let app = spawn_app_with(backend, smtp_to(port)).await;
    app.setup("anna").await;
    let mut names = vec![];
    for i in 0..8 {
        let name = format!("coord{i}");
        coordinator(&app, &name, &["integriteit"]).await;
        names.push(name);
    }
    // A second instance of the service on the same database.
    let other = crate::helpers::second_instance(&app, smtp_to(port)).await;
    for round in 1..=3 {
        report(&app, "ambtenaar", "een melding voor acht").await;
        let (a, b) = tokio::join!(
            run_once(&app.state, &app.state.mailer, "worker-a"),
            run_once(&other, &other.mailer, "worker-b")
        );
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_eq!(
            a.rows_sent + b.rows_sent,
            8,
            "round {round}: every row sent by one worker"
        );
        for n in &names {
            assert_eq!(
                count_to(&inbox, &format!("{n}@")),
                round,
                "{n} got exactly one mail in round {round}"
            );
        }
    }
}

async fn mail_without_address_is_given_up_visibly(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _inbox = start_smtp(listener);
    let app = spawn_app_with(backend, smtp_to(port)).await;
    let (anna, _) = app.setup("anna").await; // no e-mail address
    report(&app, "ambtenaar", "melding").await;
    assert_eq!(drain(&app).await.rows_failed, 1);
    app.clock.set(T0 + 73 * 3600);
    assert_eq!(drain(&app).await.rows_given_up, 1);
    anna.post("/beheer/inloggen", &[("username", "anna"), ("password", PASSWORD)])
        .await; // days passed
    let page = anna.get("/beheer/uitgaand").await;
    assert!(page.body.contains("class=\"outbox-given_up\""));
    assert!(page.body.contains("opgegeven"));
    assert!(page.body.contains("no e-mail address"));
}

async fn deadline_warnings_go_out_once_each(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let inbox = start_smtp(listener);
    let app = spawn_app_with(backend, smtp_to(port)).await;
    app.setup("anna").await;
    app.state
        .store
        .set_coordinator_email("anna", Some("anna@voorbeeldstad.test"), "nl")
        .await
        .expect("email");
    report(&app, "ambtenaar", "melding op 30 november").await;
    drain(&app).await; // the new-report mail
    let kinds = |app: &TestApp| {
        let store = app.state.store.clone();
        async move {
            store
                .outbox(100)
                .await
                .expect("outbox")
                .into_iter()
                .map(|r| r.kind)
                .collect::<Vec<_>>()
        }
    };
    // Received 30 November: acknowledgement due 7 December. On 4 December nothing is due yet.
    app.clock.set(T0 + 4 * 86_400);
    drain(&app).await;
    assert_eq!(kinds(&app).await, vec!["new_report"]);
    // On 5 December two days are left: one warning, once.
    app.clock.set(T0 + 5 * 86_400);
    drain(&app).await;
    app.clock.set(T0 + 5 * 86_400 + 3600);
    drain(&app).await;
    assert_eq!(kinds(&app).await, vec!["ack_due_soon", "new_report"]);
    // On 8 December it is overdue.
    app.clock.set(T0 + 8 * 86_400);
    drain(&app).await;
    assert_eq!(kinds(&app).await, vec!["ack_overdue", "ack_due_soon", "new_report"]);
    assert_eq!(count_to(&inbox, "anna@"), 3);
    // Feedback is due three months after day 7 (7 March 2027); the warning comes 14 days before.
    app.clock.set(T0 + 85 * 86_400); // 23 February 2027
    drain(&app).await;
    assert_eq!(kinds(&app).await[0], "feedback_due_soon");
}

/// What the stalling server saw: mails it accepted (recipient, raw text, whether the silent
/// session was open at that moment) and how many silent sessions are open now.
#[derive(Default)]
struct StallLog {
    delivered: Vec<(String, String, bool)>,
    silent_open: usize,
    silent_seen: usize,
}

/// An SMTP server that answers like a real one, except that after `RCPT TO` an address
/// holding "slow" it accepts and never answers again (until the client hangs up).
fn start_stalling_smtp(listener: TcpListener) -> Arc<Mutex<StallLog>> {
    use std::io::{BufRead, BufReader, Read, Write};
    let log: Arc<Mutex<StallLog>> = Arc::default();
    let shared = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { break };
            let log = shared.clone();
            std::thread::spawn(move || {
                let Ok(input) = out.try_clone() else { return };
                let mut input = BufReader::new(input);
                let mut rcpt = String::new();
                let _ = out.write_all(b"220 stall.test ESMTP\r\n");
                let mut line = String::new();
                loop {
                    line.clear();
                    if input.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let answer: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 stall.test\r\n"
                    } else if upper.starts_with("RCPT TO") && upper.contains("SLOW") {
                        {
                            let mut l = log.lock().expect("log");
                            l.silent_open += 1;
                            l.silent_seen += 1;
                        }
                        // Silent until the client gives up and closes the connection.
                        let mut sink = Vec::new();
                        let _ = input.read_to_end(&mut sink);
                        log.lock().expect("log").silent_open -= 1;
                        return;
                    } else if upper.starts_with("RCPT TO") {
                        rcpt = line.trim().to_string();
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = out.write_all(b"354 go ahead\r\n");
                        let mut mail = String::new();
                        loop {
                            line.clear();
                            if input.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            mail.push_str(&line);
                        }
                        let mut l = log.lock().expect("log");
                        let open = l.silent_open > 0;
                        l.delivered.push((rcpt.clone(), mail, open));
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = out.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    if out.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    log
}

async fn a_silent_mail_server_costs_one_mail_a_bounded_wait(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log = start_stalling_smtp(listener);
    let app = spawn_app_with(backend, |s| {
        smtp_to(port)(s);
        s.smtp.timeout_seconds = 2;
    })
    .await;
    let (anna, _) = app.setup("anna").await;
    app.state
        .store
        .set_coordinator_email("anna", Some("slow-anna@voorbeeldstad.test"), "nl")
        .await
        .expect("email");
    coordinator(&app, "bert", &["integriteit"]).await;
    report(&app, "ambtenaar", "melding").await;

    // The pass ends although the server never answers for Anna: her attempt is given a
    // bounded time, Bert's mail goes out meanwhile, not after.
    let pass = drain(&app).await;
    assert_eq!((pass.mails_sent, pass.rows_failed), (1, 1), "{pass:?}");
    let (seen, delivered) = {
        let l = log.lock().expect("log");
        (l.silent_seen, l.delivered.clone())
    };
    assert_eq!(seen, 1, "Anna's delivery was attempted");
    assert_eq!(delivered.len(), 1);
    let (to, mail, while_silent) = &delivered[0];
    assert!(to.contains("bert@"), "{to}");
    assert!(
        *while_silent,
        "Bert's mail went out while Anna's attempt was still waiting, not after it"
    );
    let id = mail
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .expect("a Message-ID header");
    assert!(id.starts_with('<') && id.ends_with("@voorbeeldstad.test>"), "{id}");

    // The stuck attempt is shown as an error, and retried later.
    let outbox = anna.get("/beheer/uitgaand").await;
    assert!(outbox.body.contains("did not finish within 2 s"), "{}", outbox.body);
    assert!(outbox.body.contains("class=\"outbox-pending\""));
}

/// What the holding server saw, and whether it holds back its answer to the end of a mail.
#[derive(Default)]
struct HoldLog {
    /// Every mail whose end it read, in order, whether it answered it or not.
    mails: Vec<String>,
    /// While true, the answer to the end of a mail waits (the mail is stored already).
    hold: bool,
}

/// An SMTP server that stores each mail as soon as it has read it, and then, while `hold`
/// is set, keeps its final answer back: the moment at which a sender killed or timed out
/// does not know that its mail arrived.
fn start_holding_smtp(listener: TcpListener) -> Arc<Mutex<HoldLog>> {
    use std::io::{BufRead, BufReader, Write};
    let log: Arc<Mutex<HoldLog>> = Arc::default();
    let shared = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { break };
            let log = shared.clone();
            std::thread::spawn(move || {
                let Ok(input) = out.try_clone() else { return };
                let mut input = BufReader::new(input);
                let _ = out.write_all(b"220 hold.test ESMTP\r\n");
                let mut line = String::new();
                loop {
                    line.clear();
                    if input.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let answer: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 hold.test\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = out.write_all(b"354 go ahead\r\n");
                        let mut mail = String::new();
                        loop {
                            line.clear();
                            if input.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            mail.push_str(&line);
                        }
                        log.lock().expect("log").mails.push(mail);
                        while log.lock().expect("log").hold {
                            std::thread::sleep(std::time::Duration::from_millis(10));
                        }
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = out.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    if out.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    log
}

fn message_id_of(mail: &str) -> String {
    mail.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .expect("a Message-ID header")
        .trim()
        .to_string()
}

/// Waits until `done` holds; after two minutes (a hang, not a slow machine) the test fails.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let wait = async {
        while !done().await {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), wait)
        .await
        .unwrap_or_else(|_| panic!("never happened: {what}"));
}

/// The latest time to which a pending row is claimed, if any is.
async fn claimed_until(app: &TestApp) -> Option<i64> {
    let q = "SELECT MAX(claimed_until) FROM outbox WHERE state = 'pending'";
    match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_scalar::<_, Option<i64>>(q).fetch_one(p).await,
        meldpunt::storage::Store::Postgres(p) => sqlx::query_scalar::<_, Option<i64>>(q).fetch_one(p).await,
    }
    .expect("claimed_until")
}

/// A coordinator Anna with an address, and one report waiting to be mailed to her.
async fn one_waiting_mail(app: &TestApp) {
    app.setup("anna").await;
    app.state
        .store
        .set_coordinator_email("anna", Some("anna@voorbeeldstad.test"), "nl")
        .await
        .expect("email");
    report(app, "ambtenaar", "melding").await;
}

async fn a_dead_workers_mail_goes_out_within_a_minute_under_its_message_id(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let inbox = start_smtp(listener);
    let app = spawn_app_with(backend, smtp_to(port)).await;
    one_waiting_mail(&app).await;

    // A worker claims the row and records the mail's Message-ID, as a pass does just
    // before it hands the mail over, and is then killed: it never renews or finishes.
    let store = &app.state.store;
    let claim = Claim::DEFAULT;
    let rows = store
        .claim_outbox("killed-worker", T0, T0 + claim.seconds, 500)
        .await
        .expect("claim");
    assert_eq!(rows.len(), 1);
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let recorded = message_id(
        &app.state.settings.http.public_url,
        app.state.mailer.from_domain(),
        &ids,
        T0,
    );
    assert!(store
        .outbox_set_message_id("killed-worker", &ids, &recorded)
        .await
        .expect("record"));
    assert!(!recorded.contains(&rows[0].coordinator_id), "{recorded}");

    // While its claim lasts, nobody else sends it.
    assert_eq!(drain(&app).await, meldpunt::features::notify::Pass::default());
    app.clock.set(T0 + claim.seconds);
    assert_eq!(drain(&app).await.mails_sent, 0);
    // Once it has lapsed (well within a minute), the next pass sends it, once, under the
    // Message-ID the dead worker recorded.
    app.clock.set(T0 + claim.seconds + 1);
    let pass = drain(&app).await;
    assert_eq!((pass.mails_sent, pass.rows_sent), (1, 1), "{pass:?}");
    app.clock.set(T0 + 600);
    assert_eq!(drain(&app).await.mails_sent, 0);
    let got = inbox.lock().expect("inbox").clone();
    assert_eq!(got.len(), 1);
    assert_eq!(message_id_of(&got[0].1), recorded);
    for id in app.report_ids().await {
        assert!(!recorded.contains(&id), "a report id in the Message-ID");
    }
}

async fn a_live_slow_send_keeps_its_claim(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log = start_holding_smtp(listener);
    log.lock().expect("log").hold = true;
    let app = spawn_app_with(backend, |s| {
        smtp_to(port)(s);
        s.smtp.timeout_seconds = 600;
    })
    .await;
    one_waiting_mail(&app).await;

    // Worker A hands the mail over; the server takes its time to answer.
    let claim = Claim {
        seconds: 30,
        renew_every: std::time::Duration::from_millis(20),
    };
    let (state, mailer) = (app.state.clone(), app.state.mailer.clone());
    let a = tokio::spawn(async move { run_once_with(&state, &mailer, "worker-a", claim).await });
    until("the server has the mail", || {
        let got = !log.lock().expect("log").mails.is_empty();
        async move { got }
    })
    .await;

    // Far more time passes than the claim lasts; A, alive, renews it from the new time ...
    app.clock.set(T0 + 1000);
    until("worker A renews its claim", || async {
        claimed_until(&app).await.is_some_and(|t| t > T0 + 1000)
    })
    .await;
    // ... so worker B, on a second instance, does not take the mail over.
    let other = crate::helpers::second_instance(&app, smtp_to(port)).await;
    let b = run_once(&other, &other.mailer, "worker-b").await.expect("b");
    assert_eq!(b, meldpunt::features::notify::Pass::default());

    // The server answers: A records the mail sent, and it went out once.
    log.lock().expect("log").hold = false;
    let a = a.await.expect("task").expect("a");
    assert_eq!((a.mails_sent, a.rows_sent), (1, 1), "{a:?}");
    assert_eq!(claimed_until(&app).await, None, "nothing is claimed any more");
    app.clock.set(T0 + 7200);
    assert_eq!(drain(&app).await.mails_sent, 0);
    assert_eq!(log.lock().expect("log").mails.len(), 1);
}

async fn a_mail_whose_answer_never_came_goes_again_under_the_same_message_id(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log = start_holding_smtp(listener);
    log.lock().expect("log").hold = true;
    let app = spawn_app_with(backend, |s| {
        smtp_to(port)(s);
        s.smtp.timeout_seconds = 1;
    })
    .await;
    let (anna, _) = app.setup("anna").await;
    app.state
        .store
        .set_coordinator_email("anna", Some("anna@voorbeeldstad.test"), "nl")
        .await
        .expect("email");
    report(&app, "ambtenaar", "melding").await;

    // The server stores the mail but its answer does not come in time: for us it failed.
    let pass = drain(&app).await;
    assert_eq!((pass.mails_sent, pass.rows_failed), (0, 1), "{pass:?}");
    assert_eq!(log.lock().expect("log").mails.len(), 1);
    let outbox = anna.get("/beheer/uitgaand").await;
    assert!(outbox.body.contains("did not finish within 1 s"), "{}", outbox.body);

    // Another report for Anna meanwhile: it goes in a mail of its own, not merged into
    // the one that may have arrived, which goes again unchanged.
    report(&app, "ambtenaar", "tweede melding").await;
    log.lock().expect("log").hold = false;
    app.clock.set(T0 + 60);
    let pass = drain(&app).await;
    assert_eq!((pass.mails_sent, pass.rows_sent), (2, 2), "{pass:?}");
    app.clock.set(T0 + 7200);
    assert_eq!(drain(&app).await.mails_sent, 0);
    let mails = log.lock().expect("log").mails.clone();
    assert_eq!(mails.len(), 3);
    let ids: Vec<String> = mails.iter().map(|m| message_id_of(m)).collect();
    assert!(
        ids.contains(&ids[0]) && ids[1..].iter().filter(|i| **i == ids[0]).count() == 1,
        "{ids:?}"
    );
    let other: Vec<&String> = ids.iter().filter(|i| **i != ids[0]).collect();
    assert_eq!(other.len(), 1, "the second report's own mail: {ids:?}");
}

async fn a_sender_killed_mid_send_mails_again_under_the_same_message_id(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log = start_holding_smtp(listener);
    log.lock().expect("log").hold = true;
    let app = spawn_app_with(backend, |s| {
        smtp_to(port)(s);
        s.smtp.timeout_seconds = 600;
    })
    .await;
    one_waiting_mail(&app).await;

    // The sender hands the mail over; the server has stored it; before its answer comes,
    // the sender is killed.
    let (state, mailer) = (app.state.clone(), app.state.mailer.clone());
    let sender = tokio::spawn(async move { run_once(&state, &mailer, "killed-worker").await });
    until("the server has the mail", || {
        let got = !log.lock().expect("log").mails.is_empty();
        async move { got }
    })
    .await;
    sender.abort();
    assert!(sender.await.expect_err("aborted").is_cancelled());
    log.lock().expect("log").hold = false;

    // A fresh worker leaves it alone while the dead one's claim lasts ...
    assert_eq!(drain(&app).await.mails_sent, 0);
    // ... and sends it once the claim has lapsed, within a minute of the kill.
    app.clock.set(T0 + Claim::DEFAULT.seconds + 1);
    let pass = drain(&app).await;
    assert_eq!((pass.mails_sent, pass.rows_sent), (1, 1), "{pass:?}");
    app.clock.set(T0 + 7200);
    assert_eq!(drain(&app).await.mails_sent, 0);

    // The server holds it twice, under one Message-ID: a duplicate it and the reader's
    // mail program can recognise.
    let mails = log.lock().expect("log").mails.clone();
    assert_eq!(mails.len(), 2);
    let (first, again) = (message_id_of(&mails[0]), message_id_of(&mails[1]));
    assert_eq!(first, again);
    assert!(first.ends_with("@voorbeeldstad.test>"), "{first}");
}
