//! Storage on SQLite (embedded default) or PostgreSQL, chosen from the URL scheme: two
//! concrete pools behind one enum, per-backend migrations with the same versions, and the
//! queries (shared SQL with `$n` placeholders). Stores only sealed blobs and the fields
//! DESIGN.md lists as clear; never logs row contents.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Connection;

pub(crate) mod counts;
mod evidence;
mod floods;
mod lifecycle;
mod organisations;
mod outage;
mod queries;
mod retention;
mod routing_notify;
pub mod serving;
mod totp;
mod triage;
mod trust;
pub use evidence::FileRow;
pub(crate) use evidence::{segments_table, FILES_WITHOUT_CONTENT};
pub use lifecycle::RowBatch;
pub use organisations::{CoordinatorLink, OrganisationEntry, OrganisationEvent};
pub use outage::{is_conflict, is_outage, is_outage_chain, retry_conflicts};
pub use queries::*;
pub use retention::*;
pub use routing_notify::*;
pub use triage::*;
pub use trust::{Endorsement, SignedMember};

/// Which database the URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            anyhow::bail!("database.url: unsupported database '{scheme}'; use sqlite:// or postgres://")
        }
    }
}

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the store holds; the body is expanded once
/// per backend, so each expansion is checked against that backend's types.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::storage::Store::Sqlite($pool) => $body,
            $crate::storage::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A connection handed back while still inside a transaction is closed, never reused.
/// That happens when a COMMIT or ROLLBACK failed (a full disk, a lost write lock): sqlx then
/// still counts the transaction as open, so the next `begin` on that connection would only
/// make a savepoint, its "commit" would release the savepoint and nothing would reach the
/// database, while the caller (a reporter waiting for a meldcode) was told it did. Closing
/// the connection makes SQLite or PostgreSQL roll back whatever was left open.
fn fit_for_reuse(in_transaction: bool) -> bool {
    if in_transaction {
        tracing::warn!("closing a database connection left inside a failed transaction");
    }
    !in_transaction
}

