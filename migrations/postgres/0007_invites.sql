-- Invitations by one-time link (PostgreSQL). Keep in step with migrations/sqlite/0007_invites.sql.
-- Only the hash of the link's token is stored; the link is shown once to the inviting
-- coordinator, who hands it over.
CREATE TABLE invites (
    token_hash BYTEA PRIMARY KEY,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    invited_by TEXT NOT NULL REFERENCES coordinators (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
