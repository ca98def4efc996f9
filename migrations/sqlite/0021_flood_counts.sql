-- Counters for the limits that must hold across instances and restarts (SQLite; keep in
-- step with migrations/postgres/0021_flood_counts.sql): new reports, with and without a
-- proof of work, and the anonymous evidence bytes stored, per clock hour (SECURITY.md,
-- "Floods"). Only the current hour's rows stay: older ones are deleted as soon as a new
-- hour is counted, because counts per hour kept for longer would date reports more finely
-- than the day their rows say.
CREATE TABLE flood_counts (
    kind TEXT NOT NULL,
    hour BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (kind, hour)
);
