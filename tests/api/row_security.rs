//! Organisations on PostgreSQL are kept apart by the database itself (migration 0023,
//! SECURITY.md "Organisations on PostgreSQL: row-level security"): every table of an
//! organisation's data has forced row-level security, the service's queries run as a role
//! that owns no table, and a query that names no organisation (or a session that names
//! none) gets nothing of another organisation. PostgreSQL only: on SQLite an organisation is
//! a database file of its own.

use meldpunt::storage::Store;
use sqlx::Connection;

use crate::helpers::{fresh_pg_database, spawn_app, Backend, PASSWORD, PG_ENV, T0};

/// Tables of the installation rather than of an organisation: no org_id, no row security.
const INSTALLATION_TABLES: [&str; 3] = ["_sqlx_migrations", "organisations", "organisation_log"];

fn postgres() -> Backend {
    Backend::postgres().unwrap_or_else(|| panic!("{PG_ENV} is not set"))
}

fn pool(store: &Store) -> &sqlx::PgPool {
    match store {
        Store::Postgres(p) => p,
        Store::Sqlite(_) => panic!("a PostgreSQL store"),
    }
}

async fn scalar(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool(store))
        .await
        .expect(sql)
}

async fn run(store: &Store, sql: &str, texts: &[&str]) -> u64 {
    let mut q = sqlx::query(sql);
    for t in texts {
        q = q.bind(t.to_string());
    }
    q.execute(pool(store)).await.expect(sql).rows_affected()
}

