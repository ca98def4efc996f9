-- Row-level security per organisation (PostgreSQL). SQLite keeps one database file per
-- organisation instead, so migrations/sqlite/0023_row_security.sql changes nothing; the two
-- are numbered alike so the versions stay in step. See SECURITY.md, "Organisations on
-- PostgreSQL: row-level security".
--
-- Every table that holds an organisation's data gets `org_id`. Rows already here belong to
-- the installation's first organisation (1). New rows take the organisation of the session
-- (the setting `meldpunt.org`, which the service gives every connection when it opens it);
-- a row written without one fails instead of landing nowhere in particular.
--
-- Row-level security is enabled and forced on each of them, with one policy: a session sees
-- and writes only the rows of the organisation it names, and none if it names none. Forced
-- means the table's owner is held to it too; only superusers and roles with BYPASSRLS are
-- not. The service therefore runs its queries as `meldpunt_service`, a role that owns
-- nothing (it is not the owner, so it cannot turn row security off, alter a policy or drop
-- a table), after connecting as the owner that ran these migrations.
--
-- Not here: `_sqlx_migrations` and the registry of organisations (`organisations`, 0022),
-- which belong to the installation.
--
-- For later migrations: they run as the owner with no organisation set, so under forced
-- row security an UPDATE or DELETE of existing rows sees none of them unless the owner is a
-- superuser or has BYPASSRLS (pg_dump, which `meldpunt backup` runs, needs the same). An
-- INSERT must name org_id.

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'organisation', 'coordinators', 'reports', 'report_fields', 'report_wraps', 'messages',
        'sessions', 'audit_events', 'used_form_tokens', 'coordinator_groups', 'group_members',
        'outbox', 'deadline_notices', 'totp_recovery_codes', 'inbox_counts', 'invites',
        'evidence_files', 'evidence_segments', 'pepper_check', 'overview_counts',
        'overview_ack_days', 'overview_overdue_day', 'overview_overdue', 'overview_version',
        'key_endorsements', 'retired_endorsements', 'flood_counts'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN org_id BIGINT NOT NULL DEFAULT 1', t);
        EXECUTE format($f$ALTER TABLE %I ALTER COLUMN org_id SET DEFAULT current_setting('meldpunt.org')::bigint$f$, t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            $f$CREATE POLICY organisation ON %I
                USING (org_id = nullif(current_setting('meldpunt.org', true), '')::bigint)
                WITH CHECK (org_id = nullif(current_setting('meldpunt.org', true), '')::bigint)$f$,
            t);
    END LOOP;
END
$$;

-- Keys that name something within an organisation are unique within it: each organisation
-- has its own single rows (id = 1), usernames, group names, memberships, counters. Random
-- ids and hashes (report, coordinator and file ids, locators, token hashes) stay unique
-- across the installation.
ALTER TABLE organisation DROP CONSTRAINT organisation_pkey, ADD PRIMARY KEY (org_id, id);
ALTER TABLE pepper_check DROP CONSTRAINT pepper_check_pkey, ADD PRIMARY KEY (org_id, id);
ALTER TABLE overview_overdue_day DROP CONSTRAINT overview_overdue_day_pkey, ADD PRIMARY KEY (org_id, id);
ALTER TABLE overview_version DROP CONSTRAINT overview_version_pkey, ADD PRIMARY KEY (org_id, id);
ALTER TABLE coordinators DROP CONSTRAINT coordinators_username_key, ADD UNIQUE (org_id, username);
ALTER TABLE group_members DROP CONSTRAINT group_members_group_name_fkey;
ALTER TABLE coordinator_groups DROP CONSTRAINT coordinator_groups_pkey, ADD PRIMARY KEY (org_id, name);
ALTER TABLE group_members DROP CONSTRAINT group_members_pkey,
    ADD PRIMARY KEY (org_id, group_name, coordinator_id),
    ADD FOREIGN KEY (org_id, group_name) REFERENCES coordinator_groups (org_id, name) ON DELETE CASCADE;
ALTER TABLE overview_counts DROP CONSTRAINT overview_counts_pkey,
    ADD PRIMARY KEY (org_id, quarter, chain_label, category, closed);
ALTER TABLE overview_ack_days DROP CONSTRAINT overview_ack_days_pkey,
    ADD PRIMARY KEY (org_id, quarter, chain_label, category, days);
ALTER TABLE overview_overdue DROP CONSTRAINT overview_overdue_pkey,
    ADD PRIMARY KEY (org_id, quarter, chain_label, category, acked);
ALTER TABLE flood_counts DROP CONSTRAINT flood_counts_pkey, ADD PRIMARY KEY (org_id, kind, hour);

-- The inbox's and the register's orderings per organisation: the organisation first, so a
-- page of one organisation's reports reads that organisation's index entries only.
DROP INDEX reports_received;
DROP INDEX reports_next_due;
DROP INDEX reports_received_id;
DROP INDEX reports_status_received;
DROP INDEX reports_label_received;
DROP INDEX reports_category_received;
DROP INDEX reports_subject_received;
DROP INDEX reports_closed;
CREATE INDEX reports_received ON reports (org_id, received_on DESC, id);
CREATE INDEX reports_next_due ON reports (org_id, next_due_on, id);
CREATE INDEX reports_received_id ON reports (org_id, received_on, id);
CREATE INDEX reports_status_received ON reports (org_id, status, received_on, id);
CREATE INDEX reports_label_received ON reports (org_id, chain_label, received_on, id);
CREATE INDEX reports_category_received ON reports (org_id, category, received_on, id);
CREATE INDEX reports_subject_received ON reports (org_id, subject_role, received_on, id);
CREATE INDEX reports_closed ON reports (org_id, closed_on) WHERE closed_on IS NOT NULL AND destroyed_on IS NULL;

