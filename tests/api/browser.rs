//! Browser tests: the reporter journey (JavaScript off) and the coordinator journey in
//! headless Chromium through WebDriver, in Dutch and English, at 1280, 360 and 320 px. Every page
//! visited is checked with the pinned axe-core (tests/browser) for WCAG 2.0/2.1 A and AA
//! violations and, at 360 and 320 px, for a page that scrolls sideways; a screenshot of each step
//! goes to target/browser-screenshots/<journey>/. Without chromedriver and axe-core on the
//! machine these tests are reported as ignored with the reason (see build.rs).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{marker, report_fields, spawn_app, spawn_app_with, totp_code, Backend, TestApp, PASSWORD, T0};

const WIDTHS: [u32; 3] = [1280, 360, 320];
const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let path = std::env::var("MELDPUNT_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    // The guard kills and waits for it on every path from here, panics included.
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// A fresh headless Chromium session `width` px wide, with JavaScript on or off for pages.
async fn chromium(driver: &Driver, width: u32, javascript: bool) -> Client {
    let mut prefs = json!({});
    if !javascript {
        prefs = json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": std::env::var("MELDPUNT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     format!("--window-size={width},900")],
            "prefs": prefs,
        }
    });
    let Value::Object(caps) = caps else { unreachable!() };
    // chromedriver listens on loopback only: plain HTTP, no TLS stack.
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("connect to chromedriver");
    client.set_window_size(width, 900).await.expect("window size");
    client
}

/// Checks each page visited and keeps a screenshot of it.
struct Journey {
    /// With JavaScript off for the pages, axe (which needs it) runs on a copy of each page's
    /// HTML in a second session of the same width, on the same origin (same stylesheet).
    mirror: Option<(Client, String)>,
    dir: PathBuf,
    step: usize,
    width: u32,
    axe: String,
    problems: Vec<String>,
}

impl Journey {
    fn new(name: &str, width: u32) -> Journey {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/browser-screenshots")
            .join(format!("{name}-{width}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        eprintln!("screenshots of {name} at {width} px: {}", dir.display());
        let axe = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/node_modules/axe-core/axe.min.js"
        ))
        .expect("axe-core (npm ci --prefix tests/browser)");
        Journey {
            mirror: None,
            dir,
            step: 0,
            width,
            axe,
            problems: vec![],
        }
    }

    /// axe-core's WCAG A/AA violations on the current page, sideways scrolling at narrow
    /// widths, and a screenshot named after the step.
    async fn check(&mut self, c: &Client, what: &str) {
        self.step += 1;
        let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(self.dir.join(format!("{:02}-{what}.png", self.step)), png).expect("write screenshot");
        let script = format!(
            "{}\n;const done = arguments[arguments.length - 1];\
             axe.run(document, {{ runOnly: {{ type: 'tag', values: {} }} }})\
               .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(' | '))))\
               .catch(e => done(['axe failed: ' + e]));",
            self.axe,
            json!(WCAG_TAGS)
        );
        let on = match &self.mirror {
            Some((m, base)) => {
                let html = c.source().await.expect("page source");
                m.goto(&format!("{base}/static/style.css?mirror"))
                    .await
                    .expect("mirror origin");
                m.execute(
                    "document.open('text/html'); document.write(arguments[0]); document.close();",
                    vec![json!(html)],
                )
                .await
                .expect("copy the page");
                m
            }
            None => c,
        };
        let found = on.execute_async(&script, vec![]).await.expect("run axe");
        for v in found.as_array().into_iter().flatten() {
            self.problems.push(format!(
                "{what} ({url}, {} px): {}",
                self.width,
                v.as_str().unwrap_or_default()
            ));
        }
        if self.width <= 400 {
            let widths = on
                .execute(
                    "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                    vec![],
                )
                .await
                .expect("measure");
            let (scroll, client) = (widths[0].as_u64().unwrap_or(0), widths[1].as_u64().unwrap_or(0));
            if scroll > client {
                // Name the widest elements outside a scroll box, to say what to fix.
                let culprits = on
                    .execute(
                        "const w = document.documentElement.clientWidth; const out = [];\
                         for (const e of document.querySelectorAll('body *')) {\
                           if (e.parentElement && e.parentElement.closest('.table-wrap')) continue;\
                           const r = e.getBoundingClientRect();\
                           if (r.right > w + 1) out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '') + ' ' + Math.round(r.right) + 'px');\
                         } return out.slice(-4).join(', ');",
                        vec![],
                    )
                    .await
                    .unwrap_or_default();
                self.problems.push(format!(
                    "{what} ({url}, {} px): the page scrolls sideways ({scroll} px content in {client} px): {}",
                    self.width,
                    culprits.as_str().unwrap_or_default()
                ));
            }
        }
    }

