-- The Message-ID a notification mail goes out with (SQLite; keep in step with
-- migrations/postgres/0025_outbox_message_id.sql). Recorded in the outbox rows the mail
-- merges before it is handed to the SMTP server, so a mail sent again after a crash
-- between the server's acceptance and our record carries the same Message-ID and can be
-- recognised as one. A hash of the rows' ids, the organisation's address and the time of
-- the claim: nothing of a report.
ALTER TABLE outbox ADD COLUMN message_id TEXT;
