-- The report a sent form's kept meldcode belongs to (SQLite). Keep in step with
-- migrations/postgres/0016_form_code_report.sql.
-- A form sent twice (a double click, a reload) is shown the meldcode of the first send,
-- sealed under the form's token, for a few minutes. Destroying a report must destroy that
-- copy too, so the row names its report while the copy is kept; both are cleared together,
-- so no row links a form token (which the reporter's browser may keep) to a report after.
ALTER TABLE used_form_tokens ADD COLUMN report_id TEXT;
CREATE INDEX used_form_tokens_report ON used_form_tokens (report_id) WHERE report_id IS NOT NULL;
