//! Backup and restore of the database: a consistent copy while the service runs, checked
//! before it is called done, and (SQLite) put back in one step. The pepper is never part of
//! it, so a stolen backup alone cannot be attacked offline.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::settings::Settings;
use crate::storage::{create_private_new, sibling, Backend};

/// Writes a copy of the database to `out` (which must not exist), then checks it. The
/// database is copied as it is: never migrated, so a backup taken with a new binary before
/// an upgrade can still go back to the old one.
pub async fn backup(settings: &Settings, out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        anyhow::bail!("{} exists already; give a new file name", out.display());
    }
    let url = &settings.database.url;
    let backend = Backend::from_url(url)?;
    // Checked before the copy is made, so nothing is left where no installation is.
    let mut source = match backend {
        Backend::Sqlite => Some(open_sqlite_as_is(url).await?),
        Backend::Postgres => {
            check_pg_installation(url).await?;
            None
        }
    };
    // Private from the start: the copy holds everything the database holds.
    create_private_new(out)?;
    let written = match source.as_mut() {
        Some(conn) => write_sqlite_copy(conn, url, out).await,
        None => pg_dump(url, out),
    };
    if let Some(conn) = source {
        conn.close().await.ok();
    }
    if let Err(e) = written {
        let _ = std::fs::remove_file(out);
        return Err(e.context(format!("the backup to {} failed; nothing was kept", out.display())));
    }
    let reports = match backend {
        Backend::Sqlite => check_sqlite_copy(out).await?,
        Backend::Postgres => check_pg_dump(out)?,
    };
    println!(
        "Wrote {} ({reports}). Keep it apart from the pepper file {}: together they are what an attacker needs.",
        out.display(),
        settings.security.pepper_file.display()
    );
    Ok(())
}

/// Writes a consistent copy of the SQLite database `conn` is open on (`url`) into the
/// existing, empty file `out`: one file, its evidence in it. Also `organisation export`'s.
pub(crate) async fn write_sqlite_copy(conn: &mut sqlx::SqliteConnection, url: &str, out: &Path) -> anyhow::Result<()> {
    // VACUUM INTO reads one snapshot (a read transaction), so writers go on and the
    // copy is consistent; a file copy of a live database is not.
    let path = out
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not a UTF-8 path", out.display()))?;
    sqlx::query("VACUUM INTO $1").bind(path).execute(&mut *conn).await?;
    copy_evidence_into(conn, url, path).await
}

/// Empties `tables` (those of them the copy has) in the copy at `path`, the deleted rows
/// overwritten with zeros in place (secure_delete; no VACUUM, which would rewrite the whole
/// copy, evidence and all): an exported organisation carries nothing of the installation
/// it came from (the first organisation's database is also the registry, with every other
/// organisation's sealed secret in it).
pub(crate) async fn empty_tables_in_copy(path: &Path, tables: &[&str]) -> anyhow::Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .pragma("secure_delete", "ON")
        .connect()
        .await?;
    let emptied = async {
        for &table in tables {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)")
                    .bind(table)
                    .fetch_one(&mut conn)
                    .await?;
            if exists {
                sqlx::query(&format!("DELETE FROM {table}")).execute(&mut conn).await?;
            }
        }
        Ok::<_, sqlx::Error>(())
    }
    .await;
    conn.close().await.ok();
    Ok(emptied?)
}

/// One connection to an existing SQLite installation, with nothing changed: no migration,
/// no evidence file created, no journal mode set (a database is in WAL mode from its first
/// start on).
pub(crate) async fn open_sqlite_as_is(url: &str) -> anyhow::Result<sqlx::SqliteConnection> {
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(10));
    if !opts.get_filename().exists() {
        anyhow::bail!(
            "no Meldpunt database at {} (database.url); check --config and database.url",
            opts.get_filename().display()
        );
    }
    let mut conn = opts.connect().await?;
    let installed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut conn)
    .await?;
    if !installed {
        conn.close().await.ok();
        anyhow::bail!("the database at database.url holds no Meldpunt installation; nothing to back up");
    }
    Ok(conn)
}

/// A PostgreSQL database with a Meldpunt installation in it (looked at, not migrated).
async fn check_pg_installation(url: &str) -> anyhow::Result<()> {
    let mut conn = match sqlx::PgConnection::connect(url).await {
        Ok(c) => c,
        Err(e) => return Err(crate::storage::explain_pg_error(url, e)),
    };
    let installed: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await.ok();
    if !installed {
        anyhow::bail!("the database at database.url holds no Meldpunt installation; nothing to back up");
    }
    Ok(())
}

