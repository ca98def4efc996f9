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

impl Store {
    /// The ids of the reports a coordinator holds a wrap for.
    pub async fn reports_of(&self, coordinator_id: &str) -> DbResult<Vec<String>> {
        on_pool!(self, pool => sqlx::query_scalar::<_, String>(
            "SELECT report_id FROM report_wraps WHERE recipient_kind = 'coordinator' AND recipient_id = $1")
            .bind(coordinator_id).fetch_all(pool).await)
    }

    /// Every report with its key commitment and recovery-key wrap.
    /// Every report's recovery wrap: (report id, key commitment, staff commitment, wrap).
    pub async fn recovery_wraps(&self) -> DbResult<Vec<(String, Vec<u8>, Option<Vec<u8>>, Vec<u8>)>> {
        on_pool!(self, pool => sqlx::query_as::<_, (String, Vec<u8>, Option<Vec<u8>>, Vec<u8>)>(
            "SELECT r.id, r.key_commitment, r.staff_commitment, w.wrapped FROM reports r \
             JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'recovery' ORDER BY r.id")
            .fetch_all(pool).await)
    }

    /// Gives a coordinator a new key pair and new wraps (recovery after a lost password), in
    /// one transaction: the old wraps, sessions and second factor (sealed under the old key)
    /// go.
    pub async fn replace_coordinator_key(
        &self,
        id: &str,
        public: &[u8],
        sealed_private: &[u8],
        // (report id, new wrap, the recovery wrap it was made from)
        wraps: &[(String, Vec<u8>, Vec<u8>)],
    ) -> DbResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE coordinators SET public_key = $1, sealed_private_key = $2, totp_sealed = NULL, totp_last_step = NULL WHERE id = $3")
                .bind(public).bind(sealed_private).bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM report_wraps WHERE recipient_kind = 'coordinator' AND recipient_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE kind = 'coordinator' AND subject_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM totp_recovery_codes WHERE coordinator_id = $1").bind(id).execute(&mut *tx).await?;
            for (report_id, wrapped, recovery_wrap) in wraps {
                // The recovery wrap the key came from must still be the report's: a
                // colleague's first look may have given the report a staff key meanwhile,
                // which this wrap would lack.
                let current: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM report_wraps WHERE report_id = $1 AND recipient_kind = 'recovery' AND wrapped = $2")
                    .bind(report_id).bind(recovery_wrap).fetch_one(&mut *tx).await?;
                if current != 1 {
                    tx.rollback().await?;
                    return Err(sqlx::Error::Protocol(format!(
                        "report {report_id} changed while recovering (a colleague opened it); run the command again")));
                }
                sqlx::query("INSERT INTO report_wraps (report_id, recipient_kind, recipient_id, wrapped) VALUES ($1, 'coordinator', $2, $3)")
                    .bind(report_id).bind(id).bind(wrapped).execute(&mut *tx).await?;
            }
            // The coordinator now holds every report: count them afresh.
            sqlx::query("DELETE FROM inbox_counts WHERE coordinator_id = $1").bind(id).execute(&mut *tx).await?;
            for (dim, col) in [("status", "status"), ("label", "chain_label"), ("category", "category"), ("subject", "subject_role")] {
                let sql = format!(
                    "INSERT INTO inbox_counts (coordinator_id, dimension, value, n) SELECT $1, '{dim}', r.{col}, COUNT(*) FROM reports r \
                     JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $1 GROUP BY r.{col}");
                sqlx::query(&sql).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// A new password: the same key pair sealed anew; every session of the coordinator ends.
    pub async fn reseal_private_key(&self, id: &str, sealed_private: &[u8]) -> DbResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE coordinators SET sealed_private_key = $1 WHERE id = $2").bind(sealed_private).bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE kind = 'coordinator' AND subject_id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRow {
    pub username: String,
    pub display_name: String,
}

impl Store {
    pub async fn insert_invite(
        &self,
        token_hash: &[u8],
        username: &str,
        display_name: &str,
        invited_by: &str,
        expires_at: i64,
    ) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO invites (token_hash, username, display_name, invited_by, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash).bind(username).bind(display_name).bind(invited_by).bind(expires_at).execute(pool).await.map(|_| ()))
    }

    pub async fn invite(&self, token_hash: &[u8], now: i64) -> DbResult<Option<InviteRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, InviteRow>(
            "SELECT username, display_name FROM invites WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash).bind(now).fetch_optional(pool).await)
    }

    /// Uses up an invitation and creates the coordinator, in one transaction. False if the
    /// invitation was used or expired meanwhile.
    pub async fn accept_invite(&self, token_hash: &[u8], now: i64, c: &super::CoordinatorRow) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let used = sqlx::query("DELETE FROM invites WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if !used {
                tx.rollback().await?;
                return Ok(false);
            }
            super::insert_coordinator_q(c).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
