//! Counters of the flood limits, shared by every instance on the database and kept over a
//! restart (SECURITY.md, "Floods"): per kind and clock hour, taken and given back in single
//! statements, so two instances counting at once cannot pass a limit together. Only the
//! current hour is kept: a count per hour of earlier hours would date reports to the hour.

use super::{on_pool, DbResult, Store};

impl Store {
    /// Adds `n` to `kind`'s count of `hour` if the count stays at most `max`; false (adding
    /// nothing) otherwise. Forgets the counts of earlier hours on the way.
    pub async fn flood_take(&self, kind: &str, hour: i64, n: i64, max: i64) -> DbResult<bool> {
        if n > max {
            return Ok(false);
        }
        let upsert = format!(
            "INSERT INTO flood_counts (kind, hour, used) VALUES ($1, $2, $3) \
             ON CONFLICT ({}kind, hour) DO UPDATE SET used = flood_counts.used + excluded.used \
             WHERE flood_counts.used + excluded.used <= $4 RETURNING used",
            self.org_key()
        );
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM flood_counts WHERE hour < $1").bind(hour).execute(pool).await?;
            let taken: Option<i64> = sqlx::query_scalar(&upsert)
                .bind(kind).bind(hour).bind(n).bind(max)
                .fetch_optional(pool).await?;
            Ok(taken.is_some())
        })
    }

    /// Gives `n` back to `kind`'s count of `hour` (what was taken for something not stored).
    pub async fn flood_give_back(&self, kind: &str, hour: i64, n: i64) -> DbResult<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE flood_counts SET used = CASE WHEN used > $3 THEN used - $3 ELSE 0 END \
                 WHERE kind = $1 AND hour = $2",
            )
            .bind(kind).bind(hour).bind(n)
            .execute(pool).await?;
            Ok(())
        })
    }

    /// `kind`'s count of `hour` (0 when nothing was counted).
    pub async fn flood_used(&self, kind: &str, hour: i64) -> DbResult<i64> {
        on_pool!(self, pool => {
            let used: Option<i64> = sqlx::query_scalar("SELECT used FROM flood_counts WHERE kind = $1 AND hour = $2")
                .bind(kind).bind(hour)
                .fetch_optional(pool).await?;
            Ok(used.unwrap_or(0))
        })
    }
}
