-- Staff keys (SQLite). Keep in step with migrations/postgres/0014_staff_key.sql.
-- Internal notes and triage reasons are sealed under a per-report staff key that travels
-- only in the wraps to coordinators and the recovery key, never in the meldcode's wrap.
-- This is its commitment, checked after every staff-side unwrap. NULL for reports stored
-- before this version until a coordinator opens them: that first look gives the report a
-- staff key, re-wraps it to every holder and re-seals its notes, in one transaction.
ALTER TABLE reports ADD COLUMN staff_commitment BLOB;
