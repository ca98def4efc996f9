//! Inbox and overview page times with 100 and with 100,000 reports seeded, measured in one
//! run over real HTTP on loopback, as the median of repeated requests. Run with
//! `cargo bench --bench inbox` (SQLite), or with `MELDPUNT_BENCH_POSTGRES_URL` set to a
//! server's admin URL for PostgreSQL (each site gets its own database, dropped at the end),
//! where `MELDPUNT_BENCH_ANALYZE=0` leaves the seeded tables without fresh statistics, as
//! after a bulk load or a restore; results go to standard output (copied into BENCHMARKS.md).
//! Seeding writes the clear columns and dummy wraps directly: the inbox decrypts nothing,
//! so the sealed blobs do not change what is measured.

use std::time::{Duration, Instant};

use meldpunt::clock::Clock;
use meldpunt::features::coordinator::account;
use meldpunt::settings::Settings;
use meldpunt::startup::Application;
use meldpunt::storage::Store;
use rand::Rng;

const PASSWORD: &str = "lange zin als wachtwoord 42";
const T0: i64 = 1_796_040_000; // 2026-11-30
const T0_DAY: &str = "2026-11-30";

/// One seeded report's clear columns.
struct SeedRow {
    id: String,
    locator: Vec<u8>,
    received: String,
    acked: Option<String>,
    status: &'static str,
    label: &'static str,
    category: &'static str,
    subject: &'static str,
    next_due: String,
}

fn seed_rows(n: usize) -> Vec<SeedRow> {
    let mut rng = rand::thread_rng();
    let statuses = ["nieuw", "in_behandeling", "in_onderzoek", "afgerond", "gesloten"];
    let labels = ["pro-actie", "preventie", "preparatie", "repressie", "nazorg"];
    let categories = ["corruptie", "fraude", "informatie", "omgangsvormen", "anders"];
    let subjects = ["ambtenaar", "bestuurder", "raadslid", "extern", "onbekend"];
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
    (0..n)
        .map(|_| {
            let (id, _) = meldpunt::ids::new_id();
            let received = today - chrono::Days::new(rng.gen_range(0..3 * 365));
            let received_s = received.format("%Y-%m-%d").to_string();
            // Most reports of past years are closed; recent ones are open.
            let status = if received < today - chrono::Days::new(120) && rng.gen_bool(0.95) {
                statuses[rng.gen_range(3..5)]
            } else {
                statuses[rng.gen_range(0..3)]
            };
            let acked = (status != "nieuw").then(|| {
                (received + chrono::Days::new(rng.gen_range(1..7)))
                    .format("%Y-%m-%d")
                    .to_string()
            });
            let next_due = meldpunt::domain::deadlines::next_due_string(&received_s, acked.as_deref(), None, status);
            let mut locator = [0u8; 32];
            rng.fill(&mut locator);
            SeedRow {
                id,
                locator: locator.to_vec(),
                received: received_s,
                acked,
                status,
                label: labels[rng.gen_range(0..5)],
                category: categories[rng.gen_range(0..5)],
                subject: subjects[rng.gen_range(0..5)],
                next_due,
            }
        })
        .collect()
}

const REPORT_SQL: &str =
    "INSERT INTO reports (id, locator_hash, locator_version, key_commitment, received_on, acknowledged_on, status, \
    chain_label, suggested_chain_label, category, subject_role, last_activity_on, next_due_on) \
    VALUES ($1, $2, 2, $3, $4, $5, $6, $7, $7, $8, $9, $4, $10)";
const WRAP_SQL: &str =
    "INSERT INTO report_wraps (report_id, recipient_kind, recipient_id, wrapped) VALUES ($1, 'coordinator', $2, $3)";

