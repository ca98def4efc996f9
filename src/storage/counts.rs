//! Keeping the inbox filter counts (`inbox_counts`) in step, inside the transactions that
//! change a report's clear columns or who holds a wrap: take the report out of its holders'
//! counts before a change and put it back after.

/// Adds `delta` to the counts of report `$report` for every coordinator holding a wrap (or,
/// with a coordinator id, for that one only). Expands to four upserts, one per dimension.
macro_rules! bump_counts {
    ($tx:expr, $report:expr, $delta:expr) => {
        $crate::storage::counts::bump_counts!(@run $tx, $report, $delta, "", None::<&str>)
    };
    ($tx:expr, $report:expr, $delta:expr, only $who:expr) => {
        $crate::storage::counts::bump_counts!(@run $tx, $report, $delta, " AND w.recipient_id = $3", Some($who))
    };
    (@run $tx:expr, $report:expr, $delta:expr, $only:expr, $who:expr) => {{
        for (dim, col) in [("status", "status"), ("label", "chain_label"), ("category", "category"), ("subject", "subject_role")] {
            let sql = format!(
                "INSERT INTO inbox_counts (coordinator_id, dimension, value, n) \
                 SELECT w.recipient_id, '{dim}', r.{col}, $2 FROM reports r \
                 JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' \
                 WHERE r.id = $1{} \
                 ON CONFLICT (coordinator_id, dimension, value) DO UPDATE SET n = inbox_counts.n + excluded.n",
                $only
            );
            let q = sqlx::query(&sql).bind($report).bind($delta as i64);
            let q = match $who {
                Some(w) => q.bind(w),
                None => q,
            };
            q.execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use bump_counts;
