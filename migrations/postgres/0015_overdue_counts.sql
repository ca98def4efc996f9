-- Overdue counts for the chain overview (PostgreSQL). Keep in step with
-- migrations/sqlite/0015_overdue_counts.sql.
-- Which open reports are past a deadline depends on the day, so these counts are kept for
-- one day at a time: `overview_overdue_day.as_of` names the day, `overview_overdue` holds,
-- per quarter of receipt, chain link, category and acknowledged or not, how many reports had
-- next_due_on before that day. The trigger below keeps them right for that day in the same
-- transactions that change reports; the service recounts them once when the day changes
-- (Store::overdue_counts_kept), so the overview costs the same with 100 or 100,000 reports.
-- The first day is the empty string: nothing is before it, so the empty table is right.
-- `overview_version.v` goes up with every change to what the overview counts (and with each
-- recount), in the same transaction: a service keeps the aggregates it computed in memory
-- and reuses them while the version it read them at is still current.
-- Completing or closing a report used to leave its next deadline in place, so a report
-- closed after its deadline still counted as overdue (inbox filter, inbox count, overview).
-- The service now clears it on closing and sets it again on reopening; this clears it for
-- the reports closed before.
UPDATE reports SET next_due_on = '9999-12-31' WHERE status IN ('afgerond', 'gesloten');

CREATE TABLE overview_overdue_day (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    as_of TEXT NOT NULL
);
INSERT INTO overview_overdue_day (id, as_of) VALUES (1, '');
CREATE TABLE overview_overdue (
    quarter TEXT NOT NULL,
    chain_label TEXT NOT NULL,
    category TEXT NOT NULL,
    acked INTEGER NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (quarter, chain_label, category, acked)
);

CREATE FUNCTION overdue_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    day TEXT;
BEGIN
    -- FOR SHARE: a recount for a new day takes this row FOR UPDATE first, so it waits for
    -- every transaction that changed a report under the old day (their changes are then in
    -- what it counts), and a change made during a recount waits for it and is then counted
    -- against the new day. Without the lock a change could be applied to counts a recount
    -- is replacing, and be lost.
    SELECT as_of INTO day FROM overview_overdue_day WHERE id = 1 FOR SHARE;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.next_due_on < day THEN
        UPDATE overview_overdue SET n = n - 1
            WHERE quarter = overview_quarter(OLD.received_on) AND chain_label = OLD.chain_label
              AND category = OLD.category
              AND acked = CASE WHEN OLD.acknowledged_on IS NULL THEN 0 ELSE 1 END;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.next_due_on < day THEN
        INSERT INTO overview_overdue (quarter, chain_label, category, acked, n)
            VALUES (overview_quarter(NEW.received_on), NEW.chain_label, NEW.category,
                    CASE WHEN NEW.acknowledged_on IS NULL THEN 0 ELSE 1 END, 1)
            ON CONFLICT (quarter, chain_label, category, acked) DO UPDATE SET n = overview_overdue.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER overdue_insert AFTER INSERT ON reports FOR EACH ROW EXECUTE FUNCTION overdue_track();
CREATE TRIGGER overdue_update AFTER UPDATE OF next_due_on, received_on, chain_label, category, acknowledged_on ON reports
    FOR EACH ROW EXECUTE FUNCTION overdue_track();
CREATE TRIGGER overdue_delete AFTER DELETE ON reports FOR EACH ROW EXECUTE FUNCTION overdue_track();

CREATE TABLE overview_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v BIGINT NOT NULL
);
INSERT INTO overview_version (id, v) VALUES (1, 0);

-- Deferred to the commit, so the one row is locked last and only while committing: every
-- transaction that changes reports takes it after all its other locks, and none waits for
-- another lock while holding it, so it cannot be part of a deadlock.
CREATE FUNCTION overview_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE overview_version SET v = v + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER overview_version_change AFTER INSERT OR DELETE ON reports
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION overview_version_bump();
CREATE CONSTRAINT TRIGGER overview_version_update
    AFTER UPDATE OF status, chain_label, category, acknowledged_on, received_on, next_due_on ON reports
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION overview_version_bump();
