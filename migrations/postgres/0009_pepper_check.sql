-- The pepper's check value (PostgreSQL). Keep in step with migrations/sqlite/0009_pepper_check.sql.
-- A keyed digest under the pepper, not the pepper: it tells at start-up whether the pepper
-- file belongs to this database, and reveals nothing that helps guess codes or passwords.
CREATE TABLE pepper_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    check_value BYTEA NOT NULL
);
