//! Queries for evidence files: pending uploads and their sealed segments, attaching them to
//! a report or message inside that transaction, listing and reading them, and sweeping
//! what a failed or crashed upload left behind.

use super::{on_pool, DbResult, Store};

/// A file's row; everything about its content is in the sealed blobs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub id: String,
    pub report_id: String,
    pub message_id: Option<String>,
    pub author_role: String,
    pub stream_header: Vec<u8>,
    pub sealed_meta: Option<Vec<u8>>,
    pub chunks: i64,
}

const FILE_COLUMNS: &str = "id, report_id, message_id, author_role, stream_header, sealed_meta, chunks";

/// The evidence segments table in `schema` (SQLite: the attached evidence file, or a
/// backup's main file). Keep in step with migrations/sqlite/0008_evidence.sql, less the
/// foreign key, which cannot reach across files.
pub(crate) fn segments_table(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {schema}.evidence_segments \
         (file_id TEXT NOT NULL, seq INTEGER NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY (file_id, seq))"
    )
}

/// Attached files with no stored content.
pub(crate) const FILES_WITHOUT_CONTENT: &str = "SELECT COUNT(*) FROM evidence_files f WHERE f.pending_until IS NULL \
     AND NOT EXISTS (SELECT 1 FROM evidence_segments s WHERE s.file_id = f.id)";

