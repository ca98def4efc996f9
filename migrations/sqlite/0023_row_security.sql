-- Row-level security per organisation: PostgreSQL only (migrations/postgres/0023_row_security.sql).
-- On SQLite each organisation has a database file of its own, so no table needs an
-- organisation column or a policy; this migration only keeps the versions of the two
-- backends in step.
SELECT 1;
