-- Chain overview aggregates (SQLite). Keep in step with migrations/postgres/0012_overview_counts.sql.
-- Per quarter of receipt, chain link and category: how many reports are open and closed, and
-- how many were acknowledged after how many days. Kept by triggers in the same transactions
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

INSERT INTO overview_counts (quarter, chain_label, category, closed, n)
    SELECT substr(received_on, 1, 4) || '-K' || ((CAST(substr(received_on, 6, 2) AS INTEGER) + 2) / 3), chain_label, category,
           CASE WHEN status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END, COUNT(*)
    FROM reports GROUP BY 1, 2, 3, 4;
INSERT INTO overview_ack_days (quarter, chain_label, category, days, n)
    SELECT substr(received_on, 1, 4) || '-K' || ((CAST(substr(received_on, 6, 2) AS INTEGER) + 2) / 3), chain_label, category,
           CAST(julianday(acknowledged_on) - julianday(received_on) AS INTEGER), COUNT(*)
    FROM reports WHERE acknowledged_on IS NOT NULL GROUP BY 1, 2, 3, 4;

CREATE TRIGGER overview_insert AFTER INSERT ON reports BEGIN
    INSERT INTO overview_counts (quarter, chain_label, category, closed, n)
        VALUES (substr(NEW.received_on, 1, 4) || '-K' || ((CAST(substr(NEW.received_on, 6, 2) AS INTEGER) + 2) / 3), NEW.chain_label, NEW.category,
                CASE WHEN NEW.status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END, 1)
        ON CONFLICT (quarter, chain_label, category, closed) DO UPDATE SET n = n + 1;
    INSERT INTO overview_ack_days (quarter, chain_label, category, days, n)
        SELECT substr(NEW.received_on, 1, 4) || '-K' || ((CAST(substr(NEW.received_on, 6, 2) AS INTEGER) + 2) / 3), NEW.chain_label, NEW.category,
               CAST(julianday(NEW.acknowledged_on) - julianday(NEW.received_on) AS INTEGER), 1
        WHERE NEW.acknowledged_on IS NOT NULL
        ON CONFLICT (quarter, chain_label, category, days) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER overview_update AFTER UPDATE OF status, chain_label, category, acknowledged_on, received_on ON reports BEGIN
    UPDATE overview_counts SET n = n - 1
        WHERE quarter = substr(OLD.received_on, 1, 4) || '-K' || ((CAST(substr(OLD.received_on, 6, 2) AS INTEGER) + 2) / 3)
          AND chain_label = OLD.chain_label AND category = OLD.category
          AND closed = CASE WHEN OLD.status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END;
    INSERT INTO overview_counts (quarter, chain_label, category, closed, n)
        VALUES (substr(NEW.received_on, 1, 4) || '-K' || ((CAST(substr(NEW.received_on, 6, 2) AS INTEGER) + 2) / 3), NEW.chain_label, NEW.category,
                CASE WHEN NEW.status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END, 1)
        ON CONFLICT (quarter, chain_label, category, closed) DO UPDATE SET n = n + 1;
    UPDATE overview_ack_days SET n = n - 1
        WHERE OLD.acknowledged_on IS NOT NULL
          AND quarter = substr(OLD.received_on, 1, 4) || '-K' || ((CAST(substr(OLD.received_on, 6, 2) AS INTEGER) + 2) / 3)
          AND chain_label = OLD.chain_label AND category = OLD.category
          AND days = CAST(julianday(OLD.acknowledged_on) - julianday(OLD.received_on) AS INTEGER);
    INSERT INTO overview_ack_days (quarter, chain_label, category, days, n)
        SELECT substr(NEW.received_on, 1, 4) || '-K' || ((CAST(substr(NEW.received_on, 6, 2) AS INTEGER) + 2) / 3), NEW.chain_label, NEW.category,
               CAST(julianday(NEW.acknowledged_on) - julianday(NEW.received_on) AS INTEGER), 1
        WHERE NEW.acknowledged_on IS NOT NULL
        ON CONFLICT (quarter, chain_label, category, days) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER overview_delete AFTER DELETE ON reports BEGIN
    UPDATE overview_counts SET n = n - 1
        WHERE quarter = substr(OLD.received_on, 1, 4) || '-K' || ((CAST(substr(OLD.received_on, 6, 2) AS INTEGER) + 2) / 3)
          AND chain_label = OLD.chain_label AND category = OLD.category
          AND closed = CASE WHEN OLD.status IN ('afgerond', 'gesloten') THEN 1 ELSE 0 END;
    UPDATE overview_ack_days SET n = n - 1
        WHERE OLD.acknowledged_on IS NOT NULL
          AND quarter = substr(OLD.received_on, 1, 4) || '-K' || ((CAST(substr(OLD.received_on, 6, 2) AS INTEGER) + 2) / 3)
          AND chain_label = OLD.chain_label AND category = OLD.category
          AND days = CAST(julianday(OLD.acknowledged_on) - julianday(OLD.received_on) AS INTEGER);
END;
