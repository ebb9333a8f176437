-- Dead-lettered messages, kept for inspection and re-drive.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,           -- the topic the message was published to
    event_id     text NOT NULL DEFAULT '',
    data         jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    redriven_at  timestamptz
);
CREATE UNIQUE INDEX dead_letters_event ON dead_letters (event_id) WHERE event_id <> '';

-- How often the reconciler re-drove an upload stuck in processing.
ALTER TABLE uploads ADD COLUMN redrives int NOT NULL DEFAULT 0;

---- create above / drop below ----

ALTER TABLE uploads DROP COLUMN redrives;
DROP TABLE dead_letters;