-- The overview's counters are kept per organisation: the triggers (0012, 0015) count a
-- report under its own organisation. They run as the session's role, so row security holds
-- there too; naming the organisation keeps them right for a session that bypasses it.
CREATE OR REPLACE FUNCTION overview_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE overview_counts SET n = n - 1
            WHERE org_id = OLD.org_id
              AND quarter = overview_quarter(OLD.received_on) AND chain_label = OLD.chain_label
              AND category = OLD.category
              AND closed = CASE WHEN OLD.status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END;
        IF OLD.acknowledged_on IS NOT NULL THEN
            UPDATE overview_ack_days SET n = n - 1
                WHERE org_id = OLD.org_id
                  AND quarter = overview_quarter(OLD.received_on) AND chain_label = OLD.chain_label
                  AND category = OLD.category AND days = (OLD.acknowledged_on::date - OLD.received_on::date);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO overview_counts (org_id, quarter, chain_label, category, closed, n)
            VALUES (NEW.org_id, overview_quarter(NEW.received_on), NEW.chain_label, NEW.category,
                    CASE WHEN NEW.status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END, 1)
            ON CONFLICT (org_id, quarter, chain_label, category, closed) DO UPDATE SET n = overview_counts.n + 1;
        IF NEW.acknowledged_on IS NOT NULL THEN
            INSERT INTO overview_ack_days (org_id, quarter, chain_label, category, days, n)
                VALUES (NEW.org_id, overview_quarter(NEW.received_on), NEW.chain_label, NEW.category,
                        (NEW.acknowledged_on::date - NEW.received_on::date), 1)
                ON CONFLICT (org_id, quarter, chain_label, category, days) DO UPDATE SET n = overview_ack_days.n + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION overdue_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    org BIGINT;
    day TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        org := OLD.org_id;
    ELSE
        org := NEW.org_id;
    END IF;
    -- FOR SHARE: see 0015 (a recount for a new day takes this row FOR UPDATE first).
    SELECT as_of INTO day FROM overview_overdue_day WHERE org_id = org AND id = 1 FOR SHARE;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.next_due_on < day THEN
        UPDATE overview_overdue SET n = n - 1
            WHERE org_id = OLD.org_id
              AND quarter = overview_quarter(OLD.received_on) AND chain_label = OLD.chain_label
              AND category = OLD.category
              AND acked = CASE WHEN OLD.acknowledged_on IS NULL THEN 0 ELSE 1 END;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.next_due_on < day THEN
        INSERT INTO overview_overdue (org_id, quarter, chain_label, category, acked, n)
            VALUES (NEW.org_id, overview_quarter(NEW.received_on), NEW.chain_label, NEW.category,
                    CASE WHEN NEW.acknowledged_on IS NULL THEN 0 ELSE 1 END, 1)
            ON CONFLICT (org_id, quarter, chain_label, category, acked) DO UPDATE SET n = overview_overdue.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION overview_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE overview_version SET v = v + 1 WHERE org_id = OLD.org_id AND id = 1;
    ELSE
        UPDATE overview_version SET v = v + 1 WHERE org_id = NEW.org_id AND id = 1;
    END IF;
    RETURN NULL;
END
$$;

-- The role the service's queries run as. Roles belong to the whole server, so another
-- database on it (or one migrating at this moment) may have made it already.
DO $$
DECLARE
    may_set BOOLEAN;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meldpunt_service') THEN
        BEGIN
            CREATE ROLE meldpunt_service NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION USING
                    MESSAGE = format('the database user %I may not create the role meldpunt_service. As a superuser, run: CREATE ROLE meldpunt_service NOLOGIN; GRANT meldpunt_service TO %I; then start Meldpunt again', current_user, current_user),
                    HINT = format('CREATE ROLE meldpunt_service NOLOGIN; GRANT meldpunt_service TO %I;', current_user);
        END;
    END IF;
    -- The owner switches to it on every connection (SET ROLE), so it must be a member that
    -- may do so: a superuser always may; PostgreSQL 16 and later tell membership apart from
    -- the right to SET ROLE (a role's creator gets only the right to grant it), 15 does not.
    BEGIN
        may_set := pg_has_role(current_user, 'meldpunt_service', 'SET');
    EXCEPTION WHEN invalid_parameter_value THEN
        may_set := pg_has_role(current_user, 'meldpunt_service', 'MEMBER');
    END;
    IF NOT may_set THEN
        BEGIN
            EXECUTE format('GRANT meldpunt_service TO %I', current_user);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;
            WHEN insufficient_privilege OR invalid_grant_operation THEN
                RAISE EXCEPTION USING
                    MESSAGE = format('the database user %I may not take the role meldpunt_service. As a superuser, run: GRANT meldpunt_service TO %I; then start Meldpunt again', current_user, current_user),
                    HINT = format('GRANT meldpunt_service TO %I;', current_user);
        END;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO meldpunt_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO meldpunt_service;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO meldpunt_service;
-- The migrations' bookkeeping is the owner's alone.
REVOKE ALL ON _sqlx_migrations FROM meldpunt_service;
-- Tables and sequences later migrations make (run by this same owner) are granted too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO meldpunt_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO meldpunt_service;
