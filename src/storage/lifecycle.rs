//! What `organisation export`, `import` and `remove` need of storage: an organisation's
//! counts for its export and certificate, the destruction of its sealed secret in the
//! registry, and (PostgreSQL) its rows, table by table, read and written through its own
//! store under row-level security.

use super::{on_pool, DbResult, Store};

impl Store {
    /// Destroys an organisation's own secret (the registry's sealed copy is its only one)
    /// and suspends it, logging it: the first step of `organisation remove`. A running
    /// service can no longer open the organisation and answers 503 for it until its row
    /// goes. False if there is no such organisation.
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
