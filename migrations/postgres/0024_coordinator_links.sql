-- One person, one login, several organisations (issue 23). Keep in step with
-- migrations/sqlite/0024_coordinator_links.sql. Both tables hold one organisation's rows,
-- under the same forced row-level security as every other (0023).

CREATE TABLE coordinator_links (
    org_id BIGINT NOT NULL DEFAULT current_setting('meldpunt.org')::bigint,
    coordinator_id TEXT NOT NULL REFERENCES coordinators (id) ON DELETE CASCADE,
    home_org BIGINT NOT NULL,
    home_coordinator TEXT NOT NULL,
    wrapped_secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, home_org, home_coordinator)
);

CREATE TABLE coordinator_elsewhere (
    org_id BIGINT NOT NULL DEFAULT current_setting('meldpunt.org')::bigint,
    coordinator_id TEXT NOT NULL REFERENCES coordinators (id) ON DELETE CASCADE,
    org_id_there BIGINT NOT NULL,
    PRIMARY KEY (org_id, coordinator_id, org_id_there)
);

ALTER TABLE coordinator_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE coordinator_links FORCE ROW LEVEL SECURITY;
CREATE POLICY organisation ON coordinator_links
    USING (org_id = nullif(current_setting('meldpunt.org', true), '')::bigint)
    WITH CHECK (org_id = nullif(current_setting('meldpunt.org', true), '')::bigint);
ALTER TABLE coordinator_elsewhere ENABLE ROW LEVEL SECURITY;
ALTER TABLE coordinator_elsewhere FORCE ROW LEVEL SECURITY;
CREATE POLICY organisation ON coordinator_elsewhere
    USING (org_id = nullif(current_setting('meldpunt.org', true), '')::bigint)
    WITH CHECK (org_id = nullif(current_setting('meldpunt.org', true), '')::bigint);
