//! The queries Meldpunt runs, written once for both backends. Every multi-row change runs
//! in one transaction that starts with a write, so SQLite takes its lock up front and
//! nothing half-written is ever left behind.

use super::counts::bump_counts;
use super::evidence::attach_files;
use super::{on_pool, Store};

pub type DbResult<T> = Result<T, sqlx::Error>;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganisationRow {
    pub recovery_public_key: Option<Vec<u8>>,
    pub setup_token_hash: Option<Vec<u8>>,
    pub setup_expires_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CoordinatorRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub public_key: Vec<u8>,
    pub sealed_private_key: Vec<u8>,
    pub status: String,
    pub created_at: i64,
    pub email: Option<String>,
    pub language: String,
    pub totp_sealed: Option<Vec<u8>>,
    /// The Ed25519 key they sign with (see `crypto::sign`); `None` for an account from
    /// before signatures until its first login.
    pub verifying_key: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct NewReport {
    pub id: String,
    pub key_commitment: Vec<u8>,
    pub staff_commitment: Option<Vec<u8>>,
    pub received_on: String,
    pub chain_label: String,
    pub category: String,
    pub subject_role: String,
    /// (field id, sealed value)
    pub fields: Vec<(i64, Vec<u8>)>,
    /// (recipient kind, recipient id, wrapped report key)
    pub wraps: Vec<(String, String, Vec<u8>)>,
    pub form_token_hash: Vec<u8>,
    /// Pending evidence files to attach to the report in the same transaction.
    pub files: Vec<String>,
    /// Notification rows written in the same transaction.
    pub notices: Vec<Notice>,
    /// The first deadline (acknowledgement), as stored for sorting.
    pub next_due_on: String,
    /// "written" (the form) or "oral" (recorded by a coordinator).
    pub origin: String,
}

/// One notification to queue: who, what kind of event, and when it may go out.
#[derive(Debug, Clone)]
pub struct Notice {
    pub coordinator_id: String,
    pub kind: String,
    pub due_at: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReportInsert {
    Stored,
    /// The form's one-time token was used before: the same form was sent twice. Carries the
    /// first submission's sealed meldcode, if it is still kept.
    DuplicateForm(Option<Vec<u8>>),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: String,
    pub key_commitment: Vec<u8>,
    /// The staff key's commitment; `None` for a report stored before staff keys that no
    /// coordinator has opened since.
    pub staff_commitment: Option<Vec<u8>>,
    pub received_on: String,
    pub acknowledged_on: Option<String>,
    pub status: String,
    pub chain_label: String,
    pub suggested_chain_label: String,
    pub category: String,
    pub subject_role: String,
    pub unread_for_coordinators: i64,
    pub last_activity_on: String,
    pub feedback_on: Option<String>,
    pub origin: String,
    pub minutes_confirmed_on: Option<String>,
    pub closed_on: Option<String>,
    pub keep_until: Option<String>,
    /// An oral report whose first (coordinator-seen) meldcode was not used yet.
    pub handover_pending: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    pub id: String,
    pub received_on: String,
    pub acknowledged_on: Option<String>,
    pub feedback_on: Option<String>,
    pub next_due_on: String,
    pub status: String,
    pub chain_label: String,
    pub category: String,
    pub subject_role: String,
    pub unread_for_coordinators: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InboxSort {
    #[default]
    Received,
    Deadline,
}

/// What an inbox page shows: filters (None = any), order, and where the page starts.
#[derive(Debug, Clone, Default)]
pub struct InboxQuery<'a> {
    pub coordinator_id: &'a str,
    pub status: Option<&'a str>,
    pub label: Option<&'a str>,
    pub category: Option<&'a str>,
    pub subject: Option<&'a str>,
    /// Only reports whose next deadline is before this day.
    pub overdue_before: Option<&'a str>,
    pub sort: InboxSort,
    /// The sort key and id of the last row of the previous page.
    pub after: Option<(String, String)>,
    pub limit: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: String,
    pub seq: i64,
    pub author_role: String,
    pub author_id: Option<String>,
    pub kind: String,
    pub created_on: String,
    pub sealed: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub report_id: String,
    pub author_role: String,
    pub author_id: Option<String>,
    pub kind: String,
    pub created_on: String,
    pub sealed: Vec<u8>,
}

/// A session row to write.
pub struct NewSession<'a> {
    pub id_hash: &'a [u8],
    pub kind: &'a str,
    pub subject_id: &'a str,
    pub sealed: &'a [u8],
    pub now: i64,
    pub expires_at: i64,
    pub stage: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub stage: String,
    pub subject_id: String,
    pub sealed_secret: Vec<u8>,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

const INSERT_MESSAGE: &str =
    "INSERT INTO messages (id, report_id, seq, author_role, author_id, kind, created_on, sealed) \
     VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE report_id = $2), $3, $4, $5, $6, $7)";

impl Store {
    // ---- organisation and set-up -------------------------------------------------------

    pub async fn organisation(&self) -> DbResult<Option<OrganisationRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, OrganisationRow>(
            "SELECT recovery_public_key, setup_token_hash, setup_expires_at FROM organisation WHERE id = 1")
            .fetch_optional(pool).await)
    }

    /// Creates the organisation if needed and (re)places its one-time set-up token.
    /// Refused (false) once set-up has completed.
    pub async fn start_setup(&self, token_hash: &[u8], expires_at: i64, now: i64) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO organisation (id, created_at) VALUES (1, $1) ON CONFLICT DO NOTHING")
                .bind(now).execute(&mut *tx).await?;
            let done = sqlx::query("UPDATE organisation SET setup_token_hash = $1, setup_expires_at = $2 \
                                    WHERE id = 1 AND recovery_public_key IS NULL")
                .bind(token_hash).bind(expires_at).execute(&mut *tx).await?.rows_affected() == 1;
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Completes set-up: the first coordinator (active) and the recovery public key, in one
    /// transaction, only while `token_hash` is the valid set-up token.
    pub async fn complete_setup(
        &self,
        token_hash: &[u8],
        now: i64,
        recovery_public: &[u8],
        first: &CoordinatorRow,
        endorsement: &super::Endorsement,
        // (group, signer, signature): the first coordinator's memberships, signed by them
        groups: &[(String, Vec<u8>, Vec<u8>)],
    ) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query("UPDATE organisation SET recovery_public_key = $1, setup_token_hash = NULL, setup_expires_at = NULL \
                                       WHERE id = 1 AND recovery_public_key IS NULL AND setup_token_hash = $2 AND setup_expires_at > $3")
                .bind(recovery_public).bind(token_hash).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if !claimed {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_coordinator_q(first).execute(&mut *tx).await?;
            sqlx::query(super::trust::UPSERT_ENDORSEMENT)
                .bind(&endorsement.coordinator_id).bind(&endorsement.public_key).bind(&endorsement.verifying_key)
                .bind(&endorsement.signer).bind(&endorsement.signature).bind(now)
                .execute(&mut *tx).await?;
            // The first coordinator is, for now, everyone the routing rules name.
            for (g, signer, signature) in groups {
                sqlx::query("INSERT INTO coordinator_groups (name, label) VALUES ($1, $1) ON CONFLICT DO NOTHING")
                    .bind(g).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO group_members (group_name, coordinator_id, signer, signature) VALUES ($1, $2, $3, $4)")
                    .bind(g).bind(&first.id).bind(signer).bind(signature).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    pub async fn recovery_public_key(&self) -> DbResult<Option<[u8; 32]>> {
        let org = self.organisation().await?;
        Ok(org.and_then(|o| o.recovery_public_key).and_then(|k| k.try_into().ok()))
    }

    // ---- coordinators -------------------------------------------------------------------

    pub async fn insert_coordinator(&self, c: &CoordinatorRow) -> DbResult<()> {
        on_pool!(self, pool => insert_coordinator_q(c).execute(pool).await.map(|_| ()))
    }

    /// The pepper's check value, once a start has stored it.
    pub async fn pepper_check(&self) -> DbResult<Option<Vec<u8>>> {
        on_pool!(self, pool => sqlx::query_scalar("SELECT check_value FROM pepper_check WHERE id = 1")
            .fetch_optional(pool).await)
    }

    pub async fn set_pepper_check(&self, value: &[u8]) -> DbResult<()> {
        let sql = format!(
            "INSERT INTO pepper_check (id, check_value) VALUES (1, $1) \
             ON CONFLICT ({}id) DO UPDATE SET check_value = excluded.check_value",
            self.org_key()
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(value).execute(pool).await.map(|_| ()))
    }

    pub async fn coordinators(&self) -> DbResult<Vec<CoordinatorRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, CoordinatorRow>(
            "SELECT id, username, display_name, public_key, sealed_private_key, status, created_at, email, language, totp_sealed, verifying_key FROM coordinators ORDER BY username")
            .fetch_all(pool).await)
    }

    pub async fn coordinator_by_username(&self, username: &str) -> DbResult<Option<CoordinatorRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, CoordinatorRow>(
            "SELECT id, username, display_name, public_key, sealed_private_key, status, created_at, email, language, totp_sealed, verifying_key FROM coordinators WHERE username = $1")
            .bind(username).fetch_optional(pool).await)
    }

    pub async fn coordinator(&self, id: &str) -> DbResult<Option<CoordinatorRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, CoordinatorRow>(
            "SELECT id, username, display_name, public_key, sealed_private_key, status, created_at, email, language, totp_sealed, verifying_key FROM coordinators WHERE id = $1")
            .bind(id).fetch_optional(pool).await)
    }

    /// Removes a coordinator with their wraps and sessions. False if there was none.
    pub async fn remove_coordinator(&self, username: &str) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // What the removed coordinator's key signed (colleagues, memberships, staff keys)
            // keeps counting: their endorsement is kept as retired, vouching for nobody.
            sqlx::query(
                "INSERT INTO retired_endorsements (coordinator_id, public_key, verifying_key, signer, signature, retired_at) \
                 SELECT e.coordinator_id, e.public_key, e.verifying_key, e.signer, e.signature, c.created_at \
                 FROM key_endorsements e JOIN coordinators c ON c.id = e.coordinator_id WHERE c.username = $1")
                .bind(username).execute(&mut *tx).await?;
            let id: Option<(String,)> = sqlx::query_as("DELETE FROM coordinators WHERE username = $1 RETURNING id")
                .bind(username).fetch_optional(&mut *tx).await?;
            let Some((id,)) = id else {
                tx.rollback().await?;
                return Ok(false);
            };
            sqlx::query("DELETE FROM report_wraps WHERE recipient_kind = 'coordinator' AND recipient_id = $1")
                .bind(&id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE kind = 'coordinator' AND subject_id = $1")
                .bind(&id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM inbox_counts WHERE coordinator_id = $1").bind(&id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Makes a pending coordinator active. False if there was no such pending coordinator.
    pub async fn approve_coordinator(&self, id: &str) -> DbResult<bool> {
        on_pool!(self, pool => sqlx::query("UPDATE coordinators SET status = 'active' WHERE id = $1 AND status = 'pending'")
            .bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    // ---- reports ------------------------------------------------------------------------

    /// Stores a report with its fields and wraps in one transaction, after the form token
    /// and a unique locator hash. `locator` yields a fresh locator hash when one collides.
    pub async fn insert_report(
        &self,
        r: &NewReport,
        mut locator: impl FnMut(bool) -> (Vec<u8>, Vec<u8>),
    ) -> DbResult<ReportInsert> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query("INSERT INTO used_form_tokens (token_hash, used_on) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&r.form_token_hash).bind(&r.received_on).execute(&mut *tx).await?.rows_affected() == 1;
            if !fresh {
                tx.rollback().await?;
                let sealed: Option<Option<Vec<u8>>> = sqlx::query_scalar("SELECT sealed_code FROM used_form_tokens WHERE token_hash = $1")
                    .bind(&r.form_token_hash).fetch_optional(pool).await?;
                return Ok(ReportInsert::DuplicateForm(sealed.flatten()));
            }
            let (mut hash, mut sealed_code) = locator(false);
            loop {
                let inserted = sqlx::query(
                    "INSERT INTO reports (id, locator_hash, locator_version, key_commitment, received_on, status, chain_label, suggested_chain_label, category, subject_role, last_activity_on, staff_commitment) \
                     VALUES ($1, $2, 2, $3, $4, 'nieuw', $5, $5, $6, $7, $4, $8) ON CONFLICT DO NOTHING")
                    .bind(&r.id).bind(&hash).bind(&r.key_commitment).bind(&r.received_on)
                    .bind(&r.chain_label).bind(&r.category).bind(&r.subject_role).bind(&r.staff_commitment)
                    .execute(&mut *tx).await?.rows_affected();
                if inserted == 1 {
                    break;
                }
                (hash, sealed_code) = locator(true);
            }
            sqlx::query("UPDATE used_form_tokens SET sealed_code = $1, report_id = $3 WHERE token_hash = $2")
                .bind(&sealed_code).bind(&r.form_token_hash).bind(&r.id).execute(&mut *tx).await?;
            for (field, sealed) in &r.fields {
                sqlx::query("INSERT INTO report_fields (report_id, field, sealed) VALUES ($1, $2, $3)")
                    .bind(&r.id).bind(field).bind(sealed).execute(&mut *tx).await?;
            }
            for (kind, recipient, wrapped) in &r.wraps {
                sqlx::query("INSERT INTO report_wraps (report_id, recipient_kind, recipient_id, wrapped) VALUES ($1, $2, $3, $4)")
                    .bind(&r.id).bind(kind).bind(recipient).bind(wrapped).execute(&mut *tx).await?;
            }
            for n in &r.notices {
                insert_notice_q(n).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE reports SET next_due_on = $1, origin = $3, handover_pending = CASE WHEN $3 = 'oral' THEN 1 ELSE 0 END WHERE id = $2")
                .bind(&r.next_due_on).bind(&r.id).bind(&r.origin).execute(&mut *tx).await?;
            bump_counts!(tx, &r.id, 1);
            attach_files!(tx, &r.id, Option::<String>::None, &r.files);
            tx.commit().await?;
            Ok(ReportInsert::Stored)
        })
    }

    /// Converts locators stored unkeyed (before version 2) to the keyed form, in one
    /// transaction; returns how many. Each row is converted once, also when two instances
    /// start at the same moment.
    pub async fn key_locators(&self, key: impl Fn(&[u8]) -> Vec<u8>) -> DbResult<u64> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT id, locator_hash FROM reports WHERE locator_version = 1")
                .fetch_all(&mut *tx).await?;
            let mut n = 0;
            for (id, unkeyed) in rows {
                n += sqlx::query("UPDATE reports SET locator_hash = $1, locator_version = 2 WHERE id = $2 AND locator_version = 1")
                    .bind(key(&unkeyed)).bind(&id).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Replaces an oral report's handover code with the reporter's own: a new locator and code
    /// wrap, in one transaction, only while the handover is pending and the old locator is
    /// still the report's. False if someone else used the handover code first.
    pub async fn hand_over(
        &self,
        report_id: &str,
        old_locator: &[u8],
        new_locator: &[u8],
        new_wrap: &[u8],
    ) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE reports SET locator_hash = $1, locator_version = 2, handover_pending = 0 \
                 WHERE id = $2 AND handover_pending = 1 AND locator_hash = $3")
                .bind(new_locator).bind(report_id).bind(old_locator).execute(&mut *tx).await?.rows_affected() == 1;
            if !done {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("UPDATE report_wraps SET wrapped = $1 WHERE report_id = $2 AND recipient_kind = 'code'")
                .bind(new_wrap).bind(report_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The report a locator names, with its code wrap, for opening with the meldcode.
    pub async fn report_by_locator(&self, locator_hash: &[u8]) -> DbResult<Option<(String, Vec<u8>, Vec<u8>)>> {
        on_pool!(self, pool => sqlx::query_as::<_, (String, Vec<u8>, Vec<u8>)>(
            "SELECT r.id, r.key_commitment, w.wrapped FROM reports r \
             JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'code' \
             WHERE r.locator_hash = $1")
            .bind(locator_hash).fetch_optional(pool).await)
    }

    pub async fn report(&self, id: &str) -> DbResult<Option<ReportRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, ReportRow>(
            "SELECT id, key_commitment, staff_commitment, received_on, acknowledged_on, status, chain_label, suggested_chain_label, category, subject_role, \
                    unread_for_coordinators, last_activity_on, feedback_on, origin, minutes_confirmed_on, closed_on, keep_until, \
                    CAST(handover_pending AS BIGINT) AS handover_pending FROM reports WHERE id = $1")
            .bind(id).fetch_optional(pool).await)
    }

    /// One sealed field of a report, if it has it.
    pub async fn report_field(&self, id: &str, field: i64) -> DbResult<Option<Vec<u8>>> {
        on_pool!(self, pool => sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT sealed FROM report_fields WHERE report_id = $1 AND field = $2")
            .bind(id).bind(field).fetch_optional(pool).await)
    }

    pub async fn report_fields(&self, id: &str) -> DbResult<Vec<(i64, Vec<u8>)>> {
        on_pool!(self, pool => sqlx::query_as::<_, (i64, Vec<u8>)>(
            "SELECT field, sealed FROM report_fields WHERE report_id = $1 ORDER BY field")
            .bind(id).fetch_all(pool).await)
    }

    pub async fn wrap(&self, report_id: &str, kind: &str, recipient_id: &str) -> DbResult<Option<Vec<u8>>> {
        on_pool!(self, pool => sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT wrapped FROM report_wraps WHERE report_id = $1 AND recipient_kind = $2 AND recipient_id = $3")
            .bind(report_id).bind(kind).bind(recipient_id).fetch_optional(pool).await)
    }

    /// Reports a coordinator holds a wrap for, newest first, unfiltered (all of them).
    pub async fn inbox(&self, coordinator_id: &str) -> DbResult<Vec<InboxRow>> {
        self.inbox_page(&InboxQuery {
            coordinator_id,
            limit: i64::MAX / 2,
            ..InboxQuery::default()
        })
        .await
    }

    /// One page of a coordinator's inbox. Keyset pagination over an index in the sort order,
    /// with the wrap checked per row, so a page costs the same with 100 or 100,000 reports.
    /// Reads no sealed column. Returns up to `limit + 1` rows (the extra one says "more").
    pub async fn inbox_page(&self, q: &InboxQuery<'_>) -> DbResult<Vec<InboxRow>> {
        let mut sql = String::from(
            "SELECT r.id, r.received_on, r.acknowledged_on, r.feedback_on, r.next_due_on, r.status, r.chain_label, r.category, \
             r.subject_role, r.unread_for_coordinators FROM reports r \
             WHERE EXISTS (SELECT 1 FROM report_wraps w WHERE w.report_id = r.id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $1)",
        );
        let mut params: Vec<String> = vec![q.coordinator_id.to_string()];
        let mut param = |sql: &mut String, clause: &str, value: &str| {
            params.push(value.to_string());
            sql.push_str(&clause.replace('?', &format!("${}", params.len())));
        };
        for (col, value) in [
            ("status", q.status),
            ("chain_label", q.label),
            ("category", q.category),
            ("subject_role", q.subject),
        ] {
            if let Some(v) = value {
                param(&mut sql, &format!(" AND r.{col} = ?"), v);
            }
        }
        if let Some(today) = q.overdue_before {
            param(&mut sql, " AND r.next_due_on < ?", today);
        }
        let (key_col, order) = match q.sort {
            InboxSort::Received => ("received_on", "DESC"),
            InboxSort::Deadline => ("next_due_on", "ASC"),
        };
        if let Some((key, id)) = &q.after {
            let cmp = if order == "DESC" { "<" } else { ">" };
            params.push(key.clone());
            params.push(id.clone());
            let (a, b) = (params.len() - 1, params.len());
            // A row-value comparison: both backends seek the sort index with it.
            sql.push_str(&format!(" AND (r.{key_col}, r.id) {cmp} (${a}, ${b})"));
        }
        sql.push_str(&format!(
            " ORDER BY r.{key_col} {order}, r.id {order} LIMIT {}",
            q.limit.saturating_add(1)
        ));
        on_pool!(self, pool => {
            let mut query = sqlx::query_as::<_, InboxRow>(&sql);
            for p in &params {
                query = query.bind(p);
            }
            query.fetch_all(pool).await
        })
    }

    /// The coordinator's filter counts: (dimension, value, count).
    pub async fn inbox_counts(&self, coordinator_id: &str) -> DbResult<Vec<(String, String, i64)>> {
        on_pool!(self, pool => sqlx::query_as::<_, (String, String, i64)>(
            "SELECT dimension, value, n FROM inbox_counts WHERE coordinator_id = $1 AND n > 0")
            .bind(coordinator_id).fetch_all(pool).await)
    }

    /// How many of the coordinator's reports have a deadline before `today`, counted up to
    /// `cap` (the page shows "cap+" beyond it), so the count costs the same however many
    /// reports there are.
    pub async fn overdue_count(&self, coordinator_id: &str, today: &str, cap: i64) -> DbResult<i64> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM (SELECT 1 FROM reports r WHERE r.next_due_on < $2 AND EXISTS \
             (SELECT 1 FROM report_wraps w WHERE w.report_id = r.id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $1) LIMIT $3) capped")
            .bind(coordinator_id).bind(today).bind(cap).fetch_one(pool).await)
    }

    pub async fn messages(&self, report_id: &str) -> DbResult<Vec<MessageRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, MessageRow>(
            "SELECT id, seq, author_role, author_id, kind, created_on, sealed FROM messages WHERE report_id = $1 ORDER BY seq")
            .bind(report_id).fetch_all(pool).await)
    }

    /// Adds a message; a reporter's raises the unread count and the activity date.
    pub async fn insert_message(&self, m: &NewMessage, notices: &[Notice]) -> DbResult<()> {
        self.insert_message_with_files(m, notices, &[]).await
    }

    /// Adds a message with its pending evidence files attached in the same transaction (run
    /// again if PostgreSQL gave it up for a deadlock or serialisation failure).
    pub async fn insert_message_with_files(
        &self,
        m: &NewMessage,
        notices: &[Notice],
        files: &[String],
    ) -> DbResult<()> {
        super::retry_conflicts(|| self.insert_message_with_files_once(m, notices, files)).await
    }

    async fn insert_message_with_files_once(
        &self,
        m: &NewMessage,
        notices: &[Notice],
        files: &[String],
    ) -> DbResult<()> {
        let from_reporter = i64::from(m.author_role == "reporter");
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE reports SET unread_for_coordinators = unread_for_coordinators + $1, last_activity_on = $2 WHERE id = $3")
                .bind(from_reporter).bind(&m.created_on).bind(&m.report_id).execute(&mut *tx).await?;
            insert_message_q(m).execute(&mut *tx).await?;
            attach_files!(tx, &m.report_id, Some(m.id.clone()), files);
            for n in notices {
                insert_notice_q(n).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Records the acknowledgement of receipt (once) with its message to the reporter.
    /// False if the report was acknowledged already. A deadlock with reporters submitting
    /// (both touch the counter rows) runs it again rather than failing.
    pub async fn acknowledge(&self, m: &NewMessage, next_due_on: &str) -> DbResult<bool> {
        super::retry_conflicts(|| self.acknowledge_once(m, next_due_on)).await
    }

    async fn acknowledge_once(&self, m: &NewMessage, next_due_on: &str) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            bump_counts!(tx, &m.report_id, -1);
            let first = sqlx::query("UPDATE reports SET acknowledged_on = $1, last_activity_on = $1, next_due_on = $3, \
                                     status = CASE WHEN status = 'nieuw' THEN 'in_behandeling' ELSE status END \
                                     WHERE id = $2 AND acknowledged_on IS NULL")
                .bind(&m.created_on).bind(&m.report_id).bind(next_due_on).execute(&mut *tx).await?.rows_affected() == 1;
            bump_counts!(tx, &m.report_id, 1);
            if !first {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_message_q(m).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The reporter confirms the minutes of an oral report (once), with the thread message and
    /// notifications in the same transaction. False if not oral or already confirmed.
    pub async fn confirm_minutes(&self, m: &NewMessage, notices: &[Notice]) -> DbResult<bool> {
        super::retry_conflicts(|| self.confirm_minutes_once(m, notices)).await
    }

    async fn confirm_minutes_once(&self, m: &NewMessage, notices: &[Notice]) -> DbResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let first = sqlx::query("UPDATE reports SET minutes_confirmed_on = $1, unread_for_coordinators = unread_for_coordinators + 1 \
                                     WHERE id = $2 AND origin = 'oral' AND minutes_confirmed_on IS NULL")
                .bind(&m.created_on).bind(&m.report_id).execute(&mut *tx).await?.rows_affected() == 1;
            if !first {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_message_q(m).execute(&mut *tx).await?;
            for n in notices {
                insert_notice_q(n).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    pub async fn mark_read(&self, report_id: &str) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE reports SET unread_for_coordinators = 0 WHERE id = $1 AND unread_for_coordinators <> 0")
            .bind(report_id).execute(pool).await.map(|_| ()))
    }

    // ---- sessions -----------------------------------------------------------------------

    pub async fn insert_session(&self, n: &NewSession<'_>) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO sessions (id_hash, kind, subject_id, sealed_secret, last_seen_at, expires_at, stage) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(n.id_hash).bind(n.kind).bind(n.subject_id).bind(n.sealed).bind(n.now).bind(n.expires_at).bind(n.stage)
            .execute(pool).await.map(|_| ()))
    }

    pub async fn session(&self, id_hash: &[u8], kind: &str) -> DbResult<Option<SessionRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, SessionRow>(
            "SELECT stage, subject_id, sealed_secret, last_seen_at, expires_at FROM sessions WHERE id_hash = $1 AND kind = $2")
            .bind(id_hash).bind(kind).fetch_optional(pool).await)
    }

    pub async fn touch_session(&self, id_hash: &[u8], now: i64) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now).bind(id_hash).execute(pool).await.map(|_| ()))
    }

    /// Replaces a session's sealed content (a reporter's, whose times travel inside it).
    pub async fn reseal_session(&self, id_hash: &[u8], sealed: &[u8]) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE sessions SET sealed_secret = $1 WHERE id_hash = $2")
            .bind(sealed).bind(id_hash).execute(pool).await.map(|_| ()))
    }

    pub async fn delete_session(&self, id_hash: &[u8]) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash).execute(pool).await.map(|_| ()))
    }

    /// The forms whose sealed meldcode is still kept for showing again.
    pub async fn kept_form_codes(&self) -> DbResult<Vec<Vec<u8>>> {
        on_pool!(self, pool => sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT token_hash FROM used_form_tokens WHERE sealed_code IS NOT NULL")
            .fetch_all(pool).await)
    }

    /// Forgets the sealed meldcode of one form.
    pub async fn forget_form_code(&self, token_hash: &[u8]) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE used_form_tokens SET sealed_code = NULL, report_id = NULL WHERE token_hash = $1")
            .bind(token_hash).execute(pool).await.map(|_| ()))
    }

    /// Forgets the sealed meldcodes of forms sent before `before_day` (YYYY-MM-DD): the
    /// backstop for codes no running instance saw (see [`crate::features::intake::FormCodeSweep`]).
    pub async fn forget_form_codes(&self, before_day: &str) -> DbResult<u64> {
        on_pool!(self, pool => sqlx::query("UPDATE used_form_tokens SET sealed_code = NULL, report_id = NULL WHERE used_on < $1 AND sealed_code IS NOT NULL")
            .bind(before_day).execute(pool).await.map(|r| r.rows_affected()))
    }

    /// Reporter rows know only the day after which they are over (their idle time is sealed
    /// inside), so they go then; a stale one opens nothing meanwhile.
    pub async fn delete_stale_sessions(&self, now: i64, coordinator_idle: i64) -> DbResult<u64> {
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= $1 OR (kind = 'coordinator' AND last_seen_at <= $1 - $2)")
            .bind(now).bind(coordinator_idle).execute(pool).await.map(|r| r.rows_affected()))
    }

    // ---- audit --------------------------------------------------------------------------

    /// Appends an audit event. Never carries content or reporter data.
    pub async fn audit(
        &self,
        at: i64,
        coordinator_id: Option<&str>,
        action: &str,
        report_id: Option<&str>,
    ) -> DbResult<()> {
        self.audit_detail(at, coordinator_id, action, report_id, None).await
    }

    /// Appends an audit event with a detail that is never content (a status or label code).
    pub async fn audit_detail(
        &self,
        at: i64,
        coordinator_id: Option<&str>,
        action: &str,
        report_id: Option<&str>,
        detail: Option<&str>,
    ) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("INSERT INTO audit_events (at, coordinator_id, action, report_id, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(at).bind(coordinator_id).bind(action).bind(report_id).bind(detail).execute(pool).await.map(|_| ()))
    }

    /// The newest audit events `viewer` may see: events about no report (logins, accounts,
    /// set-up), events of reports they hold a wrap of, and the destruction of a report after
    /// retention (the register shows those to everyone). A coordinator without access to a
    /// report does not learn who opened, relabelled or moved it.
    pub async fn audit_events(&self, viewer: &str, limit: i64) -> DbResult<Vec<AuditRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, AuditRow>(
            "SELECT a.at, c.display_name, a.action, a.report_id, a.detail FROM audit_events a \
             LEFT JOIN coordinators c ON c.id = a.coordinator_id \
             WHERE a.report_id IS NULL OR a.action = 'report_destroyed' OR EXISTS (SELECT 1 FROM report_wraps w \
                   WHERE w.report_id = a.report_id AND w.recipient_kind = 'coordinator' AND w.recipient_id = $2) \
             ORDER BY a.id DESC LIMIT $1")
            .bind(limit).bind(viewer).fetch_all(pool).await)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub at: i64,
    pub display_name: Option<String>,
    pub action: String,
    pub report_id: Option<String>,
    pub detail: Option<String>,
}