/// Adds the evidence file's segments to the copy at `path`, as a table of its own (the
/// layout before the evidence file existed, which start-up moves out again after a restore),
/// so a backup stays one file. VACUUM INTO took the main file's snapshot; the segments of
/// every file attached in it were committed before it was attached and never change, so
/// they are copied file by file, each a short read that never holds up an upload for long.
/// A database of a version from before the evidence file has its segments in the main file
/// (and so in the copy already), and no evidence file to read.
async fn copy_evidence_into(conn: &mut sqlx::SqliteConnection, url: &str, path: &str) -> anyhow::Result<()> {
    let evidence = crate::storage::evidence_file(SqliteConnectOptions::from_str(url)?.get_filename());
    let evidence_path = evidence
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not a UTF-8 path", evidence.display()))?;
    let has_evidence_file = evidence.exists();
    if has_evidence_file {
        sqlx::query("ATTACH DATABASE $1 AS evidence")
            .bind(evidence_path)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("ATTACH DATABASE $1 AS copy")
        .bind(path)
        .execute(&mut *conn)
        .await?;
    let copied = async {
        // The copy is deleted if anything fails, and synced once at the end.
        sqlx::query("PRAGMA copy.journal_mode = OFF")
            .execute(&mut *conn)
            .await?;
        sqlx::query("PRAGMA copy.synchronous = OFF").execute(&mut *conn).await?;
        let has_files: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM copy.sqlite_master WHERE type = 'table' AND name = 'evidence_files')",
        )
        .fetch_one(&mut *conn)
        .await?;
        if !has_evidence_file || !has_files {
            return Ok::<_, sqlx::Error>(());
        }
        sqlx::query(&crate::storage::segments_table("copy"))
            .execute(&mut *conn)
            .await?;
        let files: Vec<String> = sqlx::query_scalar("SELECT id FROM copy.evidence_files WHERE pending_until IS NULL")
            .fetch_all(&mut *conn)
            .await?;
        for id in files {
            // OR IGNORE: segments an interrupted move left in the main file are in the copy.
            sqlx::query(
                "INSERT OR IGNORE INTO copy.evidence_segments (file_id, seq, sealed) \
                 SELECT file_id, seq, sealed FROM evidence.evidence_segments WHERE file_id = $1",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
    .await;
    let detached = sqlx::query("DETACH DATABASE copy").execute(&mut *conn).await;
    copied?;
    detached?;
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

/// SQLite: checks `from` and puts it in place as the database of `database.url`.
pub async fn restore(settings: &Settings, from: &Path, replace: bool) -> anyhow::Result<()> {
    if Backend::from_url(&settings.database.url)? != Backend::Sqlite {
        anyhow::bail!(
            "database.url is PostgreSQL: restore with `pg_restore --no-owner --dbname <new database> {}` \
             into a new, empty database, then point database.url at it (see README)",
            from.display()
        );
    }
    let reports = check_sqlite_copy(from)
        .await
        .map_err(|e| e.context(format!("{} is not a usable backup", from.display())))?;
    // Refused while an instance serves the database: it would go on writing to the file
    // this replaces, and every report sent meanwhile would be lost at its next start.
    let _claim = crate::storage::serving::claim_offline(&settings.database.url, "restore").await?;
    let opts: SqliteConnectOptions = settings.database.url.parse()?;
    let target = opts.get_filename().to_path_buf();
    if target.exists() && !replace {
        anyhow::bail!(
            "a database exists at {}; stop the service and add --replace to overwrite it",
            target.display()
        );
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Copy beside the target, then rename: the database is the old one or the new one,
    // never half of each. The old write-ahead log must go with it, or SQLite would replay
    // it into the restored file.
    let staging = sibling(&target, "restoring");
    let _ = std::fs::remove_file(&staging);
    create_private_new(&staging)?;
    // The bytes only: fs::copy would also give the copy the backup file's mode, and a backup
    // readable by others would make the database readable by others.
    {
        let mut source = std::fs::File::open(from)?;
        let mut copy = std::fs::OpenOptions::new().write(true).open(&staging)?;
        std::io::copy(&mut source, &mut copy)?;
        copy.sync_all()?;
    }
    for suffix in ["-wal", "-shm"] {
        let stale = sibling(&target, suffix);
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot remove {}: {e}", stale.display()),
        }
    }
    std::fs::rename(&staging, &target)?;
    // The backup holds its evidence in the main file (start-up moves it into the evidence
    // file); the old evidence file goes, then its journal (SQLite deletes a journal that has
    // no database beside it instead of replaying it). If this is cut short, start-up copies
    // the backup's segments into the old file and the hourly sweep removes what is left over.
    let evidence = crate::storage::evidence_file(&target);
    for stale in [evidence.clone(), sibling(&evidence, "-journal")] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot remove {}: {e}", stale.display()),
        }
    }
    println!(
        "Restored {} ({reports}) to {}. Put the installation's pepper file at {} before starting.",
        from.display(),
        target.display(),
        settings.security.pepper_file.display()
    );
    Ok(())
}

/// Opens an SQLite copy read-only, runs SQLite's integrity check, and counts its reports.
pub(crate) async fn check_sqlite_copy(path: &Path) -> anyhow::Result<String> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    if verdict != "ok" {
        anyhow::bail!("SQLite's integrity check failed: {verdict}");
    }
    let reports: i64 = sqlx::query_scalar("SELECT count(*) FROM reports")
        .fetch_one(&mut conn)
        .await?;
    // A database from before evidence files has no table for them.
    let has_files: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evidence_files')",
    )
    .fetch_one(&mut conn)
    .await?;
    let (files, empty) = if has_files {
        let files: i64 = sqlx::query_scalar("SELECT count(*) FROM evidence_files WHERE pending_until IS NULL")
            .fetch_one(&mut conn)
            .await?;
        let empty: i64 = sqlx::query_scalar(crate::storage::FILES_WITHOUT_CONTENT)
            .fetch_one(&mut conn)
            .await?;
        (files, empty)
    } else {
        (0, 0)
    };
    if empty > 0 {
        anyhow::bail!(
            "{empty} of its {files} files have no content (a report was destroyed while the copy \
             was made, or the evidence file beside the database is missing); run the backup again"
        );
    }
    sqlx::Connection::close(conn).await?;
    Ok(format!(
        "{}, {}, integrity check ok",
        counted(reports, "report", "reports"),
        counted(files, "file", "files")
    ))
}

