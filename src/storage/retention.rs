//! Queries for retention and the register: which closed reports are due, destroying a
//! report's content in one transaction (crypto-shredding: every wrap goes, and every sealed
//! row with it), extensions, the register rows, and giving the freed space back.

use sqlx::Connection;

use super::counts::bump_counts;
use super::{insert_message_q, on_pool, DbResult, NewMessage, Store};

/// A closed report's retention dates.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RetentionRow {
    pub id: String,
    pub closed_on: String,
    pub keep_until: Option<String>,
}

/// What the register keeps of a report: dates and codes, never content.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegisterRow {
    pub id: String,
    pub received_on: String,
    pub acknowledged_on: Option<String>,
    pub feedback_on: Option<String>,
    pub closed_on: Option<String>,
    pub keep_until: Option<String>,
    pub destroyed_on: Option<String>,
    pub status: String,
    pub chain_label: String,
    pub category: String,
    pub origin: String,
}

/// The cut-off days of a destruction run: due are reports closed on or before `closed_by`
/// whose extension (if any) runs to `until` at the latest.
#[derive(Debug, Clone, Copy)]
pub struct DueBy<'a> {
    pub closed_by: &'a str,
    pub until: &'a str,
}

const DUE: &str = "r.closed_on IS NOT NULL AND r.destroyed_on IS NULL AND r.closed_on <= $1 \
                   AND (r.keep_until IS NULL OR r.keep_until <= $2)";

impl Store {
    /// Closed reports due by `due` (all of them, or those `holder` has a wrap of), oldest
    /// closing first.
    pub async fn due_for_destruction(&self, due: DueBy<'_>, holder: Option<&str>) -> DbResult<Vec<RetentionRow>> {
        let sql = match holder {
            None => format!("SELECT r.id, r.closed_on, r.keep_until FROM reports r WHERE {DUE} ORDER BY r.closed_on, r.id"),
            Some(_) => format!(
                "SELECT r.id, r.closed_on, r.keep_until FROM reports r WHERE {DUE} AND EXISTS \
                 (SELECT 1 FROM report_wraps w WHERE w.report_id = r.id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $3) \
                 ORDER BY r.closed_on, r.id"
            ),
        };
        on_pool!(self, pool => {
            let q = sqlx::query_as::<_, RetentionRow>(&sql).bind(due.closed_by).bind(due.until);
            let q = match holder { Some(h) => q.bind(h), None => q };
            q.fetch_all(pool).await
        })
    }