pub(crate) fn insert_coordinator_q<DB: sqlx::Database>(
    c: &CoordinatorRow,
) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments<'_>>
where
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO coordinators (id, username, display_name, public_key, sealed_private_key, status, created_at, email, language, verifying_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(c.id.clone())
    .bind(c.username.clone())
    .bind(c.display_name.clone())
    .bind(c.public_key.clone())
    .bind(c.sealed_private_key.clone())
    .bind(c.status.clone())
    .bind(c.created_at)
    .bind(c.email.clone())
    .bind(c.language.clone())
    .bind(c.verifying_key.clone())
}

pub(crate) fn insert_message_q<DB: sqlx::Database>(
    m: &NewMessage,
) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments<'_>>
where
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(INSERT_MESSAGE)
        .bind(m.id.clone())
        .bind(m.report_id.clone())
        .bind(m.author_role.clone())
        .bind(m.author_id.clone())
        .bind(m.kind.clone())
        .bind(m.created_on.clone())
        .bind(m.sealed.clone())
}

pub(crate) fn insert_notice_q<DB: sqlx::Database>(
    n: &Notice,
) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments<'_>>
where
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query("INSERT INTO outbox (coordinator_id, kind, first_due_at, due_at) VALUES ($1, $2, $3, $3)")
        .bind(n.coordinator_id.clone())
        .bind(n.kind.clone())
        .bind(n.due_at)
}
