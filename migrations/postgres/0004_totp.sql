-- Two-factor login (PostgreSQL). Keep in step with migrations/sqlite/0004_totp.sql.
-- The TOTP secret is sealed under a key derived from the coordinator's private key, so it
-- is unreadable without the password; the last accepted time step refuses a code twice.
ALTER TABLE coordinators ADD COLUMN totp_sealed BYTEA;
ALTER TABLE coordinators ADD COLUMN totp_last_step BIGINT;

-- One-time recovery codes, stored only as hashes; a used code is deleted.
CREATE TABLE totp_recovery_codes (
    coordinator_id TEXT NOT NULL REFERENCES coordinators (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    PRIMARY KEY (coordinator_id, code_hash)
);

-- A session is 'mfa' between password and second factor, 'full' after.
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full';
