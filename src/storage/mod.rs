//! Storage on SQLite (embedded default) or PostgreSQL, chosen from the URL scheme: two
//! concrete pools behind one enum, per-backend migrations with the same versions, and the
//! queries (shared SQL with `$n` placeholders). Stores only sealed blobs and the fields
//! DESIGN.md lists as clear; never logs row contents.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub(crate) mod counts;
mod evidence;
mod queries;
mod routing_notify;
mod totp;
mod triage;
pub use evidence::FileRow;
pub use queries::*;
pub use routing_notify::*;
pub use triage::*;

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

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connects (creating an SQLite file and its folder on first start) and migrates.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        let store = match Backend::from_url(url)? {
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .foreign_keys(true)
                    // Deleted rows (sessions, outbox) are overwritten, not left in free pages.
                    .pragma("secure_delete", "ON")
                    // 32 MiB of page cache per connection (the default is 2 MiB): the inbox's
                    // index walks stay in memory with 100,000 reports.
                    .pragma("cache_size", "-32768")
                    .busy_timeout(Duration::from_secs(10));
                if let Some(dir) = opts.get_filename().parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)?;
                    }
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .connect_with(opts)
                    .await?;
                SQLITE_MIGRATIONS.run(&pool).await?;
                Store::Sqlite(pool)
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                Store::Postgres(pool)
            }
        };
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn ping(&self) -> bool {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
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
