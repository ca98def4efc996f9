//! Queries for recipient-key signatures: coordinators' key endorsements, signed group
//! memberships and the signature on a report's staff key. Storage keeps them; whether they
//! verify is `domain::keyring`'s to decide, never a column's.

use super::{on_pool, DbResult, Store};

/// A coordinator's keys as vouched for: the X25519 key reports are wrapped to, the Ed25519
/// key they sign with, and who vouched (a verifying key) with their signature.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endorsement {
    pub coordinator_id: String,
    pub public_key: Vec<u8>,
    pub verifying_key: Vec<u8>,
    pub signer: Vec<u8>,
    pub signature: Vec<u8>,
}

/// One group membership with its signature (`None` for one added without a person:
/// by hand, or by the command line).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignedMember {
    pub group_name: String,
    pub coordinator_id: String,
    pub signer: Option<Vec<u8>>,
    pub signature: Option<Vec<u8>>,
}

/// Keeps a coordinator's endorsement as retired when the one replacing it has another
/// signing key: ($1 coordinator, $2 now, $3 the new verifying key).
const RETIRE_REPLACED: &str =
    "INSERT INTO retired_endorsements (coordinator_id, public_key, verifying_key, signer, signature, retired_at) \
     SELECT coordinator_id, public_key, verifying_key, signer, signature, $2 FROM key_endorsements \
     WHERE coordinator_id = $1 AND verifying_key <> $3";

/// Stores or replaces a coordinator's endorsement: ($1..$5 the endorsement, $6 now).
pub(super) const UPSERT_ENDORSEMENT: &str = "INSERT INTO key_endorsements (coordinator_id, public_key, verifying_key, signer, signature, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (coordinator_id) DO UPDATE SET public_key = excluded.public_key, \
     verifying_key = excluded.verifying_key, signer = excluded.signer, signature = excluded.signature, created_at = excluded.created_at";

impl Store {
    /// Records the signing key a coordinator's secret gives (at a login, for an account
    /// from before signatures, or after a new key pair).
    pub async fn set_verifying_key(&self, coordinator_id: &str, verifying: &[u8]) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE coordinators SET verifying_key = $1 WHERE id = $2")
            .bind(verifying).bind(coordinator_id).execute(pool).await.map(|_| ()))
    }

    pub async fn endorsements(&self) -> DbResult<Vec<Endorsement>> {
        on_pool!(self, pool => sqlx::query_as::<_, Endorsement>(
            "SELECT coordinator_id, public_key, verifying_key, signer, signature FROM key_endorsements ORDER BY coordinator_id")
            .fetch_all(pool).await)
    }

    /// Stores (or replaces) a coordinator's endorsement. One replaced by another signing
    /// key is kept as retired, so what the old key signed keeps counting.
    pub async fn set_endorsement(&self, e: &Endorsement, now: i64) -> DbResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(RETIRE_REPLACED)
                .bind(&e.coordinator_id).bind(now).bind(&e.verifying_key).execute(&mut *tx).await?;
            sqlx::query(UPSERT_ENDORSEMENT)
                .bind(&e.coordinator_id).bind(&e.public_key).bind(&e.verifying_key).bind(&e.signer).bind(&e.signature).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Endorsements whose keys were replaced or whose coordinator was removed.
    pub async fn retired_endorsements(&self) -> DbResult<Vec<Endorsement>> {
        on_pool!(self, pool => sqlx::query_as::<_, Endorsement>(
            "SELECT coordinator_id, public_key, verifying_key, signer, signature FROM retired_endorsements ORDER BY retired_at")
            .fetch_all(pool).await)
    }

    /// Approves a coordinator (pending, or active but not yet vouched for as a signer) with
    /// the approver's endorsement of exactly the keys the approver was shown, in one
    /// transaction. False (nothing changed) if there was no such coordinator with that key.
    pub async fn approve_with_endorsement(&self, e: &Endorsement, now: i64) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let approved = sqlx::query("UPDATE coordinators SET status = 'active' WHERE id = $1 AND status IN ('pending', 'active') AND public_key = $2")
                .bind(&e.coordinator_id).bind(&e.public_key).execute(&mut *tx).await?.rows_affected() == 1;
            if !approved {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(RETIRE_REPLACED)
                .bind(&e.coordinator_id).bind(now).bind(&e.verifying_key).execute(&mut *tx).await?;
            sqlx::query(UPSERT_ENDORSEMENT)
                .bind(&e.coordinator_id).bind(&e.public_key).bind(&e.verifying_key).bind(&e.signer).bind(&e.signature).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    pub async fn signed_members(&self) -> DbResult<Vec<SignedMember>> {
        on_pool!(self, pool => sqlx::query_as::<_, SignedMember>(
            "SELECT group_name, coordinator_id, signer, signature FROM group_members ORDER BY group_name, coordinator_id")
            .fetch_all(pool).await)
    }

    /// Adds (or confirms) a membership with its signature. False if the group or the
    /// coordinator does not exist.
    pub async fn add_signed_member(
        &self,
        group: &str,
        coordinator_id: &str,
        signer: &[u8],
        signature: &[u8],
    ) -> DbResult<bool> {
        let upsert = format!(
            "INSERT INTO group_members (group_name, coordinator_id, signer, signature) VALUES ($1, $2, $3, $4) \
             ON CONFLICT ({}group_name, coordinator_id) DO UPDATE SET signer = excluded.signer, signature = excluded.signature",
            self.org_key()
        );
        on_pool!(self, pool => {
            let exists: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM coordinator_groups g, coordinators c WHERE g.name = $1 AND c.id = $2")
                .bind(group).bind(coordinator_id).fetch_one(pool).await?;
            if exists == 0 {
                return Ok(false);
            }
            sqlx::query(&upsert)
                .bind(group).bind(coordinator_id).bind(signer).bind(signature).execute(pool).await.map(|_| true)
        })
    }

    /// Signs every membership at once (vouching for an installation from before signed
    /// memberships): (group, coordinator id, signer, signature).
    pub async fn sign_members(&self, signed: &[(String, String, Vec<u8>, Vec<u8>)]) -> DbResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (g, c, signer, sig) in signed {
                sqlx::query("UPDATE group_members SET signer = $1, signature = $2 WHERE group_name = $3 AND coordinator_id = $4")
                    .bind(signer).bind(sig).bind(g).bind(c).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Who signed a report's staff key, and the signature; `None` if nobody did.
    pub async fn staff_signature(&self, report_id: &str) -> DbResult<Option<(Vec<u8>, Vec<u8>)>> {
        type Pair = (Option<Vec<u8>>, Option<Vec<u8>>);
        let row: Option<Pair> = on_pool!(self, pool => sqlx::query_as(
            "SELECT staff_signer, staff_signature FROM reports WHERE id = $1")
            .bind(report_id).fetch_optional(pool).await)?;
        Ok(row.and_then(|(s, g)| s.zip(g)))
    }
}