async fn seed(store: &Store, coordinator: &str, n: usize, analyze: bool) {
    let rows = seed_rows(n);
    let counts = ["status", "label", "category", "subject"]
        .iter()
        .zip(["status", "chain_label", "category", "subject_role"])
        .map(|(dim, col)| {
            format!(
                "INSERT INTO inbox_counts (coordinator_id, dimension, value, n) SELECT w.recipient_id, '{dim}', r.{col}, COUNT(*) FROM reports r \
                 JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' GROUP BY w.recipient_id, r.{col}"
            )
        })
        .collect::<Vec<_>>();
    match store {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin().await.expect("tx");
            for r in &rows {
                sqlx::query(REPORT_SQL)
                    .bind(&r.id)
                    .bind(&r.locator)
                    .bind(vec![0u8; 32])
                    .bind(&r.received)
                    .bind(&r.acked)
                    .bind(r.status)
                    .bind(r.label)
                    .bind(r.category)
                    .bind(r.subject)
                    .bind(&r.next_due)
                    .execute(&mut *tx)
                    .await
                    .expect("report");
                sqlx::query(WRAP_SQL)
                    .bind(&r.id)
                    .bind(coordinator)
                    .bind(vec![0u8; 83])
                    .execute(&mut *tx)
                    .await
                    .expect("wrap");
            }
            sqlx::query("DELETE FROM inbox_counts")
                .execute(&mut *tx)
                .await
                .expect("clear");
            for sql in &counts {
                sqlx::query(sql).execute(&mut *tx).await.expect("counts");
            }
            tx.commit().await.expect("commit");
            if analyze {
                sqlx::query("ANALYZE").execute(pool).await.expect("analyze");
            }
        }
        Store::Postgres(pool) => {
            // One statement per 5,000 rows (arrays unnested): row by row over a socket takes
            // many minutes for 100,000 reports.
            let mut tx = pool.begin().await.expect("tx");
            for batch in rows.chunks(5_000) {
                let col = |f: fn(&SeedRow) -> String| batch.iter().map(f).collect::<Vec<String>>();
                sqlx::query(
                    "INSERT INTO reports (id, locator_hash, locator_version, key_commitment, received_on, acknowledged_on, status, \
                     chain_label, suggested_chain_label, category, subject_role, last_activity_on, next_due_on) \
                     SELECT id, loc, 2, '\\x00'::bytea, rec, ack, st, lab, lab, cat, sub, rec, due \
                     FROM UNNEST($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) \
                     AS t(id, loc, rec, ack, st, lab, cat, sub, due)",
                )
                .bind(col(|r| r.id.clone()))
                .bind(batch.iter().map(|r| r.locator.clone()).collect::<Vec<Vec<u8>>>())
                .bind(col(|r| r.received.clone()))
                .bind(batch.iter().map(|r| r.acked.clone()).collect::<Vec<Option<String>>>())
                .bind(col(|r| r.status.to_string()))
                .bind(col(|r| r.label.to_string()))
                .bind(col(|r| r.category.to_string()))
                .bind(col(|r| r.subject.to_string()))
                .bind(col(|r| r.next_due.clone()))
                .execute(&mut *tx)
                .await
                .expect("reports");
                sqlx::query(
                    "INSERT INTO report_wraps (report_id, recipient_kind, recipient_id, wrapped) \
                     SELECT id, 'coordinator', $2, '\\x00'::bytea FROM UNNEST($1::text[]) AS t(id)",
                )
                .bind(col(|r| r.id.clone()))
                .bind(coordinator)
                .execute(&mut *tx)
                .await
                .expect("wraps");
            }
            sqlx::query("DELETE FROM inbox_counts")
                .execute(&mut *tx)
                .await
                .expect("clear");
            for sql in &counts {
                sqlx::query(sql).execute(&mut *tx).await.expect("counts");
            }
            tx.commit().await.expect("commit");
            if analyze {
                // What autovacuum does soon after a bulk load; without it a vacuum may start
                // in the middle of the measurements.
                sqlx::query("VACUUM (ANALYZE)").execute(pool).await.expect("analyze");
            }
        }
    }
}

struct Site {
    base: String,
    client: reqwest::Client,
    cookie: String,
    /// The PostgreSQL database made for this site, dropped at the end.
    pg: Option<String>,
    store: meldpunt::storage::Store,
    _dir: tempfile::TempDir,
}

/// A fresh PostgreSQL database on the server `admin` names: (its URL, its name).
async fn pg_database(admin: &str) -> (String, String) {
    use sqlx::Connection;
    let name = format!("mp_bench_{}", meldpunt::ids::new_id().0);
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("connect");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create");
    let mut url = url::Url::parse(admin).expect("url");
    url.set_path(&name);
    (url.to_string(), name)
}

async fn drop_pg_database(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

async fn site(n: usize) -> Site {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = Settings::defaults().expect("defaults");
    s.http.bind = "127.0.0.1:0".into();
    let pg = match std::env::var("MELDPUNT_BENCH_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => Some(pg_database(&admin).await),
        _ => None,
    };
    s.database.url = match &pg {
        Some((url, _)) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("b.db").display()),
    };
    s.security.pepper_file = dir.path().join("pepper.key");
    s.security.require_totp = false;
    s.notify.poll_seconds = 3600;
    s.log.filter = "warn".into();
    let app = Application::build(s, Clock::fixed(T0)).await.expect("app");
    let state = app.state();
    let (row, _) = account::new_coordinator(&state.kdf, "anna", "Anna", PASSWORD, "active", T0)
        .await
        .expect("coordinator");
    state.store.insert_coordinator(&row).await.expect("insert");
    let analyze = std::env::var("MELDPUNT_BENCH_ANALYZE")
        .map(|v| v != "0")
        .unwrap_or(true);
    seed(&state.store, &row.id, n, analyze).await;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = client
        .post(format!("{base}/beheer/inloggen"))
        .header("Origin", base.as_str())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("username", "anna"), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    Site {
        base,
        client,
        cookie,
        pg: pg.map(|(_, name)| name),
        store: state.store.clone(),
        _dir: dir,
    }
}

impl Site {
    async fn get(&self, path: &str) -> (Duration, String) {
        let started = Instant::now();
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .expect("get");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let body = res.text().await.expect("body");
        (started.elapsed(), body)
    }

    /// Median of `n` timed requests after a warm-up.
    async fn median(&self, path: &str, n: usize) -> Duration {
        for _ in 0..3 {
            self.get(path).await;
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(self.get(path).await.0);
        }
        times.sort();
        times[n / 2]
    }

