-- One person, one login, several organisations (issue 23). Keep in step with
-- migrations/postgres/0024_coordinator_links.sql.

-- This organisation's account of a person, opened by their login at another organisation:
-- the account's secret sealed to their public key there. Made by the person, with both
-- accounts' passwords, after each organisation's own coordinators approved its account.
CREATE TABLE coordinator_links (
    coordinator_id TEXT NOT NULL REFERENCES coordinators (id) ON DELETE CASCADE,
    home_org INTEGER NOT NULL,
    home_coordinator TEXT NOT NULL,
    wrapped_secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (home_org, home_coordinator)
);

-- The other organisations an account here may switch to (their links are there).
CREATE TABLE coordinator_elsewhere (
    coordinator_id TEXT NOT NULL REFERENCES coordinators (id) ON DELETE CASCADE,
    org_id_there INTEGER NOT NULL,
    PRIMARY KEY (coordinator_id, org_id_there)
);
