//! Which storage errors are the database failing (answer 503 and try again later), and
//! which are a transaction losing a race it can simply run again (a deadlock, a
//! serialisation failure). Everything else is a bug and stays a 500.

use std::future::Future;
use std::time::Duration;

use super::DbResult;

/// The database cannot serve now, through no fault of the request: no connection within
/// the pool's wait, the pool closed, the connection lost, PostgreSQL refusing connections
/// or out of room (SQLSTATE classes 08 and 53, 57P01-57P03, a read-only database: 25006, a
/// database not accepting connections: 55000, which no query of ours raises otherwise),
/// SQLite busy, locked, read-only, full, or failing to read or open its file.
pub fn is_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            let sqlite = d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            d.code().is_some_and(|c| is_outage_code(&c, sqlite))
        }
        _ => false,
    }
}

fn is_outage_code(code: &str, sqlite: bool) -> bool {
    if sqlite {
        // SQLite gives its extended result code as a number; its low byte is the primary
        // code: BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN.
        return code
            .parse::<i64>()
            .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14));
    }
    // PostgreSQL's SQLSTATE (five characters, often all digits).
    code.starts_with("08") || code.starts_with("53") || matches!(code, "57P01" | "57P02" | "57P03" | "25006" | "55000")
}

/// An error chain with an outage (see [`is_outage`]) anywhere in it.
pub fn is_outage_chain(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| cause.downcast_ref::<sqlx::Error>().is_some_and(is_outage))
}

/// PostgreSQL gave up a transaction to let another go ahead (deadlock detected 40P01, could
/// not serialise 40001): it was rolled back whole, and running it again is safe.
pub fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// How often a transaction that lost a deadlock or serialisation race runs again.
const CONFLICT_RETRIES: u32 = 2;

/// Runs `tx` (one whole transaction, as a closure that begins and commits it) and runs it
/// again, after a short pause, when PostgreSQL rolled it back for a deadlock or a
/// serialisation failure: at most [`CONFLICT_RETRIES`] more times. Only for transactions
/// whose inputs are fixed before the first try (ids, times), so a second run writes what
/// the first would have.
pub async fn retry_conflicts<T, F, Fut>(mut tx: F) -> DbResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = DbResult<T>>,
{
    let mut tries = 0;
    loop {
        match tx().await {
            Err(e) if tries < CONFLICT_RETRIES && is_conflict(&e) => {
                tries += 1;
                tracing::info!(error = %e, tries, "a transaction lost a deadlock or serialisation race; running it again");
                let jitter = u64::from(rand::random::<u8>() % 50);
                tokio::time::sleep(Duration::from_millis(20 * u64::from(tries) + jitter)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }
    impl std::error::Error for Coded {}
    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "test"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn db(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Coded(code)))
    }

    #[test]
    fn outages_are_told_from_bugs() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::other("reset")),
            db("08006"),
            db("08001"),
            db("53100"),
            db("53300"),
            db("57P01"),
            db("57P03"),
            db("25006"),
            db("55000"),
        ] {
            assert!(is_outage(&e), "{e} is an outage");
            assert!(is_outage_chain(&anyhow::Error::from(e).context("reading the inbox")));
        }
        for e in [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".into()),
            db("23505"),
            db("42P01"),
            db("42501"),
            db("40P01"),
        ] {
            assert!(!is_outage(&e), "{e} is no outage");
            assert!(!is_outage_chain(&anyhow::Error::from(e)));
        }
        assert!(!is_outage_chain(&anyhow::anyhow!("a bug")));
    }

    #[test]
    fn sqlite_result_codes_are_read_by_their_primary_code() {
        // BUSY, BUSY_SNAPSHOT, LOCKED, READONLY, IOERR, IOERR_FSYNC, FULL, CANTOPEN.
        for code in ["5", "517", "6", "8", "10", "1034", "13", "14"] {
            assert!(is_outage_code(code, true), "{code}");
        }
        // ERROR, CONSTRAINT, CONSTRAINT_UNIQUE, MISMATCH: bugs or bad input.
        for code in ["1", "19", "2067", "20"] {
            assert!(!is_outage_code(code, true), "{code}");
        }
        // A PostgreSQL SQLSTATE that happens to be all digits is no SQLite code.
        assert!(is_outage_code("53100", false));
        assert!(!is_outage_code("23505", false));
    }

    #[test]
    fn only_deadlocks_and_serialisation_failures_are_conflicts() {
        assert!(is_conflict(&db("40P01")));
        assert!(is_conflict(&db("40001")));
        for e in [db("23505"), db("08006"), db("53300"), sqlx::Error::PoolTimedOut] {
            assert!(!is_conflict(&e), "{e}");
        }
    }

    #[tokio::test]
    async fn a_conflict_runs_again_a_bounded_number_of_times() {
        let runs = AtomicU32::new(0);
        let once = retry_conflicts(|| async {
            if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(db("40P01"))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(once.expect("second run succeeds"), 7);
        assert_eq!(runs.load(Ordering::SeqCst), 2);

        let runs = AtomicU32::new(0);
        let always = retry_conflicts(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(db("40001"))
        })
        .await;
        assert!(always.is_err_and(|e| is_conflict(&e)));
        assert_eq!(runs.load(Ordering::SeqCst), 1 + CONFLICT_RETRIES);

        let runs = AtomicU32::new(0);
        let bug = retry_conflicts(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(db("23505"))
        })
        .await;
        assert!(bug.is_err());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "other errors are not run again");
    }
}
