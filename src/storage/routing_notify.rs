//! Queries for routing groups and the notification outbox. The outbox is claimed with a
//! short lease the live worker renews (and `FOR UPDATE SKIP LOCKED` on PostgreSQL), so two
//! live instances never send the same row; it holds no report id and no content.

use super::{insert_notice_q, on_pool, DbResult, Notice, Store};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedNotice {
    pub id: i64,
    pub coordinator_id: String,
    pub kind: String,
    pub attempts: i64,
    pub first_due_at: i64,
    /// The Message-ID a mail with this row was handed to the SMTP server with, kept until
    /// the row is sent (or the server said no), so a resend after a crash reuses it.
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub display_name: String,
    pub kind: String,
    pub state: String,
    pub due_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenDeadlineRow {
    pub id: String,
    pub received_on: String,
    pub acknowledged_on: Option<String>,
    pub feedback_on: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub group_name: String,
    pub coordinator_id: String,
    pub username: String,
    pub display_name: String,
    pub status: String,
}

impl Store {
    // ---- groups -------------------------------------------------------------------------

    pub async fn ensure_group(&self, name: &str, label: &str) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("INSERT INTO coordinator_groups (name, label) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name).bind(label).execute(pool).await.map(|_| ()))
    }

    pub async fn delete_group(&self, name: &str) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query("DELETE FROM coordinator_groups WHERE name = $1")
            .bind(name).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    pub async fn groups(&self) -> DbResult<Vec<(String, String)>> {
        on_pool!(self, pool => sqlx::query_as::<_, (String, String)>("SELECT name, label FROM coordinator_groups ORDER BY name")
            .fetch_all(pool).await)
    }

    pub async fn group_members(&self) -> DbResult<Vec<MemberRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, MemberRow>(
            "SELECT m.group_name, c.id AS coordinator_id, c.username, c.display_name, c.status \
             FROM group_members m JOIN coordinators c ON c.id = m.coordinator_id ORDER BY m.group_name, c.username")
            .fetch_all(pool).await)
    }

    pub async fn add_member(&self, group: &str, coordinator_id: &str) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query("INSERT INTO group_members (group_name, coordinator_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(group).bind(coordinator_id).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    pub async fn remove_member(&self, group: &str, coordinator_id: &str) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query("DELETE FROM group_members WHERE group_name = $1 AND coordinator_id = $2")
            .bind(group).bind(coordinator_id).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    /// Active members of one group, with their public keys.
    pub async fn active_members(&self, group: &str) -> DbResult<Vec<(String, Vec<u8>)>> {
        on_pool!(self, pool => sqlx::query_as::<_, (String, Vec<u8>)>(
            "SELECT c.id, c.public_key FROM coordinators c JOIN group_members m ON m.coordinator_id = c.id \
             WHERE m.group_name = $1 AND c.status = 'active' ORDER BY c.id")
            .bind(group).fetch_all(pool).await)
    }

    /// Coordinators holding a wrap for a report: the ones to tell about news in it.
    pub async fn coordinators_with_access(&self, report_id: &str) -> DbResult<Vec<String>> {
        on_pool!(self, pool => sqlx::query_scalar::<_, String>(
            "SELECT recipient_id FROM report_wraps WHERE report_id = $1 AND recipient_kind = 'coordinator' ORDER BY recipient_id")
            .bind(report_id).fetch_all(pool).await)
    }

    pub async fn set_coordinator_email(&self, username: &str, email: Option<&str>, language: &str) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query("UPDATE coordinators SET email = $1, language = $2 WHERE username = $3")
            .bind(email).bind(language).bind(username).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    // ---- outbox -------------------------------------------------------------------------

    /// Claims up to `limit` due rows for `worker` until `lease_until`.
    pub async fn claim_outbox(
        &self,
        worker: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> DbResult<Vec<ClaimedNotice>> {
        const PICK: &str = "SELECT id FROM outbox WHERE state = 'pending' AND due_at <= $3 \
                            AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY id LIMIT $4";
        match self {
            Store::Postgres(pool) => {
                let q = format!("UPDATE outbox SET claimed_by = $1, claimed_until = $2 WHERE id IN ({PICK} FOR UPDATE SKIP LOCKED) \
                                 RETURNING id, coordinator_id, kind, attempts, first_due_at, message_id");
                sqlx::query_as::<_, ClaimedNotice>(&q)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
            }
            // SQLite runs one writer at a time, so the UPDATE is already exclusive.
            Store::Sqlite(pool) => {
                let q = format!(
                    "UPDATE outbox SET claimed_by = $1, claimed_until = $2 WHERE id IN ({PICK}) \
                                 RETURNING id, coordinator_id, kind, attempts, first_due_at, message_id"
                );
                sqlx::query_as::<_, ClaimedNotice>(&q)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
            }
        }
    }

    /// Extends `worker`'s claim on the rows `ids` it still holds to `lease_until`; how many
    /// it still held. A row sent, failed or taken over by another worker is left alone.
    pub async fn renew_outbox_claim(&self, worker: &str, ids: &[i64], lease_until: i64) -> DbResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let q = format!(
            "UPDATE outbox SET claimed_until = $1 WHERE claimed_by = $2 AND state = 'pending' AND id IN ({})",
            id_list(3, ids.len())
        );
        on_pool!(self, pool => {
            let mut query = sqlx::query(&q).bind(lease_until).bind(worker);
            for id in ids {
                query = query.bind(*id);
            }
            query.execute(pool).await.map(|r| r.rows_affected())
        })
    }

    /// Records the Message-ID of the mail about to merge the rows `ids`, before it is handed
    /// to the SMTP server. True if `worker` still held every one of them (and none had one).
    pub async fn outbox_set_message_id(&self, worker: &str, ids: &[i64], message_id: &str) -> DbResult<bool> {
        if ids.is_empty() {
            return Ok(true);
        }
        let q = format!(
            "UPDATE outbox SET message_id = $1 WHERE claimed_by = $2 AND state = 'pending' AND message_id IS NULL \
             AND id IN ({})",
            id_list(3, ids.len())
        );
        on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                let mut query = sqlx::query(&q).bind(message_id).bind(worker);
                for id in ids {
                    query = query.bind(*id);
                }
                let done = query.execute(&mut *tx).await?.rows_affected();
                if done == ids.len() as u64 {
                    tx.commit().await?;
                    Ok(true)
                } else {
                    tx.rollback().await?;
                    Ok(false)
                }
            }
            .await
        })
    }

    /// Marks a row delivered; false if `worker` no longer held it (its claim lapsed).
    pub async fn outbox_sent(&self, id: i64, worker: &str, now: i64) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = $1, claimed_by = NULL, claimed_until = NULL, last_error = NULL \
             WHERE id = $2 AND claimed_by = $3")
            .bind(now).bind(id).bind(worker).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    /// Records a failed attempt: retry at `retry_at`, or give up for good. The Message-ID
    /// is kept when the mail may have arrived all the same (`maybe_delivered`: the server
    /// went silent or the connection broke after the mail was handed over), so the retry
    /// is recognisable as the same mail; otherwise the row may merge into a new mail.
    pub async fn outbox_failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
        maybe_delivered: bool,
    ) -> DbResult<()> {
        let (state, due) = match retry_at {
            Some(t) => ("pending", Some(t)),
            None => ("given_up", None),
        };
        on_pool!(self, pool => sqlx::query(
            "UPDATE outbox SET state = $1, due_at = COALESCE($2, due_at), attempts = attempts + 1, last_error = $3, \
             claimed_by = NULL, claimed_until = NULL, message_id = CASE WHEN $6 THEN message_id ELSE NULL END \
             WHERE id = $4 AND claimed_by = $5")
            .bind(state).bind(due).bind(error).bind(id).bind(worker).bind(maybe_delivered)
            .execute(pool).await.map(|_| ()))
    }

    /// Recent outbox rows for the admin view, newest first.
    pub async fn outbox(&self, limit: i64) -> DbResult<Vec<OutboxRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, OutboxRow>(
            "SELECT o.id, c.display_name, o.kind, o.state, o.due_at, o.attempts, o.last_error, o.sent_at \
             FROM outbox o JOIN coordinators c ON c.id = o.coordinator_id ORDER BY o.id DESC LIMIT $1")
            .bind(limit).fetch_all(pool).await)
    }

    /// Forgets delivered rows older than `before`.
    pub async fn prune_outbox(&self, before: i64) -> DbResult<u64> {
        on_pool!(self, pool => sqlx::query("DELETE FROM outbox WHERE state = 'sent' AND sent_at < $1")
            .bind(before).execute(pool).await.map(|r| r.rows_affected()))
    }

    // ---- deadline warnings --------------------------------------------------------------

    pub async fn open_reports_for_deadlines(&self) -> DbResult<Vec<OpenDeadlineRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, OpenDeadlineRow>(
            "SELECT id, received_on, acknowledged_on, feedback_on FROM reports WHERE status NOT IN ('afgerond', 'gesloten')")
            .fetch_all(pool).await)
    }

    /// Queues a deadline warning once per report and kind; false if it was queued before.
    pub async fn queue_deadline_notice(&self, report_id: &str, kind: &str, due_at: i64) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query("INSERT INTO deadline_notices (report_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(report_id).bind(kind).execute(&mut *tx).await?.rows_affected() == 1;
            if fresh {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT recipient_id FROM report_wraps WHERE report_id = $1 AND recipient_kind = 'coordinator'")
                    .bind(report_id).fetch_all(&mut *tx).await?;
                for coordinator_id in ids {
                    insert_notice_q(&Notice { coordinator_id, kind: kind.to_string(), due_at }).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(fresh)
        })
    }
}

/// `$first, $first+1, ...`: `n` numbered parameters for an `IN (...)` list.
fn id_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