#[cfg(unix)]
fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_dir: &std::path::Path) -> std::io::Result<u64> {
    Ok(u64::MAX)
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// `path` with `suffix` added to its file name (`meldpunt.db` → `meldpunt.db-wal`; a suffix
/// without a leading `-` gets a dot: `meldpunt.db.restoring`).
pub(crate) fn sibling(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    if !suffix.starts_with('-') {
        name.push(".");
    }
    name.push(suffix);
    path.with_file_name(name)
}

/// The file beside an SQLite database that holds its evidence segments
/// (`meldpunt.db` → `meldpunt.db-evidence`).
pub fn evidence_file(database: &std::path::Path) -> std::path::PathBuf {
    sibling(database, "-evidence")
}

/// What a start is about to create where nothing was: a new SQLite database with the files
/// beside it, the folders made for them, and a new pepper file. A start refused later (no
/// route to a group, a migration that fails) takes them away again, so trying a setting
/// leaves nothing behind that a later start would take for an installation.
#[derive(Debug, Default)]
pub struct NewFiles {
    files: Vec<std::path::PathBuf>,
    dirs: Vec<std::path::PathBuf>,
}

impl NewFiles {
    /// Notes what does not exist yet for the database `url` and the pepper at `pepper`.
    pub fn before_start(url: &str, pepper: &std::path::Path) -> NewFiles {
        let mut new = NewFiles::default();
        if let Ok(db) = serving::sqlite_path(url) {
            if !db.exists() {
                new.note_dirs(&db);
                new.files.push(db.clone());
                for suffix in ["-wal", "-shm", "-journal", "lock"] {
                    new.files.push(sibling(&db, suffix));
                }
                let evidence = evidence_file(&db);
                new.files.push(sibling(&evidence, "-journal"));
                new.files.push(evidence);
            }
        }
        if !pepper.exists() {
            new.note_dirs(pepper);
            new.files.push(pepper.to_path_buf());
        }
        new
    }

    /// The folders above `file` that do not exist, deepest first.
    fn note_dirs(&mut self, file: &std::path::Path) {
        let mut dir = file.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            if !self.dirs.iter().any(|known| known == d) {
                self.dirs.push(d.to_path_buf());
            }
            dir = d.parent();
        }
    }

    /// Removes what was noted (folders only if empty).
    pub fn remove(&self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        let mut dirs = self.dirs.clone();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The database file private to the service's user, like the pepper and the evidence file:
/// made empty with mode 0600 before SQLite opens it (which would create it with the umask,
/// 0644 as a rule), so its write-ahead log and shared-memory file, which SQLite gives the
/// database file's mode, are private too. A file of an earlier version, or one put in place
/// by hand, is made private with a line in the log.
fn make_database_private(db: &std::path::Path, create: bool) -> anyhow::Result<()> {
    if create && !db.exists() {
        // Another instance starting together may have made it meanwhile.
        if let Err(e) = create_private_new(db) {
            if !db.exists() {
                return Err(e);
            }
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        for file in [db.to_path_buf(), wal.into(), shm.into()] {
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(|e| anyhow::anyhow!("cannot make {} private: {e}", file.display()))?;
                tracing::warn!(file = %file.display(), was = format!("{:o}", mode & 0o777), "made a database file private to the service's user");
            }
        }
    }
    Ok(())
}

/// Creates a new, empty file readable by its owner only; fails if it exists.
pub(crate) fn create_private_new(path: &std::path::Path) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .map(|_| ())
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot create {}", path.display())))
}

/// Sealed evidence segments live in their own SQLite file, attached to every connection as
/// `evidence`; queries name `evidence_segments` without a schema and SQLite finds it there.
/// The main file keeps its write-ahead log, which would write every uploaded byte twice
/// (into the log, then into the file at the checkpoint) through 4 KiB pages; the evidence
/// file uses a rollback journal, in which pages appended by an upload are written once and
/// never journaled, and 64 KiB pages. Measured: uploads 1.6-2x as fast (BENCHMARKS.md).
/// Its pages are overwritten when deleted and its commits synced, like the main file's.
async fn attach_evidence(conn: &mut sqlx::SqliteConnection, file: &std::path::Path) -> sqlx::Result<()> {
    let path = file
        .to_str()
        .ok_or_else(|| sqlx::Error::Configuration("the evidence file's path is not UTF-8".into()))?;
    sqlx::query("ATTACH DATABASE $1 AS evidence")
        .bind(path)
        .execute(&mut *conn)
        .await?;
    for pragma in [
        // These two only take effect while the file is new and empty. Incremental
        // auto-vacuum: after a destruction the freed (already zeroed) pages are cut off the
        // end of the file without rewriting the rest, which a VACUUM would do while every
        // download waits.
        "PRAGMA evidence.page_size = 65536",
        "PRAGMA evidence.auto_vacuum = INCREMENTAL",
        "PRAGMA evidence.journal_mode = TRUNCATE",
        "PRAGMA evidence.synchronous = FULL",
        "PRAGMA evidence.secure_delete = ON",
        // Segments are written once and read once per download: a small cache (2 MiB) keeps
        // an idle connection small.
        "PRAGMA evidence.cache_size = -2048",
    ] {
        sqlx::query(pragma).execute(&mut *conn).await?;
    }
    sqlx::query(&evidence::segments_table("evidence"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Databases made before the evidence file existed (and every backup, which is one file)
/// keep their segments in the main file: they are copied into the evidence file in one
/// transaction, and only once that is committed is the main file's table dropped, so a
/// crash in between copies again (the same rows) instead of losing any.
async fn move_segments_to_evidence_file(pool: &SqlitePool) -> anyhow::Result<()> {
    let legacy: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'evidence_segments')",
    )
    .fetch_one(pool)
    .await?;
    if !legacy {
        return Ok(());
    }
    let mut conn = pool.acquire().await?;
    let moved = sqlx::query(
        "INSERT OR IGNORE INTO evidence.evidence_segments (file_id, seq, sealed) SELECT file_id, seq, sealed FROM main.evidence_segments",
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // The rows live on in the evidence file, so their old pages need not be zeroed one by
    // one (all of them written twice through the WAL); VACUUM then leaves them out of the
    // rebuilt main file and gives the space back.
    sqlx::query("PRAGMA main.secure_delete = OFF")
        .execute(&mut *conn)
        .await?;
    let dropped = sqlx::query("DROP TABLE IF EXISTS main.evidence_segments")
        .execute(&mut *conn)
        .await;
    sqlx::query("PRAGMA main.secure_delete = ON")
        .execute(&mut *conn)
        .await?;
    dropped?;
    // Also when an earlier start copied everything and was stopped before this point.
    // Only space is at stake: a VACUUM that fails (no room for its copy) is said, not fatal.
    if let Err(e) = sqlx::query("VACUUM main").execute(&mut *conn).await {
        tracing::warn!(error = %e, "could not compact the database after moving its evidence out");
    }
    // A new database has the old table too (the migrations still make it), empty: nothing
    // to tell the operator then.
    if moved > 0 {
        tracing::info!(
            segments = moved,
            "moved the evidence of earlier reports from the database into the evidence file beside it"
        );
    }
    Ok(())
}

/// An SQLite pool on `opts`, its schema brought up to date.
async fn open_sqlite(
    opts: SqliteConnectOptions,
    max_connections: u32,
    min_connections: u32,
) -> anyhow::Result<SqlitePool> {
    let evidence = std::sync::Arc::new(evidence_file(opts.get_filename()));
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .after_connect(move |conn, _| {
            let evidence = evidence.clone();
            Box::pin(async move { attach_evidence(conn, &evidence).await })
        })
        // Each connection is a thread with its own page cache (up to 32 MiB); those opened
        // for a rush are closed once idle for half a minute (sqlx looks every 30 s), so an
        // idle server gives the memory back within a minute. One stays open, its cache warm
        // (none for the later organisations of a shared installation: an idle organisation
        // holds no connection, no thread and no cache).
        .min_connections(min_connections)
        .idle_timeout(Duration::from_secs(30))
        .after_release(|conn, _| {
            Box::pin(async move {
                // The worker thread applies a dropped transaction's rollback in order; a ping
                // waits for it before the state is read.
                conn.ping().await?;
                Ok(fit_for_reuse(conn.is_in_transaction()))
            })
        })
        .connect_with(opts)
        .await?;
    if let Err(e) = SQLITE_MIGRATIONS.run(&pool).await {
        pool.close().await;
        return Err(e.into());
    }
    if let Err(e) = move_segments_to_evidence_file(&pool).await {
        pool.close().await;
        return Err(e);
    }
    Ok(pool)
}

/// Where a PostgreSQL URL points, for messages: `host:port` and the database name. Never
/// the user's password.
fn pg_target(url: &str) -> (String, String) {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("localhost").to_string();
            let port = u.port().unwrap_or(5432);
            let db = percent_encoding::percent_decode_str(u.path().trim_start_matches('/'))
                .decode_utf8_lossy()
                .into_owned();
            (format!("{host}:{port}"), db)
        }
        Err(_) => ("the server in database.url".into(), String::new()),
    }
}

/// A failed connection to PostgreSQL as one sentence that says what to do next, instead of
/// sqlx's text (which repeats the server's message, or only says the pool timed out).
pub(crate) fn explain_pg_error(url: &str, e: sqlx::Error) -> anyhow::Error {
    let (at, db) = pg_target(url);
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000") => anyhow::anyhow!(
            "the PostgreSQL database '{db}' does not exist on {at}: create it first (for example \
             `createdb --owner meldpunt {db}`), or correct the name in database.url"
        ),
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("28P01" | "28000")) => anyhow::anyhow!(
            "PostgreSQL on {at} refused the login ({}): check the user and password in database.url, \
             and the server's pg_hba.conf",
            d.message()
        ),
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => anyhow::anyhow!(
            "cannot reach PostgreSQL on {at}: connection refused. Is the server running, and are the \
             host and port in database.url right?"
        ),
        sqlx::Error::Io(io) => {
            anyhow::anyhow!("cannot reach PostgreSQL on {at}: {io}. Check the host and port in database.url")
        }
        sqlx::Error::Tls(t) => anyhow::anyhow!("the TLS connection to PostgreSQL on {at} failed: {t}"),
        sqlx::Error::Database(d) => anyhow::anyhow!("PostgreSQL on {at}: {}", d.message()),
        _ => anyhow::anyhow!("PostgreSQL on {at}: {e}"),
    }
}

