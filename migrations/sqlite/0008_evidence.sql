-- Evidence files (SQLite). Keep in step with migrations/postgres/0008_evidence.sql.
-- Name, type, size and content are sealed: `sealed_meta` and the segments. A file is
-- pending (pending_until set) while it is uploaded, and attached to its report (and
-- message) in the same transaction as that report or message; pending rows are deleted
-- when the request fails, and swept when a crash left them behind.
CREATE TABLE evidence_files (
    id TEXT PRIMARY KEY,
    report_id TEXT NOT NULL,
    message_id TEXT,
    position INTEGER NOT NULL,
    author_role TEXT NOT NULL CHECK (author_role IN ('reporter', 'coordinator')),
    stream_header BLOB NOT NULL,
    sealed_meta BLOB,
    chunks INTEGER NOT NULL DEFAULT 0,
    pending_until INTEGER
);
CREATE INDEX evidence_files_report ON evidence_files (report_id, position);
CREATE INDEX evidence_files_pending ON evidence_files (pending_until) WHERE pending_until IS NOT NULL;

CREATE TABLE evidence_segments (
    file_id TEXT NOT NULL REFERENCES evidence_files (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (file_id, seq)
);
