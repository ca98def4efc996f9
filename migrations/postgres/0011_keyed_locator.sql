-- Keyed locators (PostgreSQL). Keep in step with migrations/sqlite/0011_keyed_locator.sql.
-- Version 1: locator_hash = SHA-256 over the code's 40-bit locator, which anyone holding the
-- database can compute for every locator. Version 2: that digest keyed with the pepper. The
-- service converts version-1 rows at start (it needs the pepper, so SQL cannot).
ALTER TABLE reports ADD COLUMN locator_version INTEGER NOT NULL DEFAULT 1;