/// No answer from PostgreSQL within the connect timeout.
pub(crate) fn explain_pg_timeout(url: &str) -> anyhow::Error {
    let (at, _) = pg_target(url);
    anyhow::anyhow!(
        "PostgreSQL on {at} did not answer within 10 s: check the host and port in database.url, \
         and that a firewall lets the connection through"
    )
}

/// The role the service's queries run as on PostgreSQL (migration 0023): it owns no table,
/// so row-level security, forced on every table of an organisation's data, holds for it.
pub const SERVICE_ROLE: &str = "meldpunt_service";

/// What an organisation needs of its own before its first query: the single rows the
/// migrations made for the first organisation (the overview's day and version). Inserted
/// under the organisation's row security, so nothing of another organisation is touched.
const PROVISION_ORGANISATION: [&str; 2] = [
    "INSERT INTO overview_overdue_day (id, as_of) VALUES (1, '') ON CONFLICT DO NOTHING",
    "INSERT INTO overview_version (id, v) VALUES (1, 0) ON CONFLICT DO NOTHING",
];

/// Makes the service role if it is missing and lets the owner take it (as migration 0023
/// does, for a database restored onto a server where the role does not exist yet).
const ENSURE_SERVICE_ROLE: &str = r#"
DO $$
DECLARE
    may_set BOOLEAN;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meldpunt_service') THEN
        BEGIN
            CREATE ROLE meldpunt_service NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION USING
                    MESSAGE = format('the database user %I may not create the role meldpunt_service. As a superuser, run: CREATE ROLE meldpunt_service NOLOGIN; GRANT meldpunt_service TO %I; then start Meldpunt again', current_user, current_user);
        END;
    END IF;
    BEGIN
        may_set := pg_has_role(current_user, 'meldpunt_service', 'SET');
    EXCEPTION WHEN invalid_parameter_value THEN
        may_set := pg_has_role(current_user, 'meldpunt_service', 'MEMBER');
    END;
    IF NOT may_set THEN
        BEGIN
            EXECUTE format('GRANT meldpunt_service TO %I', current_user);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;
            WHEN insufficient_privilege OR invalid_grant_operation THEN
                RAISE EXCEPTION USING
                    MESSAGE = format('the database user %I may not take the role meldpunt_service. As a superuser, run: GRANT meldpunt_service TO %I; then start Meldpunt again', current_user, current_user);
        END;
    END IF;