/// A report row as the intake would leave it (no content needed for what is tested here).
const INSERT_REPORT: &str = "INSERT INTO reports (id, locator_hash, key_commitment, received_on, status, chain_label, \
     suggested_chain_label, category, subject_role, last_activity_on) \
     VALUES ($1, decode(md5($1), 'hex'), '\\x00', '2026-11-30', 'nieuw', 'repressie', 'repressie', 'fraude', 'ambtenaar', '2026-11-30')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_postgres),
    ignore = "needs PostgreSQL: set MELDPUNT_TEST_POSTGRES_URL (README, Tests)"
)]
async fn two_organisations_on_one_database_see_only_their_own_rows() {
    // Organisation 1: the app as every other test has it, set up, with a report.
    let app = spawn_app(postgres()).await;
    let (coord, _) = app.setup("anna").await;
    app.submit_report(&app.browser(), "Fraude bij inkoop").await;
    let one = &app.state.store;
    let one_id = app.report_ids().await.pop().expect("a report");
    let one_pepper = one.pepper_check().await.expect("read").expect("a pepper check");
    let one_groups = one.groups().await.expect("groups");
    assert!(!one_groups.is_empty());
    // The app moves its day once at start (a background task); done here first, that one
    // changes nothing later.
    one.recount_overdue("2026-11-30").await.expect("recount 1");
    let (one_version, _) = one.overview_version().await.expect("version");

    // Organisation 2 on the same database: a store of its own, which sees none of it.
    let two = Store::connect_organisation(&app.db_url, 2, 2)
        .await
        .expect("organisation 2");
    for table in [
        "reports",
        "report_wraps",
        "report_fields",
        "coordinators",
        "coordinator_groups",
        "group_members",
        "sessions",
        "key_endorsements",
        "organisation",
        "pepper_check",
        "overview_counts",
        "audit_events",
    ] {
        assert_eq!(
            scalar(&two, &format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "organisation 2 sees {table} of organisation 1"
        );
        assert!(
            scalar(one, &format!("SELECT COUNT(*) FROM {table}")).await > 0,
            "organisation 1 has {table}"
        );
    }
    assert!(two.organisation().await.expect("read").is_none());
    assert!(two.pepper_check().await.expect("read").is_none());
    assert!(two.coordinators().await.expect("read").is_empty());
    assert!(two.groups().await.expect("read").is_empty());
    // Organisation 1's report id names nothing in organisation 2, to read, change or delete.
    assert_eq!(
        run(&two, "UPDATE reports SET status = 'gesloten' WHERE id = $1", &[&one_id]).await,
        0
    );
    assert_eq!(run(&two, "DELETE FROM reports WHERE id = $1", &[&one_id]).await, 0);
    // Its overview has its own single rows (made when its store was opened).
    let (two_version, two_day) = two.overview_version().await.expect("organisation 2's overview");
    assert_eq!((two_version, two_day.as_str()), (0, ""));

    // Keys unique per organisation: the same username, group names and single rows again.
    let (anna2, _) = meldpunt::features::coordinator::account::new_coordinator(
        &app.state.kdf,
        "anna",
        "Anna Twee",
        PASSWORD,
        "active",
        T0,
    )
    .await
    .expect("coordinator");
    two.insert_coordinator(&anna2)
        .await
        .expect("the same username in organisation 2");
    for (name, label) in &one_groups {
        two.ensure_group(name, label)
            .await
            .expect("the same group name in organisation 2");
        assert!(two
            .add_signed_member(name, &anna2.id, b"signer", b"one")
            .await
            .expect("member"));
        assert!(two
            .add_signed_member(name, &anna2.id, b"signer", b"two")
            .await
            .expect("member again"));
    }
    two.set_pepper_check(b"organisation two").await.expect("pepper check");
    two.set_pepper_check(b"organisation two, again")
        .await
        .expect("pepper check again");
    assert_eq!(
        two.pepper_check().await.expect("read").as_deref(),
        Some(&b"organisation two, again"[..])
    );
    assert_eq!(one.pepper_check().await.expect("read"), Some(one_pepper));
    // Flood counters per organisation: organisation 2 filling its hour leaves 1's alone.
    let hour = T0 / 3600;
    assert!(two.flood_take("test", hour, 5, 5).await.expect("take"));
    assert!(!two.flood_take("test", hour, 1, 5).await.expect("take"));
    assert_eq!(one.flood_used("test", hour).await.expect("used"), 0);
    assert!(one.flood_take("test", hour, 5, 5).await.expect("take"));

    // A report of organisation 2: counted in its overview (the triggers), not in 1's.
    run(&two, INSERT_REPORT, &["r2-row-security-test"]).await;
    assert_eq!(scalar(&two, "SELECT COUNT(*) FROM reports").await, 1);
    assert_eq!(scalar(one, "SELECT COUNT(*) FROM reports").await, 1);
    let kept_two = two.overview_kept().await.expect("overview 2");
    assert_eq!(kept_two.counts.iter().map(|c| c.n).sum::<i64>(), 1);
    assert!(kept_two.version > 0, "organisation 2's version moved");
    let kept_one = one.overview_kept().await.expect("overview 1");
    assert_eq!(kept_one.counts.iter().map(|c| c.n).sum::<i64>(), 1);
    assert_eq!(kept_one.version, one_version, "organisation 1's version did not move");
    let (_, one_day) = one.overview_version().await.expect("version");
    two.recount_overdue("2027-12-31").await.expect("recount 2");
    assert_eq!(two.overview_version().await.expect("version").1, "2027-12-31");
    assert_eq!(
        one.overview_version().await.expect("version").1,
        one_day,
        "1's day did not move"
    );

    // Organisation 1 still has exactly what it had, and works as before.
    assert_eq!(scalar(one, "SELECT COUNT(*) FROM coordinators").await, 1);
    assert_eq!(
        one.coordinators()
            .await
            .expect("read")
            .iter()
            .map(|c| c.username.as_str())
            .collect::<Vec<_>>(),
        ["anna"]
    );
    assert_eq!(one.groups().await.expect("groups"), one_groups);
    let inbox = coord.get("/beheer").await;
    assert_eq!(inbox.status, reqwest::StatusCode::OK, "{}", inbox.body);
    let mut listed = crate::helpers::links(&inbox.body, "/beheer/melding/");
    listed.retain(|h| !h["/beheer/melding/".len()..].contains(['/', '?']));
    listed.dedup();
    assert_eq!(listed, [format!("/beheer/melding/{one_id}")], "{}", inbox.body);
    // A DELETE that names no organisation deletes only the organisation's own rows.
    assert_eq!(run(&two, "DELETE FROM reports", &[]).await, 1);
    assert_eq!(scalar(one, "SELECT COUNT(*) FROM reports").await, 1);
    two.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_postgres),
    ignore = "needs PostgreSQL: set MELDPUNT_TEST_POSTGRES_URL (README, Tests)"
)]
async fn a_session_that_names_no_organisation_sees_and_writes_nothing() {
    let app = spawn_app(postgres()).await;
    app.setup("anna").await;
    app.submit_report(&app.browser(), "Fraude bij inkoop").await;
    // A plain connection as the service role, without `meldpunt.org`. (The suite connects
    // as a superuser, which row security does not hold: the service never queries as it.)
    let mut conn = sqlx::PgConnection::connect(&app.db_url).await.expect("connect");
    sqlx::query("SET ROLE meldpunt_service")
        .execute(&mut conn)
        .await
        .expect("set role");
    for table in [
        "reports",
        "coordinators",
        "sessions",
        "organisation",
        "overview_version",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!(n, 0, "{table} without an organisation");
    }
    let updated = sqlx::query("UPDATE reports SET status = 'gesloten'")
        .execute(&mut conn)
        .await
        .expect("update")
        .rows_affected();
    assert_eq!(updated, 0);
    // An insert without an organisation fails, whether it names one or not.
    let unnamed = sqlx::query("INSERT INTO coordinator_groups (name, label) VALUES ('x', 'x')")
        .execute(&mut conn)
        .await;
    assert!(unnamed.is_err(), "inserted a row of no organisation");
    let named = sqlx::query("INSERT INTO coordinator_groups (org_id, name, label) VALUES (1, 'x', 'x')")
        .execute(&mut conn)
        .await
        .expect_err("the policy refuses a row of another organisation");
    assert!(named.to_string().contains("row-level security"), "{named}");
    // Naming an organisation that has no rows sees nothing either.
    sqlx::query("SET meldpunt.org = '2'")
        .execute(&mut conn)
        .await
        .expect("set");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(n, 0);
    // And the service role cannot turn row security off.
    let off = sqlx::query("ALTER TABLE reports NO FORCE ROW LEVEL SECURITY")
        .execute(&mut conn)
        .await;
    assert!(off.is_err(), "the service role altered a table");
    conn.close().await.ok();
    assert_eq!(app.count("reports").await, 1, "organisation 1 still sees its report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_postgres),
    ignore = "needs PostgreSQL: set MELDPUNT_TEST_POSTGRES_URL (README, Tests)"
)]
async fn every_table_of_an_organisation_has_forced_row_security_and_the_service_owns_none() {
    let admin = std::env::var(PG_ENV).expect("a PostgreSQL server");
    let db = fresh_pg_database(&admin).await;
    let store = Store::connect(&db.url, 2).await.expect("connect");
    // The service's own connections run as the role, with organisation 1.
    let who: (String, String) = sqlx::query_as("SELECT current_user::text, current_setting('meldpunt.org')")
        .fetch_one(pool(&store))
        .await
        .expect("who");
    assert_eq!(who, ("meldpunt_service".to_string(), "1".to_string()));
    let mut owner = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let (owned, privileged): (i64, bool) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM pg_class WHERE relowner = r.oid), r.rolsuper OR r.rolbypassrls \
         FROM pg_roles r WHERE r.rolname = 'meldpunt_service'",
    )
    .fetch_one(&mut owner)
    .await
    .expect("role");
    assert_eq!(owned, 0, "the service role owns a relation");
    assert!(!privileged, "the service role bypasses row security");
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE tableowner = 'meldpunt_service'")
        .fetch_one(&mut owner)
        .await
        .expect("tables");
    assert_eq!(tables, 0);
    // Every table but the installation's: forced row security, an org_id, the policy.
    let unguarded: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') \
           AND c.relname <> ALL ($1) \
           AND NOT (c.relrowsecurity AND c.relforcerowsecurity \
                    AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped) \
                    AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'organisation')) \
         ORDER BY 1",
    )
    .bind(INSTALLATION_TABLES.map(String::from).to_vec())
    .fetch_all(&mut owner)
    .await
    .expect("tables");
    assert!(
        unguarded.is_empty(),
        "tables without org_id and forced row security: {unguarded:?}"
    );
    let guarded: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relforcerowsecurity",
    )
    .fetch_one(&mut owner)
    .await
    .expect("count");
    assert!(guarded >= 27, "{guarded} tables");
    // The migrations' bookkeeping is the owner's: the service role may not touch it.
    let bookkeeping = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(pool(&store))
        .await;
    assert!(bookkeeping.is_err(), "the service role reads _sqlx_migrations");
    owner.close().await.ok();
    store.close().await;
}

#[tokio::test]
async fn an_organisation_store_is_for_postgresql_only() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let err = Store::connect_organisation(&url, 1, 2).await.expect_err("refused");
    assert!(err.to_string().contains("file of its own"), "{err}");
    assert!(!dir.path().join("x.db").exists());
}
