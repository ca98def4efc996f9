-- Recipient keys the database alone cannot change (postgres). Keep in step with
-- migrations/sqlite/0020_recipient_keys.sql. See SECURITY.md, "Recipient keys".
--
-- A coordinator's keys are wrapped to only when a signature chain from the trust pin (a
-- file beside the pepper) vouches for them: the set-up signs the first coordinator's keys
-- with the recovery key, an approver signs the approved colleague's. A row changed by hand
-- (status, public key) has no such signature and gets no wrap.
-- The Ed25519 key a coordinator signs with, derived from their X25519 secret and claimed at
-- account creation (or their first login after the upgrade). Only an endorsement makes it
-- count: the fingerprint an approver compares covers both keys.
ALTER TABLE coordinators ADD COLUMN verifying_key BYTEA;
CREATE TABLE key_endorsements (
    coordinator_id TEXT PRIMARY KEY REFERENCES coordinators (id) ON DELETE CASCADE,
    -- The X25519 key reports are wrapped to, and the Ed25519 key the coordinator signs with.
    public_key BYTEA NOT NULL,
    verifying_key BYTEA NOT NULL,
    -- Who vouched (a verifying key) and their signature over the three values above.
    signer BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
-- An endorsement whose keys were replaced (a recovery) or whose coordinator was removed:
-- what its key signed before (colleagues it approved, memberships it added, staff keys)
-- keeps counting, but it vouches for no recipient.
CREATE TABLE retired_endorsements (
    coordinator_id TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    verifying_key BYTEA NOT NULL,
    signer BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    retired_at BIGINT NOT NULL
);
-- Group memberships decide who receives new reports: each is signed by the coordinator
-- who added it. An unsigned one (added by hand or by the command line) routes nothing
-- until a coordinator confirms it.
ALTER TABLE group_members ADD COLUMN signer BYTEA;
ALTER TABLE group_members ADD COLUMN signature BYTEA;
-- A report's staff key is made by the first coordinator who opens the report and its
-- commitment signed by them, so a database writer who knows the report key (from a
-- meldcode) cannot plant a staff key of their own.
ALTER TABLE reports ADD COLUMN staff_signer BYTEA;
ALTER TABLE reports ADD COLUMN staff_signature BYTEA;