impl Store {
    /// Starts a pending file; it is swept after `pending_until` unless attached first.
    pub async fn file_begin(
        &self,
        id: &str,
        report_id: &str,
        position: i64,
        author_role: &str,
        header: &[u8],
        pending_until: i64,
    ) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO evidence_files (id, report_id, position, author_role, stream_header, pending_until) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id).bind(report_id).bind(position).bind(author_role).bind(header).bind(pending_until)
            .execute(pool).await.map(|_| ()))
    }

    /// Stores consecutive segments from `first_seq` on, in one transaction (one sync).
    pub async fn file_put_segments(&self, file_id: &str, first_seq: i64, segments: &[Vec<u8>]) -> DbResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (seq, sealed) in (first_seq..).zip(segments) {
                sqlx::query("INSERT INTO evidence_segments (file_id, seq, sealed) VALUES ($1, $2, $3)")
                    .bind(file_id).bind(seq).bind(sealed).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Records the sealed description and chunk count once the upload is complete.
    pub async fn file_finish(&self, file_id: &str, sealed_meta: &[u8], chunks: i64) -> DbResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE evidence_files SET sealed_meta = $1, chunks = $2 WHERE id = $3")
            .bind(sealed_meta).bind(chunks).bind(file_id).execute(pool).await.map(|_| ()))
    }

    /// Deletes pending files and their segments (never an attached one).
    pub async fn files_discard(&self, ids: &[String]) -> DbResult<()> {
        for id in ids {
            on_pool!(self, pool => {
                // The file row first: on SQLite the segments are in the evidence file, and a
                // transaction that writes both takes the main file's lock first, as every
                // other one does, so two never wait for each other.
                let mut tx = pool.begin().await?;
                let gone = sqlx::query("DELETE FROM evidence_files WHERE id = $1 AND pending_until IS NOT NULL")
                    .bind(id).execute(&mut *tx).await?.rows_affected();
                if gone == 1 {
                    sqlx::query("DELETE FROM evidence_segments WHERE file_id = $1")
                        .bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            });
        }
        Ok(())
    }

    /// Deletes pending files whose upload ended without attaching them (a crash or a lost
    /// connection the request did not live to clean up), file rows first (see
    /// `files_discard`).
    pub async fn sweep_pending_files(&self, now: i64) -> DbResult<u64> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let ids: Vec<String> = sqlx::query_scalar("DELETE FROM evidence_files WHERE pending_until < $1 RETURNING id")
                .bind(now).fetch_all(&mut *tx).await?;
            for id in &ids {
                sqlx::query("DELETE FROM evidence_segments WHERE file_id = $1").bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(ids.len() as u64)
        })
    }

    /// Deletes segments whose file row is gone (SQLite). They are in the evidence file,
    /// which commits after the main file: a crash or a failed write between the two leaves
    /// segments (sealed under a key that may already be destroyed) without a row. The ids
    /// are read from the evidence file first and only then looked up in the database: a
    /// file's row is committed before its first segment, so a file with segments at the
    /// first read has its row at the second unless it is gone for good, and an upload in
    /// progress is never taken for a leftover. (The other order could see the segments of
    /// a file whose row came after its look-up.) PostgreSQL deletes segments with their row.
    /// Run at start and with the hourly retention beat.
    pub async fn sweep_orphan_segments(&self) -> DbResult<u64> {
        let Store::Sqlite(pool) = self else {
            return Ok(0);
        };
        let with_segments: Vec<String> = sqlx::query_scalar("SELECT DISTINCT file_id FROM evidence_segments")
            .fetch_all(pool)
            .await?;
        let mut deleted = 0;
        for id in with_segments {
            let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM evidence_files WHERE id = $1)")
                .bind(&id)
                .fetch_one(pool)
                .await?;
            if !known {
                deleted += sqlx::query("DELETE FROM evidence_segments WHERE file_id = $1")
                    .bind(&id)
                    .execute(pool)
                    .await?
                    .rows_affected();
            }
        }
        Ok(deleted)
    }

    /// Attached files with no stored content: the evidence file was lost or put back from
    /// an older copy than the database.
    pub async fn files_without_content(&self) -> DbResult<i64> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(FILES_WITHOUT_CONTENT).fetch_one(pool).await)
    }

    /// Attached files of a report, in upload order.
    pub async fn report_files(&self, report_id: &str) -> DbResult<Vec<FileRow>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM evidence_files WHERE report_id = $1 AND pending_until IS NULL ORDER BY position, id"
        );
        on_pool!(self, pool => sqlx::query_as::<_, FileRow>(&sql).bind(report_id).fetch_all(pool).await)
    }

    /// One attached file of a report.
    pub async fn report_file(&self, report_id: &str, file_id: &str) -> DbResult<Option<FileRow>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM evidence_files WHERE id = $1 AND report_id = $2 AND pending_until IS NULL"
        );
        on_pool!(self, pool => sqlx::query_as::<_, FileRow>(&sql).bind(file_id).bind(report_id).fetch_optional(pool).await)
    }

    /// Segment `seq` of a file.
    pub async fn file_segment(&self, file_id: &str, seq: i64) -> DbResult<Option<Vec<u8>>> {
        on_pool!(self, pool => sqlx::query_scalar::<_, Vec<u8>>("SELECT sealed FROM evidence_segments WHERE file_id = $1 AND seq = $2")
            .bind(file_id).bind(seq).fetch_optional(pool).await)
    }

    /// Stored chunks of a report's attached files (the report-wide upload budget counts these).
    pub async fn report_file_chunks(&self, report_id: &str) -> DbResult<i64> {
        on_pool!(self, pool => sqlx::query_scalar::<_, Option<i64>>(
            "SELECT CAST(SUM(chunks) AS BIGINT) FROM evidence_files WHERE report_id = $1 AND pending_until IS NULL")
            .bind(report_id).fetch_one(pool).await.map(Option::unwrap_or_default))
    }
}

/// Attaches pending files to their report (and message) inside the caller's transaction.
/// Fails if one is gone (swept), so the report or message is not stored without it.
macro_rules! attach_files {
    ($tx:ident, $report_id:expr, $message_id:expr, $files:expr) => {
        for file_id in $files {
            let n = sqlx::query(
                "UPDATE evidence_files SET message_id = $1, pending_until = NULL WHERE id = $2 AND report_id = $3 AND pending_until IS NOT NULL AND sealed_meta IS NOT NULL",
            )
            .bind($message_id)
            .bind(file_id)
            .bind($report_id)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(sqlx::Error::RowNotFound);
            }
        }
    };
}
pub(crate) use attach_files;
