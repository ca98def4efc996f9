//! The registry of the organisations an installation serves (`organisations`) and the
//! operator's log of what was done to them (`organisation_log`). Both live in the
//! installation's database; an organisation's own data lives in its own store (a file of
//! its own on SQLite, its rows under row-level security on PostgreSQL).

use super::{on_pool, DbResult, Store};

/// One organisation as the registry keeps it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganisationEntry {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub host: String,
    pub state: String,
    /// The organisation's own secret, sealed under the installation's pepper; `None`: the
    /// pepper itself (the organisation an existing installation upgraded into).
    pub sealed_key: Option<Vec<u8>>,
    /// Its own settings (TOML) over the installation's file.
    pub settings: String,
    pub created_at: i64,
}

/// One line of the operator's log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganisationEvent {
    pub org_id: i64,
    pub org_name: String,
    pub at: i64,
    pub event: String,
    pub detail: String,
}

const COLUMNS: &str = "id, name, url, host, state, sealed_key, settings, created_at";

impl Store {
    /// Every organisation, oldest first.
    pub async fn organisations(&self) -> DbResult<Vec<OrganisationEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM organisations ORDER BY id");
        on_pool!(self, pool => sqlx::query_as::<_, OrganisationEntry>(&sql).fetch_all(pool).await)
    }

    /// The id the next organisation gets. Ids are never reused, so a removed
    /// organisation's id (on its certificate, in the log) names one organisation for good.
    pub async fn next_organisation_id(&self) -> DbResult<i64> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM (SELECT id FROM organisations UNION ALL SELECT org_id FROM organisation_log) AS ids",
        )
        .fetch_one(pool).await)
    }

    /// Adds organisation `id`; `None` when its host is taken. Fails when `id` is (another
    /// `organisation add` at the same moment took it).
    #[allow(clippy::too_many_arguments)]
    pub async fn add_organisation(
        &self,
        id: i64,
        name: &str,
        url: &str,
        host: &str,
        sealed_key: Option<&[u8]>,
        settings: &str,
        now: i64,
    ) -> DbResult<Option<i64>> {
        on_pool!(self, pool => {
            // Written first, in one statement with its check: a transaction that read first
            // and wrote after could not take SQLite's write lock once another wrote meanwhile.
            let mut tx = pool.begin().await?;
            let added = sqlx::query(
                "INSERT INTO organisations (id, name, url, host, state, sealed_key, settings, created_at) \
                 SELECT $1, $2, $3, $4, 'active', $5, $6, $7 \
                 WHERE NOT EXISTS (SELECT 1 FROM organisations WHERE host = $4)",
            )
            .bind(id).bind(name).bind(url).bind(host).bind(sealed_key).bind(settings).bind(now)
            .execute(&mut *tx).await?
            .rows_affected();
            if added == 0 {
                return Ok(None);
            }
            sqlx::query("INSERT INTO organisation_log (org_id, org_name, at, event, detail) VALUES ($1, $2, $3, 'added', $4)")
                .bind(id).bind(name).bind(now).bind(url)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(id))
        })
    }

    /// Renames an organisation or moves it to another URL (the first organisation of a
    /// single-organisation installation follows its configuration file this way).
    pub async fn set_organisation_identity(&self, id: i64, name: &str, url: &str, host: &str) -> DbResult<()> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE organisations SET name = $2, url = $3, host = $4 WHERE id = $1")
                .bind(id).bind(name).bind(url).bind(host)
                .execute(pool).await?;
            Ok(())
        })
    }

    /// Sets an organisation's state, logging it; false if there is no such organisation.
    pub async fn set_organisation_state(&self, id: i64, state: &str, now: i64) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let name: Option<String> = sqlx::query_scalar("UPDATE organisations SET state = $2 WHERE id = $1 RETURNING name")
                .bind(id).bind(state).fetch_optional(&mut *tx).await?;
            let Some(name) = name else { return Ok(false) };
            sqlx::query("INSERT INTO organisation_log (org_id, org_name, at, event) VALUES ($1, $2, $3, $4)")
                .bind(id).bind(&name).bind(now).bind(if state == "active" { "resumed" } else { "suspended" })
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Replaces an organisation's own settings (TOML), logging which sections changed.
    pub async fn set_organisation_settings(&self, id: i64, settings: &str, detail: &str, now: i64) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let name: Option<String> = sqlx::query_scalar("UPDATE organisations SET settings = $2 WHERE id = $1 RETURNING name")
                .bind(id).bind(settings).fetch_optional(&mut *tx).await?;
            let Some(name) = name else { return Ok(false) };
            sqlx::query("INSERT INTO organisation_log (org_id, org_name, at, event, detail) VALUES ($1, $2, $3, 'settings', $4)")
                .bind(id).bind(&name).bind(now).bind(detail)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// One organisation's entry, if it is in the registry.
    pub async fn organisation_entry(&self, id: i64) -> DbResult<Option<OrganisationEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM organisations WHERE id = $1");
        on_pool!(self, pool => sqlx::query_as::<_, OrganisationEntry>(&sql).bind(id).fetch_optional(pool).await)
    }

    /// An organisation's coordinators change its name and own settings (in the browser):
    /// both at once, only while they are still what the change was made from (`was`), and
    /// logged with `detail`. False when they changed meanwhile or the organisation is gone.
    pub async fn change_organisation_settings(
        &self,
        was: &OrganisationEntry,
        name: &str,
        settings: &str,
        detail: &str,
        now: i64,
    ) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE organisations SET name = $2, settings = $3 WHERE id = $1 AND name = $4 AND settings = $5",
            )
            .bind(was.id).bind(name).bind(settings).bind(&was.name).bind(&was.settings)
            .execute(&mut *tx).await?
            .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            sqlx::query("INSERT INTO organisation_log (org_id, org_name, at, event, detail) VALUES ($1, $2, $3, 'settings', $4)")
                .bind(was.id).bind(name).bind(now).bind(detail)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Takes an organisation out of the registry, logging `detail` (what was destroyed).
    pub async fn remove_organisation(&self, id: i64, detail: &str, now: i64) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let name: Option<String> = sqlx::query_scalar("DELETE FROM organisations WHERE id = $1 RETURNING name")
                .bind(id).fetch_optional(&mut *tx).await?;
            let Some(name) = name else { return Ok(false) };
            sqlx::query("INSERT INTO organisation_log (org_id, org_name, at, event, detail) VALUES ($1, $2, $3, 'removed', $4)")
                .bind(id).bind(&name).bind(now).bind(detail)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Writes a line in the operator's log.
    pub async fn log_organisation_event(
        &self,
        id: i64,
        name: &str,
        event: &str,
        detail: &str,
        now: i64,
    ) -> DbResult<()> {
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO organisation_log (org_id, org_name, at, event, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(id).bind(name).bind(now).bind(event).bind(detail)
                .execute(pool).await?;
            Ok(())
        })
    }

    /// The operator's log, oldest first.
    pub async fn organisation_log(&self) -> DbResult<Vec<OrganisationEvent>> {
        on_pool!(self, pool => sqlx::query_as::<_, OrganisationEvent>(
            "SELECT org_id, org_name, at, event, detail FROM organisation_log ORDER BY id")
            .fetch_all(pool).await)
    }
}