    /// Proves the checker can fail: a page with an image without a text alternative must
    /// be reported (through the mirror when there is one).
    async fn detects_a_known_violation(&mut self, c: &Client, app: &TestApp) {
        goto(c, app, "/static/style.css?selftest").await;
        c.execute(
            "document.open('text/html'); document.write(arguments[0]); document.close();",
            vec![json!("<!doctype html><html lang=nl><head><title>x</title></head><body><main><img src='/x.png'></main></body></html>")],
        )
        .await
        .expect("write the test page");
        let before = self.problems.len();
        self.check(c, "selftest").await;
        let found: Vec<String> = self.problems.drain(before..).collect();
        assert!(
            found.iter().any(|p| p.contains("image-alt")),
            "axe did not report a known violation: {found:?}"
        );
    }

    fn finish(self) -> Vec<String> {
        self.problems
    }
}

async fn goto(c: &Client, app: &TestApp, path: &str) {
    c.goto(&format!("{}{path}", app.base)).await.expect("goto");
}

async fn fill(c: &Client, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let el = c
            .find(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap_or_else(|_| panic!("field {name}"));
        let kind = el.attr("type").await.ok().flatten().unwrap_or_default();
        let tag = el.tag_name().await.unwrap_or_default();
        if kind == "hidden" {
            continue;
        }
        if kind == "radio" || kind == "checkbox" {
            c.find(Locator::Css(&format!("[name='{name}'][value='{value}']")))
                .await
                .unwrap_or_else(|_| panic!("option {name}={value}"))
                .click()
                .await
                .expect("choose");
        } else if tag == "select" {
            el.select_by_value(value).await.expect("select");
        } else {
            el.clear().await.expect("clear");
            el.send_keys(value).await.expect("type");
        }
    }
}

async fn submit(c: &Client, form_action_part: &str) {
    follow(
        c,
        &format!("form[action*='{form_action_part}'] button[type=submit]:not([formaction])"),
    )
    .await;
}

/// Clicks what `css` finds (a link or a submit button) and waits for the page it leads to.
async fn follow(c: &Client, css: &str) {
    let button = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("nothing to click: {css}"));
    button.click().await.expect("click");
    // A form post navigates, perhaps after the click has returned: wait until the page we
    // left is gone, so the next step sees the answer and not the form.
    for _ in 0..200 {
        if button.tag_name().await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.wait()
        .for_element(Locator::Css("main"))
        .await
        .expect("the answer to the form");
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css}"))
        .text()
        .await
        .expect("text")
}

