//! Who has a database in hand: every running instance holds a shared claim on it, and an
//! offline command (`restore`, `pepper replace`) holds it alone, so neither starts while the
//! other runs. SQLite: an OS file lock on `<database>.lock` beside the file; PostgreSQL: an
//! advisory lock of the session. The kernel or the database server drops a claim when its
//! process ends, killed or not, so a crashed instance never blocks a command and there is
//! nothing stale to clear by hand. Never holds or logs anything but paths.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection;

use super::{sibling, Backend};

/// The advisory lock key on PostgreSQL ("meldpunt" in ASCII). Advisory locks are scoped to
/// one database, so installations on one server do not meet.
const PG_LOCK_KEY: i64 = 0x6d65_6c64_7075_6e74;

/// How often a serving instance on PostgreSQL checks that its locking session is alive
/// (a database restart ends it) and takes the claim again.
const PG_RECHECK: Duration = Duration::from_secs(30);

/// `application_name` of the sessions that hold a claim.
const SERVING_NAME: &str = "meldpunt: serving (claim)";
const OFFLINE_NAME: &str = "meldpunt: offline command (claim)";

/// A running instance's shared claim; dropping it lets offline commands run again.
#[derive(Debug)]
pub struct ServingClaim {
    _inner: Held,
}

/// An offline command's sole claim; dropping it (or [`OfflineClaim::release`]) lets
/// instances start again.
#[derive(Debug)]
pub struct OfflineClaim {
    _inner: Held,
}

impl OfflineClaim {
    /// Lets go at once: on PostgreSQL the lock is released before the session closes, so an
    /// instance started right after does not find it still held.
    pub async fn release(self) {
        let mut claim = self;
        if let Held::Session { _session: conn } = &mut claim._inner {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut **conn)
                .await;
        }
    }
}

#[derive(Debug)]
enum Held {
    /// The open lock file: closing it releases the lock.
    File { _file: std::fs::File },
    /// The session that holds the advisory lock (closed when dropped).
    Session { _session: Box<PgConnection> },
    /// The task that keeps a serving instance's session (and lock) alive.
    Task(tokio::task::JoinHandle<()>),
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Held::Task(task) = self {
            task.abort();
        }
    }
}

/// The lock file of an SQLite database: `meldpunt.db` → `meldpunt.db.lock`.
pub fn lock_file(database: &Path) -> PathBuf {
    sibling(database, "lock")
}

/// The file an SQLite URL names; an error for any other URL.
pub(crate) fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    if Backend::from_url(url)? != Backend::Sqlite {
        anyhow::bail!("not an SQLite database");
    }
    Ok(SqliteConnectOptions::from_str(url)?.get_filename().to_path_buf())
}

/// Opens (creating, private) the lock file beside `database`. Its folder must exist.
fn open_lock_file(database: &Path) -> anyhow::Result<std::fs::File> {
    let path = lock_file(database);
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(&path)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot open the lock file {}", path.display())))
}

fn busy_for_serving(where_: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "an offline command (`meldpunt restore` or `meldpunt pepper replace`) is working on {where_}; \
         start the service again when it has finished"
    )
}

fn busy_for_offline(command: &str, where_: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`meldpunt {command}` refused: a Meldpunt instance is serving {where_}, and it would go on \
         writing to what this command changes (reports sent meanwhile would be lost). Stop every \
         instance first (for example `systemctl stop meldpunt`), then run it again. Nothing was changed."
    )
}

