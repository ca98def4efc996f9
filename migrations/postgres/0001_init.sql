-- Meldpunt schema v1 (PostgreSQL). Keep in step with migrations/sqlite/0001_init.sql.
-- Nothing here holds report content in the clear: see DESIGN.md "What stays in the clear".

CREATE TABLE organisation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    recovery_public_key BYTEA,
    setup_token_hash BYTEA,
    setup_expires_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE coordinators (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    sealed_private_key BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active')),
    created_at BIGINT NOT NULL
);

CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    locator_hash BYTEA NOT NULL UNIQUE,
    key_commitment BYTEA NOT NULL,
    received_on TEXT NOT NULL,
    acknowledged_on TEXT,
    status TEXT NOT NULL,
    chain_label TEXT NOT NULL,
    suggested_chain_label TEXT NOT NULL,
    category TEXT NOT NULL,
    subject_role TEXT NOT NULL,
    unread_for_coordinators BIGINT NOT NULL DEFAULT 0,
    last_activity_on TEXT NOT NULL
);
CREATE INDEX reports_received ON reports (received_on DESC, id);

CREATE TABLE report_fields (
    report_id TEXT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    field BIGINT NOT NULL,
    sealed BYTEA NOT NULL,
    PRIMARY KEY (report_id, field)
);

CREATE TABLE report_wraps (
    report_id TEXT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('coordinator', 'recovery', 'code')),
    recipient_id TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    PRIMARY KEY (report_id, recipient_kind, recipient_id)
);
CREATE INDEX report_wraps_recipient ON report_wraps (recipient_kind, recipient_id);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    report_id TEXT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    author_role TEXT NOT NULL CHECK (author_role IN ('reporter', 'coordinator', 'system')),
    author_id TEXT,
    kind TEXT NOT NULL,
    created_on TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    UNIQUE (report_id, seq)
);

CREATE TABLE sessions (
    id_hash BYTEA PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('coordinator', 'reporter')),
    subject_id TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    coordinator_id TEXT,
    action TEXT NOT NULL,
    report_id TEXT
);

CREATE TABLE used_form_tokens (
    token_hash BYTEA PRIMARY KEY,
    used_on TEXT NOT NULL
);
