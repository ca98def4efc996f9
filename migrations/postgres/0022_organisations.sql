-- The organisations one installation serves (issue 23). Keep in step with
-- migrations/sqlite/0022_organisations.sql. This registry lives in the installation's
-- database (on SQLite: the first organisation's file; every later organisation has a file
-- of its own beside it). It holds no report content: names, addresses, state, and each
-- organisation's own secret sealed under the installation's pepper.

CREATE TABLE organisations (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    -- The host of `url`, lower case: what a request's Host header is matched against.
    host TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('active', 'suspended')),
    -- 32 random bytes sealed under the pepper (XChaCha20-Poly1305); the organisation's
    -- own pepper for locators, passwords and throttles. NULL: the installation's pepper
    -- itself (the organisation an existing installation upgraded into).
    sealed_key BYTEA,
    -- The organisation's own settings (TOML: organisation, routing, retention, notify),
    -- over the installation's file.
    settings TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- What the operator did to organisations: kept by the installation, so a removal's record
-- outlives the organisation's own audit trail.
CREATE TABLE organisation_log (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL,
    org_name TEXT NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
