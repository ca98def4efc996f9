-- Routing groups and the notification outbox (SQLite). Keep in step with
-- migrations/postgres/0002_routing_notify.sql.

ALTER TABLE coordinators ADD COLUMN email TEXT;
ALTER TABLE coordinators ADD COLUMN language TEXT NOT NULL DEFAULT 'nl';

CREATE TABLE coordinator_groups (
    name TEXT PRIMARY KEY,
    label TEXT NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES coordinator_groups (name) ON DELETE CASCADE,
    coordinator_id TEXT NOT NULL REFERENCES coordinators (id) ON DELETE CASCADE,
    PRIMARY KEY (group_name, coordinator_id)
);

-- One row per (coordinator, event). No report id and no content: a mail only says that
-- something is waiting. due_at is the next digest time, not the moment of the event.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coordinator_id TEXT NOT NULL REFERENCES coordinators (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'given_up')),
    first_due_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_by TEXT,
    claimed_until INTEGER,
    sent_at INTEGER
);
CREATE INDEX outbox_due ON outbox (state, due_at);

-- Which deadline warnings were queued already, so each goes out once.
CREATE TABLE deadline_notices (
    report_id TEXT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    PRIMARY KEY (report_id, kind)
);

-- The meldcode of a just-submitted report, sealed under a key derived from the form's
-- one-time token (which only the reporter's browser has), so a double-click or reload
-- shows the same code again instead of losing it. Cleared after a day.
ALTER TABLE used_form_tokens ADD COLUMN sealed_code BLOB;
