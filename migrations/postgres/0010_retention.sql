-- Retention and the register (PostgreSQL). Keep in step with migrations/sqlite/0010_retention.sql.
-- closed_on: the day a report was completed or closed (cleared when it is reopened); the
-- retention period counts from it. keep_until: a later day a coordinator extended it to (with
-- a sealed reason). destroyed_on: the day its content was destroyed; the row itself stays as
-- the register entry (dates, chain link, category, outcome), which identifies nobody.
ALTER TABLE reports ADD COLUMN closed_on TEXT;
ALTER TABLE reports ADD COLUMN keep_until TEXT;
ALTER TABLE reports ADD COLUMN destroyed_on TEXT;
-- Reports closed before this version count from the day of the upgrade: never earlier than
-- their real closing day, so nothing is destroyed sooner than the setting says.
UPDATE reports SET closed_on = to_char(CURRENT_DATE, 'YYYY-MM-DD') WHERE status IN ('afgerond', 'gesloten');
CREATE INDEX reports_closed ON reports (closed_on) WHERE closed_on IS NOT NULL AND destroyed_on IS NULL;
