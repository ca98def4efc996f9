-- Triage (SQLite): when feedback on the follow-up was given, and a non-content detail on
-- audit events (e.g. "nieuw -> in_behandeling"). Keep in step with
-- migrations/postgres/0003_triage.sql.
ALTER TABLE reports ADD COLUMN feedback_on TEXT;
ALTER TABLE audit_events ADD COLUMN detail TEXT;
CREATE INDEX audit_events_report ON audit_events (report_id);