/// An account here that a login at another organisation opens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CoordinatorLink {
    pub coordinator_id: String,
    pub wrapped_secret: Vec<u8>,
}

impl Store {
    /// Links this organisation's account `coordinator_id` to the account `home_coordinator`
    /// at organisation `home_org` (replacing an earlier link of that home account).
    pub async fn link_coordinator(
        &self,
        coordinator_id: &str,
        home_org: i64,
        home_coordinator: &str,
        wrapped_secret: &[u8],
        now: i64,
    ) -> DbResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM coordinator_links WHERE home_org = $1 AND home_coordinator = $2")
                .bind(home_org).bind(home_coordinator).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO coordinator_links (coordinator_id, home_org, home_coordinator, wrapped_secret, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(coordinator_id).bind(home_org).bind(home_coordinator).bind(wrapped_secret).bind(now)
            .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The account here that `home_coordinator` at `home_org` may open.
    pub async fn coordinator_link(&self, home_org: i64, home_coordinator: &str) -> DbResult<Option<CoordinatorLink>> {
        on_pool!(self, pool => sqlx::query_as::<_, CoordinatorLink>(
            "SELECT coordinator_id, wrapped_secret FROM coordinator_links WHERE home_org = $1 AND home_coordinator = $2")
            .bind(home_org).bind(home_coordinator)
            .fetch_optional(pool).await)
    }

    /// Notes that the account `coordinator_id` here may switch to organisation `there`.
    pub async fn add_elsewhere(&self, coordinator_id: &str, there: i64) -> DbResult<()> {
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO coordinator_elsewhere (coordinator_id, org_id_there) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(coordinator_id).bind(there).execute(pool).await?;
            Ok(())
        })
    }

    /// The organisations the account `coordinator_id` here may switch to.
    pub async fn elsewhere(&self, coordinator_id: &str) -> DbResult<Vec<i64>> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            "SELECT org_id_there FROM coordinator_elsewhere WHERE coordinator_id = $1 ORDER BY org_id_there")
            .bind(coordinator_id).fetch_all(pool).await)
    }
}