/// Takes a running instance's shared claim on the database `url` names. Refused while an
/// offline command holds it. For SQLite the database's folder must exist.
pub async fn claim_serving(url: &str) -> anyhow::Result<ServingClaim> {
    match Backend::from_url(url)? {
        Backend::Sqlite => {
            let db = sqlite_path(url)?;
            let file = open_lock_file(&db)?;
            match file.try_lock_shared() {
                Ok(()) => Ok(ServingClaim {
                    _inner: Held::File { _file: file },
                }),
                Err(std::fs::TryLockError::WouldBlock) => Err(busy_for_serving(&db.display().to_string())),
                Err(std::fs::TryLockError::Error(e)) => {
                    Err(anyhow::Error::new(e).context(format!("cannot lock {}", lock_file(&db).display())))
                }
            }
        }
        Backend::Postgres => {
            let mut conn = pg_session(url, SERVING_NAME).await?;
            if !try_pg_lock(&mut conn, true).await? {
                return Err(busy_for_serving("this PostgreSQL database"));
            }
            let url = url.to_string();
            let task = tokio::spawn(async move {
                let mut conn = Some(conn);
                let mut tick = tokio::time::interval(PG_RECHECK);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Some(c) = conn.as_mut() {
                        if c.ping().await.is_ok() {
                            continue;
                        }
                    }
                    // The session is gone (a database restart): its lock with it. Take it again.
                    conn = None;
                    match pg_session(&url, SERVING_NAME).await {
                        Ok(mut c) => match try_pg_lock(&mut c, true).await {
                            Ok(true) => conn = Some(c),
                            Ok(false) => tracing::error!(
                                "an offline command holds this database while this instance serves it; \
                                 stop the command or this instance"
                            ),
                            Err(e) => {
                                tracing::warn!(error = %e, "could not renew this instance's claim on the database")
                            }
                        },
                        Err(e) => tracing::warn!(error = %e, "could not renew this instance's claim on the database"),
                    }
                }
            });
            Ok(ServingClaim {
                _inner: Held::Task(task),
            })
        }
    }
}

/// Takes an offline command's sole claim on the database `url` names; refused while an
/// instance serves it (or another offline command runs). `command` names the command in
/// the refusal. For SQLite the database's folder is created if missing (a restore into a
/// new place).
pub async fn claim_offline(url: &str, command: &str) -> anyhow::Result<OfflineClaim> {
    match Backend::from_url(url)? {
        Backend::Sqlite => {
            let db = sqlite_path(url)?;
            if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let file = open_lock_file(&db)?;
            match file.try_lock() {
                Ok(()) => Ok(OfflineClaim {
                    _inner: Held::File { _file: file },
                }),
                Err(std::fs::TryLockError::WouldBlock) => Err(busy_for_offline(command, &db.display().to_string())),
                Err(std::fs::TryLockError::Error(e)) => {
                    Err(anyhow::Error::new(e).context(format!("cannot lock {}", lock_file(&db).display())))
                }
            }
        }
        Backend::Postgres => {
            let mut conn = pg_session(url, OFFLINE_NAME).await?;
            // The session of an instance killed a moment ago ends as soon as the server
            // notices its connection closed: a second's grace, not a refusal.
            let mut tries = 0;
            while !try_pg_lock(&mut conn, false).await? {
                tries += 1;
                if tries >= 10 {
                    conn.close().await.ok();
                    return Err(busy_for_offline(command, "this PostgreSQL database"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(OfflineClaim {
                _inner: Held::Session {
                    _session: Box::new(conn),
                },
            })
        }
    }
}

/// A session of its own for the lock, named in `pg_stat_activity` so an operator can see
/// (and, for an instance whose machine died, end) what holds the claim.
async fn pg_session(url: &str, name: &str) -> anyhow::Result<PgConnection> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)?.application_name(name);
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(&opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(super::explain_pg_error(url, e)),
        Err(_) => Err(super::explain_pg_timeout(url)),
    }
}

async fn try_pg_lock(conn: &mut PgConnection, shared: bool) -> anyhow::Result<bool> {
    let sql = if shared {
        "SELECT pg_try_advisory_lock_shared($1)"
    } else {
        "SELECT pg_try_advisory_lock($1)"
    };
    Ok(sqlx::query_scalar(sql).bind(PG_LOCK_KEY).fetch_one(&mut *conn).await?)
}