/// "1 report", "3 reports", "no reports".
pub fn counted(n: i64, one: &str, many: &str) -> String {
    match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// pg_dump in its custom format. The connection goes in libpq's variables, not on the
/// command line where other users of the machine could read a password.
fn pg_dump(url: &str, out: &Path) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new("pg_dump");
    cmd.args(["--format=custom", "--no-owner", "--file"]).arg(out);
    for (name, value) in libpq_env(url)? {
        cmd.env(name, value);
    }
    let status = cmd.status().map_err(|e| {
        anyhow::anyhow!(
            "cannot run pg_dump ({e}); install the PostgreSQL client of the server's version, \
             or back up with your own `pg_dump --format=custom` of this database"
        )
    })?;
    if !status.success() {
        anyhow::bail!("pg_dump failed ({status})");
    }
    Ok(())
}

/// `postgres://user:password@host:port/db?sslmode=...` as PGHOST, PGPORT, PGUSER,
/// PGPASSWORD, PGDATABASE and PGSSLMODE.
fn libpq_env(url: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let u = url::Url::parse(url).map_err(|e| anyhow::anyhow!("database.url is not a URL: {e}"))?;
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let mut env = Vec::new();
    if let Some(host) = u.host_str() {
        env.push(("PGHOST", decode(host)));
    }
    if let Some(port) = u.port() {
        env.push(("PGPORT", port.to_string()));
    }
    if !u.username().is_empty() {
        env.push(("PGUSER", decode(u.username())));
    }
    if let Some(pw) = u.password() {
        env.push(("PGPASSWORD", decode(pw)));
    }
    let db = u.path().trim_start_matches('/');
    if !db.is_empty() {
        env.push(("PGDATABASE", decode(db)));
    }
    for (k, v) in u.query_pairs() {
        match k.as_ref() {
            "sslmode" => env.push(("PGSSLMODE", v.into_owned())),
            "sslrootcert" => env.push(("PGSSLROOTCERT", v.into_owned())),
            _ => {}
        }
    }
    Ok(env)
}

/// A dump pg_restore can read, with the reports table in it.
fn check_pg_dump(path: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new("pg_restore")
        .arg("--list")
        .arg(path)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run pg_restore to check the dump: {e}"))?;
    let list = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !list.contains("TABLE DATA public reports") {
        anyhow::bail!("pg_restore cannot read the dump back");
    }
    Ok("pg_dump custom format, readable by pg_restore".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_becomes_libpq_variables() {
        let env = libpq_env("postgres://meld%40punt:geheim%2F1@db.internal:5433/meldpunt?sslmode=verify-full").unwrap();
        let get = |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PGHOST"), Some("db.internal"));
        assert_eq!(get("PGPORT"), Some("5433"));
        assert_eq!(get("PGUSER"), Some("meld@punt"));
        assert_eq!(get("PGPASSWORD"), Some("geheim/1"));
        assert_eq!(get("PGDATABASE"), Some("meldpunt"));
        assert_eq!(get("PGSSLMODE"), Some("verify-full"));
    }

    #[test]
    fn siblings_of_the_database_file() {
        let db = Path::new("data/meldpunt.db");
        assert_eq!(sibling(db, "-wal"), Path::new("data/meldpunt.db-wal"));
        assert_eq!(sibling(db, "restoring"), Path::new("data/meldpunt.db.restoring"));
    }
}
