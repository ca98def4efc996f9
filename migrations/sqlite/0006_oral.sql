-- Oral reports (SQLite). Keep in step with migrations/postgres/0006_oral.sql.
-- 'written' (the form) or 'oral' (recorded by a coordinator on the reporter's behalf), and
-- when the reporter confirmed the minutes with their meldcode.
ALTER TABLE reports ADD COLUMN origin TEXT NOT NULL DEFAULT 'written';
ALTER TABLE reports ADD COLUMN minutes_confirmed_on TEXT;
