//! Queries for triage: status changes, relabelling and recorded feedback, each with its
//! sealed internal note in the same transaction.

use super::counts::bump_counts;
use super::{insert_message_q, on_pool, DbResult, NewMessage, Store};

impl Store {
    /// Moves a report from `from` to `to` (only if it is still at `from`), with an optional
    /// sealed note explaining why. False if the status had changed meanwhile. Completing or
    /// closing starts the retention count on `today` (kept when it had started already);
    /// reopening stops it. `next_due_on` is the next deadline under the new status (none once
    /// completed or closed, the open one again when reopened).
    pub async fn change_status(
        &self,
        report_id: &str,
        (from, to): (&str, &str),
        (today, next_due_on): (&str, &str),
        note: Option<&NewMessage>,
    ) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE reports SET status = $1, next_due_on = $5, \
                 closed_on = CASE WHEN $1 IN ('afgerond', 'gesloten') THEN COALESCE(closed_on, $4) ELSE NULL END \
                 WHERE id = $2 AND status = $3 AND destroyed_on IS NULL")
                .bind(to).bind(report_id).bind(from).bind(today).bind(next_due_on)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if !done {
                tx.rollback().await?;
                return Ok(false);
            }
            if let Some(n) = note {
                insert_message_q(n).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Changes the chain label or the category (`column` is one of those two names, never
    /// user input), with the sealed note giving the reason.
    pub async fn relabel(
        &self,
        report_id: &str,
        column: Relabel,
        from: &str,
        to: &str,
        note: &NewMessage,
    ) -> DbResult<bool> {
        let sql = match column {
            Relabel::Chain => "UPDATE reports SET chain_label = $1 WHERE id = $2 AND chain_label = $3",
            Relabel::Category => "UPDATE reports SET category = $1 WHERE id = $2 AND category = $3",
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            bump_counts!(tx, report_id, -1);
            let done = sqlx::query(sql).bind(to).bind(report_id).bind(from).execute(&mut *tx).await?.rows_affected() == 1;
            bump_counts!(tx, report_id, 1);
            if !done {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_message_q(note).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records the first feedback on the follow-up (the legal 3-month deadline).
    pub async fn record_feedback(&self, report_id: &str, on: &str, next_due_on: &str) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE reports SET feedback_on = $1, next_due_on = $3 WHERE id = $2 AND feedback_on IS NULL")
            .bind(on).bind(report_id).bind(next_due_on).execute(pool).await.map(|_| ()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relabel {
    Chain,
    Category,
}

impl Store {
    /// Adds a coordinator's wrap of a report key (a grant). False if they had one already.
    /// Gives a coordinator a wrap of the report key. `staff` says whether the wrap carries a
    /// staff key: it is only added if that matches the report (a wrap made from a key read
    /// before another coordinator gave the report its staff key would lack it).
    pub async fn add_wrap(&self, report_id: &str, coordinator_id: &str, wrapped: &[u8], staff: bool) -> DbResult<bool> {
        // PostgreSQL locks the report row, so this waits for a staff-key upgrade in flight;
        // SQLite's single writer already serialises them.
        let lock = matches!(self, Store::Postgres(_)).then_some("SELECT id FROM reports WHERE id = $1 FOR UPDATE");
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some(lock) = lock {
                sqlx::query(lock).bind(report_id).execute(&mut *tx).await?;
            }
            let has_staff: Option<bool> = sqlx::query_scalar("SELECT staff_commitment IS NOT NULL FROM reports WHERE id = $1")
                .bind(report_id).fetch_optional(&mut *tx).await?;
            if has_staff != Some(staff) {
                tx.rollback().await?;
                return Ok(false);
            }
            let added = sqlx::query(
                "INSERT INTO report_wraps (report_id, recipient_kind, recipient_id, wrapped) VALUES ($1, 'coordinator', $2, $3) ON CONFLICT DO NOTHING")
                .bind(report_id).bind(coordinator_id).bind(wrapped).execute(&mut *tx).await?.rows_affected() == 1;
            if added {
                bump_counts!(tx, report_id, 1, only coordinator_id);
            }
            tx.commit().await?;
            Ok(added)
        })
    }

    /// Who holds a staff-side wrap of a report: (recipient kind, recipient id, the wrap as it
    /// is now), coordinators and the recovery key.
    pub async fn staff_wrap_holders(&self, report_id: &str) -> DbResult<Vec<(String, String, Vec<u8>)>> {
        on_pool!(self, pool => sqlx::query_as::<_, (String, String, Vec<u8>)>(
            "SELECT recipient_kind, recipient_id, wrapped FROM report_wraps WHERE report_id = $1 AND recipient_kind IN ('coordinator', 'recovery') \
             ORDER BY recipient_kind, recipient_id")
            .bind(report_id).fetch_all(pool).await)
    }

    /// Gives a report a (new) staff key, in one transaction: the commitment with its
    /// signer and signature, every staff-side wrap replaced by one carrying the staff key,
    /// and every note re-sealed under it. False (nothing changed) if another coordinator did
    /// it first (the commitment is no longer `old`), or if a wrap or note came or went since
    /// they were read: the next look tries again.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_staff_key(
        &self,
        report_id: &str,
        old: Option<&[u8]>,
        commitment: &[u8],
        (signer, signature): (&[u8], &[u8]),
        // (kind, recipient, the wrap read before, its replacement)
        wraps: &[(String, String, Vec<u8>, Vec<u8>)],
        // (kind, recipient) of wraps to remove: held by nobody who may hold one
        dropped: &[(String, String)],
        notes: &[(String, Vec<u8>)],
    ) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let first = sqlx::query(
                "UPDATE reports SET staff_commitment = $1, staff_signer = $2, staff_signature = $3 \
                 WHERE id = $4 AND staff_commitment IS NOT DISTINCT FROM $5 AND destroyed_on IS NULL")
                .bind(commitment).bind(signer).bind(signature).bind(report_id).bind(old)
                .execute(&mut *tx).await?.rows_affected() == 1;
            let holders: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM report_wraps WHERE report_id = $1 AND recipient_kind IN ('coordinator', 'recovery')")
                .bind(report_id).fetch_one(&mut *tx).await?;
            let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE report_id = $1 AND kind = 'note'")
                .bind(report_id).fetch_one(&mut *tx).await?;
            let mut same = first && holders == (wraps.len() + dropped.len()) as i64 && kept == notes.len() as i64;
            for (kind, recipient) in dropped {
                if !same {
                    break;
                }
                if kind == "coordinator" {
                    bump_counts!(tx, report_id, -1, only recipient);
                }
                same = sqlx::query("DELETE FROM report_wraps WHERE report_id = $1 AND recipient_kind = $2 AND recipient_id = $3")
                    .bind(report_id).bind(kind).bind(recipient).execute(&mut *tx).await?.rows_affected() == 1;
            }
            for (kind, recipient, before, wrapped) in wraps {
                if !same {
                    break;
                }
                // Only the wrap that was read: one rewritten meanwhile (a recovery, a new
                // grant) makes the whole upgrade wait for the next look.
                same = sqlx::query("UPDATE report_wraps SET wrapped = $1 WHERE report_id = $2 AND recipient_kind = $3 AND recipient_id = $4 AND wrapped = $5")
                    .bind(wrapped).bind(report_id).bind(kind).bind(recipient).bind(before).execute(&mut *tx).await?.rows_affected() == 1;
            }
            for (id, sealed) in notes {
                if !same {
                    break;
                }
                same = sqlx::query("UPDATE messages SET sealed = $1 WHERE id = $2 AND report_id = $3 AND kind = 'note'")
                    .bind(sealed).bind(id).bind(report_id).execute(&mut *tx).await?.rows_affected() == 1;
            }
            if !same {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Removes a coordinator's wrap unless it is the last coordinator wrap of the report, so a
    /// report is never left that no coordinator can read.
    pub async fn remove_wrap_unless_last(&self, report_id: &str, coordinator_id: &str) -> DbResult<WrapRemoval> {
        // Two revocations at once must not both see "one left": PostgreSQL locks the report
        // row first; SQLite's single writer already serialises them.
        let lock = matches!(self, Store::Postgres(_)).then_some("SELECT id FROM reports WHERE id = $1 FOR UPDATE");
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some(sql) = lock {
                sqlx::query(sql).bind(report_id).execute(&mut *tx).await?;
            }
            bump_counts!(tx, report_id, -1, only coordinator_id);
            let removed = sqlx::query("DELETE FROM report_wraps WHERE report_id = $1 AND recipient_kind = 'coordinator' AND recipient_id = $2")
                .bind(report_id).bind(coordinator_id).execute(&mut *tx).await?.rows_affected();
            if removed == 0 {
                tx.rollback().await?;
                return Ok(WrapRemoval::NotHeld);
            }
            let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_wraps WHERE report_id = $1 AND recipient_kind = 'coordinator'")
                .bind(report_id).fetch_one(&mut *tx).await?;
            if left == 0 {
                tx.rollback().await?;
                return Ok(WrapRemoval::WouldLeaveNobody);
            }
            tx.commit().await?;
            Ok(WrapRemoval::Removed)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapRemoval {
    Removed,
    NotHeld,
    WouldLeaveNobody,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OverviewRow {
    pub received_on: String,
    pub acknowledged_on: Option<String>,
    pub feedback_on: Option<String>,
    pub status: String,
    pub chain_label: String,
    pub category: String,
}

/// Reports per (quarter of receipt, chain link, category, closed), kept by triggers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OverviewCount {
    pub quarter: String,
    pub chain_label: String,
    pub category: String,
    pub closed: i64,
    pub n: i64,
}

/// Open reports past a deadline per group; `acked` 1 when it is the feedback that is late.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OverdueCount {
    pub quarter: String,
    pub chain_label: String,
    pub category: String,
    pub acked: i64,
    pub n: i64,
}

/// Open reports with a deadline before `$1`, per overview group: counted live, and what a
/// recount keeps for a new day.
const OVERDUE_BY_GROUP: &str = "SELECT substr(received_on, 1, 4) || '-K' || ((CAST(substr(received_on, 6, 2) AS INTEGER) + 2) / 3) AS quarter, \
     chain_label, category, CAST(CASE WHEN acknowledged_on IS NULL THEN 0 ELSE 1 END AS BIGINT) AS acked, COUNT(*) AS n \
     FROM reports WHERE next_due_on < $1 GROUP BY 1, 2, 3, 4";

/// The overview's version and the day its overdue counts are kept for (migration 0015).
const VERSION_AND_DAY: &str =
    "SELECT v.v, d.as_of FROM overview_version v, overview_overdue_day d WHERE v.id = 1 AND d.id = 1";

/// What the database keeps for the chain overview, from one snapshot: the version of the
/// counts, the day the overdue counts are for, and the counts.
#[derive(Debug, Clone)]
pub struct KeptOverview {
    pub version: i64,
    pub day: String,
    pub counts: Vec<OverviewCount>,
    pub acks: Vec<OverviewAckDays>,
    pub overdue: Vec<OverdueCount>,
}

/// Acknowledged reports per group and number of days it took, kept by triggers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OverviewAckDays {
    pub quarter: String,
    pub chain_label: String,
    pub category: String,
    pub days: i64,
    pub n: i64,
}

impl Store {
    /// Open reports past their next deadline on `today`, per group and whether they were
    /// acknowledged (then it is the feedback that is late): an index range on next_due_on,
    /// as closed reports and those with feedback given have none.
    pub async fn overdue_counts(&self, today: &str) -> DbResult<Vec<OverdueCount>> {
        on_pool!(self, pool => sqlx::query_as::<_, OverdueCount>(OVERDUE_BY_GROUP)
            .bind(today).fetch_all(pool).await)
    }

    /// The version of what the overview counts and the day its overdue counts are kept for
    /// (migration 0015): one small row each, read on every overview request.
    pub async fn overview_version(&self) -> DbResult<(i64, String)> {
        on_pool!(self, pool => sqlx::query_as::<_, (i64, String)>(
            VERSION_AND_DAY).fetch_one(pool).await)
    }

    /// Everything the database keeps for the overview, read from one snapshot, with the
    /// version and day it belongs to.
    pub async fn overview_kept(&self) -> DbResult<KeptOverview> {
        let postgres = matches!(self, Store::Postgres(_));
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if postgres {
                // One snapshot for all four reads (READ COMMITTED takes one per statement).
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
            }
            let (version, day) = sqlx::query_as::<_, (i64, String)>(VERSION_AND_DAY).fetch_one(&mut *tx).await?;
            let counts = sqlx::query_as::<_, OverviewCount>(
                "SELECT quarter, chain_label, category, CAST(closed AS BIGINT) AS closed, n FROM overview_counts WHERE n > 0")
                .fetch_all(&mut *tx).await?;
            let acks = sqlx::query_as::<_, OverviewAckDays>(
                "SELECT quarter, chain_label, category, days, n FROM overview_ack_days WHERE n > 0")
                .fetch_all(&mut *tx).await?;
            let overdue = sqlx::query_as::<_, OverdueCount>(
                "SELECT quarter, chain_label, category, CAST(acked AS BIGINT) AS acked, n FROM overview_overdue WHERE n > 0")
                .fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(KeptOverview { version, day, counts, acks, overdue })
        })
    }

    /// Moves the kept overdue counts to `today` (never back): the day row first, which on
    /// PostgreSQL waits for every transaction whose trigger read the old day and holds off
    /// new ones until the recount is committed (see the migration).
    pub async fn recount_overdue(&self, today: &str) -> DbResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved = sqlx::query("UPDATE overview_overdue_day SET as_of = $1 WHERE id = 1 AND as_of < $1")
                .bind(today).execute(&mut *tx).await?.rows_affected() == 1;
            if !moved {
                tx.rollback().await?;
                return Ok(());
            }
            sqlx::query("DELETE FROM overview_overdue").execute(&mut *tx).await?;
            sqlx::query(&format!("INSERT INTO overview_overdue (quarter, chain_label, category, acked, n) {OVERDUE_BY_GROUP}"))
                .bind(today).execute(&mut *tx).await?;
            sqlx::query("UPDATE overview_version SET v = v + 1 WHERE id = 1").execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The clear columns of every report, for aggregate counts (never content).
    pub async fn overview_rows(&self) -> DbResult<Vec<OverviewRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, OverviewRow>(
            "SELECT received_on, acknowledged_on, feedback_on, status, chain_label, category FROM reports")
            .fetch_all(pool).await)
    }
}