    /// Destroys the content of a report if it is still closed and due: its wraps (so no key
    /// opens anything of it again), sealed fields, messages (notes and reasons included), files,
    /// deadline notices and the meldcode kept for a form sent twice, in one transaction with
    /// the audit row. The reports row stays as the register entry. False if the report was
    /// reopened, extended or destroyed meanwhile.
    pub async fn destroy_report(&self, id: &str, due: DueBy<'_>, today: &str, at: i64) -> DbResult<bool> {
        let guard = format!(
            "UPDATE reports SET destroyed_on = $3, key_commitment = $4, staff_commitment = NULL, unread_for_coordinators = 0, \
             next_due_on = '9999-12-31' WHERE id = $5 AND {}",
            DUE.replace("r.", "")
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Out of the inbox counts while the wraps still say whose counts they are.
            bump_counts!(tx, id, -1);
            let done = sqlx::query(&guard)
                .bind(due.closed_by).bind(due.until).bind(today).bind(Vec::<u8>::new()).bind(id)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if !done {
                tx.rollback().await?;
                return Ok(false);
            }
            for sql in [
                "DELETE FROM report_wraps WHERE report_id = $1",
                "DELETE FROM report_fields WHERE report_id = $1",
                "DELETE FROM messages WHERE report_id = $1",
                "DELETE FROM evidence_segments WHERE file_id IN (SELECT id FROM evidence_files WHERE report_id = $1)",
                "DELETE FROM evidence_files WHERE report_id = $1",
                "DELETE FROM deadline_notices WHERE report_id = $1",
                // The meldcode kept, sealed under the form's token, for a form sent twice.
                "UPDATE used_form_tokens SET sealed_code = NULL, report_id = NULL WHERE report_id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO audit_events (at, coordinator_id, action, report_id, detail) VALUES ($1, NULL, 'report_destroyed', $2, NULL)")
                .bind(at).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Keeps a closed report until `until` (a later day than it would have been destroyed),
    /// with the sealed reason and the audit row in the same transaction.
    pub async fn extend_retention(
        &self,
        id: &str,
        until: &str,
        note: &NewMessage,
        (at, coordinator_id): (i64, &str),
    ) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE reports SET keep_until = $1 WHERE id = $2 AND closed_on IS NOT NULL AND destroyed_on IS NULL \
                 AND (keep_until IS NULL OR keep_until < $1)")
                .bind(until).bind(id).execute(&mut *tx).await?.rows_affected() == 1;
            if !done {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_message_q(note).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO audit_events (at, coordinator_id, action, report_id, detail) VALUES ($1, $2, 'retention_extended', $3, $4)")
                .bind(at).bind(coordinator_id).bind(id).bind(until).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The register as `viewer` may see it: every report whose content is destroyed (the
    /// organisation's record, held by nobody any more) and the reports they hold; newest first.
    pub async fn register_rows(&self, viewer: &str, limit: i64, offset: i64) -> DbResult<Vec<RegisterRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, RegisterRow>(
            "SELECT r.id, r.received_on, r.acknowledged_on, r.feedback_on, r.closed_on, r.keep_until, r.destroyed_on, \
                    r.status, r.chain_label, r.category, r.origin FROM reports r \
             WHERE r.destroyed_on IS NOT NULL OR EXISTS (SELECT 1 FROM report_wraps w WHERE w.report_id = r.id \
                   AND w.recipient_kind = 'coordinator' AND w.recipient_id = $1) \
             ORDER BY r.received_on DESC, r.id DESC LIMIT $2 OFFSET $3")
            .bind(viewer).bind(limit).bind(offset).fetch_all(pool).await)
    }

    /// Whether the report a meldcode's locator names had its content destroyed.
    pub async fn destroyed_by_locator(&self, locator_hash: &[u8]) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM reports WHERE locator_hash = $1 AND destroyed_on IS NOT NULL")
            .bind(locator_hash).fetch_one(pool).await.map(|n| n > 0))
    }

    /// Refreshes the query planner's statistics (PostgreSQL `ANALYZE`; SQLite
    /// `PRAGMA optimize`): after a bulk load the PostgreSQL inbox otherwise runs on the
    /// statistics of much smaller tables (0.4 s instead of 4 ms at 100,000 reports) until
    /// autovacuum gets to it, or never where autovacuum is off. On PostgreSQL it runs on a
    /// connection of its own as the tables' owner: the service role may not analyze them.
    pub async fn refresh_statistics(&self) -> DbResult<()> {
        match self {
            Store::Sqlite(pool) => sqlx::query("PRAGMA optimize").execute(pool).await.map(|_| ()),
            Store::Postgres(pool) => {
                let mut conn = super::owner_connection(pool).await?;
                let done = sqlx::query("ANALYZE").execute(&mut conn).await.map(|_| ());
                conn.close().await.ok();
                done
            }
        }
    }

    /// Gives the space of destroyed rows back and leaves no copy of them in the write-ahead
    /// log. SQLite (the database, and the evidence file beside it, see below): `secure_delete` already zeroed the freed pages; the WAL is checkpointed
    /// and truncated (old page images of the content live there until then), then the file
    /// is compacted. PostgreSQL: `VACUUM (ANALYZE)` makes the dead rows' space reusable and
    /// refreshes the planner's statistics, as the tables' owner.
    pub async fn reclaim_space(&self) -> DbResult<()> {
        match self {
            Store::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("VACUUM").execute(&mut *conn).await?;
                // The evidence file: its freed pages (zeroed by secure_delete) are cut off the
                // end without rewriting the rest, so downloads hardly wait; its rollback
                // journal is truncated at the commit.
                sqlx::query("PRAGMA evidence.incremental_vacuum")
                    .execute(&mut *conn)
                    .await?;
                // A reader still on an old snapshot keeps the checkpoint from finishing; it
                // ends within moments, so try a few times.
                for _ in 0..20 {
                    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&mut *conn)
                        .await?;
                    if busy == 0 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Ok(())
            }
            Store::Postgres(pool) => {
                let mut conn = super::owner_connection(pool).await?;
                let done = sqlx::query(
                    "VACUUM (ANALYZE) reports, report_wraps, report_fields, messages, evidence_files, evidence_segments, deadline_notices",
                )
                .execute(&mut conn)
                .await
                .map(|_| ());
                conn.close().await.ok();
                done
            }
        }
    }
}