END
$$"#;

/// Tables of the schema the service role may not read and write (the migrations'
/// bookkeeping aside): none once migration 0023 ran and the grants came along with every
/// later table; some after a restore that could not grant to a role the server lacked.
const UNGRANTED_TABLES: &str = "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' \
     AND tablename <> '_sqlx_migrations' \
     AND NOT has_table_privilege('meldpunt_service', format('%I.%I', schemaname, tablename), 'SELECT, INSERT, UPDATE, DELETE')";

/// The transaction-scoped advisory lock of the grants above ("mp-grant" in ASCII).
const GRANT_LOCK: i64 = i64::from_be_bytes(*b"mp-grant");

const GRANT_SERVICE_ROLE: [&str; 4] = [
    "GRANT USAGE ON SCHEMA public TO meldpunt_service",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO meldpunt_service",
    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO meldpunt_service",
    "REVOKE ALL ON _sqlx_migrations FROM meldpunt_service",
];

/// With the owner's pool: refuses a database without an installation (unless `create`),
/// migrates, makes sure the service role exists and may use every table, and refreshes
/// the planner's statistics.
async fn prepare_pg(owner: &PgPool, create: bool) -> anyhow::Result<()> {
    if !create {
        let installed: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(owner)
            .await?;
        if !installed {
            anyhow::bail!(
                "the database at database.url holds no Meldpunt installation; start \
                 `meldpunt serve` or run `meldpunt init` there first, or pass the installation's --config"
            );
        }
    }
    POSTGRES_MIGRATIONS.run(owner).await?;
    {
        let mut tx = owner.begin().await?;
        // Instances starting together take turns.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(GRANT_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(ENSURE_SERVICE_ROLE).execute(&mut *tx).await?;
        let ungranted: i64 = sqlx::query_scalar(UNGRANTED_TABLES).fetch_one(&mut *tx).await?;
        if ungranted > 0 {
            tracing::info!(
                tables = ungranted,
                "granting the service role the use of tables it lacked"
            );
            for sql in GRANT_SERVICE_ROLE {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
    }
    // Fresh planner statistics at every start: after a restore (pg_restore brings
    // no statistics) or a bulk change the inbox would otherwise scan every wrap
    // of a coordinator and sort (54 ms instead of 3.5 ms at 6,500 reports) until
    // autovacuum got round to it.
    sqlx::query("ANALYZE").execute(owner).await?;
    Ok(())
}

/// The connection options of organisation `org_id`: every session names it from the start
/// (`meldpunt.org`, which the row-level security policies read), as a startup parameter,
/// so even a `RESET ALL` keeps it.
fn pg_organisation_options(url: &str, org_id: i64) -> anyhow::Result<PgConnectOptions> {
    if org_id < 1 {
        anyhow::bail!("organisation ids start at 1 (got {org_id})");
    }
    Ok(PgConnectOptions::from_str(url)?.options([("meldpunt.org", org_id.to_string())]))
}

/// A failed `SET ROLE meldpunt_service` as what the operator should do.
fn explain_service_role(url: &str, e: sqlx::Error) -> anyhow::Error {
    match &e {
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("42501" | "22023")) => {
            let user = PgConnectOptions::from_str(url)
                .map(|o| o.get_username().to_string())
                .unwrap_or_else(|_| "<the user in database.url>".into());
            anyhow::anyhow!(
                "PostgreSQL refused to let {user} act as the role {SERVICE_ROLE} ({}): as a superuser, run \
                 `CREATE ROLE {SERVICE_ROLE} NOLOGIN;` (if it does not exist) and `GRANT {SERVICE_ROLE} TO {user};`, \
                 then start Meldpunt again",
                d.message()
            )
        }
        _ => explain_pg_error(url, e),
    }
}

/// A connection of its own as the user database.url names (the tables' owner), not as the
/// service role, for what only an owner may do: ANALYZE and VACUUM (the service role would
/// be skipped with a warning per table). Neither reads rows, so row security is not at
/// stake; the caller closes it when done.
pub(crate) async fn owner_connection(pool: &PgPool) -> sqlx::Result<sqlx::PgConnection> {
    sqlx::PgConnection::connect_with(&pool.connect_options()).await
}

/// The pool of one organisation on an installation whose schema is up to date: every
/// connection names the organisation and runs as the service role, so row-level security
/// gives it that organisation's rows only. Opens no connection while idle (an idle
/// organisation holds none after a minute).
async fn open_pg_organisation(url: &str, max_connections: u32, org_id: i64) -> anyhow::Result<PgPool> {
    let opts = pg_organisation_options(url, org_id)?;
    // One connection first, on its own: the pool would retry a refused SET ROLE until it
    // timed out and then only say so. It also gives the organisation its single rows.
    let mut conn = match tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect_with(&opts)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(explain_pg_error(url, e)),
        Err(_) => return Err(explain_pg_timeout(url)),
    };
    let set_role = format!("SET ROLE {SERVICE_ROLE}");
    let prepared = async {
        sqlx::query(&set_role)
            .execute(&mut conn)
            .await
            .map_err(|e| explain_service_role(url, e))?;
        let mut tx = conn.begin().await?;
        for sql in PROVISION_ORGANISATION {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        anyhow::Ok(())
    }
    .await;
    conn.close().await.ok();
    prepared?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .min_connections(0)
        .idle_timeout(Duration::from_secs(60))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query(&format!("SET ROLE {SERVICE_ROLE}"))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .after_release(|conn, _| Box::pin(async move { Ok(fit_for_reuse(conn.is_in_transaction())) }))
        .connect_lazy_with(opts);
    Ok(pool)
}

/// How long a request waits for a PostgreSQL connection before it is told the database is
/// unavailable (a 503 with Retry-After): a database that refuses connections, or a pool
/// every connection of which is stuck, is answered within this, not after 10 s.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a report could not be stored now: a short reason anyone may read on `/readyz`, and
/// the detail (paths, database errors) for the operator's log only.
#[derive(Debug)]
pub struct NotReady {
    pub reason: &'static str,
    pub detail: String,
}

impl Store {
    /// Connects (creating an SQLite file and its folder on first start) and migrates.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        Self::open(url, max_connections, true).await
    }

    /// Opens the database of an existing installation (and brings its schema up to date),
    /// refusing where none exists instead of creating one: an administrative command run
    /// with a wrong `database.url` must not leave a new empty database behind.
    pub async fn connect_existing(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        Self::open(url, max_connections, false).await
    }

    /// A later organisation's own SQLite file (created when `create`): like the
    /// installation's, but keeping no connection open while the organisation is idle.
    pub async fn open_organisation_file(url: &str, max_connections: u32, create: bool) -> anyhow::Result<Store> {
        Self::open_with(url, max_connections, create, 0).await
    }

    async fn open(url: &str, max_connections: u32, create: bool) -> anyhow::Result<Store> {
        Self::open_with(url, max_connections, create, 1).await
    }

    async fn open_with(url: &str, max_connections: u32, create: bool, min_connections: u32) -> anyhow::Result<Store> {
        let store = match Backend::from_url(url)? {
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(create)
                    .journal_mode(SqliteJournalMode::Wal)
                    .foreign_keys(true)
                    // Deleted rows (sessions, outbox) are overwritten, not left in free pages.
                    .pragma("secure_delete", "ON")
                    // 32 MiB of page cache per connection (the default is 2 MiB): the inbox's
                    // index walks stay in memory with 100,000 reports.
                    .pragma("cache_size", "-32768")
                    .busy_timeout(Duration::from_secs(10));
                if !create && !opts.get_filename().exists() {
                    anyhow::bail!(
                        "no Meldpunt database at {} (database.url); start `meldpunt serve` or run \
                         `meldpunt init` there first, or pass the installation's --config",
                        opts.get_filename().display()
                    );
                }
                if let Some(dir) = opts.get_filename().parent() {
                    if create && !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)?;
                    }
                }
                make_database_private(opts.get_filename(), create)?;
                // The evidence file is made here, private to the service's user, so that an
                // administrative command (which may not create the database) can attach it too.
                let evidence = evidence_file(opts.get_filename());
                let evidence_was_there = evidence.exists();
                if !evidence_was_there {
                    // Another instance starting together may have made it meanwhile.
                    if let Err(e) = create_private_new(&evidence) {
                        if !evidence.exists() {
                            return Err(e);
                        }
                    }
                }
                // Two instances started together on a new file both set it up: the first
                // connection switches the file to WAL and each migration takes the write lock,
                // and the one that loses a race sees "database is locked" or a table the other
                // just made. It tries again (reading anew what is applied) until all is in
                // place; a migration that really fails still fails after the last try.
                let mut tries = 0;
                let pool = loop {
                    match open_sqlite(opts.clone(), max_connections, min_connections).await {
                        Ok(pool) => break pool,
                        Err(e) if tries >= 20 => return Err(e),
                        Err(_) => {
                            tries += 1;
                            tracing::info!("another instance is setting up this database; waiting for it");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                    }
                };
                // Attached files without content: with a new evidence file (and none to move
                // in), it was lost or its volume is not mounted. Taking new evidence into an
                // empty file would leave no way back but losing one or the other, so the start
                // stops and says what to do. With the file there, it is older than the
                // database: every report still opens, but these files cannot be downloaded
                // until the operator puts it back, said loudly at start.
                let missing = sqlx::query_scalar::<_, i64>(FILES_WITHOUT_CONTENT)
                    .fetch_one(&pool)
                    .await;
                match missing {
                    Ok(0) => {}
                    Ok(n) if evidence_was_there => tracing::error!(
                        files = n,
                        "evidence files have no content: the evidence file beside the database \
                         is older than the database; stop the service and put both back from the \
                         same backup (`meldpunt restore`)"
                    ),
                    _ => {
                        pool.close().await;
                        let _ = std::fs::remove_file(&evidence);
                        let missing = missing?;
                        anyhow::bail!(
                            "the evidence file {} is missing, but the database holds {missing} files: put it \
                             back (from the same backup as the database: `meldpunt restore`), or mount its \
                             volume. Only if it is lost for good, create it empty (`touch` that path, mode \
                             600) to start without those files' content",
                            evidence.display()
                        );
                    }
                }
                Store::Sqlite(pool)
            }
            Backend::Postgres => {
                // One connection first, on its own: its error says what is wrong (no such
                // database, connection refused), where the pool would only time out after 10 s.
                match tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(url)).await {
                    Ok(Ok(conn)) => conn.close().await.ok(),
                    Ok(Err(e)) => return Err(explain_pg_error(url, e)),
                    Err(_) => return Err(explain_pg_timeout(url)),
                };
                // The owner's pool: the migrations, the service role's grants and ANALYZE run
                // as the user database.url names. It is closed before anything else runs:
                // every other query goes through an organisation's pool (below).
                let owner = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_release(|conn, _| Box::pin(async move { Ok(fit_for_reuse(conn.is_in_transaction())) }))
                    .connect(url)
                    .await?;
                let prepared = prepare_pg(&owner, create).await;
                owner.close().await;
                prepared?;
                // The first organisation's: an installation from before organisations, and
                // every caller that names none, work on organisation 1 as they always did.
                Store::Postgres(open_pg_organisation(url, max_connections, 1).await?)
            }
        };
        Ok(store)
    }

    /// PostgreSQL only: the store of organisation `org_id` on an installation whose schema
    /// `Store::connect` brought up to date (this runs no migration). Its connections run as
    /// the service role with the organisation set, so every query, one that names no
    /// organisation too, reads and writes that organisation's rows only (SECURITY.md,
    /// "Organisations on PostgreSQL: row-level security"). `Store::connect` itself returns
    /// organisation 1's store. On SQLite an organisation is a database file of its own, opened
    /// with `Store::connect`; an SQLite URL is refused here.
    pub async fn connect_organisation(url: &str, max_connections: u32, org_id: i64) -> anyhow::Result<Store> {
        match Backend::from_url(url)? {
            Backend::Postgres => Ok(Store::Postgres(
                open_pg_organisation(url, max_connections, org_id).await?,
            )),
            Backend::Sqlite => anyhow::bail!(
                "Store::connect_organisation is for PostgreSQL: on SQLite each organisation has a \
                 database file of its own, opened with Store::connect"
            ),
        }
    }

    /// What an upsert's `ON CONFLICT (...)` names before its own columns where a key is
    /// unique per organisation: on PostgreSQL such keys start with `org_id` (migration 0023);
    /// on SQLite an organisation has a file of its own and the keys are as they were.
    pub(crate) fn org_key(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => "org_id, ",
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether a report could be stored right now, not only whether a connection answers: a
    /// write transaction that needs as many new pages as a long report, rolled back, finds a
    /// full database, a read-only one or a write lock that is not released; on SQLite the
    /// folder of the file must also have room for `need_bytes` (the WAL and the file grow
    /// there, and a rolled-back probe never writes to disk).
    pub async fn can_store(&self, need_bytes: u64) -> Result<(), NotReady> {
        const PROBE_BYTES: usize = 256 * 1024;
        let mut token = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut token);
        let probe = vec![0u8; PROBE_BYTES];
        let write = on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO used_form_tokens (token_hash, used_on, sealed_code) VALUES ($1, 'probe', $2)")
                    .bind(&token[..]).bind(&probe).execute(&mut *tx).await?;
                tx.rollback().await
            }.await
        });
        write.map_err(|e| NotReady {
            reason: "the database refuses writes",
            detail: e.to_string(),
        })?;
        if let Store::Sqlite(pool) = self {
            // The evidence file beside it fills up on its own (a cap, another volume
            // mounted there): probed the same way.
            let evidence = async {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO evidence_segments (file_id, seq, sealed) VALUES ($1, 0, $2)")
                    .bind(hex::encode(token))
                    .bind(&probe)
                    .execute(&mut *tx)
                    .await?;
                tx.rollback().await
            }
            .await;
            evidence.map_err(|e| NotReady {
                reason: "the evidence file refuses writes",
                detail: e.to_string(),
            })?;
            let file = pool.connect_options().get_filename().to_path_buf();
            let dir = match file.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            };
            let free = free_bytes(&dir).map_err(|e| NotReady {
                reason: "the free space of the database's folder cannot be read",
                detail: format!("{}: {e}", dir.display()),
            })?;
            if free < need_bytes {
                return Err(NotReady {
                    reason: "the database's disk is almost full",
                    detail: format!(
                        "{} has {} MiB free, less than the {} MiB a report may need",
                        dir.display(),
                        free / (1024 * 1024),
                        need_bytes / (1024 * 1024)
                    ),
                });
            }
        }
        Ok(())
    }

    /// Hands the page caches of idle SQLite connections back (`PRAGMA shrink_memory`), for
    /// a server that has been quiet for a while: each keeps up to 32 MiB of pages read during
    /// a rush otherwise, until it is closed. The next query reads its pages again.
    pub async fn release_memory(&self) {
        let Store::Sqlite(pool) = self else {
            return;
        };
        let mut held = Vec::new();
        for _ in 0..pool.num_idle() {
            match pool.try_acquire() {
                Some(conn) => held.push(conn),
                None => break,
            }
        }
        for conn in held.iter_mut() {
            if let Err(e) = sqlx::query("PRAGMA shrink_memory").execute(&mut **conn).await {
                tracing::debug!(error = %e, "could not shrink a connection's cache");
            }
        }
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Versions of the embedded migrations, per backend (for the test that keeps them in step).
    pub fn migration_versions(backend: Backend) -> Vec<(i64, String)> {
        let m = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        m.iter().map(|m| (m.version, m.description.to_string())).collect()
    }
}
