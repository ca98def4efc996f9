//! What `organisation export`, `import` and `remove` need of storage: an organisation's
//! counts for its export and certificate, the destruction of its sealed secret in the
//! registry, and (PostgreSQL) its rows, table by table, read and written through its own
//! store under row-level security.

use super::{on_pool, DbResult, Store};

impl Store {
    /// Destroys an organisation's own secret (the copy sealed in the registry; backups of
    /// the installation's database taken before keep theirs) and suspends it, logging it:
    /// the first step of `organisation remove`. A running service can no longer open the
    /// organisation and answers 503 for it until its row goes. False if there is no such
    /// organisation.
    pub async fn destroy_organisation_key(&self, id: i64, now: i64) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let name: Option<String> = sqlx::query_scalar(
                "UPDATE organisations SET sealed_key = NULL, state = 'suspended' WHERE id = $1 RETURNING name")
                .bind(id).fetch_optional(&mut *tx).await?;
            let Some(name) = name else { return Ok(false) };
            sqlx::query("INSERT INTO organisation_log (org_id, org_name, at, event, detail) \
                         VALUES ($1, $2, $3, 'keys destroyed', 'removal begun')")
                .bind(id).bind(&name).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// What this (an organisation's own) store holds, as its export and its certificate of
    /// removal name it: reports, finished evidence files, coordinators and messages.
    pub async fn content_counts(&self) -> DbResult<(i64, i64, i64, i64)> {
        on_pool!(self, pool => sqlx::query_as::<_, (i64, i64, i64, i64)>(
            "SELECT (SELECT COUNT(*) FROM reports), \
             (SELECT COUNT(*) FROM evidence_files WHERE pending_until IS NULL), \
             (SELECT COUNT(*) FROM coordinators), \
             (SELECT COUNT(*) FROM messages)")
            .fetch_one(pool).await)
    }
}

/// One table's rows of one organisation, as an export carries them: the columns given (in
/// order) and the rows as a JSON array of objects with those keys (`row_to_json`; bytea as
/// `\x` hex, which `json_populate_recordset` reads back as bytea).
#[derive(Debug, Clone)]
pub struct RowBatch {
    pub table: String,
    pub columns: Vec<String>,
    pub json: String,
}

/// Rows are fetched this many at a time (evidence segments, about 2 MiB each as JSON, a few
/// at a time), and sent on once a batch holds about this many bytes.
const FETCH_ROWS: i64 = 200;
const FETCH_SEGMENTS: i64 = 4;
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// A table's columns an organisation's rows are copied by: not `org_id` (the session's
/// organisation fills it in) and not a column numbered by a sequence (audit events, outbox:
/// given new numbers by the target, whose other organisations used the old ones), with the
/// name of that numbered column, to keep the rows in their order.
async fn copied_columns(conn: &mut sqlx::PgConnection, table: &str) -> DbResult<(Vec<String>, Option<String>)> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT column_name::text, column_default::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let mut columns = Vec::new();
    let mut numbered = None;
    for (name, default) in rows {
        if name == "org_id" {
            continue;
        }
        if default.as_deref().is_some_and(|d| d.starts_with("nextval(")) {
            numbered = Some(name);
            continue;
        }
        columns.push(name);
    }
    Ok((columns, numbered))
}

