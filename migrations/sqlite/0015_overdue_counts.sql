-- Overdue counts for the chain overview (SQLite). Keep in step with
-- migrations/postgres/0015_overdue_counts.sql.
-- Which open reports are past a deadline depends on the day, so these counts are kept for
-- one day at a time: `overview_overdue_day.as_of` names the day, `overview_overdue` holds,
-- per quarter of receipt, chain link, category and acknowledged or not, how many reports had
-- next_due_on before that day. The triggers below keep them right for that day in the same
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

CREATE TRIGGER overdue_insert AFTER INSERT ON reports
    WHEN NEW.next_due_on < (SELECT as_of FROM overview_overdue_day WHERE id = 1)
BEGIN
    INSERT INTO overview_overdue (quarter, chain_label, category, acked, n)
        VALUES (substr(NEW.received_on, 1, 4) || '-K' || ((CAST(substr(NEW.received_on, 6, 2) AS INTEGER) + 2) / 3), NEW.chain_label, NEW.category,
                CASE WHEN NEW.acknowledged_on IS NULL THEN 0 ELSE 1 END, 1)
        ON CONFLICT (quarter, chain_label, category, acked) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER overdue_update AFTER UPDATE OF next_due_on, received_on, chain_label, category, acknowledged_on ON reports BEGIN
    UPDATE overview_overdue SET n = n - 1
        WHERE OLD.next_due_on < (SELECT as_of FROM overview_overdue_day WHERE id = 1)
          AND quarter = substr(OLD.received_on, 1, 4) || '-K' || ((CAST(substr(OLD.received_on, 6, 2) AS INTEGER) + 2) / 3)
          AND chain_label = OLD.chain_label AND category = OLD.category
          AND acked = CASE WHEN OLD.acknowledged_on IS NULL THEN 0 ELSE 1 END;
    INSERT INTO overview_overdue (quarter, chain_label, category, acked, n)
        SELECT substr(NEW.received_on, 1, 4) || '-K' || ((CAST(substr(NEW.received_on, 6, 2) AS INTEGER) + 2) / 3), NEW.chain_label, NEW.category,
               CASE WHEN NEW.acknowledged_on IS NULL THEN 0 ELSE 1 END, 1
        WHERE NEW.next_due_on < (SELECT as_of FROM overview_overdue_day WHERE id = 1)
        ON CONFLICT (quarter, chain_label, category, acked) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER overdue_delete AFTER DELETE ON reports
    WHEN OLD.next_due_on < (SELECT as_of FROM overview_overdue_day WHERE id = 1)
BEGIN
    UPDATE overview_overdue SET n = n - 1
        WHERE quarter = substr(OLD.received_on, 1, 4) || '-K' || ((CAST(substr(OLD.received_on, 6, 2) AS INTEGER) + 2) / 3)
          AND chain_label = OLD.chain_label AND category = OLD.category
          AND acked = CASE WHEN OLD.acknowledged_on IS NULL THEN 0 ELSE 1 END;
END;

CREATE TABLE overview_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v BIGINT NOT NULL
);
INSERT INTO overview_version (id, v) VALUES (1, 0);

CREATE TRIGGER overview_version_insert AFTER INSERT ON reports BEGIN
    UPDATE overview_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER overview_version_update
    AFTER UPDATE OF status, chain_label, category, acknowledged_on, received_on, next_due_on ON reports
BEGIN
    UPDATE overview_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER overview_version_delete AFTER DELETE ON reports BEGIN
    UPDATE overview_version SET v = v + 1 WHERE id = 1;
END;
