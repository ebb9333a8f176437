-- The trace an outbox event belongs to, so that its publication continues
-- the trace of the request or event that caused it.
ALTER TABLE outbox ADD COLUMN traceparent text NOT NULL DEFAULT '';

---- create above / drop below ----

ALTER TABLE outbox DROP COLUMN traceparent;
