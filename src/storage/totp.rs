//! Queries for the second factor: the sealed TOTP secret, the last accepted step (a code
//! works once), and hashed one-time recovery codes.

use super::{on_pool, DbResult, Store};

impl Store {
    /// Stores a new sealed TOTP secret and recovery code hashes, replacing any old ones.
    pub async fn set_totp(
        &self,
        coordinator_id: &str,
        sealed: &[u8],
        step: i64,
        code_hashes: &[Vec<u8>],
    ) -> DbResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE coordinators SET totp_sealed = $1, totp_last_step = $2 WHERE id = $3")
                .bind(sealed).bind(step).bind(coordinator_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM totp_recovery_codes WHERE coordinator_id = $1").bind(coordinator_id).execute(&mut *tx).await?;
            for h in code_hashes {
                sqlx::query("INSERT INTO totp_recovery_codes (coordinator_id, code_hash) VALUES ($1, $2)")
                    .bind(coordinator_id).bind(h).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Accepts a TOTP step once: false if this or a later step was used already.
    pub async fn use_totp_step(&self, coordinator_id: &str, step: i64) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE coordinators SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)")
            .bind(step).bind(coordinator_id).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    /// Uses up a recovery code: true if it existed.
    pub async fn use_recovery_code(&self, coordinator_id: &str, code_hash: &[u8]) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query("DELETE FROM totp_recovery_codes WHERE coordinator_id = $1 AND code_hash = $2")
            .bind(coordinator_id).bind(code_hash).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    pub async fn recovery_codes_left(&self, coordinator_id: &str) -> DbResult<i64> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM totp_recovery_codes WHERE coordinator_id = $1")
            .bind(coordinator_id).fetch_one(pool).await)
    }

    /// Forgets a coordinator's second factor (they enrol again at next login) and ends their
    /// sessions.
    pub async fn reset_totp(&self, coordinator_id: &str) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let found = sqlx::query("UPDATE coordinators SET totp_sealed = NULL, totp_last_step = NULL WHERE id = $1")
                .bind(coordinator_id).execute(&mut *tx).await?.rows_affected() == 1;
            sqlx::query("DELETE FROM totp_recovery_codes WHERE coordinator_id = $1").bind(coordinator_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE kind = 'coordinator' AND subject_id = $1").bind(coordinator_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(found)
        })
    }
}
