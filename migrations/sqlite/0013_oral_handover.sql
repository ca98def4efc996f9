-- Oral reports handed over (SQLite). Keep in step with migrations/postgres/0013_oral_handover.sql.
-- An oral report's first meldcode is seen by the recording coordinator: it only hands the
-- report over. Its first use replaces it with a meldcode only the reporter sees; until then
-- handover_pending is 1. Oral reports from before this version keep their code (0).
ALTER TABLE reports ADD COLUMN handover_pending INTEGER NOT NULL DEFAULT 0;