/// `"name"`, for a table or column name this code got from the schema or its own list.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Store {
    /// Every table that holds an organisation's rows on PostgreSQL, parents before the
    /// tables whose foreign keys point at them: an import writes them in this order, a
    /// removal deletes them in the reverse one. The overview's counters come after the
    /// reports their triggers count (an import replaces what the triggers made with the
    /// counters as exported). A table missing here makes export refuse, and a unit test
    /// fail.
    pub const ORGANISATION_TABLES: &'static [&'static str] = &[
        "organisation",
        "pepper_check",
        "coordinators",
        "coordinator_groups",
        "group_members",
        "totp_recovery_codes",
        "invites",
        "key_endorsements",
        "retired_endorsements",
        "overview_overdue_day",
        "overview_version",
        "reports",
        "report_fields",
        "report_wraps",
        "messages",
        "deadline_notices",
        "evidence_files",
        "evidence_segments",
        "sessions",
        "audit_events",
        "used_form_tokens",
        "outbox",
        "inbox_counts",
        "flood_counts",
        "overview_counts",
        "overview_ack_days",
        "overview_overdue",
    ];

    /// Tables of an organisation's data an export leaves out: links to other organisations
    /// of the same installation (one login for several), which mean nothing elsewhere.
    /// Emptied in an imported copy; deleted with the rest at removal.
    pub const NOT_CARRIED: &'static [&'static str] = &["coordinator_links", "coordinator_elsewhere"];

    /// The installation's own tables: its registry and the operator's log of it (the log
    /// names organisations by id, but belongs to no one of them).
    pub const REGISTRY_TABLES: &'static [&'static str] = &["organisations", "organisation_log"];

    /// PostgreSQL: the tables with an organisation column, in the order they are written,
    /// and those no list here names (a table a later migration added without being listed).
    pub async fn organisation_tables(&self) -> DbResult<(Vec<String>, Vec<String>)> {
        let Store::Postgres(pool) = self else {
            return Ok((Vec::new(), Vec::new()));
        };
        let present: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'org_id'",
        )
        .fetch_all(pool)
        .await?;
        let known: Vec<String> = Self::ORGANISATION_TABLES
            .iter()
            .filter(|t| present.iter().any(|p| p == *t))
            .map(|t| t.to_string())
            .collect();
        let unknown = present
            .into_iter()
            .filter(|p| {
                let p = p.as_str();
                !Self::ORGANISATION_TABLES.contains(&p)
                    && !Self::NOT_CARRIED.contains(&p)
                    && !Self::REGISTRY_TABLES.contains(&p)
            })
            .collect();
        Ok((known, unknown))
    }

    /// PostgreSQL: every row of this organisation's store, table by table in
    /// [`Store::ORGANISATION_TABLES`] order, read in one snapshot (one repeatable-read
    /// transaction, so the tables agree with each other while the service writes on) and
    /// handed to `each` in batches of a few MiB: never the whole organisation in memory.
    pub async fn export_rows(
        &self,
        tables: &[String],
        each: &mut dyn FnMut(RowBatch) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let Store::Postgres(pool) = self else {
            anyhow::bail!("rows are exported from PostgreSQL only");
        };
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        for table in tables {
            let (columns, numbered) = copied_columns(&mut tx, table).await?;
            let list = columns.iter().map(|c| quoted(c)).collect::<Vec<_>>().join(", ");
            let order = numbered
                .map(|n| format!(" ORDER BY {}", quoted(&n)))
                .unwrap_or_default();
            sqlx::query(&format!(
                "DECLARE export_rows NO SCROLL CURSOR FOR \
                 SELECT row_to_json(x)::text FROM (SELECT {list} FROM {}{order}) AS x",
                quoted(table)
            ))
            .execute(&mut *tx)
            .await?;
            let fetch = format!(
                "FETCH FORWARD {} FROM export_rows",
                if table == "evidence_segments" {
                    FETCH_SEGMENTS
                } else {
                    FETCH_ROWS
                }
            );
            let mut json = String::new();
            loop {
                let rows: Vec<String> = sqlx::query_scalar(&fetch).fetch_all(&mut *tx).await?;
                let done = rows.is_empty();
                for row in rows {
                    json.push(if json.is_empty() { '[' } else { ',' });
                    json.push_str(&row);
                }
                if !json.is_empty() && (done || json.len() >= BATCH_BYTES) {
                    json.push(']');
                    each(RowBatch {
                        table: table.clone(),
                        columns: columns.clone(),
                        json: std::mem::take(&mut json),
                    })?;
                }
                if done {
                    break;
                }
            }
            sqlx::query("CLOSE export_rows").execute(&mut *tx).await?;
        }
        tx.rollback().await?;
        Ok(())
    }

    /// PostgreSQL: writes an exported organisation's rows into this (a new organisation's)
    /// store, all in one transaction: on any failure nothing is left. `next` gives the
    /// batches in the order they were exported, `None` at the end. Only tables of
    /// [`Store::ORGANISATION_TABLES`] are written, and only columns the table has. What the
    /// store held before (the single rows every organisation starts with) is replaced.
    pub async fn import_rows(&self, next: &mut dyn FnMut() -> anyhow::Result<Option<RowBatch>>) -> anyhow::Result<u64> {
        let Store::Postgres(pool) = self else {
            anyhow::bail!("rows are imported into PostgreSQL only");
        };
        let (tables, _) = self.organisation_tables().await?;
        let mut tx = pool.begin().await?;
        for table in tables.iter().rev() {
            sqlx::query(&format!("DELETE FROM {}", quoted(table)))
                .execute(&mut *tx)
                .await?;
        }
        let mut started: Vec<String> = Vec::new();
        let mut written = 0;
        while let Some(batch) = next()? {
            let Some(table) = tables.iter().find(|t| **t == batch.table) else {
                anyhow::bail!(
                    "the export holds rows of a table this database does not have ({})",
                    batch.table
                );
            };
            let (have, _) = copied_columns(&mut tx, table).await?;
            if let Some(extra) = batch.columns.iter().find(|c| !have.contains(c)) {
                anyhow::bail!("the export's table {table} has a column this database does not have ({extra})");
            }
            if !started.contains(table) {
                // Rows the triggers made for the reports written before, replaced by the
                // counters as they were exported.
                sqlx::query(&format!("DELETE FROM {}", quoted(table)))
                    .execute(&mut *tx)
                    .await?;
                started.push(table.clone());
            }
            let list = batch.columns.iter().map(|c| quoted(c)).collect::<Vec<_>>().join(", ");
            written += sqlx::query(&format!(
                "INSERT INTO {t} ({list}) SELECT {list} FROM json_populate_recordset(NULL::{t}, $1::json)",
                t = quoted(table)
            ))
            .bind(&batch.json)
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => anyhow::anyhow!(
                    "rows of this organisation are in this database already ({table}: {}): it was \
                     imported here before, or it is still here where it was exported (report, \
                     coordinator and file ids are unique across a PostgreSQL installation)",
                    d.message()
                ),
                _ => anyhow::Error::new(e),
            })?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    /// PostgreSQL: deletes every row of this organisation's store (row-level security
    /// keeps every other organisation's out of reach), children before parents, in one
    /// transaction; how many rows.
    pub async fn delete_organisation_rows(&self) -> anyhow::Result<u64> {
        let Store::Postgres(pool) = self else {
            anyhow::bail!("rows are deleted on PostgreSQL only");
        };
        let (tables, unknown) = self.organisation_tables().await?;
        let mut tx = pool.begin().await?;
        let mut deleted = 0;
        let not_carried = Self::NOT_CARRIED.iter().map(|t| t.to_string());
        let present_not_carried: Vec<String> = {
            let present: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND column_name = 'org_id'",
            )
            .fetch_all(&mut *tx)
            .await?;
            not_carried.filter(|t| present.contains(t)).collect()
        };
        // Tables no list names, and links to other organisations, first: they point at
        // the listed ones, never the other way.
        for table in unknown.iter().chain(&present_not_carried).chain(tables.iter().rev()) {
            deleted += sqlx::query(&format!("DELETE FROM {}", quoted(table)))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
