-- Inbox at scale (SQLite). Keep in step with migrations/postgres/0005_inbox.sql.
-- The next legal deadline as a date ('9999-12-31' when none is open), so the inbox can sort
-- by it and find overdue reports through an index instead of computing it for every row.
ALTER TABLE reports ADD COLUMN next_due_on TEXT NOT NULL DEFAULT '9999-12-31';
CREATE INDEX reports_next_due ON reports (next_due_on, id);
-- Newest-first pages, unfiltered and per filter: walked backwards, these give the order
-- (received_on DESC, id DESC) without sorting, so a page reads about one page of rows.
CREATE INDEX reports_received_id ON reports (received_on, id);
CREATE INDEX reports_status_received ON reports (status, received_on, id);
CREATE INDEX reports_label_received ON reports (chain_label, received_on, id);
CREATE INDEX reports_category_received ON reports (category, received_on, id);
CREATE INDEX reports_subject_received ON reports (subject_role, received_on, id);

-- Per coordinator, how many of their reports have each status, chain label, category and
-- subject role: kept up to date in the same transactions that change reports or access,
-- so the filter counts cost the same with 100 or 100,000 reports.
CREATE TABLE inbox_counts (
    coordinator_id TEXT NOT NULL,
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (coordinator_id, dimension, value)
);
INSERT INTO inbox_counts (coordinator_id, dimension, value, n)
    SELECT w.recipient_id, 'status', r.status, COUNT(*) FROM reports r JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' GROUP BY w.recipient_id, r.status;
INSERT INTO inbox_counts (coordinator_id, dimension, value, n)
    SELECT w.recipient_id, 'label', r.chain_label, COUNT(*) FROM reports r JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' GROUP BY w.recipient_id, r.chain_label;
INSERT INTO inbox_counts (coordinator_id, dimension, value, n)
    SELECT w.recipient_id, 'category', r.category, COUNT(*) FROM reports r JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' GROUP BY w.recipient_id, r.category;
INSERT INTO inbox_counts (coordinator_id, dimension, value, n)
    SELECT w.recipient_id, 'subject', r.subject_role, COUNT(*) FROM reports r JOIN report_wraps w ON w.report_id = r.id AND w.recipient_kind = 'coordinator' GROUP BY w.recipient_id, r.subject_role;