    /// Like [`Site::median`], with the overview's version raised before each request, as a
    /// change to any report does: the page then computes its aggregates anew.
    async fn median_after_change(&self, path: &str, n: usize) -> Duration {
        let bump = "UPDATE overview_version SET v = v + 1 WHERE id = 1";
        let mut times = Vec::with_capacity(n);
        for _ in 0..n + 3 {
            match &self.store {
                Store::Sqlite(p) => sqlx::query(bump).execute(p).await.map(|_| ()),
                Store::Postgres(p) => sqlx::query(bump).execute(p).await.map(|_| ()),
            }
            .expect("bump");
            times.push(self.get(path).await.0);
        }
        let mut times = times.split_off(3);
        times.sort();
        times[n / 2]
    }

    /// The link to page `k` (1-based), following "next" links.
    async fn page_path(&self, k: usize) -> String {
        let mut path = "/beheer".to_string();
        for _ in 1..k {
            let (_, body) = self.get(&path).await;
            let before = body.split("\" rel=\"next\"").next().expect("next link");
            path = before
                .rsplit("href=\"")
                .next()
                .expect("href")
                .replace("&amp;", "&")
                .replace("&#38;", "&");
        }
        path
    }
}

/// A table row: the median at 100 and at 100,000 reports, and their ratio.
fn print_row(name: &str, small: Duration, large: Duration) {
    println!(
        "| {name} | {:.2} | {:.2} | {:.2} |",
        ms(small),
        ms(large),
        ms(large) / ms(small)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = 40;
    let small = site(100).await;
    let large = site(100_000).await;
    println!("| page | 100 reports (ms) | 100,000 reports (ms) | ratio |");
    println!("|---|---|---|---|");
    let mut rows = vec![(
        "inbox, first page".to_string(),
        "/beheer".to_string(),
        "/beheer".to_string(),
    )];
    rows.push((
        "inbox, page 2".into(),
        small.page_path(2).await,
        large.page_path(2).await,
    ));
    rows.push((
        "inbox, first page, nearest deadline first".into(),
        "/beheer?sort=deadline".into(),
        "/beheer?sort=deadline".into(),
    ));
    rows.push((
        "inbox, filtered (status in behandeling)".into(),
        "/beheer?status=in_behandeling".into(),
        "/beheer?status=in_behandeling".into(),
    ));
    rows.push((
        "inbox, overdue only".into(),
        "/beheer?overdue=1".into(),
        "/beheer?overdue=1".into(),
    ));
    for (name, a, b) in rows {
        let (ta, tb) = (small.median(&a, rounds).await, large.median(&b, rounds).await);
        print_row(&name, ta, tb);
    }
    let deep = large.page_path(40).await;
    let t = large.median(&deep, rounds).await;
    println!("| inbox, page 40 (100,000 only) | – | {:.2} | – |", ms(t));
    let (ta, tb) = (
        small.median("/beheer/overzicht", rounds).await,
        large.median("/beheer/overzicht", rounds).await,
    );
    print_row("chain overview", ta, tb);
    let (ta, tb) = (
        small.median_after_change("/beheer/overzicht", rounds).await,
        large.median_after_change("/beheer/overzicht", rounds).await,
    );
    print_row("chain overview, first request after a change", ta, tb);
    // Where the overview's time goes: each read of what the database keeps, and adding
    // them up, without HTTP (medians of 10, milliseconds).
    println!();
    println!("| overview step | 100 reports (ms) | 100,000 reports (ms) | rows at 100 | rows at 100,000 |");
    println!("|---|---|---|---|---|");
    let today = T0_DAY;
    for step in ["version", "kept counts, one snapshot", "aggregate"] {
        let mut out = Vec::new();
        for site in [&small, &large] {
            let kept = site.store.overview_kept().await.expect("kept");
            assert_eq!(kept.day, today, "the overdue counts are kept for today");
            let mut times = Vec::new();
            let mut rows = 0;
            for _ in 0..10 {
                let start = Instant::now();
                rows = match step {
                    "version" => {
                        std::hint::black_box(site.store.overview_version().await.expect("version"));
                        1
                    }
                    "kept counts, one snapshot" => {
                        let k = site.store.overview_kept().await.expect("kept");
                        k.counts.len() + k.acks.len() + k.overdue.len()
                    }
                    _ => {
                        std::hint::black_box(meldpunt::features::coordinator::overview::aggregate_kept(
                            &kept.counts,
                            &kept.acks,
                            &kept.overdue,
                        ));
                        kept.counts.len() + kept.acks.len() + kept.overdue.len()
                    }
                };
                times.push(start.elapsed());
            }
            times.sort();
            out.push((times[times.len() / 2], rows));
        }
        println!(
            "| {step} | {:.2} | {:.2} | {} | {} |",
            ms(out[0].0),
            ms(out[1].0),
            out[0].1,
            out[1].1
        );
    }
    if let Ok(admin) = std::env::var("MELDPUNT_BENCH_POSTGRES_URL") {
        for name in [&small.pg, &large.pg].into_iter().flatten() {
            drop_pg_database(&admin, name).await;
        }
    }
}