fn with_lang(path: &str, lang: &str) -> String {
    if lang == "nl" {
        path.to_string()
    } else if path.contains('?') {
        format!("{path}&lang={lang}")
    } else {
        format!("{path}?lang={lang}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_browser),
    ignore = "needs chromium, chromium-driver and axe-core (apt install chromium chromium-driver; npm ci --prefix tests/browser)"
)]
async fn reporter_journey_in_a_browser_without_javascript() {
    let driver = start_driver().await;
    let mut problems = Vec::new();
    for width in WIDTHS {
        for lang in ["nl", "en"] {
            let app = spawn_app(Backend::Sqlite).await;
            app.setup("anna").await;
            let c = chromium(&driver, width, false).await;
            let mut j = Journey::new(&format!("reporter-{lang}"), width);
            j.mirror = Some((chromium(&driver, width, true).await, app.base.clone()));
            if width == WIDTHS[0] && lang == "nl" {
                j.detects_a_known_violation(&c, &app).await;
            }
            for (path, what) in [
                ("/", "home"),
                ("/privacy", "privacy"),
                ("/toegankelijkheid", "accessibility"),
                ("/opvolgen", "follow-up"),
            ] {
                goto(&c, &app, &with_lang(path, lang)).await;
                j.check(&c, what).await;
            }
            goto(&c, &app, &with_lang("/melden", lang)).await;
            j.check(&c, "form").await;
            submit(&c, "/melden").await;
            j.check(&c, "form-refused").await;

            // A complete report; the meldcode page; Back brings no report text.
            goto(&c, &app, &with_lang("/melden", lang)).await;
            let what = marker("what");
            let fields: Vec<(&str, &str)> = report_fields(&what, "")
                .into_iter()
                .filter(|(n, _)| *n != "form_token" && *n != "lang")
                .collect();
            fill(&c, &fields).await;
            submit(&c, "/melden").await;
            // As shown, perhaps on two lines, but only ever between groups.
            let shown = text_of(&c, "#meldcode").await;
            for line in shown.lines() {
                assert!(
                    line.trim().trim_matches('-').split('-').all(|g| g.len() == 5),
                    "the meldcode breaks inside a group: {shown:?}"
                );
            }
            let code: String = shown.split_whitespace().collect();
            assert!(!code.is_empty(), "a meldcode is shown");
            j.check(&c, "meldcode").await;
            c.back().await.expect("back");
            let source = c.source().await.expect("source");
            let typed = c
                .find(Locator::Css("textarea[name='what']"))
                .await
                .expect("the form again")
                .prop("value")
                .await
                .expect("value")
                .unwrap_or_default();
            assert!(
                typed.is_empty() && !source.contains(&what),
                "Back from the meldcode page brings back the report text"
            );
            j.check(&c, "back-from-meldcode").await;

            // Following up with the code: the thread, a refused empty reply, a reply.
            goto(&c, &app, &with_lang("/opvolgen", lang)).await;
            fill(&c, &[("code", code.as_str())]).await;
            submit(&c, "/opvolgen").await;
            assert!(c.source().await.expect("source").contains(&what));
            j.check(&c, "thread").await;
            submit(&c, "/opvolgen/bericht").await;
            j.check(&c, "reply-refused").await;
            fill(&c, &[("message", "Nog een aanvulling")]).await;
            submit(&c, "/opvolgen/bericht").await;
            j.check(&c, "replied").await;
            c.close().await.expect("close browser");
            if let Some((m, _)) = j.mirror.take() {
                m.close().await.expect("close mirror");
            }
            problems.extend(j.finish());
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_browser),
    ignore = "needs chromium, chromium-driver and axe-core (apt install chromium chromium-driver; npm ci --prefix tests/browser)"
)]
async fn coordinator_journey_in_a_browser() {
    let driver = start_driver().await;
    let mut problems = Vec::new();
    for width in WIDTHS {
        for lang in ["nl", "en"] {
            let app = spawn_app_with(Backend::Sqlite, |s| s.security.require_totp = true).await;
            let c = chromium(&driver, width, true).await;
            let mut j = Journey::new(&format!("coordinator-{lang}"), width);
            if width == WIDTHS[0] && lang == "nl" {
                j.detects_a_known_violation(&c, &app).await;
            }
            let setup = app.setup_path.clone().expect("set-up link");
            goto(&c, &app, &with_lang(&setup, lang)).await;
            j.check(&c, "setup").await;
            submit(&c, "/beheer/inrichten").await;
            j.check(&c, "setup-refused").await;
            fill(
                &c,
                &[
                    ("display_name", "Anna de Vries"),
                    ("username", "anna"),
                    ("password", PASSWORD),
                    ("password_repeat", PASSWORD),
                ],
            )
            .await;
            submit(&c, "/beheer/inrichten").await;
            assert!(!text_of(&c, "#recovery-key").await.is_empty());
            j.check(&c, "recovery-key").await;
            follow(&c, "a.button").await;
            j.check(&c, "second-factor").await;
            let secret = text_of(&c, "#totp-secret").await;
            fill(&c, &[("code", totp_code(&secret, T0).as_str())]).await;
            submit(&c, "/beheer/tweede-factor").await;
            j.check(&c, "recovery-codes").await;

            // A report arrives; the inbox, the report, a reply, a refused and a real relabel.
            app.submit_report(&app.browser(), &marker("what")).await;
            goto(&c, &app, &with_lang("/beheer", lang)).await;
            j.check(&c, "inbox").await;
            follow(&c, "table.inbox td a").await;
            j.check(&c, "report").await;
            fill(&c, &[("message", "Dank voor uw melding. Wanneer gebeurde dit?")]).await;
            submit(&c, "/bericht").await;
            j.check(&c, "replied").await;
            submit(&c, "/ketenschakel").await;
            j.check(&c, "relabel-refused").await;
            c.find(Locator::Css("#label-code"))
                .await
                .expect("chain link")
                .select_by_value("preventie")
                .await
                .expect("choose");
            c.find(Locator::Css("#label-reason"))
                .await
                .expect("reason")
                .send_keys("De gedragscode ontbreekt")
                .await
                .expect("type");
            submit(&c, "/ketenschakel").await;
            j.check(&c, "relabelled").await;
            for (path, what) in [
                ("/beheer/overzicht", "overview"),
                ("/beheer/register", "register"),
                ("/beheer/coordinatoren", "coordinators"),
                ("/beheer/groepen", "groups"),
                ("/beheer/uitgaand", "outbox"),
                ("/beheer/logboek", "audit"),
                ("/beheer/instellingen", "settings"),
                ("/beheer/wachtwoord", "password"),
                ("/beheer/mondeling", "oral-report"),
            ] {
                goto(&c, &app, &with_lang(path, lang)).await;
                j.check(&c, what).await;
            }
            c.close().await.expect("close browser");
            problems.extend(j.finish());
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
