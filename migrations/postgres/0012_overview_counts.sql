-- Chain overview aggregates (PostgreSQL). Keep in step with migrations/sqlite/0012_overview_counts.sql.
-- Per quarter of receipt, chain link and category: how many reports are open and closed, and
-- how many were acknowledged after how many days. Kept by a trigger in the same transactions
-- that insert or change reports, so the overview costs the same with 100 or 100,000 reports.
-- Codes and counts only, like the reports' clear columns they summarise.
CREATE TABLE overview_counts (
    quarter TEXT NOT NULL,
    chain_label TEXT NOT NULL,
    category TEXT NOT NULL,
    closed INTEGER NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (quarter, chain_label, category, closed)
);
CREATE TABLE overview_ack_days (
    quarter TEXT NOT NULL,
    chain_label TEXT NOT NULL,
    category TEXT NOT NULL,
    days BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (quarter, chain_label, category, days)
);

CREATE FUNCTION overview_quarter(received TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS
    $$ SELECT substr(received, 1, 4) || '-K' || ((CAST(substr(received, 6, 2) AS INTEGER) + 2) / 3) $$;

INSERT INTO overview_counts (quarter, chain_label, category, closed, n)
    SELECT overview_quarter(received_on), chain_label, category,
           CASE WHEN status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END, COUNT(*)
    FROM reports GROUP BY 1, 2, 3, 4;
INSERT INTO overview_ack_days (quarter, chain_label, category, days, n)
    SELECT overview_quarter(received_on), chain_label, category,
           (acknowledged_on::date - received_on::date), COUNT(*)
    FROM reports WHERE acknowledged_on IS NOT NULL GROUP BY 1, 2, 3, 4;

CREATE FUNCTION overview_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE overview_counts SET n = n - 1
            WHERE quarter = overview_quarter(OLD.received_on) AND chain_label = OLD.chain_label
              AND category = OLD.category
              AND closed = CASE WHEN OLD.status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END;
        IF OLD.acknowledged_on IS NOT NULL THEN
            UPDATE overview_ack_days SET n = n - 1
                WHERE quarter = overview_quarter(OLD.received_on) AND chain_label = OLD.chain_label
                  AND category = OLD.category AND days = (OLD.acknowledged_on::date - OLD.received_on::date);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO overview_counts (quarter, chain_label, category, closed, n)
            VALUES (overview_quarter(NEW.received_on), NEW.chain_label, NEW.category,
                    CASE WHEN NEW.status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END, 1)
            ON CONFLICT (quarter, chain_label, category, closed) DO UPDATE SET n = overview_counts.n + 1;
        IF NEW.acknowledged_on IS NOT NULL THEN
            INSERT INTO overview_ack_days (quarter, chain_label, category, days, n)
                VALUES (overview_quarter(NEW.received_on), NEW.chain_label, NEW.category,
                        (NEW.acknowledged_on::date - NEW.received_on::date), 1)
                ON CONFLICT (quarter, chain_label, category, days) DO UPDATE SET n = overview_ack_days.n + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER overview_insert AFTER INSERT ON reports FOR EACH ROW EXECUTE FUNCTION overview_track();
CREATE TRIGGER overview_update AFTER UPDATE OF status, chain_label, category, acknowledged_on, received_on ON reports
    FOR EACH ROW EXECUTE FUNCTION overview_track();
CREATE TRIGGER overview_delete AFTER DELETE ON reports FOR EACH ROW EXECUTE FUNCTION overview_track();
